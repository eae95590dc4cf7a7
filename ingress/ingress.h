/* ingress.h — the agenthub-ingress process: shared state and the helpers its route modules use.
 *
 * One civetweb server; a single request handler (http.c) parses the path, authenticates
 * (auth.c) and dispatches to routes_*.c. Every response carries X-Request-Id and, for
 * allowed origins, CORS headers; every error body is {"error":{"code","message"}}.
 * Streams (sse.c) wait on a per-process hub that a Kafka consumer of agenthub.chat.events
 * signals by job id, with Redis polling as the fallback.
 */
#ifndef AGENTHUB_INGRESS_H
#define AGENTHUB_INGRESS_H

#include <civetweb.h>
#include <json-c/json.h>
#include <stddef.h>

#include "accept.h"
#include "config.h"
#include "kafka.h"
#include "log.h"
#include "pgpool.h"
#include "rcache.h"

/* Retry-After of every 503 answer (seconds). */
#define INGRESS_RETRY_AFTER_S "5"
/* ingress_streams_refused_total's help (registered at start and counted in req_hold). */
#define INGRESS_STREAMS_REFUSED_HELP "SSE streams and long-polls refused at INGRESS_MAX_STREAMS"
/* ingress_streams_refused_caller_total{scope="user"|"tenant"}: refused at the per-user or
 * per-tenant cap (INGRESS_MAX_STREAMS_PER_USER, INGRESS_MAX_STREAMS_PER_TENANT). */
#define INGRESS_STREAMS_CALLER_HELP                                                                \
    "SSE streams and long-polls refused at the per-user or per-tenant cap"

struct accept_batcher;
struct auth;
struct ctab;
struct keyauth;
struct sse_hub;
struct tenant_cache;

/* Settings (the config table lives in main.c). */
struct ingress_settings {
    struct config_common common;
    char *listen;
    long threads;
    long max_streams; /* requests held open at once (SSE, ?wait); 0 at start: derived */
    long thread_stack_kb;
    long max_body;
    long max_header;
    long request_timeout_ms;
    long publish_timeout_ms;
    long max_wait_s;
    long sse_heartbeat_s;
    long sse_poll_ms;
    long sse_max_s;
    long pg_pool;
    long accept_batch;
    long accept_inflight;
    long accept_share_at;
    long startup_wait_s;
    char *cors_origins;
    char *jwt_public_key_file;
    long jwt_leeway_s;
    char *jwt_issuer;
    char *jwt_audience;
    char *operator_public_key_file;
    long jwt_max_lifetime_s;
    long jwt_query_token_max_s;
    char *web_root;
    char *public_url;
    int events_consumer;
    int limits;         /* per-tenant request limits and budgets (limits.h) */
    long rate_window_s; /* their window (60; tests shorten it) */
    /* availability (issue 17) */
    long max_streams_user;   /* held requests per (tenant, user); 0 at start: derived */
    long max_streams_tenant; /* held requests per tenant; 0 at start: derived */
    long keepalive_timeout_ms;
    long idle_defer_s;
    long tenant_cache_ms;
    long ready_cache_ms;
    char *metrics_token;
    long docs_tenant_bytes;   /* upload body bytes in progress per tenant */
    long docs_tenant_uploads; /* uploads in progress per tenant */
    long docs_total_bytes;    /* upload body bytes in progress, all tenants */
    /* tenant API keys and the OpenAI-compatible API (issue 12) */
    long api_key_cache_ms;
    long api_key_touch_s;
    long openai_wait_s;
    char *metrics_targets; /* INGRESS_METRICS_TARGETS (cluster_metrics.h) */
    long metrics_scrape_ms;
    /* the admin panel's tool tests (admin_console.h): TOOL_ALLOWED_HOSTS, as the agents' */
    char *tool_allowed_hosts;
    /* SSE streams on the ingress's own event loop (sseloop.h, issue 16) */
    int sse_loop;
    long sse_buffer_kb;
    long sse_writers; /* threads writing one fan-out (0: the number of cores) */
    /* document uploads (routes_documents.c; documents_set_limits) */
    long docs_max_files;
    long docs_max_file_bytes;
    long docs_max_body;
    long thread_streams; /* derived: held requests that hold a worker thread, at most */
};

