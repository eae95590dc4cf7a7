/* pgpool.c — fixed-size PostgreSQL connection pool (see pgpool.h).
 *
 * `size` slots guarded by one mutex and condition variable. A slot holds a PGconn (or NULL
 * until first used: only the first connection is made by pgpool_open, the rest on demand).
 * Connecting and resetting happen outside the mutex, on the borrowing thread, so one slow
 * reconnect never blocks the other threads' acquire/release.
 *
 * Failure policy: a statement that fails because the connection broke returns
 * PG_ERR_UNAVAILABLE at once — it is never retried here, since the pool cannot know whether
 * the statement was idempotent or had already committed. The broken connection stays in its
 * slot and is reset (PQreset) by the next acquire that picks it. Acquire also notices idle
 * connections the server closed meanwhile (a restart sends "terminating connection" and closes
 * the socket: the socket turns readable) with a zero-timeout poll, so after a restart calls
 * succeed at once rather than each stale connection failing one call first.
 *
 * Settings ride on the DSN: connect_timeout (default 5 s here), and any server setting through
 * libpq's `options`, e.g. postgresql://u@h/db?options=-c%20statement_timeout%3D5000 — a
 * statement cancelled by statement_timeout (57014) or lock_timeout (55P03) is PG_ERR_TIMEOUT.
 *
 * Statement cache: every pool connection remembers the statements it ran (a libpq event proc
 * keeps the cache as the connection's instance data) and runs them again as named prepared
 * statements: PostgreSQL then parses, analyzes and (after five runs, when its generic plan is
 * no worse) plans a statement once per connection instead of on every call. pgbench on the
 * pipeline's job lookup: 7.1-7.5k tps against 3.9k unprepared; planning every execution
 * instead (plan_cache_mode = force_custom_plan) halved the pipeline's jobs/s. A generic plan
 * is made again when an (auto)analyze changes the statistics of its tables. Only DML and
 * SELECT/WITH are cached (not BEGIN, SET or DDL), at most PGPOOL_STMT_MAX per connection
 * (others run unprepared). The cache empties when the connection is reset (a new server
 * process has no statements). A statement the server lost (26000, e.g. after DEALLOCATE ALL)
 * or whose result type changed under it (0A000, a concurrent ALTER) is forgotten and, outside
 * a transaction, run once more unprepared; inside one the error is returned as any other.
 *
 * SQLSTATE mapping: 23505/23P01 CONFLICT, 23503 FOREIGN_KEY, class 22 (data exception: bad
 * uuid, bad number, too long) and 23502/23514 (NOT NULL / CHECK violations, i.e. input the
 * schema rejects) INVALID, class 08, 57P01-57P03 and 53300 UNAVAILABLE, anything else QUERY.
 */
#include "pgpool.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libpq-events.h>

#include "log.h"

#define PGPOOL_MAX_SIZE 256
#define PGPOOL_EXEC_WAIT_MS 10000 /* how long pgpool_exec waits for a free connection */
#define PGPOOL_STMT_MAX 128       /* prepared statements remembered per connection */

struct pgpool {
    char *dsn;
    int size;
    PGconn **conns;
    unsigned char *busy;
    int nfree;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

const char *pg_status_str(int status)
{
    switch (status) {
    case PG_OK:
        return "ok";
    case PG_ERR_UNAVAILABLE:
        return "database unavailable";
    case PG_ERR_QUERY:
        return "query failed";
    case PG_ERR_CONFLICT:
        return "conflict";
    case PG_ERR_FOREIGN_KEY:
        return "foreign key violation";
    case PG_ERR_TIMEOUT:
        return "timeout";
    case PG_ERR_INVALID:
        return "invalid input";
    default:
        return "unknown";
    }
}

/* libpq's notices (and the server's "terminating connection" on an idle socket) go to the
 * log at debug level instead of raw stderr. */
static void pgpool_notice(void *arg, const PGresult *res)
{
    (void)arg;
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    log_debug(NULL, "postgres notice: %s", msg ? msg : "");
}

/* Copies msg into err without the trailing newline libpq adds. */
static void pgpool_set_err(char *err, size_t errlen, const char *prefix, const char *msg)
{
    if (!err || errlen == 0)
        return;
    snprintf(err, errlen, "%s%s", prefix ? prefix : "", msg && *msg ? msg : "unknown error");
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' ' || err[n - 1] == '\t'))
        err[--n] = '\0';
}

