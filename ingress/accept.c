/* accept.c — group commit for POST /chat (see accept.h).
 *
 * Why: with one transaction per chat, PostgreSQL spent about 0.5 ms of CPU per accepted chat,
 * most of it per statement and per transaction (BEGIN, executor start-up, the CTE's plan, the
 * commit record, two round trips and the backend's wake-ups), not per row. One transaction for
 * a batch pays that once.
 *
 * The batch statement never fails because of one row: every check the single-row statement
 * made by failing (no tenant, tenant disabled, no such session, Idempotency-Key taken) is a
 * per-row outcome here, so one bad request cannot cost the others their acceptance. Rows are
 * passed as arrays (unnest WITH ORDINALITY keeps each row's index); ids are chosen here, not by
 * column defaults, so the chat.request payload is complete before the statement runs.
 *
 * Ordering inside the statement: the jobs row goes first with ON CONFLICT ON CONSTRAINT
 * jobs_tenant_idempotency_key DO NOTHING, and the message and a new session are inserted only
 * for the jobs rows that went in, so an Idempotency-Key conflict leaves nothing behind. The
 * foreign keys between the three are checked at the end of the statement, when all exist.
 * A key held by a transaction still in flight (another batch) makes ON CONFLICT wait for it:
 * if it commits, this row is a conflict and its request replays that job; if it rolls back,
 * this row goes in. So concurrent requests with the same key still end with exactly one job.
 *
 * Deadlocks: two batches may update the same two sessions in opposite orders. PostgreSQL
 * aborts one of them; nothing has been published by then, so that batch simply runs again
 * (as after a foreign-key race with a tenant or session being deleted).
 */
#include "accept.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobevents.h"
#include "log.h"
#include "metrics.h"
#include "strbuf.h"

#define ACCEPT_NPARAMS 9
#define ACCEPT_ACQUIRE_MS 3000
#define ACCEPT_RETRIES 3

/* $1 tenant, $2 user, $3 message, $4 job id, $5 existing session id or NULL, $6 new session id
 * or NULL, $7 message id, $8 idempotency key or NULL, $9 request hash — one element per row.
 * One result row per input row, in input order: n, tenant active (NULL: no tenant), has a
 * session, inserted. */
#define ACCEPT_SQL                                                                                 \
    "WITH i AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], "             \
    "  $5::uuid[], $6::uuid[], $7::uuid[], $8::text[], $9::text[]) WITH ORDINALITY "               \
    "  AS x(tenant, usr, msg, job, sess, new_sess, mid, idem, hash, n)), "                         \
    "t AS (SELECT i.n, tn.is_active FROM i JOIN tenants tn ON tn.tenant_id = i.tenant), "          \
    "s_old AS (UPDATE sessions s SET last_message_at = now(), updated_at = now() "                 \
    "  FROM i JOIN t ON t.n = i.n "                                                                \
    "  WHERE i.sess IS NOT NULL AND t.is_active AND s.session_id = i.sess "                        \
    "  AND s.tenant_id = i.tenant "                                                                \
    "  AND s.user_id = i.usr AND s.deleted_at IS NULL "                                            \
    "  RETURNING s.session_id, s.tenant_id, s.user_id), "                                          \
    "o AS (SELECT i.n FROM i JOIN s_old u ON u.session_id = i.sess AND u.tenant_id = i.tenant "    \
    "  AND u.user_id = i.usr), "                                                                   \
    "e AS (SELECT i.* FROM i JOIN t ON t.n = i.n WHERE t.is_active "                               \
    "  AND (i.sess IS NULL OR i.n IN (SELECT n FROM o))), "                                        \
    "j AS (INSERT INTO jobs (job_id, tenant_id, session_id, user_id, user_message_id, status, "    \
    "  idempotency_key, request_hash) "                                                            \
    "  SELECT e.job, e.tenant, coalesce(e.sess, e.new_sess), e.usr, e.mid, 'queued', e.idem, "     \
    "  e.hash FROM e "                                                                             \
    "  ON CONFLICT ON CONSTRAINT jobs_tenant_idempotency_key DO NOTHING RETURNING job_id), "       \
    "m AS (INSERT INTO messages (message_id, session_id, tenant_id, role, content, job_id) "       \
    "  SELECT e.mid, coalesce(e.sess, e.new_sess), e.tenant, 'user', e.msg, e.job "                \
    "  FROM e JOIN j ON j.job_id = e.job), "                                                       \
    "sn AS (INSERT INTO sessions (session_id, tenant_id, user_id, title, last_message_at) "        \
    "  SELECT e.new_sess, e.tenant, e.usr, left(e.msg, 80), now() FROM e "                         \
    "  JOIN j ON j.job_id = e.job WHERE e.sess IS NULL) "                                          \
    "SELECT i.n, t.is_active, i.sess IS NULL OR o.n IS NOT NULL, j.job_id IS NOT NULL "            \
    "FROM i LEFT JOIN t ON t.n = i.n LEFT JOIN o ON o.n = i.n LEFT JOIN j ON j.job_id = i.job "    \
    "ORDER BY i.n"

