/* job.c — one routed job of the agent stage, as a state machine on the loop thread.
 *
 *   start: idempotency (job terminal / assistant message for (job, part) exists -> skip),
 *          the tenant's permission for the agent, agent config, tools (tenant-permitted,
 *          by priority, at most 5), tenant LLM, session history, the user's JWT (Fernet)
 *   llm:   streamed chat call with the tools; deltas -> `delta` events
 *   tools: each tool call of a round -> `tool_call`, tool_invoke (arguments validated against
 *          the tool's JSON Schema first), `tool_result`; when the round is complete, back to llm
 *          (at most max_tool_iterations rounds); a call the model got wrong (no name, a tool
 *          not offered, arguments no JSON object or failing the schema) is not run: the model
 *          gets the error as the tool's result (reply.h)
 *   final: the fallback text for an empty answer, one cut at the token limit, or tool calls
 *          with no round left (reply.h); format, metadata, assistant message (unique per
 *          job and part), session, checkpoint, jobs row, `final` (MULTI_INTENT: when every
 *          part is done, the joined answer)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent.h"
#include "attachments.h"
#include "fernet.h"
#include "format.h"
#include "history.h"
#include "jobevents.h"
#include "json_field.h"
#include "json_number.h"
#include "json_text.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "session_order.h"
#include "startfacts.h"
#include "tool.h"
#include "usage.h"

struct ajob;

struct tcall {
    struct ajob *j;
    size_t k;
    long long started_ms; /* for tool_call_seconds */
};

struct ajob {
    struct agent_svc *svc;
    struct stage_job *job;
    const struct envelope *env;
    int part, nparts;
    char *message;
    char language[8];
    char intent[64];
    char agent_name[101];
    char agent_id[37];
    char format_type[16];
    json_object *agent_cfg;
    struct tool_def *tools;
    size_t ntools;
    struct llm_tool_def *tdefs;
    struct llm_config cfg;
    int have_cfg;
    struct tool_ctx tctx;
    char *user_jwt;
    struct llm_message *msgs;
    size_t nmsgs, capmsgs;
    int iterations;
    int llm_seq; /* accounting: the next call's number in this part (usage.h) */
    int history_count;
    /* the current round of tool calls */
    struct llm_tool_call *round;
    size_t nround;
    char **round_results;
    size_t pending;
    int dispatching;
    json_object *tool_calls_meta;
    json_object *entities;
    json_object *citations;
    json_object *last_data;
    int tool_failed;
    char failed_tool[65];
    int invalid_calls;  /* tool calls of the model that were not run (reply.h) */
    long text_repaired; /* characters of the model's answers replaced (utf8.h) */
    /* A save that failed for a transient reason (storage_unavailable) is tried again: */
    char *save_content; /* finalize's content, kept for the retry */
    int save_attempts;
    long save_timer;   /* > 0 while a retry is scheduled */
    long order_wait;   /* > 0 while waiting for the session's earlier jobs (session_order.h) */
    int order_timeout; /* went on without them after SESSION_ORDER_WAIT_MS */
    enum reply_fallback fallback; /* what the final answer is (reply.h) */
    char finish_reason[24];       /* of the last LLM answer */
    long in_tokens, out_tokens;
    char *model;
    long long t0;
    /* Streamed text not yet emitted: the deltas one read of the stream brought are coalesced
     * into one `delta` event, flushed in the same loop pass (no delay) and before any other
     * event of the job. Every job with text waiting is on one list; one 0 ms timer writes all
     * of their `delta` events in a single Redis pipeline (one round trip per loop pass, not one
     * per job and token). */
    char *dbuf;
    size_t dlen, dcap;
    struct ajob *dprev, *dnext; /* on the pending list */
    int dqueued;
};

/* The jobs with coalesced text waiting, and the timer that flushes them all. */
static struct ajob *delta_head;
static long delta_timer_id;
static struct httploop *delta_loop;

int agent_closing; /* set by main after stage_run returned: callbacks only release jobs */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logctx(const struct envelope *env, struct log_ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->tenant_id = env->tenant_id;
    c->job_id = env->job_id;
}

static json_object *payload_history(const struct envelope *env);

/* A job that carries its own history reads none of its session's. */
static int wants_session_history(const struct envelope *env)
{
    return payload_history(env) == NULL;
}

void agent_jobs_prefetch(void *opaque, const struct envelope *const *envs, size_t n)
{
    struct agent_svc *svc = opaque;
    int rc = startfacts_load(svc->pl.db, envs, n, svc->order != NULL, svc->history_messages,
                             wants_session_history);
    if (rc < 0)
        log_kv(LOG_WARN, NULL, "the pass's job facts were not read; each job asks", "error",
               pg_status_str(rc), (char *)NULL);
}

int agent_job_validate(void *opaque, const struct envelope *env, char *err, size_t errlen)
{
    (void)opaque;
    if (strcmp(env->type, "chat.routed") != 0) {
        snprintf(err, errlen, "unexpected envelope type '%s' on an agent topic", env->type);
        return -1;
    }
    const char *m = json_field_str(env->payload, "message");
    const char *a = json_field_str(env->payload, "agent");
    if (!m || !*m || !a || !*a) {
        snprintf(err, errlen, "chat.routed payload needs message and agent");
        return -1;
    }
    json_object *part;
    if (json_object_object_get_ex(env->payload, "part", &part) && part) {
        json_object *ix = NULL, *ct = NULL;
        json_object_object_get_ex(part, "index", &ix);
        json_object_object_get_ex(part, "count", &ct);
        int i = ix ? json_object_get_int(ix) : 0, n = ct ? json_object_get_int(ct) : 1;
        if (n < 1 || n > 16 || i < 0 || i >= n) {
            snprintf(err, errlen, "chat.routed part %d of %d is out of range", i, n);
            return -1;
        }
    }
    return 0;
}

/* ---- memory -------------------------------------------------------------------------------- */

static void calls_free(struct llm_tool_call *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++) {
        free(c[i].id);
        free(c[i].name);
        free(c[i].arguments);
    }
    free(c);
}

static struct llm_tool_call *calls_dup(const struct llm_tool_call *c, size_t n)
{
    struct llm_tool_call *d = calloc(n ? n : 1, sizeof(*d));
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        d[i].id = strdup(c[i].id ? c[i].id : "");
        d[i].name = strdup(c[i].name ? c[i].name : "");
        d[i].arguments = strdup(c[i].arguments ? c[i].arguments : "{}");
        if (!d[i].id || !d[i].name || !d[i].arguments) {
            calls_free(d, n);
            return NULL;
        }
    }
    return d;
}

