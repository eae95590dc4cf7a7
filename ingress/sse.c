/* sse.c — the wake-up hub, its Kafka consumer, and GET /api/{tenant}/jobs/{id}/events. */
#include "sse.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobevents.h"
#include "json_field.h"
#include "metrics.h"
#include "sseloop.h"
#include "uuid.h"

#define HUB_BUCKETS 1024

struct sse_waiter {
    char job_id[40];
    unsigned bucket;
    int signaled;
    pthread_cond_t cv;
    struct sse_waiter *prev, *next;
};

struct sse_hub {
    pthread_mutex_t lock;
    struct sse_waiter *buckets[HUB_BUCKETS];
    long nwaiters;
    int shutdown;
    /* told of every notification too (the SSE loop: sseloop_notify) */
    void (*listener)(void *ctx, const char *job_id);
    void *listener_ctx;
    /* consumer */
    struct kafka_consumer *consumer;
    pthread_t thread;
    int thread_started;
    /* Redis wake-ups (JOBEVENTS_WAKE_CHANNEL) */
    pthread_t rthread;
    int rthread_started;
    char *redis_url;
    volatile int stop;
};

static unsigned hash_str(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % HUB_BUCKETS;
}

int sse_hub_new(struct sse_hub **out)
{
    struct sse_hub *h = calloc(1, sizeof *h);
    *out = NULL;
    if (!h)
        return -ENOMEM;
    pthread_mutex_init(&h->lock, NULL);
    *out = h;
    return 0;
}

void sse_hub_free(struct sse_hub *h)
{
    if (!h)
        return;
    h->stop = 1;
    sse_hub_shutdown(h);
    if (h->thread_started)
        pthread_join(h->thread, NULL);
    if (h->rthread_started)
        pthread_join(h->rthread, NULL);
    free(h->redis_url);
    kafka_consumer_free(h->consumer);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

struct sse_waiter *sse_hub_register(struct sse_hub *h, const char *job_id)
{
    struct sse_waiter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(w->job_id, sizeof w->job_id, "%s", job_id);
    w->bucket = hash_str(w->job_id);
    pthread_mutex_lock(&h->lock);
    w->next = h->buckets[w->bucket];
    if (w->next)
        w->next->prev = w;
    h->buckets[w->bucket] = w;
    h->nwaiters++;
    pthread_mutex_unlock(&h->lock);
    return w;
}

void sse_hub_unregister(struct sse_hub *h, struct sse_waiter *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&h->lock);
    if (w->prev)
        w->prev->next = w->next;
    else
        h->buckets[w->bucket] = w->next;
    if (w->next)
        w->next->prev = w->prev;
    h->nwaiters--;
    pthread_mutex_unlock(&h->lock);
    pthread_cond_destroy(&w->cv);
    free(w);
}

int sse_hub_wait(struct sse_hub *h, struct sse_waiter *w, int timeout_ms)
{
    struct timespec ts;
    int got;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->lock);
    while (!w->signaled && !h->shutdown) {
        if (pthread_cond_timedwait(&w->cv, &h->lock, &ts) == ETIMEDOUT)
            break;
    }
    got = w->signaled || h->shutdown;
    w->signaled = 0;
    pthread_mutex_unlock(&h->lock);
    return got;
}

void sse_hub_notify(struct sse_hub *h, const char *job_id)
{
    unsigned b = hash_str(job_id);
    pthread_mutex_lock(&h->lock);
    for (struct sse_waiter *w = h->buckets[b]; w; w = w->next) {
        if (strcmp(w->job_id, job_id) == 0) {
            w->signaled = 1;
            pthread_cond_signal(&w->cv);
        }
    }
    pthread_mutex_unlock(&h->lock);
    if (h->listener)
        h->listener(h->listener_ctx, job_id);
}

void sse_hub_set_listener(struct sse_hub *h, void (*fn)(void *ctx, const char *job_id), void *ctx)
{
    h->listener = fn;
    h->listener_ctx = ctx;
}

