/* kafka.c — see kafka.h.
 *
 * Producer. One rd_kafka_t per struct kafka_producer, polled by a background thread that
 * serves delivery reports. Every produced message carries a heap `struct kafka_dr` as its
 * opaque: the delivery report runs its callback exactly once and frees it. When the producer
 * is freed, what is still queued after the flush is purged, so those callbacks still run
 * (with RD_KAFKA_RESP_ERR__PURGE_QUEUE) and nothing leaks.
 *
 * kafka_produce_sync() waits on a condition variable for the delivery report. The wait is
 * bounded by timeout_ms; the report may still arrive later (the message stays queued and may
 * be delivered — at-least-once), so the waiter is reference counted: the caller and the
 * delivery report each hold a reference and the last one frees it.
 *
 * Consumer. enable.auto.commit=false and enable.auto.offset.store=false: the caller commits
 * exactly what it finished. The rebalance callback handles both protocols: eager (range,
 * roundrobin: assign/unassign everything) and cooperative (cooperative-sticky: incremental
 * assign/unassign); the default strategy is cooperative-sticky, KAFKA_PARTITION_ASSIGNMENT_
 * STRATEGY overrides it. The caller's on_revoke runs before partitions are given away,
 * including when they are lost, so it can commit what finished and stop committing for them.
 */
#include "kafka.h"
#include "kafka_topics.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern char **environ;

#define KAFKA_FREE_FLUSH_MS 10000
#define KAFKA_DLQ_TIMEOUT_MS 30000
#define KAFKA_ERROR_MAX 1024

/* ---- configuration ------------------------------------------------------------------------ */

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0..3 error, 4 warning, 5..6 notice/info, 7 debug. librdkafka's notices
     * (reconnects and the like) are details for an operator, not news: debug. */
    enum log_level lv = level <= 3 ? LOG_ERROR : level == 4 ? LOG_WARN : LOG_DEBUG;
    /* A failed connection is an outage symptom librdkafka retries by itself; the error_cb
     * reports the same event. */
    if (lv == LOG_ERROR && fac && strcmp(fac, "FAIL") == 0)
        lv = LOG_WARN;
    if (lv < log_get_level())
        return;
    log_kv(lv, NULL, buf, "source", "librdkafka", "facility", fac ? fac : "", "client",
           rk ? rd_kafka_name(rk) : "", (char *)NULL);
}

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    /* Transport errors and "all brokers down" repeat while a broker is away; librdkafka
     * retries by itself. Fatal errors (idempotence broken) mean the producer is unusable. */
    enum log_level lv = LOG_WARN;
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        lv = LOG_ERROR;
    if (lv < log_get_level())
        return;
    log_kv(lv, NULL, "kafka error", "source", "librdkafka", "client", rd_kafka_name(rk), "error",
           rd_kafka_err2name((rd_kafka_resp_err_t)err), "reason", reason ? reason : "",
           (char *)NULL);
}

static int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                          size_t errlen)
{
    char e[512];
    if (rd_kafka_conf_set(conf, name, value, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
        if (err && errlen)
            snprintf(err, errlen, "kafka config %s: %s", name, e);
        return -EINVAL;
    }
    return 0;
}

/* Applies every KAFKA_<X> environment variable (except KAFKA_BROKERS) as <x> with '_' -> '.'.
 * An unknown property is a configuration error (a typo would otherwise be silently ignored). */
static int kafka_conf_from_env(rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    for (char **ep = environ; ep && *ep; ep++) {
        const char *kv = *ep;
        if (strncmp(kv, "KAFKA_", 6) != 0)
            continue;
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv + 6)
            continue;
        size_t n = (size_t)(eq - (kv + 6));
        if (n == 7 && strncmp(kv + 6, "BROKERS", 7) == 0)
            continue;
        char name[128];
        if (n >= sizeof(name)) {
            if (err && errlen)
                snprintf(err, errlen, "kafka config: environment name too long");
            return -EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
            char ch = kv[6 + i];
            name[i] = (char)(ch == '_' ? '.' : tolower((unsigned char)ch));
        }
        name[n] = '\0';
        /* sasl.password, ssl.key.password, sasl.oauthbearer.client.secret, ...: never in a log
         * line (librdkafka's messages and ours may quote a value) */
        if (strstr(name, "password") || strstr(name, "secret"))
            log_add_secret(eq + 1);
        int rc = kafka_conf_set(conf, name, eq + 1, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A conf with our callbacks and defaults, then the environment on top. */
static int kafka_conf_base(rd_kafka_conf_t **out, const char *brokers, char *err, size_t errlen)
{
    int rc = -ENOMEM;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf)
        goto out;
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    if ((rc = kafka_conf_set(conf, "bootstrap.servers", brokers ? brokers : "", err, errlen)) < 0 ||
        (rc = kafka_conf_set(conf, "log.connection.close", "false", err, errlen)) < 0)
        goto out;
    *out = conf;
    conf = NULL;
    rc = 0;
out:
    if (rc == -ENOMEM && err && errlen)
        snprintf(err, errlen, "out of memory");
    if (conf)
        rd_kafka_conf_destroy(conf);
    return rc;
}

/* ---- producer ----------------------------------------------------------------------------- */

struct kafka_producer {
    rd_kafka_t *rk;
    pthread_t poller;
    int poller_started;
    pthread_mutex_t lock; /* guards stop and every sync waiter */
    pthread_cond_t cond;
    int stop;
};

/* What a delivery report must do: call cb, or wake a kafka_produce_sync() waiter. */
struct kafka_sync {
    int refs;
    int done;
    int err;
    char errstr[256];
};

struct kafka_dr {
    kafka_delivery_cb cb;
    void *opaque;
    struct kafka_producer *p;
    struct kafka_sync *sync;
};

static void kafka_sync_unref(struct kafka_producer *p, struct kafka_sync *s)
{
    pthread_mutex_lock(&p->lock);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&p->lock);
    if (last)
        free(s);
}

static void kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct kafka_dr *dr = m->_private;
    if (!dr)
        return;
    const char *errstr = m->err ? rd_kafka_err2str(m->err) : "";
    if (dr->sync) {
        struct kafka_producer *p = dr->p;
        struct kafka_sync *s = dr->sync;
        pthread_mutex_lock(&p->lock);
        s->done = 1;
        s->err = m->err;
        snprintf(s->errstr, sizeof(s->errstr), "%s", errstr);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        kafka_sync_unref(p, s);
    } else if (dr->cb) {
        dr->cb(dr->opaque, m->err, errstr);
    }
    free(dr);
}

