/* pgpool.h — a small, thread-safe PostgreSQL connection pool on libpq.
 *
 * Parameterized queries only (PQexecParams). A connection found broken is reset on the next
 * acquire, so the pool works again after the server restarts without restarting the process.
 * Errors are typed so callers can tell "the database is down" from "my query is wrong".
 */
#ifndef AGENTHUB_PGPOOL_H
#define AGENTHUB_PGPOOL_H

#include <libpq-fe.h>
#include <stddef.h>

enum pg_status {
    PG_OK = 0,
    PG_ERR_UNAVAILABLE = -1, /* cannot connect / connection lost */
    PG_ERR_QUERY = -2,       /* the server rejected the statement */
    PG_ERR_CONFLICT = -3,    /* unique or exclusion violation (SQLSTATE 23505 / 23P01) */
    PG_ERR_FOREIGN_KEY = -4, /* 23503 */
    PG_ERR_TIMEOUT = -5,     /* no free connection in time / statement timeout */
    PG_ERR_INVALID = -6,     /* invalid input syntax (22xxx), e.g. a malformed uuid */
};

struct pgpool;

int pgpool_open(struct pgpool **out, const char *dsn, int size, char *err, size_t errlen);
void pgpool_close(struct pgpool *p); /* NULL-safe */

/* Runs one statement with text parameters (NULL = SQL NULL). On PG_OK *out holds the result
 * (caller PQclear()s it; out may be NULL to discard). On failure err says why, without the
 * parameters (they may hold user data). */
int pgpool_exec(struct pgpool *p, PGresult **out, const char *sql, int nparams,
                const char *const *params, char *err, size_t errlen);

/* For transactions: borrow one connection, run statements on it, give it back. */
PGconn *pgpool_acquire(struct pgpool *p, int timeout_ms, int *status, char *err, size_t errlen);
void pgpool_release(struct pgpool *p, PGconn *conn);
/* pgpool_exec on a borrowed connection. */
int pgconn_exec(PGconn *conn, PGresult **out, const char *sql, int nparams,
                const char *const *params, char *err, size_t errlen);

const char *pg_status_str(int status);

#endif
