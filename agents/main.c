/* agenthub-agent — the domain-agent stage.
 *
 *   agenthub-agent [--agent NAME]...
 *
 * Without --agent it serves every agent: it subscribes to the pattern ^agenthub\.agent\..*
 * (group agenthub-agents: several processes share the work), so an agent created later through
 * the admin API is served without a restart, once its topic exists and the consumer's metadata
 * refresh (every 1 s, KAFKA_TOPIC_METADATA_REFRESH_INTERVAL_MS) has seen it and the group has
 * rebalanced. The topics of the
 * agents active at start are created first if missing (agents seeded by SQL have none yet).
 * With --agent NAME (repeatable) it consumes agenthub.agent.<NAME> only: a process, or a
 * group (AGENT_GROUP_ID), dedicated to busy agents. --all-topics is the default's old name.
 * Each routed job runs the tool-calling loop in job.c; thousands are in flight on one loop
 * thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "usage.h"
#include "session_order.h"
#include "config.h"
#include "doc_context.h"
#include "fernet.h"
#include "kafka.h"
#include "llm_env.h"
#include "log.h"
#include "ssrf.h"
#include "tool_token.h"

static struct config_common g_common;
static struct pipeline_stage_settings g_stage;
static struct llm_env_settings g_llm_env;
static char *g_group;
static char *g_allowed_hosts;
static long g_max_iter = 4;
static long g_history = 10;
static long g_attach_chars = DOC_CONTEXT_DEFAULT_MAX_CHARS;
static long g_token_ttl = 3600;
static char *g_tool_key_file;
static char *g_tool_iss;
static long g_tool_ttl = TOOL_TOKEN_DEFAULT_TTL_S;
static char *g_tool_kid;

static const struct config_entry g_config[] = {
    CONFIG_COMMON_ENTRIES(&g_common),
    PIPELINE_STAGE_ENTRIES(&g_stage),
    LLM_ENV_ENTRIES(&g_llm_env),
    {"AGENT_GROUP_ID", CONFIG_STRING, "agenthub-agents", 0, 0, 0, "Kafka consumer group", &g_group},
    {"AGENT_MAX_TOOL_ITERATIONS", CONFIG_INT, "4", 1, 20, 0,
     "tool-calling rounds per job before the model must answer", &g_max_iter},
    {"AGENT_HISTORY_MESSAGES", CONFIG_INT, "10", 0, 200, 0,
     "earlier messages of the session given to the model", &g_history},
    {"AGENT_ATTACHMENT_MAX_CHARS", CONFIG_INT, "12000", 100, 1000000, 0,
     "characters of attached documents' text a chat message gives the model (pages in order, "
     "the rest left out with a note)",
     &g_attach_chars},
    {"AGENT_USER_TOKEN_TTL_S", CONFIG_INT, "3600", 0, 86400, 0,
     "max age of the Fernet-wrapped user JWT in a routed job (0: no check)", &g_token_ttl},
    {"TOOL_ALLOWED_HOSTS", CONFIG_STRING, "", 0, 0, 0,
     "comma-separated host:port pairs exempt from the tools' SSRF guard (e.g. 127.0.0.1:18090 "
     "for a local ERP; a bare host is refused at start)",
     &g_allowed_hosts},
    {"TOOL_TOKEN_KEY_FILE", CONFIG_STRING, "", 0, 0, CONFIG_SECRET,
     "PEM RSA private key (2048+ bits) that signs a per-call token for inject_jwt tools "
     "(token_use tool, aud = the tool's jwt_audience or endpoint origin); its public key is "
     "never in JWT_PUBLIC_KEY_FILE. Unset: the user's token only when jwt_audience is its aud",
     &g_tool_key_file},
    {"TOOL_TOKEN_ISSUER", CONFIG_STRING, TOOL_TOKEN_DEFAULT_ISSUER, 0, 0, 0,
     "iss claim of the per-call tool tokens", &g_tool_iss},
    {"TOOL_TOKEN_TTL_S", CONFIG_INT, "60", TOOL_TOKEN_MIN_TTL_S, TOOL_TOKEN_MAX_TTL_S, 0,
     "lifetime of a per-call tool token (exp - iat), seconds", &g_tool_ttl},
    {"TOOL_TOKEN_KID", CONFIG_STRING, "", 0, 0, 0,
     "kid header of the per-call tool tokens (empty: none)", &g_tool_kid},
};
#define NCONFIG (sizeof(g_config) / sizeof(g_config[0]))

extern int agent_closing;

static int valid_agent_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return n > 0 && n <= 100;
}

#define AGENT_TOPIC_PATTERN "^agenthub\\.agent\\..*"

/* Creates the topics of the agents active now, if missing (best effort: the pattern
 * subscription finds them whenever they appear). */
