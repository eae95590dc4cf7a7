/* Unit tests for llm/ parsing and request building, on the fixtures in tests/fixtures/llm:
 * the SSE parser split at every byte, each provider's stream and whole-body parsers, error
 * classification, finish-reason normalization, the request bodies, the local embedder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    const char *root = getenv("AGENTHUB_ROOT");
    snprintf(path, sizeof(path), "%s/tests/fixtures/llm/%s", root ? root : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (run from the repository root)\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    size_t r = fread(p, 1, (size_t)n, f);
    fclose(f);
    p[r] = '\0';
    if (len)
        *len = r;
    return p;
}

/* ---- SSE parser ---------------------------------------------------------------------------- */

struct seen {
    char log[8192];
    int n;
};

static int record(void *ud, const char *event, const char *data, size_t len)
{
    struct seen *s = ud;
    size_t l = strlen(s->log);
    snprintf(s->log + l, sizeof(s->log) - l, "[%s|%.*s]", event, (int)len, data);
    s->n++;
    return 0;
}

static void feed_split(const char *text, size_t len, size_t cut1, size_t cut2, struct seen *out)
{
    struct llm_sse p;
    memset(out, 0, sizeof(*out));
    llm_sse_init(&p, record, out);
    assert_int_equal(llm_sse_feed(&p, text, cut1), 0);
    assert_int_equal(llm_sse_feed(&p, text + cut1, cut2 - cut1), 0);
    assert_int_equal(llm_sse_feed(&p, text + cut2, len - cut2), 0);
    assert_int_equal(llm_sse_finish(&p), 0);
    llm_sse_cleanup(&p);
}

static void test_sse_rules(void **state)
{
    const char *text = ": comment\n"
                       "event: message_start\n"
                       "data: {\"a\":1}\n"
                       "\n"
                       "data:no-space\r\n"
                       "data: second line\r\n"
                       "\r\n"
                       "id: 7\n"
                       "retry: 100\n"
                       "data: [DONE]\r"
                       "\r"
                       "event: lonely\n"
                       "\n"
                       "data: tail-without-blank-line";
    size_t len = strlen(text);
    const char *want = "[message_start|{\"a\":1}][message|no-space\nsecond line][message|[DONE]]"
                       "[message|tail-without-blank-line]";
    struct seen whole;
    feed_split(text, len, 0, 0, &whole);
    assert_string_equal(whole.log, want);
    /* Every pair of split points gives the same events (CRLF split included). */
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b += 3) {
            struct seen s;
            feed_split(text, len, a, b, &s);
            assert_string_equal(s.log, want);
        }
    }
}

static int stop_at_second(void *ud, const char *event, const char *data, size_t len)
{
    int *n = ud;
    return ++*n == 2 ? LLM_ERR_AUTH : 0;
}

static void test_sse_callback_stops(void **state)
{
    int n = 0;
    struct llm_sse p;
    llm_sse_init(&p, stop_at_second, &n);
    const char *t = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    assert_int_equal(llm_sse_feed(&p, t, strlen(t)), LLM_ERR_AUTH);
    assert_int_equal(n, 2);
    llm_sse_cleanup(&p);
}

static void test_sse_cap(void **state)
{
    struct seen s = {0};
    struct llm_sse p;
    llm_sse_init(&p, record, &s);
    size_t big = LLM_BODY_LIMIT / 4;
    char *chunk = malloc(big);
    memset(chunk, 'x', big);
    memcpy(chunk, "data: ", 6);
    int rc = 0;
    for (int i = 0; i < 6 && rc == 0; i++)
        rc = llm_sse_feed(&p, chunk, big);
    assert_int_equal(rc, LLM_ERR_BAD_RESPONSE);
    free(chunk);
    llm_sse_cleanup(&p);
}

/* ---- streams --------------------------------------------------------------------------------- */

struct deltas {
    char text[4096];
    int n;
};

static void on_delta(void *opaque, const char *t, size_t len)
{
    struct deltas *d = opaque;
    size_t l = strlen(d->text);
    snprintf(d->text + l, sizeof(d->text) - l, "%.*s", (int)len, t);
    d->n++;
}

struct run {
    const struct llm_provider_ops *ops;
    struct llm_acc acc;
    int rc;
};

static int ev(void *ud, const char *event, const char *data, size_t len)
{
    struct run *r = ud;
    int rc = r->ops->event(&r->acc, event, data, len);
    return rc ? rc : r->acc.stream_error;
}

/* Parses a fixture stream delivered in pieces of `step` bytes. */
static int run_stream(const struct llm_provider_ops *ops, const char *fixture, size_t step,
                      struct llm_response *resp, struct deltas *d)
{
    size_t len;
    char *text = slurp(fixture, &len);
    assert_non_null(text);
    struct run r = {.ops = ops};
    memset(d, 0, sizeof(*d));
    llm_acc_init(&r.acc, on_delta, d);
    struct llm_sse p;
    llm_sse_init(&p, ev, &r);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += step)
        rc = llm_sse_feed(&p, text + off, off + step <= len ? step : len - off);
    if (rc == 0)
        rc = llm_sse_finish(&p);
    if (rc == 0 && !r.acc.done)
        rc = LLM_ERR_BAD_RESPONSE;
    if (rc == 0)
        rc = llm_acc_finish(&r.acc, resp);
    llm_sse_cleanup(&p);
    llm_acc_cleanup(&r.acc);
    free(text);
    return rc;
}

