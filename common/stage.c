/* stage.c — see stage.h. */
#include "stage.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "log.h"
#include "metrics.h"
#include "passmemo.h"

enum { PASS_MAX = 256 }; /* messages one intake pass takes before the loop runs */

/* ---- offset tracker ------------------------------------------------------------------------ */

struct off_entry {
    int64_t offset;
    int done;
};

struct part_track {
    char *topic;
    int32_t partition;
    struct off_entry *v; /* sorted by offset; v[head..len) are live */
    size_t head, len, cap;
    int64_t last_seen; /* highest offset ever added, -1 none */
    int64_t committed; /* last committed next-offset, -1 none */
};

struct stage_offsets {
    struct part_track *p;
    size_t n, cap;
    size_t inflight;
};

int stage_offsets_new(struct stage_offsets **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

static void part_cleanup(struct part_track *p)
{
    free(p->topic);
    free(p->v);
}

void stage_offsets_free(struct stage_offsets *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        part_cleanup(&t->p[i]);
    free(t->p);
    free(t);
}

static struct part_track *part_find(const struct stage_offsets *t, const char *topic,
                                    int32_t partition)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->p[i].partition == partition && strcmp(t->p[i].topic, topic) == 0)
            return &t->p[i];
    return NULL;
}

static size_t part_live(const struct part_track *p)
{
    size_t n = 0;
    for (size_t i = p->head; i < p->len; i++)
        n += !p->v[i].done;
    return n;
}

/* Drops the finished prefix so the array stays short. */
static void part_trim(struct part_track *p)
{
    while (p->head < p->len && p->v[p->head].done)
        p->head++;
    if (p->head == p->len) {
        p->head = p->len = 0;
    } else if (p->head > 64 && p->head * 2 > p->len) {
        memmove(p->v, p->v + p->head, (p->len - p->head) * sizeof(*p->v));
        p->len -= p->head;
        p->head = 0;
    }
}

int stage_offsets_add(struct stage_offsets *t, const char *topic, int32_t partition, int64_t offset)
{
    struct part_track *p = part_find(t, topic, partition);
    if (!p) {
        if (t->n == t->cap) {
            size_t nc = t->cap ? t->cap * 2 : 8;
            struct part_track *np = realloc(t->p, nc * sizeof(*np));
            if (!np)
                return -ENOMEM;
            t->p = np;
            t->cap = nc;
        }
        p = &t->p[t->n];
        memset(p, 0, sizeof(*p));
        p->topic = strdup(topic);
        if (!p->topic)
            return -ENOMEM;
        p->partition = partition;
        p->last_seen = -1;
        p->committed = -1;
        t->n++;
    }
    /* Find the insertion point: almost always the end. */
    size_t pos = p->len;
    while (pos > p->head && p->v[pos - 1].offset >= offset) {
        if (p->v[pos - 1].offset == offset)
            return -EEXIST;
        pos--;
    }
    if (offset <= p->last_seen && pos == p->head) {
        /* Older than everything live: only valid if it was never finished-and-trimmed,
         * i.e. it is at or beyond what we would commit. */
        if (p->committed >= 0 && offset < p->committed)
            return -EEXIST;
    }
    if (p->len == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 16;
        struct off_entry *nv = realloc(p->v, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        p->v = nv;
        p->cap = nc;
    }
    memmove(p->v + pos + 1, p->v + pos, (p->len - pos) * sizeof(*p->v));
    p->v[pos].offset = offset;
    p->v[pos].done = 0;
    p->len++;
    if (offset > p->last_seen)
        p->last_seen = offset;
    t->inflight++;
    return 0;
}

int stage_offsets_done(struct stage_offsets *t, const char *topic, int32_t partition,
                       int64_t offset)
{
    struct part_track *p = part_find(t, topic, partition);
    if (!p)
        return -ENOENT;
    /* Binary search in the live range. */
    size_t lo = p->head, hi = p->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->v[mid].offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == p->len || p->v[lo].offset != offset || p->v[lo].done)
        return -ENOENT;
    p->v[lo].done = 1;
    t->inflight--;
    part_trim(p);
    return 0;
}

static int64_t part_next(const struct part_track *p)
{
    for (size_t i = p->head; i < p->len; i++)
        if (!p->v[i].done)
            return p->v[i].offset;
    return p->last_seen + 1;
}

int stage_offsets_committable(const struct stage_offsets *t, const char *topic, int32_t partition,
                              int64_t *next)
{
    const struct part_track *p = part_find(t, topic, partition);
    if (!p)
        return -ENOENT;
    if (p->last_seen < 0)
        return 0;
    int64_t n = part_next(p);
    if (n <= p->committed)
        return 0;
    *next = n;
    return 1;
}