/* ---- statement cache (see the top of the file) ----------------------------------------- */

struct stmt_entry {
    uint64_t hash;
    char *sql;
    int nparams;
    char name[24];
};

struct stmt_cache {
    struct stmt_entry e[PGPOOL_STMT_MAX];
    int n;
    unsigned next_id; /* names never repeat on a connection, so a forgotten one cannot clash */
};

static void stmt_cache_clear(struct stmt_cache *sc)
{
    if (!sc)
        return;
    for (int i = 0; i < sc->n; i++)
        free(sc->e[i].sql);
    sc->n = 0;
}

/* libpq calls this on the connection's register, reset and destroy. */
static int pgpool_event(PGEventId id, void *info, void *pass)
{
    (void)pass;
    switch (id) {
    case PGEVT_REGISTER: {
        PGEventRegister *r = info;
        struct stmt_cache *sc = calloc(1, sizeof *sc);
        if (!sc)
            return 0; /* no cache for this connection: statements run unprepared */
        PQsetInstanceData(r->conn, pgpool_event, sc);
        return 1;
    }
    case PGEVT_CONNRESET: {
        PGEventConnReset *r = info;
        stmt_cache_clear(PQinstanceData(r->conn, pgpool_event));
        return 1;
    }
    case PGEVT_CONNDESTROY: {
        PGEventConnDestroy *d = info;
        struct stmt_cache *sc = PQinstanceData(d->conn, pgpool_event);
        stmt_cache_clear(sc);
        free(sc);
        return 1;
    }
    default:
        return 1;
    }
}

static uint64_t stmt_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* SELECT, WITH, INSERT, UPDATE, DELETE: worth preparing and safe to; the rest (BEGIN, COMMIT,
 * SET, LOCK, DDL, ...) runs as it is. */
static int stmt_cacheable(const char *sql)
{
    static const char *const kw[] = {"SELECT", "WITH", "INSERT", "UPDATE", "DELETE"};
    while (isspace((unsigned char)*sql))
        sql++;
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) {
        size_t n = strlen(kw[i]);
        if (strncasecmp(sql, kw[i], n) == 0 && !isalnum((unsigned char)sql[n]) && sql[n] != '_')
            return 1;
    }
    return 0;
}

static void stmt_forget(struct stmt_cache *sc, struct stmt_entry *e)
{
    free(e->sql);
    *e = sc->e[--sc->n];
}

static struct stmt_entry *stmt_find(struct stmt_cache *sc, const char *sql, int nparams)
{
    uint64_t h = stmt_hash(sql);
    for (int i = 0; i < sc->n; i++)
        if (sc->e[i].hash == h && sc->e[i].nparams == nparams && strcmp(sc->e[i].sql, sql) == 0)
            return &sc->e[i];
    return NULL;
}

/* Prepares sql on conn as a new cache entry. NULL when the cache is full or out of memory
 * (*refused NULL), or when the server refused it (*refused = its answer, the caller's). */
static struct stmt_entry *stmt_prepare(PGconn *conn, struct stmt_cache *sc, const char *sql,
                                       int nparams, PGresult **refused)
{
    *refused = NULL;
    char *copy = sc->n < PGPOOL_STMT_MAX ? strdup(sql) : NULL;
    if (!copy)
        return NULL;
    char name[24];
    snprintf(name, sizeof name, "pgpool_%u", sc->next_id++);
    PGresult *pr = PQprepare(conn, name, sql, nparams, NULL);
    if (!pr || PQresultStatus(pr) != PGRES_COMMAND_OK) {
        /* The server's answer to this statement (syntax, aborted transaction, lost
         * connection): the same PQexecParams would have given. */
        free(copy);
        *refused = pr;
        return NULL;
    }
    PQclear(pr);
    struct stmt_entry *e = &sc->e[sc->n++];
    e->hash = stmt_hash(sql);
    e->sql = copy;
    e->nparams = nparams;
    memcpy(e->name, name, sizeof name);
    return e;
}