static void test_openai_stream_text(void **state)
{
    for (size_t step = 1; step < 400; step += 37) {
        struct llm_response r;
        struct deltas d;
        assert_int_equal(run_stream(&llm_openai_ops, "openai_stream_text.sse", step, &r, &d), 0);
        assert_string_equal(r.content, "Hello! Xin chào — bạn khỏe không?");
        assert_string_equal(d.text, r.content); /* deltas, in order, join to the answer */
        assert_int_equal(d.n, 3);
        assert_string_equal(r.finish_reason, "stop");
        assert_int_equal(r.input_tokens, 9);
        assert_int_equal(r.output_tokens, 12);
        assert_string_equal(r.model, "gpt-4o-mini");
        assert_int_equal(r.ntool_calls, 0);
        llm_response_cleanup(&r);
    }
}

/* What a provider sends is made valid text: a character split between two deltas is held
 * back and sent whole (no delta ever splits it), a stream that ends inside a character and
 * bytes that are not UTF-8 (Latin-1) become U+FFFD, counted in resp.repaired. */
static void test_stream_text_repaired(void **state)
{
    (void)state;
    static const char *const events[] = {
        "{\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Ho\xC3\"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\xA0n caf\xE9 \"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ti\xE1\xBB\"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}",
        "[DONE]",
    };
    struct deltas d;
    memset(&d, 0, sizeof d);
    struct run r = {.ops = &llm_openai_ops};
    llm_acc_init(&r.acc, on_delta, &d);
    for (size_t i = 0; i < sizeof events / sizeof *events; i++)
        assert_int_equal(ev(&r, "", events[i], strlen(events[i])), 0);
    assert_string_equal(d.text, "Ho\xC3\xA0n caf\xEF\xBF\xBD ti"); /* the cut tail not yet sent */
    struct llm_response resp;
    assert_int_equal(llm_acc_finish(&r.acc, &resp), 0);
    assert_string_equal(resp.content, "Ho\xC3\xA0n caf\xEF\xBF\xBD ti\xEF\xBF\xBD");
    assert_string_equal(d.text, resp.content); /* the tail's U+FFFD was handed on as a delta */
    assert_int_equal(resp.repaired, 2);
    llm_response_cleanup(&resp);
    llm_acc_cleanup(&r.acc);

    /* a whole body in Latin-1, with a control character */
    const char *body = "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                       "\"content\":\"Ch\xEDnh s\xE1"
                       "ch\\u001b\"},\"finish_reason\":\"stop\"}]}";
    struct llm_acc a;
    llm_acc_init(&a, NULL, NULL);
    json_object *root = llm_json_parse(body, strlen(body));
    assert_non_null(root);
    assert_int_equal(llm_openai_ops.parse(&a, root), 0);
    assert_int_equal(llm_acc_finish(&a, &resp), 0);
    assert_string_equal(resp.content, "Ch\xEF\xBF\xBDnh s\xEF\xBF\xBD"
                                      "ch\xEF\xBF\xBD");
    assert_int_equal(resp.repaired, 3);
    llm_response_cleanup(&resp);
    llm_acc_cleanup(&a);
    json_object_put(root);
}

static void test_openai_stream_parallel_tools(void **state)
{
    for (size_t step = 1; step < 300; step += 29) {
        struct llm_response r;
        struct deltas d;
        assert_int_equal(run_stream(&llm_openai_ops, "openai_stream_tools.sse", step, &r, &d), 0);
        assert_null(r.content);
        assert_int_equal(r.ntool_calls, 2);
        assert_string_equal(r.tool_calls[0].id, "call_DdmO9pD3xa9XTPNJ32zg2hcA");
        assert_string_equal(r.tool_calls[0].name, "get_current_weather");
        assert_string_equal(r.tool_calls[0].arguments, "{\"location\": \"Boston, MA\"}");
        assert_string_equal(r.tool_calls[1].id, "call_ABC");
        assert_string_equal(r.tool_calls[1].name, "get_time");
        assert_string_equal(r.tool_calls[1].arguments, "{\"tz\": \"Asia/Ho_Chi_Minh\"}");
        assert_string_equal(r.finish_reason, "tool_calls");
        assert_int_equal(r.input_tokens, 120);
        assert_int_equal(r.output_tokens, 40);
        llm_response_cleanup(&r);
    }
}

static void test_openai_reused_index(void **state)
{
    /* Ollama-style: both calls of a parallel batch at index 0, told apart by their ids. */
    const char *ev1 = "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
                      "\"id\":\"call_a\",\"function\":{\"name\":\"f\",\"arguments\":"
                      "\"{\\\"x\\\":1}\"}}]}}]}";
    const char *ev2 = "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
                      "\"id\":\"call_b\",\"function\":{\"name\":\"g\",\"arguments\":"
                      "\"{\\\"y\\\":2}\"}}]},\"finish_reason\":\"tool_calls\"}]}";
    struct llm_acc a;
    struct llm_response r;
    llm_acc_init(&a, NULL, NULL);
    assert_int_equal(llm_openai_ops.event(&a, "message", ev1, strlen(ev1)), 0);
    assert_int_equal(llm_openai_ops.event(&a, "message", ev2, strlen(ev2)), 0);
    assert_int_equal(llm_openai_ops.event(&a, "message", "[DONE]", 6), 0);
    assert_int_equal(llm_acc_finish(&a, &r), 0);
    assert_int_equal(r.ntool_calls, 2);
    assert_string_equal(r.tool_calls[0].id, "call_a");
    assert_string_equal(r.tool_calls[0].arguments, "{\"x\":1}");
    assert_string_equal(r.tool_calls[1].name, "g");
    assert_string_equal(r.tool_calls[1].arguments, "{\"y\":2}");
    llm_response_cleanup(&r);
    llm_acc_cleanup(&a);
}

static void test_anthropic_stream_text(void **state)
{
    for (size_t step = 1; step < 300; step += 41) {
        struct llm_response r;
        struct deltas d;
        assert_int_equal(run_stream(&llm_anthropic_ops, "anthropic_stream_text.sse", step, &r, &d),
                         0);
        assert_string_equal(r.content, "Hello!");
        assert_string_equal(d.text, "Hello!");
        assert_string_equal(r.finish_reason, "stop");
        assert_int_equal(r.input_tokens, 25);
        assert_int_equal(r.output_tokens, 15);
        assert_string_equal(r.model, "claude-opus-4-20250514");
        llm_response_cleanup(&r);
    }
}

