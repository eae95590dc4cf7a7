/* tool.h — the tools an agent may call (seed "Tool Loading System").
 *
 * Base types: HTTP_GET, HTTP_POST (endpoint template, URL-encoded parameters, headers,
 * body_template, timeout, response size cap, a per-call tool token or the audience-bound
 * user JWT when inject_jwt, SSRF guard),
 * RAG (the tenant's ChromaDB collection), OCR. Arguments are validated against the tool's
 * input JSON Schema before any call; output against its output schema.
 */
#ifndef AGENTHUB_TOOL_H
#define AGENTHUB_TOOL_H

#include <json-c/json.h>
#include <stddef.h>

#include "httploop.h"
#include "llm.h"
#include "pgpool.h"
#include "rcache.h"

#define TOOL_MAX_PER_AGENT 5

struct tool_def {
    char *id;
    char *name;
    char *description;
    char *base_type;            /* HTTP_GET, HTTP_POST, RAG, OCR */
    json_object *config;        /* endpoint, method, headers, body_template, timeout_ms, ... */
    json_object *input_schema;  /* JSON Schema (object) */
    json_object *output_schema; /* may be NULL */
    int priority;
};

struct tool_token_key;

/* What a tool call may use; everything borrowed. */
struct tool_ctx {
    const char *tenant_id;
    const char *user_id;  /* the user the job runs for (the verified sub); may be NULL */
    const char *user_jwt; /* the caller's token for inject_jwt; may be NULL */
    /* TOOL_TOKEN_KEY_FILE: with it, an inject_jwt tool gets a token minted for its backend
     * per call (tool_token.h) and never the user's; NULL: the user's token only when the
     * tool's jwt_audience is its aud. */
    const struct tool_token_key *tool_key;
    struct httploop *loop;
    struct llm_client *llm; /* embeddings for RAG */
    const struct llm_config *llm_cfg;
    const char *chroma_url;
    const char *allowed_hosts; /* comma-separated hosts exempt from the SSRF guard */
    /* the tool-secret purpose key (fernet_purpose_key(FERNET_KEY, "tool-secret")) that opens
     * sealed config secrets (tool_secret.h); NULL without FERNET_KEY */
    const char *tool_secret_key;
};

/* result: the tool's output (borrowed; json_object_get to keep) or NULL with error set. */
typedef void (*tool_done_cb)(void *opaque, json_object *result, const char *error);

/* Validates args, then starts the call on ctx->loop. Returns 0 when started; on failure
 * (invalid arguments, unknown base type) returns negative with err filled and cb never runs.
 * Otherwise cb runs exactly once, later, from httploop_run() on the loop's thread (never
 * inside tool_invoke), also when the loop is freed first (error "tool X: cancelled") --
 * except for RAG/OCR calls still on their worker thread then, whose result is dropped.
 * HTTP tools run on the loop; RAG and OCR (blocking: ChromaDB, Tesseract) on a worker thread
 * with copies of what they need, so ctx and tool may be freed once tool_invoke returns.
 * Errors are short and safe to show the model and the user, never a URL, header or token:
 * "tool X: invalid arguments: /mst: ...", "tool X: HTTP 404", "tool X: service unavailable",
 * "tool X: timed out after N ms", "tool X: response larger than N bytes",
 * "tool X: output does not match its schema: /path: ...", "tool X: endpoint refused: ...".
 * Config keys per base type: tools/http_tool.c, tools/rag.c, tools/ocr.c. */
int tool_invoke(const struct tool_ctx *ctx, const struct tool_def *tool, json_object *args,
                tool_done_cb cb, void *opaque, char *err, size_t errlen);

/* What a call of tool would send as its Authorization header, for the tool_call event:
 * "tool_token" (minted per call), "user_token" (the user's own, its aud being the tool's
 * jwt_audience), or "none". Never the token itself. */
const char *tool_auth_kind(const struct tool_ctx *ctx, const struct tool_def *tool);

/* The agent's tools for a tenant: agent_tools by priority ASC, only tools the tenant is
 * permitted (tenant_tool_permissions.enabled), at most TOOL_MAX_PER_AGENT; Redis-cached per
 * the seed. *out is malloc'd; free with tool_defs_free. */
int tools_load_for_agent(struct pgpool *db, struct rcache *r, const char *tenant_id,
                         const char *agent_id, struct tool_def **out, size_t *n, char *err,
                         size_t errlen);
void tool_defs_free(struct tool_def *defs, size_t n);

/* Drops the cached tool lists and tool configs (admin writes to tools, agent_tools or
 * tenant_tool_permissions). tenant_id NULL: every tenant (a tool config is shared by all).
 * Keys: agenthub:{t}:cache:tool:*, :cache:agent_tools:*, :cache:permissions:tools. */
int tools_cache_invalidate(struct rcache *r, const char *tenant_id);

#endif
