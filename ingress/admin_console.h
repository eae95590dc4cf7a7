/* admin_console.h — the admin routes the web admin panel (/admin) needs beyond CRUD:
 *
 *   POST /api/admin/tools/{id}/test   {tenant_id, arguments}: runs one call of the tool
 *        (routes_admin_run.c) through tool_invoke(), the agents' own code path: the
 *        arguments are checked against the tool's input schema, the SSRF guard, sealed
 *        secrets, output schema and timeouts all apply. 200 {ok, result | error, elapsed_ms}.
 *   POST /api/admin/knowledge/search  {tenant_id, query, top_k?, collection?}: what the RAG
 *        tool would get for query (the same tool code path): 200 {results: [{text, source,
 *        chunk, score}], embedder}.
 *   GET  /api/admin/conversations?tenant_id=&user_id=&limit=   a tenant's sessions, any user
 *        (routes_admin_conversations.c)
 *   GET  /api/admin/conversations/{session_id}?tenant_id=      one session with every message,
 *        its metadata, its job (status, error, latency) and the job's tool events.
 *
 * Access: the operator for any tenant, a tenant admin for its own (admin_tenant_access). */
#ifndef AGENTHUB_ADMIN_CONSOLE_H
#define AGENTHUB_ADMIN_CONSOLE_H

#include "ingress.h"
#include "llm.h"

/* The operator, or the admin of exactly this tenant: 0, else -1 answered 403 (routes_admin.c).
 * Records the tenant for the audit row. */
int admin_tenant_access(struct req *r, const char *tenant);
/* 1 when the caller is the platform operator (not a tenant admin). */
int admin_is_operator(const struct req *r);

/* tool_row: the tool as stored (GET's columns, its secrets sealed, not masked); borrowed. */
void admin_tool_test(struct req *r, json_object *tool_row);
void admin_knowledge_search(struct req *r);
void admin_conversations(struct req *r);

/* The tenant's provider embedder when it has one configured (cfg filled; llm_config_cleanup
 * it), else NULL for the local embedder: the RAG tool makes the same choice, so documents and
 * queries share one embedding space (routes_admin.c). */
struct llm_config *knowledge_embedder(struct req *r, const char *tenant, struct llm_config *cfg);

#endif
