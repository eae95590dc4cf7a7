/* sseloop.c — job event streams on an epoll loop of the ingress's own (sseloop.h). */
#include "sseloop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "json_field.h"
#include "jobevents.h"
#include "metrics.h"
#include "sse.h"

#define JOB_BUCKETS 4096
#define READ_PAGE 200     /* events per XRANGE, as the thread path */
#define READER_BATCH 256  /* reads pipelined in one Redis round trip */
#define MAX_CURSORS 8     /* distinct cursors of one job read per round */
#define TICK_MS 250       /* heartbeats, max age and polling are checked this often */
#define PG_CHECK_S 5.0    /* a job's state in PostgreSQL is re-read this often */
#define CLOSE_GRACE_S 5.0 /* an ended stream's last bytes get this long to drain */
#define WRITERS_MAX 64    /* INGRESS_SSE_WRITERS at most */
#define SPREAD_MIN 256    /* a fan-out to fewer streams is written by the loop thread alone */
#define SPREAD_CHUNK 64   /* streams a writer claims at once */

/* ---- data -------------------------------------------------------------------------------- */

struct job;

/* What a fan-out walks comes first (two cache lines): with 20,000 streams of one job, the
 * walk's cache misses were most of the time before the first send. */
struct stream {
    int fd;
    int chunked;
    int closing; /* ended: closed once its buffer is written (or CLOSE_GRACE_S passed) */
    int want_out;
    char last[48];                /* the cursor: the id of the last event written */
    struct stream *jprev, *jnext; /* the job's streams */
    struct job *job;
    size_t out_off, out_len;
    double last_write;
    struct stream *hprev, *hnext; /* heartbeat list, oldest write first */
    char *out;                    /* bytes the socket has not taken yet */
    size_t out_cap;
    struct stream *aprev, *anext; /* age list, oldest first */
    double start, closing_at;
    int held_caller;
    char tenant[65];
    char sub[129];
};

/* How many of a job's streams (not closing) are at one cursor. A read is asked per distinct
 * cursor; counting them as streams come, advance and go spares a walk over every stream of
 * the job at each wake-up and poll. */
#define CURSORS_TRACKED 16
struct cursor {
    char last[48];
    long n;
};

struct job {
    char job_id[40];
    char tenant[65];
    char sub[129];
    struct stream *streams;
    long nstreams;
    long nclosing; /* streams ended and draining */
    struct cursor cur[CURSORS_TRACKED];
    int ncur;
    int cur_lost;   /* more distinct cursors than tracked: the next job_read counts again */
    int inflight;   /* reads asked of the reader, not answered yet */
    int again;      /* woken while reads were in flight: read once more */
    int delivering; /* its stream list is being walked: do not free it */
    double next_poll, last_pg;
    struct job *hnext;
};

/* loop -> reader */
struct read_req {
    char tenant[65], sub[129], job_id[40], after[48];
    int check_pg;
    double asked_at;
    struct read_req *next;
};

/* reader -> loop */
struct read_res {
    char job_id[40], after[48], new_last[48];
    char *payload; /* SSE text of the events read, NULL when none */
    size_t len;
    int ended; /* a final or error event is in payload */
    int more;  /* a full page: read again */
    double asked_at;
    struct read_res *next;
};

struct notice {
    char job_id[40];
    struct notice *next;
};

/* One stream's share of a fan-out: the bytes go straight to its socket (its buffer is empty),
 * written by whichever writer claims it. Writers touch only this, never the stream. */
struct wtask {
    struct stream *s;
    int fd;
    int close_after; /* the stream ends with these bytes: close once they are all written */
    const char *p;
    size_t n;
    size_t done; /* bytes the socket took */
    int failed;  /* the client is gone */
    int closed;  /* written in full and closed by the writer */
};

/* The fan-out being written: tasks claimed SPREAD_CHUNK at a time. The loop thread builds
 * the tasks while the other writers already send the first ones: built grows as it goes,
 * complete says it is final. */
struct fanout {
    struct wtask *t;
    size_t built;     /* __atomic: t[0..built) are ready */
    int complete;     /* __atomic */
    size_t next_send; /* __atomic */
};

struct sseloop {
    struct ingress *app;
    int ep, efd;
    pthread_t loop_thread, reader_thread;
    int loop_started, reader_started;
    /* the inbox (any thread -> loop), under lock */
    pthread_mutex_t lock;
    struct stream *adopt_head;
    struct notice *notice_head;
    struct read_res *res_head, *res_tail;
    int stop;
    /* the reader's queue, under rlock */
    pthread_mutex_t rlock;
    pthread_cond_t rcv;
    struct read_req *req_head, *req_tail;
    int rstop;
    /* loop thread only */
    struct job *jobs[JOB_BUCKETS];
    struct stream *hb_head, *hb_tail, *age_head, *age_tail;
    long nstreams; /* __atomic */
    size_t out_max;
    struct wtask *tasks; /* reused by every fan-out, grown as needed */
    size_t tasks_cap;
    /* the writers (INGRESS_SSE_WRITERS, the loop thread being one), under wlock */
    int nwriters, wstarted;
    pthread_t wthreads[WRITERS_MAX];
    pthread_mutex_t wlock;
    pthread_cond_t wcv, wdone;
    struct fanout fo;
    int fo_spread;      /* the other writers help with this one (loop thread only) */
    unsigned long wgen; /* a new fan-out to help with */
    int wbusy;          /* writers still working on it */
    int wstop;
    struct metric *open_g, *dropped_c, *loop_g, *write_h, *wake_h;
};

static unsigned hash_id(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % JOB_BUCKETS;
}