static void round_clear(struct ajob *j)
{
    for (size_t i = 0; j->round_results && i < j->nround; i++)
        free(j->round_results[i]);
    free(j->round_results);
    calls_free(j->round, j->nround);
    j->round = NULL;
    j->round_results = NULL;
    j->nround = 0;
}

static void delta_unqueue(struct ajob *j);

static void ajob_free(struct ajob *j)
{
    if (!j)
        return;
    round_clear(j);
    for (size_t i = 0; i < j->nmsgs; i++) {
        free(j->msgs[i].content);
        calls_free(j->msgs[i].tool_calls, j->msgs[i].ntool_calls);
        free(j->msgs[i].tool_call_id);
        free(j->msgs[i].name);
    }
    free(j->msgs);
    free(j->message);
    json_object_put(j->agent_cfg);
    tool_defs_free(j->tools, j->ntools);
    free(j->tdefs);
    if (j->have_cfg)
        llm_config_cleanup(&j->cfg);
    if (j->user_jwt) {
        memset(j->user_jwt, 0, strlen(j->user_jwt));
        free(j->user_jwt);
    }
    json_object_put(j->tool_calls_meta);
    json_object_put(j->entities);
    json_object_put(j->citations);
    json_object_put(j->last_data);
    free(j->model);
    delta_unqueue(j);
    if (j->save_timer > 0)
        httploop_timer_cancel(j->svc->loop, j->save_timer);
    if (j->order_wait > 0)
        session_order_cancel(j->svc->order, j->order_wait);
    free(j->save_content);
    free(j->dbuf);
    free(j);
}

static void release(struct ajob *j)
{
    struct stage_job *sj = j->job;
    ajob_free(j);
    stage_job_done(sj);
}

static void fail(struct ajob *j, const char *code, const char *message)
{
    pipeline_job_fail(&j->svc->pl, j->env, code, message);
    release(j);
}

/* Appends a message; strings are copied. Returns 0 or -ENOMEM. */
static int msg_push(struct ajob *j, enum llm_role role, const char *content,
                    const struct llm_tool_call *calls, size_t ncalls, const char *tool_call_id,
                    const char *name)
{
    if (j->nmsgs == j->capmsgs) {
        size_t nc = j->capmsgs ? j->capmsgs * 2 : 16;
        struct llm_message *nm = realloc(j->msgs, nc * sizeof(*nm));
        if (!nm)
            return -ENOMEM;
        j->msgs = nm;
        j->capmsgs = nc;
    }
    struct llm_message *m = &j->msgs[j->nmsgs];
    memset(m, 0, sizeof(*m));
    m->role = role;
    if (content && !(m->content = strdup(content)))
        return -ENOMEM;
    if (ncalls) {
        if (!(m->tool_calls = calls_dup(calls, ncalls))) {
            free(m->content);
            return -ENOMEM;
        }
        m->ntool_calls = ncalls;
    }
    if (tool_call_id)
        m->tool_call_id = strdup(tool_call_id);
    if (name)
        m->name = strdup(name);
    j->nmsgs++;
    return 0;
}

/* ---- events -------------------------------------------------------------------------------- */

static void add_part(struct ajob *j, json_object *o)
{
    if (j->nparts > 1)
        json_object_object_add(o, "part", json_object_new_int(j->part));
}

static void emit_delta(struct ajob *j, const char *text, size_t len)
{
    json_object *d = json_object_new_object();
    json_object_object_add(d, "text", json_object_new_string_len(text, (int)len));
    json_object_object_add(d, "agent", json_object_new_string(j->agent_name));
    add_part(j, d);
    pipeline_emit(&j->svc->pl, j->env, "delta", d);
    json_object_put(d);
}

static void delta_unqueue(struct ajob *j)
{
    if (!j->dqueued)
        return;
    if (j->dprev)
        j->dprev->dnext = j->dnext;
    else
        delta_head = j->dnext;
    if (j->dnext)
        j->dnext->dprev = j->dprev;
    j->dprev = j->dnext = NULL;
    j->dqueued = 0;
    if (!delta_head && delta_timer_id > 0) {
        httploop_timer_cancel(delta_loop, delta_timer_id);
        delta_timer_id = 0;
    }
}

/* Emits the coalesced text, if any. Called before every other event of the job. */
static void delta_flush(struct ajob *j)
{
    delta_unqueue(j);
    if (j->dlen == 0 || agent_closing) {
        j->dlen = 0;
        return;
    }
    size_t n = j->dlen;
    j->dlen = 0;
    emit_delta(j, j->dbuf, n);
}

/* The delta event of j's coalesced text (caller json_object_put). */
static json_object *delta_data(struct ajob *j)
{
    json_object *d = json_object_new_object();
    json_object_object_add(d, "text", json_object_new_string_len(j->dbuf, (int)j->dlen));
    json_object_object_add(d, "agent", json_object_new_string(j->agent_name));
    add_part(j, d);
    json_text_repair(d); /* events are JSON: valid text only */
    return d;
}

#define DELTA_BATCH 256

/* Writes every waiting job's text, DELTA_BATCH jobs per pipeline. Each job is on the list at
 * most once and leaves it before its text is written, so a job's events keep their order. */
static void delta_timer(void *opaque)
{
    (void)opaque;
    delta_timer_id = 0;
    while (delta_head) {
        struct ajob *js[DELTA_BATCH];
        const struct envelope *envs[DELTA_BATCH];
        json_object *data[DELTA_BATCH];
        int status[DELTA_BATCH], n = 0;
        while (delta_head && n < DELTA_BATCH) {
            struct ajob *j = delta_head;
            delta_unqueue(j);
            if (j->dlen == 0 || agent_closing) {
                j->dlen = 0;
                continue;
            }
            js[n] = j;
            envs[n] = j->env;
            data[n] = delta_data(j);
            j->dlen = 0;
            n++;
        }
        if (n == 0)
            break;
        struct pipeline *pl = &js[0]->svc->pl;
        if (pl->rc)
            jobevents_emit_many(pl->rc, envs, "delta", data, n, status);
        for (int i = 0; i < n; i++) {
            if (pl->rc && status[i] != RC_OK) {
                struct log_ctx c;
                logctx(js[i]->env, &c);
                log_kv(LOG_WARN, &c, "job event not written", "event", "delta", "error",
                       rc_status_str(status[i]), (char *)NULL);
            }
            json_object_put(data[i]);
        }
    }
}

