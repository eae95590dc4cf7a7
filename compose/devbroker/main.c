/* agenthub-devbroker — a local Kafka cluster for development and tests.
 *
 * Runs librdkafka's mock cluster (rdkafka_mock.h) in its own process. It speaks the real
 * Kafka protocol on loopback: produce, fetch, metadata, consumer groups (eager and
 * cooperative), offset commits, idempotent producers, CreateTopics. State lives in memory
 * only: a restart of the process starts an empty cluster.
 *
 * Fixed ports. librdkafka 2.0.2's mock brokers bind 127.0.0.1:0 (a random port) and have no
 * API to choose one. So that the stack can hand out a stable KAFKA_BROKERS, this program
 * interposes bind(2): while the cluster is being created, a bind of an IPv4 TCP socket to
 * port 0 is rewritten to DEVBROKER_PORT, DEVBROKER_PORT+1, ... (one per broker), with
 * SO_REUSEADDR so that a restart is not refused because of TIME_WAIT connections. The mock
 * brokers advertise the port they got (getsockname), so metadata carries the fixed ports.
 * DEVBROKER_PORT=0 keeps librdkafka's random ports.
 *
 * On start it creates DEVBROKER_TOPICS with DEVBROKER_PARTITIONS partitions; other topics
 * are created on first use (a metadata request or produce for the topic auto-creates it,
 * with the mock's default of 4 partitions). The 2.0.2 mock has no CreateTopics and names no
 * broker as controller; kafka_topic_ensure() detects that and falls back to auto-creation. It
 * prints `KAFKA_BROKERS=<bootstrap>` on stdout (one line, flushed) and writes the same line to
 * DEVBROKER_BOOTSTRAP_FILE when set.
 *
 * Signals: SIGTERM / SIGINT stop it (exit 0). SIGUSR1 takes every broker down (open
 * connections are closed, new ones refused; topics, messages and committed offsets are
 * kept); SIGUSR2 brings them back up. compose/local/stack uses these for `stop kafka` and
 * `start kafka`, so fault tests see the same ports and data after recovery.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config.h"
#include "log.h"

static char *g_log_level;
static long g_brokers = 1;
static long g_port = 15492;
static long g_partitions = 4;
static char *g_topics;
static char *g_bootstrap_file;

static const struct config_entry devbroker_config[] = {
    {"LOG_LEVEL", CONFIG_STRING, "info", 0, 0, 0, "debug, info, warn, error", &g_log_level},
    {"DEVBROKER_BROKERS", CONFIG_INT, "1", 1, 16, 0, "number of mock brokers", &g_brokers},
    {"DEVBROKER_PORT", CONFIG_INT, "15492", 0, 65535, 0,
     "port of the first broker (the next ones follow); 0 = random ports", &g_port},
    {"DEVBROKER_PARTITIONS", CONFIG_INT, "4", 1, 1024, 0,
     "partitions of the topics created at start", &g_partitions},
    {"DEVBROKER_TOPICS", CONFIG_STRING,
     "agenthub.chat.requests,agenthub.chat.events,agenthub.documents,agenthub.dlq", 0, 0, 0,
     "comma-separated topics created at start", &g_topics},
    {"DEVBROKER_BOOTSTRAP_FILE", CONFIG_STRING, "", 0, 0, 0,
     "if set, the KAFKA_BROKERS=... line is also written to this file", &g_bootstrap_file},
};
#define DEVBROKER_NCONFIG (sizeof(devbroker_config) / sizeof(devbroker_config[0]))

/* ---- bind(2) interposition ------------------------------------------------------------- */

/* Next port to hand out; 0 = leave binds alone. Only set while rd_kafka_mock_cluster_new()
 * runs on the main thread, which is where librdkafka 2.0.2 creates the broker listeners. */
static volatile int g_bind_next_port;
static volatile int g_bind_error;

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