/* The statement's result: prepared (named, cached) when it can be, else PQexecParams. */
static PGresult *pgpool_exec_cached(PGconn *conn, const char *sql, int nparams,
                                    const char *const *params)
{
    struct stmt_cache *sc = stmt_cacheable(sql) ? PQinstanceData(conn, pgpool_event) : NULL;
    if (!sc)
        return PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    struct stmt_entry *e = stmt_find(sc, sql, nparams);
    if (!e) {
        PGresult *refused = NULL;
        if (!(e = stmt_prepare(conn, sc, sql, nparams, &refused)))
            return refused ? refused
                           : PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    }
    PGresult *res = PQexecPrepared(conn, e->name, nparams, params, NULL, NULL, 0);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && (!strcmp(state, "26000") || !strcmp(state, "0A000"))) {
        stmt_forget(sc, e);
        if (PQtransactionStatus(conn) == PQTRANS_IDLE) {
            PQclear(res);
            res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
        }
    }
    return res;
}

const char *pgconn_prepared(PGconn *conn, const char *sql, int nparams, char *err, size_t errlen)
{
    struct stmt_cache *sc =
        conn && sql && stmt_cacheable(sql) ? PQinstanceData(conn, pgpool_event) : NULL;
    if (!sc) {
        pgpool_set_err(err, errlen, NULL, "pgconn_prepared: not a pool connection or statement");
        return NULL;
    }
    struct stmt_entry *e = stmt_find(sc, sql, nparams);
    if (!e) {
        PGresult *refused = NULL;
        if (!(e = stmt_prepare(conn, sc, sql, nparams, &refused))) {
            pgpool_set_err(err, errlen, "cannot prepare: ",
                           refused ? PQresultErrorField(refused, PG_DIAG_MESSAGE_PRIMARY)
                                   : "statement cache full or out of memory");
            PQclear(refused);
            return NULL;
        }
    }
    return e->name;
}

void pgconn_forget_prepared(PGconn *conn, const char *sql, int nparams)
{
    struct stmt_cache *sc = conn && sql ? PQinstanceData(conn, pgpool_event) : NULL;
    struct stmt_entry *e = sc ? stmt_find(sc, sql, nparams) : NULL;
    if (e)
        stmt_forget(sc, e);
}

/* Connects with our defaults; what the DSN says wins (libpq keeps the last value of a
 * repeated keyword and dbname is expanded in place, last). */
static PGconn *pgpool_connect(const char *dsn)
{
    const char *keys[] = {"connect_timeout",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "dbname",
                          NULL};
    const char *vals[] = {"5", "1", "30", "10", "3", dsn, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c) {
        PQsetNoticeReceiver(c, pgpool_notice, NULL);
        /* Failing leaves the connection without a statement cache, nothing worse. */
        PQregisterEventProc(c, pgpool_event, "pgpool", NULL);
    }
    return c;
}

int pgpool_open(struct pgpool **out, const char *dsn, int size, char *err, size_t errlen)
{
    struct pgpool *p = NULL;
    int rc = PG_ERR_QUERY;
    char *perr = NULL;

    if (out)
        *out = NULL;
    if (!out || !dsn || size < 1 || size > PGPOOL_MAX_SIZE) {
        pgpool_set_err(err, errlen, NULL, "pgpool_open: invalid arguments (size 1..256)");
        goto out;
    }
    /* Reject a malformed DSN up front: its error text never echoes the DSN back. */
    PQconninfoOption *opts = PQconninfoParse(dsn, &perr);
    if (!opts) {
        pgpool_set_err(err, errlen, "invalid DATABASE_URL: ", perr ? perr : "cannot parse");
        goto out;
    }
    PQconninfoFree(opts);

    rc = PG_ERR_UNAVAILABLE;
    p = calloc(1, sizeof *p);
    if (!p)
        goto nomem;
    p->dsn = strdup(dsn);
    p->conns = calloc((size_t)size, sizeof(PGconn *));
    p->busy = calloc((size_t)size, 1);
    if (!p->dsn || !p->conns || !p->busy)
        goto nomem;
    p->size = size;
    p->nfree = size;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);

    p->conns[0] = pgpool_connect(dsn);
    if (!p->conns[0])
        goto nomem;
    if (PQstatus(p->conns[0]) != CONNECTION_OK) {
        pgpool_set_err(err, errlen,
                       "cannot connect to the database: ", PQerrorMessage(p->conns[0]));
        pgpool_close(p);
        p = NULL;
        goto out;
    }
    *out = p;
    p = NULL;
    rc = PG_OK;
    goto out;