struct ingress {
    struct ingress_settings cfg;
    struct pgpool *db;
    struct rcache *rc;
    struct kafka_producer *prod;
    struct auth *auth;
    struct sse_hub *hub;
    struct accept_batcher *accept;
    struct mg_context *mg;
    volatile int stopping;
    long held;          /* requests held open now (req_hold; __atomic) */
    struct ctab *holds; /* held requests by "t\x1f<tenant>" and "u\x1f<tenant>\x1f<sub>" */
    struct tenant_cache *tenants; /* tenants.is_active, cached INGRESS_TENANT_CACHE_MS */
    struct keyauth *keys;         /* tenant API keys (keyauth.h) */
    /* the monitoring dashboard's history (cluster_metrics.h) */
    struct cluster_metrics *cluster;
    struct sseloop *loop; /* job event streams off civetweb's threads (NULL: off) */
    long thread_held;     /* held requests holding a thread (req_hold; __atomic) */
};

/* What the token says about the caller (auth.c). */
struct auth_claims {
    char tenant_id[65]; /* "" for an operator */
    char sub[129];
    int admin;    /* a tenant token with role "admin": its own tenant's admin */
    int operator; /* 1: signed by an OPERATOR_PUBLIC_KEY_FILE key (platform operator) */
    long exp;
    long iat;   /* 0 when absent */
    int apikey; /* 1: a tenant API key (keyauth.h), sub "apikey:<key_id>" */
};

#define INGRESS_MAX_SEGS 12

/* One request being served. */
struct req {
    struct ingress *app;
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    char request_id[65];
    char route[48]; /* metrics label: "chat", "jobs.get", ... */
    int status;     /* what was answered, for metrics and the access log */
    int responded;
    int held;                  /* counted in app->held until the request ends */
    int held_caller;           /* ... and in app->holds under its tenant and user */
    int hold_refused;          /* why req_hold said no: HOLD_BUSY, HOLD_TENANT, HOLD_USER */
    int chunked;               /* the streamed response uses chunked framing */
    const char *origin_ok;     /* the Origin to echo in CORS headers, or NULL */
    const char *cache_control; /* the response's Cache-Control; NULL: no-store */
    const char *error_param;   /* /v1: the "param" of an error that names none, or NULL */
    char path[1024];           /* decoded local URI */
    char *segs[INGRESS_MAX_SEGS];
    int nsegs;
    const char *token; /* the bearer token (borrowed from the headers, or qtok) */
    char *qtok;        /* ?access_token= copy (event streams only), malloc'd */
    struct auth_claims claims;
    int authed;
    char *body; /* NUL-terminated, malloc'd by req_read_body */
    size_t body_len;
    struct log_ctx log;
    char job_id[40]; /* backing store for log.job_id */
    /* admin writes (routes_admin.c): what the audit row names */
    char audit_tenant[65];
    char audit_resource[80];
    int openai; /* a /v1/... request: errors in OpenAI's shape */
    /* X-RateLimit-* lines (limits.h) added to whatever is answered; "" for none. */
    char limit_headers[160];
    int hold_loop; /* an SSE loop stream (sseloop.h): req_hold counts no thread for it */
    /* Called once by reply_raw with r->status set, before the answer is written. */
    void (*before_reply)(struct req *r);
    /* an upload to a session (routes_attachments.c): the session it is attached to */
    char attach_session[37];
};

/* ---- http.c ---------------------------------------------------------------------------- */
int http_handler(struct mg_connection *conn, void *cbdata);
/* civetweb's http_error callback: JSON error bodies for what civetweb refuses itself. */
int http_error_cb(struct mg_connection *conn, int status, const char *errmsg);
/* Status line + standard headers (request id, CORS, nosniff) + body. */
void reply_raw(struct req *r, int status, const char *ctype, const char *body, size_t len,
               const char *extra_headers);
/* Serializes obj (borrowed). */
void reply_json(struct req *r, int status, json_object *obj);
void reply_error(struct req *r, int status, const char *code, const char *message);
/* The same naming the offending request field (OpenAI's "param"; only /v1/... shows it). On
 * /v1/... (r->openai) every error body is OpenAI's {"error":{"message","type","param","code"}},
 * type from the status (invalid_request_error, authentication_error, permission_error,
 * not_found_error, rate_limit_error, api_error). */
