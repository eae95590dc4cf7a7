/* openai.c — the OpenAI chat completions wire format, used for OpenAI, OpenRouter and any
 * OpenAI-compatible server (vLLM, Ollama, llama.cpp).
 *
 * POST {base}/chat/completions, base defaulting to https://api.openai.com/v1 (OpenRouter:
 * https://openrouter.ai/api/v1). Streaming: "data: {chunk}" events ending with "data: [DONE]";
 * tool calls arrive as deltas keyed by "index" (the first fragment carries id and name, the
 * rest append to arguments); with stream_options.include_usage the last chunk before [DONE]
 * has "choices": [] and the usage. */
#include "provider.h"
#include "json_number.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *default_base(enum llm_provider p)
{
    return p == LLM_PROVIDER_OPENROUTER ? "https://openrouter.ai/api/v1"
                                        : "https://api.openai.com/v1";
}

static int openai_url(const struct llm_wire *w, char *buf, size_t cap)
{
    const char *base =
        w->cfg->base_url && *w->cfg->base_url ? w->cfg->base_url : default_base(w->cfg->provider);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    int n = snprintf(buf, cap, "%.*s/chat/completions", (int)bl, base);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

struct curl_slist *llm_openai_headers(const struct llm_config *cfg, struct curl_slist *h)
{
    h = curl_slist_append(h, "Content-Type: application/json");
    h = llm_header_secret(h, "Authorization: Bearer ", cfg->api_key);
    if (cfg->provider == LLM_PROVIDER_OPENROUTER) {
        const char *ref = getenv("AGENTHUB_PUBLIC_URL");
        char line[512];
        snprintf(line, sizeof(line), "HTTP-Referer: %s",
                 ref && *ref ? ref : "https://agenthub.local");
        h = curl_slist_append(h, line);
        h = curl_slist_append(h, "X-Title: AgentHub");
    }
    return h;
}

static struct curl_slist *openai_headers(const struct llm_wire *w, struct curl_slist *h)
{
    h = llm_openai_headers(w->cfg, h);
    if (w->stream)
        h = curl_slist_append(h, "Accept: text/event-stream");
    return h;
}

static const char *role_name(enum llm_role r)
{
    switch (r) {
    case LLM_ROLE_SYSTEM:
        return "system";
    case LLM_ROLE_USER:
        return "user";
    case LLM_ROLE_ASSISTANT:
        return "assistant";
    case LLM_ROLE_TOOL:
        return "tool";
    }
    return "user";
}

static char *openai_body(const struct llm_wire *w, char *err, size_t errlen)
{
    const struct llm_request *req = w->req;
    char *out = NULL;
    json_object *root = json_object_new_object();
    json_object *msgs = json_object_new_array();
    json_object_object_add(root, "model", json_object_new_string(w->model));
    json_object_object_add(root, "messages", msgs);
    for (size_t i = 0; i < req->nmessages; i++) {
        const struct llm_message *m = &req->messages[i];
        json_object *jm = json_object_new_object();
        json_object_array_add(msgs, jm);
        json_object_object_add(jm, "role", json_object_new_string(role_name(m->role)));
        if (m->content)
            json_object_object_add(jm, "content", json_object_new_string(m->content));
        else
            json_object_object_add(jm, "content",
                                   m->ntool_calls ? NULL : json_object_new_string(""));
        if (m->role == LLM_ROLE_ASSISTANT && m->ntool_calls) {
            json_object *tcs = json_object_new_array();
            for (size_t k = 0; k < m->ntool_calls; k++) {
                const struct llm_tool_call *tc = &m->tool_calls[k];
                json_object *jt = json_object_new_object();
                json_object *fn = json_object_new_object();
                json_object_object_add(jt, "id", json_object_new_string(tc->id ? tc->id : ""));
                json_object_object_add(jt, "type", json_object_new_string("function"));
                json_object_object_add(fn, "name",
                                       json_object_new_string(tc->name ? tc->name : ""));
                json_object_object_add(
                    fn, "arguments", json_object_new_string(tc->arguments ? tc->arguments : "{}"));
                json_object_object_add(jt, "function", fn);
                json_object_array_add(tcs, jt);
            }
            json_object_object_add(jm, "tool_calls", tcs);
        }
        if (m->role == LLM_ROLE_TOOL) {
            if (!m->tool_call_id) {
                snprintf(err, errlen, "tool message %zu has no tool_call_id", i);
                goto out;
            }
            json_object_object_add(jm, "tool_call_id", json_object_new_string(m->tool_call_id));
        }
    }
    if (req->ntools) {
        json_object *tools = json_object_new_array();
        for (size_t i = 0; i < req->ntools; i++) {
            const struct llm_tool_def *t = &req->tools[i];
            json_object *jt = json_object_new_object();
            json_object *fn = json_object_new_object();
            json_object_object_add(jt, "type", json_object_new_string("function"));
            json_object_object_add(fn, "name", json_object_new_string(t->name ? t->name : ""));
            if (t->description)
                json_object_object_add(fn, "description", json_object_new_string(t->description));
            json_object_object_add(fn, "parameters", llm_json_args(t->parameters));
            json_object_object_add(jt, "function", fn);
            json_object_array_add(tools, jt);
        }
        json_object_object_add(root, "tools", tools);
    }
    if (req->temperature >= 0)
        json_object_object_add(root, "temperature", json_decimal(req->temperature, 6));
    else if (w->cfg->temperature >= 0)
        json_object_object_add(root, "temperature", json_decimal(w->cfg->temperature, 6));
    int maxt = req->max_tokens > 0 ? req->max_tokens : w->cfg->max_tokens;
    if (maxt > 0)
        json_object_object_add(root, "max_tokens", json_object_new_int(maxt));
    if (req->json_mode) {
        json_object *rf = json_object_new_object();
        json_object_object_add(rf, "type", json_object_new_string("json_object"));
        json_object_object_add(root, "response_format", rf);
    }
    if (w->stream) {
        json_object *so = json_object_new_object();
        json_object_object_add(root, "stream", json_object_new_boolean(1));
        json_object_object_add(so, "include_usage", json_object_new_boolean(1));
        json_object_object_add(root, "stream_options", so);
    }
    out = llm_json_dup(root);
    if (!out)
        snprintf(err, errlen, "out of memory");
out:
    json_object_put(root);
    return out;
}

/* A provider error object inside a 200 answer (OpenRouter does this mid-stream). */
int llm_take_stream_error(struct llm_acc *a, json_object *err)
{
    long status = 500;
    json_object *c = llm_json_get(err, "code");
    if (c && json_object_is_type(c, json_type_int) && json_object_get_int(c) >= 400)
        status = json_object_get_int(c);
    const char *e = json_object_to_json_string_ext(err, JSON_C_TO_STRING_PLAIN);
    size_t n = strlen(e) + 16;
    char *body = malloc(n);
    if (!body)
        return a->stream_error = LLM_ERR_UNAVAILABLE;
    snprintf(body, n, "{\"error\":%s}", e);
    a->stream_error =
        llm_classify_http(status, body, strlen(body), a->stream_errmsg, sizeof(a->stream_errmsg));
    free(body);
    return a->stream_error;
}

static int openai_parse(struct llm_acc *a, json_object *root)
{
    json_object *err = llm_json_get(root, "error");
    if (err && json_object_is_type(err, json_type_object))
        return llm_take_stream_error(a, err);
    json_object *choices = llm_json_get(root, "choices");
    if (!choices || !json_object_is_type(choices, json_type_array) ||
        json_object_array_length(choices) < 1)
        return LLM_ERR_BAD_RESPONSE;
    json_object *ch = json_object_array_get_idx(choices, 0);
    json_object *msg = llm_json_get(ch, "message");
    if (!msg || !json_object_is_type(msg, json_type_object))
        return LLM_ERR_BAD_RESPONSE;
    llm_acc_set(&a->model, json_field_str(root, "model"));
    const char *content = json_field_str(msg, "content");
    if (content && llm_buf_add(&a->content, content, strlen(content), LLM_BODY_LIMIT) != 0)
        return LLM_ERR_BAD_RESPONSE;
    json_object *tcs = llm_json_get(msg, "tool_calls");
    if (tcs && json_object_is_type(tcs, json_type_array)) {
        size_t n = json_object_array_length(tcs);
        for (size_t i = 0; i < n; i++) {
            json_object *tc = json_object_array_get_idx(tcs, i);
            json_object *fn = llm_json_get(tc, "function");
            struct llm_acc_call *c = llm_acc_call(a, (int)i);
            if (!c || !fn)
                return LLM_ERR_BAD_RESPONSE;
            llm_acc_set(&c->id, json_field_str(tc, "id"));
            llm_acc_set(&c->name, json_field_str(fn, "name"));
            const char *args = json_field_str(fn, "arguments");
            if (args && llm_buf_add(&c->args, args, strlen(args), LLM_BODY_LIMIT) != 0)
                return LLM_ERR_BAD_RESPONSE;
        }
    }
    llm_acc_finish_reason(a, json_field_str(ch, "finish_reason"));
    llm_acc_usage(a, llm_json_get(root, "usage"), "prompt_tokens", "completion_tokens");
    a->done = 1;
    return 0;
}

static int openai_event(struct llm_acc *a, const char *event, const char *data, size_t len)
{
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        a->done = 1;
        return 0;
    }
    json_object *root = llm_json_parse(data, len);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return LLM_ERR_BAD_RESPONSE;
    }
    int rc = 0;
    json_object *err = llm_json_get(root, "error");
    if (err && json_object_is_type(err, json_type_object)) {
        rc = llm_take_stream_error(a, err);
        goto out;
    }
    llm_acc_set(&a->model, json_field_str(root, "model"));
    llm_acc_usage(a, llm_json_get(root, "usage"), "prompt_tokens", "completion_tokens");
    json_object *choices = llm_json_get(root, "choices");
    if (!choices || !json_object_is_type(choices, json_type_array))
        goto out;
    size_t nch = json_object_array_length(choices);
    for (size_t ci = 0; ci < nch; ci++) {
        json_object *ch = json_object_array_get_idx(choices, ci);
        json_object *idx = llm_json_get(ch, "index");
        if (idx && json_object_get_int(idx) != 0)
            continue; /* n > 1 is never asked for */
        json_object *delta = llm_json_get(ch, "delta");
        const char *text = json_field_str(delta, "content");
        if (text && (rc = llm_acc_text(a, text, strlen(text))) != 0)
            goto out;
        json_object *tcs = llm_json_get(delta, "tool_calls");
        if (tcs && json_object_is_type(tcs, json_type_array)) {
            size_t n = json_object_array_length(tcs);
            for (size_t i = 0; i < n; i++) {
                json_object *tc = json_object_array_get_idx(tcs, i);
                json_object *ix = llm_json_get(tc, "index");
                int key = ix ? json_object_get_int(ix) : (int)i;
                struct llm_acc_call *c = llm_acc_call(a, key);
                if (!c) {
                    rc = LLM_ERR_BAD_RESPONSE;
                    goto out;
                }
                const char *id = json_field_str(tc, "id");
                if (id && *id && c->id && strcmp(c->id, id) != 0) {
                    /* Some compatible servers (Ollama) reuse index 0 for every call of a
                     * parallel batch: a new id at a used index starts a new call. */
                    c->key = -1 - (int)a->ncalls;
                    c = llm_acc_call(a, key);
                    if (!c) {
                        rc = LLM_ERR_BAD_RESPONSE;
                        goto out;
                    }
                }
                if (id && *id)
                    llm_acc_set(&c->id, id);
                json_object *fn = llm_json_get(tc, "function");
                const char *name = json_field_str(fn, "name");
                if (name && *name)
                    llm_acc_set(&c->name, name);
                const char *args = json_field_str(fn, "arguments");
                if (args && llm_buf_add(&c->args, args, strlen(args), LLM_BODY_LIMIT) != 0) {
                    rc = LLM_ERR_BAD_RESPONSE;
                    goto out;
                }
            }
        }
        llm_acc_finish_reason(a, json_field_str(ch, "finish_reason"));
    }
out:
    json_object_put(root);
    return rc;
}

const struct llm_provider_ops llm_openai_ops = {
    .name = "openai",
    .url = openai_url,
    .headers = openai_headers,
    .body = openai_body,
    .parse = openai_parse,
    .event = openai_event,
};