static void test_anthropic_stream_tools(void **state)
{
    for (size_t step = 1; step < 300; step += 23) {
        struct llm_response r;
        struct deltas d;
        assert_int_equal(run_stream(&llm_anthropic_ops, "anthropic_stream_tools.sse", step, &r, &d),
                         0);
        assert_string_equal(r.content, "Okay, let's check the weather for San Francisco, CA:");
        assert_string_equal(d.text, r.content);
        assert_int_equal(r.ntool_calls, 1);
        assert_string_equal(r.tool_calls[0].id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
        assert_string_equal(r.tool_calls[0].name, "get_weather");
        assert_string_equal(r.tool_calls[0].arguments,
                            "{\"location\": \"San Francisco, CA\", \"unit\": \"fahrenheit\"}");
        assert_string_equal(r.finish_reason, "tool_calls");
        assert_int_equal(r.input_tokens, 472);
        assert_int_equal(r.output_tokens, 89);
        llm_response_cleanup(&r);
    }
}

static void test_anthropic_stream_error_event(void **state)
{
    struct llm_response r;
    struct deltas d;
    /* overloaded_error -> 529 -> unavailable (retryable) */
    assert_int_equal(run_stream(&llm_anthropic_ops, "anthropic_stream_error.sse", 7, &r, &d),
                     LLM_ERR_UNAVAILABLE);
}

static void test_gemini_stream_crlf(void **state)
{
    for (size_t step = 1; step < 200; step += 13) {
        struct llm_response r;
        struct deltas d;
        assert_int_equal(run_stream(&llm_gemini_ops, "gemini_stream.sse", step, &r, &d), 0);
        assert_string_equal(r.content,
                            "The quick brown fox jumps over the lazy dog. Chúc ngủ ngon.");
        assert_string_equal(d.text, r.content);
        assert_int_equal(d.n, 3);
        assert_string_equal(r.finish_reason, "stop");
        assert_int_equal(r.input_tokens, 10);
        assert_int_equal(r.output_tokens, 14);
        llm_response_cleanup(&r);
    }
}

static void test_stream_without_end_is_bad(void **state)
{
    /* The OpenAI text stream without its [DONE]: a cut stream. */
    size_t len;
    char *text = slurp("openai_stream_text.sse", &len);
    char *done = strstr(text, "data: [DONE]");
    *done = '\0';
    struct run r = {.ops = &llm_openai_ops};
    struct deltas d = {0};
    llm_acc_init(&r.acc, on_delta, &d);
    struct llm_sse p;
    llm_sse_init(&p, ev, &r);
    assert_int_equal(llm_sse_feed(&p, text, strlen(text)), 0);
    assert_int_equal(llm_sse_finish(&p), 0);
    assert_false(r.acc.done);
    llm_sse_cleanup(&p);
    llm_acc_cleanup(&r.acc);
    /* A garbled chunk is a bad response. */
    llm_acc_init(&r.acc, NULL, NULL);
    const char *bad = "{\"choices\":[{\"delta\":{\"content\":\"x\"";
    assert_int_equal(llm_openai_ops.event(&r.acc, "message", bad, strlen(bad)),
                     LLM_ERR_BAD_RESPONSE);
    assert_int_equal(llm_anthropic_ops.event(&r.acc, "message", bad, strlen(bad)),
                     LLM_ERR_BAD_RESPONSE);
    assert_int_equal(llm_gemini_ops.event(&r.acc, "message", bad, strlen(bad)),
                     LLM_ERR_BAD_RESPONSE);
    llm_acc_cleanup(&r.acc);
    free(text);
}

/* ---- whole bodies ------------------------------------------------------------------------------
 */

/* A whole body, as llm/client.c reads one: parsed, then finished into resp. */
static int parse_text(const struct llm_provider_ops *ops, const char *text, size_t len,
                      struct llm_response *resp)
{
    struct llm_acc a;
    llm_acc_init(&a, NULL, NULL);
    json_object *root = llm_json_parse(text, len);
    int rc = root ? ops->parse(&a, root) : LLM_ERR_BAD_RESPONSE;
    if (rc == 0)
        rc = llm_acc_finish(&a, resp);
    json_object_put(root);
    llm_acc_cleanup(&a);
    return rc;
}

static int parse_body(const struct llm_provider_ops *ops, const char *fixture,
                      struct llm_response *resp)
{
    size_t len;
    char *text = slurp(fixture, &len);
    assert_non_null(text);
    int rc = parse_text(ops, text, len, resp);
    free(text);
    return rc;
}

static void test_whole_bodies(void **state)
{
    struct llm_response r;
    assert_int_equal(parse_body(&llm_openai_ops, "openai_chat.json", &r), 0);
    assert_string_equal(r.content, "Hello! How can I assist you today?");
    assert_string_equal(r.finish_reason, "stop");
    assert_int_equal(r.input_tokens, 19);
    assert_int_equal(r.output_tokens, 10);
    assert_string_equal(r.model, "gpt-4.1-2025-04-14");
    llm_response_cleanup(&r);

    assert_int_equal(parse_body(&llm_openai_ops, "openai_tool_calls.json", &r), 0);
    assert_int_equal(r.ntool_calls, 2);
    assert_string_equal(r.tool_calls[0].id, "call_abc123");
    assert_string_equal(r.tool_calls[1].arguments,
                        "{\"location\": \"Tokyo, Japan\", \"unit\": \"celsius\"}");
    assert_string_equal(r.finish_reason, "tool_calls");
    llm_response_cleanup(&r);

    assert_int_equal(parse_body(&llm_anthropic_ops, "anthropic_message.json", &r), 0);
    assert_string_equal(r.content, "I'll check the current weather in San Francisco for you.");
    assert_int_equal(r.ntool_calls, 1);
    assert_string_equal(r.tool_calls[0].name, "get_weather");
    json_object *args = json_tokener_parse(r.tool_calls[0].arguments);
    assert_string_equal(json_field_str(args, "location"), "San Francisco, CA");
    json_object_put(args);
    assert_string_equal(r.finish_reason, "tool_calls");
    assert_int_equal(r.input_tokens, 384);
    assert_int_equal(r.output_tokens, 71);
    llm_response_cleanup(&r);

    assert_int_equal(parse_body(&llm_gemini_ops, "gemini_response.json", &r), 0);
    assert_string_equal(r.content,
                        "AI learns patterns from data to make predictions or decisions.\n");
    assert_string_equal(r.finish_reason, "stop");
    assert_int_equal(r.output_tokens, 12);
    llm_response_cleanup(&r);

    assert_int_equal(parse_body(&llm_gemini_ops, "gemini_function_call.json", &r), 0);
    assert_int_equal(r.ntool_calls, 2);
    assert_string_equal(r.tool_calls[0].name, "set_light_values");
    assert_string_equal(r.tool_calls[0].id, "call_0");
    assert_string_equal(r.tool_calls[1].id, "call_1");
    assert_string_equal(r.finish_reason, "tool_calls"); /* STOP with calls */
    args = json_tokener_parse(r.tool_calls[0].arguments);
    assert_int_equal(json_object_get_int(llm_json_get(args, "brightness")), 25);
    json_object_put(args);
    llm_response_cleanup(&r);

    /* Not the expected shape: bad response, no leak. */
    struct llm_acc a;
    llm_acc_init(&a, NULL, NULL);
    json_object *o = json_tokener_parse("{\"choices\":[]}");
    assert_int_equal(llm_openai_ops.parse(&a, o), LLM_ERR_BAD_RESPONSE);
    json_object_put(o);
    o = json_tokener_parse("{\"content\":\"not an array\"}");
    assert_int_equal(llm_anthropic_ops.parse(&a, o), LLM_ERR_BAD_RESPONSE);
    json_object_put(o);
    o = json_tokener_parse("{\"candidates\":[]}");
    assert_int_equal(llm_gemini_ops.parse(&a, o), LLM_ERR_BAD_RESPONSE);
    json_object_put(o);
    llm_acc_cleanup(&a);
    assert_null(llm_json_parse("{\"a\":1} trailing", 16));
    assert_null(llm_json_parse("{\"a\":", 5));
}

static void test_tool_args_must_be_object(void **state)
{
    struct llm_acc a;
    struct llm_response r;
    llm_acc_init(&a, NULL, NULL);
    struct llm_acc_call *c = llm_acc_call(&a, 0);
    llm_acc_set(&c->name, "f");
    llm_buf_add(&c->args, "{\"x\":", 5, LLM_BODY_LIMIT); /* cut arguments */
    c = llm_acc_call(&a, 1);
    llm_buf_add(&c->args, "{}", 2, LLM_BODY_LIMIT); /* no name */
    /* Passed on as sent: the agent answers the model with a tool error (agents/reply.c). */
    assert_int_equal(llm_acc_finish(&a, &r), 0);
    assert_int_equal(r.ntool_calls, 2);
    assert_string_equal(r.tool_calls[0].name, "f");
    assert_string_equal(r.tool_calls[0].arguments, "{\"x\":");
    assert_string_equal(r.tool_calls[1].name, "");
    assert_string_equal(r.tool_calls[1].id, "call_1");
    llm_response_cleanup(&r);
    llm_acc_cleanup(&a);
    llm_acc_init(&a, NULL, NULL);
    c = llm_acc_call(&a, 3);
    llm_acc_set(&c->name, "g"); /* no arguments at all: {} */
    assert_int_equal(llm_acc_finish(&a, &r), 0);
    assert_string_equal(r.tool_calls[0].arguments, "{}");
    llm_response_cleanup(&r);
    llm_acc_cleanup(&a);
}

/* ---- llama.cpp (llama-cpp-python 0.3.16 serving SmolLM2-135M-Instruct), recorded ----------- */

static void test_llamacpp_stream_length(void **state)
{
    /* 24 tokens asked for; one chunk per token, a role-only first chunk, an empty delta with
     * finish_reason "length", no usage chunk although stream_options.include_usage was sent. */
    for (size_t step = 1; step < 700; step += 53) {
        struct llm_response r;
        struct deltas d;
        assert_int_equal(run_stream(&llm_openai_ops, "llamacpp_stream_length.sse", step, &r, &d),
                         0);
        assert_non_null(r.content);
        assert_true(strncmp(r.content, "Customer MST 0", 14) == 0);
        assert_string_equal(d.text, r.content);
        assert_int_equal(d.n, 24);
        assert_string_equal(r.finish_reason, "length");
        assert_string_equal(r.model, "smollm2");
        assert_int_equal(r.input_tokens, 0);
        assert_int_equal(r.output_tokens, 24); /* counted: the stream carries no usage */
        assert_int_equal(r.ntool_calls, 0);
        llm_response_cleanup(&r);
    }
}

static void test_llamacpp_stream_stop(void **state)
{
    struct llm_response r;
    struct deltas d;
    assert_int_equal(run_stream(&llm_openai_ops, "llamacpp_stream_stop.sse", 7, &r, &d), 0);
    assert_string_equal(r.content, "Hello, hello.");
    assert_int_equal(d.n, 4);
    assert_string_equal(r.finish_reason, "stop");
    assert_int_equal(r.output_tokens, 4);
    llm_response_cleanup(&r);
    /* tool_choice "auto" with stream: the server raises after the 200 and sends nothing. */
    assert_int_equal(run_stream(&llm_openai_ops, "llamacpp_stream_tools_auto.sse", 7, &r, &d),
                     LLM_ERR_BAD_RESPONSE);
}

static void test_llamacpp_bodies(void **state)
{
    struct llm_response r;
    assert_int_equal(parse_body(&llm_openai_ops, "llamacpp_intent_json.json", &r), 0);
    assert_true(strncmp(r.content, "{\n\"type\": \"user\"", 16) == 0);
    assert_string_equal(r.finish_reason, "stop");
    assert_int_equal(r.input_tokens, 429);
    assert_int_equal(r.output_tokens, 68);
    assert_string_equal(r.model, "smollm2");
    llm_response_cleanup(&r);
    /* chatml-function-calling, tool_choice "auto", not streamed: content null, one call whose
     * id embeds the completion id, and the legacy function_call beside it (ignored). */
    assert_int_equal(parse_body(&llm_openai_ops, "llamacpp_tool_calls.json", &r), 0);
    assert_null(r.content);
    assert_int_equal(r.ntool_calls, 1);
    assert_string_equal(r.tool_calls[0].name, "get_customer_debt");
    assert_true(strncmp(r.tool_calls[0].id, "call__0_get_customer_debt_cmpl-", 31) == 0);
    assert_string_equal(r.tool_calls[0].arguments, "{\"mst\": \"1023456789\"}");
    assert_string_equal(r.finish_reason, "tool_calls");
    assert_int_equal(r.input_tokens, 279);
    assert_int_equal(r.output_tokens, 17);
    llm_response_cleanup(&r);
}

/* ---- errors
 * -------------------------------------------------------------------------------------- */

static int classify(long status, const char *fixture, char *msg, size_t cap)
{
    size_t len = 0;
    char *b = fixture ? slurp(fixture, &len) : NULL;
    int rc = llm_classify_http(status, b, len, msg, cap);
    free(b);
    return rc;
}

static void test_classify(void **state)
{
    char msg[200];
    assert_int_equal(classify(400, "openai_error_context.json", msg, sizeof(msg)),
                     LLM_ERR_CONTEXT_TOO_LONG);
    assert_non_null(strstr(msg, "maximum context length"));
    assert_int_equal(classify(401, "openai_error_auth.json", msg, sizeof(msg)), LLM_ERR_AUTH);
    assert_int_equal(classify(529, "anthropic_error_overloaded.json", msg, sizeof(msg)),
                     LLM_ERR_UNAVAILABLE);
    assert_int_equal(classify(400, "anthropic_error_too_long.json", msg, sizeof(msg)),
                     LLM_ERR_CONTEXT_TOO_LONG);
    assert_int_equal(classify(400, "gemini_error_key.json", msg, sizeof(msg)), LLM_ERR_AUTH);
    assert_int_equal(classify(429, "gemini_error_quota.json", msg, sizeof(msg)),
                     LLM_ERR_RATE_LIMITED);
    assert_int_equal(classify(403, NULL, msg, sizeof(msg)), LLM_ERR_AUTH);
    assert_int_equal(classify(503, NULL, msg, sizeof(msg)), LLM_ERR_UNAVAILABLE);
    assert_int_equal(classify(404, NULL, msg, sizeof(msg)), LLM_ERR_INVALID_REQUEST);
    assert_int_equal(llm_classify_http(502, "<html>bad gateway</html>", 24, msg, sizeof(msg)),
                     LLM_ERR_UNAVAILABLE);

    /* The provider's message is one line of valid text, cut between characters: a byte that
     * is not UTF-8 becomes U+FFFD, and a message longer than msg ends before the character
     * that does not fit, never inside it. */
    const char *latin1 = "{\"error\":{\"message\":\"Quota d\xE9pass\xE9"
                         "e\\nretry\"}}";
    assert_int_equal(llm_classify_http(429, latin1, strlen(latin1), msg, sizeof(msg)),
                     LLM_ERR_RATE_LIMITED);
    assert_string_equal(msg, "Quota d\xEF\xBF\xBDpass\xEF\xBF\xBD"
                             "e retry");
    char body[1024], small[8];
    snprintf(body, sizeof body, "{\"error\":{\"message\":\"%s\"}}",
             "\xC4\x91\xC4\x91\xC4\x91\xC4\x91\xC4\x91"); /* five 2-byte characters */
    assert_int_equal(llm_classify_http(500, body, strlen(body), small, sizeof small),
                     LLM_ERR_UNAVAILABLE);
    assert_string_equal(small, "\xC4\x91\xC4\x91\xC4\x91"); /* 6 bytes: a 4th does not fit in 7 */
}

/* A tenant may point its base_url at any server: token counts it reports are believed only
 * when they are integers in 0..LLM_TOKENS_MAX (they feed budgets and sums), and ids and the
 * model's name are made valid text like the content. */
static void test_untrusted_counts_and_names(void **state)
{
    (void)state;
    static const struct {
        const char *usage;
        long in, out;
    } cases[] = {
        {"{\"prompt_tokens\":7,\"completion_tokens\":5}", 7, 5},
        {"{\"prompt_tokens\":7.0,\"completion_tokens\":5}", 7, 5},
        {"{\"prompt_tokens\":-7,\"completion_tokens\":5}", 0, 5},
        {"{\"prompt_tokens\":9223372036854775807,\"completion_tokens\":5}", 0, 5},
        {"{\"prompt_tokens\":1e30,\"completion_tokens\":5}", 0, 5},
        {"{\"prompt_tokens\":7.5,\"completion_tokens\":\"5\"}", 0, 0},
        {"{\"prompt_tokens\":100000000,\"completion_tokens\":100000001}", 100000000, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"model\":\"m\\u0000x\xFF\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                 "\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_\xC3\",\"type\":"
                 "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                 "\"finish_reason\":\"tool_calls\"}],\"usage\":%s}",
                 cases[i].usage);
        struct llm_response r;
        assert_int_equal(parse_text(&llm_openai_ops, body, strlen(body), &r), 0);
        assert_int_equal(r.input_tokens, cases[i].in);
        assert_int_equal(r.output_tokens, cases[i].out);
        assert_string_equal(r.tool_calls[0].id, "call_\xEF\xBF\xBD");
        assert_string_equal(r.model, "m"); /* json-c's string ends at the \u0000 */
        llm_response_cleanup(&r);
    }
}

/* Anthropic's tool_use input (Gemini's args alike) is an object in the body, read leniently:
 * json-c kept a model's "1." as written, and the arguments went back to the provider in the
 * next round's request, and to the tool, as no JSON. */
static void test_lenient_numbers_leave_as_json(void **state)
{
    (void)state;
    const char *body =
        "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\","
        "\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"pay\",\"input\":"
        "{\"amount\":1.,\"n\":2.e3,\"ok\":0.5}}],\"stop_reason\":\"tool_use\","
        "\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}";
    struct llm_response r;
    assert_int_equal(parse_text(&llm_anthropic_ops, body, strlen(body), &r), 0);
    assert_int_equal(r.ntool_calls, 1);
    assert_string_equal(r.tool_calls[0].arguments, "{\"amount\":1.0,\"n\":2000.0,\"ok\":0.5}");
    llm_response_cleanup(&r);
    /* OpenAI's arguments are a string the model wrote: made JSON where they become an object */
    json_object *args = llm_json_args("{\"amount\": 1.}");
    assert_string_equal(json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN),
                        "{\"amount\":1.0}");
    json_object_put(args);
}

