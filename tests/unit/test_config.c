/* Unit tests for common/config: defaults, bounds, required, booleans, secret masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_required),
        cmocka_unit_test(test_every_error_reported),
        cmocka_unit_test(test_print_masks_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
