/* response.c — assembling a response from whole bodies or stream fragments, shared JSON
 * helpers, and the mapping of provider error answers to llm_status codes. */
#include "provider.h"
#include "json_text.h"
#include "utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void llm_acc_init(struct llm_acc *a, llm_delta_cb cb, void *opaque)
{
    memset(a, 0, sizeof(*a));
    a->on_delta = cb;
    a->opaque = opaque;
    a->input_tokens = a->output_tokens = 0;
}

void llm_acc_cleanup(struct llm_acc *a)
{
    llm_buf_free(&a->content);
    for (size_t i = 0; i < a->ncalls; i++) {
        free(a->calls[i].id);
        free(a->calls[i].name);
        llm_buf_free(&a->calls[i].args);
    }
    a->ncalls = 0;
    free(a->finish_reason);
    a->finish_reason = NULL;
    free(a->model);
    a->model = NULL;
}

int llm_acc_text(struct llm_acc *a, const char *s, size_t n)
{
    if (!s || n == 0)
        return 0;
    /* The held-back start of a character, then this fragment, less a new cut-short tail. */
    size_t total = a->npending + n;
    char *joined = malloc(total);
    if (!joined)
        return LLM_ERR_BAD_RESPONSE;
    memcpy(joined, a->pending, a->npending);
    memcpy(joined + a->npending, s, n);
    size_t keep = utf8_partial_tail(joined, total);
    a->npending = keep;
    memcpy(a->pending, joined + total - keep, keep);
    int rc = 0;
    size_t len = total - keep, outlen = 0;
    if (len == 0)
        goto out;
    struct utf8_report rep = {0, 0};
    char *text = utf8_sanitize(joined, len, &outlen, &rep);
    if (!text) {
        rc = LLM_ERR_BAD_RESPONSE;
        goto out;
    }
    a->repaired += rep.invalid + rep.controls;
    if (llm_buf_add(&a->content, text, outlen, LLM_BODY_LIMIT) != 0)
        rc = LLM_ERR_BAD_RESPONSE;
    else if (a->on_delta) {
        a->deltas++;
        a->on_delta(a->opaque, text, outlen);
    }
    free(text);
out:
    free(joined);
    return rc;
}

int llm_acc_repair(struct llm_acc *a)
{
    if (a->npending) { /* a stream that ended inside a character: U+FFFD, its last delta */
        struct utf8_report rep = {0, 0};
        size_t n = 0;
        char *t = utf8_sanitize(a->pending, a->npending, &n, &rep);
        a->npending = 0;
        if (!t)
            return LLM_ERR_BAD_RESPONSE;
        a->repaired += rep.invalid + rep.controls;
        int rc = llm_buf_add(&a->content, t, n, LLM_BODY_LIMIT) != 0 ? LLM_ERR_BAD_RESPONSE : 0;
        if (!rc && a->on_delta) {
            a->deltas++;
            a->on_delta(a->opaque, t, n);
        }
        free(t);
        if (rc)
            return rc;
    }
    if (!a->content.len || utf8_is_clean(a->content.p, a->content.len))
        return 0;
    struct utf8_report rep = {0, 0};
    size_t outlen = 0;
    char *text = utf8_sanitize(a->content.p, a->content.len, &outlen, &rep);
    if (!text)
        return LLM_ERR_BAD_RESPONSE;
    a->repaired += rep.invalid + rep.controls;
    a->content.len = 0;
    int rc = llm_buf_add(&a->content, text, outlen, LLM_BODY_LIMIT) != 0 ? LLM_ERR_BAD_RESPONSE : 0;
    free(text);
    return rc;
}

/* A repaired malloc'd copy of s (tool call names and arguments), counted in a->repaired. */
static char *acc_clean_dup(struct llm_acc *a, const char *s)
{
    struct utf8_report rep = {0, 0};
    char *d = utf8_sanitize(s, strlen(s), NULL, &rep);
    a->repaired += rep.invalid + rep.controls;
    return d;
}

struct llm_acc_call *llm_acc_call(struct llm_acc *a, int key)
{
    for (size_t i = 0; i < a->ncalls; i++)
        if (a->calls[i].key == key)
            return &a->calls[i];
    if (a->ncalls >= LLM_MAX_TOOL_CALLS)
        return NULL;
    struct llm_acc_call *c = &a->calls[a->ncalls++];
    memset(c, 0, sizeof(*c));
    c->key = key;
    return c;
}

void llm_acc_set(char **dst, const char *s)
{
    if (!s)
        return;
    char *d = strdup(s);
    if (!d)
        return;
    free(*dst);
    *dst = d;
}

