/* test_tools_loader.c — tools_load_for_agent() against the stack's PostgreSQL and Redis:
 * priority order, permission filter before the limit of 5, inactive tools, config merge
 * with base_tools defaults, Redis cache and its invalidation. Skipped without DATABASE_URL /
 * REDIS_URL. Uses its own tenants, agent and tools (suffixed with the pid), removed at the end.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate.h"
#include "pgpool.h"
#include "rcache.h"
#include "tool.h"

static struct pgpool *g_db;
static struct rcache *g_r;
static char g_tenant[64], g_other[64], g_agent[40];
static char g_tool[9][40]; /* 1..8 */
static int g_pid;

static void sql(const char *q, int n, const char *const *params)
{
    char err[512];
    if (pgpool_exec(g_db, NULL, q, n, params, err, sizeof err) != PG_OK)
        fail_msg("sql failed: %s (%s)", err, q);
}

static void sql_value(const char *q, int n, const char *const *params, char *out, size_t cap)
{
    PGresult *res = NULL;
    char err[512];
    if (pgpool_exec(g_db, &res, q, n, params, err, sizeof err) != PG_OK || PQntuples(res) != 1)
        fail_msg("sql failed: %s (%s)", err, q);
    snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

static void cleanup_rows(void)
{
    char pat[80];
    snprintf(pat, sizeof pat, "ldr%d\\_%%", g_pid);
    const char *p1[] = {pat};
    sql("DELETE FROM tool_configs WHERE name LIKE $1", 1, p1);
    char an[64];
    snprintf(an, sizeof an, "LdrAgent%d", g_pid);
    const char *p2[] = {an};
    sql("DELETE FROM agent_configs WHERE name = $1", 1, p2);
    const char *p3[] = {g_tenant, g_other};
    sql("DELETE FROM tenants WHERE tenant_id IN ($1, $2)", 2, p3);
}

static int group_setup(void **state)
{
    (void)state;
    const char *dsn = getenv("DATABASE_URL"), *rurl = getenv("REDIS_URL");
    char err[512];
    if (!dsn || !*dsn || !rurl || !*rurl)
        return 0;
    if (migrate_run(dsn, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "migrate: %s\n", err);
        return -1;
    }
    if (pgpool_open(&g_db, dsn, 2, err, sizeof err) != 0 ||
        rcache_open(&g_r, rurl, err, sizeof err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    g_pid = (int)getpid();
    snprintf(g_tenant, sizeof g_tenant, "ldr-%d", g_pid);
    snprintf(g_other, sizeof g_other, "ldr-%d-other", g_pid);
    cleanup_rows();
    const char *pt[] = {g_tenant, g_other};
    sql("INSERT INTO tenants (tenant_id, name) VALUES ($1, 'loader test'), ($2, 'other')", 2, pt);
    char an[64];
    snprintf(an, sizeof an, "LdrAgent%d", g_pid);
    const char *pa[] = {an};
    sql_value("INSERT INTO agent_configs (name, prompt_template) VALUES ($1, 'p') "
              "RETURNING agent_id::text",
              1, pa, g_agent, sizeof g_agent);
    for (int i = 1; i <= 8; i++) {
        char name[64], cfg[256], prio[8];
        snprintf(name, sizeof name, "ldr%d_t%d", g_pid, i);
        snprintf(cfg, sizeof cfg,
                 i == 2 ? "{\"endpoint\":\"http://erp.example/api/%d\",\"timeout_ms\":3000}"
                        : "{\"endpoint\":\"http://erp.example/api/%d\"}",
                 i);
        const char *p[] = {name, cfg, i == 4 ? "{\"type\":\"object\"}" : NULL};
        sql_value("INSERT INTO tool_configs (name, base_tool_id, description, config, "
                  "input_schema, output_schema) VALUES ($1, (SELECT base_tool_id FROM base_tools "
                  "WHERE type = 'HTTP_GET'), 'test tool', $2::jsonb, "
                  "'{\"type\":\"object\"}'::jsonb, $3::jsonb) RETURNING tool_id::text",
                  3, p, g_tool[i], sizeof g_tool[i]);
        snprintf(prio, sizeof prio, "%d", i);
        const char *pp[] = {g_agent, g_tool[i], prio};
        sql("INSERT INTO agent_tools (agent_id, tool_id, priority) VALUES ($1, $2, $3::int)", 3,
            pp);
        /* t1: permission disabled; t3: no permission row; the others enabled */
        if (i != 3) {
            const char *pe[] = {g_tenant, g_tool[i], i == 1 ? "false" : "true"};
            sql("INSERT INTO tenant_tool_permissions (tenant_id, tool_id, enabled) "
                "VALUES ($1, $2, $3::boolean)",
                3, pe);
        }
    }
    /* t8 is inactive */
    const char *p8[] = {g_tool[8]};
    sql("UPDATE tool_configs SET is_active = false WHERE tool_id = $1", 1, p8);
    tools_cache_invalidate(g_r, g_tenant);
    tools_cache_invalidate(g_r, g_other);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_db) {
        cleanup_rows();
        tools_cache_invalidate(g_r, g_tenant);
        tools_cache_invalidate(g_r, g_other);
    }
    rcache_close(g_r);
    pgpool_close(g_db);
    return 0;
}

#define NEED_STACK()                                                                               \
    do {                                                                                           \
        if (!g_db)                                                                                 \
            skip();                                                                                \
    } while (0)

static void expect_tools(struct tool_def *d, size_t n, const int *want, size_t nwant)
{
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(d[i].id, g_tool[want[i]]) != 0)
            fail_msg("position %zu: got %s, expected t%d", i, d[i].name, want[i]);
    }
}