void stage_offsets_committed(struct stage_offsets *t, const char *topic, int32_t partition,
                             int64_t next)
{
    struct part_track *p = part_find(t, topic, partition);
    if (p && next > p->committed)
        p->committed = next;
}

void stage_offsets_drop(struct stage_offsets *t, const char *topic, int32_t partition)
{
    struct part_track *p = part_find(t, topic, partition);
    if (!p)
        return;
    t->inflight -= part_live(p);
    part_cleanup(p);
    size_t i = (size_t)(p - t->p);
    memmove(t->p + i, t->p + i + 1, (t->n - i - 1) * sizeof(*t->p));
    t->n--;
}

size_t stage_offsets_foreach_committable(const struct stage_offsets *t, stage_offsets_cb cb,
                                         void *opaque)
{
    size_t k = 0;
    /* Copy what to commit first: the callback may record commits (changing nothing else). */
    for (size_t i = 0; i < t->n; i++) {
        const struct part_track *p = &t->p[i];
        if (p->last_seen < 0)
            continue;
        int64_t n = part_next(p);
        if (n > p->committed) {
            k++;
            if (cb)
                cb(opaque, p->topic, p->partition, n);
        }
    }
    return k;
}

size_t stage_offsets_inflight(const struct stage_offsets *t)
{
    return t->inflight;
}

/* ---- per-session queues -------------------------------------------------------------------- */

struct sess_item {
    void *item;
    struct sess_item *next;
};

struct sess_entry {
    char *key;
    struct sess_item *head, *tail;
    size_t len;
    struct sess_entry *next; /* hash chain */
};

struct stage_sessions {
    struct sess_entry **b;
    size_t nb, nkeys;
};

static size_t sess_hash(const char *k)
{
    size_t h = 1469598103934665603ULL;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return h;
}

