/* http.c — request dispatch, responses, body limits, request ids, CORS, metrics. */
#include "ingress.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "ctab.h"
#include "envelope.h"
#include "json_field.h"
#include "json_number.h"
#include "json_strict.h"
#include "keyauth.h"
#include "cluster_metrics.h"
#include "metrics.h"
#include <openssl/rand.h>
#include <openssl/sha.h>
#include "strbuf.h"
#include "uuid.h"

double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The two keys a caller's held requests are counted under. Tenant ids are [A-Za-z0-9_-], so
 * the separator cannot occur in them and "u" keys are unambiguous whatever the sub holds. */
static void hold_keys(const struct req *r, char *tk, size_t tkn, char *uk, size_t ukn)
{
    snprintf(tk, tkn, "t\x1f%s", r->claims.tenant_id);
    snprintf(uk, ukn, "u\x1f%s\x1f%s", r->claims.tenant_id, r->claims.sub);
}

static void hold_refuse_caller(struct req *r, int why)
{
    r->hold_refused = why;
    metrics_inc(metrics_counter("ingress_streams_refused_caller_total", INGRESS_STREAMS_CALLER_HELP,
                                why == HOLD_USER ? "scope=\"user\"" : "scope=\"tenant\""),
                1);
}

int req_hold(struct req *r)
{
    struct ingress *app = r->app;
    if (r->held)
        return 1;
    long now = __atomic_add_fetch(&app->held, 1, __ATOMIC_RELAXED);
    /* Streams the SSE loop will hold (sseloop.h) hold no thread; the others count twice. */
    long threads = r->hold_loop ? 0 : __atomic_add_fetch(&app->thread_held, 1, __ATOMIC_RELAXED);
    if (now > app->cfg.max_streams || threads > app->cfg.thread_streams) {
        if (!r->hold_loop)
            __atomic_sub_fetch(&app->thread_held, 1, __ATOMIC_RELAXED);
        __atomic_sub_fetch(&app->held, 1, __ATOMIC_RELAXED);
        r->hold_refused = HOLD_BUSY;
        metrics_inc(
            metrics_counter("ingress_streams_refused_total", INGRESS_STREAMS_REFUSED_HELP, ""), 1);
        return 0;
    }
    if (r->authed && app->holds) {
        char tk[80], uk[224];
        hold_keys(r, tk, sizeof tk, uk, sizeof uk);
        int rc = ctab_take(app->holds, tk, 1, app->cfg.max_streams_tenant);
        if (rc == 1) {
            rc = ctab_take(app->holds, uk, 1, app->cfg.max_streams_user);
            if (rc != 1)
                ctab_put(app->holds, tk, 1);
            if (rc == 0)
                hold_refuse_caller(r, HOLD_USER);
        } else if (rc == 0) {
            hold_refuse_caller(r, HOLD_TENANT);
        }
        if (rc != 1) {
            if (!r->hold_loop)
                __atomic_sub_fetch(&app->thread_held, 1, __ATOMIC_RELAXED);
            __atomic_sub_fetch(&app->held, 1, __ATOMIC_RELAXED);
            if (rc < 0)
                r->hold_refused = HOLD_BUSY; /* out of memory: like the total cap */
            return 0;
        }
        r->held_caller = 1;
    }
    r->held = 1;
    return 1;
}

/* Gives back what req_hold counted; http_handler calls it when the request ends, whichever
 * way it ends (done, error, client gone). */
static void req_unhold(struct req *r)
{
    if (!r->held)
        return;
    ingress_hold_release(r->app, r->claims.tenant_id, r->claims.sub, r->held_caller, r->hold_loop);
    r->held_caller = 0;
    r->held = 0;
}

void ingress_hold_release(struct ingress *app, const char *tenant, const char *sub, int caller,
                          int loop)
{
    if (caller) {
        char tk[80], uk[224];
        snprintf(tk, sizeof tk, "t\x1f%s", tenant);
        snprintf(uk, sizeof uk, "u\x1f%s\x1f%s", tenant, sub);
        ctab_put(app->holds, uk, 1);
        ctab_put(app->holds, tk, 1);
    }
    if (!loop)
        __atomic_sub_fetch(&app->thread_held, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&app->held, 1, __ATOMIC_RELAXED);
}

int req_hold_stream(struct req *r)
{
    if (req_hold(r))
        return 1;
    if (r->hold_refused == HOLD_USER)
        reply_error(r, 429, "too_many_streams",
                    "too many open streams for this user; close one or retry later");
    else if (r->hold_refused == HOLD_TENANT)
        reply_error(r, 429, "too_many_streams",
                    "too many open streams for this tenant; retry later");
    else
        reply_error(r, 503, "busy", "too many open streams; retry later");
    return 0;
}

int status_terminal(const char *status)
{
    return status && (strcmp(status, "done") == 0 || strcmp(status, "error") == 0);
}

static int reqid_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return 0;
    return 1;
}

/* Is origin listed in INGRESS_CORS_ORIGINS (comma-separated, or "*")? */
static int origin_allowed(const char *list, const char *origin)
{
    if (!list || !*list || !origin || !*origin)
        return 0;
    size_t ol = strlen(origin);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - p);
        while (n && p[n - 1] == ' ')
            n--;
        if ((n == 1 && *p == '*') || (n == ol && strncmp(p, origin, n) == 0))
            return 1;
        p = e;
    }
    return 0;
}

/* A growable response buffer: the head and the body go out in ONE write. civetweb's header
 * API sends every header line with its own send(): one segment each now that every
 * connection has TCP_NODELAY (main.c), and ~40 ms more per response on a kept-alive
 * connection before that (Nagle + the client's delayed ACK). */