static void wake(struct sseloop *l)
{
    uint64_t one = 1;
    ssize_t n = write(l->efd, &one, sizeof one);
    (void)n; /* EAGAIN: the counter is already non-zero, the loop wakes anyway */
}

/* ---- taking the socket from civetweb ------------------------------------------------------ */

static int sockaddr_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return -1;
}

/* fd is the connection's socket: its peer is the request's client and its local port the
 * port the request came in on. */
static int fd_is_conn(int fd, const struct mg_request_info *ri)
{
    struct sockaddr_storage peer = {0}, local = {0};
    socklen_t pl = sizeof peer, ll = sizeof local;
    char addr[INET6_ADDRSTRLEN];
    if (fd <= 2 || getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 ||
        getsockname(fd, (struct sockaddr *)&local, &ll) != 0)
        return 0;
    if (sockaddr_port(&peer) != ri->remote_port || sockaddr_port(&local) != ri->server_port)
        return 0;
    const void *a = peer.ss_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)&peer)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)&peer)->sin6_addr;
    if (!inet_ntop(peer.ss_family, a, addr, sizeof addr))
        return 0;
    return strcmp(addr, ri->remote_addr) == 0;
}

/* In civetweb 1.15 struct mg_connection holds its request_info and response_info and, a few
 * pointers later, its struct socket (whose first member is the descriptor). The distance
 * depends on build options, so it is searched once within a small window and remembered;
 * every use is verified again (fd_is_conn). */
#define FD_SEARCH_BYTES 256
static long fd_offset = -1; /* __atomic */

int sseloop_take_socket(struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (!ri || ri->is_ssl)
        return -1;
    const char *base = (const char *)ri + sizeof *ri + sizeof(struct mg_response_info);
    int fd = -1;
    long off = __atomic_load_n(&fd_offset, __ATOMIC_RELAXED);
    if (off >= 0) {
        int v;
        memcpy(&v, base + off, sizeof v);
        if (fd_is_conn(v, ri))
            fd = v;
    }
    for (long o = 0; fd < 0 && o + (long)sizeof(int) <= FD_SEARCH_BYTES; o += (long)sizeof(int)) {
        int v;
        memcpy(&v, base + o, sizeof v);
        if (fd_is_conn(v, ri)) {
            fd = v;
            __atomic_store_n(&fd_offset, o, __ATOMIC_RELAXED);
        }
    }
    if (fd < 0)
        return -1;
    int mine = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (mine < 0)
        return -1;
    /* civetweb's descriptor number now names a socket whose peer is already closed: its
     * shutdown, linger and close act on that, and its next read sees end of file. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        close(mine);
        return -1;
    }
    int rc = dup2(sv[0], fd);
    close(sv[0]);
    close(sv[1]);
    if (rc < 0) {
        close(mine);
        return -1;
    }
    return mine;
}

/* ---- output ------------------------------------------------------------------------------- */

static void stream_free(struct sseloop *l, struct stream *s);

static void want_out(struct sseloop *l, struct stream *s, int on)
{
    if (s->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0), .data.ptr = s};
    epoll_ctl(l->ep, EPOLL_CTL_MOD, s->fd, &ev);
    s->want_out = on;
}

/* Writes what is buffered. 0, or -1 when the client is gone (the caller frees). */
static int stream_flush(struct sseloop *l, struct stream *s)
{
    while (s->out_off < s->out_len) {
        ssize_t w = send(s->fd, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            want_out(l, s, 1);
            return 0;
        }
        if (w <= 0)
            return -1;
        s->out_off += (size_t)w;
    }
    s->out_off = s->out_len = 0;
    want_out(l, s, 0);
    return 0;
}

static int out_append(struct sseloop *l, struct stream *s, const char *p, size_t n)
{
    size_t pending = s->out_len - s->out_off;
    if (pending + n > l->out_max)
        return -1;
    if (s->out_off) {
        memmove(s->out, s->out + s->out_off, pending);
        s->out_off = 0;
        s->out_len = pending;
    }
    if (s->out_len + n > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 1024;
        while (cap < s->out_len + n)
            cap *= 2;
        char *q = realloc(s->out, cap);
        if (!q)
            return -1;
        s->out = q;
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_len, p, n);
    s->out_len += n;
    return 0;
}

/* s was written to at now: to the tail of the heartbeat list. */
static void hb_touch(struct sseloop *l, struct stream *s, double now)
{
    s->last_write = now;
    if (s != l->hb_tail) {
        if (s->hprev)
            s->hprev->hnext = s->hnext;
        else
            l->hb_head = s->hnext;
        s->hnext->hprev = s->hprev;
        s->hprev = l->hb_tail;
        s->hnext = NULL;
        l->hb_tail->hnext = s;
        l->hb_tail = s;
    }
}

/* Sends n bytes (already framed). 0, or -1 when the stream was freed: the client is gone or
 * it fell more than INGRESS_SSE_BUFFER_KB behind (a slow consumer, dropped). */