static void on_delta(void *opaque, const char *text, size_t len)
{
    struct ajob *j = opaque;
    if (agent_closing || !len)
        return;
    if (j->dlen + len > j->dcap) {
        size_t nc = j->dcap ? j->dcap : 256;
        while (nc < j->dlen + len)
            nc *= 2;
        char *nb = realloc(j->dbuf, nc);
        if (!nb) {
            delta_flush(j);
            emit_delta(j, text, len);
            return;
        }
        j->dbuf = nb;
        j->dcap = nc;
    }
    memcpy(j->dbuf + j->dlen, text, len);
    j->dlen += len;
    if (j->dqueued)
        return;
    if (delta_timer_id <= 0) {
        long id = httploop_timer(j->svc->loop, 0, delta_timer, NULL);
        if (id <= 0) {
            delta_flush(j); /* no timer: emit now */
            return;
        }
        delta_timer_id = id;
        delta_loop = j->svc->loop;
    }
    j->dnext = delta_head;
    j->dprev = NULL;
    if (delta_head)
        delta_head->dprev = j;
    delta_head = j;
    j->dqueued = 1;
}

/* ---- the final answer ---------------------------------------------------------------------- */

static int mentions_unavailable(const char *s)
{
    static const char *words[] = {"unavailable", "not available", "không khả dụng", "tạm thời",
                                  "could not",   "couldn't",      "unable"};
    for (size_t i = 0; s && i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(s, words[i]))
            return 1;
    return 0;
}

static void complete_multi(struct ajob *j)
{
    struct agent_svc *svc = j->svc;
    PGresult *res = NULL;
    char err[256];
    const char *params[] = {j->env->tenant_id, j->env->job_id};
    if (pgpool_exec(svc->pl.db, &res,
                    "SELECT content, metadata::text FROM messages WHERE tenant_id = $1 "
                    "AND job_id = $2 AND role = 'assistant' ORDER BY part",
                    2, params, err, sizeof(err)) != PG_OK) {
        PQclear(res);
        return;
    }
    int n = PQntuples(res);
    char nbuf[16];
    snprintf(nbuf, sizeof(nbuf), "%d", n);
    const char *up[] = {j->env->job_id, j->env->tenant_id, nbuf};
    pgpool_exec(svc->pl.db, NULL,
                "UPDATE jobs SET parts_done = LEAST($3::int, parts_total), updated_at = now() "
                "WHERE job_id = $1 AND tenant_id = $2 AND status NOT IN ('done', 'error')",
                3, up, err, sizeof(err));
    if (n >= j->nparts) {
        size_t total = 1;
        for (int i = 0; i < n; i++)
            total += strlen(PQgetvalue(res, i, 0)) + 2;
        char *joined = calloc(1, total);
        size_t jl = 0;
        json_object *meta = json_object_new_object();
        json_object *parts = json_object_new_array();
        char agents[600] = "";
        for (int i = 0; joined && i < n; i++) {
            const char *c = PQgetvalue(res, i, 0);
            size_t cl = strlen(c);
            if (i) {
                memcpy(joined + jl, "\n\n", 2);
                jl += 2;
            }
            memcpy(joined + jl, c, cl);
            jl += cl;
            joined[jl] = '\0';
            json_object *pm = json_tokener_parse(PQgetvalue(res, i, 1));
            const char *an = json_field_str(pm, "agent");
            if (an) {
                if (agents[0])
                    strncat(agents, ",", sizeof(agents) - strlen(agents) - 1);
                strncat(agents, an, sizeof(agents) - strlen(agents) - 1);
            }
            json_object_array_add(parts, pm ? pm : json_object_new_object());
        }
        json_object_object_add(meta, "agent", json_object_new_string(agents));
        json_object_object_add(meta, "intent", json_object_new_string("multi_intent"));
        json_object_object_add(meta, "language", json_object_new_string(j->language));
        json_object_object_add(meta, "parts", parts);
        if (joined)
            pipeline_job_complete(&svc->pl, j->env, joined, meta, agents, NULL);
        free(joined);
        json_object_put(meta);
    }
    PQclear(res);
}

/* Ends a single-part job whose answer was saved by an earlier delivery (no-op when the job is
 * already terminal). */
static void complete_from_saved(struct ajob *j)
{
    PGresult *res = NULL;
    char err[256], partbuf[16];
    snprintf(partbuf, sizeof(partbuf), "%d", j->part);
    const char *params[] = {j->env->tenant_id, j->env->job_id, partbuf};
    if (pgpool_exec(j->svc->pl.db, &res,
                    "SELECT message_id::text, content, metadata::text FROM messages "
                    "WHERE tenant_id = $1 AND job_id = $2 AND part = $3 AND role = 'assistant'",
                    3, params, err, sizeof(err)) == PG_OK &&
        PQntuples(res) > 0) {
        json_object *meta = json_tokener_parse(PQgetvalue(res, 0, 2));
        const char *agent = json_field_str(meta, "agent");
        pipeline_job_complete(&j->svc->pl, j->env, PQgetvalue(res, 0, 1), meta,
                              agent ? agent : j->agent_name, PQgetvalue(res, 0, 0));
        json_object_put(meta);
    }
    PQclear(res);
}

/* Tries to save an answer this many times (3 retries, 0.2 s, 0.8 s and 3.2 s apart) when the
 * database is unreachable; a refused answer (a data error) is not retried. */
#define AGENT_SAVE_ATTEMPTS 4

static void finalize(struct ajob *j, const char *content);

static void save_retry(void *opaque)
{
    struct ajob *j = opaque;
    char *content = j->save_content;
    j->save_timer = 0;
    j->save_content = NULL;
    finalize(j, content);
    free(content);
}

