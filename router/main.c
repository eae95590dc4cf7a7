/* agenthub-router — the SupervisorAgent as a Kafka stage.
 *
 * Consumes agenthub.chat.requests (group agenthub-router). Per job: language (en/vi), the
 * tenant's enabled agents (cached), the supervisor prompt, intent classification with the
 * tenant's LLM (JSON mode), then:
 *   agent        -> chat.routed to agenthub.agent.<Name>, key session_id
 *   MULTI_INTENT -> one chat.routed per part (part index/count), jobs.parts_total set
 *   UNCLEAR      -> a clarifying answer in the user's language, persisted, `final`, job done
 * A chat.request whose payload names an agent ("agent", from the OpenAI-compatible API) skips
 * the classification and goes to that agent when the tenant may use it (else the job fails
 * with agent_not_permitted). A chat.request that carries attachments (documents the message
 * is about) goes to the tenant's document agent, ROUTER_ATTACHMENT_AGENT (AgentOCR), when the
 * tenant has it enabled (routed_by "attachments", intent "document_query"); otherwise it is
 * classified as usual. The attachments travel on in chat.routed for the agent to read.
 * and a `routed` event {agent, language, intent}. An LLM failure ends the job with `error`.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "envelope.h"
#include "httploop.h"
#include "jobevents.h"
#include "json_number.h"
#include "kafka.h"
#include "language.h"
#include "llm.h"
#include "llm_env.h"
#include "log.h"
#include "pgpool.h"
#include "pipeline.h"
#include "rcache.h"
#include "route.h"
#include "session_order.h"
#include "stage.h"
#include "usage.h"

static struct config_common g_common;
static struct pipeline_stage_settings g_stage;
static struct llm_env_settings g_llm_env;
static char *g_group;
static long g_produce_timeout_ms = 10000;
static char *g_attach_agent;

static const struct config_entry g_config[] = {
    CONFIG_COMMON_ENTRIES(&g_common),
    PIPELINE_STAGE_ENTRIES(&g_stage),
    LLM_ENV_ENTRIES(&g_llm_env),
    {"ROUTER_GROUP_ID", CONFIG_STRING, "agenthub-router", 0, 0, 0, "Kafka consumer group",
     &g_group},
    {"ROUTER_PRODUCE_TIMEOUT_MS", CONFIG_INT, "10000", 100, 120000, 0,
     "how long the broker may take to acknowledge a routed message (message.timeout.ms) "
     "before the job fails",
     &g_produce_timeout_ms},
    {"ROUTER_ATTACHMENT_AGENT", CONFIG_STRING, "AgentOCR", 0, 0, 0,
     "the agent a message with attached documents goes to, when the tenant has it (empty: "
     "such messages are classified like any other)",
     &g_attach_agent},
};
#define NCONFIG (sizeof(g_config) / sizeof(g_config[0]))

struct router {
    struct pipeline pl;
    struct session_order *order; /* NULL: no waiting (SESSION_ORDER_WAIT_MS 0) */
    struct httploop *loop;
    struct llm_client *llm;
    struct stage *stage;
    char ensured[64][101]; /* agent topics known to exist */
    size_t nensured;
};

struct rjob {
    long order_wait; /* > 0 while an UNCLEAR answer waits for the session's earlier jobs */
    struct router *r;
    struct stage_job *job;
    const struct envelope *env;
    const char *language;
    char *message;
    char *user_token;
    json_object *agents;
    long long t0;
    /* Routing in flight: the parts' delivery reports still awaited, and what to do after. */
    int acks_pending;
    int ack_failed;
    char ack_err[256];
    char agents_csv[600];
    char intent[64];
    /* the intent call's usage, for an UNCLEAR answer's metadata */
    long in_tokens, out_tokens;
    char model[200];
};

/* One routed message's delivery report, carried from the producer's thread to the loop. */
struct route_ack {
    struct rjob *j;
    int err;
    char errstr[200];
};

static void logctx(const struct envelope *env, struct log_ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->tenant_id = env->tenant_id;
    c->job_id = env->job_id;
}