int stage_sessions_new(struct stage_sessions **out)
{
    struct stage_sessions *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->nb = 1024;
    s->b = calloc(s->nb, sizeof(struct sess_entry *));
    if (!s->b) {
        free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

static void sess_entry_free(struct sess_entry *e, void (*cb)(void *))
{
    struct sess_item *it = e->head;
    while (it) {
        struct sess_item *n = it->next;
        if (cb)
            cb(it->item);
        free(it);
        it = n;
    }
    free(e->key);
    free(e);
}

void stage_sessions_clear(struct stage_sessions *s, void (*cb)(void *item))
{
    for (size_t i = 0; i < s->nb; i++) {
        struct sess_entry *e = s->b[i];
        while (e) {
            struct sess_entry *n = e->next;
            sess_entry_free(e, cb);
            e = n;
        }
        s->b[i] = NULL;
    }
    s->nkeys = 0;
}

void stage_sessions_free(struct stage_sessions *s)
{
    if (!s)
        return;
    stage_sessions_clear(s, NULL);
    free(s->b);
    free(s);
}

static struct sess_entry *sess_find(const struct stage_sessions *s, const char *key,
                                    struct sess_entry ***link)
{
    struct sess_entry **l = &s->b[sess_hash(key) % s->nb];
    for (; *l; l = &(*l)->next) {
        if (strcmp((*l)->key, key) == 0) {
            if (link)
                *link = l;
            return *l;
        }
    }
    if (link)
        *link = l;
    return NULL;
}

int stage_sessions_push(struct stage_sessions *s, const char *key, void *item)
{
    struct sess_entry **link = NULL;
    struct sess_entry *e = sess_find(s, key, &link);
    struct sess_item *it = calloc(1, sizeof(*it));
    if (!it)
        return -ENOMEM;
    it->item = item;
    if (e) {
        e->tail->next = it;
        e->tail = it;
        e->len++;
        return 0;
    }
    e = calloc(1, sizeof(*e));
    if (!e || !(e->key = strdup(key))) {
        free(e);
        free(it);
        return -ENOMEM;
    }
    e->head = e->tail = it;
    e->len = 1;
    *link = e; /* link points at the chain's terminating NULL */
    s->nkeys++;
    return 1;
}

void *stage_sessions_pop(struct stage_sessions *s, const char *key)
{
    struct sess_entry **link = NULL;
    struct sess_entry *e = sess_find(s, key, &link);
    if (!e)
        return NULL;
    struct sess_item *it = e->head;
    e->head = it->next;
    free(it);
    e->len--;
    if (!e->head) {
        *link = e->next;
        free(e->key);
        free(e);
        s->nkeys--;
        return NULL;
    }
    return e->head->item;
}

size_t stage_sessions_len(const struct stage_sessions *s, const char *key)
{
    const struct sess_entry *e = sess_find(s, key, NULL);
    return e ? e->len : 0;
}

size_t stage_sessions_keys(const struct stage_sessions *s)
{
    return s->nkeys;
}

/* ---- the stage ------------------------------------------------------------------------------ */

struct stage_job {
    struct stage *stage;
    struct envelope env;
    char *topic;
    int32_t partition;
    int64_t offset;
    char key[300]; /* topic '|' session_id: the per-session queue (stage.h, step 3) */
    void *data;
    int started;
    long long recv_ms;             /* monotonic, when the stage took the message */
    struct stage_job *prev, *next; /* all jobs of the stage */
    struct stage_job *ready_next;  /* queued to start (see start_job) */
};

struct async_sent {
    char *topic;
    int32_t partition;
    int64_t next;
};

struct posted {
    void (*fn)(void *);
    void *arg;
    struct posted *next;
};

struct stage {
    char *name;
    char *metrics_token; /* NULL: /metrics is open */
    struct kafka_consumer *consumer;
    struct kafka_producer *producer;
    struct httploop *loop;
    struct stage_handlers h;
    long max_inflight, drain_timeout_ms, commit_interval_ms;
    struct stage_offsets *offsets;
    struct stage_sessions *sessions;
    struct stage_job *jobs; /* list of every job record */
    size_t njobs;
    size_t peak; /* most jobs in flight at once */
    long done_total;
    volatile sig_atomic_t stop;
    int running;  /* inside stage_run */
    int closed;   /* stage_run returned */
    int in_start; /* inside a start handler */
    struct stage_job *ready_head, *ready_tail;
    pthread_mutex_t post_mu;
    struct posted *posted;
    struct metric *m_inflight, *m_done, *m_dlq;
    struct mg_context *http;  /* /metrics and /health, when asked for */
    int kafka_fd;             /* eventfd librdkafka writes to when the consumer queue fills */
    struct async_sent *async; /* last offset queued by an async commit, per partition */
    size_t nasync;
    /* Timing since the last stats line: broker lag (message timestamp -> taken by the stage,
     * wall clock) and job time (taken -> done), sums and maxima in ms. */
    long long st_lag_sum, st_lag_max, st_lag_n, st_job_sum, st_job_max, st_job_n;
    /* Consumer lag per topic for the dashboard: the largest broker lag of the messages taken
     * in the last second, published as agenthub_stage_consumer_lag_seconds{group,topic} (0
     * after a second without a message). */
    struct metric *m_job;
    char *group;
    struct {
        char topic[160];
        struct metric *gauge;
        long long max_ms, n;
    } lagt[32];
    size_t nlagt;
    long long lag_tick;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The last offset an async commit queued for this partition, if any. */
static struct async_sent *async_find(struct stage *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->nasync; i++)
        if (s->async[i].partition == partition && strcmp(s->async[i].topic, topic) == 0)
            return &s->async[i];
    return NULL;
}

static void on_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts)
{
    struct stage *s = opaque;
    /* Lost (the session timed out: the broker is gone or was): a commit cannot succeed and
     * would hold the loop for the coordinator's timeout; the new owner re-reads from the last
     * commit, which the jobs' idempotency makes harmless. */
    int lost = kafka_consumer_assignment_lost(s->consumer);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        /* Commit what finished before giving the partition away. */
        int64_t next;
        if (!lost && stage_offsets_committable(s->offsets, tp->topic, tp->partition, &next) == 1)
            kafka_consumer_commit(s->consumer, tp->topic, tp->partition, next);
        stage_offsets_drop(s->offsets, tp->topic, tp->partition);
        struct async_sent *a = async_find(s, tp->topic, tp->partition);
        if (a) {
            free(a->topic);
            *a = s->async[--s->nasync];
        }
        log_kv(LOG_INFO, NULL, "partition revoked", "stage", s->name, "topic", tp->topic,
               (char *)NULL);
    }
}

/* ---- /metrics and /health (civetweb threads: they read only metrics and flags) ------------ */

static void http_reply(struct mg_connection *conn, int status, const char *ctype, const char *body)
{
    size_t n = strlen(body);
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
              "Connection: close\r\n\r\n",
              status,
              status == 200   ? "OK"
              : status == 401 ? "Unauthorized"
                              : "Service Unavailable",
              ctype, n);
    mg_write(conn, body, n);
}