/* Exported so that librdkafka's call to bind() resolves here (the executable's symbols come
 * first); everything not matching the narrow case goes to the C library's bind. */
int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    static bind_fn real_bind;
    if (!real_bind) {
        real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
        if (!real_bind) {
            errno = ENOSYS;
            return -1;
        }
    }
    int type = 0;
    socklen_t tlen = sizeof(type);
    if (g_bind_next_port > 0 && addr && addr->sa_family == AF_INET &&
        len >= (socklen_t)sizeof(struct sockaddr_in) &&
        ((const struct sockaddr_in *)addr)->sin_port == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM) {
        struct sockaddr_in sin;
        memcpy(&sin, addr, sizeof(sin));
        sin.sin_port = htons((uint16_t)g_bind_next_port);
        g_bind_next_port++;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        int rc = real_bind(fd, (const struct sockaddr *)&sin, sizeof(sin));
        if (rc != 0)
            g_bind_error = errno;
        return rc;
    }
    return real_bind(fd, addr, len);
}

/* librdkafka 2.0.2 aborts (an assertion in rd_kafka_mock_cluster_destroy) when a mock
 * broker cannot bind, so check first that every port is free and fail with a clear error. */
static int devbroker_ports_free(int first, int count, int *busy)
{
    for (int p = first; p < first + count; p++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin.sin_port = htons((uint16_t)p);
        int rc = bind(fd, (const struct sockaddr *)&sin, sizeof(sin)) == 0 ? listen(fd, 1) : -1;
        int e = errno;
        close(fd);
        if (rc != 0) {
            *busy = p;
            return -e;
        }
    }
    return 0;
}

/* ---- librdkafka logs ------------------------------------------------------------------- */

static void devbroker_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* syslog levels: 0..3 error, 4 warning, 5..6 notice/info, 7 debug */
    enum log_level lv = level <= 3   ? LOG_ERROR
                        : level == 4 ? LOG_WARN
                        : level <= 6 ? LOG_INFO
                                     : LOG_DEBUG;
    /* The cluster's own client handle has no bootstrap servers: its complaints are noise. */
    if (strstr(buf, "No `bootstrap.servers`") || strstr(buf, "bootstrap.servers"))
        lv = LOG_DEBUG;
    if (lv < log_get_level())
        return;
    log_kv(lv, NULL, buf, "source", "librdkafka", "facility", fac ? fac : "", (char *)NULL);
}

/* ---- main ------------------------------------------------------------------------------ */

static int devbroker_create_topics(rd_kafka_mock_cluster_t *mc, const char *list, int parts,
                                   int replication)
{
    int rc = 0;
    char *copy = strdup(list ? list : "");
    if (!copy)
        return -ENOMEM;
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t n = strlen(t);
        while (n > 0 && t[n - 1] == ' ')
            t[--n] = '\0';
        if (!*t)
            continue;
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, t, parts, replication);
        if (e) {
            log_kv(LOG_ERROR, NULL, "topic create failed", "topic", t, "error", rd_kafka_err2str(e),
                   (char *)NULL);
            rc = -EIO;
            goto out;
        }
        log_kv(LOG_INFO, NULL, "topic created", "topic", t, (char *)NULL);
    }
out:
    free(copy);
    return rc;
}