static void ob_hdr(struct strbuf *b, const char *name, const char *value)
{
    strbuf_adds(b, name);
    strbuf_add(b, ": ", 2);
    strbuf_adds(b, value);
    strbuf_add(b, "\r\n", 2);
}

/* Mirrors civetweb's own keep-alive decision (it closes after a 401, for HTTP/1.0 without
 * keep-alive, and when the client asked to close), so the Connection header never lies. */
static int keep_alive(const struct req *r, int status)
{
    const char *h = mg_get_header(r->conn, "Connection");
    const char *v = r->ri->http_version;
    if (status == 401 || status == 413)
        return 0;
    if (h)
        return strcasestr(h, "keep-alive") != NULL;
    return v && strcmp(v, "1.1") == 0;
}

static void response_head(struct req *r, struct strbuf *b, int status, int keep)
{
    char line[160], date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status,
             mg_get_response_code_text(r->conn, status));
    strbuf_adds(b, line);
    ob_hdr(b, "Date", date);
    ob_hdr(b, "X-Request-Id", r->request_id);
    ob_hdr(b, "X-Content-Type-Options", "nosniff");
    ob_hdr(b, "Cache-Control", r->cache_control ? r->cache_control : "no-store");
    if (r->origin_ok) {
        ob_hdr(b, "Access-Control-Allow-Origin", r->origin_ok);
        ob_hdr(b, "Vary", "Origin");
        ob_hdr(b, "Access-Control-Expose-Headers",
               "X-Request-Id, Idempotent-Replayed, X-AgentHub-Session");
    }
    ob_hdr(b, "Connection", keep ? "keep-alive" : "close");
}

void reply_raw(struct req *r, int status, const char *ctype, const char *body, size_t len,
               const char *extra_headers)
{
    struct strbuf b = {0};
    char clen[32];
    if (r->responded)
        return;
    r->responded = 1;
    r->status = status;
    if (r->before_reply) {
        /* e.g. the admin audit row: written before the client can see the answer */
        void (*f)(struct req *) = r->before_reply;
        r->before_reply = NULL;
        f(r);
    }
    response_head(r, &b, status, keep_alive(r, status));
    if (status == 304) /* no body, and no length of one (RFC 9110 15.4.5) */
        len = 0;
    if (ctype && status != 304)
        ob_hdr(&b, "Content-Type", ctype);
    snprintf(clen, sizeof clen, "%zu", len);
    if (status != 304)
        ob_hdr(&b, "Content-Length", clen);
    if (extra_headers && *extra_headers)
        strbuf_adds(&b, extra_headers); /* "Name: value\r\n" lines */
    strbuf_adds(&b, r->limit_headers);  /* X-RateLimit-* (limits.h) */
    strbuf_add(&b, "\r\n", 2);
    if (len && strcmp(r->ri->request_method, "HEAD") != 0)
        strbuf_add(&b, body, len);
    if (!b.oom)
        mg_write(r->conn, b.p, b.len);
    free(b.p);
}

void reply_stream_begin(struct req *r, const char *ctype)
{
    reply_stream_begin_ex(r, ctype, NULL);
}

void reply_stream_begin_ex(struct req *r, const char *ctype, const char *extra_headers)
{
    struct strbuf b = {0};
    const char *v = r->ri->http_version;
    r->responded = 1;
    r->status = 200;
    /* chunked on HTTP/1.1: the end of the stream is a zero chunk, so clients see it end at
     * once and the connection stays usable; HTTP/1.0 gets a close-delimited body. */
    r->chunked = v && strcmp(v, "1.1") == 0;
    response_head(r, &b, 200, r->chunked && keep_alive(r, 200));
    ob_hdr(&b, "Content-Type", ctype);
    ob_hdr(&b, "X-Accel-Buffering", "no");
    if (r->chunked)
        ob_hdr(&b, "Transfer-Encoding", "chunked");
    if (extra_headers && *extra_headers)
        strbuf_adds(&b, extra_headers); /* "Name: value\r\n" lines */
    strbuf_add(&b, "\r\n", 2);
    if (!b.oom)
        mg_write(r->conn, b.p, b.len);
    free(b.p);
}

int stream_write(struct req *r, const char *buf, size_t len)
{
    if (!len)
        return 0;
    if (!r->chunked)
        return mg_write(r->conn, buf, len) == (int)len ? 0 : -1;
    struct strbuf b = {0};
    char sz[24];
    snprintf(sz, sizeof sz, "%zx\r\n", len);
    strbuf_adds(&b, sz);
    strbuf_add(&b, buf, len);
    strbuf_add(&b, "\r\n", 2);
    int rc = !b.oom && mg_write(r->conn, b.p, b.len) == (int)b.len ? 0 : -1;
    free(b.p);
    return rc;
}

void stream_end(struct req *r)
{
    if (r->chunked)
        mg_write(r->conn, "0\r\n\r\n", 5);
}

void reply_json(struct req *r, int status, json_object *obj)
{
    size_t len = 0;
    const char *s = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    reply_raw(r, status, "application/json", s, len, NULL);
}

/* OpenAI's error "type" for a status (what its SDKs and clients show). */
static const char *openai_error_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 429:
        return "rate_limit_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

static void reply_error_headers(struct req *r, int status, const char *code, const char *message,
                                const char *param, const char *extra);

void reply_error_param(struct req *r, int status, const char *code, const char *message,
                       const char *param)
{
    const char *extra = status == 401                    ? "WWW-Authenticate: Bearer\r\n"
                        : status == 503 || status == 429 ? "Retry-After: " INGRESS_RETRY_AFTER_S
                                                           "\r\n"
                                                         : NULL;
    reply_error_headers(r, status, code, message, param, extra);
}

