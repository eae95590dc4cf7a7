/* routes_chat.c — POST /api/{tenant}/chat and GET /api/{tenant}/jobs/{id}[?wait=N].
 *
 * Accepting a chat request is one PostgreSQL transaction (session if absent, user message,
 * jobs row) around the Kafka publish: the transaction commits only after the broker has
 * acknowledged chat.request (acks=all, INGRESS_PUBLISH_TIMEOUT_MS). If the publish fails the
 * request's rows are removed (or the transaction rolls back) and the client gets 503, so no
 * message claims an acceptance that never happened. (If COMMIT itself fails after a successful
 * publish, the router finds no jobs row for the job and drops it; the client got 503 and
 * retries.) Under load many requests share that transaction: accept.c (group commit).
 */
#include "ingress.h"
#include "limits.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accept.h"
#include "envelope.h"
#include "fernet.h"
#include "jobevents.h"
#include "json_field.h"
#include "metrics.h"
#include "sse.h"
#include "strbuf.h"
#include "traceparent.h"
#include "utf8.h"
#include "uuid.h"

#define CHAT_MAX_CHARS 32000
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define JOB_COLUMNS                                                                                \
    "job_id, session_id, user_message_id AS message_id, assistant_message_id, status, agent, "     \
    "intent, language, response, metadata, error, parts_total, parts_done, " TS(                   \
        "created_at") " AS created_at, " TS("updated_at") " AS updated_at"

int job_fetch(struct ingress *app, const char *tenant, const char *user, const char *job_id,
              json_object **job)
{
    PGresult *res = NULL;
    char err[256];
    const char *p[] = {job_id, tenant, user};
    *job = NULL;
    int st = pgpool_exec(app->db, &res,
                         "SELECT " JOB_COLUMNS " FROM jobs WHERE job_id = $1 AND tenant_id = $2 "
                         "AND user_id = $3",
                         3, p, err, sizeof err);
    if (st != PG_OK)
        return st == PG_ERR_INVALID ? 1 : st;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 1;
    }
    *job = pg_row_json(res, 0);
    PQclear(res);
    return 0;
}

int job_load(struct req *r, const char *tenant, const char *job_id, json_object **job)
{
    if (!uuid_valid(job_id)) {
        reply_error(r, 404, "not_found", "no such job");
        return -1;
    }
    int st = job_fetch(r->app, tenant, r->claims.sub, job_id, job);
    if (st == 1) {
        reply_error(r, 404, "not_found", "no such job");
        return -1;
    }
    if (st != 0) {
        reply_db_error(r, st, "job lookup");
        return -1;
    }
    return 0;
}

/* Waits until the job is terminal or wait_s passed. *job is the latest state (replaced). */
void job_wait(struct req *r, const char *tenant, const char *job_id, int wait_s, json_object **job)
{
    struct ingress *app = r->app;
    if (wait_s <= 0 || status_terminal(json_field_str(*job, "status")) || !req_hold(r))
        return;
    struct sse_waiter *w = sse_hub_register(app->hub, job_id);
    if (!w)
        return;
    double deadline = now_mono() + wait_s;
    char last[48] = "0";
    int tick = 0;
    while (!app->stopping) {
        double left = deadline - now_mono();
        if (left <= 0)
            break;
        int ms = (int)(left * 1000.0);
        if (ms > app->cfg.sse_poll_ms)
            ms = (int)app->cfg.sse_poll_ms;
        sse_hub_wait(app->hub, w, ms > 0 ? ms : 1);
        if (sse_hub_is_shutdown(app->hub))
            break;
        /* Redis tells cheaply whether something terminal happened; PostgreSQL is read when it
         * did, and every few seconds anyway. */
        int check_pg = (++tick % 5) == 0;
        json_object *arr = NULL;
        if (jobevents_read(app->rc, tenant, job_id, last, 200, &arr) == RC_OK && arr) {
            size_t n = json_object_array_length(arr);
            for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(arr, i);
                const char *ev = json_field_str(e, "event"), *id = json_field_str(e, "id");
                if (id)
                    snprintf(last, sizeof last, "%s", id);
                if (ev && (strcmp(ev, "final") == 0 || strcmp(ev, "error") == 0))
                    check_pg = 1;
            }
        }
        json_object_put(arr);
        if (!check_pg)
            continue;
        json_object *j2 = NULL;
        if (job_fetch(app, tenant, r->claims.sub, job_id, &j2) == 0 && j2) {
            json_object_put(*job);
            *job = j2;
            if (status_terminal(json_field_str(*job, "status")))
                break;
        }
    }
    sse_hub_unregister(app->hub, w);
}

