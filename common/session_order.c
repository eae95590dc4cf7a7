/* session_order.c — per-session order across processes (session_order.h). */
#include "session_order.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "startfacts.h"

#define CHANNEL "agenthub_job_terminal"
#define RECONNECT_MS 1000

struct waiter {
    long id;
    const struct envelope *env;
    char pred[40]; /* the earlier, unfinished job this one waits for */
    session_order_cb cb;
    void *opaque;
    long timer; /* the bound; cancelled whenever the waiter is freed */
    struct session_order *so;
    struct waiter *next;
};

struct session_order {
    char *dsn;
    PGconn *listen;
    int fd; /* watched on loop, or -1 */
    struct httploop *loop;
    struct pgpool *db;
    long max_wait_ms;
    long reconnect_timer;
    struct waiter *waiters;
    long next_id;
    size_t n;
};

static void on_readable(void *opaque, int fd);

static void log_ctx_of(const struct envelope *env, struct log_ctx *c)
{
    memset(c, 0, sizeof *c);
    c->tenant_id = env->tenant_id;
    c->job_id = env->job_id;
}

/* The latest earlier job of env's session that is not terminal: 1 (pred filled), 0 none, or
 * a negative pg_status. */
static int earlier_unfinished(struct pgpool *db, const struct envelope *env, char pred[40])
{
    PGresult *res = NULL;
    char err[256];
    const char *params[] = {env->job_id, env->tenant_id};
    int rc =
        pgpool_exec(db, &res,
                    "SELECT e.job_id::text FROM jobs j JOIN jobs e ON e.tenant_id = j.tenant_id "
                    "AND e.session_id = j.session_id AND e.session_seq < j.session_seq "
                    "AND e.status NOT IN ('done', 'error') "
                    "WHERE j.job_id = $1::uuid AND j.tenant_id = $2 "
                    "ORDER BY e.session_seq DESC LIMIT 1",
                    2, params, err, sizeof err);
    if (rc == PG_OK) {
        rc = PQntuples(res) > 0;
        if (rc)
            snprintf(pred, 40, "%s", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return rc;
}

static struct waiter *take(struct session_order *so, long id)
{
    for (struct waiter **p = &so->waiters; *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            struct waiter *w = *p;
            *p = w->next;
            so->n--;
            return w;
        }
    }
    return NULL;
}

static void finish(struct session_order *so, struct waiter *w, int outcome)
{
    if (w->timer > 0)
        httploop_timer_cancel(so->loop, w->timer);
    session_order_cb cb = w->cb;
    void *opaque = w->opaque;
    free(w);
    cb(opaque, outcome);
}

/* Looks again (an earlier job ended, or notifications may have been missed): ready, or wait
 * for the next earlier job. */
static void recheck(struct session_order *so, long id)
{
    struct waiter *w = NULL;
    for (w = so->waiters; w && w->id != id; w = w->next)
        ;
    if (!w)
        return;
    int rc = earlier_unfinished(so->db, w->env, w->pred);
    if (rc == 1)
        return; /* still waiting, now perhaps for another job */
    if (rc < 0) {
        struct log_ctx c;
        log_ctx_of(w->env, &c);
        log_kv(LOG_WARN, &c, "session order: earlier jobs could not be checked; going on", "error",
               pg_status_str(rc), (char *)NULL);
    }
    finish(so, take(so, id), SESSION_ORDER_READY);
}

static void on_timeout(void *opaque)
{
    struct waiter *w = opaque;
    struct session_order *so = w->so;
    w->timer = 0;
    struct log_ctx c;
    log_ctx_of(w->env, &c);
    log_kv(LOG_WARN, &c, "session order: an earlier job is still not finished; going on",
           "earlier_job", w->pred, (char *)NULL);
    finish(so, take(so, w->id), SESSION_ORDER_TIMEOUT);
}

static int listen_open(struct session_order *so, char *err, size_t errlen)
{
    so->listen = PQconnectdb(so->dsn);
    if (!so->listen || PQstatus(so->listen) != CONNECTION_OK) {
        if (err && errlen)
            snprintf(err, errlen, "session order: cannot connect to the database: %s",
                     so->listen ? PQerrorMessage(so->listen) : "out of memory");
        PQfinish(so->listen);
        so->listen = NULL;
        return -EIO;
    }
    PGresult *r = PQexec(so->listen, "LISTEN " CHANNEL);
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || PQsetnonblocking(so->listen, 1) != 0) {
        if (err && errlen)
            snprintf(err, errlen, "session order: LISTEN failed: %s", PQerrorMessage(so->listen));
        PQfinish(so->listen);
        so->listen = NULL;
        return -EIO;
    }
    so->fd = PQsocket(so->listen);
    if (httploop_watch_fd(so->loop, so->fd, on_readable, so) != 0) {
        if (err && errlen)
            snprintf(err, errlen, "session order: cannot watch the LISTEN connection");
        PQfinish(so->listen);
        so->listen = NULL;
        so->fd = -1;
        return -EIO;
    }
    return 0;
}

static void listen_close(struct session_order *so)
{
    if (so->fd >= 0)
        httploop_unwatch_fd(so->loop, so->fd);
    so->fd = -1;
    PQfinish(so->listen);
    so->listen = NULL;
}

/* Every pending wait looks again (after a reconnect: notifications may have been lost). */
static void recheck_all(struct session_order *so)
{
    size_t n = so->n, k = 0;
    long *ids = n ? malloc(n * sizeof *ids) : NULL;
    if (n && !ids)
        return;
    for (struct waiter *w = so->waiters; w && k < n; w = w->next)
        ids[k++] = w->id;
    for (size_t i = 0; i < k; i++)
        recheck(so, ids[i]);
    free(ids);
}

