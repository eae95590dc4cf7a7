/* pipeline.c — see pipeline.h. */
#include "pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobevents.h"
#include "json_text.h"
#include "log.h"
#include "passmemo.h"
#include "startfacts.h"
#include "utf8.h"

static void ctx_of(const struct envelope *env, struct log_ctx *c, char trace[33])
{
    memset(c, 0, sizeof(*c));
    c->tenant_id = env->tenant_id;
    c->job_id = env->job_id;
    trace[0] = '\0';
    if (strlen(env->traceparent) >= 35) {
        memcpy(trace, env->traceparent + 3, 32);
        trace[32] = '\0';
        c->trace_id = trace;
    }
}

static json_object *cache_get_json(const struct pipeline *p, const char *key)
{
    if (!p->rc)
        return NULL;
    char *val = NULL;
    size_t len = 0;
    json_object *o = NULL;
    if (rcache_get(p->rc, key, &val, &len) == RC_OK && val) {
        o = json_tokener_parse(val);
    }
    free(val);
    return o;
}

/* A repaired copy of s (utf8.h); *repaired (may be NULL) gets the count. NULL: no memory. */
static char *text_repair_dup(const char *s, long *repaired)
{
    struct utf8_report rep = {0, 0};
    char *t = utf8_sanitize(s, strlen(s), NULL, &rep);
    if (repaired)
        *repaired = (long)(rep.invalid + rep.controls);
    return t;
}

static void cache_put_json(const struct pipeline *p, const char *key, json_object *o, int ttl)
{
    if (!p->rc)
        return;
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    rcache_setex(p->rc, key, s, strlen(s), ttl);
}

int pipeline_producer_new(struct kafka_producer **out, const char *brokers, long message_timeout_ms,
                          char *err, size_t errlen)
{
    char mt[24];
    snprintf(mt, sizeof(mt), "%ld", message_timeout_ms);
    const char *const settings[] = {"message.timeout.ms", mt, NULL};
    return kafka_producer_new_with(out, brokers, message_timeout_ms > 0 ? settings : NULL, err,
                                   errlen);
}

int pipeline_open(struct pipeline *p, const struct config_common *c, int pg_pool,
                  long message_timeout_ms)
{
    char err[512] = "";
    memset(p, 0, sizeof *p);
    if (pgpool_open(&p->db, c->database_url, pg_pool, err, sizeof err) != 0) {
        log_kv(LOG_ERROR, NULL, "database pool failed", "error", err, (char *)NULL);
        return -1;
    }
    if (rcache_open(&p->rc, c->redis_url, err, sizeof err) != 0) {
        log_kv(LOG_ERROR, NULL, "redis failed", "error", err, (char *)NULL);
        return -1;
    }
    if (pipeline_producer_new(&p->producer, c->kafka_brokers, message_timeout_ms, err,
                              sizeof err) != 0) {
        log_kv(LOG_ERROR, NULL, "kafka producer failed", "error", err, (char *)NULL);
        return -1;
    }
    return 0;
}

void pipeline_close(struct pipeline *p)
{
    kafka_producer_free(p->producer);
    rcache_close(p->rc);
    pgpool_close(p->db);
    memset(p, 0, sizeof *p);
}

int pipeline_tenant_agents(const struct pipeline *p, const char *tenant_id, json_object **out,
                           char *err, size_t errlen)
{
    char key[256];
    PGresult *res = NULL;
    json_object *arr = NULL;
    int rc;
    *out = NULL;
    if (rcache_key(key, sizeof(key), tenant_id, "permissions", "agents") < 0) {
        snprintf(err, errlen, "tenant id too long");
        return -EINVAL;
    }
    arr = cache_get_json(p, key);
    if (arr && json_object_is_type(arr, json_type_array)) {
        *out = arr;
        return 0;
    }
    json_object_put(arr);
    arr = NULL;
    const char *params[] = {tenant_id};
    rc = pgpool_exec(p->db, &res,
                     "SELECT a.agent_id::text, a.name, a.description FROM agent_configs a "
                     "JOIN tenant_agent_permissions t ON t.agent_id = a.agent_id "
                     "WHERE t.tenant_id = $1 AND t.enabled = TRUE AND a.is_active = TRUE "
                     "AND (a.owner_tenant_id IS NULL OR a.owner_tenant_id = $1) "
                     "ORDER BY a.name",
                     1, params, err, errlen);
    if (rc != PG_OK)
        goto out;
    rc = -ENOMEM;
    arr = json_object_new_array();
    if (!arr)
        goto out;
    for (int i = 0; i < PQntuples(res); i++) {
        json_object *a = json_object_new_object();
        if (!a)
            goto out;
        json_object_object_add(a, "agent_id", json_object_new_string(PQgetvalue(res, i, 0)));
        json_object_object_add(a, "name", json_object_new_string(PQgetvalue(res, i, 1)));
        json_object_object_add(a, "description", json_object_new_string(PQgetvalue(res, i, 2)));
        json_object_array_add(arr, a);
    }
    cache_put_json(p, key, arr, RC_TTL_PERMISSIONS);
    *out = arr;
    arr = NULL;
    rc = 0;
out:
    PQclear(res);
    json_object_put(arr);
    return rc;
}

