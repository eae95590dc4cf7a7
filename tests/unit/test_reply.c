/* test_reply.c — agents/reply.c: checking the model's tool calls and the fallbacks for final
 * answers that are empty, cut at the token limit, or tool calls with no rounds left. The
 * answers are the shapes llama.cpp serving SmolLM2-135M-Instruct really sends
 * (tests/fixtures/llm/llamacpp_*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../agents/reply.c"

/* get_customer_debt and create_analysis_report as compose/local/demo-seed.sql has them. */
static struct tool_def *seed_tools(size_t *n)
{
    static struct tool_def t[2];
    memset(t, 0, sizeof(t));
    t[0].name = "get_customer_debt";
    t[0].input_schema = json_tokener_parse(
        "{\"type\": \"object\", \"properties\": {\"mst\": {\"type\": \"string\", \"pattern\": "
        "\"^[0-9]{10}(-[0-9]{3})?$\"}}, \"required\": [\"mst\"], \"additionalProperties\": "
        "false}");
    t[1].name = "create_analysis_report";
    t[1].input_schema = json_tokener_parse(
        "{\"type\": \"object\", \"properties\": {\"metric\": {\"type\": \"string\", \"enum\": "
        "[\"revenue\", \"debt\"]}}, \"required\": [\"metric\"]}");
    *n = 2;
    return t;
}

static void free_tools(struct tool_def *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_object_put(t[i].input_schema);
}

static void test_valid_call(void **state)
{
    (void)state;
    size_t n;
    struct tool_def *t = seed_tools(&n);
    char msg[512];
    /* What SmolLM2 sent through chatml-function-calling (llamacpp_tool_calls.json). */
    assert_int_equal(
        reply_check_call(t, n, "get_customer_debt", "{\"mst\": \"1023456789\"}", msg, sizeof(msg)),
        REPLY_CALL_OK);
    assert_string_equal(msg, "");
    free_tools(t, n);
}

static void test_invalid_calls(void **state)
{
    (void)state;
    size_t n;
    struct tool_def *t = seed_tools(&n);
    char msg[512];
    assert_int_equal(reply_check_call(t, n, "", "{}", msg, sizeof(msg)), REPLY_CALL_NO_NAME);
    assert_int_equal(reply_check_call(t, n, NULL, "{}", msg, sizeof(msg)), REPLY_CALL_NO_NAME);
    assert_int_equal(reply_check_call(t, n, "get_weather", "{}", msg, sizeof(msg)),
                     REPLY_CALL_UNKNOWN_TOOL);
    assert_string_equal(msg, "there is no tool named get_weather");
    /* cut at the token limit, prose, an array */
    const char *bad[] = {"{\"mst\": \"01234", "the tax code is 0123456789", "[\"0123456789\"]"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(reply_check_call(t, n, "get_customer_debt", bad[i], msg, sizeof(msg)),
                         REPLY_CALL_BAD_JSON);
        assert_non_null(strstr(msg, "not a JSON object"));
    }
    /* numbers JSON has not (json-c reads them): back to the model, never to the tool */
    const char *nonfinite[] = {"{\"mst\": \"0123456789\", \"x\": NaN}",
                               "{\"mst\": \"0123456789\", \"x\": [-Infinity]}"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(
            reply_check_call(t, n, "get_customer_debt", nonfinite[i], msg, sizeof(msg)),
            REPLY_CALL_BAD_JSON);
        assert_non_null(strstr(msg, "NaN or an infinity"));
    }
    /* an integer json-c would clamp: back to the model, never to the tool changed */
    assert_int_equal(reply_check_call(t, n, "get_customer_debt",
                                      "{\"mst\": \"0123456789\", \"x\": 100000000000000000000}",
                                      msg, sizeof(msg)),
                     REPLY_CALL_BAD_JSON);
    assert_non_null(strstr(msg, "beyond 64 bits"));
    /* fails the schema: pattern, missing required, extra property, enum */
    assert_int_equal(
        reply_check_call(t, n, "get_customer_debt", "{\"mst\": \"MST 0123\"}", msg, sizeof(msg)),
        REPLY_CALL_SCHEMA);
    assert_non_null(strstr(msg, "tool get_customer_debt: invalid arguments: "));
    assert_non_null(strstr(msg, "mst"));
    assert_int_equal(reply_check_call(t, n, "get_customer_debt", "{}", msg, sizeof(msg)),
                     REPLY_CALL_SCHEMA);
    assert_int_equal(reply_check_call(t, n, "get_customer_debt",
                                      "{\"mst\": \"0123456789\", \"x\": 1}", msg, sizeof(msg)),
                     REPLY_CALL_SCHEMA);
    assert_int_equal(reply_check_call(t, n, "create_analysis_report", "{\"metric\": \"profit\"}",
                                      msg, sizeof(msg)),
                     REPLY_CALL_SCHEMA);
    /* no arguments at all: {} (fails required here, but is parsed) */
    assert_int_equal(reply_check_call(t, n, "create_analysis_report", "", msg, sizeof(msg)),
                     REPLY_CALL_SCHEMA);
    /* a long made-up name is cut in the message */
    char longname[300];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(reply_check_call(t, n, longname, "{}", msg, sizeof(msg)),
                     REPLY_CALL_UNKNOWN_TOOL);
    assert_true(strlen(msg) < 100);
    /* ... between characters: 30 x "ế" (3 bytes each) shows 21 of them, then "..." (the
     * message goes to the model as JSON: a character cut in two made the request invalid) */
    char vname[128] = "";
    for (int i = 0; i < 30; i++)
        strcat(vname, "\xE1\xBA\xBF");
    assert_int_equal(reply_check_call(t, n, vname, "{}", msg, sizeof(msg)),
                     REPLY_CALL_UNKNOWN_TOOL);
    assert_int_equal(utf8_is_clean(msg, strlen(msg)), 1);
    assert_int_equal(strlen(msg), strlen("there is no tool named ") + 21 * 3 + 3);
    /* a message cut by a small buffer ends between characters too */
    char small[30];
    assert_int_equal(reply_check_call(t, n, vname, "{}", small, sizeof(small)),
                     REPLY_CALL_UNKNOWN_TOOL);
    assert_int_equal(utf8_is_clean(small, strlen(small)), 1);
    assert_string_equal(small, "there is no tool named \xE1\xBA\xBF\xE1\xBA\xBF");
    free_tools(t, n);
}