static int http_metrics(struct mg_connection *conn, void *cbdata)
{
    struct stage *s = cbdata;
    if (s->metrics_token &&
        !metrics_token_ok(s->metrics_token, mg_get_header(conn, "Authorization"))) {
        http_reply(conn, 401, "application/json",
                   "{\"error\":{\"code\":\"unauthorized\",\"message\":\"a valid metrics "
                   "token is required\"}}");
        return 401;
    }
    char *text = metrics_render();
    http_reply(conn, 200, "text/plain; version=0.0.4", text ? text : "");
    free(text);
    return 200;
}

static int http_health(struct mg_connection *conn, void *cbdata)
{
    struct stage *s = cbdata;
    char body[256];
    int stopping = s->stop != 0;
    snprintf(body, sizeof(body),
             "{\"status\":\"%s\",\"stage\":\"%s\",\"in_flight\":%.0f,\"done\":%.0f}",
             stopping ? "draining" : "ok", s->name, metrics_value(s->m_inflight),
             metrics_value(s->m_done));
    http_reply(conn, stopping ? 503 : 200, "application/json", body);
    return stopping ? 503 : 200;
}

static int http_start(struct stage *s, const char *listen, char *err, size_t errlen)
{
    const char *opts[] = {"listening_ports",    listen,  "num_threads", "2",
                          "request_timeout_ms", "10000", NULL};
    struct mg_callbacks cbs;
    memset(&cbs, 0, sizeof(cbs));
    mg_init_library(0);
    s->http = mg_start(&cbs, NULL, opts);
    if (!s->http) {
        mg_exit_library();
        snprintf(err, errlen, "cannot listen on %s for /metrics", listen);
        return -EADDRINUSE;
    }
    mg_set_request_handler(s->http, "/metrics", http_metrics, s);
    mg_set_request_handler(s->http, "/health", http_health, s);
    log_kv(LOG_INFO, NULL, "metrics listening", "stage", s->name, "listen", listen, (char *)NULL);
    return 0;
}

int stage_new(struct stage **out, const struct stage_opts *o, char *err, size_t errlen)
{
    int rc = -ENOMEM;
    struct stage *s = calloc(1, sizeof(*s));
    if (!s)
        goto out;
    pthread_mutex_init(&s->post_mu, NULL);
    s->kafka_fd = -1;
    s->name = strdup(o->name ? o->name : "stage");
    if (!s->name)
        goto out;
    s->producer = o->producer;
    s->loop = o->loop;
    s->h = o->handlers;
    s->max_inflight = o->max_inflight > 0 ? o->max_inflight : 5000;
    s->drain_timeout_ms = o->drain_timeout_ms > 0 ? o->drain_timeout_ms : 20000;
    s->commit_interval_ms = o->commit_interval_ms > 0 ? o->commit_interval_ms : 200;
    if (stage_offsets_new(&s->offsets) < 0 || stage_sessions_new(&s->sessions) < 0)
        goto out;
    char labels[160];
    snprintf(labels, sizeof(labels), "stage=\"%s\"", s->name);
    s->m_inflight =
        metrics_gauge("agenthub_stage_jobs_in_flight", "Jobs received, not done", labels);
    s->m_done = metrics_counter("agenthub_stage_jobs_done_total", "Jobs finished", labels);
    s->m_dlq =
        metrics_counter("agenthub_stage_dead_letters_total", "Messages sent to the DLQ", labels);
    s->m_job =
        metrics_histogram("agenthub_stage_job_seconds",
                          "Job time in the stage (taken from the broker to done)", labels, NULL, 0);
    if (o->group_id && !(s->group = strdup(o->group_id)))
        goto out;
    struct kafka_consumer_opts co = {
        .brokers = o->brokers,
        .group_id = o->group_id,
        .topics = o->topics,
        .ntopics = o->ntopics,
        .offset_reset = "earliest",
        .on_revoke = on_revoke,
        .opaque = s,
    };
    rc = kafka_consumer_new(&s->consumer, &co, err, errlen);
    if (rc < 0)
        goto out;
    /* One wait for everything: librdkafka signals this eventfd when messages (or rebalance
     * events) arrive, and stage_run watches it in the httploop's epoll set. */
    s->kafka_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->kafka_fd < 0 || kafka_consumer_io_event(s->consumer, s->kafka_fd) < 0) {
        rc = -EIO;
        snprintf(err, errlen, "cannot set up the consumer's wake-up fd");
        goto out;
    }
    if (o->metrics_token && *o->metrics_token && !(s->metrics_token = strdup(o->metrics_token))) {
        rc = -ENOMEM;
        goto out;
    }
    if (o->metrics_listen && *o->metrics_listen) {
        rc = http_start(s, o->metrics_listen, err, errlen);
        if (rc < 0)
            goto out;
    }
    *out = s;
    s = NULL;
    rc = 0;