static void finalize(struct ajob *j, const char *content)
{
    struct agent_svc *svc = j->svc;
    char err[256] = "", msg_id[37] = "";
    char *text = NULL, *formatted = NULL;
    const char *given = content; /* what a retry starts from */
    if (!content || !*content)
        content = strcmp(j->language, "vi") == 0 ? "Xin lỗi, tôi không có câu trả lời."
                                                 : "Sorry, I have no answer to that.";
    if (j->tool_failed && !mentions_unavailable(content)) {
        /* The user must learn that a service was down, whatever the model wrote. */
        const char *note =
            strcmp(j->language, "vi") == 0
                ? "\n\n(Lưu ý: dịch vụ %s hiện không khả dụng, vui lòng thử lại sau.)"
                : "\n\n(Note: the %s service is currently unavailable; please "
                  "try again later.)";
        size_t n = strlen(content) + strlen(note) + strlen(j->failed_tool) + 1;
        text = malloc(n);
        if (text) {
            memcpy(text, content, strlen(content) + 1);
            snprintf(text + strlen(content), n - strlen(content), note, j->failed_tool);
            content = text;
        }
    }
    formatted = format_output(j->format_type, content, j->last_data);
    if (!formatted) {
        free(text);
        fail(j, "internal", "out of memory");
        return;
    }
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "agent", json_object_new_string(j->agent_name));
    json_object_object_add(meta, "intent", json_object_new_string(j->intent));
    json_object_object_add(meta, "tool_calls", json_object_get(j->tool_calls_meta));
    json_object_object_add(meta, "extracted_entities", json_object_get(j->entities));
    json_object_object_add(
        meta, "llm_model",
        json_object_new_string(j->model ? j->model : (j->cfg.model ? j->cfg.model : "")));
    json_object *tok = json_object_new_object();
    json_object_object_add(tok, "input", json_object_new_int64(j->in_tokens));
    json_object_object_add(tok, "output", json_object_new_int64(j->out_tokens));
    json_object_object_add(meta, "tokens", tok);
    /* The cost of this part's answering calls at the price table (usage.h); the router's
     * intent call and RAG embeddings are in the usage API, per call. */
    json_object_object_add(
        meta, "cost_usd",
        json_decimal(usage_cost_of(j->model ? j->model : (j->cfg.model ? j->cfg.model : ""),
                                   j->in_tokens, j->out_tokens),
                     8));
    json_object_object_add(meta, "language", json_object_new_string(j->language));
    json_object_object_add(meta, "latency_ms", json_object_new_int64(now_ms() - j->t0));
    json_object_object_add(meta, "citations", json_object_get(j->citations));
    json_object *att;
    if (json_object_object_get_ex(j->env->payload, "attachments", &att) &&
        json_object_is_type(att, json_type_array) && json_object_array_length(att) > 0)
        json_object_object_add(meta, "attachments", json_object_get(att));
    json_object_object_add(meta, "output_format", json_object_new_string(j->format_type));
    json_object_object_add(meta, "history_messages", json_object_new_int(j->history_count));
    if (j->finish_reason[0])
        json_object_object_add(meta, "finish_reason", json_object_new_string(j->finish_reason));
    if (j->fallback != REPLY_ANSWER)
        json_object_object_add(meta, "fallback",
                               json_object_new_string(reply_fallback_name(j->fallback)));
    if (j->invalid_calls)
        json_object_object_add(meta, "invalid_tool_calls", json_object_new_int(j->invalid_calls));
    if (j->order_timeout)
        json_object_object_add(meta, "session_order", json_object_new_string("timeout"));
    if (j->text_repaired) /* pipeline_save_assistant adds what it repairs itself */
        json_object_object_add(meta, "text_repaired", json_object_new_int64(j->text_repaired));
    if (j->nparts > 1) {
        json_object_object_add(meta, "part", json_object_new_int(j->part));
        json_object_object_add(meta, "parts", json_object_new_int(j->nparts));
    }
    int rc = pipeline_save_assistant(&svc->pl, j->env, j->part, formatted, meta, j->agent_id,
                                     msg_id, err, sizeof(err));
    if (rc < 0) {
        int transient = 0;
        const char *code = pipeline_storage_error(rc, &transient);
        json_object_put(meta);
        free(formatted);
        free(text);
        struct log_ctx c;
        logctx(j->env, &c);
        if (transient && agent_closing) {
            release(j); /* shutting down: not finished, not committed; it is redelivered */
            return;
        }
        if (transient && ++j->save_attempts < AGENT_SAVE_ATTEMPTS &&
            (j->save_content = strdup(given ? given : "")) != NULL) {
            long delay_ms = 200L << (2 * (j->save_attempts - 1));
            j->save_timer = httploop_timer(svc->loop, delay_ms, save_retry, j);
            if (j->save_timer > 0) {
                log_kv(LOG_WARN, &c, "answer not saved; retrying", "error", err, (char *)NULL);
                return;
            }
        }
        char msg[400];
        snprintf(msg, sizeof msg, "the answer could not be saved: %s", err);
        fail(j, code, msg);
        return;
    }
    /* Usage: every call was recorded as it finished (usage.h). */
    json_object *state = json_object_new_object();
    json_object *sm = json_object_new_array();
    json_object *um = json_object_new_object();
    json_object_object_add(um, "role", json_object_new_string("user"));
    json_object_object_add(um, "content", json_object_new_string(j->message));
    json_object_array_add(sm, um);
    json_object *am = json_object_new_object();
    json_object_object_add(am, "role", json_object_new_string("assistant"));
    json_object_object_add(am, "content", json_object_new_string(formatted));
    json_object_array_add(sm, am);
    json_object_object_add(state, "messages", sm);
    json_object_object_add(state, "agent", json_object_new_string(j->agent_name));
    json_object_object_add(state, "language", json_object_new_string(j->language));
    json_object_object_add(state, "job_id", json_object_new_string(j->env->job_id));
    json_object_object_add(state, "message_id", json_object_new_string(msg_id));
    pipeline_checkpoint(&svc->pl, j->env, j->part, state);
    json_object_put(state);
    if (j->nparts <= 1)
        pipeline_job_complete(&svc->pl, j->env, formatted, meta, j->agent_name, msg_id);
    else
        complete_multi(j);
    json_object_put(meta);
    free(formatted);
    free(text);
    release(j);
}

/* ---- LLM and tool rounds ------------------------------------------------------------------- */

static void on_llm_done(void *opaque, const struct llm_response *resp,
                        const struct llm_error *lerr);

/* Accounting tag of the next provider call of this part: calls are numbered in the order the
 * job makes them, which a redelivered job repeats, so its calls get the same keys. */
static void tag_call(struct ajob *j, const char *purpose)
{
    struct llm_usage_tag *t = &j->cfg.usage;
    snprintf(t->job_id, sizeof(t->job_id), "%s", j->env->job_id);
    t->part = j->part;
    t->seq = j->llm_seq++;
    snprintf(t->purpose, sizeof(t->purpose), "%s", purpose);
    snprintf(t->agent, sizeof(t->agent), "%s", j->agent_name);
}

