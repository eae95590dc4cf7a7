/* test_format.c — agents/format.c: text, markdown, json and table output formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../agents/format.c"

static void test_markdown_is_verbatim(void **state)
{
    (void)state;
    char *r = format_output("markdown", "**Debt**: 15,432.50", NULL);
    assert_string_equal(r, "**Debt**: 15,432.50");
    free(r);
    r = format_output(NULL, "x", NULL);
    assert_string_equal(r, "x");
    free(r);
    r = format_output("weird", NULL, NULL);
    assert_string_equal(r, "");
    free(r);
}

static void test_text_strips_markdown(void **state)
{
    (void)state;
    char *r = format_output("text", "# Title\n**Debt** is `15`\n```\ncode\n```\ndone", NULL);
    assert_string_equal(r, "Title\nDebt is 15\ncode\ndone");
    free(r);
    r = format_output("text", "", NULL);
    assert_string_equal(r, "");
    free(r);
    /* a heading marker at the very end (found by fuzz_format) */
    r = format_output("text", "#", NULL);
    assert_string_equal(r, "");
    free(r);
    r = format_output("text", "a\n## ", NULL);
    assert_string_equal(r, "a\n");
    free(r);
}

static void test_json_wraps_answer_and_data(void **state)
{
    (void)state;
    json_object *d = json_tokener_parse("{\"mst\":\"0123456789\",\"total_debt\":15432.5}");
    char *r = format_output("json", "He owes \"a lot\"", d);
    json_object *o = json_tokener_parse(r);
    assert_non_null(o);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "answer", &v));
    assert_string_equal(json_object_get_string(v), "He owes \"a lot\"");
    assert_true(json_object_object_get_ex(o, "data", &v));
    assert_true(json_object_object_get_ex(v, "total_debt", &v));
    json_object_put(o);
    free(r);
    r = format_output("json", "none", NULL);
    assert_string_equal(r, "{\"answer\":\"none\",\"data\":null}");
    free(r);
    json_object_put(d);
}

static void test_table_of_object_and_rows(void **state)
{
    (void)state;
    json_object *d = json_tokener_parse("{\"mst\":\"0123456789\",\"note\":\"a|b\\nc\"}");
    char *r = format_output("table", "Summary", d);
    assert_non_null(strstr(r, "Summary\n\n| Field | Value |\n|---|---|\n"));
    assert_non_null(strstr(r, "| mst | 0123456789 |\n"));
    assert_non_null(strstr(r, "| note | a\\|b c |\n"));
    free(r);
    json_object_put(d);
    d = json_tokener_parse("[{\"id\":1,\"st\":\"ok\"},{\"id\":2},5]");
    r = format_output("table", "Rows", d);
    assert_non_null(strstr(r, "| id | st |\n|---|---|\n| 1 | ok |\n| 2 |  |\n|  |  |\n"));
    free(r);
    json_object_put(d);
    /* No data: just the answer. */
    r = format_output("table", "Only text", NULL);
    assert_string_equal(r, "Only text");
    free(r);
}

static void test_instructions(void **state)
{
    (void)state;
    assert_non_null(strstr(format_instructions("text"), "plain text"));
    assert_non_null(strstr(format_instructions("markdown"), "Markdown"));
    assert_non_null(strstr(format_instructions(NULL), "Markdown"));
    assert_non_null(strstr(format_instructions("json"), "JSON"));
    assert_non_null(strstr(format_instructions("table"), "table"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_markdown_is_verbatim),
        cmocka_unit_test(test_text_strips_markdown),
        cmocka_unit_test(test_json_wraps_answer_and_data),
        cmocka_unit_test(test_table_of_object_and_rows),
        cmocka_unit_test(test_instructions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