void reply_method_not_allowed(struct req *r, const char *allow)
{
    char hdr[96];
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
    reply_error_headers(r, 405, "method_not_allowed", "method not allowed", NULL, hdr);
}

static void reply_error_headers(struct req *r, int status, const char *code, const char *message,
                                const char *param, const char *extra)
{
    json_object *o = json_object_new_object(), *e = json_object_new_object();
    if (r->openai) {
        /* /v1/...: OpenAI's shape, {"error":{"message","type","param","code"}} */
        json_object_object_add(e, "message", json_object_new_string(message));
        json_object_object_add(e, "type", json_object_new_string(openai_error_type(status)));
        if (!param)
            param = r->error_param;
        json_object_object_add(e, "param", param ? json_object_new_string(param) : NULL);
        json_object_object_add(e, "code", json_object_new_string(code));
    } else {
        json_object_object_add(e, "code", json_object_new_string(code));
        json_object_object_add(e, "message", json_object_new_string(message));
    }
    json_object_object_add(o, "error", e);
    size_t len = 0;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    reply_raw(r, status, "application/json", s, len, extra);
    json_object_put(o);
}

void reply_error(struct req *r, int status, const char *code, const char *message)
{
    reply_error_param(r, status, code, message, NULL);
}

void reply_db_error(struct req *r, int pgst, const char *what)
{
    log_kv(LOG_WARN, &r->log, "database error", "what", what, "status", pg_status_str(pgst),
           (char *)NULL);
    if (pgst == PG_ERR_UNAVAILABLE || pgst == PG_ERR_TIMEOUT)
        reply_error(r, 503, "unavailable", "database unavailable, retry later");
    else if (pgst == PG_ERR_INVALID)
        reply_error(r, 400, "invalid_request", "invalid value");
    else if (pgst == PG_ERR_CONFLICT)
        reply_error(r, 409, "conflict", "already exists");
    else if (pgst == PG_ERR_FOREIGN_KEY)
        reply_error(r, 400, "invalid_reference", "a referenced resource does not exist");
    else
        reply_error(r, 500, "internal", "internal error");
}

int req_list_window(struct req *r, long dflt, long max, long *limit, long *offset)
{
    char lim[16], off[24] = "0", *end = NULL, msg[64];
    snprintf(lim, sizeof lim, "%ld", dflt);
    req_query(r, "limit", lim, sizeof lim);
    req_query(r, "offset", off, sizeof off);
    *limit = strtol(lim, &end, 10);
    if (!lim[0] || !end || *end || *limit < 1 || *limit > max) {
        snprintf(msg, sizeof msg, "limit must be 1..%ld", max);
        reply_error(r, 400, "invalid_request", msg);
        return -1;
    }
    end = NULL;
    *offset = strtol(off, &end, 10);
    if (!off[0] || !end || *end || *offset < 0 || *offset > LIST_OFFSET_MAX) {
        reply_error(r, 400, "invalid_request", "offset must be a whole number from 0");
        return -1;
    }
    return 0;
}

void list_page_finish(json_object *o, const char *key, json_object *items, long limit, long offset)
{
    int more = (long)json_object_array_length(items) > limit;
    if (more)
        json_object_array_del_idx(items, (size_t)limit,
                                  json_object_array_length(items) - (size_t)limit);
    json_object_object_add(o, key, items);
    if (more)
        json_object_object_add(o, "next_offset", json_object_new_int64(offset + limit));
}

int req_read_body(struct req *r)
{
    return req_read_body_max(r, r->app->cfg.max_body);
}

int req_read_body_max(struct req *r, long long max)
{
    long long cl = r->ri->content_length;
    if (r->body)
        return 0;
    if (cl > max) {
        reply_error(r, 413, "payload_too_large", "request body too large");
        return -1;
    }
    size_t cap = cl >= 0 ? (size_t)cl + 1 : 8192;
    char *buf = malloc(cap);
    size_t n = 0;
    if (!buf) {
        reply_error(r, 500, "internal", "out of memory");
        return -1;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if ((long long)cap > max + 1) {
                free(buf);
                reply_error(r, 413, "payload_too_large", "request body too large");
                return -1;
            }
            size_t ncap = cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                reply_error(r, 500, "internal", "out of memory");
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        int got = mg_read(r->conn, buf + n, cap - n - 1);
        if (got <= 0)
            break;
        n += (size_t)got;
        if ((long long)n > max) {
            free(buf);
            reply_error(r, 413, "payload_too_large", "request body too large");
            return -1;
        }
    }
    buf[n] = 0;
    r->body = buf;
    r->body_len = n;
    return 0;
}

json_object *req_json_body(struct req *r)
{
    if (req_read_body(r) != 0)
        return NULL;
    if (r->body_len == 0) {
        reply_error(r, 400, "invalid_request", "a JSON object body is required");
        return NULL;
    }
    json_object *o = NULL;
    char why[192], msg[224];
    if (json_strict_parse(r->body, r->body_len, 64, 0, &o, why, sizeof why) != 0) {
        snprintf(msg, sizeof msg, "body is not valid JSON: %s", why);
        reply_error(r, 400, "invalid_json", msg);
        return NULL;
    }
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(msg, sizeof msg, "body must be a JSON object, not %s",
                 json_type_to_name(json_object_get_type(o)));
        json_object_put(o);
        reply_error(r, 400, "invalid_json", msg);
        return NULL;
    }
    return o;
}

int body_members_known(struct req *r, json_object *body, const char *const *known, size_t n)
{
    char msg[512];
    if (json_members_check(body, known, n, msg, sizeof msg) == 0)
        return 0;
    reply_error(r, 400, "invalid_request", msg);
    return -1;
}