nomem:
    pgpool_set_err(err, errlen, NULL, "out of memory");
    if (p && p->size == 0) { /* mutex not initialized yet */
        free(p->dsn);
        free(p->conns);
        free(p->busy);
        free(p);
    } else {
        pgpool_close(p);
    }
out:
    PQfreemem(perr);
    return rc;
}

void pgpool_close(struct pgpool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->size; i++)
        PQfinish(p->conns[i]);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->conns);
    free(p->busy);
    free(p->dsn);
    free(p);
}

/* Is this idle connection still usable? An idle connection (no LISTEN here) has nothing to
 * read; readable means the server sent "terminating connection" and/or closed the socket, so
 * the connection is treated as dead and reset. Never blocks. */
static int pgpool_conn_alive(PGconn *c)
{
    if (!c || PQstatus(c) != CONNECTION_OK)
        return 0;
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
        return 0;
    struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
    if (pfd.fd < 0)
        return 0;
    int n = poll(&pfd, 1, 0);
    if (n < 0)
        return errno == EINTR;
    if (n == 0)
        return 1;
    return 0;
}

static void pgpool_deadline(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

PGconn *pgpool_acquire(struct pgpool *p, int timeout_ms, int *status, char *err, size_t errlen)
{
    int st = PG_ERR_QUERY, slot = -1;
    PGconn *c = NULL;
    if (!p) {
        pgpool_set_err(err, errlen, NULL, "pgpool_acquire: no pool");
        goto out;
    }

    /* 1. Wait for a free slot (timeout_ms < 0: forever; 0: do not wait). */
    struct timespec deadline;
    if (timeout_ms > 0)
        pgpool_deadline(&deadline, timeout_ms);
    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0) {
        if (timeout_ms == 0)
            break;
        if (timeout_ms < 0) {
            pthread_cond_wait(&p->cv, &p->mu);
        } else if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    if (p->nfree > 0) {
        /* Prefer a slot with a live connection, so idle connections get reused. */
        for (int i = 0; i < p->size; i++) {
            if (p->busy[i])
                continue;
            if (slot < 0 || (!p->conns[slot] && p->conns[i]))
                slot = i;
            if (p->conns[slot])
                break;
        }
        p->busy[slot] = 1;
        p->nfree--;
    }
    pthread_mutex_unlock(&p->mu);
    if (slot < 0) {
        st = PG_ERR_TIMEOUT;
        pgpool_set_err(err, errlen, NULL, "no free database connection in time");
        goto out;
    }

    /* 2. Make sure the slot's connection works, outside the mutex. */
    c = p->conns[slot]; /* only this thread writes the slot while it is busy */
    if (!c) {
        c = pgpool_connect(p->dsn);
        pthread_mutex_lock(&p->mu); /* others read conns[] under the mutex */
        p->conns[slot] = c;
        pthread_mutex_unlock(&p->mu);
    } else if (!pgpool_conn_alive(c)) {
        /* Warn on the transition only, not on every attempt while the server stays down. */
        if (PQstatus(c) == CONNECTION_OK)
            log_warn(NULL, "database connection %d lost; reconnecting", slot);
        PQreset(c);
        if (PQstatus(c) == CONNECTION_OK)
            log_info(NULL, "database connection %d re-established", slot);
    }
    if (!c || PQstatus(c) != CONNECTION_OK) {
        st = PG_ERR_UNAVAILABLE;
        pgpool_set_err(err, errlen,
                       "cannot connect to the database: ", c ? PQerrorMessage(c) : "out of memory");
        c = NULL;
        pthread_mutex_lock(&p->mu);
        p->busy[slot] = 0;
        p->nfree++;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        goto out;
    }
    st = PG_OK;
out:
    if (status)
        *status = st;
    return c;
}

void pgpool_release(struct pgpool *p, PGconn *conn)
{
    if (!p || !conn)
        return;
    /* A borrower that returns mid-transaction (an error path) must not leak its transaction
     * into the next borrower's statements. */
    PGTransactionStatusType ts = PQtransactionStatus(conn);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
        PGresult *res = PQexec(conn, "ROLLBACK");
        PQclear(res);
    }
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->size; i++) {
        if (p->conns[i] == conn && p->busy[i]) {
            p->busy[i] = 0;
            p->nfree++;
            pthread_cond_signal(&p->cv);
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
}

static int pgpool_sqlstate_status(const char *state)
{
    if (!state || strlen(state) != 5)
        return PG_ERR_QUERY;
    if (!strcmp(state, "23505") || !strcmp(state, "23P01"))
        return PG_ERR_CONFLICT;
    if (!strcmp(state, "23503"))
        return PG_ERR_FOREIGN_KEY;
    if (!strncmp(state, "22", 2) || !strcmp(state, "23502") || !strcmp(state, "23514"))
        return PG_ERR_INVALID;
    if (!strcmp(state, "57014") || !strcmp(state, "55P03"))
        return PG_ERR_TIMEOUT;
    if (!strncmp(state, "08", 2) || !strcmp(state, "57P01") || !strcmp(state, "57P02") ||
        !strcmp(state, "57P03") || !strcmp(state, "53300"))
        return PG_ERR_UNAVAILABLE;
    return PG_ERR_QUERY;
}

int pgconn_error_status(PGconn *conn, const PGresult *res)
{
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        return PG_ERR_UNAVAILABLE;
    return pgpool_sqlstate_status(res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL);
}

int pgconn_exec(PGconn *conn, PGresult **out, const char *sql, int nparams,
                const char *const *params, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!conn || !sql || nparams < 0 || (nparams > 0 && !params)) {
        pgpool_set_err(err, errlen, NULL, "pgconn_exec: invalid arguments");
        return PG_ERR_QUERY;
    }
    PGresult *res = pgpool_exec_cached(conn, sql, nparams, params);
    ExecStatusType est = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (est == PGRES_COMMAND_OK || est == PGRES_TUPLES_OK) {
        if (out)
            *out = res;
        else
            PQclear(res);
        return PG_OK;
    }

    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int st = pgconn_error_status(conn, res);
    if (st == PG_ERR_UNAVAILABLE && PQstatus(conn) != CONNECTION_OK) {
        pgpool_set_err(err, errlen, "database connection lost: ", PQerrorMessage(conn));
        goto out;
    }
    if (err && errlen) {
        /* The primary message only: DETAIL may quote row values. Data exceptions quote the
         * offending input after ': "' (invalid input syntax for type uuid: "..."), so that
         * part is cut off too. */
        char msg[512];
        const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        snprintf(msg, sizeof msg, "%s", primary ? primary : PQerrorMessage(conn));
        if (st == PG_ERR_INVALID) {
            char *q = strstr(msg, ": \"");
            if (q)
                *q = '\0';
        }
        size_t n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = '\0';
        snprintf(err, errlen, "SQLSTATE %s: %s", state ? state : "?????", msg);
    }
out:
    PQclear(res);
    return st;
}

int pgpool_exec(struct pgpool *p, PGresult **out, const char *sql, int nparams,
                const char *const *params, char *err, size_t errlen)
{
    int st = PG_OK;
    if (out)
        *out = NULL;
    PGconn *c = pgpool_acquire(p, PGPOOL_EXEC_WAIT_MS, &st, err, errlen);
    if (!c)
        return st;
    st = pgconn_exec(c, out, sql, nparams, params, err, errlen);
    pgpool_release(p, c);
    return st;
}

char *pg_text_array(const char *const *items, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += (items[i] ? 2 * strlen(items[i]) + 2 : 4) + 1;
    char *s = malloc(cap), *p = s;
    if (!s)
        return NULL;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        if (!items[i]) {
            memcpy(p, "NULL", 4);
            p += 4;
            continue;
        }
        *p++ = '"';
        for (const char *c = items[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                *p++ = '\\';
            *p++ = *c;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return s;
}