static void test_permission_filter_before_limit(void **state)
{
    (void)state;
    NEED_STACK();
    struct tool_def *d = NULL;
    size_t n = 0;
    char err[256];
    assert_int_equal(tools_load_for_agent(g_db, NULL, g_tenant, g_agent, &d, &n, err, sizeof err),
                     0);
    /* t1 (disabled) and t3 (no permission) don't push t6 and t7 out; t8 is inactive */
    const int want[] = {2, 4, 5, 6, 7};
    expect_tools(d, n, want, 5);
    /* the base type's defaults merged under the tool's config */
    assert_string_equal(d[0].base_type, "HTTP_GET");
    json_object *v;
    assert_true(json_object_object_get_ex(d[0].config, "timeout_ms", &v));
    assert_int_equal(json_object_get_int(v), 3000);
    assert_true(json_object_object_get_ex(d[1].config, "timeout_ms", &v));
    assert_int_equal(json_object_get_int(v), 10000);
    assert_true(json_object_object_get_ex(d[1].config, "endpoint", &v));
    assert_string_equal(json_object_get_string(v), "http://erp.example/api/4");
    assert_non_null(d[1].output_schema); /* t4 has one */
    assert_null(d[0].output_schema);
    assert_non_null(d[0].input_schema);
    assert_int_equal(d[0].priority, 2);
    assert_string_equal(d[0].description, "test tool");
    tool_defs_free(d, n);
}

