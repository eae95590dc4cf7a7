/* Unit tests for common/uuid: v4 format, version/variant bits, uniqueness, syntax checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

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
        cmocka_unit_test(test_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
