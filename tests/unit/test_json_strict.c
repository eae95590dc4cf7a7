/* Unit tests for common/json_strict: what RFC 8259 JSON is, what json-c takes besides (NaN,
 * infinities, single-quoted strings, trailing commas, True, 01, trailing text) refused with a
 * reason, and where the problem is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "json_strict.h"

static json_object *accept_text(const char *text, unsigned flags)
{
    json_object *o = (json_object *)1;
    char err[192] = "";
    if (json_strict_parse(text, strlen(text), 16, flags, &o, err, sizeof err) != 0)
        fail_msg("refused %s: %s", text, err);
    return o;
}

static void refuse(const char *text, size_t len, unsigned flags, const char *why)
{
    json_object *o = (json_object *)1;
    char err[192] = "";
    if (json_strict_parse(text, len, 16, flags, &o, err, sizeof err) == 0)
        fail_msg("accepted %s", text);
    assert_null(o);
    if (!strstr(err, why))
        fail_msg("%s: error \"%s\" lacks \"%s\"", text, err, why);
}

static void test_accepts_json(void **state)
{
    (void)state;
    json_object *o = accept_text(" {\"a\":[1,-2.5e3,true,null,\"\\u00e9\"]}\r\n ", 0);
    assert_true(json_object_is_type(o, json_type_object));
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                        "{\"a\":[1,-2.5e3,true,null,\"é\"]}");
    json_object_put(o);
    o = accept_text("42", 0); /* a bare number ends at the end of the input */
    assert_int_equal(json_object_get_int(o), 42);
    json_object_put(o);
    o = accept_text("1e308", 0);
    assert_true(isfinite(json_object_get_double(o)));
    json_object_put(o);
    o = accept_text("[-0.5,0,1E+2,1e-2,-0]", 0); /* every form of a JSON number */
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                        "[-0.5,0,1E+2,1e-2,0]");
    json_object_put(o);
    assert_null(accept_text("null", 0)); /* success, and no object */
    o = accept_text("\"\xc3\x28\"", 0);  /* UTF-8 unchecked unless asked */
    json_object_put(o);
}

static void test_refuses_what_json_lacks(void **state)
{
    (void)state;
    refuse("{\"x\":NaN}", 9, 0, "NaN");
    refuse("[1,[2,{\"y\":-Infinity}]]", 23, 0, "infinity");
    refuse("Infinity", 8, 0, "infinity");
    refuse("{\"x\":1e999}", 11, 0, "beyond the range of a double");
    refuse("{\"x\":-1e400}", 12, 0, "beyond the range of a double");
    /* what json-c takes without its strict flag */
    refuse("{\"a\":'x'}", 9, 0, "at byte 5");
    refuse("{\"a\":1,}", 8, 0, "at byte 7");
    refuse("[1,]", 4, 0, "at byte 3");
    refuse("{\"a\":True}", 10, 0, "at byte 5");
    refuse("{\"a\":01}", 8, 0, "at byte");
    /* json-c's strict mode takes these and would write them back as they came */
    refuse("{\"a\":1.}", 8, 0, "not written as JSON writes numbers");
    refuse("[1.e5]", 6, 0, "not written as JSON writes numbers");
    refuse("2.", 2, 0, "not written as JSON writes numbers");
    /* integers beyond 64 bits: json-c clamps them to UINT64_MAX or INT64_MIN */
    refuse("{\"id\":100000000000000000000}", 28, 0, "integer at byte 6 is beyond 64 bits");
    refuse("[1,-9223372036854775809]", 24, 0, "integer at byte 3 is beyond 64 bits");
    refuse("[18446744073709551616]", 22, 0, "beyond 64 bits");
    refuse("{\"a\":1} x", 9, 0, "at byte");
    refuse("{} {}", 5, 0, "at byte");
    refuse("{\"a\":", 5, 0, "at byte");
    refuse("", 0, 0, "no JSON value");
    refuse("{}\0{}", 5, 0, "NUL byte at byte 2");
    refuse("\"\xc3\x28\"", 4, JSON_STRICT_UTF8, "at byte");
    /* nesting deeper than asked */
    refuse("[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]", 41, 0, "at byte");
}

static void test_input_not_terminated(void **state)
{
    (void)state;
    /* len bounds the text: what follows it in memory is not read */
    const char text[] = "{\"a\":1}  xyz";
    json_object *o = NULL;
    char err[64];
    assert_int_equal(json_strict_parse(text, 9, 16, 0, &o, err, sizeof err), 0);
    json_object_put(o);
    assert_int_equal(json_strict_parse(text, 10, 16, 0, &o, err, sizeof err), -1);
    assert_string_equal(err, "unexpected character at byte 9");
}

static void test_int_beyond(void **state)
{
    (void)state;
    /* the extremes fit; digits in strings, doubles and comments are not integers */
    json_object *o = accept_text("[18446744073709551615,-9223372036854775808,9223372036854775807,"
                                 "\"100000000000000000000\",1.00000000000000000000e5,"
                                 "-123456789012345678901234.5,1e30]",
                                 0);
    assert_int_equal(json_object_array_length(o), 7);
    json_object_put(o);
    static const struct {
        const char *text;
        long at;
    } cases[] = {
        {"[100000000000000000000]", 1},
        {"{\"a\\\"1\":-99999999999999999999}", 8}, /* an escaped quote inside the key */
        {"{'q':'99999999999999999999', 'n': 00000000000000000000007}", -1}, /* lenient */
        {"/* 99999999999999999999 */ [1] // 99999999999999999999", -1},
        {"[-Infinity, NaN, +1]", -1},
        {"[1e5, 2.5, 18446744073709551615, 18446744073709551616]", 33},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (json_strict_int_beyond(cases[i].text, strlen(cases[i].text)) != cases[i].at)
            fail_msg("%s: %ld, not %ld", cases[i].text,
                     json_strict_int_beyond(cases[i].text, strlen(cases[i].text)), cases[i].at);
}

static void test_finite(void **state)
{
    (void)state;
    json_object *o = json_object_new_array();
    json_object_array_add(o, json_object_new_double(1.5));
    assert_true(json_strict_finite(o));
    json_object *in = json_object_new_object();
    json_object_object_add(in, "n", json_object_new_double(NAN));
    json_object_array_add(o, in);
    assert_false(json_strict_finite(o));
    json_object_put(o);
    assert_true(json_strict_finite(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_json),
        cmocka_unit_test(test_refuses_what_json_lacks),
        cmocka_unit_test(test_input_not_terminated),
        cmocka_unit_test(test_int_beyond),
        cmocka_unit_test(test_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