static const char *payload_str(const struct envelope *env, const char *key)
{
    json_object *v;
    if (json_object_object_get_ex(env->payload, key, &v) &&
        json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

static int validate(void *opaque, const struct envelope *env, char *err, size_t errlen)
{
    (void)opaque;
    if (strcmp(env->type, "chat.request") != 0) {
        snprintf(err, errlen, "unexpected envelope type '%s' on the requests topic", env->type);
        return -1;
    }
    const char *m = payload_str(env, "message");
    if (!m || !*m) {
        snprintf(err, errlen, "chat.request payload has no message");
        return -1;
    }
    return 0;
}

static void rjob_free(struct rjob *j)
{
    if (!j)
        return;
    if (j->order_wait > 0)
        session_order_cancel(j->r->order, j->order_wait);
    free(j->message);
    free(j->user_token);
    json_object_put(j->agents);
    free(j);
}

static void rjob_finish(struct rjob *j)
{
    struct stage_job *sj = j->job;
    rjob_free(j);
    stage_job_done(sj);
}

static int ensure_topic(struct router *r, const char *agent, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->nensured; i++)
        if (strcmp(r->ensured[i], agent) == 0)
            return 0;
    char topic[160];
    snprintf(topic, sizeof(topic), "%s%s", KAFKA_TOPIC_AGENT_PREFIX, agent);
    int rc = kafka_topic_ensure(r->pl.producer, topic, 0, 2000, err, errlen);
    if (rc == 0 && r->nensured < sizeof(r->ensured) / sizeof(r->ensured[0]))
        snprintf(r->ensured[r->nensured++], sizeof(r->ensured[0]), "%s", agent);
    return rc;
}

/* Ends the job with the clarifying answer (UNCLEAR, or a tenant without agents). */
static void answer_unclear_now(struct rjob *j);

static void unclear_ready(void *opaque, int outcome)
{
    struct rjob *j = opaque;
    (void)outcome; /* after a timeout the answer goes out anyway (session_order.h) */
    j->order_wait = 0;
    answer_unclear_now(j);
}

/* The clarifying answer comes after the session's earlier answers, like an agent's. */
static void answer_unclear(struct rjob *j)
{
    if (j->r->order)
        session_order_wait(j->r->order, j->env, unclear_ready, j, &j->order_wait);
    else
        answer_unclear_now(j);
}

static void answer_unclear_now(struct rjob *j)
{
    struct router *r = j->r;
    char err[256] = "", msg_id[37] = "";
    char *text = route_clarify(j->agents, j->language);
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "agent", json_object_new_string("SupervisorAgent"));
    json_object_object_add(meta, "intent", json_object_new_string("unclear"));
    json_object_object_add(meta, "language", json_object_new_string(j->language));
    json_object_object_add(meta, "tool_calls", json_object_new_array());
    json_object_object_add(meta, "extracted_entities", json_object_new_object());
    json_object_object_add(meta, "llm_model", json_object_new_string(j->model));
    json_object *tok = json_object_new_object();
    json_object_object_add(tok, "input", json_object_new_int64(j->in_tokens));
    json_object_object_add(tok, "output", json_object_new_int64(j->out_tokens));
    json_object_object_add(meta, "tokens", tok);
    json_object_object_add(meta, "cost_usd",
                           json_decimal(usage_cost_of(j->model, j->in_tokens, j->out_tokens), 8));
    json_object *routed = json_object_new_object();
    json_object_object_add(routed, "agent", json_object_new_string("UNCLEAR"));
    json_object_object_add(routed, "language", json_object_new_string(j->language));
    json_object_object_add(routed, "intent", json_object_new_string("unclear"));
    pipeline_emit(&r->pl, j->env, "routed", routed);
    json_object_put(routed);
    if (!text) {
        pipeline_job_fail(&r->pl, j->env, "internal", "out of memory");
        goto out;
    }
    int rc = pipeline_save_assistant(&r->pl, j->env, 0, text, meta, NULL, msg_id, err, sizeof(err));
    if (rc < 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "the answer could not be saved: %s", err);
        pipeline_job_fail(&r->pl, j->env, pipeline_storage_error(rc, NULL), msg);
        goto out;
    }
    const char *lp[] = {j->env->job_id, j->env->tenant_id, j->language};
    pgpool_exec(r->pl.db, NULL,
                "UPDATE jobs SET intent = 'unclear', language = $3, agent = 'UNCLEAR' "
                "WHERE job_id = $1 AND tenant_id = $2",
                3, lp, err, sizeof(err));
    pipeline_job_complete(&r->pl, j->env, text, meta, "SupervisorAgent", msg_id);
