/* Integration test: startfacts against PostgreSQL (the migrations' jobs and messages): one
 * statement answers, for every job of an intake pass, its status, which parts have a saved
 * answer and the session's latest earlier unfinished job; the answers serve that pass only.
 * Needs DATABASE_URL (tests/run.sh's stack). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "migrate.h"
#include "passmemo.h"
#include "pgpool.h"
#include "startfacts.h"

static struct pgpool *g_db;
static char g_tenant[64], g_s1[40], g_s2[40];
/* session 1: A (seq 1, running), B (seq 2, queued, part 1 answered), C (seq 3, routed);
 * session 2: D (seq 1, queued); E has no jobs row */
static char g_a[40], g_b[40], g_c[40], g_d[40], g_e[40];

static int exec(const char *sql, int n, const char *const *params, char *out, size_t cap)
{
    PGresult *res = NULL;
    char err[256];
    int st = pgpool_exec(g_db, &res, sql, n, params, err, sizeof(err));
    if (st != PG_OK) {
        fprintf(stderr, "sql failed: %s\n", err);
        return -1;
    }
    if (out && PQntuples(res) > 0)
        snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

static int add_job(char *id, const char *session, const char *seq, const char *status)
{
    const char *p[] = {g_tenant, session, status, seq};
    return exec("INSERT INTO jobs (job_id, tenant_id, session_id, user_id, status, session_seq) "
                "VALUES (gen_random_uuid(), $1, $2::uuid, 'u1', $3, $4::bigint) "
                "RETURNING job_id",
                4, p, id, 40);
}

static int setup(void **state)
{
    (void)state;
    log_init("test_startfacts", LOG_ERROR);
    const char *db = getenv("DATABASE_URL");
    char err[256];
    if (!db)
        return -1;
    if (migrate_run(db, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "migrate: %s\n", err);
        return -1;
    }
    if (pgpool_open(&g_db, db, 2, err, sizeof(err)))
        return -1;
    snprintf(g_tenant, sizeof(g_tenant), "sfacts-%d", (int)getpid());
    const char *t[] = {g_tenant};
    if (exec("INSERT INTO tenants (tenant_id, name) VALUES ($1, 'startfacts test')", 1, t, NULL,
             0) ||
        exec("INSERT INTO sessions (tenant_id, user_id) VALUES ($1, 'u1') RETURNING session_id",
             1, t, g_s1, sizeof g_s1) ||
        exec("INSERT INTO sessions (tenant_id, user_id) VALUES ($1, 'u1') RETURNING session_id",
             1, t, g_s2, sizeof g_s2))
        return -1;
    if (add_job(g_a, g_s1, "1", "running") || add_job(g_b, g_s1, "2", "queued") ||
        add_job(g_c, g_s1, "3", "routed") || add_job(g_d, g_s2, "1", "queued"))
        return -1;
    const char *m[] = {g_tenant, g_s1, g_b};
    if (exec("INSERT INTO messages (tenant_id, session_id, role, content, job_id, part) "
             "VALUES ($1, $2::uuid, 'assistant', 'part one', $3::uuid, 1)",
             3, m, NULL, 0))
        return -1;
    return exec("SELECT gen_random_uuid()", 0, NULL, g_e, sizeof g_e);
}

static int teardown(void **state)
{
    (void)state;
    const char *t[] = {g_tenant};
    exec("DELETE FROM tenants WHERE tenant_id = $1", 1, t, NULL, 0);
    startfacts_clear();
    pgpool_close(g_db);
    return 0;
}

static struct envelope env_of(const char *job_id, const char *session_id)
{
    struct envelope e;
    memset(&e, 0, sizeof e);
    snprintf(e.job_id, sizeof e.job_id, "%s", job_id);
    snprintf(e.tenant_id, sizeof e.tenant_id, "%s", g_tenant);
    snprintf(e.session_id, sizeof e.session_id, "%s", session_id);
    return e;
}

static void set_status(const char *job, const char *status)
{
    const char *p[] = {job, status};
    assert_int_equal(exec("UPDATE jobs SET status = $2 WHERE job_id = $1::uuid", 2, p, NULL, 0),
                     0);
}

static void test_outside_a_pass_nothing_is_read(void **state)
{
    (void)state;
    struct envelope b = env_of(g_b, g_s1);
    const struct envelope *envs[] = {&b};
    char status[16], pred[40];
    int has = -1;
    assert_int_equal(startfacts_load(g_db, envs, 1, 1), 0);
    assert_int_equal(startfacts_job_state(&b, 1, status, sizeof status, &has), 0);
    assert_int_equal(startfacts_session_pred(&b, pred), -1);
}

static void test_one_statement_serves_the_pass(void **state)
{
    (void)state;
    struct envelope a = env_of(g_a, g_s1), b = env_of(g_b, g_s1), c = env_of(g_c, g_s1),
                    d = env_of(g_d, g_s2), e = env_of(g_e, g_s2);
    const struct envelope *envs[] = {&c, &a, &e, &b, &d};
    char status[16], pred[40];
    int has = -1;

    passmemo_begin();
    assert_int_equal(startfacts_load(g_db, envs, 5, 1), 0);
    assert_int_equal(startfacts_job_state(&b, 1, status, sizeof status, &has), 1);
    assert_string_equal(status, "queued");
    assert_int_equal(has, 1);
    assert_int_equal(startfacts_job_state(&b, 0, status, sizeof status, &has), 1);
    assert_int_equal(has, 0);
    assert_int_equal(startfacts_job_state(&a, 0, status, sizeof status, &has), 1);
    assert_string_equal(status, "running");
    assert_int_equal(startfacts_job_state(&e, 0, status, sizeof status, &has), 1);
    assert_string_equal(status, ""); /* no jobs row */
    assert_int_equal(has, 0);
    /* the session's latest earlier unfinished job */
    assert_int_equal(startfacts_session_pred(&c, pred), 1);
    assert_string_equal(pred, g_b);
    assert_int_equal(startfacts_session_pred(&b, pred), 1);
    assert_string_equal(pred, g_a);
    assert_int_equal(startfacts_session_pred(&a, pred), 0);
    assert_int_equal(startfacts_session_pred(&d, pred), 0);
    assert_int_equal(startfacts_session_pred(&e, pred), 0);

    /* the pass's answers stand while it lasts: they are what the statement read */
    set_status(g_b, "done");
    assert_int_equal(startfacts_job_state(&b, 1, status, sizeof status, &has), 1);
    assert_string_equal(status, "queued");
    /* a job the statement did not cover is not known */
    struct envelope other = env_of("00000000-0000-4000-8000-000000000001", g_s1);
    assert_int_equal(startfacts_job_state(&other, 0, status, sizeof status, &has), 0);
    assert_int_equal(startfacts_session_pred(&other, pred), -1);
    passmemo_end();

    /* after the pass, and in the next one before its own load, nothing is served */
    assert_int_equal(startfacts_job_state(&b, 1, status, sizeof status, &has), 0);
    passmemo_begin();
    assert_int_equal(startfacts_job_state(&b, 1, status, sizeof status, &has), 0);
    assert_int_equal(startfacts_session_pred(&c, pred), -1);
    /* the next pass reads anew: B is done now, so C waits for A no more than for B */
    assert_int_equal(startfacts_load(g_db, envs, 5, 1), 0);
    assert_int_equal(startfacts_job_state(&b, 1, status, sizeof status, &has), 1);
    assert_string_equal(status, "done");
    assert_int_equal(startfacts_session_pred(&c, pred), 1);
    assert_string_equal(pred, g_a);
    passmemo_end();
    set_status(g_b, "queued");
}

static void test_without_session_order_no_pred_is_claimed(void **state)
{
    (void)state;
    struct envelope b = env_of(g_b, g_s1);
    const struct envelope *envs[] = {&b};
    char status[16], pred[40];
    int has = -1;
    passmemo_begin();
    assert_int_equal(startfacts_load(g_db, envs, 1, 0), 0);
    assert_int_equal(startfacts_job_state(&b, 1, status, sizeof status, &has), 1);
    assert_int_equal(startfacts_session_pred(&b, pred), -1);
    passmemo_end();
}

static void test_a_failed_statement_leaves_every_job_to_ask(void **state)
{
    (void)state;
    struct envelope b = env_of(g_b, g_s1), bad = env_of("not-a-uuid", g_s1);
    const struct envelope *envs[] = {&b, &bad};
    char status[16], pred[40];
    int has = -1;
    passmemo_begin();
    assert_true(startfacts_load(g_db, envs, 2, 1) < 0);
    assert_int_equal(startfacts_job_state(&b, 1, status, sizeof status, &has), 0);
    assert_int_equal(startfacts_session_pred(&b, pred), -1);
    passmemo_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside_a_pass_nothing_is_read),
        cmocka_unit_test(test_one_statement_serves_the_pass),
        cmocka_unit_test(test_without_session_order_no_pred_is_claimed),
        cmocka_unit_test(test_a_failed_statement_leaves_every_job_to_ask),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