struct accept_batcher {
    struct pgpool *db;
    struct kafka_producer *prod;
    struct rcache *rc;
    int max_batch, max_inflight, publish_timeout_ms;
    accept_precheck_fn precheck;
    void *precheck_opaque;
    pthread_mutex_t mu;
    struct accept_item *head, *tail; /* pending, FIFO */
    int queued;                      /* how many are pending */
    int inflight;
    int share_at; /* a batch starts beside others in flight only once this many are pending */
};

/* ---- the array literals (PostgreSQL text[] / uuid[] syntax) ------------------------------- */

/* The array literal of field `off` (a const char * inside struct accept_item) over items. */
static char *array_of(struct accept_item **items, int n, size_t off)
{
    struct strbuf b = {0};
    strbuf_add(&b, "{", 1);
    for (int i = 0; i < n; i++)
        strbuf_add_pg_array_elem(&b, *(const char *const *)((const char *)items[i] + off), i == 0);
    strbuf_add(&b, "}", 1);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- PostgreSQL ---------------------------------------------------------------------------- */

/* pgconn_exec's status code for a failed result (res may be NULL); *retry is set for the
 * failures a rerun of the whole batch cures. err names only the SQLSTATE. */
static int batch_pg_status(PGconn *c, PGresult *res, int *retry, char *err, size_t errlen)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* No result at all in pipeline mode: the connection broke under it. */
    int st = state ? pgconn_error_status(c, res) : PG_ERR_UNAVAILABLE;
    *retry = 0;
    if (st == PG_ERR_FOREIGN_KEY /* a tenant or session deleted meanwhile */ ||
        (st == PG_ERR_QUERY && state && /* deadlock / serialization: the top of the file */
         (!strcmp(state, "40P01") || !strcmp(state, "40001")))) {
        *retry = 1;
    } else if (st == PG_ERR_QUERY && state && !strcmp(state, "26000")) {
        /* the statement is gone (DISCARD ALL?): prepare it again */
        pgconn_forget_prepared(c, ACCEPT_SQL, ACCEPT_NPARAMS);
        *retry = 1;
    }
    snprintf(err, errlen, "SQLSTATE %s", state ? state : "?????");
    return st;
}

/* BEGIN and the accept statement (prepared as stmt) in one round trip (libpq pipeline mode).
 * *began tells whether the transaction is open (the caller then rolls back on error). On PG_OK
 * *out is the result.
 *
 * The statement keeps a generic plan (it is large and runs once per batch; planning it each
 * time cost ~20 % of the accepted chats/s at 256 connections). That plan may be made while
 * the tables are nearly empty, so its lookups must not depend on the statistics: rows without
 * a session id never reach the sessions UPDATE (before, each probed the user's sessions and a
 * fresh stack fell to ~500 chats/s as they grew). */