static void *kafka_poller_main(void *arg)
{
    struct kafka_producer *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        int stop = p->stop;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        rd_kafka_poll(p->rk, 100);
    }
    return NULL;
}

int kafka_producer_new(struct kafka_producer **out, const char *brokers, char *err, size_t errlen)
{
    return kafka_producer_new_with(out, brokers, NULL, err, errlen);
}

int kafka_producer_new_with(struct kafka_producer **out, const char *brokers,
                            const char *const *settings, char *err, size_t errlen)
{
    int rc = -ENOMEM;
    rd_kafka_conf_t *conf = NULL;
    char e[512];
    struct kafka_producer *p = calloc(1, sizeof(*p));
    if (!p)
        goto out;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines immune to clock changes */
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (!brokers || !*brokers) {
        rc = -EINVAL;
        if (err && errlen)
            snprintf(err, errlen, "kafka: no brokers given");
        goto out;
    }
    if ((rc = kafka_conf_base(&conf, brokers, err, errlen)) < 0)
        goto out;
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr_cb);
    if ((rc = kafka_conf_set(conf, "enable.idempotence", "true", err, errlen)) < 0 ||
        (rc = kafka_conf_set(conf, "acks", "all", err, errlen)) < 0 ||
        /* Every message here sits on someone's wait (a 202, the next stage, an SSE
         * stream): no lingering. Batches still form under load, from what queues while
         * requests are in flight: the ingress accepted 5,088-5,119 chats/s at 256
         * connections with 0 against 5,093-5,098 with 2, and the pipeline's overhead p99
         * went from 21-22 ms to 17-19 ms (tests/bench, side by side). */
        (rc = kafka_conf_set(conf, "linger.ms", "0", err, errlen)) < 0 ||
        (rc = kafka_conf_set(conf, "client.id", "agenthub-producer", err, errlen)) < 0)
        goto out;
    for (size_t i = 0; settings && settings[i] && settings[i + 1]; i += 2)
        if ((rc = kafka_conf_set(conf, settings[i], settings[i + 1], err, errlen)) < 0)
            goto out;
    if ((rc = kafka_conf_from_env(conf, err, errlen)) < 0)
        goto out;
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!p->rk) {
        rc = -EINVAL;
        if (err && errlen)
            snprintf(err, errlen, "kafka producer: %s", e);
        goto out;
    }
    conf = NULL; /* now owned by p->rk */
    if (pthread_create(&p->poller, NULL, kafka_poller_main, p) != 0) {
        rc = -EAGAIN;
        if (err && errlen)
            snprintf(err, errlen, "kafka producer: cannot start the poller thread");
        goto out;
    }
    p->poller_started = 1;
    *out = p;
    p = NULL;
    rc = 0;
out:
    if (rc == -ENOMEM && err && errlen)
        snprintf(err, errlen, "out of memory");
    if (conf)
        rd_kafka_conf_destroy(conf);
    kafka_producer_free(p);
    return rc;
}

