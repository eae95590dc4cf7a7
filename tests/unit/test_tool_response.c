/* test_tool_response.c — an HTTP tool's 2xx body as its result (tool_response_result in
 * tools/http_tool.c): one strict JSON value is itself; anything else is text, or "not JSON"
 * when the tool has an output schema. json-c's lenient reader used to take NaN, trailing
 * commas and numbers like 01, 1. or 03E, and wrote the numbers back as it had read them:
 * no JSON for the model, the job's events or jsonb (fuzz_tool_response found it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "json_strict.h"
#include "tool_internal.h"

/* The result's compact text, or "(refused) <err>". */
static const char *result_of(const char *body, int need_json, char *buf, size_t cap)
{
    json_object *r = NULL;
    int repaired = 0;
    char err[256];
    if (tool_response_result(body, strlen(body), need_json, "erp", &r, &repaired, err,
                             sizeof err) != 0) {
        snprintf(buf, cap, "(refused) %s", err);
        return buf;
    }
    snprintf(buf, cap, "%s", json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
    json_object_put(r);
    return buf;
}

static void test_json_bodies(void **state)
{
    (void)state;
    char b[512];
    assert_string_equal(
        result_of("{\"debt\": 1250000.5, \"currency\": \"VND\"}\r\n", 0, b, sizeof b),
        "{\"debt\":1250000.5,\"currency\":\"VND\"}");
    assert_string_equal(result_of("[1, 2]", 1, b, sizeof b), "[1,2]");
    assert_string_equal(result_of("42", 1, b, sizeof b), "42");
    assert_string_equal(result_of("null", 1, b, sizeof b), "null");
    assert_string_equal(result_of("", 1, b, sizeof b), "{}");
    /* a single-quoted member name: json-c's strict mode takes it and writes JSON back
     * (json_strict.h) */
    assert_string_equal(result_of("{'a': 1}", 1, b, sizeof b), "{\"a\":1}");
    /* a \u0000 escape is JSON, but not text: it becomes U+FFFD */
    assert_string_equal(result_of("{\"a\": \"x\\u0000\"}", 0, b, sizeof b),
                        "{\"a\":\"x\xEF\xBF\xBD\"}");
}

static void test_bodies_that_are_not_json(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"a\": 01}",
        "{\"a\": 1.}",
        "[0, 03E]",
        "{\"account\": 123456789012345678901234}", /* json-c would clamp it: digits kept */
        "{\"a\": NaN}",
        "Infinity",
        "{\"a\": 1,}",
        "{\"a\": 1} {\"b\": 2}",
        "Service unavailable",
        "nul",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        char b[512], want[512], err[128];
        json_object *o = NULL;
        /* kept whole as text, and what is written is JSON */
        json_object *t = json_object_new_object();
        json_object_object_add(t, "text", json_object_new_string(bodies[i]));
        snprintf(want, sizeof want, "%s",
                 json_object_to_json_string_ext(t, JSON_C_TO_STRING_PLAIN));
        json_object_put(t);
        assert_string_equal(result_of(bodies[i], 0, b, sizeof b), want);
        assert_int_equal(json_strict_parse(b, strlen(b), 8, 0, &o, err, sizeof err), 0);
        json_object_put(o);
        /* with an output schema: refused, saying why */
        result_of(bodies[i], 1, b, sizeof b);
        assert_non_null(strstr(b, "(refused) tool erp: response is not JSON ("));
    }
}

static void test_bytes_that_are_not_text(void **state)
{
    (void)state;
    char b[512];
    json_object *r = NULL;
    int repaired = 0;
    char err[256];
    const char *latin1 = "{\"name\": \"C\xF4ng ty\"}";
    assert_int_equal(
        tool_response_result(latin1, strlen(latin1), 1, "erp", &r, &repaired, err, sizeof err), 0);
    assert_int_equal(repaired, 1);
    snprintf(b, sizeof b, "%s", json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
    assert_string_equal(b, "{\"name\":\"C\xEF\xBF\xBDng ty\"}");
    json_object_put(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_bodies),
        cmocka_unit_test(test_bodies_that_are_not_json),
        cmocka_unit_test(test_bytes_that_are_not_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
