/* envelope.h — the versioned job envelope carried on every topic (DESIGN.md).
 *
 *   {"version":1, "type":"chat.request", "job_id":"<uuid>", "tenant_id":"tenant-a",
 *    "user_id":"user-1", "session_id":"<uuid>", "message_id":"<uuid>",
 *    "traceparent":"00-<32 hex>-<16 hex>-01", "created_at":"<RFC 3339>", "attempt":0,
 *    "payload":{...}}
 *
 * Types and their payloads:
 *   chat.request  ingress -> router   {"message", "user_token"?: Fernet token of the user's JWT,
 *                                      "idempotency_key"?}
 *   chat.routed   router -> agent     {"message", "language", "agent", "intent",
 *                                      "part": {"index", "count"}, "user_token"?}
 *   chat.event    any -> ingress      {"event": queued|routed|tool_call|tool_result|delta|final|
 *                                      error, "data": {...}}
 *   doc.request   ingress -> docworker {"batch_id", "document_id", ...}
 *
 * Decoding validates everything (version, required fields, id syntax, sizes) and reports the
 * first problem in err; it never crashes on any input.
 */
#ifndef AGENTHUB_ENVELOPE_H
#define AGENTHUB_ENVELOPE_H

#include <json-c/json.h>
#include <stddef.h>

#define ENVELOPE_VERSION 1
#define ENVELOPE_MAX_BYTES (1024 * 1024)

struct envelope {
    int version;
    char type[32];
    char job_id[37];
    char tenant_id[65]; /* [A-Za-z0-9_-]{1,64} */
    char user_id[129];
    char session_id[37];
    char message_id[37];
    char traceparent[56];
    char created_at[40];
    int attempt;
    json_object *payload; /* owned; always an object after a successful decode */
};

/* 0 on success; -EINVAL with err filled for anything malformed. */
int envelope_decode(struct envelope *e, const char *buf, size_t len, char *err, size_t errlen);
/* Returns a malloc'd JSON text, or NULL on allocation failure. */
char *envelope_encode(const struct envelope *e);
/* Initializes e as a new envelope of `type` derived from `parent` (ids, traceparent with a new
 * span id, attempt 0) with an empty payload object. parent may be NULL. */
int envelope_init(struct envelope *e, const char *type, const struct envelope *parent);
void envelope_cleanup(struct envelope *e); /* releases payload; NULL-safe */

int tenant_id_valid(const char *s);

#endif
