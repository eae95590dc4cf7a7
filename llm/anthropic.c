/* anthropic.c — the Anthropic Messages API wire format.
 *
 * POST {base}/v1/messages (base defaults to https://api.anthropic.com; a base ending in /v1 is
 * accepted too) with x-api-key and anthropic-version headers. System messages go to the
 * top-level "system"; tool calls are tool_use content blocks on assistant turns and tool
 * results are tool_result blocks on user turns (consecutive turns of one role are merged, as
 * the API wants strict alternation). Streaming events: message_start, content_block_start,
 * content_block_delta (text_delta / input_json_delta), content_block_stop, message_delta
 * (stop_reason, usage), message_stop, ping, error. */
#include "provider.h"
#include "json_number.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANTHROPIC_VERSION "2023-06-01"
#define ANTHROPIC_DEFAULT_MAX_TOKENS 1024

static int anthropic_url(const struct llm_wire *w, char *buf, size_t cap)
{
    const char *base =
        w->cfg->base_url && *w->cfg->base_url ? w->cfg->base_url : "https://api.anthropic.com";
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    if (bl >= 3 && memcmp(base + bl - 3, "/v1", 3) == 0)
        bl -= 3;
    int n = snprintf(buf, cap, "%.*s/v1/messages", (int)bl, base);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static struct curl_slist *anthropic_headers(const struct llm_wire *w, struct curl_slist *h)
{
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "anthropic-version: " ANTHROPIC_VERSION);
    h = llm_header_secret(h, "x-api-key: ", w->cfg->api_key);
    if (w->stream)
        h = curl_slist_append(h, "Accept: text/event-stream");
    return h;
}

static void add_text(json_object *blocks, const char *text)
{
    if (!text || !*text)
        return; /* the API rejects empty text blocks */
    json_object *b = json_object_new_object();
    json_object_object_add(b, "type", json_object_new_string("text"));
    json_object_object_add(b, "text", json_object_new_string(text));
    json_object_array_add(blocks, b);
}

static char *anthropic_body(const struct llm_wire *w, char *err, size_t errlen)
{
    const struct llm_request *req = w->req;
    char *out = NULL;
    struct llm_buf sys = {0};
    json_object *root = json_object_new_object();
    json_object *msgs = json_object_new_array();
    json_object_object_add(root, "model", json_object_new_string(w->model));
    int maxt = req->max_tokens > 0 ? req->max_tokens : w->cfg->max_tokens;
    json_object_object_add(root, "max_tokens",
                           json_object_new_int(maxt > 0 ? maxt : ANTHROPIC_DEFAULT_MAX_TOKENS));
    for (size_t i = 0; i < req->nmessages; i++) {
        const struct llm_message *m = &req->messages[i];
        switch (m->role) {
        case LLM_ROLE_SYSTEM:
            if (m->content) {
                if (sys.len)
                    llm_buf_add(&sys, "\n\n", 2, LLM_BODY_LIMIT);
                llm_buf_add(&sys, m->content, strlen(m->content), LLM_BODY_LIMIT);
            }
            break;
        case LLM_ROLE_USER:
            add_text(llm_json_turn(msgs, "user", "content"), m->content ? m->content : " ");
            break;
        case LLM_ROLE_ASSISTANT: {
            json_object *blocks = llm_json_turn(msgs, "assistant", "content");
            add_text(blocks, m->content);
            for (size_t k = 0; k < m->ntool_calls; k++) {
                const struct llm_tool_call *tc = &m->tool_calls[k];
                json_object *b = json_object_new_object();
                json_object_object_add(b, "type", json_object_new_string("tool_use"));
                json_object_object_add(b, "id", json_object_new_string(tc->id ? tc->id : ""));
                json_object_object_add(b, "name", json_object_new_string(tc->name ? tc->name : ""));
                json_object_object_add(b, "input", llm_json_args(tc->arguments));
                json_object_array_add(blocks, b);
            }
            break;
        }
        case LLM_ROLE_TOOL: {
            if (!m->tool_call_id) {
                snprintf(err, errlen, "tool message %zu has no tool_call_id", i);
                goto out;
            }
            json_object *b = json_object_new_object();
            json_object_object_add(b, "type", json_object_new_string("tool_result"));
            json_object_object_add(b, "tool_use_id", json_object_new_string(m->tool_call_id));
            json_object_object_add(b, "content",
                                   json_object_new_string(m->content ? m->content : ""));
            json_object_array_add(llm_json_turn(msgs, "user", "content"), b);
            break;
        }
        }
    }
    if (req->json_mode) {
        const char *j = "Respond with one JSON object only, no other text.";
        if (sys.len)
            llm_buf_add(&sys, "\n\n", 2, LLM_BODY_LIMIT);
        llm_buf_add(&sys, j, strlen(j), LLM_BODY_LIMIT);
    }
    if (sys.len)
        json_object_object_add(root, "system", json_object_new_string(sys.p));
    json_object_object_add(root, "messages", msgs);
    msgs = NULL;
    if (req->ntools) {
        json_object *tools = json_object_new_array();
        for (size_t i = 0; i < req->ntools; i++) {
            const struct llm_tool_def *t = &req->tools[i];
            json_object *jt = json_object_new_object();
            json_object_object_add(jt, "name", json_object_new_string(t->name ? t->name : ""));
            if (t->description)
                json_object_object_add(jt, "description", json_object_new_string(t->description));
            json_object_object_add(jt, "input_schema", llm_json_args(t->parameters));
            json_object_array_add(tools, jt);
        }
        json_object_object_add(root, "tools", tools);
    }
    double temp = req->temperature >= 0 ? req->temperature : w->cfg->temperature;
    if (temp >= 0)
        json_object_object_add(root, "temperature", json_decimal(temp > 1 ? 1 : temp, 6));
    if (w->stream)
        json_object_object_add(root, "stream", json_object_new_boolean(1));
    out = llm_json_dup(root);
    if (!out)
        snprintf(err, errlen, "out of memory");
out:
    json_object_put(msgs);
    json_object_put(root);
    llm_buf_free(&sys);
    return out;
}