static void ensure_active_agent_topics(struct pgpool *db, struct kafka_producer *producer)
{
    char err[512] = "", topic[256];
    PGresult *res = NULL;
    if (pgpool_exec(db, &res, "SELECT name FROM agent_configs WHERE is_active = TRUE ORDER BY name",
                    0, NULL, err, sizeof(err)) != PG_OK) {
        log_kv(LOG_WARN, NULL, "agents could not be listed; their topics are not checked", "error",
               err, (char *)NULL);
        PQclear(res);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        snprintf(topic, sizeof(topic), "%s%s", KAFKA_TOPIC_AGENT_PREFIX, PQgetvalue(res, i, 0));
        if (kafka_topic_ensure(producer, topic, 0, 3000, err, sizeof(err)) != 0)
            log_kv(LOG_WARN, NULL, "topic ensure failed", "topic", topic, "error", err,
                   (char *)NULL);
    }
    if (PQntuples(res) == 0)
        log_kv(LOG_WARN, NULL, "no active agents yet; serving each one as it is created",
               (char *)NULL);
    PQclear(res);
}

int main(int argc, char **argv)
{
    int rc = 1;
    char err[512] = "";
    struct agent_svc svc;
    char **topics = NULL;
    size_t ntopics = 0;
    memset(&svc, 0, sizeof(svc));
    int argi =
        config_main_args(argc, argv, "agenthub-agent", "[--agent NAME]...", g_config, NCONFIG);
    enum log_level lvl = LOG_INFO;
    log_level_parse(g_common.log_level, &lvl);
    log_init("agent", lvl);
    /* an allow-list names host AND port: a bare host would open every port of it */
    if (g_allowed_hosts && *g_allowed_hosts &&
        ssrf_allowlist_valid(g_allowed_hosts, 1, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, NULL, "TOOL_ALLOWED_HOSTS is invalid (entries are host:port)", "error",
               err, (char *)NULL);
        rc = 2;
        goto out;
    }

    if (g_tool_key_file && *g_tool_key_file) {
        if (tool_token_key_load(&svc.tool_key, g_tool_key_file, g_tool_iss, g_tool_kid, g_tool_ttl,
                                err, sizeof(err)) != 0) {
            log_kv(LOG_ERROR, NULL, "TOOL_TOKEN_KEY_FILE is not usable", "error", err,
                   (char *)NULL);
            rc = 2;
            goto out;
        }
        log_kv(LOG_INFO, NULL, "inject_jwt tools get per-call tool tokens", "iss",
               g_tool_iss && *g_tool_iss ? g_tool_iss : TOOL_TOKEN_DEFAULT_ISSUER, (char *)NULL);
    }

    topics = calloc((size_t)argc + 1, sizeof(char *));
    if (!topics)
        goto out;
    for (int i = argi; i < argc; i++) {
        if (strcmp(argv[i], "--all-topics") == 0)
            continue; /* the default */
        if (strcmp(argv[i], "--agent") == 0 && i + 1 < argc) {
            if (!valid_agent_name(argv[i + 1])) {
                fprintf(stderr, "agenthub-agent: invalid agent name '%s'\n", argv[i + 1]);
                rc = 2;
                goto out;
            }
            if (asprintf(&topics[ntopics], "%s%s", KAFKA_TOPIC_AGENT_PREFIX, argv[i + 1]) < 0)
                goto out;
            ntopics++;
            i++;
        } else {
            fprintf(stderr, "usage: agenthub-agent [--agent NAME]...\n");
            rc = 2;
            goto out;
        }
    }
    int every_agent = ntopics == 0;

    if (pipeline_open(&svc.pl, &g_common, (int)g_stage.pg_pool, 0) != 0)
        goto out;
    if (every_agent) {
        ensure_active_agent_topics(svc.pl.db, svc.pl.producer);
        topics[ntopics] = strdup(AGENT_TOPIC_PATTERN);
        if (!topics[ntopics])
            goto out;
        ntopics++;
        log_kv(LOG_INFO, NULL, "serving every agent", "pattern", topics[0], (char *)NULL);
    } else {
        for (size_t i = 0; i < ntopics; i++) {
            if (kafka_topic_ensure(svc.pl.producer, topics[i], 0, 3000, err, sizeof(err)) != 0)
                log_kv(LOG_WARN, NULL, "topic ensure failed", "topic", topics[i], "error", err,
                       (char *)NULL);
            log_kv(LOG_INFO, NULL, "serving", "topic", topics[i], (char *)NULL);
        }
    }
    kafka_topic_ensure(svc.pl.producer, KAFKA_TOPIC_DLQ, 0, 5000, err, sizeof(err));
    if (httploop_new(&svc.loop) != 0) {
        log_kv(LOG_ERROR, NULL, "httploop failed", (char *)NULL);
        goto out;
    }
    if (llm_set_proxy(g_stage.llm_proxy) != 0) {
        log_kv(LOG_ERROR, NULL, "llm client failed", "error", "out of memory", (char *)NULL);
        goto out;
    }
    if (llm_client_new(&svc.llm, svc.loop, svc.pl.rc, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, NULL, "llm client failed", "error", err, (char *)NULL);
        goto out;
    }
    if (usage_start(svc.pl.db, svc.pl.rc, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, NULL, "usage recorder failed", "error", err, (char *)NULL);
        goto out;
    }
    svc.fernet_key = g_common.fernet_key;
    /* sealed tool config secrets (tools/tool_secret.h) open with their own purpose key */
    static char tool_secret_key[FERNET_KEY_B64_LEN];
    if (g_common.fernet_key && *g_common.fernet_key &&
        fernet_purpose_key(g_common.fernet_key, FERNET_PURPOSE_TOOL_SECRET, tool_secret_key) ==
            FERNET_OK)
        svc.tool_secret_key = tool_secret_key;
    svc.chroma_url = g_common.chroma_url;
    svc.allowed_hosts = g_allowed_hosts && *g_allowed_hosts ? g_allowed_hosts : NULL;
    svc.max_tool_iterations = g_max_iter;
    svc.history_messages = g_history;
    svc.attachment_max_chars = g_attach_chars;
    svc.user_token_ttl_s = g_token_ttl;
    svc.llm_timeout_ms = g_stage.llm_timeout_ms;
    svc.llm_max_retries = g_stage.llm_retries;
    if (g_stage.session_order_wait_ms > 0 &&
        session_order_new(&svc.order, g_common.database_url, svc.loop, svc.pl.db,
                          g_stage.session_order_wait_ms, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, NULL, "session order failed", "error", err, (char *)NULL);
        goto out;
    }
    struct stage_opts so = {
        .name = "agent",
        .brokers = g_common.kafka_brokers,
        .group_id = g_group,
        .topics = (const char *const *)topics,
        .ntopics = ntopics,
        .producer = svc.pl.producer,
        .loop = svc.loop,
        .max_inflight = g_stage.max_inflight,
        .drain_timeout_ms = g_stage.drain_ms,
        .metrics_listen = g_stage.metrics_listen,
        .metrics_token = g_stage.metrics_token,
        .handlers = {.start = agent_job_start,
                     .validate = agent_job_validate,
                     .prefetch = agent_jobs_prefetch,
                     .opaque = &svc},
    };
    if (stage_new(&svc.stage, &so, err, sizeof(err)) != 0) {
        log_kv(LOG_ERROR, NULL, "consumer failed", "error", err, (char *)NULL);
        goto out;
    }
    rc = stage_run_until_signal(svc.stage) == 0 ? 0 : 1;
out:
    agent_closing = 1;
    session_order_free(svc.order);
    llm_client_free(svc.llm);
    usage_stop(); /* after the client: cancelled calls are recorded too */
    llm_set_proxy(NULL);
    httploop_free(svc.loop);
    stage_free(svc.stage);
    pipeline_close(&svc.pl);
    tool_token_key_free(svc.tool_key);
    for (size_t i = 0; topics && i < ntopics; i++)
        free(topics[i]);
    free(topics);
    config_free(g_config, NCONFIG);
    if (rc != 2) /* 2: a usage or setting error; it never started */
        log_kv(LOG_INFO, NULL, "agent stopped", (char *)NULL);
    return rc;
}
