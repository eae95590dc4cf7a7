/* main.c — agenthub-ingress: configuration, dependencies, civetweb, signals.
 *
 * civetweb serves each connection on one worker thread for its whole life, so an open SSE
 * stream holds a thread. INGRESS_THREADS sizes the pool (all threads are created at start).
 * The Debian build of civetweb 1.15 gives its workers fixed 100 KiB stacks (USE_STACK_SIZE),
 * of which about 24 KiB get touched: that, not our code, is most of the per-thread RSS.
 * INGRESS_THREAD_STACK_KB sets the default stack of every other thread (the events consumer,
 * librdkafka's and libpq's threads) through pthread_setattr_default_np.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "accept.h"
#include "auth.h"
#include "keyauth.h"
#include "config.h"
#include "ctab.h"
#include "ingress.h"
#include "limits.h"
#include "usage.h"
#include "llm_env.h"
#include "log.h"
#include "ocr.h"
#include "cluster_metrics.h"
#include "metrics.h"
#include "sse.h"
#include "ssrf.h"
#include "sseloop.h"

#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_STACK_KB "1024"
#else
#define DEFAULT_STACK_KB "256"
#endif

static struct ingress app;
static struct llm_env_settings g_llm_env;

/* INGRESS_MAX_STREAMS's default with the SSE loop: streams then cost a socket, not a thread
 * (the process's descriptor limit is the other bound). */
#define SSE_LOOP_DEFAULT_STREAMS 50000

