/* gemini.c — the Google Gemini generateContent wire format.
 *
 * POST {base}/v1beta/models/{model}:generateContent, or :streamGenerateContent?alt=sse for
 * SSE (every event is a whole GenerateContentResponse; there is no [DONE]: the stream is
 * complete once a candidate carries a finishReason). Auth: x-goog-api-key. Roles are "user"
 * and "model"; tool calls are functionCall parts, tool results functionResponse parts (which
 * need the function's name), tools go in tools[].functionDeclarations. Gemini has no tool call
 * ids (newer models may send one): they are made up as call_<n>. */
#include "provider.h"
#include "json_number.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int gemini_url(const struct llm_wire *w, char *buf, size_t cap)
{
    const char *base = w->cfg->base_url && *w->cfg->base_url
                           ? w->cfg->base_url
                           : "https://generativelanguage.googleapis.com";
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    int versioned = (bl >= 7 && memcmp(base + bl - 7, "/v1beta", 7) == 0) ||
                    (bl >= 3 && memcmp(base + bl - 3, "/v1", 3) == 0);
    const char *model = w->model;
    if (strncmp(model, "models/", 7) == 0)
        model += 7;
    int n = snprintf(buf, cap, "%.*s%s/models/%s:%s", (int)bl, base, versioned ? "" : "/v1beta",
                     model, w->stream ? "streamGenerateContent?alt=sse" : "generateContent");
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

struct curl_slist *llm_gemini_headers(const struct llm_config *cfg, struct curl_slist *h)
{
    h = curl_slist_append(h, "Content-Type: application/json");
    h = llm_header_secret(h, "x-goog-api-key: ", cfg->api_key);
    return h;
}

static struct curl_slist *gemini_headers(const struct llm_wire *w, struct curl_slist *h)
{
    h = llm_gemini_headers(w->cfg, h);
    if (w->stream)
        h = curl_slist_append(h, "Accept: text/event-stream");
    return h;
}

/* Gemini's schema dialect (an OpenAPI subset) rejects some JSON Schema keywords. */
static void schema_clean(json_object *o)
{
    if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++)
            schema_clean(json_object_array_get_idx(o, i));
        return;
    }
    if (!json_object_is_type(o, json_type_object))
        return;
    static const char *drop[] = {"$schema", "$id", "additionalProperties", "examples", "$comment"};
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        json_object_object_del(o, drop[i]);
    json_object_object_foreach(o, k, v)
    {
        (void)k;
        schema_clean(v);
    }
}

/* The name of the tool a tool result answers: its own, or the matching earlier call's. */
static const char *result_name(const struct llm_request *req, size_t upto)
{
    const struct llm_message *m = &req->messages[upto];
    if (m->name)
        return m->name;
    for (size_t i = upto; i-- > 0;) {
        const struct llm_message *p = &req->messages[i];
        for (size_t k = 0; k < p->ntool_calls; k++)
            if (p->tool_calls[k].id && m->tool_call_id &&
                strcmp(p->tool_calls[k].id, m->tool_call_id) == 0)
                return p->tool_calls[k].name;
    }
    return NULL;
}

static char *gemini_body(const struct llm_wire *w, char *err, size_t errlen)
{
    const struct llm_request *req = w->req;
    char *out = NULL;
    struct llm_buf sys = {0};
    json_object *root = json_object_new_object();
    json_object *contents = json_object_new_array();
    json_object_object_add(root, "contents", contents);
    for (size_t i = 0; i < req->nmessages; i++) {
        const struct llm_message *m = &req->messages[i];
        json_object *part;
        switch (m->role) {
        case LLM_ROLE_SYSTEM:
            if (m->content) {
                if (sys.len)
                    llm_buf_add(&sys, "\n\n", 2, LLM_BODY_LIMIT);
                llm_buf_add(&sys, m->content, strlen(m->content), LLM_BODY_LIMIT);
            }
            break;
        case LLM_ROLE_USER:
            part = json_object_new_object();
            json_object_object_add(part, "text",
                                   json_object_new_string(m->content ? m->content : ""));
            json_object_array_add(llm_json_turn(contents, "user", "parts"), part);
            break;
        case LLM_ROLE_ASSISTANT: {
            json_object *parts = llm_json_turn(contents, "model", "parts");
            if (m->content && *m->content) {
                part = json_object_new_object();
                json_object_object_add(part, "text", json_object_new_string(m->content));
                json_object_array_add(parts, part);
            }
            for (size_t k = 0; k < m->ntool_calls; k++) {
                const struct llm_tool_call *tc = &m->tool_calls[k];
                json_object *fc = json_object_new_object();
                json_object_object_add(fc, "name",
                                       json_object_new_string(tc->name ? tc->name : ""));
                json_object_object_add(fc, "args", llm_json_args(tc->arguments));
                part = json_object_new_object();
                json_object_object_add(part, "functionCall", fc);
                json_object_array_add(parts, part);
            }
            break;
        }
        case LLM_ROLE_TOOL: {
            const char *name = result_name(req, i);
            if (!name) {
                snprintf(err, errlen, "tool message %zu names no tool (Gemini needs it)", i);
                goto out;
            }
            json_object *resp = m->content ? llm_json_parse(m->content, strlen(m->content)) : NULL;
            if (!resp || !json_object_is_type(resp, json_type_object)) {
                json_object_put(resp);
                resp = json_object_new_object();
                json_object_object_add(resp, "result",
                                       json_object_new_string(m->content ? m->content : ""));
            }
            json_object *fr = json_object_new_object();
            json_object_object_add(fr, "name", json_object_new_string(name));
            json_object_object_add(fr, "response", resp);
            part = json_object_new_object();
            json_object_object_add(part, "functionResponse", fr);
            json_object_array_add(llm_json_turn(contents, "user", "parts"), part);
            break;
        }
        }
    }
    if (sys.len) {
        json_object *si = json_object_new_object();
        json_object *parts = json_object_new_array();
        json_object *p = json_object_new_object();
        json_object_object_add(p, "text", json_object_new_string(sys.p));
        json_object_array_add(parts, p);
        json_object_object_add(si, "parts", parts);
        json_object_object_add(root, "systemInstruction", si);
    }
    if (req->ntools) {
        json_object *decls = json_object_new_array();
        for (size_t i = 0; i < req->ntools; i++) {
            const struct llm_tool_def *t = &req->tools[i];
            json_object *d = json_object_new_object();
            json_object_object_add(d, "name", json_object_new_string(t->name ? t->name : ""));
            if (t->description)
                json_object_object_add(d, "description", json_object_new_string(t->description));
            json_object *params = llm_json_args(t->parameters);
            schema_clean(params);
            json_object_object_add(d, "parameters", params);
            json_object_array_add(decls, d);
        }
        json_object *tools = json_object_new_array();
        json_object *tool = json_object_new_object();
        json_object_object_add(tool, "functionDeclarations", decls);
        json_object_array_add(tools, tool);
        json_object_object_add(root, "tools", tools);
    }
    json_object *gc = json_object_new_object();
    double temp = req->temperature >= 0 ? req->temperature : w->cfg->temperature;
    if (temp >= 0)
        json_object_object_add(gc, "temperature", json_decimal(temp, 6));
    int maxt = req->max_tokens > 0 ? req->max_tokens : w->cfg->max_tokens;
    if (maxt > 0)
        json_object_object_add(gc, "maxOutputTokens", json_object_new_int(maxt));
    if (req->json_mode)
        json_object_object_add(gc, "responseMimeType", json_object_new_string("application/json"));
    if (json_object_object_length(gc) > 0)
        json_object_object_add(root, "generationConfig", gc);
    else
        json_object_put(gc);
    out = llm_json_dup(root);
    if (!out)
        snprintf(err, errlen, "out of memory");
out:
    json_object_put(root);
    llm_buf_free(&sys);
    return out;
}