/* {"type":"error","error":{"type":"overloaded_error","message":...}} -> an llm_status. */
static int take_error(struct llm_acc *a, json_object *err)
{
    const char *t = json_field_str(err, "type");
    long status = 500;
    if (t) {
        if (strcmp(t, "overloaded_error") == 0)
            status = 529;
        else if (strcmp(t, "rate_limit_error") == 0)
            status = 429;
        else if (strcmp(t, "authentication_error") == 0)
            status = 401;
        else if (strcmp(t, "permission_error") == 0)
            status = 403;
        else if (strcmp(t, "invalid_request_error") == 0)
            status = 400;
        else if (strcmp(t, "request_too_large") == 0)
            status = 413;
    }
    json_object *cp = json_object_new_object();
    json_object_object_add(cp, "code", json_object_new_int((int)status));
    const char *m = json_field_str(err, "message");
    if (m)
        json_object_object_add(cp, "message", json_object_new_string(m));
    if (t)
        json_object_object_add(cp, "type", json_object_new_string(t));
    int rc = llm_take_stream_error(a, cp);
    json_object_put(cp);
    return rc;
}

static int anthropic_parse(struct llm_acc *a, json_object *root)
{
    const char *type = json_field_str(root, "type");
    if (type && strcmp(type, "error") == 0)
        return take_error(a, llm_json_get(root, "error"));
    json_object *content = llm_json_get(root, "content");
    if (!content || !json_object_is_type(content, json_type_array))
        return LLM_ERR_BAD_RESPONSE;
    llm_acc_set(&a->model, json_field_str(root, "model"));
    size_t n = json_object_array_length(content);
    for (size_t i = 0; i < n; i++) {
        json_object *b = json_object_array_get_idx(content, i);
        const char *bt = json_field_str(b, "type");
        if (!bt)
            return LLM_ERR_BAD_RESPONSE;
        if (strcmp(bt, "text") == 0) {
            const char *t = json_field_str(b, "text");
            if (t && llm_buf_add(&a->content, t, strlen(t), LLM_BODY_LIMIT) != 0)
                return LLM_ERR_BAD_RESPONSE;
        } else if (strcmp(bt, "tool_use") == 0) {
            struct llm_acc_call *c = llm_acc_call(a, (int)i);
            json_object *input = llm_json_get(b, "input");
            if (!c || !input)
                return LLM_ERR_BAD_RESPONSE;
            llm_acc_set(&c->id, json_field_str(b, "id"));
            llm_acc_set(&c->name, json_field_str(b, "name"));
            const char *s = json_object_to_json_string_ext(input, JSON_C_TO_STRING_PLAIN);
            if (llm_buf_add(&c->args, s, strlen(s), LLM_BODY_LIMIT) != 0)
                return LLM_ERR_BAD_RESPONSE;
        }
    }
    llm_acc_finish_reason(a, json_field_str(root, "stop_reason"));
    llm_acc_usage(a, llm_json_get(root, "usage"), "input_tokens", "output_tokens");
    a->done = 1;
    return 0;
}