static void call_llm(struct ajob *j)
{
    int last = j->iterations >= j->svc->max_tool_iterations;
    tag_call(j, "agent");
    struct llm_request req = {
        .messages = j->msgs,
        .nmessages = j->nmsgs,
        /* The last allowed round offers no tools: the model must answer with what it has. */
        .tools = last ? NULL : j->tdefs,
        .ntools = last ? 0 : j->ntools,
        .stream = 1,
        .temperature = -1,
    };
    if (llm_chat_start(j->svc->llm, &j->cfg, &req, on_delta, on_llm_done, j) < 0)
        fail(j, "llm_error", "the LLM call could not be started");
}

static const struct tool_def *find_tool(struct ajob *j, const char *name)
{
    for (size_t i = 0; name && i < j->ntools; i++)
        if (strcmp(j->tools[i].name, name) == 0)
            return &j->tools[i];
    return NULL;
}

static void round_done(struct ajob *j)
{
    for (size_t k = 0; k < j->nround; k++) {
        if (msg_push(j, LLM_ROLE_TOOL, j->round_results[k] ? j->round_results[k] : "{}", NULL, 0,
                     j->round[k].id, j->round[k].name) < 0) {
            fail(j, "internal", "out of memory");
            return;
        }
    }
    round_clear(j);
    call_llm(j);
}

/* Citations from a RAG result: whatever hit list it holds, each hit's id, source and score. */
static void add_citations(struct ajob *j, const struct tool_def *t, json_object *result)
{
    if (!t->base_type || strcmp(t->base_type, "RAG") != 0 || !result)
        return;
    static const char *lists[] = {"results", "hits", "chunks", "documents", "matches"};
    json_object *arr = NULL;
    if (json_object_is_type(result, json_type_array))
        arr = result;
    for (size_t i = 0; !arr && i < sizeof(lists) / sizeof(lists[0]); i++) {
        json_object *v;
        if (json_object_object_get_ex(result, lists[i], &v) &&
            json_object_is_type(v, json_type_array))
            arr = v;
    }
    size_t n = arr ? json_object_array_length(arr) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *h = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(h, json_type_object))
            continue;
        json_object *md = NULL;
        json_object_object_get_ex(h, "metadata", &md);
        json_object *c = json_object_new_object();
        const char *id = json_field_str(h, "id");
        const char *src = json_field_str(h, "source");
        if (!src)
            src = json_field_str(md, "source");
        const char *title = json_field_str(h, "title");
        if (!title)
            title = json_field_str(md, "title");
        json_object *v;
        json_object_object_add(c, "tool", json_object_new_string(t->name));
        if (id)
            json_object_object_add(c, "id", json_object_new_string(id));
        if (src)
            json_object_object_add(c, "source", json_object_new_string(src));
        if (title)
            json_object_object_add(c, "title", json_object_new_string(title));
        if ((md && json_object_object_get_ex(md, "chunk", &v)) ||
            json_object_object_get_ex(h, "chunk", &v))
            json_object_object_add(c, "chunk", json_object_get(v));
        if (json_object_object_get_ex(h, "similarity", &v) ||
            json_object_object_get_ex(h, "score", &v))
            json_object_object_add(c, "score", json_object_get(v));
        /* a knowledge chunk of a batch document (tools/rag.c): its document and page */
        static const char *const doc_keys[] = {"document_id", "filename", "page"};
        for (size_t k = 0; k < sizeof(doc_keys) / sizeof(doc_keys[0]); k++)
            if (json_object_object_get_ex(h, doc_keys[k], &v) ||
                (md && json_object_object_get_ex(md, doc_keys[k], &v)))
                json_object_object_add(c, doc_keys[k], json_object_get(v));
        json_object_array_add(j->citations, c);
    }
}

static void tool_finished(struct ajob *j, size_t k, const struct tool_def *t, json_object *result,
                          const char *error)
{
    json_object *ev = json_object_new_object();
    json_object_object_add(ev, "id", json_object_new_string(j->round[k].id));
    json_object_object_add(ev, "tool", json_object_new_string(j->round[k].name));
    json_object_object_add(ev, "ok", json_object_new_boolean(error == NULL));
    add_part(j, ev);
    if (error) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", error);
        log_redact(msg, sizeof(msg));
        json_object *eo = json_object_new_object();
        json_object_object_add(eo, "error", json_object_new_string(msg));
        json_object_object_add(eo, "status", json_object_new_string("unavailable"));
        j->round_results[k] = strdup(json_object_to_json_string_ext(eo, JSON_C_TO_STRING_PLAIN));
        json_object_object_add(ev, "error", json_object_new_string(msg));
        json_object_put(eo);
        j->tool_failed = 1;
        snprintf(j->failed_tool, sizeof(j->failed_tool), "%s", j->round[k].name);
    } else {
        j->round_results[k] =
            strdup(json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN));
        json_object_object_add(ev, "result", json_object_get(result));
        json_object_put(j->last_data);
        j->last_data = json_object_get(result);
        if (t)
            add_citations(j, t, result);
    }
    pipeline_emit(&j->svc->pl, j->env, "tool_result", ev);
    json_object_put(ev);
}

/* A call of the model that is not run (reply.h): the model gets the error as the tool's
 * result and another round; no "service unavailable" note, since no service failed. */
static void invalid_call(struct ajob *j, size_t k, const char *msg)
{
    char m[512];
    snprintf(m, sizeof(m), "%s", msg);
    log_redact(m, sizeof(m));
    json_object *ev = json_object_new_object();
    json_object_object_add(ev, "id", json_object_new_string(j->round[k].id));
    json_object_object_add(ev, "tool", json_object_new_string(j->round[k].name));
    json_object_object_add(ev, "ok", json_object_new_boolean(0));
    json_object_object_add(ev, "error", json_object_new_string(m));
    json_object_object_add(ev, "invalid_call", json_object_new_boolean(1));
    add_part(j, ev);
    pipeline_emit(&j->svc->pl, j->env, "tool_result", ev);
    json_object_put(ev);
    j->round_results[k] = reply_invalid_result(j->tools, j->ntools, m);
    j->invalid_calls++;
}