/* ?wait=N: 0..INGRESS_MAX_WAIT_S; -1 answered 400. */
static int parse_wait(struct req *r, int *wait_s)
{
    char buf[32];
    *wait_s = 0;
    if (req_query(r, "wait", buf, sizeof buf) != 0)
        return 0;
    char *end;
    long v = strtol(buf, &end, 10);
    if (!buf[0] || *end || v < 0 || v > r->app->cfg.max_wait_s) {
        char msg[96];
        snprintf(msg, sizeof msg, "wait must be an integer from 0 to %ld", r->app->cfg.max_wait_s);
        reply_error(r, 400, "invalid_request", msg);
        return -1;
    }
    *wait_s = (int)v;
    return 0;
}

static json_object *accepted_body(const char *tenant, const char *job_id, const char *session_id,
                                  const char *message_id, const char *status)
{
    char url[256];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "job_id", json_object_new_string(job_id));
    json_object_object_add(o, "session_id", json_object_new_string(session_id));
    json_object_object_add(o, "message_id", json_object_new_string(message_id));
    json_object_object_add(o, "status", json_object_new_string(status));
    snprintf(url, sizeof url, "/api/%s/jobs/%s/events", tenant, job_id);
    json_object_object_add(o, "events_url", json_object_new_string(url));
    snprintf(url, sizeof url, "/api/%s/jobs/%s", tenant, job_id);
    json_object_object_add(o, "result_url", json_object_new_string(url));
    return o;
}

json_object *job_outcome(json_object *job)
{
    json_object *o = json_object_new_object(), *v;
    const char *st = json_field_str(job, "status");
    if (st && strcmp(st, "error") == 0) {
        json_object *err = json_object_object_get(job, "error");
        const char *code = json_field_str(err, "code"), *msg = json_field_str(err, "message");
        json_object_object_add(o, "code", json_object_new_string(code ? code : "job_failed"));
        json_object_object_add(o, "message",
                               json_object_new_string(msg ? msg : "the request failed"));
        json_object_object_add(o, "job_id", json_object_new_string(json_field_str(job, "job_id")));
        return o;
    }
    json_object_object_add(o, "session_id",
                           json_object_new_string(json_field_str(job, "session_id")));
    const char *mid = json_field_str(job, "assistant_message_id");
    json_object_object_add(o, "message_id",
                           json_object_new_string(mid ? mid : json_field_str(job, "message_id")));
    const char *response = json_field_str(job, "response");
    json_object_object_add(o, "response", json_object_new_string(response ? response : ""));
    const char *agent = json_field_str(job, "agent");
    json_object_object_add(o, "agent", agent ? json_object_new_string(agent) : NULL);
    json_object_object_add(o, "metadata",
                           json_object_object_get_ex(job, "metadata", &v) && v
                               ? json_object_get(v)
                               : json_object_new_object());
    json_object_object_add(o, "job_id", json_object_new_string(json_field_str(job, "job_id")));
    return o;
}