out:
    if (rc == -ENOMEM && err && errlen)
        snprintf(err, errlen, "out of memory");
    stage_free(s);
    return rc;
}

static void run_posted(struct stage *s);

static void job_free(struct stage_job *j)
{
    if (!j)
        return;
    envelope_cleanup(&j->env);
    free(j->topic);
    free(j);
}

static void job_unlink(struct stage *s, struct stage_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        s->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->prev = j->next = NULL;
    s->njobs--;
}

void stage_free(struct stage *s)
{
    if (!s)
        return;
    /* Work posted after the loop stopped (a delivery report during the producer's final
     * flush) is run, not dropped: it releases the jobs it is about. */
    s->closed = 1;
    run_posted(s);
    if (s->http) {
        mg_stop(s->http);
        mg_exit_library();
    }
    kafka_consumer_free(s->consumer);
    if (s->kafka_fd >= 0)
        close(s->kafka_fd); /* after the consumer: librdkafka no longer writes to it */
    stage_sessions_free(s->sessions);
    struct stage_job *j = s->jobs;
    s->jobs = NULL;
    s->njobs = 0;
    while (j) {
        struct stage_job *next = j->next;
        job_free(j);
        j = next;
    }
    stage_offsets_free(s->offsets);
    pthread_mutex_destroy(&s->post_mu);
    for (size_t i = 0; i < s->nasync; i++)
        free(s->async[i].topic);
    free(s->async);
    free(s->name);
    free(s->metrics_token);
    free(s->group);
    free(s);
}

void stage_request_stop(struct stage *s)
{
    s->stop = 1;
    if (s->loop)
        httploop_wakeup(s->loop);
}

int stage_stopping(const struct stage *s)
{
    return s->stop != 0;
}

/* Starts a job. A job finished synchronously inside its start handler starts the next job of
 * its session through stage_job_done(); starting that one right there would recurse once per
 * queued job (a session's backlog of redelivered, already-answered jobs could exhaust the
 * stack), so jobs that become ready while a start handler runs are queued and started by the
 * outermost call, one after the other. */
static void start_job(struct stage *s, struct stage_job *j)
{
    if (s->in_start) {
        j->ready_next = NULL;
        if (s->ready_tail)
            s->ready_tail->ready_next = j;
        else
            s->ready_head = j;
        s->ready_tail = j;
        return;
    }
    s->in_start = 1;
    for (;;) {
        j->started = 1;
        s->h.start(s->h.opaque, j);
        j = s->ready_head;
        if (!j)
            break;
        s->ready_head = j->ready_next;
        if (!s->ready_head)
            s->ready_tail = NULL;
    }
    s->in_start = 0;
}

/* Starts the jobs one intake pass queued (stage_run), after handing their envelopes to the
 * prefetch handler: one round trip for what each start would otherwise ask on its own. */
static void start_pass(struct stage *s)
{
    if (!s->ready_head)
        return;
    if (s->h.prefetch) {
        const struct envelope *envs[PASS_MAX];
        size_t n = 0;
        for (struct stage_job *j = s->ready_head; j && n < PASS_MAX; j = j->ready_next)
            envs[n++] = &j->env;
        s->h.prefetch(s->h.opaque, envs, n);
    }
    struct stage_job *j = s->ready_head;
    s->ready_head = j->ready_next;
    if (!s->ready_head)
        s->ready_tail = NULL;
    start_job(s, j); /* and the rest of the queue, in order */
}

void stage_job_done(struct stage_job *j)
{
    struct stage *s = j->stage;
    stage_offsets_done(s->offsets, j->topic, j->partition, j->offset);
    s->done_total++;
    long long took = now_ms() - j->recv_ms;
    s->st_job_sum += took;
    s->st_job_n++;
    if (took > s->st_job_max)
        s->st_job_max = took;
    metrics_observe(s->m_job, (double)took / 1000.0);
    metrics_inc(s->m_done, 1);
    char key[sizeof(j->key)];
    memcpy(key, j->key, sizeof(key));
    job_unlink(s, j);
    job_free(j);
    metrics_set(s->m_inflight, (double)s->njobs);
    /* The session's next job, if one waits. Started after this one is gone so a
     * synchronous completion cannot recurse unboundedly through the same session. */
    struct stage_job *next = stage_sessions_pop(s->sessions, key);
    if (next && s->closed) {
        /* After stage_run returned (jobs released while the loop is torn down): nothing new
         * starts; stage_free drops the record. */
        return;
    }
    if (next)
        start_job(s, next);
}

