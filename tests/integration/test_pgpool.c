/* test_pgpool.c — pgpool against the local stack's PostgreSQL (DATABASE_URL).
 *
 * Typed errors (bad SQL, unique and foreign-key conflicts, malformed uuid, statement timeout),
 * the per-connection prepared statement cache (reuse, lost statements, changed result types,
 * reset), pool exhaustion, transaction hygiene on release, many threads on few connections, and the
 * server going away: `compose/local/stack stop postgres` must turn calls into
 * PG_ERR_UNAVAILABLE (not a crash, not another code), and after `stack start postgres` the same
 * pool must work again without being recreated. The stack command can be overridden with
 * AGENTHUB_STACK (default compose/local/stack, run from the repository root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgpool.h"
#include "tests/support/stack.h"

static const char *g_dsn;
static char g_table[64];
static char g_parent[64];

static struct pgpool *open_pool(int size)
{
    struct pgpool *p = NULL;
    char err[512];
    int rc = pgpool_open(&p, g_dsn, size, err, sizeof err);
    if (rc != PG_OK)
        fail_msg("pgpool_open: %s", err);
    return p;
}

static void exec_ok(struct pgpool *p, const char *sql)
{
    char err[512];
    int rc = pgpool_exec(p, NULL, sql, 0, NULL, err, sizeof err);
    if (rc != PG_OK)
        fail_msg("%s: %s (%s)", sql, pg_status_str(rc), err);
}

static int setup(void **state)
{
    (void)state;
    g_dsn = getenv("DATABASE_URL");
    if (!g_dsn || !*g_dsn)
        return 0;
    snprintf(g_parent, sizeof g_parent, "pgpool_test_parent_%d", (int)getpid());
    snprintf(g_table, sizeof g_table, "pgpool_test_%d", (int)getpid());
    struct pgpool *p = open_pool(1);
    char sql[512];
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id integer PRIMARY KEY)", g_parent);
    exec_ok(p, sql);
    snprintf(sql, sizeof sql,
             "CREATE TABLE %s (id integer PRIMARY KEY, u uuid, note text, "
             "parent integer REFERENCES %s (id))",
             g_table, g_parent);
    exec_ok(p, sql);
    pgpool_close(p);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!g_dsn || !*g_dsn)
        return 0;
    struct pgpool *p = NULL;
    char err[256], sql[256];
    if (pgpool_open(&p, g_dsn, 1, err, sizeof err) == PG_OK) {
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s, %s", g_table, g_parent);
        pgpool_exec(p, NULL, sql, 0, NULL, err, sizeof err);
        pgpool_close(p);
    }
    return 0;
}

#define NEED_DB()                                                                                  \
    do {                                                                                           \
        if (!g_dsn || !*g_dsn)                                                                     \
            skip();                                                                                \
    } while (0)

static void test_params_and_results(void **state)
{
    (void)state;
    NEED_DB();
    struct pgpool *p = open_pool(2);
    PGresult *res = NULL;
    char err[256];
    const char *params[] = {"41", NULL};
    assert_int_equal(
        pgpool_exec(p, &res, "SELECT $1::int + 1, $2::text IS NULL", 2, params, err, sizeof err),
        PG_OK);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "42");
    assert_string_equal(PQgetvalue(res, 0, 1), "t");
    PQclear(res);
    /* A parameter is data, never SQL. */
    const char *inj[] = {"1; DROP TABLE x"};
    assert_int_equal(pgpool_exec(p, &res, "SELECT $1::text", 1, inj, err, sizeof err), PG_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "1; DROP TABLE x");
    PQclear(res);
    pgpool_close(p);
}