/* One GenerateContentResponse (a whole answer, or one stream event). */
static int take_response(struct llm_acc *a, json_object *root, int streaming)
{
    json_object *err = llm_json_get(root, "error");
    if (err && json_object_is_type(err, json_type_object))
        return llm_take_stream_error(a, err);
    llm_acc_set(&a->model, json_field_str(root, "modelVersion"));
    json_object *um = llm_json_get(root, "usageMetadata");
    llm_acc_usage(a, um, "promptTokenCount", "candidatesTokenCount");
    json_object *cands = llm_json_get(root, "candidates");
    if (!cands || !json_object_is_type(cands, json_type_array) ||
        json_object_array_length(cands) < 1) {
        json_object *pf = llm_json_get(root, "promptFeedback");
        if (json_field_str(pf, "blockReason")) { /* the prompt itself was blocked */
            llm_acc_set(&a->finish_reason, "content_filter");
            a->saw_finish = a->done = 1;
            return 0;
        }
        return streaming && um ? 0 : LLM_ERR_BAD_RESPONSE;
    }
    json_object *cand = json_object_array_get_idx(cands, 0);
    json_object *parts = llm_json_get(llm_json_get(cand, "content"), "parts");
    if (parts && json_object_is_type(parts, json_type_array)) {
        size_t n = json_object_array_length(parts);
        for (size_t i = 0; i < n; i++) {
            json_object *p = json_object_array_get_idx(parts, i);
            json_object *thought = llm_json_get(p, "thought");
            if (thought && json_object_get_boolean(thought))
                continue;
            const char *text = json_field_str(p, "text");
            json_object *fc = llm_json_get(p, "functionCall");
            if (text) {
                int rc = streaming ? llm_acc_text(a, text, strlen(text))
                                   : llm_buf_add(&a->content, text, strlen(text), LLM_BODY_LIMIT);
                if (rc)
                    return LLM_ERR_BAD_RESPONSE;
            } else if (fc) {
                struct llm_acc_call *c = llm_acc_call(a, (int)a->ncalls);
                const char *name = json_field_str(fc, "name");
                if (!c || !name)
                    return LLM_ERR_BAD_RESPONSE;
                char idbuf[32];
                snprintf(idbuf, sizeof(idbuf), "call_%zu", a->ncalls - 1);
                const char *id = json_field_str(fc, "id");
                llm_acc_set(&c->id, id && *id ? id : idbuf);
                llm_acc_set(&c->name, name);
                json_object *args = llm_json_get(fc, "args");
                const char *s =
                    args ? json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN) : "{}";
                if (llm_buf_add(&c->args, s, strlen(s), LLM_BODY_LIMIT) != 0)
                    return LLM_ERR_BAD_RESPONSE;
            }
        }
    }
    if (llm_acc_finish_reason(a, json_field_str(cand, "finishReason")))
        a->done = 1;
    if (!streaming)
        a->done = 1;
    return 0;
}

static int gemini_parse(struct llm_acc *a, json_object *root)
{
    return take_response(a, root, 0);
}

static int gemini_event(struct llm_acc *a, const char *event, const char *data, size_t len)
{
    json_object *root = llm_json_parse(data, len);
    int rc = LLM_ERR_BAD_RESPONSE;
    if (root && json_object_is_type(root, json_type_object))
        rc = take_response(a, root, 1);
    json_object_put(root);
    return rc;
}

const struct llm_provider_ops llm_gemini_ops = {
    .name = "gemini",
    .url = gemini_url,
    .headers = gemini_headers,
    .body = gemini_body,
    .parse = gemini_parse,
    .event = gemini_event,
};