out:
    free(text);
    json_object_put(meta);
    rjob_finish(j);
}

static void route_acked(void *arg);

/* Producer thread: hand the report to the loop, where the job's state lives. */
static void on_routed_delivery(void *opaque, int err, const char *errstr)
{
    struct route_ack *a = opaque;
    a->err = err;
    snprintf(a->errstr, sizeof(a->errstr), "%s", errstr ? errstr : "");
    if (stage_post(a->j->r->stage, route_acked, a) != 0) {
        /* Out of memory: the job stays in flight (uncommitted) and is re-read after a restart. */
        log_kv(LOG_ERROR, NULL, "cannot hand a delivery report to the loop (out of memory)",
               (char *)NULL);
        free(a);
    }
}

/* Queues part i of the decision for its agent's topic; its delivery report comes back through
 * route_acked. Returns 0 when queued (the report will come), negative with err when not. */
static int produce_part(struct rjob *j, const struct route_decision *d, size_t i, char *err,
                        size_t errlen)
{
    struct router *r = j->r;
    struct envelope out;
    int rc = envelope_init(&out, "chat.routed", j->env);
    if (rc < 0) {
        snprintf(err, errlen, "envelope init failed");
        return rc;
    }
    /* Same job, same ids: the agent stage writes against the request's job. */
    json_object *p = out.payload;
    json_object_object_add(p, "message", json_object_new_string(d->parts[i].message));
    json_object_object_add(p, "language", json_object_new_string(j->language));
    json_object_object_add(p, "agent", json_object_new_string(d->parts[i].agent));
    json_object_object_add(p, "intent", json_object_new_string(d->intent));
    json_object *part = json_object_new_object();
    json_object_object_add(part, "index", json_object_new_int((int)i));
    json_object_object_add(part, "count", json_object_new_int((int)d->nparts));
    json_object_object_add(p, "part", part);
    if (j->user_token)
        json_object_object_add(p, "user_token", json_object_new_string(j->user_token));
    /* the request's own history (the OpenAI-compatible API), for the agent */
    json_object *hist;
    if (json_object_object_get_ex(j->env->payload, "history", &hist) &&
        json_object_is_type(hist, json_type_array))
        json_object_object_add(p, "history", json_object_get(hist));
    /* the documents the message is about (checked by the ingress), for the agent to read */
    json_object *att;
    if (json_object_object_get_ex(j->env->payload, "attachments", &att) &&
        json_object_is_type(att, json_type_array))
        json_object_object_add(p, "attachments", json_object_get(att));
    char *text = envelope_encode(&out);
    struct route_ack *a = calloc(1, sizeof(*a));
    if (!text || !a) {
        free(text);
        free(a);
        envelope_cleanup(&out);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    a->j = j;
    char topic[160];
    snprintf(topic, sizeof(topic), "%s%s", KAFKA_TOPIC_AGENT_PREFIX, d->parts[i].agent);
    char terr[256];
    if (ensure_topic(r, d->parts[i].agent, terr, sizeof(terr)) < 0) {
        struct log_ctx c;
        logctx(j->env, &c);
        log_kv(LOG_WARN, &c, "topic ensure failed (producing anyway)", "topic", topic, "error",
               terr, (char *)NULL);
    }
    struct kafka_header hdrs[] = {{"traceparent", out.traceparent}};
    rc = kafka_produce(r->pl.producer, topic, j->env->session_id, text, strlen(text), hdrs, 1,
                       on_routed_delivery, a);
    if (rc < 0) {
        free(a); /* not queued: no report will come */
        snprintf(err, errlen, "routed message not queued (%d)", rc);
    }
    free(text);
    envelope_cleanup(&out);
    return rc;
}

/* Every part is acknowledged (or one failed): the job is routed, or it fails visibly. */
static void route_finish(struct rjob *j)
{
    struct router *r = j->r;
    char err[256] = "";
    struct log_ctx c;
    logctx(j->env, &c);
    if (j->ack_failed) {
        if (stage_stopping(r->stage)) {
            /* Shutting down (the producer's last flush gave up on it): not finished, not
             * committed; the request is routed again by the next router. */
            log_kv(LOG_WARN, &c, "routing not acknowledged before shutdown; left for redelivery",
                   (char *)NULL);
        } else {
            /* The broker did not take it: fail visibly rather than leave the job hanging. */
            pipeline_job_fail(&r->pl, j->env, "broker_unavailable", j->ack_err);
        }
        rjob_finish(j);
        return;
    }
    const char *sp[] = {j->env->job_id, j->env->tenant_id};
    pgpool_exec(r->pl.db, NULL,
                "UPDATE jobs SET status = 'routed', updated_at = now() "
                "WHERE job_id = $1 AND tenant_id = $2 AND status = 'queued'",
                2, sp, err, sizeof(err));
    log_kv(LOG_INFO, &c, "job routed", "agent", j->agents_csv, "language", j->language, "intent",
           j->intent, (char *)NULL);
    rjob_finish(j);
}

static void route_acked(void *arg)
{
    struct route_ack *a = arg;
    struct rjob *j = a->j;
    if (a->err && !j->ack_failed) {
        j->ack_failed = 1;
        snprintf(j->ack_err, sizeof(j->ack_err), "%s", a->errstr[0] ? a->errstr : "not delivered");
    }
    free(a);
    if (--j->acks_pending == 0)
        route_finish(j);
}

/* Publishes the parts without waiting on the loop: the job goes on in route_finish once the
 * broker acknowledged every part (message.timeout.ms = ROUTER_PRODUCE_TIMEOUT_MS bounds it). */
static void route(struct rjob *j, const struct route_decision *d)
{
    struct router *r = j->r;
    char err[256] = "";
    char parts_total[16];
    snprintf(parts_total, sizeof(parts_total), "%zu", d->nparts);
    for (size_t i = 0; i < d->nparts; i++) {
        if (i)
            strncat(j->agents_csv, ",", sizeof(j->agents_csv) - strlen(j->agents_csv) - 1);
        strncat(j->agents_csv, d->parts[i].agent,
                sizeof(j->agents_csv) - strlen(j->agents_csv) - 1);
    }
    snprintf(j->intent, sizeof(j->intent), "%s", d->intent);
    /* parts_total before any part is produced: an agent finishing a part compares to it. */
    const char *lp[] = {j->env->job_id, j->env->tenant_id, j->language,
                        d->intent,      j->agents_csv,     parts_total};
    pgpool_exec(r->pl.db, NULL,
                "UPDATE jobs SET language = $3, intent = $4, agent = $5, parts_total = $6, "
                "updated_at = now() WHERE job_id = $1 AND tenant_id = $2 "
                "AND status NOT IN ('done', 'error')",
                6, lp, err, sizeof(err));
    json_object *ev = json_object_new_object();
    json_object_object_add(
        ev, "agent", json_object_new_string(d->nparts == 1 ? d->parts[0].agent : "MULTI_INTENT"));
    json_object_object_add(ev, "language", json_object_new_string(j->language));
    json_object_object_add(ev, "intent", json_object_new_string(d->intent));
    json_object_object_add(ev, "routed_by", json_object_new_string(route_how_name(d->how)));
    if (d->nparts > 1) {
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < d->nparts; i++) {
            json_object *pt = json_object_new_object();
            json_object_object_add(pt, "agent", json_object_new_string(d->parts[i].agent));
            json_object_object_add(pt, "message", json_object_new_string(d->parts[i].message));
            json_object_array_add(arr, pt);
        }
        json_object_object_add(ev, "parts", arr);
    }
    /* The `routed` event goes out before the parts are produced: an agent can take a part
     * and finish it before the broker's acknowledgement reaches this process (on a real
     * cluster, acks=all is answered once the followers have the message, the moment a
     * consumer can fetch it), and its events must follow this one. A part the broker refuses
     * still ends the job with broker_unavailable, after this event. */
    pipeline_emit(&r->pl, j->env, "routed", ev);
    json_object_put(ev);
    /* One reference held here while producing, so a report that comes back at once cannot
     * finish the job before every part is queued. */
    j->acks_pending = 1;
    for (size_t i = 0; i < d->nparts; i++) {
        if (produce_part(j, d, i, err, sizeof(err)) < 0) {
            j->ack_failed = 1;
            snprintf(j->ack_err, sizeof(j->ack_err), "%s", err);
            break;
        }
        j->acks_pending++;
    }
    if (--j->acks_pending == 0)
        route_finish(j);
}