int req_query(const struct req *r, const char *name, char *buf, size_t cap)
{
    const char *q = r->ri->query_string;
    if (!q || cap == 0)
        return -1;
    /* mg_get_var() empties its buffer before it looks: decode into a scratch copy, so that an
     * absent parameter leaves the caller's default in buf (?before=X alone keeps limit=50). */
    char small[256];
    char *tmp = cap <= sizeof small ? small : malloc(cap);
    if (!tmp)
        return -1;
    int n = mg_get_var(q, strlen(q), name, tmp, cap);
    if (n >= 0)
        memcpy(buf, tmp, (size_t)n + 1);
    if (tmp != small)
        free(tmp);
    return n >= 0 ? 0 : -1;
}

/* ---- stream tokens ----------------------------------------------------------------------------
 * An opaque, short-lived ticket a browser puts in an event stream's URL instead of its bearer
 * token: POST /api/{t}/stream-token (with the header) returns "st_" + 64 hex characters, kept
 * in Redis as agenthub:{t}:stream_token:{sha256 of the ticket} = the token's sub for
 * JWT_QUERY_TOKEN_MAX_S seconds. It is good for the event streams of that tenant and user only
 * (reconnects included, until it expires); it is not a JWT and not valid anywhere else. */
#define STREAM_TOKEN_PREFIX "st_"

static void stream_token_key(const char *tenant, const char *ticket, char *key, size_t cap)
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256((const unsigned char *)ticket, strlen(ticket), h);
    for (size_t i = 0; i < sizeof h; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    snprintf(key, cap, "agenthub:%s:stream_token:%s", tenant, hex);
}

static void route_stream_token(struct req *r, const char *tenant)
{
    unsigned char raw[32];
    char ticket[8 + 2 * sizeof raw], key[200];
    if (req_auth(r, tenant) != 0)
        return;
    if (RAND_bytes(raw, sizeof raw) != 1) {
        reply_error(r, 500, "internal", "no randomness");
        return;
    }
    snprintf(ticket, sizeof ticket, "%s", STREAM_TOKEN_PREFIX);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(ticket + strlen(STREAM_TOKEN_PREFIX) + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof raw);
    stream_token_key(tenant, ticket, key, sizeof key);
    long ttl = r->app->cfg.jwt_query_token_max_s;
    if (!r->app->rc ||
        rcache_setex(r->app->rc, key, r->claims.sub, strlen(r->claims.sub), (int)ttl) != RC_OK) {
        reply_error(r, 503, "unavailable", "cache unavailable, retry later");
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "stream_token", json_object_new_string(ticket));
    json_object_object_add(o, "expires_in", json_object_new_int64(ttl));
    reply_json(r, 201, o);
    json_object_put(o);
    OPENSSL_cleanse(ticket, sizeof ticket);
}

/* A stream ticket in ?access_token=: 0 with r->claims filled, -1 refused. */
static int stream_token_check(struct req *r, const char *tenant, const char *ticket)
{
    char key[200], *sub = NULL;
    size_t len = 0;
    if (!tenant || strlen(ticket) != strlen(STREAM_TOKEN_PREFIX) + 64 || !r->app->rc)
        return -1;
    stream_token_key(tenant, ticket, key, sizeof key);
    if (rcache_get(r->app->rc, key, &sub, &len) != RC_OK || !sub || len == 0 ||
        len >= sizeof r->claims.sub) {
        free(sub);
        return -1;
    }
    memset(&r->claims, 0, sizeof r->claims);
    snprintf(r->claims.tenant_id, sizeof r->claims.tenant_id, "%s", tenant);
    memcpy(r->claims.sub, sub, len);
    r->claims.sub[len] = 0;
    r->claims.iat = (long)time(NULL);
    r->claims.exp = r->claims.iat + r->app->cfg.jwt_query_token_max_s;
    free(sub);
    return 0;
}

/* Only the event streams take a token in the URL: EventSource cannot send a header. */
static int route_is_event_stream(const struct req *r)
{
    return strcmp(r->route, "jobs.events") == 0 || strcmp(r->route, "documents.events") == 0;
}