int llm_token_count(json_object *v, long *n)
{
    if (json_object_is_type(v, json_type_int)) {
        int64_t i = json_object_get_int64(v);
        if (i < 0 || i > LLM_TOKENS_MAX)
            return 0;
        *n = (long)i;
        return 1;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (!(d >= 0 && d <= (double)LLM_TOKENS_MAX) || d != (double)(long)d)
            return 0;
        *n = (long)d;
        return 1;
    }
    return 0;
}

void llm_acc_usage(struct llm_acc *a, json_object *usage, const char *in_key, const char *out_key)
{
    llm_token_count(llm_json_get(usage, in_key), &a->input_tokens);
    llm_token_count(llm_json_get(usage, out_key), &a->output_tokens);
}

int llm_acc_finish_reason(struct llm_acc *a, const char *raw)
{
    if (!raw)
        return 0;
    llm_acc_set(&a->finish_reason, llm_finish_normalize(raw));
    a->saw_finish = 1;
    return 1;
}

int llm_acc_finish(struct llm_acc *a, struct llm_response *r)
{
    memset(r, 0, sizeof(*r));
    int rc = LLM_ERR_BAD_RESPONSE;
    if (llm_acc_repair(a) != 0)
        goto out;
    if (a->content.len) {
        r->content = strdup(a->content.p);
        if (!r->content)
            goto out;
    }
    if (a->ncalls) {
        r->tool_calls = calloc(a->ncalls, sizeof(*r->tool_calls));
        if (!r->tool_calls)
            goto out;
        for (size_t i = 0; i < a->ncalls; i++) {
            struct llm_acc_call *c = &a->calls[i];
            struct llm_tool_call *t = &r->tool_calls[i];
            r->ntool_calls++;
            /* A call without a name, or with arguments that are not a JSON object (cut at the
             * token limit, prose, an array), is passed on as the model sent it: the agent
             * answers the model with a tool error and lets it try again (agents/reply.h),
             * rather than failing the whole answer. */
            char idbuf[32];
            snprintf(idbuf, sizeof(idbuf), "call_%zu", i);
            t->id = acc_clean_dup(a, c->id && *c->id ? c->id : idbuf);
            t->name = acc_clean_dup(a, c->name ? c->name : "");
            t->arguments = acc_clean_dup(a, c->args.len ? c->args.p : "{}");
            if (!t->id || !t->name || !t->arguments)
                goto out;
        }
    }
    const char *fr = a->finish_reason;
    if (!fr)
        fr = a->ncalls ? "tool_calls" : "stop";
    else if (a->ncalls && strcmp(fr, "stop") == 0)
        fr = "tool_calls"; /* Gemini says STOP for function calls */
    r->finish_reason = strdup(fr);
    r->model = a->model ? acc_clean_dup(a, a->model) : NULL;
    r->input_tokens = a->input_tokens;
    r->output_tokens = a->output_tokens;
    r->repaired = a->repaired;
    /* A stream without usage (llama-cpp-python 0.3.16 ignores stream_options.include_usage)
     * but one chunk per generated token: the chunks are the output count. */
    if (r->input_tokens <= 0 && r->output_tokens <= 0 && a->deltas > 0)
        r->output_tokens = (long)a->deltas;
    if (!r->finish_reason)
        goto out;
    rc = 0;
out:
    if (rc)
        llm_response_cleanup(r);
    return rc;
}

void llm_response_cleanup(struct llm_response *r)
{
    if (!r)
        return;
    free(r->content);
    for (size_t i = 0; i < r->ntool_calls; i++) {
        free(r->tool_calls[i].id);
        free(r->tool_calls[i].name);
        free(r->tool_calls[i].arguments);
    }
    free(r->tool_calls);
    free(r->finish_reason);
    free(r->model);
    memset(r, 0, sizeof(*r));
}