static void on_classified(void *opaque, const struct llm_response *resp,
                          const struct llm_error *lerr)
{
    struct rjob *j = opaque;
    if (!resp) {
        if (lerr && lerr->code == LLM_ERR_CANCELLED && stage_stopping(j->r->stage)) {
            /* Shutting down: not finished, not committed; another router re-reads it. */
            rjob_finish(j);
            return;
        }
        char msg[700];
        snprintf(msg, sizeof(msg), "intent classification failed: %s%s%s",
                 lerr ? llm_status_str(lerr->code) : "unknown error", lerr ? ": " : "",
                 lerr ? lerr->message : "");
        pipeline_job_fail(&j->r->pl, j->env, "llm_error", msg);
        rjob_finish(j);
        return;
    }
    j->in_tokens = resp->input_tokens > 0 ? resp->input_tokens : 0;
    j->out_tokens = resp->output_tokens > 0 ? resp->output_tokens : 0;
    snprintf(j->model, sizeof(j->model), "%s", resp->model ? resp->model : "");
    struct route_decision d;
    route_parse(resp->content, j->agents, j->message, &d);
    if (d.how != ROUTE_HOW_MODEL) {
        /* The model's answer was not the strict JSON: say how the job was routed instead. */
        struct log_ctx c;
        logctx(j->env, &c);
        log_kv(LOG_INFO, &c, "intent answer not usable; fallback", "routed_by",
               route_how_name(d.how), (char *)NULL);
    }
    if (d.kind == ROUTE_UNCLEAR)
        answer_unclear(j);
    else
        route(j, &d);
    route_decision_cleanup(&d);
}

