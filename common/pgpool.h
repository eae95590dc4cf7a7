/* pgpool.h — a small, thread-safe PostgreSQL connection pool on libpq.
 *
 * Parameterized queries only; each connection prepares a statement the first time it runs it
 * and reuses it after (see pgpool.c: a per-connection statement cache). A connection found
 * broken is reset on the next acquire, so the pool works again after the server restarts
 * without restarting the process.
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

/* size 1..256. Makes the first connection at once (PG_ERR_UNAVAILABLE with err set when it
 * cannot, PG_ERR_QUERY for a malformed dsn; err never quotes the dsn's password); the other
 * connections are made on first use. Server settings ride on the dsn, e.g.
 * ?options=-c%20statement_timeout%3D5000 (a statement cancelled by it is PG_ERR_TIMEOUT). */
int pgpool_open(struct pgpool **out, const char *dsn, int size, char *err, size_t errlen);
void pgpool_close(struct pgpool *p); /* NULL-safe */

/* Runs one statement with text parameters (NULL = SQL NULL). On PG_OK *out holds the result
 * (caller PQclear()s it; out may be NULL to discard). On failure err says why, without the
 * parameters (they may hold user data). */
int pgpool_exec(struct pgpool *p, PGresult **out, const char *sql, int nparams,
                const char *const *params, char *err, size_t errlen);

/* For transactions: borrow one connection, run statements on it, give it back. timeout_ms
 * bounds the wait for a free connection (0: do not wait, < 0: forever); on NULL *status is
 * PG_ERR_TIMEOUT or PG_ERR_UNAVAILABLE. A connection given back inside a transaction is
 * rolled back. pgpool_exec waits up to 10 s for a connection. */
PGconn *pgpool_acquire(struct pgpool *p, int timeout_ms, int *status, char *err, size_t errlen);
void pgpool_release(struct pgpool *p, PGconn *conn);
/* pgpool_exec on a borrowed connection. */
int pgconn_exec(PGconn *conn, PGresult **out, const char *sql, int nparams,
                const char *const *params, char *err, size_t errlen);

/* For statements sent in libpq's pipeline mode (PQsendQueryPrepared): the name under which sql
 * is prepared on conn, a pool connection, preparing it on first use through the same cache
 * pgconn_exec uses (so only SELECT/WITH/INSERT/UPDATE/DELETE). Call it outside a transaction
 * (a refused prepare aborts one). NULL with err set when it cannot be prepared. The name is
 * valid while conn stays borrowed and until pgconn_forget_prepared. */
const char *pgconn_prepared(PGconn *conn, const char *sql, int nparams, char *err, size_t errlen);
/* The pg_status of a failed statement on conn: PG_ERR_UNAVAILABLE when the connection is
 * lost, else by res's SQLSTATE (the mapping at the top of pgpool.c; none: PG_ERR_QUERY).
 * For callers that run statements themselves (pipeline mode). */
int pgconn_error_status(PGconn *conn, const PGresult *res);

/* The server lost the statement (SQLSTATE 26000): pgconn_prepared prepares it again. */
void pgconn_forget_prepared(PGconn *conn, const char *sql, int nparams);

const char *pg_status_str(int status);

/* A text array parameter ("{"a","b",NULL}") for `$1::text[]` (or uuid[]): each item quoted,
 * its quotes and backslashes escaped; a NULL item is SQL NULL. malloc'd, or NULL. */
char *pg_text_array(const char *const *items, size_t n);

#endif