static void test_finish_and_names(void **state)
{
    assert_string_equal(llm_finish_normalize("end_turn"), "stop");
    assert_string_equal(llm_finish_normalize("tool_use"), "tool_calls");
    assert_string_equal(llm_finish_normalize("max_tokens"), "length");
    assert_string_equal(llm_finish_normalize("MAX_TOKENS"), "length");
    assert_string_equal(llm_finish_normalize("SAFETY"), "content_filter");
    assert_string_equal(llm_finish_normalize("function_call"), "tool_calls");
    assert_string_equal(llm_finish_normalize("weird"), "stop");
    enum llm_provider p;
    const char *names[] = {"openai",     "anthropic",         "gemini",
                           "openrouter", "openai_compatible", "local"};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(llm_provider_parse(names[i], &p), 0);
        assert_string_equal(llm_provider_name(p), names[i]);
    }
    assert_int_equal(llm_provider_parse("mistral", &p), -1);
    assert_string_equal(llm_status_str(LLM_ERR_AUTH), "authentication failed");
}

/* ---- request bodies ----------------------------------------------------------------------------
 */

static const char *SCHEMA =
    "{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
    "\"type\":\"object\",\"additionalProperties\":false,"
    "\"properties\":{\"mst\":{\"type\":\"string\"}},\"required\":[\"mst\"]}";