static void test_typed_errors(void **state)
{
    (void)state;
    NEED_DB();
    struct pgpool *p = open_pool(2);
    char err[512], sql[256];
    PGresult *res = (PGresult *)1;

    /* syntax error */
    assert_int_equal(pgpool_exec(p, &res, "SELEC 1", 0, NULL, err, sizeof err), PG_ERR_QUERY);
    assert_null(res);
    assert_non_null(strstr(err, "42601"));

    /* unique violation */
    snprintf(sql, sizeof sql, "INSERT INTO %s (id, note) VALUES ($1::int, $2)", g_table);
    const char *row[] = {"1", "first"};
    assert_int_equal(pgpool_exec(p, NULL, sql, 2, row, err, sizeof err), PG_OK);
    const char *dup[] = {"1", "private-note-text"};
    assert_int_equal(pgpool_exec(p, NULL, sql, 2, dup, err, sizeof err), PG_ERR_CONFLICT);
    assert_non_null(strstr(err, "23505"));
    assert_null(strstr(err, "private-note-text"));

    /* foreign key violation */
    snprintf(sql, sizeof sql, "INSERT INTO %s (id, parent) VALUES (2, $1::int)", g_table);
    const char *fk[] = {"999"};
    assert_int_equal(pgpool_exec(p, NULL, sql, 1, fk, err, sizeof err), PG_ERR_FOREIGN_KEY);

    /* malformed uuid: typed, and the offending input is not echoed in err */
    const char *bad[] = {"not-a-uuid-SECRETISH"};
    assert_int_equal(pgpool_exec(p, NULL, "SELECT $1::uuid", 1, bad, err, sizeof err),
                     PG_ERR_INVALID);
    assert_non_null(strstr(err, "22P02"));
    assert_null(strstr(err, "SECRETISH"));

    /* other data exceptions */
    assert_int_equal(pgpool_exec(p, NULL, "SELECT 1/0", 0, NULL, err, sizeof err), PG_ERR_INVALID);
    /* unknown table: a query error, not "unavailable" */
    assert_int_equal(
        pgpool_exec(p, NULL, "SELECT * FROM no_such_table_xyz", 0, NULL, err, sizeof err),
        PG_ERR_QUERY);
    /* arguments */
    assert_int_equal(pgpool_exec(p, NULL, "SELECT $1", 1, NULL, err, sizeof err), PG_ERR_QUERY);

    /* The pool still works after all that. */
    assert_int_equal(pgpool_exec(p, NULL, "SELECT 1", 0, NULL, err, sizeof err), PG_OK);
    pgpool_close(p);
}

static void test_statement_timeout_from_dsn(void **state)
{
    (void)state;
    NEED_DB();
    char dsn[1024], err[256];
    snprintf(dsn, sizeof dsn, "%s%soptions=-c%%20statement_timeout%%3D100", g_dsn,
             strchr(g_dsn, '?') ? "&" : "?");
    struct pgpool *p = NULL;
    assert_int_equal(pgpool_open(&p, dsn, 1, err, sizeof err), PG_OK);
    assert_int_equal(pgpool_exec(p, NULL, "SELECT pg_sleep(5)", 0, NULL, err, sizeof err),
                     PG_ERR_TIMEOUT);
    assert_int_equal(pgpool_exec(p, NULL, "SELECT 1", 0, NULL, err, sizeof err), PG_OK);
    pgpool_close(p);
}

static void test_open_failures(void **state)
{
    (void)state;
    struct pgpool *p = (struct pgpool *)1;
    char err[512];
    assert_int_equal(pgpool_open(&p, "postgresql://u:hunter2pw@127.0.0.1:1/x?connect_timeout=2", 2,
                                 err, sizeof err),
                     PG_ERR_UNAVAILABLE);
    assert_null(p);
    assert_null(strstr(err, "hunter2pw"));
    p = (struct pgpool *)1;
    assert_int_not_equal(pgpool_open(&p, "postgresql://[bad", 2, err, sizeof err), PG_OK);
    assert_null(p);
    assert_int_not_equal(pgpool_open(&p, "postgresql://x/y", 0, err, sizeof err), PG_OK);
    pgpool_close(NULL);
}

