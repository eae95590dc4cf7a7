/* Unit tests for common/log: JSON lines, levels, context fields, secret masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char captured[16384];

/* Runs fn with logging sent to a pipe and returns what it wrote. */
static const char *capture(void (*fn)(void))
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    log_set_fd(fds[1]);
    fn();
    log_set_fd(2);
    close(fds[1]);
    ssize_t n = read(fds[0], captured, sizeof(captured) - 1);
    close(fds[0]);
    captured[n > 0 ? n : 0] = '\0';
    return captured;
}

static void emit_with_ctx(void)
{
    struct log_ctx ctx = {.tenant_id = "t-1", .job_id = "j-2", .request_id = "r-3"};
    log_init("testcomp", LOG_INFO);
    log_info(&ctx, "hello \"%s\"\n", "world");
}

static void test_line_is_json_with_context(void **state)
{
    const char *out = capture(emit_with_ctx);
    json_object *o = json_tokener_parse(out);
    assert_non_null(o);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "component", &v));
    assert_string_equal(json_object_get_string(v), "testcomp");
    assert_true(json_object_object_get_ex(o, "msg", &v));
    assert_string_equal(json_object_get_string(v), "hello \"world\"\n");
    assert_true(json_object_object_get_ex(o, "tenant_id", &v));
    assert_string_equal(json_object_get_string(v), "t-1");
    assert_true(json_object_object_get_ex(o, "level", &v));
    assert_string_equal(json_object_get_string(v), "info");
    assert_false(json_object_object_get_ex(o, "trace_id", &v));
    json_object_put(o);
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out)); /* exactly one line */
}

static void emit_below_level(void)
{
    log_init("testcomp", LOG_WARN);
    log_info(NULL, "dropped");
    log_kv(LOG_ERROR, NULL, "kept", "agent", "AgentDebt", NULL);
}

static void test_level_filter_and_kv(void **state)
{
    const char *out = capture(emit_below_level);
    assert_null(strstr(out, "dropped"));
    assert_non_null(strstr(out, "\"agent\":\"AgentDebt\""));
}

static void emit_secrets(void)
{
    log_init("testcomp", LOG_DEBUG);
    log_add_secret("sk-very-secret-key-123");
    log_info(NULL, "key sk-very-secret-key-123 and Authorization: Bearer abcdefghijklmnop");
    log_info(NULL, "jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl end");
    log_info(NULL, "fernet gAAAAABkZXNlY3JldGZlcm5ldHRva2Vu end");
}

static void test_secrets_masked(void **state)
{
    const char *out = capture(emit_secrets);
    assert_null(strstr(out, "sk-very-secret-key-123"));
    assert_null(strstr(out, "abcdefghijklmnop"));
    assert_null(strstr(out, "eyJhbGciOiJSUzI1NiJ9"));
    assert_null(strstr(out, "c2lnbmF0dXJl"));
    assert_null(strstr(out, "gAAAAABkZXNl"));
    assert_non_null(strstr(out, "key *** and"));
    assert_non_null(strstr(out, " end"));
}

static void test_level_parse(void **state)
{
    enum log_level l;
    assert_int_equal(log_level_parse("warn", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_level_parse("verbose", &l), -1);
    assert_int_equal(log_level_parse(NULL, &l), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_is_json_with_context),
        cmocka_unit_test(test_level_filter_and_kv),
        cmocka_unit_test(test_secrets_masked),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