static void on_tool_done(void *opaque, json_object *result, const char *error)
{
    struct tcall *tc = opaque;
    struct ajob *j = tc->j;
    size_t k = tc->k;
    metrics_observe(metrics_histogram("tool_call_seconds", "Tool call time", "", NULL, 0),
                    (double)(now_ms() - tc->started_ms) / 1000.0);
    free(tc);
    if (agent_closing) {
        if (--j->pending == 0 && !j->dispatching)
            release(j);
        return;
    }
    tool_finished(j, k, find_tool(j, j->round[k].name), result, error);
    if (--j->pending == 0 && !j->dispatching)
        round_done(j);
}

static void dispatch(struct ajob *j, size_t k)
{
    char err[512] = "";
    struct llm_tool_call *c = &j->round[k];
    const struct tool_def *t = find_tool(j, c->name);
    json_object *args = c->arguments && *c->arguments ? json_tokener_parse(c->arguments) : NULL;
    if (!args && (!c->arguments || !*c->arguments))
        args = json_object_new_object();
    /* The model's JSON, read leniently: valid text and JSON's numbers (json_text.h) for the
     * event, the entities and the tool's request. */
    json_text_repair(args);
    json_object *ev = json_object_new_object();
    json_object_object_add(ev, "id", json_object_new_string(c->id));
    json_object_object_add(ev, "tool", json_object_new_string(c->name));
    json_object_object_add(ev, "arguments", args ? json_object_get(args) : NULL);
    /* which credential the backend gets: "tool_token" | "user_token" | "none", never it */
    json_object_object_add(ev, "auth",
                           json_object_new_string(t ? tool_auth_kind(&j->tctx, t) : "none"));
    add_part(j, ev);
    pipeline_emit(&j->svc->pl, j->env, "tool_call", ev);
    json_object_put(ev);
    json_object_array_add(j->tool_calls_meta, json_object_new_string(c->name));
    /* Only the tools this tenant may use were offered; a call to anything else, or with
     * arguments that are no JSON object or fail the schema, goes back to the model. */
    if (reply_check_call(j->tools, j->ntools, c->name, c->arguments, err, sizeof(err)) !=
        REPLY_CALL_OK) {
        json_object_put(args);
        invalid_call(j, k, err);
        return;
    }
    if (args && json_object_is_type(args, json_type_object)) {
        json_object_object_foreach(args, key, val)
        {
            json_object_object_add(j->entities, key, json_object_get(val));
        }
    }
    j->pending++;
    struct tcall *tc = calloc(1, sizeof(*tc));
    if (tc) {
        tc->j = j;
        tc->k = k;
        tc->started_ms = now_ms();
        tag_call(j, "embedding"); /* a RAG tool's query embedding (the tool copies the cfg) */
        if (tool_invoke(&j->tctx, t, args, on_tool_done, tc, err, sizeof(err)) == 0) {
            json_object_put(args);
            return;
        }
        free(tc);
    } else {
        snprintf(err, sizeof(err), "out of memory");
    }
    json_object_put(args);
    tool_finished(j, k, t, NULL, err);
    j->pending--;
}

static void on_llm_done(void *opaque, const struct llm_response *resp, const struct llm_error *lerr)
{
    struct ajob *j = opaque;
    delta_flush(j); /* the streamed text goes out before tool calls, the answer or the error */
    if (!resp) {
        if (agent_closing || (lerr && lerr->code == LLM_ERR_CANCELLED)) {
            /* Shutting down: the job is not finished nor committed; it is re-read. */
            release(j);
            return;
        }
        char msg[700];
        snprintf(msg, sizeof(msg), "%s: %s", lerr ? llm_status_str(lerr->code) : "error",
                 lerr ? lerr->message : "unknown");
        fail(j, "llm_error", msg);
        return;
    }
    j->in_tokens += resp->input_tokens > 0 ? resp->input_tokens : 0;
    j->out_tokens += resp->output_tokens > 0 ? resp->output_tokens : 0;
    j->text_repaired += (long)resp->repaired;
    if (resp->model) {
        free(j->model);
        j->model = strdup(resp->model);
    }
    snprintf(j->finish_reason, sizeof(j->finish_reason), "%s",
             resp->finish_reason ? resp->finish_reason : "");
    if (resp->ntool_calls > 0 && j->ntools > 0 && j->iterations < j->svc->max_tool_iterations) {
        j->iterations++;
        if (msg_push(j, LLM_ROLE_ASSISTANT, resp->content, resp->tool_calls, resp->ntool_calls,
                     NULL, NULL) < 0 ||
            !(j->round = calls_dup(resp->tool_calls, resp->ntool_calls)) ||
            !(j->round_results = calloc(resp->ntool_calls, sizeof(char *)))) {
            fail(j, "internal", "out of memory");
            return;
        }
        j->nround = resp->ntool_calls;
        j->dispatching = 1;
        for (size_t k = 0; k < j->nround; k++)
            dispatch(j, k);
        j->dispatching = 0;
        if (j->pending == 0)
            round_done(j);
        return;
    }
    /* Final: an empty answer, one cut at the token limit, or tool calls that can no longer
     * run get their fallback text (reply.h). */
    j->fallback = reply_classify(resp);
    char *text = reply_text(j->fallback, resp->content, j->language);
    if (!text) {
        fail(j, "internal", "out of memory");
        return;
    }
    finalize(j, text);
    free(text);
}

/* ---- start --------------------------------------------------------------------------------- */

/* The history the request carried itself (chat.request payload "history": [{role, content}],
 * the OpenAI-compatible API's `messages` before the question): its last history_messages
 * turns, instead of the session's. NULL when the request carried none. */
static json_object *payload_history(const struct envelope *env)
{
    json_object *h;
    if (env->payload && json_object_object_get_ex(env->payload, "history", &h) &&
        json_object_is_type(h, json_type_array))
        return h;
    return NULL;
}

static int push_payload_history(struct ajob *j, json_object *h)
{
    size_t n = json_object_array_length(h);
    size_t max = j->svc->history_messages > 0 ? (size_t)j->svc->history_messages : 0;
    for (size_t i = n > max ? n - max : 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(h, i);
        const char *role = json_field_str(m, "role"), *content = json_field_str(m, "content");
        if (!role || !content)
            continue;
        enum llm_role lr = strcmp(role, "assistant") == 0 ? LLM_ROLE_ASSISTANT : LLM_ROLE_USER;
        if (msg_push(j, lr, content, NULL, 0, NULL, NULL) < 0)
            return -ENOMEM;
        j->history_count++;
    }
    return 0;
}

