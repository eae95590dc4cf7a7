/* Unit tests for common/uuid: v4 and v7 format, version/variant bits, v7 order, uniqueness, syntax
 * checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uuid.h"

static void test_v4_format(void **state)
{
    char u[UUID_STR_LEN];
    int i, j;
    for (i = 0; i < 200; i++) {
        assert_int_equal(uuid_v4(u), 0);
        assert_int_equal(strlen(u), 36);
        assert_true(uuid_valid(u));
        assert_int_equal(u[14], '4');           /* version */
        assert_non_null(strchr("89ab", u[19])); /* RFC 4122 variant */
        for (j = 0; j < 36; j++)
            assert_true(u[j] == '-' || (u[j] >= '0' && u[j] <= '9') ||
                        (u[j] >= 'a' && u[j] <= 'f'));
    }
}

static void test_v4_unique(void **state)
{
    static char seen[500][UUID_STR_LEN];
    int i, j;
    for (i = 0; i < 500; i++) {
        assert_int_equal(uuid_v4(seen[i]), 0);
        for (j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
    }
}

/* v7: version and variant nibbles, the 48-bit millisecond timestamp of now, and ids made in a
 * later millisecond sort after earlier ones (as text, which is how PostgreSQL orders uuid). */
static void test_v7_format_and_order(void **state)
{
    (void)state;
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    struct timespec ts, pause = {.tv_sec = 0, .tv_nsec = 2000000};
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long before =
        (unsigned long long)ts.tv_sec * 1000ULL + (unsigned long long)ts.tv_nsec / 1000000ULL;
    assert_int_equal(uuid_v7(a), 0);
    assert_int_equal(strlen(a), 36);
    assert_true(uuid_valid(a));
    assert_int_equal(a[14], '7');
    assert_true(strchr("89ab", a[19]) != NULL);
    char hexms[13];
    memcpy(hexms, a, 8);
    memcpy(hexms + 8, a + 9, 4);
    hexms[12] = '\0';
    unsigned long long ms = strtoull(hexms, NULL, 16);
    assert_true(ms >= before && ms <= before + 1000);
    nanosleep(&pause, NULL);
    assert_int_equal(uuid_v7(b), 0);
    assert_true(strcmp(a, b) < 0);
    /* The rest is random: two ids of the same millisecond still differ. */
    char c[UUID_STR_LEN], d[UUID_STR_LEN];
    assert_int_equal(uuid_v7(c), 0);
    assert_int_equal(uuid_v7(d), 0);
    assert_string_not_equal(c, d);
}

static void test_valid(void **state)
{
    assert_true(uuid_valid("123e4567-e89b-12d3-a456-426614174000"));
    assert_true(uuid_valid("123E4567-E89B-12D3-A456-426614174000")); /* either case */
    assert_true(uuid_valid("00000000-0000-0000-0000-000000000000"));
    assert_false(uuid_valid(NULL));
    assert_false(uuid_valid(""));
    assert_false(uuid_valid("123e4567-e89b-12d3-a456-42661417400"));   /* short */
    assert_false(uuid_valid("123e4567-e89b-12d3-a456-4266141740000")); /* long */
    assert_false(uuid_valid("123e4567e89b-12d3-a456-4266141740000"));  /* dash moved */
    assert_false(uuid_valid("123e4567-e89b-12d3-a456_426614174000"));
    assert_false(uuid_valid("g23e4567-e89b-12d3-a456-426614174000"));
    assert_false(uuid_valid("{23e4567-e89b-12d3-a456-426614174000}"));
    assert_false(uuid_valid("123e4567-e89b-12d3-a456-42661417400 "));
    assert_false(uuid_valid("123e4567-e89b-12d3-a456-426614174000\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v4_format),
        cmocka_unit_test(test_v4_unique),
        cmocka_unit_test(test_v7_format_and_order),
        cmocka_unit_test(test_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