int req_auth(struct req *r, const char *tenant)
{
    char why[128] = "";
    int from_query = 0;
    const char *h = mg_get_header(r->conn, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        /* EventSource cannot set headers: the web UI passes ?access_token= on event streams
         * (and only there; the query string is never logged). */
        /* Heap, not thread-local: static TLS is initialized in every one of the thousands of
         * worker threads, and 8 KiB each would show up in RSS. */
        char *qtok = NULL;
        if (route_is_event_stream(r) && r->ri->query_string &&
            (qtok = r->qtok = malloc(AUTH_MAX_TOKEN + 1)) != NULL &&
            req_query(r, "access_token", qtok, AUTH_MAX_TOKEN + 1) == 0 && qtok[0]) {
            r->token = qtok;
            from_query = 1;
        } else {
            /* Saying what is missing tells the client nothing it did not send. */
            log_kv(LOG_DEBUG, &r->log, "auth refused", "reason", "no bearer token", (char *)NULL);
            reply_error(r, 401, "unauthorized",
                        h ? "the Authorization header must be \"Bearer <token or API key>\""
                          : "no credential: send \"Authorization: Bearer <token or API key>\"");
            return -1;
        }
    } else {
        h += 7;
        while (*h == ' ')
            h++;
        r->token = h;
    }
    time_t now = time(NULL);
    if (from_query && strncmp(r->token, STREAM_TOKEN_PREFIX, strlen(STREAM_TOKEN_PREFIX)) == 0) {
        if (stream_token_check(r, tenant, r->token) != 0) {
            log_kv(LOG_DEBUG, &r->log, "auth refused", "reason", "unknown or expired stream token",
                   (char *)NULL);
            reply_error(r, 401, "unauthorized", "invalid token");
            return -1;
        }
        r->authed = 1;
        r->log.tenant_id = tenant;
        return 0;
    }
    if (keyauth_is_key(r->token)) {
        /* A tenant API key (keyauth.h): long-lived, so never accepted in a URL. */
        int krc =
            from_query ? 1 : keyauth_verify(r->app->keys, r->token, &r->claims, why, sizeof why);
        if (krc < 0) {
            log_kv(LOG_WARN, &r->log, "API key lookup failed", "status", pg_status_str(krc),
                   (char *)NULL);
            reply_error(r, 503, "unavailable", "credential check unavailable, retry later");
            return -1;
        }
        if (krc != 0) {
            log_kv(LOG_DEBUG, &r->log, "auth refused", "reason",
                   from_query ? "API key in the URL" : why, (char *)NULL);
            reply_error(r, 401, "unauthorized", "invalid token");
            return -1;
        }
    } else if (auth_verify(r->app->auth, r->token, now, &r->claims, why, sizeof why) != 0) {
        log_kv(LOG_DEBUG, &r->log, "auth refused", "reason", why, (char *)NULL);
        reply_error(r, 401, "unauthorized", "invalid token");
        return -1;
    }
    /* A URL is copied into histories, proxy logs and Referer headers: a token there must be
     * short-lived, both in what is left of it and in its whole life (iat required). */
    if (from_query) {
        long maxq = r->app->cfg.jwt_query_token_max_s;
        if (r->claims.iat <= 0 || r->claims.exp - r->claims.iat > maxq ||
            r->claims.exp - (long)now > maxq) {
            memset(&r->claims, 0, sizeof r->claims);
            log_kv(LOG_DEBUG, &r->log, "auth refused", "reason",
                   "?access_token= lives longer than JWT_QUERY_TOKEN_MAX_S", (char *)NULL);
            reply_error(r, 401, "unauthorized", "invalid token");
            return -1;
        }
    }
    r->authed = 1;
    if (tenant && strcmp(tenant, r->claims.tenant_id) != 0) {
        log_kv(LOG_INFO, &r->log, "tenant mismatch", "token_tenant",
               r->claims.operator? "(operator)" : r->claims.tenant_id, (char *)NULL);
        reply_error(r, 403, "forbidden", "token is not valid for this tenant");
        return -1;
    }
    r->log.tenant_id = tenant ? tenant : r->claims.tenant_id;
    return 0;
}

int req_admin(struct req *r)
{
    if (req_auth(r, NULL) != 0)
        return -1;
    return req_admin_role(r);
}

int req_admin_role(struct req *r)
{
    if (!r->claims.admin && !r->claims.operator) {
        reply_error(r, 403, "forbidden", "admin role required");
        return -1;
    }
    /* A deactivated tenant is locked out of the admin routes too (its admins could make keys
     * and change its LLM config); the operator reactivates it. */
    if (!r->claims.operator&& req_tenant_active(r, r->claims.tenant_id) != 0)
        return -1;
    return 0;
}

/* ---- inactive tenants ---------------------------------------------------------------------- */

/* tenants.is_active by tenant id, each answer kept INGRESS_TENANT_CACHE_MS: a deactivation is
 * refused by every ingress within that bound (the stages read the row on every job). Only
 * tenant ids that a valid token named reach it (req_auth_tenant checks after req_auth), and
 * each stripe keeps at most TC_STRIPE_MAX of them. */
#define TC_STRIPES 16
#define TC_STRIPE_MAX 256

struct tc_entry {
    struct tc_entry *next;
    double expires;
    int active;
    char tenant[65];
};

struct tenant_cache {
    struct {
        pthread_mutex_t lock;
        struct tc_entry *head;
        int n;
    } s[TC_STRIPES];
};

int tenant_cache_new(struct tenant_cache **out)
{
    struct tenant_cache *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c)
        return -ENOMEM;
    for (int i = 0; i < TC_STRIPES; i++)
        pthread_mutex_init(&c->s[i].lock, NULL);
    *out = c;
    return 0;
}

void tenant_cache_free(struct tenant_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < TC_STRIPES; i++) {
        for (struct tc_entry *e = c->s[i].head, *next; e; e = next) {
            next = e->next;
            free(e);
        }
        pthread_mutex_destroy(&c->s[i].lock);
    }
    free(c);
}

static unsigned tc_stripe(const char *t)
{
    unsigned h = 2166136261u;
    for (; *t; t++)
        h = (h ^ (unsigned char)*t) * 16777619u;
    return h % TC_STRIPES;
}

/* TENANT_ACTIVE, TENANT_INACTIVE or TENANT_UNKNOWN (no such row). A database error counts as
 * active: the route's queries then fail with 503 themselves. */