const struct envelope *stage_job_envelope(const struct stage_job *j)
{
    return &j->env;
}
const char *stage_job_topic(const struct stage_job *j)
{
    return j->topic;
}
int32_t stage_job_partition(const struct stage_job *j)
{
    return j->partition;
}
int64_t stage_job_offset(const struct stage_job *j)
{
    return j->offset;
}
struct stage *stage_job_stage(const struct stage_job *j)
{
    return j->stage;
}
void stage_job_set_data(struct stage_job *j, void *data)
{
    j->data = data;
}
void *stage_job_data(const struct stage_job *j)
{
    return j->data;
}
size_t stage_inflight(const struct stage *s)
{
    return s->njobs;
}
long stage_jobs_done_total(const struct stage *s)
{
    return s->done_total;
}

int stage_post(struct stage *s, void (*fn)(void *arg), void *arg)
{
    struct posted *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&s->post_mu);
    /* LIFO push; run_posted reverses to keep order. */
    p->next = s->posted;
    s->posted = p;
    pthread_mutex_unlock(&s->post_mu);
    if (s->loop)
        httploop_wakeup(s->loop);
    return 0;
}

static void run_posted(struct stage *s)
{
    pthread_mutex_lock(&s->post_mu);
    struct posted *p = s->posted;
    s->posted = NULL;
    pthread_mutex_unlock(&s->post_mu);
    struct posted *rev = NULL;
    while (p) {
        struct posted *n = p->next;
        p->next = rev;
        rev = p;
        p = n;
    }
    while (rev) {
        struct posted *n = rev->next;
        rev->fn(rev->arg);
        free(rev);
        rev = n;
    }
}

static void dead_letter(struct stage *s, const rd_kafka_message_t *m, const char *why)
{
    char err[256] = "";
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (kafka_dead_letter(s->producer, m, why, err, sizeof(err)) < 0) {
        /* The partition must keep flowing; the message is logged and dropped. */
        log_kv(LOG_ERROR, NULL, "dead letter failed, message dropped", "stage", s->name, "topic",
               topic, "error", why, "dlq_error", err, (char *)NULL);
    } else {
        log_kv(LOG_WARN, NULL, "message dead-lettered", "stage", s->name, "topic", topic, "error",
               why, (char *)NULL);
    }
    metrics_inc(s->m_dlq, 1);
}

/* Broker lag of one message: its timestamp (producer create time, wall clock) to now. */
static void note_lag(struct stage *s, const rd_kafka_message_t *m)
{
    int64_t ts = rd_kafka_message_timestamp(m, NULL);
    if (ts <= 0)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long lag = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 - ts;
    if (lag < 0)
        lag = 0;
    s->st_lag_sum += lag;
    s->st_lag_n++;
    if (lag > s->st_lag_max)
        s->st_lag_max = lag;
    const char *topic = rd_kafka_topic_name(m->rkt);
    size_t i = 0;
    while (i < s->nlagt && strcmp(s->lagt[i].topic, topic) != 0)
        i++;
    if (i == s->nlagt && i < sizeof(s->lagt) / sizeof(s->lagt[0])) {
        char ge[160], te[320], labels[520];
        metrics_label_escape(ge, sizeof(ge), s->group ? s->group : s->name);
        metrics_label_escape(te, sizeof(te), topic);
        snprintf(labels, sizeof(labels), "group=\"%s\",topic=\"%s\"", ge, te);
        snprintf(s->lagt[i].topic, sizeof(s->lagt[i].topic), "%s", topic);
        s->lagt[i].gauge = metrics_gauge("agenthub_stage_consumer_lag_seconds",
                                         "Largest broker lag (message timestamp to taken) of the "
                                         "last second, by consumer group and topic",
                                         labels);
        s->nlagt++;
    }
    if (i < s->nlagt) {
        if (lag > s->lagt[i].max_ms)
            s->lagt[i].max_ms = lag;
        s->lagt[i].n++;
    }
}

/* Once a second: publish each topic's consumer lag of the second gone by. */
static void lag_publish(struct stage *s)
{
    long long t = now_ms();
    if (t - s->lag_tick < 1000)
        return;
    s->lag_tick = t;
    for (size_t i = 0; i < s->nlagt; i++) {
        metrics_set(s->lagt[i].gauge, (double)s->lagt[i].max_ms / 1000.0);
        s->lagt[i].max_ms = s->lagt[i].n = 0;
    }
}