void reply_error_param(struct req *r, int status, const char *code, const char *message,
                       const char *param);
/* 405 method_not_allowed with the Allow header RFC 9110 requires: allow lists the methods the
 * resource takes ("GET, POST"). */
void reply_method_not_allowed(struct req *r, const char *allow);
/* A list's page: ?limit= (1..max, default dflt) and ?offset= (0..LIST_OFFSET_MAX, default 0).
 * 0, or -1 answered (400 naming the parameter). Read limit + 1 rows, then list_page_finish. */
#define LIST_OFFSET_MAX 100000000L
int req_list_window(struct req *r, long dflt, long max, long *limit, long *offset);
/* Adds items (taken) to o under key, cut to limit, and "next_offset" when more rows followed:
 * a list is never cut short without saying so. */
void list_page_finish(json_object *o, const char *key, json_object *items, long limit, long offset);
/* Reads the body into r->body (limit INGRESS_MAX_BODY; 413 answered on overflow).
 * Returns 0, or -1 when a response was already sent. */
int req_read_body(struct req *r);
/* The same with another limit (uploads have their own). */
int req_read_body_max(struct req *r, long long max);
/* Parses the body as a JSON object; answers 400/413 itself and returns NULL on failure. */
json_object *req_json_body(struct req *r);
/* A finished job (a row as GET /jobs/{id} answers it) as its terminal event's data, the
 * shape the pipeline's own events have: done, the seed's ChatResponse {session_id,
 * message_id (the answer's), response, agent, metadata, job_id}; error, {code, message,
 * job_id}. A stream that replays a finished job sends this, not the row. */
json_object *job_outcome(json_object *job);
/* Every member of body is one of known[0..n-1]: a misspelt member would read as absent and
 * change the meaning silently ("sesion_id" started a new conversation). 0, or -1 answered (400
 * naming the member and listing the ones the body takes). */
int body_members_known(struct req *r, json_object *body, const char *const *known, size_t n);
/* Query parameter (decoded) into buf; 0 if present, -1 if absent or longer than cap - 1, in
 * which case buf keeps what the caller put there (its default). */
int req_query(const struct req *r, const char *name, char *buf, size_t cap);
/* Requires a valid token (401 otherwise). tenant may be NULL (admin routes); when given it
 * must equal the token's (403; an operator token has no tenant, so it never passes).
 * ?access_token= is read only on the event stream routes (jobs.events, documents.events),
 * and only a token with iat whose exp - iat and exp - now are at most JWT_QUERY_TOKEN_MAX_S.
 * Returns 0 or -1 when a response was already sent. */
int req_auth(struct req *r, const char *tenant);
/* req_auth, then req_admin_role. What each admin route lets a tenant admin do is decided in
 * routes_admin.c. */
int req_admin(struct req *r);
/* The authenticated caller is the operator, or an admin of an active tenant: 0, or -1 answered
 * (403 forbidden without the admin role; 403 tenant_inactive / 404 for a tenant admin whose
 * tenant is deactivated or gone). */
int req_admin_role(struct req *r);
/* Maps a pgpool status to 503/500 (or 400 for PG_ERR_INVALID) and answers. */
void reply_db_error(struct req *r, int pgst, const char *what);
/* Begins a streamed (SSE) response: chunked on HTTP/1.1. Write with stream_write (one call =
 * one chunk; 0 or -1 when the client is gone) and finish with stream_end. */
void reply_stream_begin(struct req *r, const char *ctype);
/* The same with extra "Name: value\r\n" header lines (may be NULL). */
void reply_stream_begin_ex(struct req *r, const char *ctype, const char *extra_headers);
int stream_write(struct req *r, const char *buf, size_t len);
void stream_end(struct req *r);
double now_mono(void);
/* Requests that stay open (SSE streams, ?wait long-polls) each hold a worker thread; at most
 * INGRESS_MAX_STREAMS of them at once, so API requests always find a thread. Returns 1 and
 * counts this request until it ends, or 0 at the cap (counted in
 * ingress_streams_refused_total): SSE answers 503, a long-poll answers at once. */