static int stream_send(struct sseloop *l, struct stream *s, const char *p, size_t n, double now)
{
    size_t done = 0;
    if (s->out_off == s->out_len) {
        while (done < n) {
            ssize_t w = send(s->fd, p + done, n - done, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (w <= 0) {
                stream_free(l, s);
                return -1;
            }
            done += (size_t)w;
        }
    }
    if (done < n) {
        if (out_append(l, s, p + done, n - done) != 0) {
            metrics_inc(l->dropped_c, 1);
            log_kv(LOG_INFO, NULL, "slow SSE client dropped", "job_id", s->job->job_id,
                   (char *)NULL);
            stream_free(l, s);
            return -1;
        }
        want_out(l, s, 1);
    }
    hb_touch(l, s, now);
    return 0;
}

/* ---- the writers -------------------------------------------------------------------------- */

static void task_close(struct wtask *t)
{
    if (t->close_after && !t->failed && t->done == t->n) {
        close(t->fd); /* the only reference: this also takes it off the epoll set */
        t->closed = 1;
    }
}

/* Writes the fan-out's tasks that this thread claims; any number of threads at once. First
 * every send of the claimed chunks, then their closes (a close costs as much as a send on
 * loopback: the peer is woken with the FIN), so no stream's event waits behind a close. */
static void fanout_work(struct fanout *fo)
{
    size_t mine[256], nmine = 0, i, n = 0;
    for (;;) {
        i = __atomic_fetch_add(&fo->next_send, SPREAD_CHUNK, __ATOMIC_RELAXED);
        size_t end;
        for (;;) { /* chunk i built, or the build complete; rarely waits (sends are slower) */
            int complete = __atomic_load_n(&fo->complete, __ATOMIC_ACQUIRE);
            size_t built = __atomic_load_n(&fo->built, __ATOMIC_ACQUIRE);
            if (complete || built >= i + SPREAD_CHUNK) {
                n = built;
                end = i + SPREAD_CHUNK < built ? i + SPREAD_CHUNK : built;
                break;
            }
            sched_yield();
        }
        if (i >= end)
            break;
        for (size_t k = i; k < end; k++) {
            struct wtask *t = &fo->t[k];
            while (t->done < t->n) {
                ssize_t w = send(t->fd, t->p + t->done, t->n - t->done, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                    break;
                if (w <= 0) {
                    t->failed = 1;
                    break;
                }
                t->done += (size_t)w;
            }
        }
        if (nmine < sizeof mine / sizeof mine[0]) {
            mine[nmine++] = i;
        } else {
            for (size_t k = i; k < end; k++)
                task_close(&fo->t[k]);
        }
    }
    for (size_t c = 0; c < nmine; c++) {
        size_t end = mine[c] + SPREAD_CHUNK < n ? mine[c] + SPREAD_CHUNK : n;
        for (size_t k = mine[c]; k < end; k++)
            task_close(&fo->t[k]);
    }
}

static void *writer_main(void *arg)
{
    struct sseloop *l = arg;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&l->wlock);
        while (l->wgen == seen && !l->wstop)
            pthread_cond_wait(&l->wcv, &l->wlock);
        if (l->wstop) {
            pthread_mutex_unlock(&l->wlock);
            return NULL;
        }
        seen = l->wgen;
        struct fanout *fo = &l->fo;
        pthread_mutex_unlock(&l->wlock);
        fanout_work(fo);
        pthread_mutex_lock(&l->wlock);
        if (--l->wbusy == 0)
            pthread_cond_signal(&l->wdone);
        pthread_mutex_unlock(&l->wlock);
    }
}

/* A fan-out in three steps, all on the loop thread: fanout_begin (the other writers start
 * when about `expect` tasks, SPREAD_MIN or more, are coming), fanout_publish as tasks are
 * built (every SPREAD_CHUNK), fanout_finish (the loop thread writes too, and returns when
 * every task is written, or waits, EAGAIN, in its task). */
static void fanout_begin(struct sseloop *l, struct wtask *t, size_t expect)
{
    int spread = l->wstarted > 0 && expect >= SPREAD_MIN;
    if (!spread) {
        l->fo = (struct fanout){.t = t};
        l->fo_spread = 0;
        return;
    }
    pthread_mutex_lock(&l->wlock);
    l->fo = (struct fanout){.t = t};
    l->fo_spread = 1;
    l->wgen++;
    l->wbusy = l->wstarted;
    pthread_cond_broadcast(&l->wcv);
    pthread_mutex_unlock(&l->wlock);
}

static void fanout_publish(struct sseloop *l, size_t built)
{
    __atomic_store_n(&l->fo.built, built, __ATOMIC_RELEASE);
}

static void fanout_finish(struct sseloop *l, size_t built)
{
    fanout_publish(l, built);
    __atomic_store_n(&l->fo.complete, 1, __ATOMIC_RELEASE);
    fanout_work(&l->fo);
    if (!l->fo_spread)
        return;
    pthread_mutex_lock(&l->wlock);
    while (l->wbusy > 0)
        pthread_cond_wait(&l->wdone, &l->wlock);
    pthread_mutex_unlock(&l->wlock);
}

/* One chunk, and the last (zero) chunk when the stream ends with it. */
static char *frame(const char *p, size_t n, int last, size_t *outlen)
{
    char head[24];
    int h = snprintf(head, sizeof head, "%zx\r\n", n);
    size_t tail = last ? 7 : 2;
    char *f = malloc((size_t)h + n + tail);
    if (!f)
        return NULL;
    memcpy(f, head, (size_t)h);
    memcpy(f + h, p, n);
    memcpy(f + h + n, last ? "\r\n0\r\n\r\n" : "\r\n", tail);
    *outlen = (size_t)h + n + tail;
    return f;
}

static void cursor_add(struct job *j, const char *last, long k)
{
    if (k <= 0)
        return;
    for (int i = 0; i < j->ncur; i++)
        if (strcmp(j->cur[i].last, last) == 0) {
            j->cur[i].n += k;
            return;
        }
    if (j->ncur == CURSORS_TRACKED) {
        j->cur_lost = 1;
        return;
    }
    snprintf(j->cur[j->ncur].last, sizeof j->cur[j->ncur].last, "%s", last);
    j->cur[j->ncur++].n = k;
}

static void cursor_sub(struct job *j, const char *last, long k)
{
    if (k <= 0)
        return;
    for (int i = 0; i < j->ncur; i++)
        if (strcmp(j->cur[i].last, last) == 0) {
            j->cur[i].n -= k;
            if (j->cur[i].n <= 0)
                j->cur[i] = j->cur[--j->ncur];
            return;
        }
    /* not tracked: only when cur_lost, which makes the next job_read count again */
}

