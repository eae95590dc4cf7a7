/* pipeline.h — job persistence shared by the router and the agents (both stages of the chat
 * path write the same rows and events: an UNCLEAR answer from the router ends a job exactly
 * like an agent's answer does).
 *
 * All calls are short and synchronous (PostgreSQL, Redis); they run on the stage's loop thread.
 * Terminal transitions are guarded in SQL (`WHERE status NOT IN ('done','error')`) so a
 * redelivered or raced job emits at most one `final` or `error`.
 */
#ifndef AGENTHUB_PIPELINE_H
#define AGENTHUB_PIPELINE_H

#include <json-c/json.h>
#include <stddef.h>

#include "config.h"
#include "envelope.h"
#include "kafka.h"
#include "pgpool.h"
#include "rcache.h"

struct pipeline {
    struct pgpool *db;               /* borrowed */
    struct rcache *rc;               /* borrowed; may be NULL (no cache, no events) */
    struct kafka_producer *producer; /* borrowed; chat.events (may be NULL) */
};

/* The chat path's producer (chat.events, routed messages): kafka_producer_new (which does not
 * linger: every event and routed message sits on a client's wait). message_timeout_ms > 0
 * sets message.timeout.ms (KAFKA_MESSAGE_TIMEOUT_MS still wins): every delivery report,
 * success or failure, then arrives within that bound. */
int pipeline_producer_new(struct kafka_producer **out, const char *brokers, long message_timeout_ms,
                          char *err, size_t errlen);

/* The settings the chat stages (router, agent) share; their config tables include
 * PIPELINE_STAGE_ENTRIES(&settings) after CONFIG_COMMON_ENTRIES. */
struct pipeline_stage_settings {
    long max_inflight;
    long drain_ms;
    long pg_pool;
    char *metrics_listen;
    char *metrics_token;
    long llm_timeout_ms;
    long llm_retries;
    char *llm_proxy;
    long session_order_wait_ms;
};
#define PIPELINE_STAGE_ENTRIES(s)                                                                  \
    {"STAGE_MAX_INFLIGHT",                                                                         \
     CONFIG_INT,                                                                                   \
     "5000",                                                                                       \
     1,                                                                                            \
     1000000,                                                                                      \
     0,                                                                                            \
     "jobs in flight per process; polling pauses when reached",                                    \
     &(s)->max_inflight},                                                                          \
        {"STAGE_DRAIN_TIMEOUT_MS",                                                                 \
         CONFIG_INT,                                                                               \
         "20000",                                                                                  \
         0,                                                                                        \
         600000,                                                                                   \
         0,                                                                                        \
         "on SIGTERM, how long in-flight jobs may take to finish",                                 \
         &(s)->drain_ms},                                                                          \
        {"PG_POOL_SIZE", CONFIG_INT, "4", 1, 64, 0, "PostgreSQL connections", &(s)->pg_pool},      \
        {"METRICS_LISTEN",                                                                         \
         CONFIG_STRING,                                                                            \
         "",                                                                                       \
         0,                                                                                        \
         0,                                                                                        \
         0,                                                                                        \
         "host:port serving GET /metrics (Prometheus) and /health; empty: none",                   \
         &(s)->metrics_listen},                                                                    \
        {"METRICS_TOKEN",                                                                          \
         CONFIG_STRING,                                                                            \
         "",                                                                                       \
         0,                                                                                        \
         0,                                                                                        \
         CONFIG_SECRET,                                                                            \
         "bearer token GET /metrics requires (constant-time compare); empty: open (set it in "     \
         "production)",                                                                            \
         &(s)->metrics_token},                                                                     \
        {"LLM_TIMEOUT_MS",                                                                         \
         CONFIG_INT,                                                                               \
         "0",                                                                                      \
         0,                                                                                        \
         3600000,                                                                                  \
         0,                                                                                        \
         "per-attempt LLM timeout overriding the tenant config's (0: keep it)",                    \
         &(s)->llm_timeout_ms},                                                                    \
        {"LLM_MAX_RETRIES",                                                                        \
         CONFIG_INT,                                                                               \
         "-1",                                                                                     \
         -1,                                                                                       \
         20,                                                                                       \
         0,                                                                                        \
         "LLM retries overriding the tenant config's (-1: keep it)",                               \
         &(s)->llm_retries},                                                                       \
        {"LLM_PROXY",                                                                              \
         CONFIG_STRING,                                                                            \
         "",                                                                                       \
         0,                                                                                        \
         0,                                                                                        \
         0,                                                                                        \
         "proxy URL for LLM and embedding calls; empty: none (http_proxy, HTTPS_PROXY, ALL_PROXY " \
         "in the environment are ignored)",                                                        \
         &(s)->llm_proxy},                                                                         \
    {                                                                                              \
        "SESSION_ORDER_WAIT_MS", CONFIG_INT, "120000", 0, 3600000, 0,                              \
            "how long a job waits for the earlier jobs of its session before it goes on anyway "   \
            "(session_order.h; 0: no waiting)",                                                    \
            &(s)->session_order_wait_ms                                                            \
    }