void sse_hub_shutdown(struct sse_hub *h)
{
    pthread_mutex_lock(&h->lock);
    h->shutdown = 1;
    for (unsigned b = 0; b < HUB_BUCKETS; b++)
        for (struct sse_waiter *w = h->buckets[b]; w; w = w->next)
            pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&h->lock);
}

int sse_hub_is_shutdown(struct sse_hub *h)
{
    pthread_mutex_lock(&h->lock);
    int s = h->shutdown;
    pthread_mutex_unlock(&h->lock);
    return s;
}

long sse_hub_waiters(struct sse_hub *h)
{
    pthread_mutex_lock(&h->lock);
    long n = h->nwaiters;
    pthread_mutex_unlock(&h->lock);
    return n;
}

static void *consumer_main(void *arg)
{
    struct sse_hub *h = arg;
    struct metric *seen = metrics_counter("ingress_chat_events_consumed_total",
                                          "chat.event messages read from Kafka", "");
    while (!h->stop) {
        rd_kafka_message_t *m = kafka_consumer_poll(h->consumer, 500);
        if (!m)
            continue;
        if (!m->err && m->payload && m->len > 0 && m->len < (size_t)ENVELOPE_MAX_BYTES) {
            json_tokener *tok = json_tokener_new_ex(16);
            json_object *o = tok ? json_tokener_parse_ex(tok, m->payload, (int)m->len) : NULL;
            json_object *jid;
            if (o && json_object_object_get_ex(o, "job_id", &jid) &&
                json_object_is_type(jid, json_type_string) &&
                uuid_valid(json_object_get_string(jid))) {
                sse_hub_notify(h, json_object_get_string(jid));
                metrics_inc(seen, 1);
            }
            json_object_put(o);
            json_tokener_free(tok);
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

int sse_hub_start_consumer(struct sse_hub *h, const char *brokers, char *err, size_t errlen)
{
    char group[160], host[64] = "host", rnd[UUID_STR_LEN];
    const char *topics[] = {KAFKA_TOPIC_CHAT_EVENTS};
    gethostname(host, sizeof host - 1);
    if (uuid_v4(rnd) != 0)
        snprintf(rnd, sizeof rnd, "%ld", (long)time(NULL));
    /* A group of its own: every ingress process sees every event. */
    snprintf(group, sizeof group, "agenthub-ingress-%s-%d-%.8s", host, (int)getpid(), rnd);
    struct kafka_consumer_opts o = {
        .brokers = brokers,
        .group_id = group,
        .topics = topics,
        .ntopics = 1,
        .offset_reset = "latest",
        /* The group has this one member: cooperative rebalancing buys nothing, and an eager
         * assignor has no state that librdkafka 2.0's close can trip on (kafka.h). */
        .assignment_strategy = "roundrobin",
        /* A wake-up is on a client's wait (a token, a final): asked for every 10 ms rather
         * than librdkafka's 500 (a real broker answers at once when a message comes; the dev
         * broker only when the wait ends). */
        .fetch_wait_max_ms = 10,
    };
    int rc = kafka_consumer_new(&h->consumer, &o, err, errlen);
    if (rc != 0)
        return rc;
    if (pthread_create(&h->thread, NULL, consumer_main, h) != 0) {
        snprintf(err, errlen, "cannot start the events consumer thread");
        kafka_consumer_free(h->consumer);
        h->consumer = NULL;
        return -EAGAIN;
    }
    h->thread_started = 1;
    return 0;
}

/* ---- Redis wake-ups -------------------------------------------------------------------------
 * jobevents_emit announces every event on JOBEVENTS_WAKE_CHANNEL (the job's stream key) in the
 * same script as its XADD. One subscriber per process turns that into sse_hub_notify: a stream
 * wakes within a Redis hop instead of a Kafka produce + fetch. The Kafka consumer stays: a
 * Redis reconnect can miss announcements, and the poll is the last resort. */

/* redis://[[user]:password@]host[:port][/db][?...]: what SUBSCRIBE needs (the db does not
 * matter to pub/sub). 0, or -1 when it does not parse. */
static int redis_url_parts(const char *url, char *host, size_t hcap, int *port, char *user,
                           size_t ucap, char *pass, size_t pcap)
{
    const char *p = url;
    *port = 6379;
    user[0] = pass[0] = '\0';
    if (strncmp(p, "redis://", 8) != 0)
        return -1;
    p += 8;
    const char *end = p + strcspn(p, "/?");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            snprintf(user, ucap, "%.*s", (int)(colon - p), p);
            snprintf(pass, pcap, "%.*s", (int)(at - colon - 1), colon + 1);
        } else {
            snprintf(pass, pcap, "%.*s", (int)(at - p), p);
        }
        p = at + 1;
    }
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *hend = colon ? colon : end;
    if (hend == p)
        return -1;
    snprintf(host, hcap, "%.*s", (int)(hend - p), p);
    if (colon)
        *port = atoi(colon + 1);
    return *port > 0 && *port < 65536 ? 0 : -1;
}

/* "agenthub:{tenant}:job:{job_id}:events" -> job_id */
static void wake_from_key(struct sse_hub *h, const char *key)
{
    const char *j = strstr(key, ":job:");
    char id[UUID_STR_LEN];
    if (!j || strlen(j + 5) < UUID_STR_LEN - 1)
        return;
    snprintf(id, sizeof id, "%.*s", UUID_STR_LEN - 1, j + 5);
    if (uuid_valid(id))
        sse_hub_notify(h, id);
}

static void *redis_wake_main(void *arg)
{
    struct sse_hub *h = arg;
    char host[256], user[128], pass[256];
    int port;
    if (redis_url_parts(h->redis_url, host, sizeof host, &port, user, sizeof user, pass,
                        sizeof pass) != 0) {
        log_warn(NULL, "REDIS_URL does not parse: no Redis wake-ups (Kafka and polling only)");
        return NULL;
    }
    int backoff = 0; /* none before the first attempt; a second before each one after it */
    while (!h->stop) {
        if (backoff) {
            for (int i = 0; i < 10 && !h->stop; i++)
                usleep(100 * 1000);
        }
        backoff = 1;
        struct timeval tv = {1, 0};
        redisContext *c = redisConnectWithTimeout(host, port, tv);
        if (!c || c->err) {
            redisFree(c);
            continue;
        }
        redisReply *rep = NULL;
        if (pass[0])
            rep = user[0] ? redisCommand(c, "AUTH %s %s", user, pass)
                          : redisCommand(c, "AUTH %s", pass);
        int ok = !pass[0] || (rep && rep->type != REDIS_REPLY_ERROR);
        if (rep)
            freeReplyObject(rep);
        rep = ok ? redisCommand(c, "SUBSCRIBE %s", JOBEVENTS_WAKE_CHANNEL) : NULL;
        ok = rep && rep->type == REDIS_REPLY_ARRAY;
        if (rep)
            freeReplyObject(rep);
        if (!ok) {
            redisFree(c);
            continue;
        }
        while (!h->stop) {
            struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
            int pr = poll(&pfd, 1, 500);
            if (pr == 0 || (pr < 0 && errno == EINTR))
                continue;
            if (pr < 0 || redisBufferRead(c) != REDIS_OK)
                break;
            void *msg = NULL;
            int rc;
            while ((rc = redisGetReplyFromReader(c, &msg)) == REDIS_OK && msg) {
                redisReply *m = msg;
                if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
                    m->element[2]->type == REDIS_REPLY_STRING)
                    wake_from_key(h, m->element[2]->str);
                freeReplyObject(m);
                msg = NULL;
            }
            if (rc != REDIS_OK)
                break;
        }
        redisFree(c);
    }
    return NULL;
}