static int push_history_rows(struct ajob *j, PGresult *res, int first, int rows)
{
    for (int i = first; i < first + rows; i++) {
        enum llm_role role =
            strcmp(PQgetvalue(res, i, 1), "assistant") == 0 ? LLM_ROLE_ASSISTANT : LLM_ROLE_USER;
        if (msg_push(j, role, PQgetvalue(res, i, 2), NULL, 0, NULL, NULL) < 0)
            return -ENOMEM;
        j->history_count++;
    }
    return 0;
}

/* The session's earlier turns, or the ones the request carried; the job moves to 'running'
 * in the same round trip (history.h), or was moved with its pass (startfacts.h). */
static int load_history(struct ajob *j)
{
    struct agent_svc *svc = j->svc;
    json_object *carried = payload_history(j->env);
    PGresult *res = NULL;
    int first = 0, rows = 0;
    if (!carried && startfacts_history(j->env, &res, &first, &rows))
        return push_history_rows(j, res, first, rows);
    char err[256];
    const struct envelope *one[] = {j->env};
    /* with a carried history the statement only moves the job to 'running' */
    int rc = history_read(svc->pl.db, one, 1, carried ? 0 : svc->history_messages, &res, err,
                          sizeof(err));
    if (carried) {
        if (rc != PG_OK) {
            struct log_ctx c;
            logctx(j->env, &c);
            log_kv(LOG_WARN, &c, "job not marked running", "error", err, (char *)NULL);
        }
        rc = push_payload_history(j, carried);
    } else if (rc == PG_OK) {
        rc = push_history_rows(j, res, 0, PQntuples(res));
    } else {
        struct log_ctx c;
        logctx(j->env, &c);
        log_kv(LOG_WARN, &c, "history not loaded", "error", err, (char *)NULL);
        rc = 0; /* answer without history rather than not at all */
    }
    PQclear(res);
    return rc;
}

static char *system_prompt(struct ajob *j)
{
    const char *tmpl = json_field_str(j->agent_cfg, "prompt_template");
    const char *fmt = format_instructions(j->format_type);
    const char *lang = strcmp(j->language, "vi") == 0
                           ? "The user writes in Vietnamese: answer in Vietnamese."
                           : "The user writes in English: answer in English.";
    const char *tools = j->ntools
                            ? "Use the tools to look up facts; never invent figures. If a tool "
                              "reports an error, tell the user the service is unavailable."
                            : "";
    size_t n = strlen(tmpl ? tmpl : "") + strlen(fmt) + strlen(lang) + strlen(tools) + 16;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s\n\n%s\n%s\n%s", tmpl ? tmpl : "", fmt, lang, tools);
    return s;
}

static void order_ready(void *opaque, int outcome);
static void begin_answer(struct ajob *j);