#define TENANT_ACTIVE 1
#define TENANT_INACTIVE 0
#define TENANT_UNKNOWN (-1)
#define TENANT_NOT_CACHED (-2)
static int tenant_active(struct ingress *app, const char *tenant)
{
    struct tenant_cache *c = app->tenants;
    double now = now_mono();
    unsigned b = tc_stripe(tenant);
    int active = TENANT_NOT_CACHED;
    if (c && app->cfg.tenant_cache_ms > 0) {
        pthread_mutex_lock(&c->s[b].lock);
        for (struct tc_entry *e = c->s[b].head; e; e = e->next)
            if (strcmp(e->tenant, tenant) == 0) {
                if (e->expires > now)
                    active = e->active;
                break;
            }
        pthread_mutex_unlock(&c->s[b].lock);
        if (active != TENANT_NOT_CACHED)
            return active;
    }
    PGresult *res = NULL;
    char err[256];
    const char *p[] = {tenant};
    int st = pgpool_exec(app->db, &res, "SELECT is_active FROM tenants WHERE tenant_id = $1", 1, p,
                         err, sizeof err);
    if (st != PG_OK)
        return TENANT_ACTIVE;
    active = PQntuples(res) == 0               ? TENANT_UNKNOWN
             : PQgetvalue(res, 0, 0)[0] == 't' ? TENANT_ACTIVE
                                               : TENANT_INACTIVE;
    PQclear(res);
    if (!c || app->cfg.tenant_cache_ms <= 0)
        return active;
    pthread_mutex_lock(&c->s[b].lock);
    struct tc_entry *e = c->s[b].head;
    while (e && strcmp(e->tenant, tenant) != 0)
        e = e->next;
    if (!e && c->s[b].n >= TC_STRIPE_MAX) {
        /* full: start the stripe afresh (entries are only a cache) */
        for (struct tc_entry *x = c->s[b].head, *next; x; x = next) {
            next = x->next;
            free(x);
        }
        c->s[b].head = NULL;
        c->s[b].n = 0;
    }
    if (!e && (e = calloc(1, sizeof *e)) != NULL) {
        snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
        e->next = c->s[b].head;
        c->s[b].head = e;
        c->s[b].n++;
    }
    if (e) {
        e->active = active;
        e->expires = now + (double)app->cfg.tenant_cache_ms / 1000.0;
    }
    pthread_mutex_unlock(&c->s[b].lock);
    return active;
}

int req_tenant_active(struct req *r, const char *tenant)
{
    int state = tenant_active(r->app, tenant);
    if (state == TENANT_INACTIVE) {
        log_kv(LOG_INFO, &r->log, "tenant inactive: refused", (char *)NULL);
        reply_error(r, 403, "tenant_inactive", "this tenant is inactive");
        return -1;
    }
    if (state == TENANT_UNKNOWN) { /* every route alike (a chat said 404, a list 200 []) */
        reply_error(r, 404, "not_found", "no such tenant");
        return -1;
    }
    return 0;
}

int req_tenant_exists(struct req *r, const char *tenant)
{
    char err[256];
    PGresult *res = NULL;
    const char *p[] = {tenant};
    int st = pgpool_exec(r->app->db, &res, "SELECT 1 FROM tenants WHERE tenant_id = $1", 1, p, err,
                         sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "tenant lookup");
        return -1;
    }
    int n = PQntuples(res);
    PQclear(res);
    if (!n) {
        reply_error(r, 404, "not_found", "no such tenant");
        return -1;
    }
    return 0;
}

int req_auth_tenant(struct req *r, const char *tenant)
{
    if (req_auth(r, tenant) != 0)
        return -1;
    return req_tenant_active(r, tenant);
}

/* ---- PGresult -> JSON ---------------------------------------------------------------------- */
#define PG_OID_BOOL 16
#define PG_OID_INT8 20
#define PG_OID_INT2 21
#define PG_OID_INT4 23
#define PG_OID_JSON 114
#define PG_OID_FLOAT4 700
#define PG_OID_FLOAT8 701
#define PG_OID_NUMERIC 1700
#define PG_OID_JSONB 3802

json_object *pg_row_json(const void *vres, int row)
{
    const PGresult *res = vres;
    json_object *o = json_object_new_object();
    int nf = PQnfields(res);
    for (int c = 0; c < nf; c++) {
        const char *name = PQfname(res, c);
        if (PQgetisnull(res, row, c)) {
            json_object_object_add(o, name, NULL);
            continue;
        }
        const char *v = PQgetvalue(res, row, c);
        json_object *jv = NULL;
        switch (PQftype(res, c)) {
        case PG_OID_BOOL:
            jv = json_object_new_boolean(v[0] == 't');
            break;
        case PG_OID_INT2:
        case PG_OID_INT4:
        case PG_OID_INT8:
            jv = json_object_new_int64(strtoll(v, NULL, 10));
            break;
        case PG_OID_FLOAT4:
        case PG_OID_FLOAT8:
        case PG_OID_NUMERIC:
            jv = json_number_text(v); /* 0.15, not 0.14999999999999999; NaN: null */
            break;
        case PG_OID_JSON:
        case PG_OID_JSONB:
            jv = json_tokener_parse(v);
            break;
        default:
            jv = json_object_new_string(v);
        }
        json_object_object_add(o, name, jv);
    }
    return o;
}

json_object *pg_rows_json(const void *vres)
{
    const PGresult *res = vres;
    json_object *a = json_object_new_array();
    int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        json_object_array_add(a, pg_row_json(res, i));
    return a;
}

