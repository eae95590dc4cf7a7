/* attachments.h — the documents a chat message references (chat.routed payload
 * "attachments": [{document_id, filename, batch_id}], checked against the user by the
 * ingress), read for the model: each document's pages from document_pages, or documents.text
 * split at form feeds, bounded and labelled by tools/doc_context.h. */
#ifndef AGENTHUB_AGENT_ATTACHMENTS_H
#define AGENTHUB_AGENT_ATTACHMENTS_H

#include <json-c/json.h>
#include <stddef.h>

#include "pgpool.h"

/* The context text for attachments (borrowed array) into *out (malloc'd; NULL when there is
 * none), citations appended to citations. Only documents of tenant_id are read (the ingress
 * checked the user; this is the tenant wall again). 0, or a negative pg_status with err. */
int agent_attachments_context(struct pgpool *db, const char *tenant_id, json_object *attachments,
                              size_t max_chars, char **out, json_object *citations, char *err,
                              size_t errlen);

#endif