static void handle_message(struct stage *s, rd_kafka_message_t *m)
{
    char err[256] = "";
    const char *topic = rd_kafka_topic_name(m->rkt);
    struct stage_job *j = NULL;
    if (m->err) {
        log_kv(LOG_WARN, NULL, "consumer error", "stage", s->name, "error",
               rd_kafka_message_errstr(m), (char *)NULL);
        goto out;
    }
    if (stage_offsets_add(s->offsets, topic, m->partition, m->offset) < 0) {
        /* Already in flight here (redelivered after a rebalance): the running copy covers it. */
        goto out;
    }
    j = calloc(1, sizeof(*j));
    if (!j || !(j->topic = strdup(topic))) {
        /* Leave the offset in flight: it is re-read after a restart rather than lost. */
        log_kv(LOG_ERROR, NULL, "out of memory for a job", "stage", s->name, (char *)NULL);
        free(j);
        j = NULL;
        goto out;
    }
    j->stage = s;
    j->partition = m->partition;
    j->offset = m->offset;
    j->recv_ms = now_ms();
    note_lag(s, m);
    if (!m->payload || envelope_decode(&j->env, m->payload, m->len, err, sizeof(err)) < 0 ||
        (s->h.validate && s->h.validate(s->h.opaque, &j->env, err, sizeof(err)) < 0)) {
        if (!err[0])
            snprintf(err, sizeof(err), "empty message");
        dead_letter(s, m, err);
        stage_offsets_done(s->offsets, topic, m->partition, m->offset);
        job_free(j);
        j = NULL;
        goto out;
    }
    snprintf(j->key, sizeof(j->key), "%s|%s", topic, j->env.session_id);
    j->next = s->jobs;
    if (s->jobs)
        s->jobs->prev = j;
    s->jobs = j;
    s->njobs++;
    if (s->njobs > s->peak)
        s->peak = s->njobs;
    metrics_set(s->m_inflight, (double)s->njobs);
    int r = stage_sessions_push(s->sessions, j->key, j);
    if (r == 1) {
        start_job(s, j);
    } else if (r < 0) {
        log_kv(LOG_ERROR, NULL, "out of memory queueing a job", "stage", s->name, (char *)NULL);
        job_unlink(s, j);
        job_free(j);
    }
    j = NULL;
out:
    rd_kafka_message_destroy(m);
}

static void commit_one(void *opaque, const char *topic, int32_t partition, int64_t next)
{
    struct stage *s = opaque;
    if (kafka_consumer_commit(s->consumer, topic, partition, next) == 0)
        stage_offsets_committed(s->offsets, topic, partition, next);
}

/* The periodic commit must not stall the loop for a coordinator round trip per partition:
 * it is queued, and remembered here only so the same offset is not queued again. The tracker
 * still counts it as uncommitted, so the synchronous commit at shutdown (and on revoke) sends
 * it once more and waits for it: a lost async commit only means a re-read, never a skip. */
static void commit_one_async(void *opaque, const char *topic, int32_t partition, int64_t next)
{
    struct stage *s = opaque;
    struct async_sent *a = async_find(s, topic, partition);
    if (a && a->next >= next)
        return;
    if (!a) {
        char *t = strdup(topic);
        struct async_sent *na = t ? realloc(s->async, (s->nasync + 1) * sizeof(*na)) : NULL;
        if (!na) {
            free(t);
            commit_one(s, topic, partition, next); /* no memory: the blocking way */
            return;
        }
        s->async = na;
        a = &s->async[s->nasync++];
        a->topic = t;
        a->partition = partition;
    }
    a->next = next;
    kafka_consumer_commit_async(s->consumer, topic, partition, next);
}

/* Synchronous: at shutdown, so what finished is committed before the group is left. */
static void commit_all(struct stage *s)
{
    stage_offsets_foreach_committable(s->offsets, commit_one, s);
}

static void commit_all_async(struct stage *s)
{
    stage_offsets_foreach_committable(s->offsets, commit_one_async, s);
}

/* One line every few seconds while there is work: in flight, peak, done. */
static void log_stats(struct stage *s, long long *last, long *last_done)
{
    long long t = now_ms();
    if (t - *last < 2000 || (s->njobs == 0 && s->done_total == *last_done))
        return;
    char a[24], b[24], c[24], la[24], lm[24], ja[24], jm[24];
    snprintf(a, sizeof(a), "%zu", s->njobs);
    snprintf(b, sizeof(b), "%zu", s->peak);
    snprintf(c, sizeof(c), "%ld", s->done_total);
    snprintf(la, sizeof(la), "%lld", s->st_lag_n ? s->st_lag_sum / s->st_lag_n : 0);
    snprintf(lm, sizeof(lm), "%lld", s->st_lag_max);
    snprintf(ja, sizeof(ja), "%lld", s->st_job_n ? s->st_job_sum / s->st_job_n : 0);
    snprintf(jm, sizeof(jm), "%lld", s->st_job_max);
    log_kv(LOG_INFO, NULL, "stage stats", "stage", s->name, "in_flight", a, "peak_in_flight", b,
           "done", c, "lag_avg_ms", la, "lag_max_ms", lm, "job_avg_ms", ja, "job_max_ms", jm,
           (char *)NULL);
    s->st_lag_sum = s->st_lag_max = s->st_lag_n = 0;
    s->st_job_sum = s->st_job_max = s->st_job_n = 0;
    *last = t;
    *last_done = s->done_total;
}

