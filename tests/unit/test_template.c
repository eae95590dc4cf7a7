/* test_template.c — URL and body templates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "template.h"

static char err[256];

static char *url(const char *tmpl, const char *args_json)
{
    json_object *a = json_tokener_parse(args_json);
    char *out = NULL;
    int rc = template_expand_url(tmpl, a, NULL, &out, err, sizeof err);
    json_object_put(a);
    return rc == 0 ? out : NULL;
}

static void test_url_basic(void **state)
{
    (void)state;
    char *u = url("https://erp/api/debt/{mst}", "{\"mst\":\"0123456789\"}");
    assert_string_equal(u, "https://erp/api/debt/0123456789");
    free(u);
    u = url("http://h/a/{n}/{ok}?x={f}", "{\"n\":42,\"ok\":true,\"f\":1.5}");
    assert_string_equal(u, "http://h/a/42/true?x=1.5");
    free(u);
    /* no placeholders, JSON-looking braces stay literal */
    u = url("http://h/{ }/{a b}/{}", "{}");
    assert_string_equal(u, "http://h/{ }/{a b}/{}");
    free(u);
}

static void test_url_encoding(void **state)
{
    (void)state;
    char *u = url("http://h/api/debt/{mst}", "{\"mst\":\"../../admin\"}");
    assert_string_equal(u, "http://h/api/debt/..%2F..%2Fadmin");
    free(u);
    u = url("http://h/s/{q}", "{\"q\":\"a b&c=d?e#f\"}");
    assert_string_equal(u, "http://h/s/a%20b%26c%3Dd%3Fe%23f");
    free(u);
    /* UTF-8 bytes percent-encoded: "Việt" */
    u = url("http://h/s/{q}", "{\"q\":\"Vi\xe1\xbb\x87t\"}");
    assert_string_equal(u, "http://h/s/Vi%E1%BB%87t");
    free(u);
    u = url("http://h/s/{q}", "{\"q\":\"a-b_c.d~e\"}");
    assert_string_equal(u, "http://h/s/a-b_c.d~e");
    free(u);
}

static void test_url_refusals(void **state)
{
    (void)state;
    assert_null(url("http://h/{mst}", "{}"));
    assert_string_equal(err, "missing parameter \"mst\"");
    assert_null(url("http://h/{x}", "{\"x\":\"..\"}"));
    assert_non_null(strstr(err, "\"x\""));
    assert_null(url("http://h/{x}", "{\"x\":\".\"}"));
    assert_null(url("http://h/{x}", "{\"x\":{\"a\":1}}"));
    assert_null(url("http://h/{x}", "{\"x\":[1]}"));
    assert_null(url("http://h/{x}", "{\"x\":null}"));
    assert_null(url("http://h/{x}", "null"));
    /* "..." is a fine value */
    char *u = url("http://h/{x}", "{\"x\":\"...\"}");
    assert_string_equal(u, "http://h/...");
    free(u);
}

static void test_url_used(void **state)
{
    (void)state;
    json_object *a = json_tokener_parse("{\"a\":\"1\",\"b\":\"2\",\"c\":3}");
    json_object *used = json_object_new_object();
    char *out = NULL;
    assert_int_equal(template_expand_url("http://h/{a}/{c}", a, used, &out, err, sizeof err), 0);
    assert_true(json_object_object_get_ex(used, "a", NULL));
    assert_true(json_object_object_get_ex(used, "c", NULL));
    assert_false(json_object_object_get_ex(used, "b", NULL));
    free(out);
    json_object_put(used);
    json_object_put(a);
}