static void make_conversation(struct llm_request *req, struct llm_message *m,
                              struct llm_tool_call *tc, struct llm_tool_def *td)
{
    tc[0] = (struct llm_tool_call){
        .id = "call_1", .name = "get_debt", .arguments = "{\"mst\":\"0101234567\"}"};
    tc[1] = (struct llm_tool_call){
        .id = "call_2", .name = "get_debt", .arguments = "{\"mst\":\"0109876543\"}"};
    m[0] = (struct llm_message){.role = LLM_ROLE_SYSTEM, .content = "You are AgentDebt."};
    m[1] = (struct llm_message){.role = LLM_ROLE_USER,
                                .content = "Debt of 0101234567 and 0109876543?"};
    m[2] = (struct llm_message){.role = LLM_ROLE_ASSISTANT, .tool_calls = tc, .ntool_calls = 2};
    m[3] = (struct llm_message){
        .role = LLM_ROLE_TOOL, .content = "{\"debt\":100}", .tool_call_id = "call_1"};
    m[4] = (struct llm_message){.role = LLM_ROLE_TOOL,
                                .content = "plain text result",
                                .tool_call_id = "call_2",
                                .name = "get_debt"};
    td[0] = (struct llm_tool_def){
        .name = "get_debt", .description = "Debt by tax code", .parameters = SCHEMA};
    *req = (struct llm_request){.messages = m,
                                .nmessages = 5,
                                .tools = td,
                                .ntools = 1,
                                .stream = 1,
                                .json_mode = 1,
                                .temperature = 0.2,
                                .max_tokens = 300};
}

