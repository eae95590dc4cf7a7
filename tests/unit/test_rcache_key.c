/* test_rcache_key.c — the seed's Redis key namespacing and rcache URL/status handling that
 * needs no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "rcache.h"

static void test_key_with_id(void **state)
{
    (void)state;
    char buf[128];
    int n = rcache_key(buf, sizeof buf, "tenant-A", "agent", "uuid-agent-debt");
    assert_string_equal(buf, "agenthub:tenant-A:cache:agent:uuid-agent-debt");
    assert_int_equal(n, (int)strlen(buf));
}

static void test_key_without_id(void **state)
{
    (void)state;
    char buf[128];
    int n = rcache_key(buf, sizeof buf, "tenant-A", "permissions", NULL);
    assert_string_equal(buf, "agenthub:tenant-A:cache:permissions");
    assert_int_equal(n, (int)strlen("agenthub:tenant-A:cache:permissions"));
    /* The seed's two-level resources are just "resource:id". */
    rcache_key(buf, sizeof buf, "tenant-A", "permissions", "agents");
    assert_string_equal(buf, "agenthub:tenant-A:cache:permissions:agents");
}

static void test_key_exact_fit_and_overflow(void **state)
{
    (void)state;
    const char *want = "agenthub:t:cache:tool:1";
    size_t len = strlen(want);
    char buf[64];
    assert_int_equal(rcache_key(buf, len + 1, "t", "tool", "1"), (int)len);
    assert_string_equal(buf, want);
    /* One byte short: -1 and never a truncated key that could name another entry. */
    memset(buf, 'x', sizeof buf);
    assert_int_equal(rcache_key(buf, len, "t", "tool", "1"), -1);
    assert_string_equal(buf, "");
    assert_int_equal(rcache_key(buf, 1, "t", "tool", NULL), -1);
}

static void test_key_bad_arguments(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(rcache_key(NULL, sizeof buf, "t", "agent", "1"), -1);
    assert_int_equal(rcache_key(buf, 0, "t", "agent", "1"), -1);
    assert_int_equal(rcache_key(buf, sizeof buf, NULL, "agent", "1"), -1);
    assert_int_equal(rcache_key(buf, sizeof buf, "", "agent", "1"), -1);
    assert_int_equal(rcache_key(buf, sizeof buf, "t", NULL, "1"), -1);
    assert_int_equal(rcache_key(buf, sizeof buf, "t", "", "1"), -1);
}

/* The admin reload pattern of the seed (agenthub:*:cache:agent:*) is buildable too. */
static void test_key_glob_pattern(void **state)
{
    (void)state;
    char buf[64];
    assert_true(rcache_key(buf, sizeof buf, "*", "agent", "*") > 0);
    assert_string_equal(buf, "agenthub:*:cache:agent:*");
}

static void test_open_rejects_bad_urls_without_echoing_them(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "http://127.0.0.1:6379/0",
        "redis://",
        "redis://127.0.0.1:0/0",
        "redis://127.0.0.1:70000/0",
        "redis://127.0.0.1:6379/notanumber",
        "redis://:s3cr3t-pass%zz@127.0.0.1:6379/0",
        "redis://:s3cr3t-pass@127.0.0.1:6379/0?timeout_ms=abc",
        "redis://:s3cr3t-pass@127.0.0.1:6379/0?bogus=1",
        "redis://[::1:6379/0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rcache *r = (struct rcache *)1;
        char err[256] = "";
        assert_int_not_equal(rcache_open(&r, bad[i], err, sizeof err), RC_OK);
        assert_null(r);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "s3cr3t"));
    }
}

static void test_open_accepts_good_urls(void **state)
{
    (void)state;
    static const char *const good[] = {
        "redis://127.0.0.1:6379/0",
        "redis://localhost",
        "redis://127.0.0.1:6379",
        "redis://:pass@127.0.0.1:6379/2",
        "redis://user:p%40ss@127.0.0.1:6379/3?connect_timeout_ms=50&timeout_ms=100",
        "redis://[::1]:6379/0",
        "REDIS://127.0.0.1/1",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct rcache *r = NULL;
        char err[256] = "";
        assert_int_equal(rcache_open(&r, good[i], err, sizeof err), RC_OK);
        assert_non_null(r);
        rcache_close(r);
    }
    rcache_close(NULL);
}

/* Nothing listens on port 1: a typed RC_ERR_DOWN, never RC_MISS and never a crash. */
static void test_unreachable_is_down_not_miss(void **state)
{
    (void)state;
    struct rcache *r = NULL;
    char err[256];
    assert_int_equal(
        rcache_open(&r, "redis://127.0.0.1:1/0?connect_timeout_ms=200", err, sizeof err), RC_OK);
    char *val = (char *)1;
    size_t len = 7;
    assert_int_equal(rcache_get(r, "agenthub:t:cache:agent:1", &val, &len), RC_ERR_DOWN);
    assert_null(val);
    assert_int_equal(len, 0);
    assert_int_equal(rcache_ping(r), RC_ERR_DOWN);
    assert_int_equal(rcache_setex(r, "k", "v", 1, 10), RC_ERR_DOWN);
    assert_int_equal(rcache_del_pattern(r, "agenthub:t:*"), RC_ERR_DOWN);
    rcache_close(r);
}

static void test_status_strings(void **state)
{
    (void)state;
    assert_string_equal(rc_status_str(RC_OK), "ok");
    assert_string_equal(rc_status_str(RC_MISS), "miss");
    assert_string_not_equal(rc_status_str(RC_ERR_DOWN), rc_status_str(RC_ERR_REPLY));
    assert_string_equal(rc_status_str(12345), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_with_id),
        cmocka_unit_test(test_key_without_id),
        cmocka_unit_test(test_key_exact_fit_and_overflow),
        cmocka_unit_test(test_key_bad_arguments),
        cmocka_unit_test(test_key_glob_pattern),
        cmocka_unit_test(test_open_rejects_bad_urls_without_echoing_them),
        cmocka_unit_test(test_open_accepts_good_urls),
        cmocka_unit_test(test_unreachable_is_down_not_miss),
        cmocka_unit_test(test_status_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