static char *body(const char *tmpl_json, const char *args_json)
{
    json_object *t = json_tokener_parse(tmpl_json);
    json_object *a = json_tokener_parse(args_json);
    json_object *out = NULL;
    char *s = NULL;
    if (template_expand_body(t, a, &out, err, sizeof err) == 0)
        s = strdup(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
    json_object_put(out);
    json_object_put(t);
    json_object_put(a);
    return s;
}

static void test_body_value_mode(void **state)
{
    (void)state;
    char *b = body("{\"metric\":\"{metric}\",\"period\":\"{period}\",\"n\":\"{n}\","
                   "\"label\":\"m={metric} p={period}\",\"fixed\":[1,\"{n}\"],\"o\":\"{o}\"}",
                   "{\"metric\":\"revenue\",\"period\":\"2024-Q1\",\"n\":5,\"o\":{\"k\":[1]}}");
    assert_string_equal(b, "{\"metric\":\"revenue\",\"period\":\"2024-Q1\",\"n\":5,"
                           "\"label\":\"m=revenue p=2024-Q1\",\"fixed\":[1,5],"
                           "\"o\":{\"k\":[1]}}");
    free(b);
    /* quotes and backslashes in values stay inside the string */
    b = body("{\"q\":\"x {v}\"}", "{\"v\":\"a\\\"b\\\\c\"}");
    assert_string_equal(b, "{\"q\":\"x a\\\"b\\\\c\"}");
    free(b);
    assert_null(body("{\"q\":\"{missing}\"}", "{}"));
    assert_non_null(strstr(err, "missing"));
}

static void test_body_text_mode(void **state)
{
    (void)state;
    /* the template is a JSON string holding JSON text */
    char *b = body("\"{\\\"mst\\\":\\\"{mst}\\\",\\\"amount\\\":{amount}}\"",
                   "{\"mst\":\"01\\\"23\\n\",\"amount\":12.5}");
    assert_string_equal(b, "{\"mst\":\"01\\\"23\\n\",\"amount\":12.5}");
    free(b);
    /* an injection attempt cannot add keys: the quote is escaped */
    b = body("\"{\\\"mst\\\":\\\"{mst}\\\"}\"", "{\"mst\":\"x\\\",\\\"admin\\\":\\\"true\"}");
    assert_non_null(b);
    json_object *o = json_tokener_parse(b);
    assert_int_equal(json_object_object_length(o), 1);
    json_object_put(o);
    free(b);
    /* text that is not JSON after expansion */
    assert_null(body("\"{\\\"a\\\":{v}\"", "{\"v\":1}"));
    assert_non_null(strstr(err, "JSON"));
}

/* issue 17: a value from the model never changes the structure of the body */
static void test_body_structure_smuggling(void **state)
{
    (void)state;
    /* a bare placeholder in a text template is a JSON value: the string stays one string */
    char *b =
        body("\"{\\\"a\\\":{v},\\\"n\\\":1}\"", "{\"v\":\"1,\\\"admin\\\":true,\\\"x\\\":2\"}");
    assert_non_null(b);
    assert_string_equal(b, "{\"a\":\"1,\\\"admin\\\":true,\\\"x\\\":2\",\"n\":1}");
    free(b);
    /* a string that looks like JSON stays a string (no array, no true) */
    b = body("\"{\\\"a\\\":{v}}\"", "{\"v\":\"[1,2]\"}");
    assert_string_equal(b, "{\"a\":\"[1,2]\"}");
    free(b);
    b = body("\"{\\\"a\\\":{v}}\"", "{\"v\":\"true\"}");
    assert_string_equal(b, "{\"a\":\"true\"}");
    free(b);
    /* numbers keep their type */
    b = body("\"{\\\"a\\\":{v}}\"", "{\"v\":7}");
    assert_string_equal(b, "{\"a\":7}");
    free(b);
    /* the classic break-out inside quotes stays inside */
    b = body("\"{\\\"a\\\":\\\"{v}\\\"}\"", "{\"v\":\"\\\",\\\"admin\\\":true,\\\"x\\\":\\\"\"}");
    assert_string_equal(b, "{\"a\":\"\\\",\\\"admin\\\":true,\\\"x\\\":\\\"\"}");
    free(b);
    /* a template may not carry the marker characters itself */
    assert_null(body("\"{\\\"a\\\":\\\"\\\\u0001x\\\"}\"", "{}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_basic),
        cmocka_unit_test(test_url_encoding),
        cmocka_unit_test(test_url_refusals),
        cmocka_unit_test(test_url_used),
        cmocka_unit_test(test_body_value_mode),
        cmocka_unit_test(test_body_text_mode),
        cmocka_unit_test(test_body_structure_smuggling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