static json_object *build(const struct llm_provider_ops *ops, enum llm_provider prov,
                          const struct llm_request *req, char *url, size_t cap)
{
    struct llm_config cfg = {
        .provider = prov, .model = "m1", .api_key = "sk-secret", .temperature = -1};
    struct llm_wire w = {.cfg = &cfg, .model = "m1", .req = req, .stream = 1};
    char err[128];
    char *body = ops->body(&w, err, sizeof(err));
    assert_non_null(body);
    assert_int_equal(ops->url(&w, url, cap), 0);
    assert_null(strstr(body, "sk-secret"));
    if (req->temperature == 0.2) /* as written, not json-c's 0.20000000000000001 */
        assert_true(strstr(body, "\"temperature\":0.2,") || strstr(body, "\"temperature\":0.2}"));
    json_object *o = json_tokener_parse(body);
    free(body);
    assert_non_null(o);
    return o;
}

static void test_request_bodies(void **state)
{
    struct llm_request req;
    struct llm_message m[5];
    struct llm_tool_call tc[2];
    struct llm_tool_def td[1];
    make_conversation(&req, m, tc, td);
    char url[512];

    json_object *o = build(&llm_openai_ops, LLM_PROVIDER_OPENAI, &req, url, sizeof(url));
    assert_string_equal(url, "https://api.openai.com/v1/chat/completions");
    json_object *msgs = llm_json_get(o, "messages");
    assert_int_equal(json_object_array_length(msgs), 5);
    json_object *asst = json_object_array_get_idx(msgs, 2);
    assert_int_equal(json_object_array_length(llm_json_get(asst, "tool_calls")), 2);
    assert_string_equal(json_field_str(json_object_array_get_idx(msgs, 3), "tool_call_id"),
                        "call_1");
    assert_true(
        json_object_get_boolean(llm_json_get(llm_json_get(o, "stream_options"), "include_usage")));
    assert_string_equal(json_field_str(llm_json_get(o, "response_format"), "type"), "json_object");
    assert_int_equal(json_object_get_int(llm_json_get(o, "max_tokens")), 300);
    json_object_put(o);

    o = build(&llm_anthropic_ops, LLM_PROVIDER_ANTHROPIC, &req, url, sizeof(url));
    assert_string_equal(url, "https://api.anthropic.com/v1/messages");
    assert_non_null(strstr(json_field_str(o, "system"), "You are AgentDebt."));
    msgs = llm_json_get(o, "messages");
    /* user, assistant (2 tool_use), user (2 tool_result merged) */
    assert_int_equal(json_object_array_length(msgs), 3);
    json_object *results = llm_json_get(json_object_array_get_idx(msgs, 2), "content");
    assert_int_equal(json_object_array_length(results), 2);
    assert_string_equal(json_field_str(json_object_array_get_idx(results, 1), "tool_use_id"),
                        "call_2");
    json_object *tool = json_object_array_get_idx(llm_json_get(o, "tools"), 0);
    assert_non_null(llm_json_get(tool, "input_schema"));
    json_object_put(o);

    o = build(&llm_gemini_ops, LLM_PROVIDER_GEMINI, &req, url, sizeof(url));
    assert_string_equal(url, "https://generativelanguage.googleapis.com/v1beta/models/"
                             "m1:streamGenerateContent?alt=sse");
    json_object *contents = llm_json_get(o, "contents");
    assert_int_equal(json_object_array_length(contents), 3);
    assert_string_equal(json_field_str(json_object_array_get_idx(contents, 1), "role"), "model");
    json_object *parts = llm_json_get(json_object_array_get_idx(contents, 2), "parts");
    assert_int_equal(json_object_array_length(parts), 2);
    json_object *fr0 = llm_json_get(json_object_array_get_idx(parts, 0), "functionResponse");
    assert_string_equal(json_field_str(fr0, "name"), "get_debt"); /* found via the call id */
    json_object *fr1 = llm_json_get(json_object_array_get_idx(parts, 1), "functionResponse");
    assert_string_equal(json_field_str(llm_json_get(fr1, "response"), "result"),
                        "plain text result");
    json_object *decl = json_object_array_get_idx(
        llm_json_get(json_object_array_get_idx(llm_json_get(o, "tools"), 0),
                     "functionDeclarations"),
        0);
    json_object *params = llm_json_get(decl, "parameters");
    assert_null(llm_json_get(params, "$schema"));
    assert_null(llm_json_get(params, "additionalProperties"));
    assert_string_equal(json_field_str(llm_json_get(o, "generationConfig"), "responseMimeType"),
                        "application/json");
    json_object_put(o);

    /* Base URLs: OpenRouter default, Anthropic base with /v1, Gemini base with /v1beta. */
    struct llm_config cfg = {.provider = LLM_PROVIDER_OPENROUTER, .model = "m"};
    struct llm_wire w = {.cfg = &cfg, .model = "m", .req = &req};
    assert_int_equal(llm_openai_ops.url(&w, url, sizeof(url)), 0);
    assert_string_equal(url, "https://openrouter.ai/api/v1/chat/completions");
    cfg.base_url = "http://127.0.0.1:9/v1/";
    w.cfg = &cfg;
    assert_int_equal(llm_anthropic_ops.url(&w, url, sizeof(url)), 0);
    assert_string_equal(url, "http://127.0.0.1:9/v1/messages");
    cfg.base_url = "http://h/v1beta";
    assert_int_equal(llm_gemini_ops.url(&w, url, sizeof(url)), 0);
    assert_string_equal(url, "http://h/v1beta/models/m:generateContent");
    struct curl_slist *h = llm_openai_ops.headers(&w, NULL);
    int referer = 0;
    for (struct curl_slist *i = h; i; i = i->next)
        referer |= strncmp(i->data, "HTTP-Referer:", 13) == 0;
    curl_slist_free_all(h);
    assert_true(referer);

    /* A tool turn without an id is refused. */
    m[3].tool_call_id = NULL;
    char err[128] = "";
    cfg.provider = LLM_PROVIDER_OPENAI;
    struct llm_wire w2 = {.cfg = &cfg, .model = "m", .req = &req};
    assert_null(llm_openai_ops.body(&w2, err, sizeof(err)));
    assert_non_null(strstr(err, "tool_call_id"));
}