const char *llm_finish_normalize(const char *raw)
{
    if (!raw)
        return NULL;
    static const struct {
        const char *raw, *norm;
    } map[] = {
        {"stop", "stop"},
        {"end_turn", "stop"},
        {"stop_sequence", "stop"},
        {"STOP", "stop"},
        {"pause_turn", "stop"},
        {"length", "length"},
        {"max_tokens", "length"},
        {"MAX_TOKENS", "length"},
        {"model_context_window_exceeded", "length"},
        {"tool_calls", "tool_calls"},
        {"function_call", "tool_calls"},
        {"tool_use", "tool_calls"},
        {"content_filter", "content_filter"},
        {"refusal", "content_filter"},
        {"SAFETY", "content_filter"},
        {"RECITATION", "content_filter"},
        {"BLOCKLIST", "content_filter"},
        {"PROHIBITED_CONTENT", "content_filter"},
        {"SPII", "content_filter"},
        {"IMAGE_SAFETY", "content_filter"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(raw, map[i].raw) == 0)
            return map[i].norm;
    return "stop"; /* FINISH_REASON_UNSPECIFIED, OTHER, MALFORMED_FUNCTION_CALL, ... */
}

json_object *llm_json_get(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object))
        return NULL;
    if (!json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

json_object *llm_json_turn(json_object *msgs, const char *role, const char *list_key)
{
    size_t n = json_object_array_length(msgs);
    if (n > 0) {
        json_object *last = json_object_array_get_idx(msgs, n - 1);
        const char *r = json_field_str(last, "role");
        if (r && strcmp(r, role) == 0)
            return llm_json_get(last, list_key);
    }
    json_object *m = json_object_new_object();
    json_object *list = json_object_new_array();
    json_object_object_add(m, "role", json_object_new_string(role));
    json_object_object_add(m, list_key, list);
    json_object_array_add(msgs, m);
    return list;
}

struct curl_slist *llm_header_secret(struct curl_slist *h, const char *prefix, const char *secret)
{
    if (!secret || !*secret)
        return h;
    size_t n = strlen(prefix) + strlen(secret) + 1;
    char *line = malloc(n);
    if (line) {
        snprintf(line, n, "%s%s", prefix, secret);
        h = curl_slist_append(h, line);
        memset(line, 0, n);
        free(line);
    }
    return h;
}

json_object *llm_json_parse(const char *s, size_t len)
{
    if (!s || len == 0 || len > LLM_BODY_LIMIT)
        return NULL;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    json_object *o = json_tokener_parse_ex(tok, s, (int)len);
    if (json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(o);
        o = NULL;
    } else if (o && tok->char_offset < (int)len) {
        /* Only whitespace may follow the value. */
        for (size_t i = (size_t)tok->char_offset; i < len; i++) {
            if (!strchr(" \t\r\n", s[i])) {
                json_object_put(o);
                o = NULL;
                break;
            }
        }
    }
    json_text_repair_numbers(o); /* a model's "1." would go back to it, and to tools, as no JSON */
    json_tokener_free(tok);
    return o;
}

json_object *llm_json_args(const char *s)
{
    json_object *o = s ? llm_json_parse(s, strlen(s)) : NULL;
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = json_object_new_object();
    }
    json_text_repair(o); /* it goes into a request body: a NaN the model wrote is null */
    return o;
}

char *llm_json_dup(json_object *o)
{
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    return s ? strdup(s) : NULL;
}

static int contains_ci(const char *hay, const char *needle)
{
    return hay && strcasestr(hay, needle) != NULL;
}

int llm_classify_http(long status, const char *body, size_t len, char *msg, size_t msgcap)
{
    const char *m = NULL, *code = NULL, *type = NULL, *gstatus = NULL;
    json_object *root = llm_json_parse(body, len);
    json_object *err = llm_json_get(root, "error");
    if (err && json_object_is_type(err, json_type_object)) {
        m = json_field_str(err, "message");
        code = json_field_str(err, "code");
        type = json_field_str(err, "type");
        gstatus = json_field_str(err, "status");
    } else if (err && json_object_is_type(err, json_type_string)) {
        m = json_object_get_string(err);
    }
    if (msg && msgcap) { /* valid text (utf8.h), cut between characters, on one line */
        utf8_copy_valid(msg, msgcap, m ? m : "");
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = ' ';
    }
    int ctx = (code && strcmp(code, "context_length_exceeded") == 0) ||
              contains_ci(m, "context length") || contains_ci(m, "context_length") ||
              contains_ci(m, "context window") || contains_ci(m, "prompt is too long") ||
              contains_ci(m, "too many tokens") ||
              contains_ci(m, "exceeds the maximum number of tokens") ||
              contains_ci(m, "input token count");
    int badkey = contains_ci(m, "api key not valid") || contains_ci(m, "API_KEY_INVALID") ||
                 (type && strcmp(type, "authentication_error") == 0) ||
                 (gstatus && strcmp(gstatus, "UNAUTHENTICATED") == 0);
    if (!badkey && root) { /* Gemini puts the reason in error.details[].reason */
        const char *s = json_object_to_json_string(err);
        badkey = contains_ci(s, "API_KEY_INVALID");
    }
    json_object_put(root);

    if (status == 401 || status == 403 || badkey)
        return LLM_ERR_AUTH;
    if (status == 429)
        return LLM_ERR_RATE_LIMITED;
    if (status == 413 || ((status == 400 || status == 422) && ctx))
        return LLM_ERR_CONTEXT_TOO_LONG;
    if (status == 408 || status >= 500)
        return LLM_ERR_UNAVAILABLE;
    if (status >= 400)
        return LLM_ERR_INVALID_REQUEST;
    return LLM_ERR_BAD_RESPONSE;
}