static int begin_accept(PGconn *c, const char *stmt, PGresult **out, const char *const *p,
                        int *began, int *retry, char *err, size_t errlen)
{
    *out = NULL;
    *began = 0;
    *retry = 0;
    if (PQenterPipelineMode(c) != 1) {
        snprintf(err, errlen, "pipeline mode: %s", PQerrorMessage(c));
        return PG_ERR_UNAVAILABLE;
    }
    int st = PG_ERR_UNAVAILABLE;
    PGresult *res[2] = {NULL, NULL};
    if (PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1 &&
        PQsendQueryPrepared(c, stmt, ACCEPT_NPARAMS, p, NULL, NULL, 0) == 1 &&
        PQpipelineSync(c) == 1) {
        /* Each query's result then NULL, then the sync. A lost connection ends in NULLs
         * only. */
        int n = 0, nulls = 0;
        while (nulls < 3) {
            PGresult *x = PQgetResult(c);
            if (!x) {
                nulls++;
                continue;
            }
            nulls = 0;
            if (PQresultStatus(x) == PGRES_PIPELINE_SYNC) {
                PQclear(x);
                break;
            }
            if (n < 2)
                res[n++] = x;
            else
                PQclear(x);
        }
    }
    if (PQexitPipelineMode(c) != 1)
        snprintf(err, errlen, "pipeline mode: %s", PQerrorMessage(c));
    if (!res[0] || PQresultStatus(res[0]) != PGRES_COMMAND_OK) {
        st = batch_pg_status(c, res[0], retry, err, errlen);
    } else {
        *began = 1;
        if (res[1] && PQresultStatus(res[1]) == PGRES_TUPLES_OK) {
            *out = res[1];
            res[1] = NULL;
            st = PG_OK;
        } else {
            st = batch_pg_status(c, res[1], retry, err, errlen);
        }
    }
    for (int i = 0; i < 2; i++)
        PQclear(res[i]);
    return st;
}

static int tx(PGconn *c, const char *sql)
{
    char err[128];
    return pgconn_exec(c, NULL, sql, 0, NULL, err, sizeof err);
}

/* ---- broker acknowledgements ------------------------------------------------------------- */

/* One per batch: the leader and every queued message's delivery report hold a reference, so a
 * leader that gave up (timeout) leaves the memory to the last late report. */
struct batch_ack {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs, pending;
    struct ack_slot {
        struct batch_ack *a;
        int state; /* 0 waiting, 1 acknowledged, 2 failed */
    } slot[];
};

static void ack_unref_locked(struct batch_ack *a)
{
    int last = --a->refs == 0;
    pthread_mutex_unlock(&a->mu);
    if (last) {
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
        free(a);
    }
}

static void ack_cb(void *opaque, int err, const char *errstr)
{
    struct ack_slot *s = opaque;
    struct batch_ack *a = s->a;
    (void)errstr;
    pthread_mutex_lock(&a->mu);
    s->state = err ? 2 : 1;
    if (--a->pending == 0)
        pthread_cond_signal(&a->cv);
    ack_unref_locked(a);
}

