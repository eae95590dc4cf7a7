/* Unit tests for common/json_number: the JSON text of decimals and of PostgreSQL's numbers,
 * the values behind it, what JSON cannot hold, and the text surviving a parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "json_number.h"

static void expect_text(json_object *o, const char *text, double value)
{
    assert_non_null(o);
    assert_true(json_object_is_type(o, json_type_double));
    assert_string_equal(json_object_to_json_string(o), text);
    assert_true(fabs(json_object_get_double(o) - value) < 1e-12);
    json_object_put(o);
}

static void test_decimal(void **state)
{
    (void)state;
    /* json-c alone writes these as 0.14999999999999999 and 0.00012689999999999999 */
    json_object *raw = json_object_new_double(0.15);
    assert_string_equal(json_object_to_json_string(raw), "0.14999999999999999");
    json_object_put(raw);
    expect_text(json_decimal(0.15, 8), "0.15", 0.15);
    expect_text(json_decimal(686 * 0.15e-6 + 40 * 0.6e-6, 8), "0.0001269", 0.0001269);
    expect_text(json_decimal(1.0 - 0.6264666, 4), "0.3735", 0.3735);
    expect_text(json_decimal(2.5, 6), "2.5", 2.5);
    expect_text(json_decimal(10, 6), "10.0", 10);
    expect_text(json_decimal(0, 8), "0.0", 0);
    expect_text(json_decimal(7, 0), "7.0", 7);
    expect_text(json_decimal(-1.25, 2), "-1.25", -1.25);
    expect_text(json_decimal(-0.00001, 4), "0.0", 0); /* not "-0.0" */
    expect_text(json_decimal(0.00005, 4), "0.0001", 0.0001);
}

static void test_not_numbers(void **state)
{
    (void)state;
    assert_null(json_decimal(NAN, 4));
    assert_null(json_decimal(INFINITY, 4));
    assert_null(json_decimal(-INFINITY, 4));
    assert_null(json_number_text("NaN"));
    assert_null(json_number_text("Infinity"));
    assert_null(json_number_text("-Infinity"));
    assert_null(json_number_text(""));
    assert_null(json_number_text(NULL));
    assert_null(json_number_text("12abc"));
}

static void test_postgres_text(void **state)
{
    (void)state;
    expect_text(json_number_text("0.15"), "0.15", 0.15);                 /* float8 */
    expect_text(json_number_text("0.00012690"), "0.0001269", 0.0001269); /* numeric(18,8) */
    expect_text(json_number_text("2.50000000"), "2.5", 2.5);
    expect_text(json_number_text("10.00000000"), "10.0", 10);
    expect_text(json_number_text("95"), "95.0", 95);
    expect_text(json_number_text("1e-05"), "1e-05", 1e-05);
    expect_text(json_number_text("-3.140"), "-3.14", -3.14);
}

static void test_text_survives_parse(void **state)
{
    (void)state;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "cost_usd", json_decimal(0.0001269, 8));
    json_object *back =
        json_tokener_parse(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    assert_non_null(back);
    assert_string_equal(json_object_to_json_string_ext(back, JSON_C_TO_STRING_PLAIN),
                        "{\"cost_usd\":0.0001269}");
    json_object_put(back);
    json_object_put(o);
}

static void test_decimal_fits(void **state)
{
    (void)state;
    assert_true(json_decimal_fits(0.0001, 4));
    assert_true(json_decimal_fits(12.5, 4));
    assert_true(json_decimal_fits(0.1 + 0.2, 4)); /* 0.30000000000000004: binary error */
    assert_true(json_decimal_fits(123456789.1234, 4));
    assert_true(json_decimal_fits(0.15, 6));
    assert_true(json_decimal_fits(7, 0));
    assert_false(json_decimal_fits(0.00004, 4)); /* stored as 0 */
    assert_false(json_decimal_fits(1.23456, 4));
    assert_false(json_decimal_fits(0.0000001, 6));
    assert_false(json_decimal_fits(NAN, 4));
    assert_false(json_decimal_fits(INFINITY, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal),       cmocka_unit_test(test_not_numbers),
        cmocka_unit_test(test_postgres_text), cmocka_unit_test(test_text_survives_parse),
        cmocka_unit_test(test_decimal_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