/* Streams (not closing) at cursor last; all of them when that is not known. */
static long cursor_count(const struct job *j, const char *last)
{
    for (int i = 0; i < j->ncur; i++)
        if (strcmp(j->cur[i].last, last) == 0)
            return j->cur[i].n;
    return j->cur_lost ? j->nstreams : 0;
}

/* A stream ends (its last chunk is written or waits in its buffer): it reads no more. */
static void stream_closing(struct stream *s, double now)
{
    cursor_sub(s->job, s->last, 1);
    s->job->nclosing++;
    s->closing = 1;
    s->closing_at = now;
}

/* The end of a stream: the last chunk, then the socket closes once its buffer is written. */
static void stream_finish(struct sseloop *l, struct stream *s, double now)
{
    if (s->closing)
        return;
    if (s->chunked && stream_send(l, s, "0\r\n\r\n", 5, now) != 0)
        return;
    if (s->out_off == s->out_len) {
        stream_free(l, s);
        return;
    }
    stream_closing(s, now);
}

/* ---- jobs and streams --------------------------------------------------------------------- */

static struct job *job_find(struct sseloop *l, const char *job_id)
{
    for (struct job *j = l->jobs[hash_id(job_id)]; j; j = j->hnext)
        if (strcmp(j->job_id, job_id) == 0)
            return j;
    return NULL;
}

static void job_drop_if_empty(struct sseloop *l, struct job *j)
{
    if (j->nstreams > 0 || j->delivering)
        return;
    struct job **pp = &l->jobs[hash_id(j->job_id)];
    while (*pp && *pp != j)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = j->hnext;
    free(j); /* answers still in flight find no job and are dropped */
}