/* A stage process's connections from its settings: the PostgreSQL pool (pg_pool
 * connections), Redis and pipeline_producer_new(message_timeout_ms). Logs what failed and
 * returns -1 (pipeline_close still frees what was opened), or 0. */
int pipeline_open(struct pipeline *p, const struct config_common *c, int pg_pool,
                  long message_timeout_ms);
/* Frees the producer (if still set), Redis and the pool; fields become NULL. */
void pipeline_close(struct pipeline *p);

/* The tenant's enabled, active agents (the seed's permission join), cached under
 * agenthub:{tenant}:cache:permissions:agents for RC_TTL_PERMISSIONS. *out is a JSON array of
 * {"agent_id","name","description"} ordered by name (caller json_object_put). */
int pipeline_tenant_agents(const struct pipeline *p, const char *tenant_id, json_object **out,
                           char *err, size_t errlen);
/* One agent's configuration, cached under agenthub:{tenant}:cache:agent:{agent_id} for
 * RC_TTL_AGENT: {"agent_id","name","description","prompt_template","llm_model_id",
 * "output_format": {"name","format_type","template"} or null}. Returns 0, 1 when absent. */
int pipeline_agent_config(const struct pipeline *p, const char *tenant_id, const char *agent_id,
                          json_object **out, char *err, size_t errlen);

/* jobs.status of the job into buf ("" when there is no row). 0, or negative (pg_status). */
int pipeline_job_status(const struct pipeline *p, const struct envelope *env, char *buf,
                        size_t cap);
/* Both idempotency facts in one round trip: jobs.status ("" when no row) and whether an
 * assistant message exists for (job, part). 0, or negative (pg_status). */
int pipeline_job_state(const struct pipeline *p, const struct envelope *env, int part, char *status,
                       size_t cap, int *has_answer);
/* Makes sure the jobs row exists (producers other than the ingress, tests). */
int pipeline_job_ensure(const struct pipeline *p, const struct envelope *env);

/* Appends a job event (Redis stream + chat.events); data borrowed. Failures are logged. */
int pipeline_emit(const struct pipeline *p, const struct envelope *env, const char *event,
                  json_object *data);

/* Inserts the assistant message for (job, part) unless one exists. Returns 1 inserted,
 * 0 already there (msg_id gets the existing id), negative on failure. Also updates the
 * session (last_message_at, agent_id when agent_id is not NULL). */
int pipeline_save_assistant(const struct pipeline *p, const struct envelope *env, int part,
                            const char *content, json_object *metadata, const char *agent_id,
                            char msg_id[37], char *err, size_t errlen);
/* Is there an assistant message for (job, part)? 1 yes, 0 no, negative on failure. */
int pipeline_has_assistant(const struct pipeline *p, const struct envelope *env, int part);

/* Job done: status done + response + metadata (only if not terminal yet); when this call made
 * the transition, emits `final` {response, agent, metadata, message_id, session_id}.
 * Returns 1 when it emitted, 0 when the job was already terminal, negative on failure. */
int pipeline_job_complete(const struct pipeline *p, const struct envelope *env,
                          const char *response, json_object *metadata, const char *agent,
                          const char *message_id);
/* Job failed: status error + error {code, message} (only if not terminal), then emits `error`.
 * Returns 1 when it emitted, 0 when already terminal, negative on failure. */
/* Is the tenant active (tenants.is_active)? Read from PostgreSQL, not from a cache, once per
 * intake pass of the stage (passmemo.h: the jobs a pass starts share the answer): a job of a
 * tenant deactivated after the ingress accepted it ends `error` / tenant_inactive before any
 * LLM or tool call. 1 active, 0 inactive or deleted, or a negative pg_status (callers go on: the
 * job's own queries then fail the usual way). */
int pipeline_tenant_active(const struct pipeline *p, const char *tenant_id);
/* pipeline_tenant_active == 0: ends the job with error code tenant_inactive and returns 1;
 * else 0 (go on). */
int pipeline_refuse_inactive(const struct pipeline *p, const struct envelope *env);

int pipeline_job_fail(const struct pipeline *p, const struct envelope *env, const char *code,
                      const char *message);

/* What a failed PostgreSQL write means for a job (pgpool.h statuses):
 *   PG_ERR_UNAVAILABLE, PG_ERR_TIMEOUT  -> "storage_unavailable", transient: retry it
 *   PG_ERR_INVALID (22xxx), PG_ERR_CONFLICT, PG_ERR_FOREIGN_KEY (23xxx)
 *                                       -> "invalid_data", permanent: the data was refused
 *   PG_ERR_QUERY (anything else)        -> "storage_error", permanent
 * Returns the job error code; *transient (may be NULL) is 1 when a retry may succeed. */
const char *pipeline_storage_error(int pg_status, int *transient);

/* Saves a checkpoint under thread id tenant_{t}__user_{u}__session_{s}. state borrowed. */
int pipeline_checkpoint(const struct pipeline *p, const struct envelope *env, int part,
                        json_object *state);
void pipeline_thread_id(const struct envelope *env, char *buf, size_t cap);

#endif