static int anthropic_event(struct llm_acc *a, const char *event, const char *data, size_t len)
{
    json_object *root = llm_json_parse(data, len);
    int rc = 0;
    if (!root || !json_object_is_type(root, json_type_object)) {
        rc = LLM_ERR_BAD_RESPONSE;
        goto out;
    }
    const char *type = json_field_str(root, "type");
    if (!type)
        type = event;
    if (strcmp(type, "message_start") == 0) {
        json_object *m = llm_json_get(root, "message");
        llm_acc_set(&a->model, json_field_str(m, "model"));
        llm_acc_usage(a, llm_json_get(m, "usage"), "input_tokens", "output_tokens");
    } else if (strcmp(type, "content_block_start") == 0) {
        json_object *b = llm_json_get(root, "content_block");
        json_object *ix = llm_json_get(root, "index");
        const char *bt = json_field_str(b, "type");
        if (bt && strcmp(bt, "tool_use") == 0) {
            struct llm_acc_call *c = llm_acc_call(a, ix ? json_object_get_int(ix) : 0);
            if (!c) {
                rc = LLM_ERR_BAD_RESPONSE;
                goto out;
            }
            llm_acc_set(&c->id, json_field_str(b, "id"));
            llm_acc_set(&c->name, json_field_str(b, "name"));
        } else if (bt && strcmp(bt, "text") == 0) {
            const char *t = json_field_str(b, "text");
            if (t)
                rc = llm_acc_text(a, t, strlen(t));
        }
    } else if (strcmp(type, "content_block_delta") == 0) {
        json_object *d = llm_json_get(root, "delta");
        json_object *ix = llm_json_get(root, "index");
        const char *dt = json_field_str(d, "type");
        if (!dt) {
            rc = LLM_ERR_BAD_RESPONSE;
        } else if (strcmp(dt, "text_delta") == 0) {
            const char *t = json_field_str(d, "text");
            if (t)
                rc = llm_acc_text(a, t, strlen(t));
        } else if (strcmp(dt, "input_json_delta") == 0) {
            struct llm_acc_call *c = llm_acc_call(a, ix ? json_object_get_int(ix) : 0);
            const char *pj = json_field_str(d, "partial_json");
            if (!c || (pj && llm_buf_add(&c->args, pj, strlen(pj), LLM_BODY_LIMIT) != 0))
                rc = LLM_ERR_BAD_RESPONSE;
        }
        /* thinking_delta, signature_delta, citations_delta: not surfaced */
    } else if (strcmp(type, "message_delta") == 0) {
        llm_acc_finish_reason(a, json_field_str(llm_json_get(root, "delta"), "stop_reason"));
        llm_acc_usage(a, llm_json_get(root, "usage"), "input_tokens", "output_tokens");
    } else if (strcmp(type, "message_stop") == 0) {
        a->done = 1;
    } else if (strcmp(type, "error") == 0) {
        rc = take_error(a, llm_json_get(root, "error"));
    }
    /* ping, content_block_stop and unknown events need nothing. */
out:
    json_object_put(root);
    return rc;
}

const struct llm_provider_ops llm_anthropic_ops = {
    .name = "anthropic",
    .url = anthropic_url,
    .headers = anthropic_headers,
    .body = anthropic_body,
    .parse = anthropic_parse,
    .event = anthropic_event,
};