static void reconnect(void *opaque)
{
    struct session_order *so = opaque;
    char err[256];
    so->reconnect_timer = 0;
    if (listen_open(so, err, sizeof err) != 0) {
        so->reconnect_timer = httploop_timer(so->loop, RECONNECT_MS, reconnect, so);
        return;
    }
    log_kv(LOG_INFO, NULL, "session order: LISTEN connection back", (char *)NULL);
    recheck_all(so);
}

static void on_readable(void *opaque, int fd)
{
    struct session_order *so = opaque;
    (void)fd;
    if (!PQconsumeInput(so->listen)) {
        log_kv(LOG_WARN, NULL, "session order: LISTEN connection lost; reconnecting", "error",
               PQerrorMessage(so->listen), (char *)NULL);
        listen_close(so);
        so->reconnect_timer = httploop_timer(so->loop, RECONNECT_MS, reconnect, so);
        return;
    }
    PGnotify *nf;
    while ((nf = PQnotifies(so->listen)) != NULL) {
        /* Who waits for this job? Their ids first: a callback may add or drop waits. */
        size_t k = 0;
        long ids[64];
        for (struct waiter *w = so->waiters; w && k < 64; w = w->next)
            if (strcmp(w->pred, nf->extra) == 0)
                ids[k++] = w->id;
        PQfreemem(nf);
        for (size_t i = 0; i < k; i++)
            recheck(so, ids[i]);
        if (k == 64)
            recheck_all(so); /* more than fit: look at all */
    }
}

int session_order_new(struct session_order **out, const char *dsn, struct httploop *loop,
                      struct pgpool *db, long max_wait_ms, char *err, size_t errlen)
{
    *out = NULL;
    struct session_order *so = calloc(1, sizeof *so);
    if (!so || !(so->dsn = strdup(dsn ? dsn : ""))) {
        free(so);
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    so->fd = -1;
    so->loop = loop;
    so->db = db;
    so->max_wait_ms = max_wait_ms > 0 ? max_wait_ms : 60000;
    int rc = listen_open(so, err, errlen);
    if (rc != 0) {
        free(so->dsn);
        free(so);
        return rc;
    }
    *out = so;
    return 0;
}

void session_order_free(struct session_order *so)
{
    if (!so)
        return;
    while (so->waiters) {
        struct waiter *w = so->waiters;
        so->waiters = w->next;
        if (w->timer > 0)
            httploop_timer_cancel(so->loop, w->timer);
        free(w);
    }
    if (so->reconnect_timer > 0)
        httploop_timer_cancel(so->loop, so->reconnect_timer);
    listen_close(so);
    free(so->dsn);
    free(so);
}

int session_order_assign(struct pgpool *db, const struct envelope *env, long *seq, char *err,
                         size_t errlen)
{
    const char *params[] = {env->job_id, env->tenant_id, env->session_id};
    int rc = PG_ERR_CONFLICT;
    /* Two routers could number the same session at once (a rebalance): the unique index
     * refuses the second, which takes the next number. */
    for (int attempt = 0; attempt < 3 && rc == PG_ERR_CONFLICT; attempt++) {
        PGresult *res = NULL;
        rc = pgpool_exec(db, &res,
                         "UPDATE jobs SET session_seq = COALESCE(session_seq, "
                         "(SELECT COALESCE(max(session_seq), 0) + 1 FROM jobs "
                         "WHERE tenant_id = $2 AND session_id = $3::uuid)) "
                         "WHERE job_id = $1::uuid AND tenant_id = $2 RETURNING session_seq",
                         3, params, err, errlen);
        if (rc == PG_OK) {
            rc = PQntuples(res) > 0;
            if (rc && seq)
                *seq = atol(PQgetvalue(res, 0, 0));
        }
        PQclear(res);
    }
    return rc;
}

void session_order_wait(struct session_order *so, const struct envelope *env, session_order_cb cb,
                        void *opaque, long *wait_id)
{
    if (wait_id)
        *wait_id = 0;
    char pred[40];
    /* What this intake pass read of the job (startfacts.h), else ask; a recheck always asks. */
    int rc = so ? startfacts_session_pred(env, pred) : 0;
    if (rc < 0)
        rc = earlier_unfinished(so->db, env, pred);
    if (rc != 1) {
        if (rc < 0) {
            struct log_ctx c;
            log_ctx_of(env, &c);
            log_kv(LOG_WARN, &c, "session order: earlier jobs could not be checked; going on",
                   "error", pg_status_str(rc), (char *)NULL);
        }
        cb(opaque, SESSION_ORDER_READY);
        return;
    }
    struct waiter *w = calloc(1, sizeof *w);
    if (!w) {
        cb(opaque, SESSION_ORDER_READY);
        return;
    }
    w->id = ++so->next_id;
    w->env = env;
    memcpy(w->pred, pred, sizeof w->pred);
    w->cb = cb;
    w->opaque = opaque;
    w->so = so;
    w->next = so->waiters;
    so->waiters = w;
    so->n++;
    if (wait_id)
        *wait_id = w->id;
    struct log_ctx c;
    log_ctx_of(env, &c);
    log_kv(LOG_INFO, &c, "session order: waiting for an earlier job of the session", "earlier_job",
           pred, (char *)NULL);
    w->timer = httploop_timer(so->loop, so->max_wait_ms, on_timeout, w);
}

void session_order_cancel(struct session_order *so, long wait_id)
{
    if (!so || wait_id <= 0)
        return;
    struct waiter *w = take(so, wait_id);
    if (w) {
        if (w->timer > 0)
            httploop_timer_cancel(so->loop, w->timer);
        free(w);
    }
}

size_t session_order_pending(const struct session_order *so)
{
    return so ? so->n : 0;
}