int pipeline_agent_config(const struct pipeline *p, const char *tenant_id, const char *agent_id,
                          json_object **out, char *err, size_t errlen)
{
    char key[256];
    PGresult *res = NULL;
    json_object *o = NULL;
    int rc;
    *out = NULL;
    if (rcache_key(key, sizeof(key), tenant_id, "agent", agent_id) < 0) {
        snprintf(err, errlen, "tenant id too long");
        return -EINVAL;
    }
    o = cache_get_json(p, key);
    if (o && json_object_is_type(o, json_type_object)) {
        *out = o;
        return 0;
    }
    json_object_put(o);
    o = NULL;
    /* Another tenant's agent is not found, whatever asked for it. */
    const char *params[] = {agent_id, tenant_id};
    rc = pgpool_exec(p->db, &res,
                     "SELECT a.agent_id::text, a.name, a.description, a.prompt_template, "
                     "a.llm_model_id::text, f.name, f.format_type, f.template "
                     "FROM agent_configs a LEFT JOIN output_formats f "
                     "ON f.format_id = a.output_format_id WHERE a.agent_id = $1 "
                     "AND (a.owner_tenant_id IS NULL OR a.owner_tenant_id = $2)",
                     2, params, err, errlen);
    if (rc != PG_OK)
        goto out;
    if (PQntuples(res) == 0) {
        rc = 1;
        goto out;
    }
    rc = -ENOMEM;
    o = json_object_new_object();
    if (!o)
        goto out;
    json_object_object_add(o, "agent_id", json_object_new_string(PQgetvalue(res, 0, 0)));
    json_object_object_add(o, "name", json_object_new_string(PQgetvalue(res, 0, 1)));
    json_object_object_add(o, "description", json_object_new_string(PQgetvalue(res, 0, 2)));
    json_object_object_add(o, "prompt_template", json_object_new_string(PQgetvalue(res, 0, 3)));
    json_object_object_add(o, "llm_model_id",
                           PQgetisnull(res, 0, 4) ? NULL
                                                  : json_object_new_string(PQgetvalue(res, 0, 4)));
    if (PQgetisnull(res, 0, 5)) {
        json_object_object_add(o, "output_format", NULL);
    } else {
        json_object *f = json_object_new_object();
        json_object_object_add(f, "name", json_object_new_string(PQgetvalue(res, 0, 5)));
        json_object_object_add(f, "format_type", json_object_new_string(PQgetvalue(res, 0, 6)));
        json_object_object_add(
            f, "template",
            PQgetisnull(res, 0, 7) ? NULL : json_object_new_string(PQgetvalue(res, 0, 7)));
        json_object_object_add(o, "output_format", f);
    }
    cache_put_json(p, key, o, RC_TTL_AGENT);
    *out = o;
    o = NULL;
    rc = 0;
out:
    PQclear(res);
    json_object_put(o);
    return rc;
}

