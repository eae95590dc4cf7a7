/* fuzz_llm_response — libFuzzer target for what an LLM provider answers.
 *
 * A tenant may point its base_url at any server, so every byte of an answer is hostile input
 * to the agent and router processes that all tenants share. The first byte picks the wire
 * format (OpenAI, Anthropic, Gemini) and the kind of answer; the second, where a stream is cut
 * into fragments or the HTTP status of an error; the rest is the answer. The steps are those
 * of llm/client.c: SSE fragments through llm_sse_feed and the provider's event parser, or the
 * whole body through llm_json_parse and the provider's body parser, or an error body through
 * llm_classify_http; then llm_acc_finish.
 *
 * Checked, beyond the sanitizers:
 *   - a stream gives the same outcome fed whole and fed in three fragments, cut anywhere;
 *   - an accepted answer is valid text everywhere (content, tool call ids, names, arguments,
 *     the model's name), its finish reason is one of the four normalized ones, its token
 *     counts are in 0..LLM_TOKENS_MAX (output: or the number of deltas) and the deltas handed
 *     to the caller add up to the content;
 *   - an error has a known status, and its message is one line of valid text;
 *   - what the agent makes of an accepted answer (agents/reply.h: each tool call checked,
 *     the message a refused call gets, the text saved) is valid text, the message valid JSON;
 *   - each call's arguments, as the next round's request carries them back, are JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_strict.h"
#include "provider.h"
#include "../../agents/reply.c" /* reply_check_call, reply_text */
#include "utf8.h"

#define FUZZ_TARGET "fuzz_llm_response"
#include "fuzz_check.h"

static int clean(const char *s)
{
    return s && utf8_is_clean(s, strlen(s));
}

struct deltas {
    struct llm_buf text;
};

static void on_delta(void *opaque, const char *text, size_t len)
{
    struct deltas *d = opaque;
    fuzz_check(utf8_is_clean(text, len), "a delta is not valid text");
    fuzz_check(llm_buf_add(&d->text, text, len, 2 * LLM_BODY_LIMIT) == 0, "deltas overflow");
}

struct outcome {
    int rc;
    struct llm_response r;
    struct deltas d;
};

struct stream {
    const struct llm_provider_ops *ops;
    struct llm_acc *acc;
};

static int on_event(void *ud, const char *event, const char *data, size_t len)
{
    struct stream *s = ud;
    int rc = s->ops->event(s->acc, event, data, len);
    return rc ? rc : (s->acc->stream_error ? s->acc->stream_error : 0);
}

/* The client's streaming path, fed in fragments cut at c1 <= c2. */
static void run_stream(const struct llm_provider_ops *ops, const char *p, size_t n, size_t c1,
                       size_t c2, struct outcome *o)
{
    struct llm_acc acc;
    struct llm_sse sse;
    struct stream st = {ops, &acc};
    memset(o, 0, sizeof(*o));
    llm_acc_init(&acc, on_delta, &o->d);
    llm_sse_init(&sse, on_event, &st);
    int rc = llm_sse_feed(&sse, p, c1);
    if (!rc)
        rc = llm_sse_feed(&sse, p + c1, c2 - c1);
    if (!rc)
        rc = llm_sse_feed(&sse, p + c2, n - c2);
    if (!rc)
        rc = llm_sse_finish(&sse);
    if (!rc && !acc.done)
        rc = LLM_ERR_BAD_RESPONSE; /* "the stream ended before its end marker" */
    if (!rc)
        rc = llm_acc_finish(&acc, &o->r);
    if (rc && acc.stream_error)
        fuzz_check(clean(acc.stream_errmsg), "a stream error's message is not valid text");
    o->rc = rc;
    llm_sse_cleanup(&sse);
    llm_acc_cleanup(&acc);
}