void kafka_producer_free(struct kafka_producer *p)
{
    if (!p)
        return;
    if (p->poller_started) {
        pthread_mutex_lock(&p->lock);
        p->stop = 1;
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->poller, NULL);
    }
    if (p->rk) {
        if (rd_kafka_flush(p->rk, KAFKA_FREE_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_kv(LOG_WARN, NULL, "kafka producer closing with undelivered messages", "queued",
                   rd_kafka_outq_len(p->rk) > 0 ? "yes" : "no", (char *)NULL);
            /* Fail what is left so every delivery callback runs once and frees its state. */
            rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_flush(p->rk, 1000);
            rd_kafka_poll(p->rk, 0);
        }
        rd_kafka_destroy(p->rk);
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static int kafka_headers_build(rd_kafka_headers_t **out, const struct kafka_header *hdrs,
                               size_t nhdrs)
{
    *out = NULL;
    if (nhdrs == 0)
        return 0;
    rd_kafka_headers_t *h = rd_kafka_headers_new(nhdrs);
    if (!h)
        return -ENOMEM;
    for (size_t i = 0; i < nhdrs; i++) {
        if (!hdrs[i].name)
            continue;
        const char *v = hdrs[i].value;
        rd_kafka_header_add(h, hdrs[i].name, -1, v, v ? (ssize_t)strlen(v) : 0);
    }
    *out = h;
    return 0;
}

/* Queues one message; hdrs (may be NULL) is owned by the message on success and destroyed
 * here on failure. dr is freed here on failure. */
static int kafka_produce_raw(struct kafka_producer *p, const char *topic, const void *key,
                             size_t keylen, const void *val, size_t vallen,
                             rd_kafka_headers_t *hdrs, struct kafka_dr *dr, char *err,
                             size_t errlen)
{
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    /* A full local queue is backpressure: give the poller up to ~5 s to drain it. */
    for (int attempt = 0; attempt < 50; attempt++) {
        if (hdrs)
            e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
                                  RD_KAFKA_V_VALUE((void *)val, vallen),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(dr), RD_KAFKA_V_END);
        else
            e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
                                  RD_KAFKA_V_VALUE((void *)val, vallen),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(dr),
                                  RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        struct timespec ts = {0, 100000000L}; /* 100 ms */
        nanosleep(&ts, NULL);
    }
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    free(dr);
    if (err && errlen)
        snprintf(err, errlen, "kafka produce to %s: %s", topic, rd_kafka_err2str(e));
    return e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? -ENOBUFS : -EIO;
}

int kafka_produce(struct kafka_producer *p, const char *topic, const char *key, const void *val,
                  size_t vallen, const struct kafka_header *hdrs, size_t nhdrs,
                  kafka_delivery_cb cb, void *opaque)
{
    if (!p || !topic)
        return -EINVAL;
    rd_kafka_headers_t *h = NULL;
    struct kafka_dr *dr = calloc(1, sizeof(*dr));
    if (!dr || kafka_headers_build(&h, hdrs, nhdrs) < 0) {
        free(dr);
        return -ENOMEM;
    }
    dr->cb = cb;
    dr->opaque = opaque;
    dr->p = p;
    char e[256];
    int rc =
        kafka_produce_raw(p, topic, key, key ? strlen(key) : 0, val, vallen, h, dr, e, sizeof(e));
    if (rc < 0)
        log_kv(LOG_WARN, NULL, "kafka produce not queued", "topic", topic, "error", e,
               (char *)NULL);
    return rc;
}

static void kafka_deadline(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits for the delivery report of a queued sync message. Drops the caller's reference. */
static int kafka_sync_wait(struct kafka_producer *p, struct kafka_sync *s, const char *topic,
                           int timeout_ms, char *err, size_t errlen)
{
    int rc;
    struct timespec deadline;
    kafka_deadline(&deadline, timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&p->lock);
    if (p->poller_started && pthread_equal(pthread_self(), p->poller)) {
        /* Called from a delivery callback: the poller is this thread, so waiting for it
         * would never end. Serve the delivery reports here instead. */
        while (!s->done) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec > deadline.tv_sec ||
                (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
                break;
            pthread_mutex_unlock(&p->lock);
            rd_kafka_poll(p->rk, 50);
            pthread_mutex_lock(&p->lock);
        }
    }
    while (!s->done) {
        /* p->cond waits on CLOCK_MONOTONIC (kafka_producer_new). */
        if (pthread_cond_timedwait(&p->cond, &p->lock, &deadline) == ETIMEDOUT)
            break;
    }
    if (!s->done) {
        rc = -ETIMEDOUT;
        if (err && errlen)
            snprintf(err, errlen, "kafka produce to %s: no acknowledgement within %d ms", topic,
                     timeout_ms);
    } else if (s->err) {
        rc = -EIO;
        if (err && errlen)
            snprintf(err, errlen, "kafka produce to %s: %s", topic, s->errstr);
    } else {
        rc = 0;
    }
    pthread_mutex_unlock(&p->lock);
    kafka_sync_unref(p, s);
    return rc;
}

static int kafka_produce_sync_raw(struct kafka_producer *p, const char *topic, const void *key,
                                  size_t keylen, const void *val, size_t vallen,
                                  rd_kafka_headers_t *hdrs, int timeout_ms, char *err,
                                  size_t errlen)
{
    struct kafka_sync *s = calloc(1, sizeof(*s));
    struct kafka_dr *dr = calloc(1, sizeof(*dr));
    if (!s || !dr) {
        free(s);
        free(dr);
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->refs = 2; /* the caller and the delivery report */
    dr->p = p;
    dr->sync = s;
    /* dr now belongs to the queued message (its delivery report frees it), or was freed by
     * kafka_produce_raw() on failure. */
    // NOLINTNEXTLINE(clang-analyzer-unix.Malloc)
    int rc = kafka_produce_raw(p, topic, key, keylen, val, vallen, hdrs, dr, err, errlen);
    if (rc < 0) {
        free(s);
        return rc;
    }
    return kafka_sync_wait(p, s, topic, timeout_ms, err, errlen);
}

int kafka_produce_sync(struct kafka_producer *p, const char *topic, const char *key,
                       const void *val, size_t vallen, const struct kafka_header *hdrs,
                       size_t nhdrs, int timeout_ms, char *err, size_t errlen)
{
    if (!p || !topic) {
        if (err && errlen)
            snprintf(err, errlen, "kafka produce: no producer or topic");
        return -EINVAL;
    }
    rd_kafka_headers_t *h = NULL;
    if (kafka_headers_build(&h, hdrs, nhdrs) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return kafka_produce_sync_raw(p, topic, key, key ? strlen(key) : 0, val, vallen, h, timeout_ms,
                                  err, errlen);
}

int kafka_producer_flush(struct kafka_producer *p, int timeout_ms)
{
    if (!p)
        return -EINVAL;
    rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT)
        return -ETIMEDOUT;
    return e ? -EIO : 0;
}

int kafka_producer_ping(struct kafka_producer *p, int timeout_ms)
{
    if (!p)
        return -EINVAL;
    const struct rd_kafka_metadata *md = NULL;
    /* all_topics=0 and no topic: asks a broker for the broker list only. */
    rd_kafka_resp_err_t e = rd_kafka_metadata(p->rk, 0, NULL, &md, timeout_ms);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR__TRANSPORT)
        return -ETIMEDOUT;
    return e ? -EIO : 0;
}

/* Does the broker know the topic, with a leader for every partition? With probe=0 it lists
 * all topics (a request that never creates one); with probe=1 it asks for this topic alone,
 * which makes a broker with auto topic creation create it. *controller_known (may be NULL)
 * tells whether the metadata names a controller that is one of the brokers. */
static int kafka_topic_ready(rd_kafka_t *rk, const char *topic, int probe, int timeout_ms,
                             int *controller_known)
{
    int rc = -ENOENT;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = NULL;
    if (probe && !(rkt = rd_kafka_topic_new(rk, topic, NULL)))
        return -ENOMEM;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, probe ? 0 : 1, rkt, &md, timeout_ms);
    if (e) {
        rc = e == RD_KAFKA_RESP_ERR__TIMED_OUT ? -ETIMEDOUT : -EIO;
        goto out;
    }
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (strcmp(t->topic, topic) != 0 || t->err || t->partition_cnt <= 0)
            continue;
        rc = 0;
        for (int j = 0; j < t->partition_cnt; j++) {
            if (t->partitions[j].leader < 0)
                rc = -EAGAIN;
        }
    }
    if (controller_known) {
        /* librdkafka's admin requests go to the controller. librdkafka's mock cluster (the
         * dev broker) names none of its brokers as controller and has no CreateTopics. */
        int32_t ctl = rd_kafka_controllerid(rk, 0);
        *controller_known = 0;
        for (int i = 0; ctl >= 0 && i < md->broker_cnt; i++) {
            if (md->brokers[i].id == ctl)
                *controller_known = 1;
        }
    }
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return rc;
}