static const struct config_entry table[] = {
    CONFIG_COMMON_ENTRIES(&app.cfg.common),
    LLM_ENV_ENTRIES(&g_llm_env),
    {"INGRESS_LISTEN", CONFIG_STRING, "127.0.0.1:8080", 0, 0, 0, "host:port to bind",
     &app.cfg.listen},
    {"INGRESS_THREADS", CONFIG_INT, "1024", 4, 60000, 0,
     "civetweb worker threads = concurrent connections (each SSE stream holds one)",
     &app.cfg.threads},
    {"INGRESS_MAX_STREAMS", CONFIG_INT, "0", 0, 60000, 0,
     "requests held open at once (SSE streams, ?wait long-polls); beyond it SSE answers 503 "
     "and a long-poll answers at once (0: 50000 with INGRESS_SSE_LOOP, else INGRESS_THREADS "
     "minus min(64, INGRESS_THREADS/4), the threads kept for API requests, which also bounds "
     "the requests that hold a thread)",
     &app.cfg.max_streams},
    {"INGRESS_THREAD_STACK_KB", CONFIG_INT, DEFAULT_STACK_KB, 128, 65536, 0,
     "default stack size (KiB) of threads civetweb does not size itself", &app.cfg.thread_stack_kb},
    {"INGRESS_MAX_BODY", CONFIG_INT, "1048576", 1024, 1073741824, 0,
     "largest request body in bytes (413 above)", &app.cfg.max_body},
    {"INGRESS_MAX_HEADER", CONFIG_INT, "16384", 1024, 1048576, 0,
     "largest request head (request line + headers) in bytes", &app.cfg.max_header},
    {"INGRESS_REQUEST_TIMEOUT_MS", CONFIG_INT, "5000", 100, 3600000, 0,
     "longest a connection may take to send a whole request head (a connection that sends "
     "nothing, or a head at 1 byte/s, loses its worker thread after this) and longest any one "
     "socket read or write may stall; SSE streams and long-polls are not bounded by it",
     &app.cfg.request_timeout_ms},
    {"INGRESS_PUBLISH_TIMEOUT_MS", CONFIG_INT, "5000", 100, 120000, 0,
     "how long POST /chat waits for the broker's ack before answering 503",
     &app.cfg.publish_timeout_ms},
    {"INGRESS_MAX_WAIT_S", CONFIG_INT, "60", 0, 3600, 0, "largest ?wait=N (seconds)",
     &app.cfg.max_wait_s},
    {"INGRESS_SSE_HEARTBEAT_S", CONFIG_INT, "15", 1, 3600, 0, "SSE comment heartbeat interval",
     &app.cfg.sse_heartbeat_s},
    {"INGRESS_SSE_POLL_MS", CONFIG_INT, "1000", 50, 60000, 0,
     "streams re-read Redis at least this often (Kafka wakes them sooner)", &app.cfg.sse_poll_ms},
    {"INGRESS_SSE_MAX_S", CONFIG_INT, "3600", 1, 86400, 0,
     "longest an SSE stream stays open (clients reconnect with Last-Event-ID)", &app.cfg.sse_max_s},
    {"INGRESS_STARTUP_WAIT_S", CONFIG_INT, "30", 0, 3600, 0,
     "how long to retry an unreachable PostgreSQL at start before exiting 1",
     &app.cfg.startup_wait_s},
    {"INGRESS_PG_POOL", CONFIG_INT, "32", 1, 1000, 0,
     "PostgreSQL connections (an accept batch holds one until the broker acked)", &app.cfg.pg_pool},
    {"INGRESS_ACCEPT_BATCH", CONFIG_INT, "128", 1, 1024, 0,
     "most chat requests accepted in one transaction (group commit; 1 = one each)",
     &app.cfg.accept_batch},
    {"INGRESS_ACCEPT_INFLIGHT", CONFIG_INT, "4", 1, 64, 0,
     "accept transactions in flight at once (each holds a connection until the broker acked)",
     &app.cfg.accept_inflight},
    {"INGRESS_ACCEPT_SHARE_AT", CONFIG_INT, "8", 1, 1024, 0,
     "pending chat requests needed to start a batch beside one in flight (1 = at once)",
     &app.cfg.accept_share_at},
    {"INGRESS_CORS_ORIGINS", CONFIG_STRING, "", 0, 0, 0,
     "comma-separated allowed browser origins, or *", &app.cfg.cors_origins},
    {"JWT_PUBLIC_KEY_FILE", CONFIG_STRING, NULL, 0, 0, CONFIG_REQUIRED,
     "PEM public key(s) for RS256: a file (each key optionally after '# kid: NAME') or a "
     "directory of NAME.pem",
     &app.cfg.jwt_public_key_file},
    {"JWT_LEEWAY_S", CONFIG_INT, "30", 0, 3600, 0, "clock skew allowed on exp/nbf",
     &app.cfg.jwt_leeway_s},
    {"JWT_ISSUER", CONFIG_STRING, "", 0, 0, 0, "required iss claim (empty: not checked)",
     &app.cfg.jwt_issuer},
    {"JWT_AUDIENCE", CONFIG_STRING, "", 0, 0, 0,
     "required aud claim, a string or an array containing it (empty: not checked)",
     &app.cfg.jwt_audience},
    {"JWT_MAX_LIFETIME_S", CONFIG_INT, "86400", 0, 31622400, 0,
     "longest token lifetime accepted (exp - iat, seconds); iat is then required "
     "(0: not checked)",
     &app.cfg.jwt_max_lifetime_s},
    {"JWT_QUERY_TOKEN_MAX_S", CONFIG_INT, "300", 1, 3600, 0,
     "a ?access_token= (event streams only) must have exp - iat and exp - now at most this",
     &app.cfg.jwt_query_token_max_s},
    {"OPERATOR_PUBLIC_KEY_FILE", CONFIG_STRING, "", 0, 0, 0,
     "PEM public key(s) of the platform operators (same formats as JWT_PUBLIC_KEY_FILE, keys "
     "must differ from it); empty: no operator, operator-only admin routes answer 403",
     &app.cfg.operator_public_key_file},
    {"INGRESS_WEB_ROOT", CONFIG_STRING, "build/web", 0, 0, 0,
     "folder of the built web console (compose/local/web-build)", &app.cfg.web_root},
    {"INGRESS_LIMITS", CONFIG_BOOL, "true", 0, 0, 0,
     "check per-tenant request limits and monthly budgets on POST /chat (Redis; README Usage)",
     &app.cfg.limits},
    {"INGRESS_RATE_WINDOW_S", CONFIG_INT, "60", 1, 3600, 0,
     "the window of the per-tenant requests-per-minute limits (seconds; tests shorten it)",
     &app.cfg.rate_window_s},
    /* ---- SSE streams on the ingress's own event loop (sseloop.h, issue 16) ---- */
    {"INGRESS_SSE_LOOP", CONFIG_BOOL, "true", 0, 0, 0,
     "job event streams of unfinished jobs leave civetweb's thread for the SSE event loop once "
     "their head is written (false: each stream holds a worker thread)",
     &app.cfg.sse_loop},
    {"INGRESS_SSE_BUFFER_KB", CONFIG_INT, "256", 4, 65536, 0,
     "most bytes an SSE loop stream may fall behind (its socket not taking them) before it is "
     "dropped as a slow consumer",
     &app.cfg.sse_buffer_kb},
    {"INGRESS_SSE_WRITERS", CONFIG_INT, NULL, 1, 64, 0,
     "threads writing one event to all its streams, the loop thread among them (default: the "
     "number of cores)",
     &app.cfg.sse_writers},
    /* ---- document uploads (routes_documents.c) ---- */
    {"DOCUMENTS_MAX_FILES", CONFIG_INT, "20", 1, 1000, 0,
     "documents per batch (more: 400 too_many_documents)", &app.cfg.docs_max_files},
    {"DOCUMENTS_MAX_FILE_BYTES", CONFIG_INT, "10485760", 1, OCR_MAX_IMAGE_BYTES, 0,
     "bytes per document (more: 413)", &app.cfg.docs_max_file_bytes},
    {"DOCUMENTS_MAX_BODY", CONFIG_INT, "67108864", 1024, 1073741824, 0,
     "bytes per upload request body (more: 413)", &app.cfg.docs_max_body},
    {"INGRESS_EVENTS_CONSUMER", CONFIG_BOOL, "true", 0, 0, 0,
     "consume agenthub.chat.events to wake streams (else poll Redis only)",
     &app.cfg.events_consumer},
    /* ---- availability: fair shares, slow clients, cached checks (issue 17) ---- */
    {"INGRESS_MAX_STREAMS_PER_USER", CONFIG_INT, "32", 0, 60000, 0,
     "requests one user (tenant + sub) may hold open at once (SSE, ?wait); beyond it SSE "
     "answers 429 too_many_streams and a long-poll answers at once (0: INGRESS_MAX_STREAMS)",
     &app.cfg.max_streams_user},
    {"INGRESS_MAX_STREAMS_PER_TENANT", CONFIG_INT, "0", 0, 60000, 0,
     "requests one tenant may hold open at once; beyond it as per user (0: three quarters of "
     "INGRESS_MAX_STREAMS, rounded up)",
     &app.cfg.max_streams_tenant},
    {"INGRESS_IDLE_DEFER_S", CONFIG_INT, "30", 0, 3600, 0,
     "a new connection that sends nothing waits in the kernel (TCP_DEFER_ACCEPT) about this "
     "long before it gets a worker thread, and then has INGRESS_REQUEST_TIMEOUT_MS (0: off)",
     &app.cfg.idle_defer_s},
    {"INGRESS_KEEPALIVE_TIMEOUT_MS", CONFIG_INT, "3000", 0, 600000, 0,
     "how long an idle kept-alive connection keeps its worker thread waiting for the next "
     "request",
     &app.cfg.keepalive_timeout_ms},
    {"INGRESS_TENANT_CACHE_MS", CONFIG_INT, "1000", 0, 600000, 0,
     "how long a tenant's is_active is cached: a deactivated tenant is refused (403 "
     "tenant_inactive) within this bound (0: read on every request)",
     &app.cfg.tenant_cache_ms},
    {"INGRESS_API_KEY_CACHE_MS", CONFIG_INT, "2000", 0, 60000, 0,
     "how long a tenant API key's check (accepted or refused) is cached in each ingress "
     "process; a revoked key is refused by every process within this bound (0: read on "
     "every request)",
     &app.cfg.api_key_cache_ms},
    {"INGRESS_API_KEY_TOUCH_S", CONFIG_INT, "60", 1, 86400, 0,
     "api_keys.last_used_at is written at most once per this interval per key",
     &app.cfg.api_key_touch_s},
    {"INGRESS_OPENAI_WAIT_S", CONFIG_INT, "120", 1, 3600, 0,
     "how long a non-streaming POST /v1/chat/completions waits for the job's answer before "
     "504 timeout (the job goes on; its id is in the error)",
     &app.cfg.openai_wait_s},
    {"INGRESS_READY_CACHE_MS", CONFIG_INT, "1000", 0, 600000, 0,
     "GET /ready probes PostgreSQL, Redis and Kafka at most once per this window (single "
     "flight; 0: one probe shared by the callers that arrive while it runs)",
     &app.cfg.ready_cache_ms},
    {"INGRESS_METRICS_TARGETS", CONFIG_STRING, "", 0, 0, 0,
     "the other processes' /metrics the monitoring dashboard shows: name=host:port (their "
     "METRICS_LISTEN) or name=http://host:port/metrics, comma-separated; the ingress itself "
     "is always there (GET /api/admin/metrics/cluster)",
     &app.cfg.metrics_targets},
    {"INGRESS_METRICS_SCRAPE_MS", CONFIG_INT, "1000", 100, 60000, 0,
     "how often the ingress scrapes itself and INGRESS_METRICS_TARGETS into the dashboard's "
     "in-memory history (5 min of scrapes, 1 h of every 10th, 24 h of every 300th)",
     &app.cfg.metrics_scrape_ms},
    {"TOOL_ALLOWED_HOSTS", CONFIG_STRING, "", 0, 0, 0,
     "host:port pairs exempt from the SSRF guard for the admin panel's tool tests (POST "
     "/api/admin/tools/{id}/test), as for the agents; a bare host is refused at start",
     &app.cfg.tool_allowed_hosts},
    {"METRICS_TOKEN", CONFIG_STRING, "", 0, 0, CONFIG_SECRET,
     "bearer token GET /metrics requires (constant-time compare; 401 without it); empty: "
     "/metrics is open (set it in production)",
     &app.cfg.metrics_token},
    {"DOCUMENTS_TENANT_INFLIGHT_BYTES", CONFIG_INT, "134217728", 1024, 68719476736, 0,
     "upload body bytes one tenant may have in progress at once (a body counts with its "
     "Content-Length, or DOCUMENTS_MAX_BODY when chunked); beyond it 429 too_many_uploads",
     &app.cfg.docs_tenant_bytes},
    {"DOCUMENTS_TENANT_INFLIGHT_UPLOADS", CONFIG_INT, "8", 1, 10000, 0,
     "uploads one tenant may have in progress at once (each holds a worker thread while its "
     "body arrives); beyond it 429 too_many_uploads",
     &app.cfg.docs_tenant_uploads},
    {"DOCUMENTS_INFLIGHT_BYTES", CONFIG_INT, "536870912", 1024, 68719476736, 0,
     "upload body bytes in progress at once, all tenants together; beyond it 503 busy",
     &app.cfg.docs_total_bytes},
};
#define NTABLE (sizeof table / sizeof table[0])