int sse_hub_start_redis_wakeups(struct sse_hub *h, const char *redis_url)
{
    h->redis_url = strdup(redis_url ? redis_url : "");
    if (!h->redis_url)
        return -ENOMEM;
    if (pthread_create(&h->rthread, NULL, redis_wake_main, h) != 0)
        return -EAGAIN;
    h->rthread_started = 1;
    return 0;
}

/* ---- the SSE route ------------------------------------------------------------------------ */

int sse_stream_idle(struct req *r, struct sse_waiter *w, double start, double now,
                    double *last_write, int *fail)
{
    struct ingress *app = r->app;
    if (now - start > (double)app->cfg.sse_max_s)
        return 1;
    if (now - *last_write >= (double)app->cfg.sse_heartbeat_s) {
        *fail = stream_write(r, ": keepalive\n\n", 13);
        *last_write = now;
        if (*fail)
            return 1;
    }
    if (w)
        sse_hub_wait(app->hub, w, (int)app->cfg.sse_poll_ms);
    return sse_hub_is_shutdown(app->hub);
}

int sse_id_valid(const char *s)
{
    if (strcmp(s, "0") == 0)
        return 1;
    const char *dash = strchr(s, '-');
    if (!dash || dash == s || !dash[1] || strlen(s) > 41)
        return 0;
    for (const char *p = s; *p; p++)
        if (p != dash && (*p < '0' || *p > '9'))
            return 0;
    return 1;
}