/* The seed's synchronous answer, or the job's error. */
static void reply_sync(struct req *r, json_object *job)
{
    json_object *o = job_outcome(job);
    const char *st = json_field_str(job, "status");
    if (st && strcmp(st, "error") == 0) {
        json_object *w = json_object_new_object(), *e = json_object_new_object();
        json_object_object_add(e, "code", json_object_get(json_object_object_get(o, "code")));
        json_object_object_add(e, "message", json_object_get(json_object_object_get(o, "message")));
        json_object_object_add(w, "error", e);
        json_object_object_add(w, "job_id", json_object_get(json_object_object_get(o, "job_id")));
        reply_json(r, 502, w);
        json_object_put(w);
    } else {
        reply_json(r, 200, o);
    }
    json_object_put(o);
}

void request_hash(const char *a, size_t alen, const char *b, char out[65])
{
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hl = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    memset(h, 0, sizeof h);
    if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1) {
        EVP_DigestUpdate(c, a, alen);
        EVP_DigestUpdate(c, "\n", 1);
        EVP_DigestUpdate(c, b, strlen(b));
        EVP_DigestFinal_ex(c, h, &hl);
    }
    EVP_MD_CTX_free(c);
    for (int i = 0; i < 32; i++)
        snprintf(out + (size_t)2 * (size_t)i, 3, "%02x", h[i]);
}

int idem_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > IDEMP_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e)
            return 0;
    return 1;
}

int idem_header(struct req *r, char idem[IDEMP_MAX + 1])
{
    const char *ik = mg_get_header(r->conn, "Idempotency-Key");
    idem[0] = '\0';
    if (!ik)
        return 0;
    if (!idem_key_ok(ik)) {
        reply_error(r, 400, "invalid_request",
                    "Idempotency-Key must be 1..255 printable ASCII characters");
        return -1;
    }
    snprintf(idem, IDEMP_MAX + 1, "%s", ik);
    return 0;
}

int idem_lookup(struct req *r, const char *tenant, const char *key, const char *hash,
                char job_id[UUID_STR_LEN], char session_id[UUID_STR_LEN])
{
    PGresult *res = NULL;
    char err[256];
    const char *p[] = {tenant, key};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT job_id, user_id, request_hash, "
                         "created_at > now() - interval '24 hours' AS fresh, session_id FROM jobs "
                         "WHERE tenant_id = $1 AND idempotency_key = $2",
                         2, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "idempotency lookup");
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }
    snprintf(job_id, UUID_STR_LEN, "%s", PQgetvalue(res, 0, 0));
    if (session_id)
        snprintf(session_id, UUID_STR_LEN, "%s", PQgetvalue(res, 0, 4));
    int fresh = PQgetvalue(res, 0, 3)[0] == 't';
    int same_user = strcmp(PQgetvalue(res, 0, 1), r->claims.sub) == 0;
    int same_req = !PQgetisnull(res, 0, 2) && strcmp(PQgetvalue(res, 0, 2), hash) == 0;
    PQclear(res);
    if (!fresh) {
        const char *p2[] = {job_id};
        pgpool_exec(r->app->db, NULL, "UPDATE jobs SET idempotency_key = NULL WHERE job_id = $1", 1,
                    p2, err, sizeof err);
        return 0;
    }
    if (!same_user || !same_req) {
        reply_error(r, 422, "idempotency_conflict",
                    "Idempotency-Key was already used for a different request");
        return -1;
    }
    return 1;
}

/* An earlier job with this key: replays it (1), reports a conflicting reuse (-1, answered), or
 * finds none / an expired one (0; an expired key is released). */
