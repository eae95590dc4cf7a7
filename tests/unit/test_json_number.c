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

static void test_number_form(void **state)
{
    (void)state;
    static const char *json[] = {"0", "-0", "1", "10", "0.5", "-1.25", "1e5", "1E+05", "2.5e-3"};
    static const char *not_json[] = {"1.", "1.e5", "-0.",  "03", "-03", ".5",   "+1",
                                     "1e", "1e+",  "0x10", "",   "-",   "1.5.", "NaN"};
    for (size_t i = 0; i < sizeof json / sizeof *json; i++)
        assert_true(json_number_form_ok(json[i]));
    for (size_t i = 0; i < sizeof not_json / sizeof *not_json; i++)
        assert_false(json_number_form_ok(not_json[i]));
}

/* json-c reads these, keeps the text and writes it back: each is given JSON's text instead. */
static void test_fix_text(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"[1.]", "[1.0]"},
        {"[1.e5]", "[100000.0]"},
        {"[-0.]", "[-0.0]"},
        {"[03E]", "[3.0]"},
        {"[2.E-3]", "[0.002]"},
        {"[1.E300]", "[1e+300]"},
        {"[0.1]", "[0.1]"},
        {"[1.5e3]", "[1.5e3]"}, /* JSON already: as written */
        {"[123456789.]", "[123456789.0]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_object *a = json_tokener_parse(cases[i].in);
        assert_non_null(a);
        json_object *v = json_object_array_get_idx(a, 0);
        double before = json_object_get_double(v);
        assert_int_equal(json_number_fix_text(v), strcmp(cases[i].in, cases[i].out) != 0);
        assert_string_equal(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
                            cases[i].out);
        assert_true(json_object_get_double(v) == before); /* the value is kept */
        json_object *back = json_tokener_parse(cases[i].out);
        assert_true(json_object_get_double(json_object_array_get_idx(back, 0)) == before);
        json_object_put(back);
        assert_int_equal(json_number_fix_text(v), 0); /* once is enough */
        json_object_put(a);
    }
    json_object *i = json_object_new_int(3), *s = json_object_new_string("1.");
    assert_int_equal(json_number_fix_text(i), 0); /* integers are written from their value */
    assert_int_equal(json_number_fix_text(s), 0);
    assert_int_equal(json_number_fix_text(NULL), 0);
    json_object_put(i);
    json_object_put(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal),       cmocka_unit_test(test_not_numbers),
        cmocka_unit_test(test_postgres_text), cmocka_unit_test(test_text_survives_parse),
        cmocka_unit_test(test_decimal_fits),  cmocka_unit_test(test_number_form),
        cmocka_unit_test(test_fix_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
