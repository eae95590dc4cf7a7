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

#include "history.h"
#include "log.h"
#include "migrate.h"
#include "passmemo.h"
#include "pgpool.h"
#include "tests/support/pgexec.h"
#include "startfacts.h"

static struct pgpool *g_db;
static char g_tenant[64], g_s1[40], g_s2[40];
/* session 1: A (seq 1, running), B (seq 2, queued, part 1 answered), C (seq 3, routed);
 * session 2: D (seq 1, queued); E has no jobs row */
static char g_a[40], g_b[40], g_c[40], g_d[40], g_e[40];
/* session 3: H1 (done: "q1" answered "a1"), H2 (queued, its question "q2" is message g_m2) */
static char g_s3[40], g_h1[40], g_h2[40], g_m2[40];

static int exec(const char *sql, int n, const char *const *params, char *out, size_t cap)
{
    return pgexec_first(g_db, sql, n, params, out, cap);
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
        exec("INSERT INTO sessions (tenant_id, user_id) VALUES ($1, 'u1') RETURNING session_id", 1,
             t, g_s1, sizeof g_s1) ||
        exec("INSERT INTO sessions (tenant_id, user_id) VALUES ($1, 'u1') RETURNING session_id", 1,
             t, g_s2, sizeof g_s2))
        return -1;
    if (add_job(g_a, g_s1, "1", "running") || add_job(g_b, g_s1, "2", "queued") ||
        add_job(g_c, g_s1, "3", "routed") || add_job(g_d, g_s2, "1", "queued"))
        return -1;
    const char *m[] = {g_tenant, g_s1, g_b};
    if (exec("INSERT INTO messages (tenant_id, session_id, role, content, job_id, part) "
             "VALUES ($1, $2::uuid, 'assistant', 'part one', $3::uuid, 1)",
             3, m, NULL, 0))
        return -1;
    if (exec("INSERT INTO sessions (tenant_id, user_id) VALUES ($1, 'u1') RETURNING session_id", 1,
             t, g_s3, sizeof g_s3))
        return -1;
    const char *h1[] = {g_tenant, g_s3, "done", "1", "3"},
               *h2[] = {g_tenant, g_s3, "queued", "2", "1"};
    const char *job_sql =
        "INSERT INTO jobs (job_id, tenant_id, session_id, user_id, status, "
        "session_seq, created_at) VALUES (gen_random_uuid(), $1, $2::uuid, 'u1', "
        "$3, $4::bigint, now() - make_interval(secs => $5::int)) RETURNING job_id";
    if (exec(job_sql, 5, h1, g_h1, sizeof g_h1) || exec(job_sql, 5, h2, g_h2, sizeof g_h2))
        return -1;
    const char *msg_sql = "INSERT INTO messages (tenant_id, session_id, role, content, job_id, "
                          "part, timestamp) VALUES ($1, $2::uuid, $3, $4, $5::uuid, $6::int, "
                          "now() - make_interval(secs => $7::int)) RETURNING message_id";
    const char *q1[] = {g_tenant, g_s3, "user", "q1", g_h1, NULL, "3"},
               *a1[] = {g_tenant, g_s3, "assistant", "a1", g_h1, "0", "2"},
               *q2[] = {g_tenant, g_s3, "user", "q2", g_h2, NULL, "1"};
    if (exec(msg_sql, 7, q1, NULL, 0) || exec(msg_sql, 7, a1, NULL, 0) ||
        exec(msg_sql, 7, q2, g_m2, sizeof g_m2))
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
    assert_int_equal(exec("UPDATE jobs SET status = $2 WHERE job_id = $1::uuid", 2, p, NULL, 0), 0);
}