static void test_scrub(void **state)
{
    char s[200] = "error with key sk-abcdef123 inside, twice sk-abcdef123.";
    llm_scrub(s, sizeof(s), "sk-abcdef123");
    assert_null(strstr(s, "sk-abcdef123"));
    assert_non_null(strstr(s, "***"));
}

/* ---- local embedder -------------------------------------------------------------------------- */

static double dot(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static void test_local_embedder(void **state)
{
    enum { D = LLM_LOCAL_EMBED_DIM };
    static float a[D], a2[D], b[D], c[D], e[D], v1[D], v2[D], v3[D];
    llm_embed_local("How do I reset my password?", a, D);
    llm_embed_local("How do I reset my password?", a2, D);
    llm_embed_local("password reset instructions", b, D);
    llm_embed_local("shipping rates to Hanoi", c, D);
    llm_embed_local("", e, D);
    assert_memory_equal(a, a2, sizeof(a));        /* deterministic */
    assert_true(fabs(dot(a, a, D) - 1.0) < 1e-4); /* unit length */
    assert_true(fabs(dot(e, e, D) - 1.0) < 1e-4);
    assert_true(dot(a, b, D) > dot(a, c, D) + 0.1); /* shared words count */
    llm_embed_local("Tra cứu công nợ khách hàng", v1, D);
    llm_embed_local("công nợ của khách hàng", v2, D);
    llm_embed_local("theo dõi vận đơn", v3, D);
    assert_true(dot(v1, v2, D) > dot(v1, v3, D) + 0.1);
    /* case-insensitive (ASCII) */
    llm_embed_local("PASSWORD RESET INSTRUCTIONS", a2, D);
    assert_true(dot(a2, b, D) > 0.999);
}

/* ---- robustness: mutated fixtures never crash a parser (ASan/UBSan watch) ---------------- */

static unsigned int g_rand = 12345;
static unsigned int rnd(void)
{
    g_rand = g_rand * 1103515245u + 12345u;
    return g_rand >> 8;
}

static void test_mutations_do_not_crash(void **state)
{
    const struct {
        const char *file;
        const struct llm_provider_ops *ops;
        int sse;
    } fx[] = {
        {"openai_stream_text.sse", &llm_openai_ops, 1},
        {"openai_stream_tools.sse", &llm_openai_ops, 1},
        {"anthropic_stream_tools.sse", &llm_anthropic_ops, 1},
        {"gemini_stream.sse", &llm_gemini_ops, 1},
        {"openai_tool_calls.json", &llm_openai_ops, 0},
        {"anthropic_message.json", &llm_anthropic_ops, 0},
        {"gemini_function_call.json", &llm_gemini_ops, 0},
    };
    const char *junk[] = {"\"",    "{",    "}",     "[",      "]",
                          ",",     ":",    "\\u00", "\n\n",   "null",
                          "1e999", "\xff", "\0",    "data: ", "event: error\n"};
    for (size_t f = 0; f < sizeof(fx) / sizeof(fx[0]); f++) {
        size_t len;
        char *orig = slurp(fx[f].file, &len);
        assert_non_null(orig);
        for (int round = 0; round < 300; round++) {
            char *m = malloc(len + 64);
            memcpy(m, orig, len);
            size_t ml = len;
            int edits = 1 + (int)(rnd() % 4);
            for (int e = 0; e < edits; e++) {
                size_t at = rnd() % ml;
                switch (rnd() % 3) {
                case 0: /* flip a byte */
                    m[at] = (char)(rnd() & 0xff);
                    break;
                case 1: /* truncate */
                    ml = at;
                    break;
                default: { /* insert junk */
                    const char *j = junk[rnd() % (sizeof(junk) / sizeof(junk[0]))];
                    size_t jl = strlen(j);
                    if (ml + jl < len + 64) {
                        memmove(m + at + jl, m + at, ml - at);
                        memcpy(m + at, j, jl);
                        ml += jl;
                    }
                }
                }
                if (ml == 0)
                    break;
            }
            struct llm_response r;
            int rc;
            if (fx[f].sse) {
                struct run ru = {.ops = fx[f].ops};
                struct deltas d = {0};
                llm_acc_init(&ru.acc, on_delta, &d);
                struct llm_sse p;
                llm_sse_init(&p, ev, &ru);
                size_t step = 1 + rnd() % 64;
                rc = 0;
                for (size_t off = 0; off < ml && rc == 0; off += step)
                    rc = llm_sse_feed(&p, m + off, off + step <= ml ? step : ml - off);
                if (rc == 0)
                    rc = llm_sse_finish(&p);
                if (rc == 0 && ru.acc.done && llm_acc_finish(&ru.acc, &r) == 0)
                    llm_response_cleanup(&r);
                llm_sse_cleanup(&p);
                llm_acc_cleanup(&ru.acc);
            } else {
                struct llm_acc a;
                llm_acc_init(&a, NULL, NULL);
                json_object *root = llm_json_parse(m, ml);
                rc = root ? fx[f].ops->parse(&a, root) : LLM_ERR_BAD_RESPONSE;
                if (rc == 0 && llm_acc_finish(&a, &r) == 0)
                    llm_response_cleanup(&r);
                json_object_put(root);
                llm_acc_cleanup(&a);
            }
            assert_true(rc <= 0);
            free(m);
        }
        free(orig);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_rules),
        cmocka_unit_test(test_sse_callback_stops),
        cmocka_unit_test(test_sse_cap),
        cmocka_unit_test(test_openai_stream_text),
        cmocka_unit_test(test_stream_text_repaired),
        cmocka_unit_test(test_openai_stream_parallel_tools),
        cmocka_unit_test(test_openai_reused_index),
        cmocka_unit_test(test_anthropic_stream_text),
        cmocka_unit_test(test_anthropic_stream_tools),
        cmocka_unit_test(test_anthropic_stream_error_event),
        cmocka_unit_test(test_gemini_stream_crlf),
        cmocka_unit_test(test_stream_without_end_is_bad),
        cmocka_unit_test(test_whole_bodies),
        cmocka_unit_test(test_tool_args_must_be_object),
        cmocka_unit_test(test_llamacpp_stream_length),
        cmocka_unit_test(test_llamacpp_stream_stop),
        cmocka_unit_test(test_llamacpp_bodies),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_untrusted_counts_and_names),
        cmocka_unit_test(test_lenient_numbers_leave_as_json),
        cmocka_unit_test(test_finish_and_names),
        cmocka_unit_test(test_request_bodies),
        cmocka_unit_test(test_scrub),
        cmocka_unit_test(test_local_embedder),
        cmocka_unit_test(test_mutations_do_not_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