int pipeline_job_status(const struct pipeline *p, const struct envelope *env, char *buf, size_t cap)
{
    PGresult *res = NULL;
    char err[256];
    const char *params[] = {env->job_id, env->tenant_id};
    buf[0] = '\0';
    int rc =
        pgpool_exec(p->db, &res, "SELECT status FROM jobs WHERE job_id = $1 AND tenant_id = $2", 2,
                    params, err, sizeof(err));
    if (rc == PG_OK && PQntuples(res) > 0)
        snprintf(buf, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

int pipeline_job_state(const struct pipeline *p, const struct envelope *env, int part, char *status,
                       size_t cap, int *has_answer)
{
    PGresult *res = NULL;
    char err[256], partbuf[16];
    snprintf(partbuf, sizeof(partbuf), "%d", part);
    const char *params[] = {env->job_id, env->tenant_id, partbuf};
    status[0] = '\0';
    *has_answer = 0;
    if (startfacts_job_state(env, part, status, cap, has_answer))
        return PG_OK; /* read with the pass's other jobs (startfacts.h) */
    int rc = pgpool_exec(p->db, &res,
                         "SELECT (SELECT status FROM jobs WHERE job_id = $1 AND tenant_id = $2), "
                         "EXISTS (SELECT 1 FROM messages WHERE tenant_id = $2 AND job_id = $1 "
                         "AND part = $3 AND role = 'assistant')",
                         3, params, err, sizeof(err));
    if (rc == PG_OK && PQntuples(res) > 0) {
        if (!PQgetisnull(res, 0, 0))
            snprintf(status, cap, "%s", PQgetvalue(res, 0, 0));
        *has_answer = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    }
    PQclear(res);
    return rc;
}

int pipeline_job_ensure(const struct pipeline *p, const struct envelope *env)
{
    char err[256];
    const char *params[] = {env->job_id, env->tenant_id, env->session_id, env->user_id,
                            env->message_id[0] ? env->message_id : NULL};
    /* The user message may not exist (a producer other than the ingress): then no link. */
    int rc = pgpool_exec(p->db, NULL,
                         "INSERT INTO jobs (job_id, tenant_id, session_id, user_id, "
                         "user_message_id) VALUES ($1, $2, $3, $4, "
                         "(SELECT message_id FROM messages WHERE message_id = $5::uuid "
                         "AND tenant_id = $2)) ON CONFLICT (job_id) DO NOTHING",
                         5, params, err, sizeof(err));
    return rc;
}

int pipeline_emit(const struct pipeline *p, const struct envelope *env, const char *event,
                  json_object *data)
{
    if (!p->rc)
        return 0;
    json_text_repair(data); /* events are JSON: valid text only */
    int rc = jobevents_emit(p->rc, p->producer, env, event, data, NULL, 0);
    if (rc != 0) {
        struct log_ctx c;
        char trace[33];
        ctx_of(env, &c, trace);
        log_kv(LOG_WARN, &c, "job event not written", "event", event, "error", rc_status_str(rc),
               (char *)NULL);
    }
    return rc;
}

int pipeline_has_assistant(const struct pipeline *p, const struct envelope *env, int part)
{
    PGresult *res = NULL;
    char err[256], partbuf[16];
    snprintf(partbuf, sizeof(partbuf), "%d", part);
    const char *params[] = {env->tenant_id, env->job_id, partbuf};
    int rc = pgpool_exec(p->db, &res,
                         "SELECT 1 FROM messages WHERE tenant_id = $1 AND job_id = $2 "
                         "AND part = $3 AND role = 'assistant'",
                         3, params, err, sizeof(err));
    if (rc == PG_OK)
        rc = PQntuples(res) > 0;
    PQclear(res);
    return rc;
}

int pipeline_save_assistant(const struct pipeline *p, const struct envelope *env, int part,
                            const char *content, json_object *metadata, const char *agent_id,
                            char msg_id[37], char *err, size_t errlen)
{
    PGresult *res = NULL;
    char partbuf[16];
    int rc;
    msg_id[0] = '\0';
    snprintf(partbuf, sizeof(partbuf), "%d", part);
    /* Stored text is valid text (utf8.h, json_text.h): what a model or a tool sent is repaired
     * here, the last stop before PostgreSQL, and the repair is recorded in the metadata. */
    long repaired = 0;
    char *clean = content ? text_repair_dup(content, &repaired) : NULL;
    if (content && !clean) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return PG_ERR_QUERY;
    }
    if (metadata) {
        long n = json_text_repair(metadata);
        repaired += n > 0 ? n : 0;
        json_object *prev;
        if (repaired > 0 && json_object_object_get_ex(metadata, "text_repaired", &prev))
            repaired += json_object_get_int64(prev); /* what the caller repaired before */
        if (repaired > 0)
            json_object_object_add(metadata, "text_repaired", json_object_new_int64(repaired));
    }
    const char *meta =
        metadata ? json_object_to_json_string_ext(metadata, JSON_C_TO_STRING_PLAIN) : "{}";
    const char *params[] = {env->session_id, env->tenant_id, clean,   meta,
                            env->job_id,     partbuf,        agent_id};
    /* One round trip: the message (unless this part has one) and the session's bookkeeping. */
    rc = pgpool_exec(p->db, &res,
                     "WITH ins AS (INSERT INTO messages (session_id, tenant_id, role, content, "
                     "metadata, job_id, part) VALUES ($1, $2, 'assistant', $3, $4::jsonb, $5, $6) "
                     "ON CONFLICT (tenant_id, job_id, part) DO NOTHING RETURNING message_id), "
                     "ses AS (UPDATE sessions SET last_message_at = now(), updated_at = now(), "
                     "agent_id = COALESCE($7::uuid, agent_id) WHERE tenant_id = $2 "
                     "AND session_id = $1 RETURNING 1) "
                     "SELECT message_id::text, TRUE FROM ins UNION ALL "
                     "SELECT message_id::text, FALSE FROM messages WHERE tenant_id = $2 "
                     "AND job_id = $5 AND part = $6 AND NOT EXISTS (SELECT 1 FROM ins)",
                     7, params, err, errlen);
    if (rc != PG_OK)
        goto out;
    if (PQntuples(res) > 0) {
        snprintf(msg_id, 37, "%s", PQgetvalue(res, 0, 0));
        rc = strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? 1 : 0;
    } else {
        rc = 0;
    }
out:
    PQclear(res);
    free(clean);
    return rc;
}

int pipeline_job_complete(const struct pipeline *p, const struct envelope *env,
                          const char *response, json_object *metadata, const char *agent,
                          const char *message_id)
{
    PGresult *res = NULL;
    char err[256];
    char *clean = response ? text_repair_dup(response, NULL) : NULL;
    if (response && !clean)
        return PG_ERR_QUERY;
    const char *meta = metadata ? json_text_clean_string(metadata, NULL) : "{}";
    const char *params[] = {env->job_id, env->tenant_id,
                            clean,       meta,
                            agent,       message_id && message_id[0] ? message_id : NULL};
    int rc = pgpool_exec(p->db, &res,
                         "UPDATE jobs SET status = 'done', response = $3, metadata = $4::jsonb, "
                         "agent = COALESCE($5, agent), assistant_message_id = $6::uuid, "
                         "parts_done = parts_total, updated_at = now() "
                         "WHERE job_id = $1 AND tenant_id = $2 AND status NOT IN ('done', 'error') "
                         "RETURNING job_id",
                         6, params, err, sizeof(err));
    struct log_ctx c;
    char trace[33];
    ctx_of(env, &c, trace);
    if (rc != PG_OK) {
        log_kv(LOG_ERROR, &c, "job completion not saved", "error", err, (char *)NULL);
        goto out;
    }
    if (PQntuples(res) == 0) {
        rc = 0; /* already terminal (a redelivery, or another part finished it) */
        goto out;
    }
    json_object *data = json_object_new_object();
    json_object_object_add(data, "response", json_object_new_string(clean ? clean : ""));
    json_object_object_add(data, "agent", agent ? json_object_new_string(agent) : NULL);
    json_object_object_add(data, "metadata",
                           metadata ? json_object_get(metadata) : json_object_new_object());
    json_object_object_add(data, "message_id",
                           message_id && message_id[0] ? json_object_new_string(message_id) : NULL);
    json_object_object_add(data, "session_id", json_object_new_string(env->session_id));
    pipeline_emit(p, env, "final", data);
    json_object_put(data);
    log_kv(LOG_INFO, &c, "job done", "agent", agent ? agent : "", (char *)NULL);
    rc = 1;
out:
    PQclear(res);
    free(clean);
    return rc;
}

int pipeline_job_fail(const struct pipeline *p, const struct envelope *env, const char *code,
                      const char *message)
{
    PGresult *res = NULL;
    char err[256];
    char msg[512];
    utf8_copy_valid(msg, sizeof(msg), message ? message : ""); /* cut between characters */
    log_redact(msg, sizeof(msg));
    json_object *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_string(code));
    json_object_object_add(e, "message", json_object_new_string(msg));
    const char *params[] = {env->job_id, env->tenant_id, json_text_clean_string(e, NULL)};
    int rc = pgpool_exec(p->db, &res,
                         "UPDATE jobs SET status = 'error', error = $3::jsonb, updated_at = now() "
                         "WHERE job_id = $1 AND tenant_id = $2 AND status NOT IN ('done', 'error') "
                         "RETURNING job_id",
                         3, params, err, sizeof(err));
    struct log_ctx c;
    char trace[33];
    ctx_of(env, &c, trace);
    int emit = 0;
    if (rc != PG_OK) {
        /* The database is down: the client must still hear about it. */
        log_kv(LOG_ERROR, &c, "job error not saved", "error", err, (char *)NULL);
        emit = 1;
    } else if (PQntuples(res) > 0) {
        emit = 1;
    }
    if (emit) {
        pipeline_emit(p, env, "error", e);
        log_kv(LOG_WARN, &c, "job failed", "code", code, "message", msg, (char *)NULL);
        rc = 1;
    } else {
        rc = 0;
    }
    PQclear(res);
    json_object_put(e);
    return rc;
}