static struct batch_ack *ack_new(int n)
{
    struct batch_ack *a = calloc(1, sizeof *a + (size_t)n * sizeof a->slot[0]);
    if (!a)
        return NULL;
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    a->refs = 1;
    for (int i = 0; i < n; i++)
        a->slot[i].a = a;
    return a;
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The "queued" events of the rows whose chat.request was queued, written while the broker
 * acknowledges them, so they cost the batch no time. Before COMMIT is early enough to be
 * invisible: every reader (event stream, GET /jobs) finds the job in PostgreSQL first, so the
 * event of a job that then fails to publish is never shown (it expires with its stream).
 * Written here rather than by each request, and all in one Redis round trip (one pipeline of
 * EVALs): a burst of request threads queueing for the few Redis connections, one command
 * each, cost Redis and this process several times more. Redis only: the chat.event copy on
 * Kafka wakes streams waiting for the job, and none can be yet (the client learns the job id
 * from the answer; a stream opened later reads Redis first). Redis down costs the batch one
 * timeout; the jobs are accepted anyway. */
static void emit_queued(struct accept_batcher *b, struct accept_item **items, int n,
                        const int *inserted, struct batch_ack *a)
{
    const struct envelope **envs = malloc((size_t)n * sizeof *envs);
    json_object **data = malloc((size_t)n * sizeof *data);
    int *pick = malloc((size_t)n * sizeof *pick), *status = malloc((size_t)n * sizeof *status);
    int m = 0;
    if (!envs || !data || !pick || !status) {
        for (int i = 0; i < n; i++)
            items[i]->event_status = RC_ERR_REPLY;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (!inserted[i])
            continue;
        pthread_mutex_lock(&a->mu);
        int failed = a->slot[i].state == 2;
        pthread_mutex_unlock(&a->mu);
        if (failed)
            continue;
        envs[m] = items[i]->env;
        data[m] = items[i]->queued;
        pick[m++] = i;
    }
    jobevents_emit_many(b->rc, envs, "queued", data, m, status);
    for (int j = 0; j < m; j++)
        items[pick[j]]->event_status = status[j];
out:
    free(envs);
    free(data);
    free(pick);
    free(status);
}

/* Queues every inserted row's chat.request, waits for all reports (or the publish timeout),
 * and sets ok[i] for the acknowledged ones. Returns how many were acknowledged. */
static int publish_all(struct accept_batcher *b, struct accept_item **items, int n,
                       const int *inserted, int *ok)
{
    struct batch_ack *a = ack_new(n);
    int acked = 0;
    memset(ok, 0, (size_t)n * sizeof *ok);
    if (!a)
        return 0;
    double t0 = mono_now();
    for (int i = 0; i < n; i++) {
        if (!inserted[i])
            continue;
        struct kafka_header hdr = {"traceparent", items[i]->traceparent};
        pthread_mutex_lock(&a->mu);
        a->refs++;
        a->pending++;
        pthread_mutex_unlock(&a->mu);
        const char *key = items[i]->session_id ? items[i]->session_id : items[i]->new_session_id;
        if (!b->prod ||
            kafka_produce(b->prod, KAFKA_TOPIC_CHAT_REQUESTS, key, items[i]->payload,
                          strlen(items[i]->payload), &hdr, 1, ack_cb, &a->slot[i]) < 0) {
            /* Not queued: its report never comes. */
            pthread_mutex_lock(&a->mu);
            a->refs--;
            a->pending--;
            a->slot[i].state = 2;
            pthread_mutex_unlock(&a->mu);
        }
    }
    emit_queued(b, items, n, inserted, a);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += b->publish_timeout_ms / 1000;
    deadline.tv_nsec += (long)(b->publish_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&a->mu);
    while (a->pending > 0 && pthread_cond_timedwait(&a->cv, &a->mu, &deadline) != ETIMEDOUT)
        ;
    for (int i = 0; i < n; i++)
        if (inserted[i] && a->slot[i].state == 1)
            ok[i] = 1, acked++;
    ack_unref_locked(a);
    metrics_observe(metrics_histogram("ingress_publish_duration_seconds",
                                      "chat.request publish latency (until acked)", "", NULL, 0),
                    mono_now() - t0);
    return acked;
}

/* ---- one batch ----------------------------------------------------------------------------- */

static void set_all(struct accept_item **items, int n, const int *only, int outcome, int st,
                    const char *err)
{
    for (int i = 0; i < n; i++) {
        if (only && !only[i])
            continue;
        items[i]->outcome = outcome;
        items[i]->db_status = st;
        snprintf(items[i]->err, sizeof items[i]->err, "%s", err);
    }
}

/* Removes the rows of the requests whose chat.request was not acknowledged (inside the
 * transaction; the sessions this batch created go with their message and job by cascade). */
static int delete_failed(PGconn *c, struct accept_item **items, int n, const int *inserted,
                         const int *ok, char *err, size_t errlen)
{
    struct strbuf jobs = {0}, msgs = {0}, sess = {0};
    int fj = 1, fm = 1, fs = 1, st = PG_ERR_QUERY;
    strbuf_add(&jobs, "{", 1);
    strbuf_add(&msgs, "{", 1);
    strbuf_add(&sess, "{", 1);
    for (int i = 0; i < n; i++) {
        if (!inserted[i] || ok[i])
            continue;
        strbuf_add_pg_array_elem(&jobs, items[i]->job_id, fj), fj = 0;
        strbuf_add_pg_array_elem(&msgs, items[i]->message_id, fm), fm = 0;
        if (!items[i]->session_id)
            strbuf_add_pg_array_elem(&sess, items[i]->new_session_id, fs), fs = 0;
    }
    strbuf_add(&jobs, "}", 1);
    strbuf_add(&msgs, "}", 1);
    strbuf_add(&sess, "}", 1);
    if (jobs.oom || msgs.oom || sess.oom) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    const char *p1[] = {jobs.p}, *p2[] = {msgs.p}, *p3[] = {sess.p};
    if ((st = pgconn_exec(c, NULL, "DELETE FROM jobs WHERE job_id = ANY($1::uuid[])", 1, p1, err,
                          errlen)) != PG_OK ||
        (st = pgconn_exec(c, NULL, "DELETE FROM messages WHERE message_id = ANY($1::uuid[])", 1, p2,
                          err, errlen)) != PG_OK ||
        (st = pgconn_exec(c, NULL, "DELETE FROM sessions WHERE session_id = ANY($1::uuid[])", 1, p3,
                          err, errlen)) != PG_OK)
        goto out;
out:
    free(jobs.p);
    free(msgs.p);
    free(sess.p);
    return st;
}

static void run_batch(struct accept_batcher *b, struct accept_item **items, int n)
{
    static const size_t off[ACCEPT_NPARAMS] = {
        offsetof(struct accept_item, tenant),     offsetof(struct accept_item, user),
        offsetof(struct accept_item, message),    offsetof(struct accept_item, job_id),
        offsetof(struct accept_item, session_id), offsetof(struct accept_item, new_session_id),
        offsetof(struct accept_item, message_id), offsetof(struct accept_item, idem),
        offsetof(struct accept_item, hash)};
    char *arr[ACCEPT_NPARAMS] = {0};
    int *inserted = NULL, *ok = NULL;
    PGconn *c = NULL;
    PGresult *res = NULL;
    char err[160];
    int st = PG_ERR_QUERY, began = 0;

    if (n <= 0)
        return;
    inserted = calloc((size_t)n, sizeof(int));
    ok = calloc((size_t)n, sizeof(int));
    metrics_observe(metrics_histogram("ingress_accept_batch_size",
                                      "chat requests accepted per transaction (group commit)", "",
                                      (const double[]){1, 2, 4, 8, 16, 32, 64, 128, 256}, 9),
                    (double)n);
    if (!inserted || !ok) {
        set_all(items, n, NULL, ACCEPT_DB_ERROR, PG_ERR_QUERY, "out of memory");
        goto out;
    }
    for (int k = 0; k < ACCEPT_NPARAMS; k++) {
        if (!(arr[k] = array_of(items, n, off[k]))) {
            set_all(items, n, NULL, ACCEPT_DB_ERROR, PG_ERR_QUERY, "out of memory");
            goto out;
        }
    }
    if (!(c = pgpool_acquire(b->db, ACCEPT_ACQUIRE_MS, &st, err, sizeof err))) {
        set_all(items, n, NULL, ACCEPT_DB_ERROR, st, err);
        goto out;
    }
    for (int attempt = 0;; attempt++) {
        int retry = 0;
        /* Prepared once per connection (common/pgpool.c's statement cache): saves the
         * parse, rewrite and most planning of every batch. */
        const char *stmt = pgconn_prepared(c, ACCEPT_SQL, ACCEPT_NPARAMS, err, sizeof err);
        if (!stmt) {
            st = PQstatus(c) == CONNECTION_OK ? PG_ERR_QUERY : PG_ERR_UNAVAILABLE;
            snprintf(err, sizeof err, "cannot prepare the accept statement");
        } else {
            st = begin_accept(c, stmt, &res, (const char *const *)arr, &began, &retry, err,
                              sizeof err);
        }
        if (st == PG_OK || !retry || attempt + 1 >= ACCEPT_RETRIES)
            break;
        if (began)
            tx(c, "ROLLBACK");
        began = 0;
    }
    if (st != PG_OK) {
        set_all(items, n, NULL, ACCEPT_DB_ERROR, st, err);
        goto out;
    }
    if (PQntuples(res) != n || PQnfields(res) != 4) {
        set_all(items, n, NULL, ACCEPT_DB_ERROR, PG_ERR_QUERY, "unexpected accept result");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        int row = atoi(PQgetvalue(res, i, 0)) - 1;
        if (row < 0 || row >= n) {
            set_all(items, n, NULL, ACCEPT_DB_ERROR, PG_ERR_QUERY, "unexpected accept result");
            goto out;
        }
        struct accept_item *it = items[row];
        it->db_status = PG_OK;
        it->err[0] = '\0';
        if (PQgetisnull(res, i, 1))
            it->outcome = ACCEPT_NO_TENANT;
        else if (PQgetvalue(res, i, 1)[0] != 't')
            it->outcome = ACCEPT_DISABLED;
        else if (PQgetvalue(res, i, 2)[0] != 't')
            it->outcome = ACCEPT_NO_SESSION;
        else if (PQgetvalue(res, i, 3)[0] != 't')
            it->outcome = ACCEPT_IDEM_CONFLICT;
        else
            inserted[row] = 1;
    }
    PQclear(res);
    res = NULL;

    int ninserted = 0;
    for (int i = 0; i < n; i++)
        ninserted += inserted[i];
    if (ninserted == 0) {
        st = tx(c, "COMMIT"); /* possibly touched nothing; cheaper than a failed ROLLBACK */
        began = 0;
        goto out;
    }
    int nacked = publish_all(b, items, n, inserted, ok);
    if (nacked < ninserted) {
        metrics_inc(
            metrics_counter("ingress_publish_failures_total", INGRESS_PUBLISH_FAILURES_HELP, ""),
            (double)(ninserted - nacked));
        log_kv(LOG_WARN, NULL, "publish failed; those chats are not accepted", "failed",
               nacked == 0 ? "all" : "some", (char *)NULL);
    }
    /* Not acknowledged: 503, and no row may claim the acceptance. */
    for (int i = 0; i < n; i++) {
        if (inserted[i] && !ok[i]) {
            items[i]->outcome = ACCEPT_PUBLISH_FAILED;
            items[i]->db_status = PG_OK;
        }
    }
    if (nacked == 0) {
        tx(c, "ROLLBACK");
        began = 0;
        goto out;
    }
    if (nacked < ninserted &&
        (st = delete_failed(c, items, n, inserted, ok, err, sizeof err)) != PG_OK) {
        /* Cannot keep the acknowledged ones without the others: drop all (the router finds
         * no jobs row for the published ones and drops them). */
        tx(c, "ROLLBACK");
        began = 0;
        set_all(items, n, ok, ACCEPT_DB_ERROR, st, err);
        goto out;
    }
    began = 0;
    if ((st = tx(c, "COMMIT")) != PG_OK) {
        set_all(items, n, ok, ACCEPT_DB_ERROR, st, "commit failed");
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (ok[i])
            items[i]->outcome = ACCEPT_OK;
out:
    if (res)
        PQclear(res);
    if (c) {
        if (began)
            tx(c, "ROLLBACK");
        pgpool_release(b->db, c);
    }
    for (int k = 0; k < ACCEPT_NPARAMS; k++)
        free(arr[k]);
    free(inserted);
    free(ok);
}

/* ---- the batcher ----------------------------------------------------------------------------- */

int accept_batcher_new(struct accept_batcher **out, struct pgpool *db, struct kafka_producer *prod,
                       struct rcache *rc, int max_batch, int max_inflight, int publish_timeout_ms)
{
    *out = NULL;
    if (max_batch < 1 || max_batch > 1024 || max_inflight < 1 || max_inflight > 64)
        return -EINVAL;
    struct accept_batcher *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->db = db;
    b->prod = prod;
    b->rc = rc;
    b->max_batch = max_batch;
    b->max_inflight = max_inflight;
    b->share_at = 1;
    b->publish_timeout_ms = publish_timeout_ms;
    pthread_mutex_init(&b->mu, NULL);
    *out = b;
    return 0;
}

void accept_batcher_set_precheck(struct accept_batcher *b, accept_precheck_fn fn, void *opaque)
{
    b->precheck = fn;
    b->precheck_opaque = opaque;
}

void accept_batcher_set_share_at(struct accept_batcher *b, int n)
{
    b->share_at = n < 1 ? 1 : n;
}

void accept_batcher_free(struct accept_batcher *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b);
}

/* Wakes a waiter: done (its outcome is set; the last access to it) or kick (lead a batch). */
static void item_wake(struct accept_item *x, int done)
{
    pthread_mutex_lock(&x->mu);
    if (done)
        x->done = 1;
    else
        x->kick = 1;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

/* Each waiter sleeps on its own mutex and condition variable, not the batcher's: woken while
 * the leader still held a shared mutex to wake the others, every waiter went back to sleep on
 * that mutex once more (measured: a third of the context switches of an accepted chat). The
 * batcher's mutex guards the queue, `taken` and `inflight`; lock order: batcher, then item.
 * The leader runs its batch without any lock. When a batch ends, the first request still
 * queued, if any, is kicked to lead the next one. */
void accept_submit(struct accept_batcher *b, struct accept_item *it)
{
    it->outcome = ACCEPT_DB_ERROR;
    it->db_status = PG_ERR_QUERY;
    it->event_status = RC_OK;
    it->err[0] = '\0';
    /* In case this request leads: not on the worker's small stack. */
    struct accept_item **batch = malloc((size_t)b->max_batch * sizeof(struct accept_item *));
    if (!batch) {
        snprintf(it->err, sizeof it->err, "out of memory");
        return;
    }
    pthread_mutex_init(&it->mu, NULL);
    pthread_cond_init(&it->cv, NULL);
    it->next = NULL;
    it->taken = it->done = it->kick = 0;
    pthread_mutex_lock(&b->mu);
    if (b->tail)
        b->tail->next = it;
    else
        b->head = it;
    b->tail = it;
    b->queued++;
    for (;;) {
        if (!it->taken && b->inflight < b->max_inflight &&
            (b->inflight == 0 || b->queued >= b->share_at)) {
            int n = 0, mine = 0;
            while (b->head && n < b->max_batch) {
                struct accept_item *x = b->head;
                b->head = x->next;
                x->next = NULL;
                x->taken = 1;
                mine |= x == it;
                batch[n++] = x;
                b->queued--;
            }
            if (!b->head)
                b->tail = NULL;
            b->inflight++;
            /* More waiting than one batch takes, and a slot free: no need to wait. */
            if (b->head && b->inflight < b->max_inflight && b->queued >= b->share_at)
                item_wake(b->head, 0);
            pthread_mutex_unlock(&b->mu);
            int run = n;
            if (b->precheck && n > 0) {
                /* The refused go to the end (stable partition), the rest keep their order. */
                b->precheck(b->precheck_opaque, batch, n);
                struct accept_item **tmp = malloc((size_t)n * sizeof *tmp);
                if (tmp) {
                    int k = 0;
                    for (int i = 0; i < n; i++)
                        if (batch[i]->outcome != ACCEPT_LIMITED)
                            tmp[k++] = batch[i];
                    run = k;
                    for (int i = 0; i < n; i++)
                        if (batch[i]->outcome == ACCEPT_LIMITED)
                            tmp[k++] = batch[i];
                    memcpy(batch, tmp, (size_t)n * sizeof *tmp);
                    free(tmp);
                } else {
                    for (int i = 0; i < n; i++) /* no memory: nobody is refused */
                        if (batch[i]->outcome == ACCEPT_LIMITED)
                            batch[i]->outcome = ACCEPT_DB_ERROR;
                }
            }
            run_batch(b, batch, run);
            pthread_mutex_lock(&b->mu);
            b->inflight--;
            if (b->head)
                item_wake(b->head, 0);
            pthread_mutex_unlock(&b->mu);
            for (int i = 0; i < n; i++)
                if (batch[i] != it)
                    item_wake(batch[i], 1);
            if (mine)
                break;
        } else {
            pthread_mutex_unlock(&b->mu);
        }
        pthread_mutex_lock(&it->mu);
        while (!it->done && !it->kick)
            pthread_cond_wait(&it->cv, &it->mu);
        int done = it->done;
        it->kick = 0;
        pthread_mutex_unlock(&it->mu);
        if (done)
            break;
        pthread_mutex_lock(&b->mu);
    }
    free(batch);
    pthread_cond_destroy(&it->cv);
    pthread_mutex_destroy(&it->mu);
}