char *sse_event_format(const char *id, const char *event, const char *data, size_t *len)
{
    size_t lines = 1;
    for (const char *q = data; *q; q++)
        lines += *q == '\n';
    size_t cap = strlen(id) + strlen(event) + strlen(data) + lines * 8 + 32;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    size_t n = (size_t)snprintf(buf, cap, "id: %s\nevent: %s\n", id, event);
    const char *p = data;
    do {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (l && p[l - 1] == '\r')
            l--;
        memcpy(buf + n, "data: ", 6);
        n += 6;
        memcpy(buf + n, p, l);
        n += l;
        buf[n++] = '\n';
        p = nl ? nl + 1 : NULL;
    } while (p);
    buf[n++] = '\n';
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* One event as one chunk. */
static int sse_send_event(struct req *r, const char *id, const char *event, const char *data)
{
    size_t n = 0;
    char *buf = sse_event_format(id, event, data, &n);
    if (!buf)
        return -1;
    int rc = stream_write(r, buf, n);
    free(buf);
    return rc;
}

static const char *event_data_text(json_object *data)
{
    if (!data)
        return "null";
    if (json_object_is_type(data, json_type_string))
        return json_object_get_string(data);
    return json_object_to_json_string_ext(data,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

void routes_job_events(struct req *r, const char *tenant, const char *job_id)
{
    struct ingress *app = r->app;
    json_object *job = NULL;
    struct sse_waiter *w = NULL;
    char last[48] = "0";
    int done = 0;

    if (req_auth_tenant(r, tenant) != 0)
        return;
    if (!uuid_valid(job_id)) {
        reply_error(r, 404, "not_found", "no such job");
        return;
    }
    r->log.job_id = job_id;
    const char *lei = mg_get_header(r->conn, "Last-Event-ID");
    char qlei[48];
    if (lei && *lei)
        snprintf(last, sizeof last, "%.47s", lei);
    else if (req_query(r, "last_event_id", qlei, sizeof qlei) == 0 && qlei[0])
        snprintf(last, sizeof last, "%s", qlei);
    if (!sse_id_valid(last)) {
        reply_error(r, 400, "invalid_request", "invalid Last-Event-ID");
        return;
    }
    if (job_load(r, tenant, job_id, &job) != 0)
        return;
    /* A finished job's stream ends as soon as what is after `last` has been replayed, whatever
     * Last-Event-ID said (beyond the end, or an id the stream never had): nothing more will
     * ever be appended, so holding it open would only hold a thread. */
    int terminal = status_terminal(json_field_str(job, "status"));
    /* An unfinished job's stream goes to the SSE loop once its head is written (sseloop.h);
     * a finished one is replayed here and ends. */
    r->hold_loop = app->loop && !terminal;
    if (!req_hold_stream(r))
        goto out;
    int fail = 0, begun = 0;
    if (r->hold_loop) {
        reply_stream_begin(r, "text/event-stream");
        begun = 1;
        fail = stream_write(r, "retry: 2000\n\n", 13);
        int fd = fail ? -1 : sseloop_take_socket(r->conn);
        if (fd >= 0) {
            struct sseloop_stream_spec spec = {
                .fd = fd, .chunked = r->chunked, .held_caller = r->held_caller};
            snprintf(spec.tenant, sizeof spec.tenant, "%s", tenant);
            snprintf(spec.sub, sizeof spec.sub, "%s", r->claims.sub);
            snprintf(spec.job_id, sizeof spec.job_id, "%s", job_id);
            snprintf(spec.last, sizeof spec.last, "%s", last);
            if (sseloop_adopt(app->loop, &spec) == 0) {
                r->held = 0; /* the loop gives the hold back when the stream ends */
                r->held_caller = 0;
            } else {
                close(fd); /* civetweb's socket is a stand-in now: the client reconnects */
            }
            goto out;
        }
        /* The socket was not found (sseloop_take_socket): this thread serves the stream. */
    }

    w = sse_hub_register(app->hub, job_id);
    if (!w) {
        if (!begun)
            reply_error(r, 500, "internal", "out of memory");
        goto out;
    }
    struct metric *open_g =
        metrics_gauge("ingress_sse_streams_open", "SSE streams currently open", "");
    metrics_inc(open_g, 1);
    if (!begun) {
        reply_stream_begin(r, "text/event-stream");
        fail = stream_write(r, "retry: 2000\n\n", 13);
    }
    double start = now_mono(), last_write = start, last_pg = start;
    while (!fail && !done && !app->stopping) {
        json_object *arr = NULL;
        size_t got = 0;
        int rc = jobevents_read(app->rc, tenant, job_id, last, 200, &arr);
        if (rc == RC_OK && arr) {
            size_t n = json_object_array_length(arr);
            got = n;
            for (size_t i = 0; i < n && !fail; i++) {
                json_object *e = json_object_array_get_idx(arr, i), *id, *ev, *data = NULL;
                if (!json_object_object_get_ex(e, "id", &id) ||
                    !json_object_object_get_ex(e, "event", &ev))
                    continue;
                json_object_object_get_ex(e, "data", &data);
                const char *evs = json_object_get_string(ev);
                fail = sse_send_event(r, json_object_get_string(id), evs, event_data_text(data));
                snprintf(last, sizeof last, "%s", json_object_get_string(id));
                last_write = now_mono();
                if (strcmp(evs, "final") == 0 || strcmp(evs, "error") == 0)
                    done = 1;
            }
        }
        json_object_put(arr);
        if (fail || done)
            break;
        if (terminal && got < 200) {
            /* Finished, and the stream holds nothing more (or is gone: 24 h TTL): the outcome
             * from PostgreSQL, so a client never waits on a finished job. */
            const char *s = json_field_str(job, "status");
            json_object *out = job_outcome(job);
            fail = sse_send_event(r, strcmp(last, "0") == 0 ? "0-1" : last,
                                  strcmp(s, "done") == 0 ? "final" : "error",
                                  json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
            json_object_put(out);
            break;
        }
        if (terminal)
            continue; /* more than one page left to replay */
        double now = now_mono();
        if (now - last_pg >= 5.0) {
            json_object *j2 = NULL;
            last_pg = now;
            if (job_fetch(app, tenant, r->claims.sub, job_id, &j2) == 0 && j2) {
                json_object_put(job);
                job = j2;
                if (status_terminal(json_field_str(job, "status"))) {
                    terminal = 1;
                    continue; /* replay what the stages wrote before ending */
                }
            }
        }
        if (sse_stream_idle(r, w, start, now, &last_write, &fail))
            break;
    }
    if (!fail)
        stream_end(r);
    metrics_inc(open_g, -1);
out:
    sse_hub_unregister(app->hub, w);
    json_object_put(job);
}