static void test_invalid_result(void **state)
{
    (void)state;
    size_t n;
    struct tool_def *t = seed_tools(&n);
    char *r = reply_invalid_result(t, n, "there is no tool named get_weather");
    json_object *o = json_tokener_parse(r);
    assert_non_null(o);
    assert_string_equal(json_object_get_string(json_object_object_get(o, "status")),
                        "invalid_call");
    assert_string_equal(json_object_get_string(json_object_object_get(o, "error")),
                        "there is no tool named get_weather");
    json_object *names = json_object_object_get(o, "available_tools");
    assert_int_equal(json_object_array_length(names), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(names, 0)),
                        "get_customer_debt");
    json_object_put(o);
    free(r);
    free_tools(t, n);
}

static void test_classify_and_text(void **state)
{
    (void)state;
    struct llm_response r;
    memset(&r, 0, sizeof(r));
    /* llamacpp_stream_length.sse: 24 tokens, finish_reason "length" */
    r.content = "Customer MST 0123456789 is the owner of";
    r.finish_reason = "length";
    assert_int_equal(reply_classify(&r), REPLY_TRUNCATED);
    char *s = reply_text(REPLY_TRUNCATED, r.content, "en");
    assert_string_equal(s, "Customer MST 0123456789 is the owner of\n\n(This answer was cut off "
                           "at the model's length limit.)");
    free(s);
    s = reply_text(REPLY_TRUNCATED, r.content, "vi");
    assert_non_null(strstr(s, "bị cắt ngắn"));
    free(s);
    assert_string_equal(reply_fallback_name(REPLY_TRUNCATED), "truncated");

    r.finish_reason = "stop";
    assert_int_equal(reply_classify(&r), REPLY_ANSWER);
    s = reply_text(REPLY_ANSWER, r.content, "en");
    assert_string_equal(s, r.content);
    free(s);

    /* empty, blank, or cut before any text */
    const char *empties[] = {NULL, "", " \n\t "};
    for (size_t i = 0; i < 3; i++) {
        r.content = (char *)empties[i];
        r.finish_reason = i == 2 ? "length" : "stop";
        assert_int_equal(reply_classify(&r), REPLY_EMPTY);
    }
    s = reply_text(REPLY_EMPTY, NULL, "en");
    assert_string_equal(s, "Sorry, the assistant gave an empty answer. Please try again or "
                           "rephrase your question.");
    free(s);
    s = reply_text(REPLY_EMPTY, NULL, "vi");
    assert_non_null(strstr(s, "Xin lỗi"));
    free(s);
    assert_string_equal(reply_fallback_name(REPLY_EMPTY), "empty_answer");
    assert_int_equal(reply_classify(NULL), REPLY_EMPTY);

    /* tool calls that can no longer run: with text, the text; without, the fallback */
    struct llm_tool_call c = {.id = "call_0", .name = "get_customer_debt", .arguments = "{}"};
    r.tool_calls = &c;
    r.ntool_calls = 1;
    r.content = NULL;
    r.finish_reason = "tool_calls";
    assert_int_equal(reply_classify(&r), REPLY_TOOLS_EXHAUSTED);
    s = reply_text(REPLY_TOOLS_EXHAUSTED, NULL, "en");
    assert_non_null(strstr(s, "kept asking for tools"));
    free(s);
    assert_string_equal(reply_fallback_name(REPLY_TOOLS_EXHAUSTED), "tool_rounds_exhausted");
    r.content = "Let me look that up.";
    assert_int_equal(reply_classify(&r), REPLY_ANSWER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_call),
        cmocka_unit_test(test_invalid_calls),
        cmocka_unit_test(test_invalid_result),
        cmocka_unit_test(test_classify_and_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