static void stream_free(struct sseloop *l, struct stream *s)
{
    struct job *j = s->job;
    if (s->fd >= 0) { /* -1: a writer closed it (which also took it off the epoll set) */
        epoll_ctl(l->ep, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
    }
    if (s->closing)
        j->nclosing--;
    else
        cursor_sub(j, s->last, 1);
    if (s->jprev)
        s->jprev->jnext = s->jnext;
    else
        j->streams = s->jnext;
    if (s->jnext)
        s->jnext->jprev = s->jprev;
    j->nstreams--;
    if (s->hprev)
        s->hprev->hnext = s->hnext;
    else
        l->hb_head = s->hnext;
    if (s->hnext)
        s->hnext->hprev = s->hprev;
    else
        l->hb_tail = s->hprev;
    if (s->aprev)
        s->aprev->anext = s->anext;
    else
        l->age_head = s->anext;
    if (s->anext)
        s->anext->aprev = s->aprev;
    else
        l->age_tail = s->aprev;
    ingress_hold_release(l->app, s->tenant, s->sub, s->held_caller, 1);
    __atomic_sub_fetch(&l->nstreams, 1, __ATOMIC_RELAXED);
    metrics_inc(l->open_g, -1);
    metrics_inc(l->loop_g, -1);
    free(s->out);
    free(s);
    job_drop_if_empty(l, j);
}

static void reader_push(struct sseloop *l, struct read_req *q)
{
    pthread_mutex_lock(&l->rlock);
    if (l->req_tail)
        l->req_tail->next = q;
    else
        l->req_head = q;
    l->req_tail = q;
    pthread_cond_signal(&l->rcv);
    pthread_mutex_unlock(&l->rlock);
}

/* Asks the reader for what follows each distinct cursor of j's streams. */
static void job_read(struct sseloop *l, struct job *j, double now)
{
    if (j->inflight) {
        j->again = 1;
        return;
    }
    if (j->cur_lost) { /* count again; at worst the first CURSORS_TRACKED are read */
        j->ncur = 0;
        j->cur_lost = 0;
        for (struct stream *s = j->streams; s; s = s->jnext)
            if (!s->closing)
                cursor_add(j, s->last, 1);
    }
    const char *cur[MAX_CURSORS];
    int n = 0;
    for (int i = 0; i < j->ncur && n < MAX_CURSORS; i++)
        cur[n++] = j->cur[i].last;
    int check_pg = now - j->last_pg >= PG_CHECK_S;
    if (check_pg)
        j->last_pg = now;
    for (int i = 0; i < n; i++) {
        struct read_req *q = calloc(1, sizeof *q);
        if (!q)
            break;
        snprintf(q->tenant, sizeof q->tenant, "%s", j->tenant);
        snprintf(q->sub, sizeof q->sub, "%s", j->sub);
        snprintf(q->job_id, sizeof q->job_id, "%s", j->job_id);
        snprintf(q->after, sizeof q->after, "%s", cur[i]);
        q->check_pg = check_pg;
        q->asked_at = now;
        reader_push(l, q);
        j->inflight++;
    }
    j->again = 0;
    j->next_poll = now + (double)l->app->cfg.sse_poll_ms / 1000.0;
}

static int tasks_reserve(struct sseloop *l, size_t n)
{
    if (n <= l->tasks_cap)
        return 0;
    size_t cap = l->tasks_cap ? l->tasks_cap : 256;
    while (cap < n)
        cap *= 2;
    struct wtask *t = realloc(l->tasks, cap * sizeof *t);
    if (!t)
        return -1;
    l->tasks = t;
    l->tasks_cap = cap;
    return 0;
}

/* One read's events to every stream of the job that was at its cursor. The bytes are made
 * once (raw, and once framed as a chunk) and written straight to each socket whose buffer is
 * empty, by the writers; a stream whose socket did not take them all keeps the rest in its
 * own buffer. A stream that ends with them (final, error) gets its last chunk in the same send
 * and is closed once it has taken everything. */
static void job_deliver(struct sseloop *l, struct read_res *res, double now)
{
    struct job *j = job_find(l, res->job_id);
    if (!j)
        return;
    if (j->inflight > 0)
        j->inflight--;
    char *framed = NULL;
    size_t flen = 0;
    j->delivering = 1;
    if (res->payload && tasks_reserve(l, (size_t)j->nstreams) == 0) {
        metrics_observe(l->wake_h, now - res->asked_at);
        size_t nt = 0;
        long moved = 0; /* streams that go on from res->after to res->new_last */
        fanout_begin(l, l->tasks, (size_t)cursor_count(j, res->after));
        for (struct stream *s = j->streams, *next; s; s = next) {
            next = s->jnext;
            if (s->closing || strcmp(s->last, res->after) != 0)
                continue;
            const char *p = res->payload;
            size_t n = res->len;
            if (s->chunked) {
                if (!framed)
                    framed = frame(res->payload, res->len, res->ended, &flen);
                if (!framed)
                    continue;
                p = framed;
                n = flen;
            }
            if (s->out_off != s->out_len) { /* behind already: after what waits */
                if (stream_send(l, s, p, n, now) != 0)
                    continue;
                if (res->ended)
                    stream_closing(s, now); /* still at res->after: leaves its count there */
                else
                    moved++;
                snprintf(s->last, sizeof s->last, "%s", res->new_last);
                continue;
            }
            l->tasks[nt++] =
                (struct wtask){.s = s, .fd = s->fd, .close_after = res->ended, .p = p, .n = n};
            if (nt % SPREAD_CHUNK == 0)
                fanout_publish(l, nt);
        }
        fanout_finish(l, nt);
        for (size_t i = 0; i < nt; i++) {
            struct wtask *t = &l->tasks[i];
            struct stream *s = t->s;
            if (t->closed)
                s->fd = -1;
            if (t->closed || t->failed) {
                stream_free(l, s);
                continue;
            }
            if (t->done < t->n) {
                if (out_append(l, s, t->p + t->done, t->n - t->done) != 0) {
                    metrics_inc(l->dropped_c, 1);
                    log_kv(LOG_INFO, NULL, "slow SSE client dropped", "job_id", j->job_id,
                           (char *)NULL);
                    stream_free(l, s);
                    continue;
                }
                want_out(l, s, 1);
            }
            if (t->close_after && t->done < t->n)
                stream_closing(s, now); /* still at res->after: leaves its count there */
            else
                moved++;
            hb_touch(l, s, now);
            snprintf(s->last, sizeof s->last, "%s", res->new_last);
        }
        /* the streams freed or ended above left res->after one by one */
        cursor_sub(j, res->after, moved);
        cursor_add(j, res->new_last, moved);
        metrics_observe(l->write_h, now_mono() - now);
    }
    free(framed);
    j->delivering = 0;
    if (j->nstreams == 0) {
        job_drop_if_empty(l, j);
        return;
    }
    if ((res->more || j->again) && !j->inflight)
        job_read(l, j, now);
}

static void stream_adopt(struct sseloop *l, struct stream *s, double now)
{
    struct job *j = job_find(l, s->job->job_id);
    struct job *tmpl = s->job; /* carries the ids; becomes the job when it is new */
    if (j) {
        free(tmpl);
    } else {
        j = tmpl;
        unsigned b = hash_id(j->job_id);
        j->hnext = l->jobs[b];
        l->jobs[b] = j;
        j->last_pg = now;
    }
    s->job = j;
    s->jnext = j->streams;
    if (s->jnext)
        s->jnext->jprev = s;
    j->streams = s;
    j->nstreams++;
    cursor_add(j, s->last, 1);
    s->start = s->last_write = now;
    s->hprev = l->hb_tail;
    if (l->hb_tail)
        l->hb_tail->hnext = s;
    else
        l->hb_head = s;
    l->hb_tail = s;
    s->aprev = l->age_tail;
    if (l->age_tail)
        l->age_tail->anext = s;
    else
        l->age_head = s;
    l->age_tail = s;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = s};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, s->fd, &ev) != 0) {
        stream_free(l, s);
        return;
    }
    /* Events written before the stream came (its replay after Last-Event-ID) are read now. */
    job_read(l, j, now);
}

/* ---- the loop thread ---------------------------------------------------------------------- */

static void drain_inbox(struct sseloop *l, double now)
{
    pthread_mutex_lock(&l->lock);
    struct stream *ad = l->adopt_head;
    struct notice *no = l->notice_head;
    struct read_res *rs = l->res_head;
    l->adopt_head = NULL;
    l->notice_head = NULL;
    l->res_head = l->res_tail = NULL;
    pthread_mutex_unlock(&l->lock);
    while (ad) {
        struct stream *next = ad->jnext;
        ad->jnext = NULL;
        stream_adopt(l, ad, now);
        ad = next;
    }
    while (rs) {
        struct read_res *next = rs->next;
        job_deliver(l, rs, now);
        free(rs->payload);
        free(rs);
        rs = next;
    }
    while (no) {
        struct notice *next = no->next;
        struct job *j = job_find(l, no->job_id);
        if (j)
            job_read(l, j, now);
        free(no);
        no = next;
    }
}