static int devbroker_set_all(rd_kafka_mock_cluster_t *mc, int up)
{
    int rc = 0;
    for (int32_t id = 1; id <= (int32_t)g_brokers; id++) {
        rd_kafka_resp_err_t e =
            up ? rd_kafka_mock_broker_set_up(mc, id) : rd_kafka_mock_broker_set_down(mc, id);
        if (e)
            rc = -EIO;
    }
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 1;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    rd_kafka_conf_t *conf = NULL;
    char errstr[512];

    config_main(argc, argv, "agenthub-devbroker", devbroker_config, DEVBROKER_NCONFIG);
    enum log_level lv = LOG_INFO;
    if (log_level_parse(g_log_level, &lv) < 0) {
        fprintf(stderr, "agenthub-devbroker: LOG_LEVEL '%s' is not debug/info/warn/error\n",
                g_log_level);
        rc = 2;
        goto out;
    }
    log_init("devbroker", lv);

    /* Block the signals before librdkafka starts its threads (they inherit the mask), then
     * take them synchronously with sigwaitinfo() below. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    sigaddset(&sigs, SIGUSR2);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, devbroker_log_cb);
    if (rd_kafka_conf_set(conf, "log.queue", "false", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        log_error(NULL, "conf: %s", errstr);
        goto out;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        log_error(NULL, "rd_kafka_new: %s", errstr);
        goto out;
    }
    conf = NULL; /* now owned by rk */

    if (g_port > 0) {
        int busy = 0, e;
        if (g_port + g_brokers - 1 > 65535) {
            log_error(NULL, "DEVBROKER_PORT %ld + %ld brokers exceeds 65535", g_port, g_brokers);
            goto out;
        }
        if ((e = devbroker_ports_free((int)g_port, (int)g_brokers, &busy)) < 0) {
            log_error(NULL, "cannot listen on 127.0.0.1:%d: %s", busy, strerror(-e));
            goto out;
        }
    }
    g_bind_error = 0;
    g_bind_next_port = (int)g_port;
    mc = rd_kafka_mock_cluster_new(rk, (int)g_brokers);
    g_bind_next_port = 0;
    if (!mc) {
        if (g_bind_error)
            log_error(NULL, "cannot bind 127.0.0.1:%ld..%ld: %s", g_port, g_port + g_brokers - 1,
                      strerror(g_bind_error));
        else
            log_error(NULL, "rd_kafka_mock_cluster_new failed");
        goto out;
    }

    int replication = g_brokers < 3 ? (int)g_brokers : 3;
    if (devbroker_create_topics(mc, g_topics, (int)g_partitions, replication) < 0)
        goto out;

    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    if (g_port > 0) {
        char want[32];
        snprintf(want, sizeof(want), ":%ld", g_port);
        if (!strstr(bootstrap, want)) {
            log_kv(LOG_ERROR, NULL, "mock brokers did not take the fixed ports", "bootstrap",
                   bootstrap, (char *)NULL);
            goto out;
        }
    }
    if (g_bootstrap_file && *g_bootstrap_file) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", g_bootstrap_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "KAFKA_BROKERS=%s\n", bootstrap) < 0 || fclose(f) != 0 ||
            rename(tmp, g_bootstrap_file) != 0) {
            log_error(NULL, "cannot write %s: %s", g_bootstrap_file, strerror(errno));
            goto out;
        }
    }
    printf("KAFKA_BROKERS=%s\n", bootstrap);
    fflush(stdout);
    log_kv(LOG_INFO, NULL, "dev broker ready", "bootstrap", bootstrap, (char *)NULL);

    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&sigs, &si);
        if (sig < 0) {
            if (errno == EINTR)
                continue;
            log_error(NULL, "sigwaitinfo: %s", strerror(errno));
            goto out;
        }
        if (sig == SIGUSR1) {
            devbroker_set_all(mc, 0);
            log_info(NULL, "brokers down (SIGUSR1)");
        } else if (sig == SIGUSR2) {
            devbroker_set_all(mc, 1);
            log_info(NULL, "brokers up (SIGUSR2)");
        } else if (sig == SIGHUP) {
            log_info(NULL, "SIGHUP ignored");
        } else {
            log_info(NULL, "stopping (%s)", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
    }
    rc = 0;
out:
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (rk)
        rd_kafka_destroy(rk);
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (g_bootstrap_file && *g_bootstrap_file && rc == 0)
        unlink(g_bootstrap_file);
    config_free(devbroker_config, DEVBROKER_NCONFIG);
    return rc;
}