static int kafka_create_topic_admin(rd_kafka_t *rk, const char *topic, int partitions,
                                    int timeout_ms, char *err, size_t errlen)
{
    int rc = -ENOMEM;
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_AdminOptions_t *ao = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    char e[512], isr[16], retention[32];
    struct kafka_topic_settings ts;
    if (kafka_topic_settings_for(topic, &ts, err, errlen) != 0)
        return -EINVAL;
    if (partitions > 0)
        ts.partitions = partitions;
    snprintf(isr, sizeof isr, "%d", ts.min_isr);
    snprintf(retention, sizeof retention, "%lld", ts.retention_ms);
    nt = rd_kafka_NewTopic_new(topic, ts.partitions, ts.replication, e, sizeof(e));
    if (!nt || rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", isr) ||
        rd_kafka_NewTopic_set_config(nt, "retention.ms", retention)) {
        rc = -EINVAL;
        if (err && errlen)
            snprintf(err, errlen, "kafka topic %s: %s", topic, nt ? "bad topic config" : e);
        goto out;
    }
    ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    q = rd_kafka_queue_new(rk);
    if (!ao || !q)
        goto out;
    if (rd_kafka_AdminOptions_set_request_timeout(ao, timeout_ms, e, sizeof(e)) ||
        rd_kafka_AdminOptions_set_operation_timeout(ao, timeout_ms, e, sizeof(e))) {
        rc = -EINVAL;
        if (err && errlen)
            snprintf(err, errlen, "kafka topic %s: %s", topic, e);
        goto out;
    }
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (!ev) {
        rc = -ETIMEDOUT;
        if (err && errlen)
            snprintf(err, errlen, "kafka topic %s: no answer within %d ms", topic, timeout_ms);
        goto out;
    }
    rd_kafka_resp_err_t te = rd_kafka_event_error(ev);
    const char *tes = rd_kafka_event_error_string(ev);
    if (!te) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(rd_kafka_topic_result_name(tr[i]), topic) == 0) {
                te = rd_kafka_topic_result_error(tr[i]);
                tes = rd_kafka_topic_result_error_string(tr[i]);
            }
        }
    }
    if (te == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        te = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (te) {
        rc = te == RD_KAFKA_RESP_ERR__TIMED_OUT ? -ETIMEDOUT : -EIO;
        if (err && errlen)
            snprintf(err, errlen, "kafka topic %s: %s", topic,
                     tes && *tes ? tes : rd_kafka_err2str(te));
        goto out;
    }
    rc = 0;
out:
    if (rc == -ENOMEM && err && errlen)
        snprintf(err, errlen, "out of memory");
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    if (ao)
        rd_kafka_AdminOptions_destroy(ao);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    return rc;
}