static void tick(struct sseloop *l, double now)
{
    struct ingress *app = l->app;
    static const char keepalive[] = ": keepalive\n\n";
    static const char keepalive_chunk[] = "d\r\n: keepalive\n\n\r\n";
    /* heartbeats: the list is ordered by last write, so the walk stops at the first recent */
    while (l->hb_head && now - l->hb_head->last_write >= (double)app->cfg.sse_heartbeat_s) {
        struct stream *s = l->hb_head;
        if (s->closing) {
            stream_free(l, s);
            continue;
        }
        if (s->chunked)
            stream_send(l, s, keepalive_chunk, sizeof keepalive_chunk - 1, now);
        else
            stream_send(l, s, keepalive, sizeof keepalive - 1, now);
    }
    /* INGRESS_SSE_MAX_S: the oldest first */
    while (l->age_head && now - l->age_head->start > (double)app->cfg.sse_max_s) {
        struct stream *s = l->age_head;
        if (s->closing) {
            stream_free(l, s);
            continue;
        }
        stream_finish(l, s, now);
        if (l->age_head == s) /* still draining: move on (it is freed by CLOSE_GRACE_S) */
            break;
    }
    /* the poll: every job at least every INGRESS_SSE_POLL_MS (Kafka wakes them sooner) */
    for (unsigned b = 0; b < JOB_BUCKETS; b++) {
        for (struct job *j = l->jobs[b], *next; j; j = next) {
            next = j->hnext;
            if (now >= j->next_poll && !j->inflight)
                job_read(l, j, now);
            /* streams that ended but could not drain */
            for (struct stream *s = j->nclosing ? j->streams : NULL, *sn; s && j->nstreams;
                 s = sn) {
                sn = s->jnext;
                if (s->closing && now - s->closing_at >= CLOSE_GRACE_S) {
                    j->delivering = 1;
                    stream_free(l, s);
                    j->delivering = 0;
                }
            }
            job_drop_if_empty(l, j);
        }
    }
}

static void stream_event(struct sseloop *l, struct stream *s, uint32_t ev, double now)
{
    if (ev & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
        stream_free(l, s);
        return;
    }
    if (ev & EPOLLIN) {
        char buf[1024];
        for (;;) {
            ssize_t n = recv(s->fd, buf, sizeof buf, 0);
            if (n > 0)
                continue; /* a client says nothing more on a stream; ignored */
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            stream_free(l, s); /* end of file or error: the client is gone */
            return;
        }
    }
    if (ev & EPOLLOUT) {
        if (stream_flush(l, s) != 0) {
            stream_free(l, s);
            return;
        }
        if (s->closing && s->out_off == s->out_len)
            stream_free(l, s);
    }
    (void)now;
}

static void *loop_main(void *arg)
{
    struct sseloop *l = arg;
    struct epoll_event evs[512];
    double next_tick = now_mono() + TICK_MS / 1000.0;
    for (;;) {
        double now = now_mono();
        int timeout = (int)((next_tick - now) * 1000.0) + 1;
        if (timeout < 0)
            timeout = 0;
        int n = epoll_wait(l->ep, evs, 512, timeout);
        now = now_mono();
        int inbox = 0;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t v;
                ssize_t r = read(l->efd, &v, sizeof v);
                (void)r;
                inbox = 1;
                continue;
            }
            stream_event(l, evs[i].data.ptr, evs[i].events, now);
        }
        if (inbox) {
            pthread_mutex_lock(&l->lock);
            int stop = l->stop;
            pthread_mutex_unlock(&l->lock);
            if (stop)
                break;
            drain_inbox(l, now);
        }
        if (now >= next_tick) {
            tick(l, now);
            next_tick = now + TICK_MS / 1000.0;
        }
    }
    /* stopping: every stream gets its last chunk (best effort) and is closed */
    drain_inbox(l, now_mono());
    while (l->age_head) {
        struct stream *s = l->age_head;
        if (s->chunked && !s->closing && s->out_off == s->out_len)
            (void)!send(s->fd, "0\r\n\r\n", 5, MSG_NOSIGNAL | MSG_DONTWAIT);
        stream_free(l, s);
    }
    return NULL;
}

/* ---- the reader thread -------------------------------------------------------------------- */

static void buf_add(char **p, size_t *len, size_t *cap, const char *s, size_t n, int *oom)
{
    if (*oom)
        return;
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 512;
        while (c < *len + n + 1)
            c *= 2;
        char *q = realloc(*p, c);
        if (!q) {
            *oom = 1;
            return;
        }
        *p = q;
        *cap = c;
    }
    memcpy(*p + *len, s, n);
    *len += n;
    (*p)[*len] = '\0';
}

/* The answer to one read: the XRANGE reply (may be NULL: Redis down) and, when asked, the
 * job's row (NULL: not read or not found). */