static void test_acquire_timeout_and_release(void **state)
{
    (void)state;
    NEED_DB();
    struct pgpool *p = open_pool(1);
    char err[256];
    int st = 99;
    PGconn *a = pgpool_acquire(p, 1000, &st, err, sizeof err);
    assert_non_null(a);
    assert_int_equal(st, PG_OK);
    PGconn *b = pgpool_acquire(p, 100, &st, err, sizeof err);
    assert_null(b);
    assert_int_equal(st, PG_ERR_TIMEOUT);
    assert_int_equal(pgpool_exec(p, NULL, "SELECT 1", 0, NULL, err, sizeof err) == PG_OK, 0);
    pgpool_release(p, a);
    b = pgpool_acquire(p, 0, &st, err, sizeof err);
    assert_ptr_equal(a, b); /* the same connection, reused */
    pgpool_release(p, b);
    pgpool_release(p, NULL);
    pgpool_close(p);
}

static void test_release_rolls_back_open_transaction(void **state)
{
    (void)state;
    NEED_DB();
    struct pgpool *p = open_pool(1);
    char err[256], sql[256];
    int st;
    PGconn *c = pgpool_acquire(p, 1000, &st, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(pgconn_exec(c, NULL, "BEGIN", 0, NULL, err, sizeof err), PG_OK);
    snprintf(sql, sizeof sql, "INSERT INTO %s (id) VALUES (77)", g_table);
    assert_int_equal(pgconn_exec(c, NULL, sql, 0, NULL, err, sizeof err), PG_OK);
    pgpool_release(p, c); /* forgot to COMMIT */

    PGresult *res = NULL;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE id = 77", g_table);
    assert_int_equal(pgpool_exec(p, &res, sql, 0, NULL, err, sizeof err), PG_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "0");
    PQclear(res);

    /* A failed statement inside a transaction: released, the next borrower is not stuck in
     * "current transaction is aborted". */
    c = pgpool_acquire(p, 1000, &st, err, sizeof err);
    assert_int_equal(pgconn_exec(c, NULL, "BEGIN", 0, NULL, err, sizeof err), PG_OK);
    assert_int_equal(pgconn_exec(c, NULL, "SELEC", 0, NULL, err, sizeof err), PG_ERR_QUERY);
    pgpool_release(p, c);
    assert_int_equal(pgpool_exec(p, NULL, "SELECT 1", 0, NULL, err, sizeof err), PG_OK);
    pgpool_close(p);
}

struct worker {
    struct pgpool *p;
    int id;
    int ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char err[256], n[16];
    for (int i = 0; i < 40; i++) {
        snprintf(n, sizeof n, "%d", w->id * 1000 + i);
        const char *params[] = {n};
        PGresult *res = NULL;
        if (pgpool_exec(w->p, &res, "SELECT $1::int * 2", 1, params, err, sizeof err) == PG_OK) {
            if (atoi(PQgetvalue(res, 0, 0)) == (w->id * 1000 + i) * 2)
                w->ok++;
            PQclear(res);
        }
    }
    return NULL;
}

static void test_many_threads_few_connections(void **state)
{
    (void)state;
    NEED_DB();
    struct pgpool *p = open_pool(3);
    struct worker w[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){.p = p, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 40);
    }
    pgpool_close(p);
}

/* Polls until a call succeeds (the server needs a moment to accept connections); every
 * failure on the way must be the typed "unavailable". */
static int wait_until_ok(struct pgpool *p, int *other_codes)
{
    char err[512];
    for (int i = 0; i < 150; i++) {
        int rc = pgpool_exec(p, NULL, "SELECT 1", 0, NULL, err, sizeof err);
        if (rc == PG_OK)
            return 1;
        if (rc != PG_ERR_UNAVAILABLE && rc != PG_ERR_TIMEOUT)
            (*other_codes)++;
        usleep(200 * 1000);
    }
    return 0;
}