static int kafka_valid_topic(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
        return 0;
    for (; *t; t++) {
        if (!isalnum((unsigned char)*t) && *t != '.' && *t != '_' && *t != '-')
            return 0;
    }
    return 1;
}

int kafka_topic_ensure(struct kafka_producer *p, const char *topic, int partitions, int timeout_ms,
                       char *err, size_t errlen)
{
    int rc, controller = 0;
    if (!p || !topic || !kafka_valid_topic(topic)) {
        if (err && errlen)
            snprintf(err, errlen, "kafka topic: invalid topic name");
        return -EINVAL;
    }
    if (timeout_ms <= 0)
        timeout_ms = 10000;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    rc = kafka_topic_ready(p->rk, topic, 0, timeout_ms, &controller);
    if (rc == 0)
        return 0; /* exists: nothing to do, the partition count is left alone */
    if (rc == -ETIMEDOUT || rc == -EIO) {
        if (err && errlen)
            snprintf(err, errlen, "kafka topic %s: no metadata from the brokers", topic);
        return rc;
    }
    if (controller) {
        rc = kafka_create_topic_admin(p->rk, topic, partitions, timeout_ms, err, errlen);
        if (rc < 0)
            return rc;
    } else {
        /* No admin API (the dev broker): a metadata request for the topic creates it with
         * the broker's default partition count. */
        log_kv(LOG_DEBUG, NULL, "kafka topic created by metadata request (no controller)", "topic",
               topic, (char *)NULL);
    }
    /* CreateTopics answers before every broker knows the topic: wait until metadata shows
     * it with leaders, so that a produce right after does not race the creation. */
    for (;;) {
        rc = kafka_topic_ready(p->rk, topic, !controller, 2000, NULL);
        if (rc == 0)
            return 0;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= timeout_ms)
            break;
        struct timespec ts = {0, 100000000L}; /* 100 ms */
        nanosleep(&ts, NULL);
    }
    if (err && errlen)
        snprintf(err, errlen, "kafka topic %s: not visible within %d ms", topic, timeout_ms);
    return -ETIMEDOUT;
}

/* ---- consumer ----------------------------------------------------------------------------- */

struct kafka_consumer {
    rd_kafka_t *rk;
    kafka_revoke_cb on_revoke;
    void *opaque;
    int cooperative_sticky; /* the configured strategy includes cooperative-sticky */
    int assigned_once;      /* the rebalance callback has assigned at least once */
};

static void kafka_log_parts(const char *what, const rd_kafka_topic_partition_list_t *parts,
                            const char *protocol)
{
    if (LOG_INFO < log_get_level())
        return;
    char buf[1024];
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; parts && i < parts->cnt && off < sizeof(buf) - 1; i++) {
        int n = snprintf(buf + off, sizeof(buf) - off, "%s%s[%d]", i ? "," : "",
                         parts->elems[i].topic, (int)parts->elems[i].partition);
        if (n < 0)
            break;
        off += (size_t)n;
    }
    log_kv(LOG_INFO, NULL, what, "partitions", buf, "protocol", protocol, (char *)NULL);
}

