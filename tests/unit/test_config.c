/* Unit tests for common/config: defaults, bounds, required, booleans, secret masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "tests/support/logline.h"

static char *s_name, *s_key;
static long s_port;
static int s_flag;

static const struct config_entry table[] = {
    {"T_NAME", CONFIG_STRING, "dflt", 0, 0, 0, "a name", &s_name},
    {"T_PORT", CONFIG_INT, "8080", 1, 65535, 0, "a port", &s_port},
    {"T_FLAG", CONFIG_BOOL, "false", 0, 0, 0, "a flag", &s_flag},
    {"T_KEY", CONFIG_STRING, NULL, 0, 0, CONFIG_REQUIRED | CONFIG_SECRET, "a key", &s_key},
};
#define N (sizeof(table) / sizeof(table[0]))

static void reset(void)
{
    free(s_name);
    free(s_key);
    s_name = s_key = NULL;
    unsetenv("T_NAME");
    unsetenv("T_PORT");
    unsetenv("T_FLAG");
    unsetenv("T_KEY");
}

static int load(char *errs, size_t cap)
{
    FILE *f = fmemopen(errs, cap, "w");
    int n = config_load(table, N, f);
    fclose(f);
    return n;
}

static void test_defaults_and_required(void **state)
{
    char errs[1024] = {0};
    reset();
    assert_int_equal(load(errs, sizeof(errs)), 1);
    assert_non_null(strstr(errs, "T_KEY is required"));
    setenv("T_KEY", "hunter2-secret", 1);
    memset(errs, 0, sizeof(errs));
    assert_int_equal(load(errs, sizeof(errs)), 0);
    assert_string_equal(s_name, "dflt");
    assert_int_equal(s_port, 8080);
    assert_int_equal(s_flag, 0);
}

static void test_every_error_reported(void **state)
{
    char errs[1024] = {0};
    reset();
    setenv("T_PORT", "70000", 1);
    setenv("T_FLAG", "maybe", 1);
    assert_int_equal(load(errs, sizeof(errs)), 3);
    assert_non_null(strstr(errs, "T_PORT: 70000 is outside 1..65535"));
    assert_non_null(strstr(errs, "T_FLAG: 'maybe' is not a boolean"));
    assert_non_null(strstr(errs, "T_KEY is required"));
    setenv("T_PORT", "12x", 1);
    memset(errs, 0, sizeof(errs));
    load(errs, sizeof(errs));
    assert_non_null(strstr(errs, "T_PORT: '12x' is not a whole number"));
}

static void test_print_masks_secrets(void **state)
{
    char errs[256] = {0}, out[1024] = {0};
    reset();
    setenv("T_KEY", "hunter2-secret", 1);
    setenv("T_FLAG", "yes", 1);
    assert_int_equal(load(errs, sizeof(errs)), 0);
    FILE *f = fmemopen(out, sizeof(out), "w");
    config_print(table, N, f);
    fclose(f);
    assert_null(strstr(out, "hunter2"));
    assert_non_null(strstr(out, "T_KEY=***"));
    assert_non_null(strstr(out, "T_FLAG=true"));
    assert_non_null(strstr(out, "T_PORT=8080"));
    reset();
}

/* A password inside a URL or after "password=" is masked in any string setting, and
 * registered with the log's masking; the rest of the URL is shown. */
static void test_print_masks_url_passwords(void **state)
{
    static char *s_url;
    static const struct config_entry t[] = {
        {"T_URL", CONFIG_STRING, "", 0, 0, 0, "a URL", &s_url},
    };
    static const struct {
        const char *in, *shown;
    } cases[] = {
        {"redis://:hunter2-secret@h:6379/0", "T_URL=redis://:***@h:6379/0\n"},
        {"http://user:hunter2-secret@proxy:3128", "T_URL=http://user:***@proxy:3128\n"},
        {"postgresql://u:hunter2-secret@db/x?password=hunter2-secret&sslmode=require",
         "T_URL=postgresql://u:***@db/x?password=***&sslmode=require\n"},
        {"host=db password=hunter2-secret dbname=x", "T_URL=host=db password=*** dbname=x\n"},
        {"http://user@h:1/p?q=1", "T_URL=http://user@h:1/p?q=1\n"},
        {"http://h:8000/a:b@c", "T_URL=http://h:8000/a:b@c\n"},
        {"", "T_URL=\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char errs[256] = {0}, out[512] = {0};
        setenv("T_URL", cases[i].in, 1);
        FILE *f = fmemopen(errs, sizeof errs, "w");
        assert_int_equal(config_load(t, 1, f), 0);
        fclose(f);
        f = fmemopen(out, sizeof out, "w");
        config_print(t, 1, f);
        fclose(f);
        assert_string_equal(out, cases[i].shown);
        config_free(t, 1);
    }
    /* and the password never reaches a log line */
    char errs[256] = {0}, line[512], text[128];
    setenv("T_URL", "redis://:pw-in-a-url-77@h:6379/0", 1);
    FILE *f = fmemopen(errs, sizeof errs, "w");
    assert_int_equal(config_load(t, 1, f), 0);
    fclose(f);
    snprintf(text, sizeof text, "cannot reach %s", s_url);
    assert_int_equal(logline_capture(text, line, sizeof line), 0);
    assert_null(strstr(line, "pw-in-a-url-77"));
    assert_non_null(strstr(line, "redis://:***@h:6379/0"));
    config_free(t, 1);
    unsetenv("T_URL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_required),
        cmocka_unit_test(test_every_error_reported),
        cmocka_unit_test(test_print_masks_secrets),
        cmocka_unit_test(test_print_masks_url_passwords),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