static int idem_replay(struct req *r, const char *tenant, const char *key, const char *hash,
                       int wait_s)
{
    char job_id[UUID_STR_LEN];
    int found = idem_lookup(r, tenant, key, hash, job_id, NULL);
    if (found <= 0)
        return found;
    json_object *job = NULL;
    if (job_load(r, tenant, job_id, &job) != 0)
        return -1;
    job_wait(r, tenant, job_id, wait_s, &job);
    if (wait_s > 0 && status_terminal(json_field_str(job, "status"))) {
        reply_sync(r, job);
    } else {
        json_object *o =
            accepted_body(tenant, job_id, json_field_str(job, "session_id"),
                          json_field_str(job, "message_id"), json_field_str(job, "status"));
        size_t len;
        const char *s = json_object_to_json_string_length(
            o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        reply_raw(r, 202, "application/json", s, len, "Idempotent-Replayed: true\r\n");
        json_object_put(o);
    }
    json_object_put(job);
    return 1;
}

/* 429 for a refused chat (limits.h): rate_limited or budget_exceeded, with Retry-After. */
static void reply_limited(struct req *r, const struct limits_req *l)
{
    char msg[200], extra[48];
    const char *code = "rate_limited";
    if (l->code == LIMITS_BUDGET) {
        code = "budget_exceeded";
        snprintf(msg, sizeof msg,
                 "the tenant's monthly LLM budget is spent; new chats are refused until it "
                 "resets at %s (or the budget is raised)",
                 l->budget_reset_at);
    } else {
        snprintf(msg, sizeof msg, "over the %s limit of %ld requests per minute; retry in %ld s",
                 l->code == LIMITS_USER ? "user's" : "tenant's", l->limit, l->retry_after_s);
    }
    json_object *o = json_object_new_object(), *e = json_object_new_object();
    if (r->openai) { /* /v1/...: OpenAI's shape (its SDKs raise RateLimitError) */
        json_object_object_add(e, "message", json_object_new_string(msg));
        json_object_object_add(e, "type", json_object_new_string("rate_limit_error"));
        json_object_object_add(e, "param", NULL);
        json_object_object_add(e, "code", json_object_new_string(code));
    } else {
        json_object_object_add(e, "code", json_object_new_string(code));
        json_object_object_add(e, "message", json_object_new_string(msg));
    }
    if (l->code == LIMITS_BUDGET)
        json_object_object_add(e, "resets_at", json_object_new_string(l->budget_reset_at));
    json_object_object_add(o, "error", e);
    snprintf(extra, sizeof extra, "Retry-After: %ld\r\n", l->retry_after_s);
    size_t len = 0;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    metrics_inc(metrics_counter("ingress_chats_limited_total",
                                "chat requests refused with 429 (reason: rate, user_rate, budget)",
                                l->code == LIMITS_BUDGET ? "reason=\"budget\""
                                : l->code == LIMITS_USER ? "reason=\"user_rate\""
                                                         : "reason=\"rate\""),
                1);
    reply_raw(r, 429, "application/json", s, len, extra);
    json_object_put(o);
}

int chat_submit(struct req *r, struct chat_submit *cs)
{
    struct ingress *app = r->app;
    struct envelope env;
    char *payload = NULL, *user_token = NULL;
    json_object *queued = NULL;
    struct accept_item it;
    char new_session[UUID_STR_LEN] = "";
    int rc = -1;
    memset(&env, 0, sizeof env);

    /* The job id time-ordered as well (v7, see below). */
    if (envelope_init(&env, "chat.request", NULL) != 0 || uuid_v7(env.job_id) != 0) {
        reply_error(r, 500, "internal", "cannot create job");
        goto out;
    }
    const char *tph = mg_get_header(r->conn, "traceparent");
    struct traceparent tpin, tpout;
    if (tph && traceparent_parse(tph, &tpin) == 0 && traceparent_child(&tpin, &tpout) == 0)
        traceparent_format(&tpout, env.traceparent);
    snprintf(env.tenant_id, sizeof env.tenant_id, "%s", cs->tenant);
    snprintf(env.user_id, sizeof env.user_id, "%s", r->claims.sub);
    snprintf(r->job_id, sizeof r->job_id, "%s", env.job_id);
    r->log.job_id = r->job_id;

    /* The ids are chosen here (not by column defaults), so the chat.request is complete
     * before the batch's statement runs. Time-ordered (v7): each new row lands at the right
     * edge of the tables' id indexes, not on a random leaf of an index larger than the cache. */
    if ((!cs->session_id && uuid_v7(new_session) != 0) || uuid_v7(cs->message_id) != 0) {
        reply_error(r, 500, "internal", "cannot create job");
        goto out;
    }
    snprintf(env.session_id, sizeof env.session_id, "%s",
             cs->session_id ? cs->session_id : new_session);
    snprintf(env.message_id, sizeof env.message_id, "%s", cs->message_id);
    json_object_object_add(env.payload, "message",
                           json_object_new_string_len(cs->message, (int)cs->mlen));
    if (cs->idem)
        json_object_object_add(env.payload, "idempotency_key", json_object_new_string(cs->idem));
    if (cs->extra) {
        json_object_object_foreach(cs->extra, k, v)
        {
            json_object_object_add(env.payload, k, json_object_get(v));
        }
    }
    char wrap_key[FERNET_KEY_B64_LEN];
    /* An API key is never forwarded: tools that inject the caller's JWT get none. */
    if (app->cfg.common.fernet_key && app->cfg.common.fernet_key[0] && r->token &&
        !r->claims.apikey) {
        /* the token-wrap key, never FERNET_KEY itself (that one protects tenant LLM keys) */
        if (fernet_purpose_key(app->cfg.common.fernet_key, FERNET_PURPOSE_USER_TOKEN, wrap_key) ==
                FERNET_OK &&
            fernet_encrypt(wrap_key, r->token, strlen(r->token), &user_token) == FERNET_OK)
            json_object_object_add(env.payload, "user_token", json_object_new_string(user_token));
        else
            log_warn(&r->log, "cannot encrypt the user token; publishing without it");
        OPENSSL_cleanse(wrap_key, sizeof wrap_key);
    }
    payload = envelope_encode(&env);
    if (!payload) {
        reply_error(r, 500, "internal", "cannot encode job");
        goto out;
    }
    /* The "queued" event the batch writes once the job is accepted. */
    queued = json_object_new_object();
    json_object_object_add(queued, "status", json_object_new_string("queued"));
    json_object_object_add(queued, "job_id", json_object_new_string(env.job_id));
    json_object_object_add(queued, "session_id", json_object_new_string(env.session_id));
    json_object_object_add(queued, "message_id", json_object_new_string(cs->message_id));

    /* The session (an existing one is locked by an UPDATE, a new one inserted), the user
     * message, the jobs row and the acknowledged chat.request, in one transaction shared with
     * the other requests of the batch (accept.c). */
    memset(&it, 0, sizeof it);
    it.tenant = cs->tenant;
    it.user = r->claims.sub;
    it.message = cs->message;
    it.job_id = env.job_id;
    it.session_id = cs->session_id;
    it.new_session_id = cs->session_id ? NULL : new_session;
    it.message_id = cs->message_id;
    it.idem = cs->idem;
    it.hash = cs->hash;
    it.payload = payload;
    it.traceparent = env.traceparent;
    it.env = &env;
    it.queued = queued;
    struct limits_req lim = {.tenant = cs->tenant, .user = r->claims.sub};
    if (app->cfg.limits)
        it.limit = &lim;
    accept_submit(app->accept, &it);
    limits_headers(&lim, r->limit_headers, sizeof r->limit_headers);
    switch (it.outcome) {
    case ACCEPT_OK:
        break;
    case ACCEPT_LIMITED:
        reply_limited(r, &lim);
        goto out;
    case ACCEPT_NO_TENANT:
        reply_error(r, 404, "not_found", "no such tenant");
        goto out;
    case ACCEPT_DISABLED:
        reply_error(r, 403, "tenant_disabled", "this tenant is disabled");
        goto out;
    case ACCEPT_NO_SESSION:
        reply_error(r, 404, "not_found", "no such session");
        goto out;
    case ACCEPT_IDEM_CONFLICT:
        rc = 1; /* the caller replays the job that holds the key */
        goto out;
    case ACCEPT_PUBLISH_FAILED:
        log_kv(LOG_WARN, &r->log, "publish failed; not accepted", (char *)NULL);
        reply_error(r, 503, "unavailable", "message broker unavailable, retry later");
        goto out;
    default:
        if (it.db_status == PG_ERR_FOREIGN_KEY) {
            /* The tenant (or the session) was deleted meanwhile. */
            reply_error(r, 404, "not_found", cs->session_id ? "no such session" : "no such tenant");
            goto out;
        }
        log_kv(LOG_WARN, &r->log, "job insert failed", "error", it.err, (char *)NULL);
        reply_db_error(r, it.db_status, "job insert");
        goto out;
    }
    snprintf(cs->job_id, sizeof cs->job_id, "%s", env.job_id);
    snprintf(cs->session_out, sizeof cs->session_out, "%s", env.session_id);
    metrics_inc(metrics_counter("ingress_jobs_accepted_total", "chat jobs accepted", ""), 1);
    if (it.event_status != RC_OK)
        log_kv(LOG_WARN, &r->log, "queued event not written", "status",
               rc_status_str(it.event_status), (char *)NULL);
    /* Debug: at info the access line ("request", with this job_id and status 202) already
     * records the acceptance, and each JSON log line costs about 8 % of the ingress's CPU per
     * accepted chat (measured: info against warn, two lines per chat). */
    log_kv(LOG_DEBUG, &r->log, "job accepted", "session_id", env.session_id, (char *)NULL);
    rc = 0;
out:
    if (user_token) {
        OPENSSL_cleanse(user_token, strlen(user_token));
        free(user_token);
    }
    free(payload);
    json_object_put(queued);
    envelope_cleanup(&env);
    return rc;
}

void routes_chat_post(struct req *r, const char *tenant)
{
    struct ingress *app = r->app;
    json_object *body = NULL, *v, *attachments = NULL, *extra = NULL;
    char session_id[UUID_STR_LEN] = "", message_id[UUID_STR_LEN] = "", job_id[UUID_STR_LEN] = "";
    char hash[65], idem[IDEMP_MAX + 1] = "";
    int wait_s = 0;

    if (req_auth(r, tenant) != 0)
        return;
    if (parse_wait(r, &wait_s) != 0)
        return;
    if (idem_header(r, idem) != 0)
        return;
    if (!(body = req_json_body(r)))
        return;
    static const char *const members[] = {"message", "session_id", "user_id", "attachments"};
    if (body_members_known(r, body, members, sizeof members / sizeof *members) != 0)
        goto out;
    if (!json_object_object_get_ex(body, "message", &v) ||
        !json_object_is_type(v, json_type_string)) {
        reply_error(r, 400, "invalid_request", "message is required and must be a string");
        goto out;
    }
    const char *message = json_object_get_string(v);
    size_t mlen = (size_t)json_object_get_string_len(v);
    long chars = utf8_chars(message, mlen);
    if (strlen(message) != mlen || chars < 0) {
        reply_error(r, 400, "invalid_request", "message must be valid UTF-8 text");
        goto out;
    }
    if (chars < 1 || chars > CHAT_MAX_CHARS) {
        reply_error(r, 400, "invalid_request", "message must be 1 to 32000 characters");
        goto out;
    }
    if (utf8_blank(message, mlen)) { /* it made a job and a session titled "   " */
        reply_error(r, 400, "invalid_request", "message must not be blank");
        goto out;
    }
    if (json_object_object_get_ex(body, "session_id", &v) && v) {
        if (!json_object_is_type(v, json_type_string) || !uuid_valid(json_object_get_string(v))) {
            reply_error(r, 400, "invalid_request", "session_id must be a UUID");
            goto out;
        }
        snprintf(session_id, sizeof session_id, "%s", json_object_get_string(v));
    }
    if (json_object_object_get_ex(body, "user_id", &v) && v) {
        if (!json_object_is_type(v, json_type_string)) {
            reply_error(r, 400, "invalid_request", "user_id must be a string");
            goto out;
        }
        if (strcmp(json_object_get_string(v), r->claims.sub) != 0) {
            reply_error(r, 403, "forbidden", "user_id does not match the token");
            goto out;
        }
    }
    /* Documents the message is about (routes_attachments.c): checked against the caller now,
     * carried to the router and the agent in the chat.request. */
    if (json_object_object_get_ex(body, "attachments", &v) && v) {
        if (attachments_resolve(r, tenant, v, &attachments) != 0)
            goto out;
        if (attachments) {
            extra = json_object_new_object();
            json_object_object_add(extra, "attachments", json_object_get(attachments));
        }
    }
    if (attachments) {
        /* an Idempotency-Key reused with other documents is a different request */
        struct strbuf hk = {0};
        strbuf_adds(&hk, session_id);
        for (size_t i = 0; i < json_object_array_length(attachments); i++) {
            strbuf_adds(&hk, "\x1f");
            strbuf_adds(&hk,
                        json_field_str(json_object_array_get_idx(attachments, i), "document_id"));
        }
        request_hash(message, mlen, hk.p ? hk.p : session_id, hash);
        strbuf_cleanup(&hk);
    } else {
        request_hash(message, mlen, session_id, hash);
    }
    if (idem[0]) {
        int rc = idem_replay(r, tenant, idem, hash, wait_s);
        if (rc != 0)
            goto out;
    }

    {
        struct chat_submit cs;
        memset(&cs, 0, sizeof cs);
        cs.tenant = tenant;
        cs.message = message;
        cs.mlen = mlen;
        cs.session_id = session_id[0] ? session_id : NULL;
        cs.idem = idem[0] ? idem : NULL;
        cs.hash = hash;
        cs.extra = extra;
        int rc = chat_submit(r, &cs);
        if (rc == 1) {
            /* A concurrent request with the same key won: replay its job. */
            if (idem_replay(r, tenant, idem, hash, wait_s) == 0)
                reply_error(r, 409, "conflict", "a request with this Idempotency-Key is in flight");
            goto out;
        }
        if (rc != 0)
            goto out;
        snprintf(session_id, sizeof session_id, "%s", cs.session_out);
        snprintf(message_id, sizeof message_id, "%s", cs.message_id);
        snprintf(job_id, sizeof job_id, "%s", cs.job_id);
    }
    if (attachments)
        attachments_record(r, tenant, session_id, message_id, attachments, "message");
    if (wait_s > 0) {
        json_object *job = NULL;
        if (job_fetch(app, tenant, r->claims.sub, job_id, &job) == 0 && job) {
            job_wait(r, tenant, job_id, wait_s, &job);
            if (status_terminal(json_field_str(job, "status"))) {
                reply_sync(r, job);
                json_object_put(job);
                goto out;
            }
            json_object *o = accepted_body(tenant, job_id, session_id, message_id,
                                           json_field_str(job, "status"));
            reply_json(r, 202, o);
            json_object_put(o);
            json_object_put(job);
            goto out;
        }
    }
    {
        json_object *o = accepted_body(tenant, job_id, session_id, message_id, "queued");
        reply_json(r, 202, o);
        json_object_put(o);
    }
out:
    json_object_put(attachments);
    json_object_put(extra);
    json_object_put(body);
}

void routes_job_get(struct req *r, const char *tenant, const char *job_id)
{
    json_object *job = NULL, *events = NULL;
    int wait_s = 0;
    if (req_auth_tenant(r, tenant) != 0)
        return;
    if (parse_wait(r, &wait_s) != 0)
        return;
    r->log.job_id = job_id;
    if (job_load(r, tenant, job_id, &job) != 0)
        return;
    job_wait(r, tenant, job_id, wait_s, &job);
    if (jobevents_read(r->app->rc, tenant, job_id, "0", 1000, &events) == RC_OK && events)
        json_object_object_add(job, "events", events);
    else
        json_object_object_add(job, "events", json_object_new_array());
    reply_json(r, 200, job);
    json_object_put(job);
}