static void kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                               rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct kafka_consumer *c = opaque;
    const char *proto = rd_kafka_rebalance_protocol(rk);
    int cooperative = proto && strcmp(proto, "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t ae = RD_KAFKA_RESP_ERR_NO_ERROR;

    switch (e) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        c->assigned_once = 1;
        kafka_log_parts("partitions assigned", parts, proto ? proto : "");
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            ae = rd_kafka_assign(rk, parts);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        kafka_log_parts(rd_kafka_assignment_lost(rk) ? "partitions lost" : "partitions revoked",
                        parts, proto ? proto : "");
        /* Before they move: the caller commits what finished and forgets them. */
        if (c->on_revoke && parts && parts->cnt > 0)
            c->on_revoke(c->opaque, parts);
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            ae = rd_kafka_assign(rk, NULL);
        break;
    default:
        log_kv(LOG_WARN, NULL, "kafka rebalance error", "error", rd_kafka_err2str(e), (char *)NULL);
        if (cooperative) {
            if (c->on_revoke && parts && parts->cnt > 0)
                c->on_revoke(c->opaque, parts);
            error = rd_kafka_incremental_unassign(rk, parts);
        } else {
            /* Eager: everything goes; tell the caller what it held. */
            rd_kafka_topic_partition_list_t *cur = NULL;
            if (c->on_revoke && rd_kafka_assignment(rk, &cur) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                cur && cur->cnt > 0)
                c->on_revoke(c->opaque, cur);
            if (cur)
                rd_kafka_topic_partition_list_destroy(cur);
            ae = rd_kafka_assign(rk, NULL);
        }
        break;
    }
    if (error) {
        log_kv(LOG_ERROR, NULL, "kafka incremental (un)assign failed", "error",
               rd_kafka_error_string(error), (char *)NULL);
        rd_kafka_error_destroy(error);
    } else if (ae) {
        log_kv(LOG_ERROR, NULL, "kafka (un)assign failed", "error", rd_kafka_err2str(ae),
               (char *)NULL);
    }
}

int kafka_consumer_new(struct kafka_consumer **out, const struct kafka_consumer_opts *opts,
                       char *err, size_t errlen)
{
    int rc = -ENOMEM;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    char e[512];
    struct kafka_consumer *c = NULL;
    if (!opts || !opts->brokers || !*opts->brokers || !opts->group_id || !*opts->group_id ||
        !opts->topics || opts->ntopics == 0) {
        rc = -EINVAL;
        if (err && errlen)
            snprintf(err, errlen, "kafka consumer: brokers, group_id and topics are required");
        goto out;
    }
    const char *reset = opts->offset_reset ? opts->offset_reset : "earliest";
    /* A '^' subscription learns of a topic made after it started (a new agent's) only from a
     * metadata refresh: every second, so the agent's first job does not wait ~10 s for it.
     * One small request a second per such consumer; the others keep 10 s. */
    const char *refresh_ms = "10000";
    for (size_t i = 0; i < opts->ntopics; i++)
        if (opts->topics[i] && opts->topics[i][0] == '^')
            refresh_ms = "1000";
    if (strcmp(reset, "earliest") != 0 && strcmp(reset, "latest") != 0) {
        rc = -EINVAL;
        if (err && errlen)
            snprintf(err, errlen, "kafka consumer: offset_reset must be earliest or latest");
        goto out;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        goto out;
    c->on_revoke = opts->on_revoke;
    c->opaque = opts->opaque;
    if ((rc = kafka_conf_base(&conf, opts->brokers, err, errlen)) < 0)
        goto out;
    rd_kafka_conf_set_rebalance_cb(conf, kafka_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);
    if ((rc = kafka_conf_set(conf, "group.id", opts->group_id, err, errlen)) < 0 ||
        (rc = kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen)) < 0 ||
        (rc = kafka_conf_set(conf, "enable.auto.offset.store", "false", err, errlen)) < 0 ||
        (rc = kafka_conf_set(conf, "auto.offset.reset", reset, err, errlen)) < 0 ||
        (rc = kafka_conf_set(conf, "partition.assignment.strategy",
                             opts->assignment_strategy ? opts->assignment_strategy
                                                       : "cooperative-sticky",
                             err, errlen)) < 0 ||
        (rc = kafka_conf_set(conf, "client.id", "agenthub-consumer", err, errlen)) < 0 ||
        /* A crashed member's partitions move after 6 s (Kafka's minimum), not 45 s; the
         * dev broker also waits about this long for members when a group rebalances. */
        (rc = kafka_conf_set(conf, "session.timeout.ms", "6000", err, errlen)) < 0 ||
        (rc = kafka_conf_set(conf, "heartbeat.interval.ms", "1000", err, errlen)) < 0 ||
        (rc = kafka_conf_set(conf, "topic.metadata.refresh.interval.ms", refresh_ms, err, errlen)) <
            0 ||
        (rc = kafka_conf_from_env(conf, err, errlen)) < 0)
        goto out;
    if (opts->fetch_wait_max_ms > 0) {
        char fw[16];
        snprintf(fw, sizeof fw, "%d", opts->fetch_wait_max_ms);
        if ((rc = kafka_conf_set(conf, "fetch.wait.max.ms", fw, err, errlen)) < 0)
            goto out;
    }
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
    if (!c->rk) {
        rc = -EINVAL;
        if (err && errlen)
            snprintf(err, errlen, "kafka consumer: %s", e);
        goto out;
    }
    conf = NULL; /* now owned by c->rk */
    char strategy[128] = "";
    size_t slen = sizeof strategy;
    if (rd_kafka_conf_get(rd_kafka_conf(c->rk), "partition.assignment.strategy", strategy, &slen) ==
        RD_KAFKA_CONF_OK)
        c->cooperative_sticky = strstr(strategy, "cooperative-sticky") != NULL;
    rd_kafka_poll_set_consumer(c->rk);
    rc = -ENOMEM;
    subs = rd_kafka_topic_partition_list_new((int)opts->ntopics);
    if (!subs)
        goto out;
    for (size_t i = 0; i < opts->ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, opts->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t se = rd_kafka_subscribe(c->rk, subs);
    if (se) {
        rc = -EINVAL;
        if (err && errlen)
            snprintf(err, errlen, "kafka subscribe: %s", rd_kafka_err2str(se));
        goto out;
    }
    *out = c;
    c = NULL;
    rc = 0;
out:
    if (rc == -ENOMEM && err && errlen)
        snprintf(err, errlen, "out of memory");
    if (subs)
        rd_kafka_topic_partition_list_destroy(subs);
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (c) {
        if (c->rk)
            rd_kafka_destroy(c->rk);
        free(c);
    }
    return rc;
}

static long kafka_elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

rd_kafka_message_t *kafka_consumer_poll(struct kafka_consumer *c, int timeout_ms)
{
    if (!c)
        return NULL;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int left = timeout_ms;
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, left < 0 ? 0 : left);
        if (!m)
            return NULL;
        if (!m->err)
            return m;
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
            char part[16];
            snprintf(part, sizeof(part), "%d", (int)m->partition);
            log_kv(LOG_WARN, NULL, "kafka consumer error", "topic", topic, "partition", part,
                   "error", rd_kafka_message_errstr(m), (char *)NULL);
        }
        rd_kafka_message_destroy(m);
        if (timeout_ms <= 0)
            return NULL;
        left = timeout_ms - (int)kafka_elapsed_ms(&start);
        if (left <= 0)
            return NULL;
    }
}