static int civet_log(const struct mg_connection *conn, const char *message)
{
    log_kv(LOG_WARN, NULL, "civetweb", "detail", message, (char *)NULL);
    return 1;
}

/* TCP_DEFER_ACCEPT on civetweb's listening sockets (civetweb 1.15 has no option for it, so
 * they are found among our descriptors: every listening TCP socket of this process is one of
 * civetweb's). A connection that sends no byte then stays in the kernel for about `seconds`
 * instead of taking a worker thread at once: idle connections cost the pool INGRESS_REQUEST_
 * TIMEOUT_MS of a thread per INGRESS_IDLE_DEFER_S, not all of it. Returns how many were set. */
static int defer_accept_listeners(int seconds)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d || seconds <= 0) {
        if (d)
            closedir(d);
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        int on = 0, type = 0;
        socklen_t l = sizeof on, tl = sizeof type;
        struct sockaddr_storage ss = {0};
        socklen_t sl = sizeof ss;
        if (*end || fd < 0 || fd == dirfd(d))
            continue;
        if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &l) != 0 || !on ||
            getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM ||
            getsockname((int)fd, (struct sockaddr *)&ss, &sl) != 0 ||
            (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
            continue;
        if (setsockopt((int)fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof seconds) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* The events consumer's notifications reach the SSE loop's streams too. */
static void loop_listener(void *ctx, const char *job_id)
{
    sseloop_notify(ctx, job_id);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    char err[512];
    int rc = 1;
    enum log_level lvl = LOG_INFO;
    sigset_t sigs;

    config_main(argc, argv, "agenthub-ingress", table, NTABLE);
    documents_set_limits(app.cfg.docs_max_files, app.cfg.docs_max_file_bytes,
                         app.cfg.docs_max_body);
    if (log_level_parse(app.cfg.common.log_level, &lvl) != 0)
        lvl = LOG_INFO;
    log_init("ingress", lvl);
    raise_nofile();
    if (app.cfg.tool_allowed_hosts && *app.cfg.tool_allowed_hosts &&
        ssrf_allowlist_valid(app.cfg.tool_allowed_hosts, 1, err, sizeof err) != 0) {
        log_error(NULL, "TOOL_ALLOWED_HOSTS is invalid (entries are host:port): %s", err);
        return 2;
    }
    /* Requests that hold a worker thread (long-polls, streams the SSE loop does not take)
     * leave some threads for API requests; the SSE loop's streams hold none. */
    long keep = app.cfg.threads / 4 < 64 ? app.cfg.threads / 4 : 64;
    app.cfg.thread_streams = app.cfg.threads - keep;
    if (app.cfg.max_streams == 0)
        app.cfg.max_streams = app.cfg.sse_loop ? SSE_LOOP_DEFAULT_STREAMS : app.cfg.thread_streams;
    if (app.cfg.max_streams_tenant == 0)
        app.cfg.max_streams_tenant = app.cfg.max_streams - app.cfg.max_streams / 4;
    if (app.cfg.max_streams_user == 0)
        app.cfg.max_streams_user = app.cfg.max_streams;

    /* Signals are taken by sigwait below; every thread started from here on inherits the
     * blocked mask. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    pthread_attr_t attr;
    if (pthread_attr_init(&attr) == 0) {
        pthread_attr_setstacksize(&attr, (size_t)app.cfg.thread_stack_kb * 1024);
        if (pthread_setattr_default_np(&attr) != 0)
            log_warn(NULL, "cannot set the default thread stack size");
        pthread_attr_destroy(&attr);
    }

    struct auth_opts ao = {.key_path = app.cfg.jwt_public_key_file,
                           .operator_key_path = app.cfg.operator_public_key_file,
                           .leeway_s = app.cfg.jwt_leeway_s,
                           .issuer = app.cfg.jwt_issuer,
                           .audience = app.cfg.jwt_audience,
                           .max_lifetime_s = app.cfg.jwt_max_lifetime_s};
    if (auth_new_opts(&app.auth, &ao, err, sizeof err) != 0) {
        log_error(NULL, "jwt keys: %s", err);
        rc = 2;
        goto out;
    }
    /* PostgreSQL may still be starting (compose, orchestrators): retry for a while, still
     * answering SIGTERM. Redis and Kafka connect lazily and need no wait. */
    for (long waited = 0;; waited++) {
        if (pgpool_open(&app.db, app.cfg.common.database_url, (int)app.cfg.pg_pool, err,
                        sizeof err) == 0)
            break;
        if (waited >= app.cfg.startup_wait_s) {
            log_error(NULL, "postgres: %s", err);
            goto out;
        }
        if (waited == 0)
            log_warn(NULL, "postgres not reachable yet; retrying for %ld s",
                     app.cfg.startup_wait_s);
        struct timespec one = {1, 0};
        if (sigtimedwait(&sigs, NULL, &one) > 0) {
            log_info(NULL, "signal during startup: exiting");
            rc = 0;
            goto out;
        }
    }
    if (rcache_open(&app.rc, app.cfg.common.redis_url, err, sizeof err) != 0) {
        log_error(NULL, "redis: %s", err);
        goto out;
    }
    /* A chat.request that was not acknowledged within INGRESS_PUBLISH_TIMEOUT_MS has been
     * answered 503 and rolled back: librdkafka must give up on it by then too, instead of
     * delivering it minutes later (message.timeout.ms defaults to 300 s). An explicit
     * KAFKA_MESSAGE_TIMEOUT_MS wins. */
    char mt[24];
    snprintf(mt, sizeof mt, "%ld", app.cfg.publish_timeout_ms);
    const char *const producer_settings[] = {"message.timeout.ms", mt, NULL};
    if (kafka_producer_new_with(&app.prod, app.cfg.common.kafka_brokers, producer_settings, err,
                                sizeof err) != 0) {
        log_error(NULL, "kafka producer: %s", err);
        goto out;
    }
    if (accept_batcher_new(&app.accept, app.db, app.prod, app.rc, (int)app.cfg.accept_batch,
                           (int)app.cfg.accept_inflight, (int)app.cfg.publish_timeout_ms) != 0) {
        log_error(NULL, "out of memory");
        goto out;
    }
    accept_batcher_set_share_at(app.accept, (int)app.cfg.accept_share_at);
    if (app.cfg.limits) {
        limits_set_window(app.cfg.rate_window_s);
        accept_batcher_set_precheck(app.accept, limits_precheck, app.rc);
    }
    /* Accounting of the embedding calls knowledge ingestion makes here (llm/usage.h). */
    if (usage_start(app.db, app.rc, err, sizeof err) != 0) {
        log_error(NULL, "usage recorder: %s", err);
        goto out;
    }
    if (ctab_new(&app.holds) != 0 || tenant_cache_new(&app.tenants) != 0 ||
        keyauth_new(&app.keys, app.db, app.cfg.api_key_cache_ms, app.cfg.api_key_touch_s) != 0) {
        log_error(NULL, "out of memory");
        goto out;
    }
    if (sse_hub_new(&app.hub) != 0) {
        log_error(NULL, "out of memory");
        goto out;
    }
    if (app.cfg.sse_loop) {
        if (sseloop_new(&app.loop, &app, err, sizeof err) != 0) {
            log_error(NULL, "cannot start the SSE loop: %s", err);
            goto out;
        }
        sse_hub_set_listener(app.hub, loop_listener, app.loop);
    }
    if (sse_hub_start_redis_wakeups(app.hub, app.cfg.common.redis_url) != 0)
        log_warn(NULL, "Redis wake-ups not started; streams wake by Kafka and polling");
    if (app.cfg.events_consumer &&
        sse_hub_start_consumer(app.hub, app.cfg.common.kafka_brokers, err, sizeof err) != 0)
        log_warn(NULL, "events consumer not started (%s); streams poll Redis", err);
    if (!app.cfg.common.fernet_key || !app.cfg.common.fernet_key[0])
        log_warn(NULL, "FERNET_KEY is not set: chat requests carry no user_token and "
                       "llm-config writes are refused");

    char threads[16], timeout[16], maxhdr[16], keepalive[16];
    snprintf(threads, sizeof threads, "%ld", app.cfg.threads);
    snprintf(timeout, sizeof timeout, "%ld", app.cfg.request_timeout_ms);
    snprintf(maxhdr, sizeof maxhdr, "%ld", app.cfg.max_header);
    snprintf(keepalive, sizeof keepalive, "%ld", app.cfg.keepalive_timeout_ms);
    const char *options[] = {"listening_ports", app.cfg.listen, "num_threads", threads,
                             "request_timeout_ms", timeout, "max_request_size", maxhdr,
                             "enable_keep_alive", "yes", "keep_alive_timeout_ms", keepalive,
                             "listen_backlog", "4096", "connection_queue", "4096",
                             /* Every write goes out at once: with Nagle, an SSE event sent
                              * while the client has not yet acknowledged the previous one
                              * waited for its delayed ACK (40 ms on Linux, more elsewhere). */
                             "tcp_nodelay", "1",
                             /* CORS is ours (INGRESS_CORS_ORIGINS): civetweb's default
                              * answers every preflight with "*". */
                             "access_control_allow_origin", "", NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.log_message = civet_log;
    cb.http_error = http_error_cb;
    mg_init_library(0);
    app.mg = mg_start(&cb, &app, options);
    if (!app.mg) {
        log_error(NULL, "cannot start the HTTP server on %s", app.cfg.listen);
        goto out;
    }
    mg_set_request_handler(app.mg, "/", http_handler, &app);
    if (app.cfg.idle_defer_s > 0 && defer_accept_listeners((int)app.cfg.idle_defer_s) == 0)
        log_warn(NULL, "TCP_DEFER_ACCEPT not set on the listening socket");
    metrics_set(metrics_gauge("ingress_worker_threads", "civetweb worker threads", ""),
                (double)app.cfg.threads);
    /* Present from the start, so dashboards see zeros rather than gaps. */
    metrics_set(metrics_gauge("ingress_sse_streams_open", "SSE streams currently open", ""), 0);
    metrics_inc(metrics_counter("ingress_streams_refused_total", INGRESS_STREAMS_REFUSED_HELP, ""),
                0);
    metrics_inc(metrics_counter("ingress_streams_refused_caller_total", INGRESS_STREAMS_CALLER_HELP,
                                "scope=\"user\""),
                0);
    metrics_inc(metrics_counter("ingress_streams_refused_caller_total", INGRESS_STREAMS_CALLER_HELP,
                                "scope=\"tenant\""),
                0);
    metrics_inc(metrics_counter("ingress_jobs_accepted_total", "chat jobs accepted", ""), 0);
    metrics_inc(
        metrics_counter("ingress_publish_failures_total", INGRESS_PUBLISH_FAILURES_HELP, ""), 0);
    {
        char cerr[256] = "";
        if (cluster_metrics_start(&app.cluster, &app, app.cfg.metrics_targets,
                                  app.cfg.metrics_scrape_ms, app.cfg.metrics_token, cerr,
                                  sizeof cerr) != 0) {
            log_error(NULL, "%s", cerr);
            goto out;
        }
    }
    char streams[16];
    snprintf(streams, sizeof streams, "%ld", app.cfg.max_streams);
    log_kv(LOG_INFO, NULL, "listening", "listen", app.cfg.listen, "threads", threads, "max_streams",
           streams, (char *)NULL);

    int sig = 0;
    sigwait(&sigs, &sig);
    log_info(NULL, "signal %d: shutting down", sig);
    rc = 0;
out:
    app.stopping = 1;
    if (app.hub)
        sse_hub_shutdown(app.hub);
    if (app.mg)
        mg_stop(app.mg);
    cluster_metrics_stop(app.cluster);
    sse_hub_free(app.hub); /* its consumer calls the loop: stopped first */
    sseloop_free(app.loop);
    ctab_free(app.holds);
    tenant_cache_free(app.tenants);
    keyauth_free(app.keys);
    accept_batcher_free(app.accept);
    usage_stop();
    kafka_producer_free(app.prod);
    rcache_close(app.rc);
    pgpool_close(app.db);
    auth_free(app.auth);
    config_free(table, NTABLE);
    log_info(NULL, "stopped");
    return rc;
}