void pipeline_thread_id(const struct envelope *env, char *buf, size_t cap)
{
    snprintf(buf, cap, "tenant_%s__user_%s__session_%s", env->tenant_id, env->user_id,
             env->session_id);
}

int pipeline_checkpoint(const struct pipeline *p, const struct envelope *env, int part,
                        json_object *state)
{
    char thread[300], cid[64], err[256];
    pipeline_thread_id(env, thread, sizeof(thread));
    snprintf(cid, sizeof(cid), "%s:%d", env->job_id, part);
    const char *params[] = {thread, cid, env->tenant_id, json_text_clean_string(state, NULL)};
    int rc = pgpool_exec(p->db, NULL,
                         "INSERT INTO checkpoints (thread_id, checkpoint_id, tenant_id, "
                         "parent_checkpoint_id, state) VALUES ($1, $2, $3, "
                         "(SELECT checkpoint_id FROM checkpoints WHERE thread_id = $1 "
                         "ORDER BY created_at DESC LIMIT 1), $4::jsonb) "
                         "ON CONFLICT (thread_id, checkpoint_id) DO NOTHING",
                         4, params, err, sizeof(err));
    if (rc != PG_OK) {
        struct log_ctx c;
        char trace[33];
        ctx_of(env, &c, trace);
        log_kv(LOG_WARN, &c, "checkpoint not saved", "error", err, (char *)NULL);
    }
    return rc;
}