int kafka_consumer_io_event(struct kafka_consumer *c, int fd)
{
    if (!c || fd < 0)
        return -EINVAL;
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(c->rk);
    if (!q)
        return -EINVAL;
    /* 8 bytes: an eventfd accepts only a uint64_t (value 1 here); a pipe takes them too. */
    static const uint64_t one = 1;
    rd_kafka_queue_io_event_enable(q, fd, &one, sizeof(one));
    rd_kafka_queue_destroy(q); /* drops our reference; the consumer keeps the queue */
    return 0;
}

/* Commits one partition's next offset, synchronously (the per-partition result is checked)
 * or queued (only the enqueue is checked; a lost commit means a re-read, never a skip). */
static int commit_one(struct kafka_consumer *c, const char *topic, int32_t partition,
                      int64_t next_offset, int async)
{
    if (!c || !topic || next_offset < 0)
        return -EINVAL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    if (!l)
        return -ENOMEM;
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = next_offset;
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, l, async);
    if (!async && !e && l->elems[0].err)
        e = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        char part[16], off[24];
        snprintf(part, sizeof(part), "%d", (int)partition);
        snprintf(off, sizeof(off), "%lld", (long long)next_offset);
        log_kv(LOG_WARN, NULL, async ? "kafka commit not queued" : "kafka commit failed", "topic",
               topic, "partition", part, "offset", off, "error", rd_kafka_err2str(e), (char *)NULL);
        return -EIO;
    }
    return 0;
}

int kafka_consumer_commit(struct kafka_consumer *c, const char *topic, int32_t partition,
                          int64_t next_offset)
{
    return commit_one(c, topic, partition, next_offset, 0);
}

int kafka_consumer_commit_async(struct kafka_consumer *c, const char *topic, int32_t partition,
                                int64_t next_offset)
{
    return commit_one(c, topic, partition, next_offset, 1);
}

int kafka_consumer_assignment_lost(struct kafka_consumer *c)
{
    return c && c->rk && rd_kafka_assignment_lost(c->rk);
}

