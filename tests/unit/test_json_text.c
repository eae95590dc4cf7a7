/* Unit tests for common/json_text: every string and key of a JSON tree made valid text,
 * every NaN or infinity made null. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "json_text.h"

#define FFFD "\xEF\xBF\xBD"

static void test_tree_is_repaired(void **state)
{
    (void)state;
    /* a Latin-1 ERP answer and a \u0000 escape, nested in objects and arrays */
    const char *in = "{\"name\":\"Nguy\xEAn\",\"items\":[\"ok\",{\"note\":\"a\\u0000b\"}],"
                     "\"n\":5,\"caf\xE9\":true}";
    json_object *o = json_tokener_parse(in);
    assert_non_null(o);
    assert_int_equal(json_text_repair(o), 3);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "name", &v));
    assert_string_equal(json_object_get_string(v), "Nguy" FFFD "n");
    json_object *items;
    assert_true(json_object_object_get_ex(o, "items", &items));
    json_object *note;
    assert_true(json_object_object_get_ex(json_object_array_get_idx(items, 1), "note", &note));
    assert_int_equal(json_object_get_string_len(note), 5);
    assert_memory_equal(json_object_get_string(note), "a" FFFD "b", 5);
    assert_true(json_object_object_get_ex(o, "caf" FFFD, &v)); /* the key, repaired */
    assert_true(json_object_get_boolean(v));
    assert_false(json_object_object_get_ex(o, "caf\xE9", &v));
    assert_true(json_object_object_get_ex(o, "n", &v));
    assert_int_equal(json_object_get_int(v), 5);
    /* clean now: a second pass changes nothing, and the text has no \u0000 */
    long n = -1;
    const char *text = json_text_clean_string(o, &n);
    assert_int_equal(n, 0);
    assert_null(strstr(text, "\\u0000"));
    json_object_put(o);
}

static void test_numbers_json_lacks_become_null(void **state)
{
    (void)state;
    /* a tool's answer or a model's arguments, as json-c reads them */
    json_object *o =
        json_tokener_parse("{\"score\":NaN,\"r\":[1.5,-Infinity,{\"big\":1e999}],\"k\":2.5}");
    assert_non_null(o);
    assert_int_equal(json_text_repair(o), 3);
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                        "{\"score\":null,\"r\":[1.5,null,{\"big\":null}],\"k\":2.5}");
    assert_int_equal(json_text_repair(o), 0);
    json_object_put(o);
}

static void test_numbers_get_json_text(void **state)
{
    (void)state;
    /* a model's tool arguments: json-c keeps "1." and "1.e5" as written */
    const char *in = "{\"amount\":1.,\"list\":[1.e5,{\"x\":-0.}],\"ok\":2.5,\"bad\":\"\xFF\"}";
    json_object *o = json_tokener_parse(in);
    assert_non_null(o);
    assert_int_equal(json_text_repair_numbers(o), 3); /* numbers alone: the string is kept */
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                        "{\"amount\":1.0,\"list\":[100000.0,{\"x\":-0.0}],\"ok\":2.5,"
                        "\"bad\":\"\xFF\"}");
    assert_int_equal(json_text_repair(o), 1); /* now the string */
    json_object_put(o);
    o = json_tokener_parse(in);
    assert_int_equal(json_text_repair(o), 4);
    assert_int_equal(json_text_repair(o), 0);
    json_object_put(o);
    o = json_tokener_parse("[NaN,1.]");
    assert_int_equal(json_text_repair_numbers(o), 1); /* NaN is json_text_repair's to null */
    assert_true(isnan(json_object_get_double(json_object_array_get_idx(o, 0))));
    json_object_put(o);
}

static void test_clean_tree_untouched(void **state)
{
    (void)state;
    json_object *o =
        json_tokener_parse("{\"q\":\"Chính sách hoàn tiền mất bao lâu?\",\"a\":[1,2]}");
    assert_int_equal(json_text_repair(o), 0);
    assert_int_equal(json_text_repair(NULL), 0);
    json_object_put(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_is_repaired),
        cmocka_unit_test(test_numbers_json_lacks_become_null),
        cmocka_unit_test(test_numbers_get_json_text),
        cmocka_unit_test(test_clean_tree_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