static void start_job(void *opaque, struct stage_job *job)
{
    struct router *r = opaque;
    const struct envelope *env = stage_job_envelope(job);
    struct log_ctx c;
    logctx(env, &c);
    char err[512] = "", status[32];
    struct llm_config cfg;
    int have_cfg = 0;
    char *prompt = NULL;
    struct rjob *j = calloc(1, sizeof(*j));
    if (!j) {
        log_kv(LOG_ERROR, &c, "out of memory", (char *)NULL);
        stage_job_done(job);
        return;
    }
    j->r = r;
    j->job = job;
    j->env = env;
    const char *m = payload_str(env, "message");
    const char *tok = payload_str(env, "user_token");
    j->message = strdup(m ? m : "");
    j->user_token = tok ? strdup(tok) : NULL;
    if (!j->message || (tok && !j->user_token)) {
        pipeline_job_fail(&r->pl, env, "internal", "out of memory");
        goto finish;
    }
    /* Idempotency: a redelivered request that was already routed or finished is skipped. */
    if (pipeline_job_status(&r->pl, env, status, sizeof(status)) == PG_OK && status[0] &&
        strcmp(status, "queued") != 0) {
        log_kv(LOG_INFO, &c, "request already handled, skipped", "status", status, (char *)NULL);
        goto finish;
    }
    if (!status[0])
        pipeline_job_ensure(&r->pl, env);
    /* A tenant deactivated after the ingress accepted the job: no LLM call. */
    if (pipeline_refuse_inactive(&r->pl, env))
        goto finish;
    /* The job's place in its session (session_order.h): this process takes the session's
     * requests one at a time, in the order they were accepted. */
    long seq = 0;
    if (r->order && session_order_assign(r->pl.db, env, &seq, err, sizeof(err)) < 0)
        log_kv(LOG_WARN, &c, "session order: job not numbered; it will not wait", "error", err,
               (char *)NULL);
    j->language = language_detect(j->message, strlen(j->message));
    if (pipeline_tenant_agents(&r->pl, env->tenant_id, &j->agents, err, sizeof(err)) < 0) {
        pipeline_job_fail(&r->pl, env, "storage_unavailable",
                          "the tenant's agents could not be loaded");
        goto finish;
    }
    /* The request named its agent (the OpenAI-compatible API's "agenthub/<Name>" models):
     * no classification, but the tenant must still be allowed that agent now (the ingress
     * checked when it accepted; a permission withdrawn since then fails the job). */
    const char *want = payload_str(env, "agent");
    if (want) {
        struct route_decision d;
        int rr = route_requested(want, j->agents, j->message, &d);
        if (rr == 0)
            route(j, &d);
        else
            pipeline_job_fail(&r->pl, env, rr > 0 ? "agent_not_permitted" : "internal",
                              rr > 0 ? "the requested agent is not available to this tenant"
                                     : "out of memory");
        route_decision_cleanup(&d);
        if (rr != 0)
            goto finish;
        return;
    }
    /* Attached documents: the tenant's document agent reads them, no classification. */
    json_object *att;
    if (g_attach_agent && *g_attach_agent &&
        json_object_object_get_ex(env->payload, "attachments", &att) &&
        json_object_is_type(att, json_type_array) && json_object_array_length(att) > 0) {
        struct route_decision d;
        int rr = route_requested(g_attach_agent, j->agents, j->message, &d);
        if (rr == 0) {
            d.how = ROUTE_HOW_ATTACHMENTS;
            snprintf(d.intent, sizeof d.intent, "document_query");
            route(j, &d);
            route_decision_cleanup(&d);
            return;
        }
        route_decision_cleanup(&d);
        if (rr < 0) {
            pipeline_job_fail(&r->pl, env, "internal", "out of memory");
            goto finish;
        }
    }
    if (json_object_array_length(j->agents) == 0) {
        answer_unclear(j);
        return;
    }
    struct llm_error lerr;
    memset(&lerr, 0, sizeof(lerr));
    if (llm_config_load(r->pl.db, r->pl.rc, g_common.fernet_key, env->tenant_id, &cfg, &lerr) !=
        0) {
        char msg[700];
        snprintf(msg, sizeof(msg), "no usable LLM configuration: %s", lerr.message);
        pipeline_job_fail(&r->pl, env, "llm_config", msg);
        goto finish;
    }
    have_cfg = 1;
    if (g_stage.llm_timeout_ms > 0)
        cfg.timeout_ms = g_stage.llm_timeout_ms;
    if (g_stage.llm_retries >= 0)
        cfg.max_retries = (int)g_stage.llm_retries;
    /* Accounting: the intent call of this job (usage.h); its retries are attempts 1, 2, ... */
    snprintf(cfg.usage.job_id, sizeof(cfg.usage.job_id), "%s", env->job_id);
    snprintf(cfg.usage.purpose, sizeof(cfg.usage.purpose), "intent");
    prompt = route_prompt(j->agents);
    if (!prompt) {
        pipeline_job_fail(&r->pl, env, "internal", "out of memory");
        goto finish;
    }
    struct llm_message msgs[2] = {
        {.role = LLM_ROLE_SYSTEM, .content = prompt},
        {.role = LLM_ROLE_USER, .content = j->message},
    };
    struct llm_request req = {
        .messages = msgs,
        .nmessages = 2,
        .json_mode = 1,
        .temperature = 0,
        .max_tokens = 400,
    };
    if (llm_chat_start(r->llm, &cfg, &req, NULL, on_classified, j) < 0) {
        pipeline_job_fail(&r->pl, env, "llm_error", "the LLM call could not be started");
        goto finish;
    }
    free(prompt);
    llm_config_cleanup(&cfg);
    return;
finish:
    free(prompt);
    if (have_cfg)
        llm_config_cleanup(&cfg);
    rjob_finish(j);
}