void agent_job_start(void *opaque, struct stage_job *job)
{
    struct agent_svc *svc = opaque;
    const struct envelope *env = stage_job_envelope(job);
    struct log_ctx c;
    logctx(env, &c);
    char err[512] = "", status[32] = "";
    log_kv(LOG_INFO, &c, "job started", "agent", json_field_str(env->payload, "agent"), "topic",
           stage_job_topic(job), (char *)NULL);
    struct ajob *j = calloc(1, sizeof(*j));
    if (!j) {
        log_kv(LOG_ERROR, &c, "out of memory", (char *)NULL);
        stage_job_done(job);
        return;
    }
    j->svc = svc;
    j->job = job;
    j->env = env;
    j->t0 = now_ms();
    j->nparts = 1;
    json_object *part;
    if (json_object_object_get_ex(env->payload, "part", &part) && part) {
        json_object *v;
        if (json_object_object_get_ex(part, "index", &v))
            j->part = json_object_get_int(v);
        if (json_object_object_get_ex(part, "count", &v))
            j->nparts = json_object_get_int(v);
    }
    j->message = strdup(json_field_str(env->payload, "message"));
    snprintf(j->agent_name, sizeof(j->agent_name), "%s", json_field_str(env->payload, "agent"));
    const char *lang = json_field_str(env->payload, "language");
    snprintf(j->language, sizeof(j->language), "%s", lang && strcmp(lang, "vi") == 0 ? "vi" : "en");
    const char *intent = json_field_str(env->payload, "intent");
    snprintf(j->intent, sizeof(j->intent), "%s", intent ? intent : "");
    snprintf(j->format_type, sizeof(j->format_type), "markdown");
    j->tool_calls_meta = json_object_new_array();
    j->entities = json_object_new_object();
    j->citations = json_object_new_array();
    if (!j->message || !j->tool_calls_meta || !j->entities || !j->citations) {
        fail(j, "internal", "out of memory");
        return;
    }

    /* Idempotency first: a redelivered job does no LLM call. */
    int has = 0;
    if (pipeline_job_state(&svc->pl, env, j->part, status, sizeof(status), &has) == PG_OK &&
        (strcmp(status, "done") == 0 || strcmp(status, "error") == 0)) {
        log_kv(LOG_INFO, &c, "job already finished, skipped", "status", status, (char *)NULL);
        release(j);
        return;
    }
    if (has == 1) {
        log_kv(LOG_INFO, &c, "answer for this part exists, skipped", (char *)NULL);
        /* A crash between saving the answer and ending the job: finish the job from it. */
        if (j->nparts > 1)
            complete_multi(j);
        else
            complete_from_saved(j);
        release(j);
        return;
    }

    /* A tenant deactivated since the router ran: no LLM call, no tool call. */
    if (pipeline_refuse_inactive(&svc->pl, env)) {
        release(j);
        return;
    }

    /* Layer 1 again: the tenant must be permitted this agent, whatever the message said. */
    json_object *agents = NULL;
    if (pipeline_tenant_agents(&svc->pl, env->tenant_id, &agents, err, sizeof(err)) < 0) {
        fail(j, "storage_unavailable", "the tenant's agents could not be loaded");
        return;
    }
    size_t na = json_object_array_length(agents);
    for (size_t i = 0; i < na; i++) {
        json_object *a = json_object_array_get_idx(agents, i);
        const char *nm = json_field_str(a, "name");
        if (nm && strcmp(nm, j->agent_name) == 0)
            snprintf(j->agent_id, sizeof(j->agent_id), "%s", json_field_str(a, "agent_id"));
    }
    json_object_put(agents);
    if (!j->agent_id[0]) {
        log_kv(LOG_WARN, &c, "agent not permitted for tenant", "agent", j->agent_name,
               (char *)NULL);
        fail(j, "agent_not_permitted", "this agent is not enabled for the tenant");
        return;
    }
    if (pipeline_agent_config(&svc->pl, env->tenant_id, j->agent_id, &j->agent_cfg, err,
                              sizeof(err)) != 0) {
        fail(j, "storage_unavailable", "the agent's configuration could not be loaded");
        return;
    }
    json_object *of;
    if (json_object_object_get_ex(j->agent_cfg, "output_format", &of) && of) {
        const char *ft = json_field_str(of, "format_type");
        if (ft)
            snprintf(j->format_type, sizeof(j->format_type), "%s", ft);
    }
    if (tools_load_for_agent(svc->pl.db, svc->pl.rc, env->tenant_id, j->agent_id, &j->tools,
                             &j->ntools, err, sizeof(err)) != 0) {
        fail(j, "storage_unavailable", "the agent's tools could not be loaded");
        return;
    }
    if (j->ntools) {
        j->tdefs = calloc(j->ntools, sizeof(*j->tdefs));
        if (!j->tdefs) {
            fail(j, "internal", "out of memory");
            return;
        }
        for (size_t i = 0; i < j->ntools; i++) {
            j->tdefs[i].name = j->tools[i].name;
            j->tdefs[i].description = j->tools[i].description;
            j->tdefs[i].parameters = j->tools[i].input_schema
                                         ? json_object_to_json_string_ext(j->tools[i].input_schema,
                                                                          JSON_C_TO_STRING_PLAIN)
                                         : "{\"type\":\"object\",\"properties\":{}}";
        }
    }
    struct llm_error lerr;
    memset(&lerr, 0, sizeof(lerr));
    if (llm_config_load(svc->pl.db, svc->pl.rc, svc->fernet_key, env->tenant_id, &j->cfg, &lerr) !=
        0) {
        char msg[700];
        snprintf(msg, sizeof(msg), "no usable LLM configuration: %s", lerr.message);
        fail(j, "llm_config", msg);
        return;
    }
    j->have_cfg = 1;
    if (svc->llm_timeout_ms > 0)
        j->cfg.timeout_ms = svc->llm_timeout_ms;
    if (svc->llm_max_retries >= 0)
        j->cfg.max_retries = (int)svc->llm_max_retries;

    /* The user's JWT for inject_jwt tools: Fernet-encrypted in the envelope, short TTL. */
    const char *tok = json_field_str(env->payload, "user_token");
    if (tok && svc->fernet_key && *svc->fernet_key) {
        unsigned char *plain = NULL;
        size_t plen = 0;
        char wrap_key[FERNET_KEY_B64_LEN];
        int fr = fernet_purpose_key(svc->fernet_key, FERNET_PURPOSE_USER_TOKEN, wrap_key);
        if (fr == FERNET_OK)
            fr = fernet_decrypt(wrap_key, tok, svc->user_token_ttl_s, &plain, &plen);
        explicit_bzero(wrap_key, sizeof wrap_key);
        if (fr == FERNET_OK) {
            j->user_jwt = (char *)plain;
        } else {
            log_kv(LOG_WARN, &c, "user token not usable; tools run without it", "error",
                   fernet_status_str(fr), (char *)NULL);
        }
    }
    j->tctx.tenant_id = env->tenant_id;
    j->tctx.user_id = env->user_id[0] ? env->user_id : NULL; /* the verified token's sub */
    j->tctx.user_jwt = j->user_jwt;
    j->tctx.tool_key = svc->tool_key;
    j->tctx.loop = svc->loop;
    j->tctx.llm = svc->llm;
    j->tctx.llm_cfg = &j->cfg;
    j->tctx.chroma_url = svc->chroma_url;
    j->tctx.allowed_hosts = svc->allowed_hosts;
    j->tctx.tool_secret_key = svc->tool_secret_key;

    /* The session's earlier jobs first: this answer comes after theirs, and its history holds
     * them (session_order.h). */
    if (svc->order)
        session_order_wait(svc->order, env, order_ready, j, &j->order_wait);
    else
        begin_answer(j);
}

static void order_ready(void *opaque, int outcome)
{
    struct ajob *j = opaque;
    j->order_wait = 0;
    if (outcome == SESSION_ORDER_TIMEOUT)
        j->order_timeout = 1;
    if (agent_closing) {
        release(j); /* not finished, not committed: it is redelivered */
        return;
    }
    begin_answer(j);
}

/* The system prompt followed by the attached documents' text (attachments.h), when the
 * message references documents. NULL when out of memory; *failed set when they could not be
 * read (the job then fails: an answer about documents it cannot see would mislead). */
static char *prompt_with_attachments(struct ajob *j, int *failed)
{
    char err[256] = "", *ctx = NULL;
    json_object *att = NULL;
    char *sys = system_prompt(j);
    *failed = 0;
    if (!sys || !json_object_object_get_ex(j->env->payload, "attachments", &att) ||
        !json_object_is_type(att, json_type_array) || json_object_array_length(att) == 0)
        return sys;
    int rc = agent_attachments_context(j->svc->pl.db, j->env->tenant_id, att,
                                       (size_t)j->svc->attachment_max_chars, &ctx, j->citations,
                                       err, sizeof err);
    if (rc != 0) {
        struct log_ctx c;
        logctx(j->env, &c);
        log_kv(LOG_WARN, &c, "attachments not read", "error", err, (char *)NULL);
        *failed = rc;
        free(sys);
        return NULL;
    }
    if (!ctx)
        return sys;
    size_t n = strlen(sys) + strlen(ctx) + 4;
    char *both = malloc(n);
    if (both)
        snprintf(both, n, "%s\n\n%s", sys, ctx);
    free(sys);
    free(ctx);
    return both;
}

static void begin_answer(struct ajob *j)
{
    /* status 'running': set by load_history's statement, or with the job's pass (startfacts.h). */
    int att_failed = 0;
    char *sys = prompt_with_attachments(j, &att_failed);
    if (att_failed) {
        fail(j, pipeline_storage_error(att_failed, NULL),
             "the attached documents could not be read");
        return;
    }
    if (!sys || msg_push(j, LLM_ROLE_SYSTEM, sys, NULL, 0, NULL, NULL) < 0 || load_history(j) < 0 ||
        msg_push(j, LLM_ROLE_USER, j->message, NULL, 0, NULL, NULL) < 0) {
        free(sys);
        fail(j, "internal", "out of memory");
        return;
    }
    free(sys);
    call_llm(j);
}