int pipeline_tenant_active(const struct pipeline *p, const char *tenant_id)
{
    char key[160];
    int active;
    snprintf(key, sizeof key, "pg:tenant_active:%s", tenant_id);
    if (passmemo_get(key, &active, NULL, NULL))
        return active;
    PGresult *res = NULL;
    char err[256];
    const char *params[] = {tenant_id};
    int rc = pgpool_exec(p->db, &res, "SELECT is_active FROM tenants WHERE tenant_id = $1", 1,
                         params, err, sizeof(err));
    if (rc != PG_OK)
        return rc;
    rc = PQntuples(res) > 0 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    passmemo_put(key, rc, NULL, 0);
    return rc;
}

int pipeline_refuse_inactive(const struct pipeline *p, const struct envelope *env)
{
    if (pipeline_tenant_active(p, env->tenant_id) != 0)
        return 0;
    pipeline_job_fail(p, env, "tenant_inactive", "this tenant is inactive");
    return 1;
}

const char *pipeline_storage_error(int pg_status, int *transient)
{
    int t = 0;
    const char *code;
    switch (pg_status) {
    case PG_ERR_UNAVAILABLE:
    case PG_ERR_TIMEOUT:
        code = "storage_unavailable";
        t = 1;
        break;
    case PG_ERR_INVALID:
    case PG_ERR_CONFLICT:
    case PG_ERR_FOREIGN_KEY:
        code = "invalid_data";
        break;
    default:
        code = "storage_error";
        break;
    }
    if (transient)
        *transient = t;
    return code;
}