/* ---- health, readiness, metrics ------------------------------------------------------------ */
/* /ready pings PostgreSQL, Redis and Kafka at most once per INGRESS_READY_CACHE_MS: one
 * caller runs the checks, callers arriving meanwhile wait for its answer (single flight), and
 * everyone inside the window gets the cached one, so a flood of /ready costs the dependencies
 * nothing more than one probe per window. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int running, have;
    double at;
    int pg, rd, kf;
} ready_c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0};

static void ready_probe(struct ingress *app, int *pg, int *rd, int *kf)
{
    char err[256];
    *pg = app->db ? pgpool_exec(app->db, NULL, "SELECT 1", 0, NULL, err, sizeof err) == PG_OK : 0;
    *rd = app->rc ? rcache_ping(app->rc) == RC_OK : 0;
    *kf = app->prod ? kafka_producer_ping(app->prod, 2000) == 0 : 0;
}

void ingress_ready_checks(struct ingress *app, int *out_pg, int *out_rd, int *out_kf)
{
    int pg, rd, kf;
    double ttl = (double)app->cfg.ready_cache_ms / 1000.0;
    pthread_mutex_lock(&ready_c.lock);
    for (;;) {
        if (ready_c.have && now_mono() - ready_c.at < ttl) {
            pg = ready_c.pg, rd = ready_c.rd, kf = ready_c.kf;
            break;
        }
        if (!ready_c.running) {
            ready_c.running = 1;
            pthread_mutex_unlock(&ready_c.lock);
            ready_probe(app, &pg, &rd, &kf);
            pthread_mutex_lock(&ready_c.lock);
            ready_c.pg = pg, ready_c.rd = rd, ready_c.kf = kf;
            ready_c.at = now_mono();
            ready_c.have = 1;
            ready_c.running = 0;
            pthread_cond_broadcast(&ready_c.done);
            break;
        }
        pthread_cond_wait(&ready_c.done, &ready_c.lock);
        if (ttl <= 0 && ready_c.have) { /* no cache: still share the probe just finished */
            pg = ready_c.pg, rd = ready_c.rd, kf = ready_c.kf;
            break;
        }
    }
    pthread_mutex_unlock(&ready_c.lock);
    *out_pg = pg, *out_rd = rd, *out_kf = kf;
}

static void route_ready(struct req *r)
{
    int pg, rd, kf;
    ingress_ready_checks(r->app, &pg, &rd, &kf);
    int ok = pg && rd && kf;
    json_object *o = json_object_new_object(), *checks = json_object_new_object();
    json_object_object_add(checks, "postgres", json_object_new_string(pg ? "ok" : "down"));
    json_object_object_add(checks, "redis", json_object_new_string(rd ? "ok" : "down"));
    json_object_object_add(checks, "kafka", json_object_new_string(kf ? "ok" : "down"));
    json_object_object_add(o, "status", json_object_new_string(ok ? "ready" : "unavailable"));
    json_object_object_add(o, "checks", checks);
    reply_json(r, ok ? 200 : 503, o);
    json_object_put(o);
}

static void route_metrics(struct req *r)
{
    const char *want = r->app->cfg.metrics_token;
    if (want && *want && !metrics_token_ok(want, mg_get_header(r->conn, "Authorization"))) {
        reply_error(r, 401, "unauthorized", "a valid metrics token is required");
        return;
    }
    char *text = metrics_render();
    if (!text) {
        reply_error(r, 500, "internal", "metrics unavailable");
        return;
    }
    reply_raw(r, 200, "text/plain; version=0.0.4", text, strlen(text), NULL);
    free(text);
}

static int method_is(const struct req *r, const char *m)
{
    return strcmp(r->ri->request_method, m) == 0;
}

static void dispatch(struct req *r)
{
    char **s = r->segs;
    int n = r->nsegs;
    if (n == 1 && strcmp(s[0], "health") == 0) {
        snprintf(r->route, sizeof r->route, "health");
        json_object *o = json_object_new_object();
        json_object_object_add(o, "status", json_object_new_string("ok"));
        reply_json(r, 200, o);
        json_object_put(o);
        return;
    }
    if (n == 1 && strcmp(s[0], "ready") == 0) {
        snprintf(r->route, sizeof r->route, "ready");
        route_ready(r);
        return;
    }
    if (n == 1 && strcmp(s[0], "metrics") == 0) {
        snprintf(r->route, sizeof r->route, "metrics");
        route_metrics(r);
        return;
    }
    if (n >= 1 && strcmp(s[0], "v1") == 0) {
        r->openai = 1; /* errors in OpenAI's shape from here on, auth's included */
        routes_openai(r);
        return;
    }
    if (n >= 1 && strcmp(s[0], "api") == 0) {
        if (n == 4 && strcmp(s[1], "admin") == 0 && strcmp(s[2], "metrics") == 0 &&
            strcmp(s[3], "cluster") == 0) {
            snprintf(r->route, sizeof r->route, "admin.metrics");
            routes_cluster_metrics(r); /* cluster_metrics.c */
            return;
        }
        if (n >= 2 && strcmp(s[1], "admin") == 0) {
            snprintf(r->route, sizeof r->route, "admin");
            routes_admin(r);
            return;
        }
        if (n < 3 || !tenant_id_valid(s[1])) {
            snprintf(r->route, sizeof r->route, "unknown");
            reply_error(r, 404, "not_found", "no such route");
            return;
        }
        const char *tenant = s[1];
        if (n == 3 && strcmp(s[2], "chat") == 0) {
            snprintf(r->route, sizeof r->route, "chat");
            if (!method_is(r, "POST"))
                return reply_method_not_allowed(r, "POST");
            routes_chat_post(r, tenant);
            return;
        }
        if (strcmp(s[2], "jobs") == 0 && (n == 4 || (n == 5 && strcmp(s[4], "events") == 0))) {
            snprintf(r->route, sizeof r->route, n == 4 ? "jobs.get" : "jobs.events");
            if (!method_is(r, "GET") && !method_is(r, "HEAD"))
                return reply_method_not_allowed(r, "GET, HEAD");
            if (n == 4)
                routes_job_get(r, tenant, s[3]);
            else
                routes_job_events(r, tenant, s[3]);
            return;
        }
        if (n == 3 && strcmp(s[2], "stream-token") == 0) {
            snprintf(r->route, sizeof r->route, "stream-token");
            if (!method_is(r, "POST"))
                return reply_method_not_allowed(r, "POST");
            route_stream_token(r, tenant);
            return;
        }
        if (strcmp(s[2], "sessions") == 0) {
            snprintf(r->route, sizeof r->route, "sessions");
            routes_sessions(r, tenant);
            return;
        }
        if (n == 5 && strcmp(s[2], "documents") == 0 && method_is(r, "DELETE")) {
            snprintf(r->route, sizeof r->route, "documents.delete");
            routes_document_delete(r, tenant, s[3], s[4]); /* routes_ingest.c */
            return;
        }
        if (strcmp(s[2], "documents") == 0) {
            routes_documents(r, tenant); /* sets r->route itself */
            return;
        }
        if (n == 3 && strcmp(s[2], "usage") == 0) {
            routes_usage_tenant(r, tenant); /* routes_usage.c */
            return;
        }
        snprintf(r->route, sizeof r->route, "unknown");
        reply_error(r, 404, "not_found", "no such route");
        return;
    }
    snprintf(r->route, sizeof r->route, "web");
    routes_web(r);
}