static void test_outside_a_pass_nothing_is_read(void **state)
{
    (void)state;
    struct envelope b = env_of(g_b, g_s1);
    const struct envelope *envs[] = {&b};
    char status[16], pred[40];
    int has = -1;
    assert_int_equal(startfacts_load(g_db, envs, 1, 1, -1, NULL), 0);
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
    assert_int_equal(startfacts_load(g_db, envs, 5, 1, -1, NULL), 0);
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
    assert_int_equal(startfacts_load(g_db, envs, 5, 1, -1, NULL), 0);
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
    assert_int_equal(startfacts_load(g_db, envs, 1, 0, -1, NULL), 0);
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
    assert_true(startfacts_load(g_db, envs, 2, 1, -1, NULL) < 0);
    assert_int_equal(startfacts_job_state(&b, 1, status, sizeof status, &has), 0);
    assert_int_equal(startfacts_session_pred(&b, pred), -1);
    passmemo_end();
}

static int not_e(const struct envelope *env)
{
    return strcmp(env->job_id, g_e) != 0;
}

static void status_is(const char *job, const char *want)
{
    char got[16] = "";
    const char *p[] = {job};
    assert_int_equal(exec("SELECT status FROM jobs WHERE job_id = $1::uuid", 1, p, got, sizeof got),
                     0);
    assert_string_equal(got, want);
}

static void test_the_pass_reads_the_history_of_the_jobs_that_begin(void **state)
{
    (void)state;
    struct envelope b = env_of(g_b, g_s1), c = env_of(g_c, g_s1), d = env_of(g_d, g_s2),
                    e = env_of(g_e, g_s2), h2 = env_of(g_h2, g_s3);
    memcpy(h2.message_id, g_m2, sizeof h2.message_id - 1);
    const struct envelope *envs[] = {&b, &c, &d, &e, &h2};
    PGresult *res = NULL;
    int first = -1, rows = -1;

    passmemo_begin();
    assert_int_equal(startfacts_load(g_db, envs, 5, 1, 20, not_e), 0);
    /* H2: the turns before its question, oldest first; it is running now */
    assert_int_equal(startfacts_history(&h2, &res, &first, &rows), 1);
    assert_int_equal(rows, 2);
    assert_string_equal(PQgetvalue(res, first, 1), "user");
    assert_string_equal(PQgetvalue(res, first, 2), "q1");
    assert_string_equal(PQgetvalue(res, first + 1, 1), "assistant");
    assert_string_equal(PQgetvalue(res, first + 1, 2), "a1");
    status_is(g_h2, "running");
    /* D begins too: no turns before it */
    assert_int_equal(startfacts_history(&d, &res, &first, &rows), 1);
    assert_int_equal(rows, 0);
    status_is(g_d, "running");
    /* B has a saved answer, C waits for B, E was not wanted: each reads its own later */
    assert_int_equal(startfacts_history(&b, &res, &first, &rows), 0);
    assert_int_equal(startfacts_history(&c, &res, &first, &rows), 0);
    assert_int_equal(startfacts_history(&e, &res, &first, &rows), 0);
    status_is(g_b, "queued");
    status_is(g_c, "routed");
    passmemo_end();
    assert_int_equal(startfacts_history(&h2, &res, &first, &rows), 0);

    /* one job on its own: the same statement, the same turns; limit 0 only moves it */
    set_status(g_h2, "queued");
    const struct envelope *one[] = {&h2};
    char err[256];
    assert_int_equal(history_read(g_db, one, 1, 1, &res, err, sizeof err), PG_OK);
    assert_int_equal(PQntuples(res), 1);
    assert_string_equal(PQgetvalue(res, 0, 2), "a1"); /* the latest turn */
    PQclear(res);
    status_is(g_h2, "running");
    set_status(g_h2, "done");
    assert_int_equal(history_read(g_db, one, 1, 0, &res, err, sizeof err), PG_OK);
    assert_int_equal(PQntuples(res), 0);
    PQclear(res);
    status_is(g_h2, "done"); /* a finished job is not moved back */
    set_status(g_h2, "queued");
    set_status(g_d, "queued");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside_a_pass_nothing_is_read),
        cmocka_unit_test(test_one_statement_serves_the_pass),
        cmocka_unit_test(test_without_session_order_no_pred_is_claimed),
        cmocka_unit_test(test_a_failed_statement_leaves_every_job_to_ask),
        cmocka_unit_test(test_the_pass_reads_the_history_of_the_jobs_that_begin),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
