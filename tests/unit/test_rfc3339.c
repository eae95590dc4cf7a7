/* Unit tests for common/rfc3339: what an API takes as a date or a time, and what PostgreSQL
 * would have taken besides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "rfc3339.h"

static void test_datetimes(void **state)
{
    static const char *good[] = {"2030-01-31T12:00:00Z", "2030-01-31t12:00:00z",
                                 "2030-01-31T12:00:00.5+07:00", "2030-01-31T12:00:00.123456-05:30"};
    static const char *bad[] = {"tomorrow",
                                "infinity",
                                "Jan 1 2030",
                                "2030-01-31",
                                "2030-01-31T12:00:00",
                                "2030-01-31 12:00:00Z",
                                "2030-01-31T12:00:00.Z",
                                "2030-01-31T12:00:00+0700",
                                "2030-01-31T12:00:00+07:00x",
                                "2030-1-31T12:00:00Z",
                                "",
                                NULL};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(rfc3339_datetime_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(rfc3339_datetime_valid(bad[i]));
}

static void test_dates(void **state)
{
    assert_true(rfc3339_date_or_datetime_valid("2026-12-01"));
    assert_true(rfc3339_date_or_datetime_valid("2026-12-01T00:00:00Z"));
    assert_false(rfc3339_date_or_datetime_valid("2026-12-01x"));
    assert_false(rfc3339_date_or_datetime_valid("tomorrow"));
    assert_false(rfc3339_date_or_datetime_valid("20261201"));
    assert_false(rfc3339_date_or_datetime_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_datetimes),
        cmocka_unit_test(test_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