/* How many of this connection's prepared statements have exactly this text. */
static int prepared_count(PGconn *c, const char *sql)
{
    PGresult *res =
        PQexecParams(c, "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", 1, NULL,
                     &sql, NULL, NULL, 0);
    int n = res && PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return n;
}

/* Statements run through the pool are prepared once per connection and reused; a statement
 * the server lost (DEALLOCATE ALL) or whose result type changed under it (ALTER TABLE) still
 * answers right; BEGIN/DDL are not cached; after a reconnect the cache starts over. */
static void test_statement_cache(void **state)
{
    (void)state;
    NEED_DB();
    struct pgpool *p = open_pool(1);
    char err[512], sql[256];
    int st;
    PGresult *res = NULL;
    PGconn *c = pgpool_acquire(p, 1000, &st, err, sizeof err);
    assert_non_null(c);
    const char *q = "SELECT $1::int * 2";
    for (int i = 0; i < 5; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        const char *pv[] = {v};
        assert_int_equal(pgconn_exec(c, &res, q, 1, pv, err, sizeof err), PG_OK);
        assert_int_equal(atoi(PQgetvalue(res, 0, 0)), 2 * i);
        PQclear(res);
    }
    assert_int_equal(prepared_count(c, q), 1); /* once, reused four times */
    assert_int_equal(pgconn_exec(c, NULL, "BEGIN", 0, NULL, err, sizeof err), PG_OK);
    assert_int_equal(pgconn_exec(c, NULL, "ROLLBACK", 0, NULL, err, sizeof err), PG_OK);
    assert_int_equal(prepared_count(c, "BEGIN"), 0);

    /* The server forgets every statement: the next call still succeeds (and re-prepares). */
    PQclear(PQexec(c, "DEALLOCATE ALL"));
    const char *seven[] = {"7"};
    assert_int_equal(pgconn_exec(c, &res, q, 1, seven, err, sizeof err), PG_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "14");
    PQclear(res);
    assert_int_equal(pgconn_exec(c, &res, q, 1, seven, err, sizeof err), PG_OK);
    PQclear(res);
    assert_int_equal(prepared_count(c, q), 1);

    /* The result type changes under a cached SELECT *: the answer has the new shape. */
    char tbl[64];
    snprintf(tbl, sizeof tbl, "pgpool_cache_%d", (int)getpid());
    snprintf(sql, sizeof sql, "CREATE TABLE %s (a int)", tbl);
    assert_int_equal(pgconn_exec(c, NULL, sql, 0, NULL, err, sizeof err), PG_OK);
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES (1)", tbl);
    assert_int_equal(pgconn_exec(c, NULL, sql, 0, NULL, err, sizeof err), PG_OK);
    char sel[128];
    snprintf(sel, sizeof sel, "SELECT * FROM %s", tbl);
    assert_int_equal(pgconn_exec(c, &res, sel, 0, NULL, err, sizeof err), PG_OK);
    assert_int_equal(PQnfields(res), 1);
    PQclear(res);
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN b text DEFAULT 'x'", tbl);
    assert_int_equal(pgconn_exec(c, NULL, sql, 0, NULL, err, sizeof err), PG_OK);
    st = pgconn_exec(c, &res, sel, 0, NULL, err, sizeof err);
    assert_int_equal(st, PG_OK);
    assert_int_equal(PQnfields(res), 2);
    assert_string_equal(PQgetvalue(res, 0, 1), "x");
    PQclear(res);
    snprintf(sql, sizeof sql, "DROP TABLE %s", tbl);
    assert_int_equal(pgconn_exec(c, NULL, sql, 0, NULL, err, sizeof err), PG_OK);
    assert_int_equal(prepared_count(c, sql), 0); /* DDL is never cached */

    /* A statement the server rejects is reported as before and not cached. */
    assert_int_equal(
        pgconn_exec(c, NULL, "SELECT nope FROM nowhere_at_all", 0, NULL, err, sizeof err),
        PG_ERR_QUERY);
    assert_int_equal(prepared_count(c, "SELECT nope FROM nowhere_at_all"), 0);

    /* Pipeline-mode callers get the name the cache prepared; forgotten, it is prepared anew. */
    const char *name = pgconn_prepared(c, q, 1, err, sizeof err);
    assert_non_null(name);
    char first[32];
    snprintf(first, sizeof first, "%s", name);
    assert_string_equal(pgconn_prepared(c, q, 1, err, sizeof err), first); /* no new statement */
    assert_int_equal(prepared_count(c, q), 1);
    pgconn_forget_prepared(c, q, 1);
    name = pgconn_prepared(c, q, 1, err, sizeof err);
    assert_non_null(name);
    assert_string_not_equal(name, first);
    assert_null(pgconn_prepared(c, "BEGIN", 0, err, sizeof err)); /* never cached */
    assert_null(pgconn_prepared(c, "SELECT nope FROM nowhere_at_all", 0, err, sizeof err));
    assert_non_null(strstr(err, "nowhere_at_all"));

    /* A reset connection (new server process) starts with an empty cache and still works. */
    PQreset(c);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    assert_int_equal(prepared_count(c, q), 0);
    assert_int_equal(pgconn_exec(c, &res, q, 1, seven, err, sizeof err), PG_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "14");
    PQclear(res);
    assert_int_equal(prepared_count(c, q), 1);
    pgpool_release(p, c);
    pgpool_close(p);
}