int req_hold(struct req *r);
/* An authenticated request is also counted under its (tenant, user) and its tenant, at most
 * INGRESS_MAX_STREAMS_PER_USER / _PER_TENANT each (counted in
 * ingress_streams_refused_caller_total{scope}); r->hold_refused says which cap refused. */
#define HOLD_BUSY 1
#define HOLD_TENANT 2
#define HOLD_USER 3
/* Gives back one hold taken by req_hold for (tenant, sub): caller when it was counted under
 * them too, loop when it was an SSE loop stream. The SSE loop calls it when a stream it took
 * over ends; http_handler for every other held request. */
void ingress_hold_release(struct ingress *app, const char *tenant, const char *sub, int caller,
                          int loop);
/* req_hold for an event stream: at the total cap it answers 503 busy, at a per-user or
 * per-tenant cap 429 too_many_streams (both with Retry-After), and returns 0. */
int req_hold_stream(struct req *r);
/* req_auth(r, tenant), then the tenant must be active (tenants.is_active, cached for
 * INGRESS_TENANT_CACHE_MS): 403 tenant_inactive otherwise, 404 not_found for a tenant that does
 * not exist. 0, or -1 when answered. */
int req_auth_tenant(struct req *r, const char *tenant);
/* The second half of req_auth_tenant alone (the caller authenticated already). */
int req_tenant_active(struct req *r, const char *tenant);
/* The tenant has a row (read now, not cached: the admin routes): 0, or -1 answered (404 no
 * such tenant, or the database's error). */
int req_tenant_exists(struct req *r, const char *tenant);
int tenant_cache_new(struct tenant_cache **out);
void tenant_cache_free(struct tenant_cache *c); /* NULL-safe */
/* A job's or document batch's status is final: "done" or "error". */
int status_terminal(const char *status);

/* ---- jobs (routes_chat.c) -------------------------------------------------------------- */
/* Loads the caller's job (tenant AND token user). Quiet: returns 0 with *job, 1 when there is
 * no such job, or a negative pg_status. */
int job_fetch(struct ingress *app, const char *tenant, const char *user, const char *job_id,
              json_object **job);
/* Same, answering 404/503 itself; returns 0 with *job or -1 when a response was sent. */
int job_load(struct req *r, const char *tenant, const char *job_id, json_object **job);
/* Waits (holding the request: req_hold) until the job is terminal or wait_s passed; *job is
 * replaced by the latest state. Returns at once when the hold is refused. */
void job_wait(struct req *r, const char *tenant, const char *job_id, int wait_s, json_object **job);

/* ---- accepting a chat (routes_chat.c) --------------------------------------------------- */
/* One chat request through the accept path (accept.c's group commit): the session (new when
 * session_id is NULL), the user message, the jobs row and the acknowledged chat.request. The
 * caller authenticated (r->claims) and validated the message. */
struct chat_submit {
    const char *tenant;
    const char *message; /* UTF-8, mlen bytes */
    size_t mlen;
    const char *session_id; /* an existing session of the caller's, or NULL: a new one */
    const char *idem;       /* Idempotency-Key or NULL */
    const char *hash;       /* the request hash stored with it */
    json_object *extra;     /* borrowed, may be NULL: members added to the chat.request payload */
    /* Out (0 returned). */
    char job_id[37], session_out[37], message_id[37]; /* UUID_STR_LEN */
};
/* 0 accepted; -1 refused and answered (404 tenant/session, 403 disabled, 503, ...); 1 the
 * Idempotency-Key is held by another job (nothing answered: the caller replays it). */
int chat_submit(struct req *r, struct chat_submit *cs);

/* Idempotency-Key: 1..IDEMP_MAX printable ASCII characters, held by one job of the tenant for
 * 24 h together with the hash of the request that made it. */