/* Errors civetweb answers itself (malformed request, head over INGRESS_MAX_HEADER, ...):
 * our JSON error shape and a request id, and the connection is closed. */
int http_error_cb(struct mg_connection *conn, int status, const char *errmsg)
{
    char rid[UUID_STR_LEN] = "req", body[256];
    const char *code = status == 413   ? "payload_too_large"
                       : status == 404 ? "not_found"
                       : status == 405 ? "method_not_allowed"
                       : status >= 500 ? "internal"
                                       : "bad_request";
    if (status < 400 || status > 599)
        return 1;
    if (uuid_v4(rid) != 0)
        snprintf(rid, sizeof rid, "req");
    int n = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code,
                     status == 413 ? "request too large" : "the request could not be processed");
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
              "X-Request-Id: %s\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n"
              "Connection: close\r\n\r\n",
              status, mg_get_response_code_text(conn, status), n, rid);
    mg_write(conn, body, (size_t)n);
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    struct log_ctx ctx = {.request_id = rid};
    log_kv(LOG_INFO, &ctx, "request refused by the HTTP layer", "status", st, "detail",
           errmsg ? errmsg : "", (char *)NULL);
    return 0;
}

static const double latency_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,     2.5,  5,     10,   30};

int http_handler(struct mg_connection *conn, void *cbdata)
{
    struct ingress *app = cbdata;
    struct req *r = calloc(1, sizeof *r);
    double t0 = now_mono();
    if (!r) {
        mg_send_http_error(conn, 500, "%s", "out of memory");
        return 500;
    }
    r->app = app;
    r->conn = conn;
    r->ri = mg_get_request_info(conn);
    snprintf(r->route, sizeof r->route, "unknown");

    const char *rid = mg_get_header(conn, "X-Request-Id");
    if (rid && reqid_ok(rid))
        snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    else if (uuid_v4(r->request_id) != 0)
        snprintf(r->request_id, sizeof r->request_id, "req-%ld", (long)time(NULL));
    r->log.request_id = r->request_id;

    const char *origin = mg_get_header(conn, "Origin");
    if (origin_allowed(app->cfg.cors_origins, origin))
        r->origin_ok = origin;

    if (method_is(r, "OPTIONS")) {
        snprintf(r->route, sizeof r->route, "preflight");
        const char *extra = r->origin_ok
                                ? "Access-Control-Allow-Methods: GET, POST, PUT, PATCH, DELETE, "
                                  "OPTIONS\r\nAccess-Control-Allow-Headers: Authorization, "
                                  "Content-Type, Idempotency-Key, Last-Event-ID, X-Request-Id, "
                                  "X-AgentHub-Session\r\n"
                                  "Access-Control-Max-Age: 600\r\n"
                                : NULL;
        reply_raw(r, 204, NULL, "", 0, extra);
        goto done;
    }

    const char *uri = r->ri->local_uri ? r->ri->local_uri : "/";
    if (strlen(uri) >= sizeof r->path) {
        reply_error(r, 414, "uri_too_long", "request path too long");
        goto done;
    }
    snprintf(r->path, sizeof r->path, "%s", uri);
    char *p = r->path;
    while (*p) {
        while (*p == '/')
            *p++ = 0;
        if (!*p)
            break;
        if (r->nsegs >= INGRESS_MAX_SEGS) {
            reply_error(r, 404, "not_found", "no such route");
            goto done;
        }
        r->segs[r->nsegs++] = p;
        while (*p && *p != '/')
            p++;
    }
    dispatch(r);
    if (!r->responded)
        reply_error(r, 500, "internal", "internal error");

done:;
    double dt = now_mono() - t0;
    char labels[128], status[8];
    snprintf(status, sizeof status, "%d", r->status);
    snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", r->route, r->status);
    metrics_inc(
        metrics_counter("ingress_http_requests_total", "HTTP requests by route and status", labels),
        1);
    snprintf(labels, sizeof labels, "route=\"%s\"", r->route);
    metrics_observe(metrics_histogram("ingress_http_request_duration_seconds",
                                      "HTTP request latency by route", labels, latency_buckets,
                                      sizeof latency_buckets / sizeof latency_buckets[0]),
                    dt);
    char ms[32];
    snprintf(ms, sizeof ms, "%.1f", dt * 1000.0);
    log_kv(r->status >= 500 ? LOG_WARN : LOG_INFO, &r->log, "request", "method",
           r->ri->request_method, "path", r->ri->local_uri ? r->ri->local_uri : "", "route",
           r->route, "status", status, "ms", ms, (char *)NULL);
    req_unhold(r);
    int st = r->status;
    free(r->body);
    free(r->qtok);
    free(r);
    return st ? st : 200;
}