/* librdkafka issue 4312, fixed in 2.3.0: rd_kafka_destroy() asserts on the sticky assignor's
 * state, which a member has only from its first SyncGroup answer on, while the assignor is
 * chosen at the JoinGroup answer. A member id (set by the JoinGroup answer, or by the broker's
 * MEMBER_ID_REQUIRED before it) means it may be in that window: poll until the first assignment
 * (which follows the SyncGroup answer) or until the bound. Without a member id it has not
 * joined, and closing is safe at once. */
#define KAFKA_CLOSE_JOIN_WAIT_MS 10000
static void kafka_consumer_finish_join(struct kafka_consumer *c)
{
    if (!c->cooperative_sticky || c->assigned_once || rd_kafka_version() >= 0x020300ff)
        return;
    char *member = rd_kafka_memberid(c->rk);
    int joined = member && *member;
    rd_kafka_mem_free(c->rk, member);
    if (!joined)
        return;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    log_kv(LOG_INFO, NULL, "kafka consumer: waiting for the group join to finish before closing",
           (char *)NULL);
    while (!c->assigned_once && kafka_elapsed_ms(&start) < KAFKA_CLOSE_JOIN_WAIT_MS) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 100);
        if (m)
            rd_kafka_message_destroy(m); /* not processed, not committed: read again elsewhere */
    }
    if (!c->assigned_once)
        log_kv(LOG_WARN, NULL, "kafka consumer: closing before the group join finished",
               (char *)NULL);
}

void kafka_consumer_free(struct kafka_consumer *c)
{
    if (!c)
        return;
    if (c->rk) {
        kafka_consumer_finish_join(c);
        rd_kafka_resp_err_t e = rd_kafka_consumer_close(c->rk);
        if (e)
            log_kv(LOG_WARN, NULL, "kafka consumer close", "error", rd_kafka_err2str(e),
                   (char *)NULL);
        rd_kafka_destroy(c->rk);
    }
    free(c);
}

/* ---- messages ----------------------------------------------------------------------------- */

int kafka_msg_header(const rd_kafka_message_t *msg, const char *name, char *buf, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t n = 0;
    if (!msg || !name || !buf || cap == 0)
        return -1;
    /* librdkafka's accessor takes a non-const message; it only parses the headers lazily. */
    if (rd_kafka_message_headers((rd_kafka_message_t *)msg, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (!v)
        n = 0;
    /* A value that does not fit is not silently cut (a truncated tenant id or trace id would
     * be wrong, not short): it is reported as absent. */
    if (n >= cap)
        return -1;
    if (n)
        memcpy(buf, v, n);
    buf[n] = '\0';
    return 0;
}

int kafka_dead_letter(struct kafka_producer *p, const rd_kafka_message_t *msg, const char *error,
                      char *err, size_t errlen)
{
    int rc = -ENOMEM;
    rd_kafka_headers_t *h = NULL, *orig = NULL;
    if (!p || !msg) {
        if (err && errlen)
            snprintf(err, errlen, "kafka dead letter: no producer or message");
        return -EINVAL;
    }
    if (rd_kafka_message_headers((rd_kafka_message_t *)msg, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        orig)
        h = rd_kafka_headers_copy(orig);
    else
        h = rd_kafka_headers_new(4);
    if (!h)
        goto out;
    /* The reason may quote input: mask secrets, cap the size. */
    char why[KAFKA_ERROR_MAX];
    snprintf(why, sizeof(why), "%s", error ? error : "unknown error");
    log_redact(why, sizeof(why));
    const char *src = msg->rkt ? rd_kafka_topic_name(msg->rkt) : "";
    char part[16], off[24];
    snprintf(part, sizeof(part), "%d", (int)msg->partition);
    snprintf(off, sizeof(off), "%lld", (long long)msg->offset);
    rd_kafka_header_remove(h, "x-error");
    rd_kafka_header_remove(h, "x-source-topic");
    rd_kafka_header_remove(h, "x-source-partition");
    rd_kafka_header_remove(h, "x-source-offset");
    rd_kafka_header_add(h, "x-error", -1, why, -1);
    rd_kafka_header_add(h, "x-source-topic", -1, src, -1);
    rd_kafka_header_add(h, "x-source-partition", -1, part, -1);
    rd_kafka_header_add(h, "x-source-offset", -1, off, -1);
    rc = kafka_produce_sync_raw(p, KAFKA_TOPIC_DLQ, msg->key, msg->key ? msg->key_len : 0,
                                msg->payload, msg->payload ? msg->len : 0, h, KAFKA_DLQ_TIMEOUT_MS,
                                err, errlen);
    h = NULL; /* owned by the message, or destroyed on failure */
    if (rc == 0)
        log_kv(LOG_WARN, NULL, "message dead-lettered", "topic", src, "partition", part, "offset",
               off, "error", why, (char *)NULL);
out:
    if (rc == -ENOMEM && err && errlen)
        snprintf(err, errlen, "out of memory");
    if (h)
        rd_kafka_headers_destroy(h);
    return rc;
}