/* The client's whole-body path. */
static void run_body(const struct llm_provider_ops *ops, const char *p, size_t n, struct outcome *o)
{
    struct llm_acc acc;
    memset(o, 0, sizeof(*o));
    llm_acc_init(&acc, on_delta, &o->d);
    json_object *root = llm_json_parse(p, n);
    int rc = root ? ops->parse(&acc, root) : LLM_ERR_BAD_RESPONSE;
    json_object_put(root);
    if (!rc)
        rc = llm_acc_finish(&acc, &o->r);
    if (rc && acc.stream_error)
        fuzz_check(clean(acc.stream_errmsg), "an error's message is not valid text");
    o->rc = rc;
    llm_acc_cleanup(&acc);
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_accepted(const struct outcome *o, int streamed)
{
    const struct llm_response *r = &o->r;
    fuzz_check(!r->content || clean(r->content), "content is not valid text");
    fuzz_check(!r->model || clean(r->model), "the model's name is not valid text");
    fuzz_check(r->ntool_calls <= LLM_MAX_TOOL_CALLS, "too many tool calls");
    for (size_t i = 0; i < r->ntool_calls; i++) {
        const struct llm_tool_call *t = &r->tool_calls[i];
        fuzz_check(clean(t->id) && *t->id, "a tool call id is empty or not valid text");
        fuzz_check(clean(t->name), "a tool call name is not valid text");
        fuzz_check(clean(t->arguments), "tool call arguments are not valid text");
    }
    fuzz_check(r->finish_reason && (strcmp(r->finish_reason, "stop") == 0 ||
                                    strcmp(r->finish_reason, "tool_calls") == 0 ||
                                    strcmp(r->finish_reason, "length") == 0 ||
                                    strcmp(r->finish_reason, "content_filter") == 0),
               "finish reason not normalized");
    fuzz_check(r->input_tokens >= 0 && r->input_tokens <= LLM_TOKENS_MAX,
               "input token count out of range");
    fuzz_check(r->output_tokens >= 0 && (r->output_tokens <= LLM_TOKENS_MAX ||
                                         (size_t)r->output_tokens <= o->d.text.len),
               "output token count out of range");
    if (streamed) /* what the caller saw as it came is what it gets */
        fuzz_check(o->d.text.len == (r->content ? strlen(r->content) : 0) &&
                       (!o->d.text.len || memcmp(o->d.text.p, r->content, o->d.text.len) == 0),
                   "the deltas do not add up to the content");
}

/* What the agent makes of an accepted answer (agents/reply.h): every tool call is checked
 * against the tools offered, and a refused one gets a tool message for the model. Both go to
 * the provider as JSON and into the job's events: valid text, and the message valid JSON. */
static void check_agent_reply(const struct llm_response *r)
{
    static struct tool_def tools[2];
    if (!tools[0].name) {
        tools[0].name = "get_customer_debt";
        tools[0].input_schema = json_tokener_parse(
            "{\"type\":\"object\",\"properties\":{\"tax_code\":{\"type\":\"string\","
            "\"pattern\":\"^[0-9]{10}$\"},\"note\":{\"type\":\"string\",\"maxLength\":8}},"
            "\"required\":[\"tax_code\"],\"additionalProperties\":false}");
        tools[1].name = "search";
        tools[1].input_schema = json_tokener_parse(
            "{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"},\"k\":"
            "{\"type\":\"integer\",\"minimum\":1,\"maximum\":5}}}");
    }
    for (size_t i = 0; i < r->ntool_calls; i++) {
        char msg[512];
        enum reply_call rc = reply_check_call(tools, 2, r->tool_calls[i].name,
                                              r->tool_calls[i].arguments, msg, sizeof msg);
        fuzz_check(clean(msg), "a refused call's message is not valid text");
        fuzz_check((rc == REPLY_CALL_OK) == (msg[0] == '\0'), "a refusal without a message");
        /* the next round's request carries the call back (Anthropic's input, Gemini's args) */
        json_object *args = llm_json_args(r->tool_calls[i].arguments), *back = NULL;
        const char *s = json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN);
        char aerr[128];
        fuzz_check(json_strict_parse(s, strlen(s), 128, 0, &back, aerr, sizeof aerr) == 0,
                   "the arguments sent back to the provider are not JSON");
        json_object_put(back);
        json_object_put(args);
        if (rc != REPLY_CALL_OK) {
            char *res = reply_invalid_result(tools, 2, msg);
            char jerr[128];
            json_object *o = NULL;
            fuzz_check(res &&
                           json_strict_parse(res, strlen(res), 64, 0, &o, jerr, sizeof jerr) == 0 &&
                           o != NULL && clean(res),
                       "the invalid-call message is not valid JSON");
            json_object_put(o);
            free(res);
        }
    }
    enum reply_fallback f = reply_classify(r);
    char *text = reply_text(f, r->content, "vi");
    fuzz_check(clean(text), "the saved answer is not valid text");
    free(text);
}

static void outcome_free(struct outcome *o)
{
    llm_response_cleanup(&o->r);
    llm_buf_free(&o->d.text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct llm_provider_ops *const provs[] = {&llm_openai_ops, &llm_anthropic_ops,
                                                           &llm_gemini_ops};
    if (size < 2)
        return 0;
    const struct llm_provider_ops *ops = provs[data[0] % 3];
    int kind = (data[0] / 3) % 3;
    const char *p = (const char *)data + 2;
    size_t n = size - 2;

    if (kind == 0) {
        struct outcome whole, cut;
        size_t c1 = n ? (data[1] * n) / 255 : 0, c2 = c1 + (n - c1) / 2;
        run_stream(ops, p, n, n, n, &whole);
        run_stream(ops, p, n, c1, c2, &cut);
        fuzz_check(whole.rc == cut.rc, "the fragments changed the outcome");
        if (whole.rc == 0) {
            check_accepted(&whole, 1);
            check_agent_reply(&whole.r);
            check_accepted(&cut, 1);
            fuzz_check(same(whole.r.content, cut.r.content) &&
                           same(whole.r.finish_reason, cut.r.finish_reason) &&
                           same(whole.r.model, cut.r.model) &&
                           whole.r.ntool_calls == cut.r.ntool_calls &&
                           whole.r.input_tokens == cut.r.input_tokens,
                       "the fragments changed the answer");
            for (size_t i = 0; i < whole.r.ntool_calls; i++)
                fuzz_check(same(whole.r.tool_calls[i].name, cut.r.tool_calls[i].name) &&
                               same(whole.r.tool_calls[i].arguments, cut.r.tool_calls[i].arguments),
                           "the fragments changed a tool call");
        }
        outcome_free(&whole);
        outcome_free(&cut);
    } else if (kind == 1) {
        struct outcome o;
        run_body(ops, p, n, &o);
        if (o.rc == 0) {
            check_accepted(&o, 0);
            check_agent_reply(&o.r);
        }
        outcome_free(&o);
    } else {
        char msg[200];
        long status = 400 + data[1] % 200; /* 400..599 */
        int code = llm_classify_http(status, p, n, msg, sizeof(msg));
        fuzz_check(code == LLM_ERR_AUTH || code == LLM_ERR_RATE_LIMITED ||
                       code == LLM_ERR_CONTEXT_TOO_LONG || code == LLM_ERR_UNAVAILABLE ||
                       code == LLM_ERR_INVALID_REQUEST,
                   "an error answer was not classified");
        fuzz_check(clean(msg) && !strchr(msg, '\n'), "the error message is not one line of text");
    }
    return 0;
}