#define IDEMP_MAX 255
int idem_key_ok(const char *k);
/* The request's Idempotency-Key into idem ("" when it has none): 0, or -1 answered (400). */
int idem_header(struct req *r, char idem[IDEMP_MAX + 1]);
/* SHA-256 (hex) of a (alen bytes), a newline and b: what a key's request is compared by. */
void request_hash(const char *a, size_t alen, const char *b, char out[65]);
/* The job holding key within 24 h: 1 (job_id and, unless NULL, its session_id filled) when
 * the caller made it with this hash; 0 when none does (an expired hold is released); -1
 * answered (422 idempotency_conflict for another user's or another request's key, or a
 * database error). */
int idem_lookup(struct req *r, const char *tenant, const char *key, const char *hash,
                char job_id[37], char session_id[37]);

/* ---- routes ----------------------------------------------------------------------------- */
void routes_chat_post(struct req *r, const char *tenant);
void routes_job_get(struct req *r, const char *tenant, const char *job_id);
void routes_job_events(struct req *r, const char *tenant, const char *job_id);
void routes_sessions(struct req *r, const char *tenant);
void routes_documents(struct req *r, const char *tenant); /* routes_documents.c */
/* POST /api/{t}/documents's upload alone (routes_documents.c), for an upload to a session:
 * answers itself; on 202, r->job_id is the new batch's id. */
void documents_upload(struct req *r, const char *tenant);
/* The upload limits (DOCUMENTS_MAX_FILES, _FILE_BYTES, _BODY), set once at start before any
 * request is served. */
void documents_set_limits(long max_files, long max_file_bytes, long max_body);

/* ---- documents in a chat (routes_attachments.c) ------------------------------------------ */
#define ATTACH_MAX 10 /* documents one chat message may reference */
/* A chat's "attachments" ([{document_id}], at most ATTACH_MAX) checked against the caller:
 * each must be a processed ('done') document of the tenant uploaded by the caller (a tenant
 * admin: any of its tenant's). Anything else is one 404 "no such document" (no existence
 * leak); 409 document_not_ready / 422 document_failed for one without text yet. 0 with *out =
 * [{document_id, filename, batch_id}] (NULL when list is empty), or -1 when answered. */
int attachments_resolve(struct req *r, const char *tenant, json_object *list, json_object **out);
/* Records resolved documents as the session's attachments (origin "message" or "upload";
 * message_id may be NULL). A pg_status; failures are logged. */
int attachments_record(struct req *r, const char *tenant, const char *session_id,
                       const char *message_id, json_object *resolved, const char *origin);
/* /api/admin/knowledge/ingest[/{ingest_id}] (routes_ingest.c; req_admin passed). */
void routes_knowledge_ingest(struct req *r);
/* DELETE /api/{t}/documents/{batch_id}/{document_id} (routes_ingest.c): the document, its
 * knowledge chunks and attachments; the owner or the tenant's admin. */
void routes_document_delete(struct req *r, const char *tenant, const char *batch_id,
                            const char *document_id);
/* GET/POST /api/{t}/sessions/{id}/attachments (the caller authenticated, tenant active). */
void routes_session_attachments(struct req *r, const char *tenant, const char *session_id);
void routes_admin(struct req *r);
/* routes_usage.c: /api/admin/usage, /api/admin/prices (routes_admin passes them on after
 * req_admin), /api/admin/tenants/{id}/limits, and the tenant view GET /api/{tenant}/usage. */
void routes_usage_admin(struct req *r);
void routes_usage_limits(struct req *r, const char *tenant);
void routes_usage_tenant(struct req *r, const char *tenant);
void routes_web(struct req *r);
/* /ready's checks (1 = ok), probed at most once per INGRESS_READY_CACHE_MS (http.c). */
void ingress_ready_checks(struct ingress *app, int *pg, int *rd, int *kf);
/* /v1/models, /v1/chat/completions (routes_openai.c) */
void routes_openai(struct req *r);
/* /api/admin/tenants/{tenant}/api-keys[/{key_id}] (routes_apikeys.c); access already checked */
void routes_apikeys(struct req *r, const char *tenant);

/* ---- json helpers (http.c) -------------------------------------------------------------- */
/* A row of a PGresult as an object; columns whose name ends in "_json" or whose type is
 * json/jsonb are parsed; booleans and numbers typed. */
json_object *pg_row_json(const void *res, int row);
json_object *pg_rows_json(const void *res);

#endif