static struct read_res *make_result(const struct read_req *q, const redisReply *rep,
                                    json_object *job)
{
    struct read_res *res = calloc(1, sizeof *res);
    size_t cap = 0;
    int oom = 0;
    if (!res)
        return NULL;
    snprintf(res->job_id, sizeof res->job_id, "%s", q->job_id);
    snprintf(res->after, sizeof res->after, "%s", q->after);
    snprintf(res->new_last, sizeof res->new_last, "%s", q->after);
    res->asked_at = q->asked_at;
    size_t got = 0;
    if (rep && rep->type == REDIS_REPLY_ARRAY) {
        got = rep->elements;
        for (size_t i = 0; i < rep->elements && !res->ended; i++) {
            const redisReply *e = rep->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING ||
                e->element[1]->type != REDIS_REPLY_ARRAY)
                continue;
            const char *id = e->element[0]->str, *ev = NULL, *data = "null";
            const redisReply *f = e->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2) {
                if (f->element[k]->type != REDIS_REPLY_STRING ||
                    f->element[k + 1]->type != REDIS_REPLY_STRING)
                    continue;
                if (strcmp(f->element[k]->str, "event") == 0)
                    ev = f->element[k + 1]->str;
                else if (strcmp(f->element[k]->str, "data") == 0)
                    data = f->element[k + 1]->str;
            }
            snprintf(res->new_last, sizeof res->new_last, "%s", id);
            if (!ev)
                continue;
            size_t n = 0;
            char *txt = sse_event_format(id, ev, data, &n);
            if (txt)
                buf_add(&res->payload, &res->len, &cap, txt, n, &oom);
            free(txt);
            if (strcmp(ev, "final") == 0 || strcmp(ev, "error") == 0)
                res->ended = 1;
        }
        res->more = !res->ended && got >= READ_PAGE;
    }
    /* The job is finished and its stream holds nothing more (or is gone: 24 h TTL): the
     * outcome from PostgreSQL, so a client never waits on a finished job (as the thread
     * path does). */
    if (job && !res->ended && !res->more && rep && status_terminal(json_field_str(job, "status"))) {
        const char *s = json_field_str(job, "status");
        size_t n = 0;
        json_object *out = job_outcome(job);
        char *txt =
            sse_event_format(strcmp(res->new_last, "0") == 0 ? "0-1" : res->new_last,
                             strcmp(s, "done") == 0 ? "final" : "error",
                             json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN), &n);
        json_object_put(out);
        if (txt)
            buf_add(&res->payload, &res->len, &cap, txt, n, &oom);
        free(txt);
        res->ended = 1;
    }
    if (oom) {
        free(res->payload);
        res->payload = NULL;
        res->len = 0;
        res->ended = 0;
        snprintf(res->new_last, sizeof res->new_last, "%s", q->after);
    }
    return res;
}

static void *reader_main(void *arg)
{
    struct sseloop *l = arg;
    struct read_req *batch[READER_BATCH];
    struct rcache_cmd cmds[READER_BATCH];
    char keys[READER_BATCH][256], starts[READER_BATCH][52];
    const char *argv[READER_BATCH][6];
    for (;;) {
        int n = 0;
        pthread_mutex_lock(&l->rlock);
        while (!l->req_head && !l->rstop)
            pthread_cond_wait(&l->rcv, &l->rlock);
        while (l->req_head && n < READER_BATCH) {
            batch[n++] = l->req_head;
            l->req_head = l->req_head->next;
        }
        if (!l->req_head)
            l->req_tail = NULL;
        int stop = l->rstop;
        pthread_mutex_unlock(&l->rlock);
        if (stop && n == 0)
            break;
        json_object *jobs[READER_BATCH];
        for (int i = 0; i < n; i++) {
            struct read_req *q = batch[i];
            jobs[i] = NULL;
            /* PostgreSQL first: what the stages wrote before finishing is then in Redis. */
            if (q->check_pg)
                job_fetch(l->app, q->tenant, q->sub, q->job_id, &jobs[i]);
            snprintf(keys[i], sizeof keys[i], "agenthub:%s:job:%s:events", q->tenant, q->job_id);
            if (strcmp(q->after, "0") == 0)
                snprintf(starts[i], sizeof starts[i], "-");
            else
                snprintf(starts[i], sizeof starts[i], "(%s", q->after);
            argv[i][0] = "XRANGE";
            argv[i][1] = keys[i];
            argv[i][2] = starts[i];
            argv[i][3] = "+";
            argv[i][4] = "COUNT";
            argv[i][5] = "200";
            cmds[i] = (struct rcache_cmd){.argc = 6, .argv = argv[i]};
        }
        if (n)
            rcache_pipeline(l->app->rc, cmds, n);
        struct read_res *head = NULL, *tail = NULL;
        for (int i = 0; i < n; i++) {
            struct read_res *res =
                make_result(batch[i], cmds[i].status == RC_OK ? cmds[i].reply : NULL, jobs[i]);
            if (cmds[i].reply)
                freeReplyObject(cmds[i].reply);
            json_object_put(jobs[i]);
            free(batch[i]);
            if (!res)
                continue;
            if (tail)
                tail->next = res;
            else
                head = res;
            tail = res;
        }
        if (head) {
            pthread_mutex_lock(&l->lock);
            if (l->res_tail)
                l->res_tail->next = head;
            else
                l->res_head = head;
            l->res_tail = tail;
            pthread_mutex_unlock(&l->lock);
            wake(l);
        }
    }
    return NULL;
}

/* ---- the API ------------------------------------------------------------------------------ */

