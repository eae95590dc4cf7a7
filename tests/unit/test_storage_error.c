/* Unit test for pipeline_storage_error(): a job's error code says what was wrong with a
 * PostgreSQL write, and only an unreachable database is worth a retry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pgpool.h"
#include "pipeline.h"

static void test_codes(void **state)
{
    (void)state;
    int t = -1;
    assert_string_equal(pipeline_storage_error(PG_ERR_UNAVAILABLE, &t), "storage_unavailable");
    assert_int_equal(t, 1);
    assert_string_equal(pipeline_storage_error(PG_ERR_TIMEOUT, &t), "storage_unavailable");
    assert_int_equal(t, 1);
    /* 22xxx (invalid byte sequence, bad input syntax) and 23xxx are the data's fault */
    assert_string_equal(pipeline_storage_error(PG_ERR_INVALID, &t), "invalid_data");
    assert_int_equal(t, 0);
    assert_string_equal(pipeline_storage_error(PG_ERR_CONFLICT, &t), "invalid_data");
    assert_int_equal(t, 0);
    assert_string_equal(pipeline_storage_error(PG_ERR_FOREIGN_KEY, &t), "invalid_data");
    assert_int_equal(t, 0);
    assert_string_equal(pipeline_storage_error(PG_ERR_QUERY, &t), "storage_error");
    assert_int_equal(t, 0);
    assert_string_equal(pipeline_storage_error(PG_ERR_QUERY, NULL), "storage_error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_codes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