static void test_server_restart(void **state)
{
    (void)state;
    NEED_DB();
    if (!stack_available())
        skip();
    struct pgpool *p = open_pool(3);
    char err[512];
    /* Warm every slot so stale connections exist when the server goes away. */
    int st;
    PGconn *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = pgpool_acquire(p, 1000, &st, err, sizeof err);
    for (int i = 0; i < 3; i++) {
        assert_non_null(c[i]);
        pgpool_release(p, c[i]);
    }

    int stop_rc = stack_run("stop", "postgres");
    int down[4];
    for (int i = 0; i < 4; i++)
        down[i] = pgpool_exec(p, NULL, "SELECT 1", 0, NULL, err, sizeof err);
    PGconn *none = pgpool_acquire(p, 1000, &st, err, sizeof err);
    int acquire_st = st;
    if (none)
        pgpool_release(p, none);
    int start_rc = stack_run("start", "postgres"); /* always, before any assertion */
    int others = 0;
    int back = wait_until_ok(p, &others);

    assert_int_equal(stop_rc, 0);
    assert_int_equal(start_rc, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(down[i], PG_ERR_UNAVAILABLE);
    assert_null(none);
    assert_int_equal(acquire_st, PG_ERR_UNAVAILABLE);
    assert_true(back);
    assert_int_equal(others, 0);
    /* Every slot works again: three concurrent borrowers. */
    for (int i = 0; i < 3; i++) {
        c[i] = pgpool_acquire(p, 5000, &st, err, sizeof err);
        assert_non_null(c[i]);
    }
    /* Acquire notices the stale connections the restart left behind and resets them. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pgconn_exec(c[i], NULL, "SELECT 1", 0, NULL, err, sizeof err), PG_OK);
        pgpool_release(p, c[i]);
    }
    assert_int_equal(pgpool_exec(p, NULL, "SELECT 1", 0, NULL, err, sizeof err), PG_OK);
    pgpool_close(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_and_results),
        cmocka_unit_test(test_typed_errors),
        cmocka_unit_test(test_statement_timeout_from_dsn),
        cmocka_unit_test(test_open_failures),
        cmocka_unit_test(test_acquire_timeout_and_release),
        cmocka_unit_test(test_release_rolls_back_open_transaction),
        cmocka_unit_test(test_many_threads_few_connections),
        cmocka_unit_test(test_statement_cache),
        cmocka_unit_test(test_server_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