int sseloop_new(struct sseloop **out, struct ingress *app, char *err, size_t errlen)
{
    struct sseloop *l = calloc(1, sizeof *l);
    *out = NULL;
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    l->app = app;
    l->out_max = (size_t)app->cfg.sse_buffer_kb * 1024;
    pthread_mutex_init(&l->lock, NULL);
    pthread_mutex_init(&l->rlock, NULL);
    pthread_cond_init(&l->rcv, NULL);
    pthread_mutex_init(&l->wlock, NULL);
    pthread_cond_init(&l->wcv, NULL);
    pthread_cond_init(&l->wdone, NULL);
    l->ep = l->efd = -1;
    /* INGRESS_SSE_WRITERS (checked 1..WRITERS_MAX at start; 0: the number of cores): threads
     * writing one fan-out, the loop thread being one of them */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long writers = app->cfg.sse_writers > 0 ? app->cfg.sse_writers : cores;
    l->nwriters = writers < 1 ? 1 : writers > WRITERS_MAX ? WRITERS_MAX : (int)writers;
    l->open_g = metrics_gauge("ingress_sse_streams_open", "SSE streams currently open", "");
    l->loop_g = metrics_gauge("ingress_sse_loop_streams", "SSE streams held by the event loop", "");
    l->dropped_c =
        metrics_counter("ingress_sse_slow_dropped_total",
                        "SSE streams dropped for falling behind INGRESS_SSE_BUFFER_KB", "");
    static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                     0.05,   0.1,   0.25,   0.5,   1,    2.5};
    l->write_h = metrics_histogram("ingress_sse_fanout_write_seconds",
                                   "time to write one read's events to every stream of its job "
                                   "at that cursor",
                                   "", buckets, sizeof buckets / sizeof buckets[0]);
    l->wake_h = metrics_histogram("ingress_sse_read_seconds",
                                  "from a job's wake-up (or poll) to its events read from Redis",
                                  "", buckets, sizeof buckets / sizeof buckets[0]);
    metrics_set(l->loop_g, 0);
    metrics_inc(l->dropped_c, 0);
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (l->ep < 0 || l->efd < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->efd, &ev) != 0) {
        snprintf(err, errlen, "epoll: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&l->reader_thread, NULL, reader_main, l) != 0) {
        snprintf(err, errlen, "cannot start the SSE reader thread");
        goto fail;
    }
    l->reader_started = 1;
    for (int i = 1; i < l->nwriters; i++) {
        if (pthread_create(&l->wthreads[l->wstarted], NULL, writer_main, l) != 0) {
            snprintf(err, errlen, "cannot start an SSE writer thread");
            goto fail;
        }
        l->wstarted++;
    }
    if (pthread_create(&l->loop_thread, NULL, loop_main, l) != 0) {
        snprintf(err, errlen, "cannot start the SSE loop thread");
        goto fail;
    }
    l->loop_started = 1;
    *out = l;
    return 0;
fail:
    sseloop_free(l);
    return -EAGAIN;
}

void sseloop_free(struct sseloop *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = 1;
    pthread_mutex_unlock(&l->lock);
    if (l->loop_started) {
        wake(l);
        pthread_join(l->loop_thread, NULL);
    }
    pthread_mutex_lock(&l->rlock);
    l->rstop = 1;
    pthread_cond_signal(&l->rcv);
    pthread_mutex_unlock(&l->rlock);
    if (l->reader_started)
        pthread_join(l->reader_thread, NULL);
    pthread_mutex_lock(&l->wlock);
    l->wstop = 1;
    pthread_cond_broadcast(&l->wcv);
    pthread_mutex_unlock(&l->wlock);
    for (int i = 0; i < l->wstarted; i++)
        pthread_join(l->wthreads[i], NULL);
    free(l->tasks);
    /* what is left in the queues */
    while (l->req_head) {
        struct read_req *q = l->req_head->next;
        free(l->req_head);
        l->req_head = q;
    }
    while (l->res_head) {
        struct read_res *r = l->res_head->next;
        free(l->res_head->payload);
        free(l->res_head);
        l->res_head = r;
    }
    while (l->notice_head) {
        struct notice *n = l->notice_head->next;
        free(l->notice_head);
        l->notice_head = n;
    }
    for (unsigned b = 0; b < JOB_BUCKETS; b++)
        while (l->jobs[b]) {
            struct job *j = l->jobs[b]->hnext;
            free(l->jobs[b]);
            l->jobs[b] = j;
        }
    if (l->ep >= 0)
        close(l->ep);
    if (l->efd >= 0)
        close(l->efd);
    pthread_cond_destroy(&l->wdone);
    pthread_cond_destroy(&l->wcv);
    pthread_mutex_destroy(&l->wlock);
    pthread_cond_destroy(&l->rcv);
    pthread_mutex_destroy(&l->rlock);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int sseloop_adopt(struct sseloop *l, const struct sseloop_stream_spec *spec)
{
    struct stream *s = calloc(1, sizeof *s);
    struct job *j = calloc(1, sizeof *j);
    if (!s || !j) {
        free(s);
        free(j);
        return -1;
    }
    int fl = fcntl(spec->fd, F_GETFL);
    if (fl < 0 || fcntl(spec->fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        free(s);
        free(j);
        return -1;
    }
    s->fd = spec->fd;
    s->chunked = spec->chunked;
    s->held_caller = spec->held_caller;
    snprintf(s->tenant, sizeof s->tenant, "%s", spec->tenant);
    snprintf(s->sub, sizeof s->sub, "%s", spec->sub);
    snprintf(s->last, sizeof s->last, "%s", spec->last);
    snprintf(j->job_id, sizeof j->job_id, "%s", spec->job_id);
    snprintf(j->tenant, sizeof j->tenant, "%s", spec->tenant);
    snprintf(j->sub, sizeof j->sub, "%s", spec->sub);
    s->job = j;
    pthread_mutex_lock(&l->lock);
    if (l->stop) {
        pthread_mutex_unlock(&l->lock);
        free(s);
        free(j);
        return -1;
    }
    s->jnext = l->adopt_head;
    l->adopt_head = s;
    pthread_mutex_unlock(&l->lock);
    __atomic_add_fetch(&l->nstreams, 1, __ATOMIC_RELAXED);
    metrics_inc(l->open_g, 1);
    metrics_inc(l->loop_g, 1);
    wake(l);
    return 0;
}

void sseloop_notify(struct sseloop *l, const char *job_id)
{
    if (!l)
        return;
    struct notice *n = calloc(1, sizeof *n);
    if (!n)
        return; /* the poll reads it within INGRESS_SSE_POLL_MS */
    snprintf(n->job_id, sizeof n->job_id, "%s", job_id);
    pthread_mutex_lock(&l->lock);
    n->next = l->notice_head;
    l->notice_head = n;
    pthread_mutex_unlock(&l->lock);
    wake(l);
}

long sseloop_streams(struct sseloop *l)
{
    return l ? __atomic_load_n(&l->nstreams, __ATOMIC_RELAXED) : 0;
}