int main(int argc, char **argv)
{
    int rc = 1;
    char err[512] = "";
    struct router r;
    memset(&r, 0, sizeof(r));
    config_main(argc, argv, "agenthub-router", g_config, NCONFIG);
    enum log_level lvl = LOG_INFO;
    log_level_parse(g_common.log_level, &lvl);
    log_init("router", lvl);

    if (pipeline_open(&r.pl, &g_common, (int)g_stage.pg_pool, g_produce_timeout_ms) != 0)
        goto out;
    if (httploop_new(&r.loop) != 0) {
        log_kv(LOG_ERROR, NULL, "httploop failed", (char *)NULL);
        goto out;
    }
    if (llm_set_proxy(g_stage.llm_proxy) != 0) {
        log_kv(LOG_ERROR, NULL, "llm client failed", "error", "out of memory", (char *)NULL);
        goto out;
    }
    if (llm_client_new(&r.llm, r.loop, r.pl.rc, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, NULL, "llm client failed", "error", err, (char *)NULL);
        goto out;
    }
    if (usage_start(r.pl.db, r.pl.rc, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, NULL, "usage recorder failed", "error", err, (char *)NULL);
        goto out;
    }
    if (g_stage.session_order_wait_ms > 0 &&
        session_order_new(&r.order, g_common.database_url, r.loop, r.pl.db,
                          g_stage.session_order_wait_ms, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, NULL, "session order failed", "error", err, (char *)NULL);
        goto out;
    }
    const char *topics[] = {KAFKA_TOPIC_CHAT_REQUESTS};
    kafka_topic_ensure(r.pl.producer, KAFKA_TOPIC_CHAT_REQUESTS, 0, 5000, err, sizeof(err));
    kafka_topic_ensure(r.pl.producer, KAFKA_TOPIC_DLQ, 0, 5000, err, sizeof(err));
    struct stage_opts so = {
        .name = "router",
        .brokers = g_common.kafka_brokers,
        .group_id = g_group,
        .topics = topics,
        .ntopics = 1,
        .producer = r.pl.producer,
        .loop = r.loop,
        .max_inflight = g_stage.max_inflight,
        .drain_timeout_ms = g_stage.drain_ms,
        .metrics_listen = g_stage.metrics_listen,
        .metrics_token = g_stage.metrics_token,
        .handlers = {.start = start_job, .validate = validate, .opaque = &r},
    };
    if (stage_new(&r.stage, &so, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, NULL, "consumer failed", "error", err, (char *)NULL);
        goto out;
    }
    rc = stage_run_until_signal(r.stage) == 0 ? 0 : 1;
out:
    /* Calls still in flight are cancelled; their callbacks release the jobs uncommitted. The
     * producer goes before the stage: its last flush delivers (or gives up on) the routed
     * messages still awaited, whose reports stage_free then runs to release those jobs; they
     * post through the loop, which therefore outlives both. */
    llm_client_free(r.llm);
    usage_stop(); /* after the client: cancelled calls are recorded too */
    session_order_free(r.order);
    llm_set_proxy(NULL);
    kafka_producer_free(r.pl.producer);
    r.pl.producer = NULL;
    stage_free(r.stage);
    httploop_free(r.loop);
    pipeline_close(&r.pl);
    config_free(g_config, NCONFIG);
    log_kv(LOG_INFO, NULL, "router stopped", (char *)NULL);
    return rc;
}