/* The consumer's eventfd is readable: librdkafka queued messages or events. Draining the
 * fd is enough here; stage_run polls the consumer right after httploop_run returns. */
static void on_kafka_fd(void *opaque, int fd)
{
    (void)opaque;
    uint64_t v;
    while (read(fd, &v, sizeof(v)) > 0)
        ;
}

/* How long the loop may sleep: until the next commit is due, and never long, so a wake-up
 * that got lost (a consumer error ending a poll batch early) costs at most this much. */
static int wait_ms(const struct stage *s, long long last_commit)
{
    long long left = last_commit + s->commit_interval_ms - now_ms();
    if (left < 0)
        return 0;
    return left > 100 ? 100 : (int)left;
}

int stage_run(struct stage *s)
{
    long long last_commit = now_ms(), last_stats = now_ms();
    long last_done = 0;
    s->running = 1;
    int watched = httploop_watch_fd(s->loop, s->kafka_fd, on_kafka_fd, s) == 0;
    if (!watched)
        log_kv(LOG_WARN, NULL, "consumer fd not watched, polling instead", "stage", s->name,
               (char *)NULL);
    log_kv(LOG_INFO, NULL, "stage running", "stage", s->name, (char *)NULL);
    while (!s->stop) {
        /* Take what the consumer has queued, without waiting, while there is room. The jobs
         * started in one pass share what they read of tenant config (passmemo.h). */
        int more = 0;
        passmemo_begin();
        s->in_start = 1; /* the pass's jobs queue up, and start once it has taken them all */
        for (int i = 0; !s->stop && (long)s->njobs < s->max_inflight; i++) {
            if (i == PASS_MAX) {
                more = 1; /* a full batch: let the loop run, then come back at once */
                break;
            }
            rd_kafka_message_t *m = kafka_consumer_poll(s->consumer, 0);
            if (!m)
                break;
            handle_message(s, m);
        }
        s->in_start = 0;
        start_pass(s);
        passmemo_end();
        run_posted(s);
        /* ONE wait for HTTP transfers, timers, posted work (httploop_wakeup) and the
         * consumer (its eventfd is in the same epoll set): whichever comes first. */
        int wait = (more || s->posted) ? 0 : wait_ms(s, last_commit);
        if (!watched && wait > 10)
            wait = 10;
        httploop_run(s->loop, wait);
        run_posted(s);
        if (now_ms() - last_commit >= s->commit_interval_ms) {
            commit_all_async(s);
            last_commit = now_ms();
        }
        log_stats(s, &last_stats, &last_done);
        lag_publish(s);
    }
    /* Drain: no new messages; let what is in flight finish within the bound. */
    long long deadline = now_ms() + s->drain_timeout_ms;
    char nbuf[32];
    snprintf(nbuf, sizeof(nbuf), "%zu", s->njobs);
    log_kv(LOG_INFO, NULL, "draining", "stage", s->name, "in_flight", nbuf, (char *)NULL);
    while (s->njobs > 0 && now_ms() < deadline) {
        run_posted(s);
        httploop_run(s->loop, 20);
        run_posted(s);
        if (now_ms() - last_commit >= s->commit_interval_ms) {
            commit_all_async(s);
            last_commit = now_ms();
        }
    }
    commit_all(s);
    if (watched)
        httploop_unwatch_fd(s->loop, s->kafka_fd);
    snprintf(nbuf, sizeof(nbuf), "%zu", s->njobs);
    log_kv(LOG_INFO, NULL, "stage stopped", "stage", s->name, "unfinished", nbuf, (char *)NULL);
    s->running = 0;
    s->closed = 1;
    return 0;
}

/* ---- the binaries' main loop --------------------------------------------------------------- */

static struct stage *volatile g_signalled; /* the stage a signal stops */

static void stage_on_signal(int sig)
{
    (void)sig;
    struct stage *s = g_signalled;
    if (s)
        stage_request_stop(s); /* a flag and an eventfd write: async-signal-safe */
}

int stage_run_until_signal(struct stage *s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = stage_on_signal;
    g_signalled = s;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = stage_run(s);
    g_signalled = NULL;
    return rc;
}