static void test_other_tenant_gets_nothing(void **state)
{
    (void)state;
    NEED_STACK();
    struct tool_def *d = NULL;
    size_t n = 9;
    char err[256];
    assert_int_equal(tools_load_for_agent(g_db, g_r, g_other, g_agent, &d, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    tool_defs_free(d, n);
}

static void test_cache_and_invalidate(void **state)
{
    (void)state;
    NEED_STACK();
    struct tool_def *d = NULL;
    size_t n = 0;
    char err[256], key[256];
    assert_int_equal(tools_load_for_agent(g_db, g_r, g_tenant, g_agent, &d, &n, err, sizeof err),
                     0);
    tool_defs_free(d, n);
    /* the seed's keys are there */
    char *val = NULL;
    size_t len = 0;
    rcache_key(key, sizeof key, g_tenant, "tool", g_tool[2]);
    assert_int_equal(rcache_get(g_r, key, &val, &len), RC_OK);
    assert_non_null(strstr(val, "\"timeout_ms\":3000"));
    free(val);
    rcache_key(key, sizeof key, g_tenant, "permissions", "tools");
    assert_int_equal(rcache_get(g_r, key, &val, &len), RC_OK);
    assert_non_null(strstr(val, g_tool[5]));
    assert_null(strstr(val, g_tool[1])); /* disabled */
    free(val);
    rcache_key(key, sizeof key, g_tenant, "agent_tools", g_agent);
    assert_int_equal(rcache_get(g_r, key, &val, &len), RC_OK);
    free(val);
    redisReply *ttl = NULL;
    assert_int_equal(rcache_command(g_r, &ttl, "TTL %s", key), RC_OK);
    assert_true(ttl->integer > 0 && ttl->integer <= RC_TTL_PERMISSIONS);
    freeReplyObject(ttl);

    /* a database change is not seen while the cache holds */
    const char *p[] = {g_agent, g_tool[2]};
    sql("DELETE FROM agent_tools WHERE agent_id = $1 AND tool_id = $2", 2, p);
    assert_int_equal(tools_load_for_agent(g_db, g_r, g_tenant, g_agent, &d, &n, err, sizeof err),
                     0);
    const int cached[] = {2, 4, 5, 6, 7};
    expect_tools(d, n, cached, 5);
    tool_defs_free(d, n);
    /* served from Redis alone: works without the database */
    assert_int_equal(tools_load_for_agent(NULL, g_r, g_tenant, g_agent, &d, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 5);
    tool_defs_free(d, n);

    /* after invalidation it is */
    assert_int_equal(tools_cache_invalidate(g_r, g_tenant), 0);
    assert_int_equal(tools_load_for_agent(g_db, g_r, g_tenant, g_agent, &d, &n, err, sizeof err),
                     0);
    const int fresh[] = {4, 5, 6, 7};
    expect_tools(d, n, fresh, 4);
    tool_defs_free(d, n);
    /* put it back for the other tests */
    const char *pb[] = {g_agent, g_tool[2]};
    sql("INSERT INTO agent_tools (agent_id, tool_id, priority) VALUES ($1, $2, 2)", 2, pb);
    tools_cache_invalidate(g_r, NULL);
}

static void test_corrupt_cache_falls_back(void **state)
{
    (void)state;
    NEED_STACK();
    char key[256], err[256];
    struct tool_def *d = NULL;
    size_t n = 0;
    rcache_key(key, sizeof key, g_tenant, "agent_tools", g_agent);
    assert_int_equal(rcache_setex(g_r, key, "not json", 8, 60), RC_OK);
    assert_int_equal(tools_load_for_agent(g_db, g_r, g_tenant, g_agent, &d, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 5);
    tool_defs_free(d, n);
    /* a cached list naming a tool whose entry expired: reload from the database */
    tools_cache_invalidate(g_r, g_tenant);
    assert_int_equal(tools_load_for_agent(g_db, g_r, g_tenant, g_agent, &d, &n, err, sizeof err),
                     0);
    tool_defs_free(d, n);
    rcache_key(key, sizeof key, g_tenant, "tool", g_tool[4]);
    rcache_del(g_r, key);
    assert_int_equal(tools_load_for_agent(g_db, g_r, g_tenant, g_agent, &d, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 5);
    assert_string_equal(d[1].id, g_tool[4]);
    tool_defs_free(d, n);
}

static void test_bad_agent_id(void **state)
{
    (void)state;
    NEED_STACK();
    struct tool_def *d = NULL;
    size_t n = 0;
    char err[256];
    assert_int_not_equal(
        tools_load_for_agent(g_db, NULL, g_tenant, "not-a-uuid", &d, &n, err, sizeof err), 0);
    assert_null(d);
    assert_int_equal(tools_load_for_agent(g_db, NULL, g_tenant,
                                          "00000000-0000-4000-8000-00000000dead", &d, &n, err,
                                          sizeof err),
                     0);
    assert_int_equal(n, 0);
    tool_defs_free(d, n);
}

/* issue 17: a tool owned by a tenant is never loaded for another, whatever its permissions. */
static void test_tool_owned_by_another_tenant(void **state)
{
    (void)state;
    NEED_STACK();
    struct tool_def *d = NULL;
    size_t n = 9;
    char err[256];
    const char *pp[] = {g_other, g_tool[2]};
    sql("INSERT INTO tenant_tool_permissions (tenant_id, tool_id, enabled) VALUES ($1, $2, true)",
        2, pp);
    const char *po[] = {g_tenant, g_tool[2]};
    sql("UPDATE tool_configs SET owner_tenant_id = $1 WHERE tool_id = $2", 2, po);
    assert_int_equal(tools_load_for_agent(g_db, NULL, g_other, g_agent, &d, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 0);
    tool_defs_free(d, n);
    /* its owner still gets it */
    assert_int_equal(tools_load_for_agent(g_db, NULL, g_tenant, g_agent, &d, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 5);
    assert_string_equal(d[0].id, g_tool[2]);
    tool_defs_free(d, n);
    /* owned by g_other: now g_other gets it */
    sql("UPDATE tool_configs SET owner_tenant_id = $1 WHERE tool_id = $2", 2, pp);
    assert_int_equal(tools_load_for_agent(g_db, NULL, g_other, g_agent, &d, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].id, g_tool[2]);
    tool_defs_free(d, n);
    const char *p2[] = {g_tool[2]};
    sql("UPDATE tool_configs SET owner_tenant_id = NULL WHERE tool_id = $1", 1, p2);
    sql("DELETE FROM tenant_tool_permissions WHERE tenant_id = $1 AND tool_id = $2", 2, pp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permission_filter_before_limit),
        cmocka_unit_test(test_other_tenant_gets_nothing),
        cmocka_unit_test(test_cache_and_invalidate),
        cmocka_unit_test(test_corrupt_cache_falls_back),
        cmocka_unit_test(test_bad_agent_id),
        cmocka_unit_test(test_tool_owned_by_another_tenant),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
