/* routes_openai.c — the OpenAI-compatible API: GET /v1/models[/{model}], POST
 * /v1/chat/completions (ingress/README.md documents every field).
 *
 * The caller's tenant comes from its credential (a JWT or a tenant API key), never from the
 * URL; an operator token has no tenant and is refused (403). A completion is a chat job like
 * POST /api/{tenant}/chat's: the same accept path (chat_submit: group commit, the same topics,
 * the same rows), then either
 *   - stream: true: the job's events (Redis stream, woken by the hub like the SSE route)
 *     translated into chat.completion.chunk objects as they come — `delta` events become
 *     delta.content, `final` the finish_reason chunk (then the usage chunk when
 *     stream_options.include_usage), then `data: [DONE]`;
 *   - otherwise: the job's final state, waited for at most INGRESS_OPENAI_WAIT_S, as one
 *     chat.completion object (usage from the agent's real token counts, metadata.tokens).
 * AgentHub's own metadata rides in an extension member "agenthub" that OpenAI clients ignore.
 *
 * Models: "agenthub" routes through the supervisor (intent classification), and
 * "agenthub/<AgentName>" for each agent the tenant may use (enabled, permitted, active) sends
 * the job straight to that agent (chat.request payload "agent"; the router checks the
 * permission again).
 *
 * Conversation: stateless by default. `messages` is the history; the last message (role
 * user) is the question. Each request makes a fresh session holding that question and its
 * answer; the earlier turns travel in the chat.request payload ("history") and the agent uses
 * them instead of the session's stored messages (agents/job.c). Chosen over writing the
 * history into the session first: the accept path stays one statement per batch, and
 * a client's retelling of the past is never stored as if AgentHub had said it. With the
 * header X-AgentHub-Session: <session id> (or "new") the server-side session is the history
 * instead: only the last message of `messages` is used. Every answer names its session in
 * the X-AgentHub-Session response header and in agenthub.session_id.
 */
#include "ingress.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jobevents.h"
#include "json_field.h"
#include "sse.h"
#include "strbuf.h"
#include "utf8.h"
#include "uuid.h"

#define OPENAI_MODEL_SUPERVISOR "agenthub"
#define OPENAI_MODEL_PREFIX "agenthub/"
#define OPENAI_MAX_MESSAGES 200
#define OPENAI_MAX_CHARS 32000 /* the question, as /api/{tenant}/chat's message */
#define OPENAI_MAX_HISTORY 50  /* earlier turns carried to the agent (it uses its last N) */
#define OPENAI_SESSION_HEADER "X-AgentHub-Session"

/* ---- caller ---------------------------------------------------------------------------------- */

/* Authenticates and gives the caller's tenant (active) in tenant. 0, or -1 answered. */
static int openai_caller(struct req *r, char *tenant, size_t cap)
{
    if (req_auth(r, NULL) != 0)
        return -1;
    if (r->claims.operator|| !r->claims.tenant_id[0]) {
        reply_error(r, 403, "forbidden",
                    "an operator token has no tenant: use a tenant's token "
                    "or API key");
        return -1;
    }
    snprintf(tenant, cap, "%s", r->claims.tenant_id);
    /* the access log line is written after the route returns: the request's own copy */
    r->log.tenant_id = r->claims.tenant_id;
    /* the tenant must be active (cached: INGRESS_TENANT_CACHE_MS) */
    return req_tenant_active(r, tenant);
}

/* The tenant's usable agents: [{name, description, created}] ordered by name. NULL answered. */
static json_object *tenant_agents(struct req *r, const char *tenant)
{
    PGresult *res = NULL;
    char err[256];
    const char *p[] = {tenant};
    int st =
        pgpool_exec(r->app->db, &res,
                    "SELECT a.name, a.description, "
                    "extract(epoch FROM a.created_at)::bigint AS created "
                    "FROM agent_configs a JOIN tenant_agent_permissions t "
                    "ON t.agent_id = a.agent_id WHERE t.tenant_id = $1 AND t.enabled "
                    "AND a.is_active AND (a.owner_tenant_id IS NULL OR a.owner_tenant_id = $1) "
                    "ORDER BY a.name",
                    1, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "agents");
        return NULL;
    }
    json_object *a = pg_rows_json(res);
    PQclear(res);
    return a;
}

static json_object *model_object(const char *id, long created, const char *agent,
                                 const char *description)
{
    json_object *m = json_object_new_object(), *x = json_object_new_object();
    json_object_object_add(m, "id", json_object_new_string(id));
    json_object_object_add(m, "object", json_object_new_string("model"));
    json_object_object_add(m, "created", json_object_new_int64(created));
    json_object_object_add(m, "owned_by", json_object_new_string("agenthub"));
    json_object_object_add(x, "route", json_object_new_string(agent ? "agent" : "supervisor"));
    if (agent)
        json_object_object_add(x, "agent", json_object_new_string(agent));
    if (description)
        json_object_object_add(x, "description", json_object_new_string(description));
    json_object_object_add(m, "agenthub", x);
    return m;
}

/* The model list: "agenthub", then "agenthub/<Name>" per agent. */
static json_object *model_list(json_object *agents)
{
    json_object *data = json_object_new_array();
    long oldest = 0;
    char id[160];
    for (size_t i = 0; i < json_object_array_length(agents); i++) {
        long c = (long)json_object_get_int64(
            json_object_object_get(json_object_array_get_idx(agents, i), "created"));
        if (!oldest || c < oldest)
            oldest = c;
    }
    json_object_array_add(data, model_object(OPENAI_MODEL_SUPERVISOR, oldest ? oldest : 0, NULL,
                                             "the supervisor routes each message to an agent"));
    for (size_t i = 0; i < json_object_array_length(agents); i++) {
        json_object *a = json_object_array_get_idx(agents, i);
        const char *name = json_field_str(a, "name");
        snprintf(id, sizeof id, OPENAI_MODEL_PREFIX "%s", name ? name : "");
        json_object_array_add(
            data,
            model_object(id, (long)json_object_get_int64(json_object_object_get(a, "created")),
                         name, json_field_str(a, "description")));
    }
    return data;
}

static void models(struct req *r)
{
    char tenant[65];
    snprintf(r->route, sizeof r->route, "v1.models");
    if (strcmp(r->ri->request_method, "GET") != 0 && strcmp(r->ri->request_method, "HEAD") != 0) {
        reply_method_not_allowed(r, "GET, HEAD");
        return;
    }
    if (openai_caller(r, tenant, sizeof tenant) != 0)
        return;
    json_object *agents = tenant_agents(r, tenant);
    if (!agents)
        return;
    json_object *data = model_list(agents);
    json_object_put(agents);
    if (r->nsegs == 2) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "object", json_object_new_string("list"));
        json_object_object_add(o, "data", data);
        reply_json(r, 200, o);
        json_object_put(o);
        return;
    }
    /* /v1/models/agenthub or /v1/models/agenthub/<Name> */
    char want[200];
    snprintf(want, sizeof want, "%s%s%s", r->segs[2], r->nsegs == 4 ? "/" : "",
             r->nsegs == 4 ? r->segs[3] : "");
    for (size_t i = 0; i < json_object_array_length(data); i++) {
        json_object *m = json_object_array_get_idx(data, i);
        if (strcmp(json_field_str(m, "id"), want) == 0) {
            reply_json(r, 200, m);
            json_object_put(data);
            return;
        }
    }
    json_object_put(data);
    reply_error_param(r, 404, "model_not_found",
                      "The model does not exist or you do not have "
                      "access to it.",
                      "model");
}

/* ---- the request --------------------------------------------------------------------------- */

struct completion {
    char model[160];
    char agent[101]; /* "" : the supervisor */
    int stream;
    int include_usage;
    const char *question; /* borrowed from the body */
    size_t qlen;
    json_object *history;          /* [{role, content}], owned */
    char session_id[UUID_STR_LEN]; /* X-AgentHub-Session: an existing session */
    int keep_session;              /* the header was given ("new" or an id) */
    json_object *files;            /* the question's file parts: [{document_id}], owned */
};

/* Fields accepted and ignored (documented in ingress/README.md). */
static const char *const ignored_fields[] = {"temperature",
                                             "top_p",
                                             "max_tokens",
                                             "max_completion_tokens",
                                             "presence_penalty",
                                             "frequency_penalty",
                                             "stop",
                                             "seed",
                                             "user",
                                             "logit_bias",
                                             "metadata",
                                             "store",
                                             "parallel_tool_calls",
                                             "service_tier",
                                             "reasoning_effort",
                                             "safety_identifier",
                                             "prompt_cache_key",
                                             "verbosity"};

/* Fields refused, with the reason. */
static const struct {
    const char *name, *why;
} refused_fields[] = {
    {"tools", "client-side tools are not supported: the agents' tools run on the server"},
    {"functions", "client-side functions are not supported: the agents' tools run on the server"},
    {"tool_choice", "client-side tools are not supported: the agents' tools run on the server"},
    {"function_call", "client-side functions are not supported"},
    {"logprobs", "logprobs are not supported"},
    {"top_logprobs", "logprobs are not supported"},
    {"audio", "audio output is not supported"},
    {"modalities", "only text output is supported"},
    {"prediction", "predicted outputs are not supported"},
    {"web_search_options", "web search options are not supported"},
};

/* A message's text: a string, or an array of {"type":"text","text"} parts (joined). NULL with
 * *bad set when it has anything else. The result is malloc'd. With files (an array), parts
 * {"type":"file","file":{"file_id":"<document id>"}} (OpenAI's file input) are taken too:
 * each file_id is appended as {document_id}, a document of the tenant's batch pipeline that
 * the question is about (routes_attachments.c checks it). */
static char *message_text_files(json_object *content, json_object *files, const char **bad)
{
    size_t ntext = 0;
    *bad = NULL;
    if (json_object_is_type(content, json_type_string))
        return strdup(json_object_get_string(content));
    if (!json_object_is_type(content, json_type_array)) {
        *bad = "content must be a string or an array of text parts";
        return NULL;
    }
    struct strbuf b = {0};
    for (size_t i = 0; i < json_object_array_length(content); i++) {
        json_object *p = json_object_array_get_idx(content, i);
        const char *type = json_field_str(p, "type"), *text = json_field_str(p, "text");
        if (files && type && strcmp(type, "file") == 0) {
            json_object *f = NULL;
            const char *fid =
                json_object_object_get_ex(p, "file", &f) && f ? json_field_str(f, "file_id") : NULL;
            if (!fid) {
                *bad = "a file part needs file.file_id (a document id of POST /api/{t}/documents)";
                free(b.p);
                return NULL;
            }
            json_object *a = json_object_new_object();
            json_object_object_add(a, "document_id", json_object_new_string(fid));
            json_object_array_add(files, a);
            continue;
        }
        if (!type || strcmp(type, "text") != 0 || !text) {
            *bad = "only text content parts are supported (no images, audio or files)";
            free(b.p);
            return NULL;
        }
        if (ntext++)
            strbuf_add(&b, "\n", 1);
        strbuf_adds(&b, text);
    }
    strbuf_add(&b, "", 0);
    if (b.oom || !b.p) {
        free(b.p);
        return b.oom ? NULL : strdup("");
    }
    return b.p;
}

/* Validates the body into c. 0, or -1 answered (400/404). */
static int parse_request(struct req *r, json_object *body, json_object *agents,
                         struct completion *c)
{
    json_object *v;
    char param[64];
    /* fields: refused, ignored, or one of ours; anything else is refused like OpenAI does */
    json_object_object_foreach(body, key, val)
    {
        for (size_t i = 0; i < sizeof refused_fields / sizeof refused_fields[0]; i++)
            if (strcmp(key, refused_fields[i].name) == 0 && val &&
                !(json_object_is_type(val, json_type_boolean) && !json_object_get_boolean(val)) &&
                !(json_object_is_type(val, json_type_array) && !json_object_array_length(val)) &&
                !(json_object_is_type(val, json_type_string) &&
                  strcmp(json_object_get_string(val), "none") == 0)) {
                reply_error_param(r, 400, "unsupported_parameter", refused_fields[i].why, key);
                return -1;
            }
        int known = strcmp(key, "model") == 0 || strcmp(key, "messages") == 0 ||
                    strcmp(key, "stream") == 0 || strcmp(key, "stream_options") == 0 ||
                    strcmp(key, "n") == 0 || strcmp(key, "response_format") == 0;
        for (size_t i = 0; !known && i < sizeof ignored_fields / sizeof ignored_fields[0]; i++)
            known = strcmp(key, ignored_fields[i]) == 0;
        for (size_t i = 0; !known && i < sizeof refused_fields / sizeof refused_fields[0]; i++)
            known = strcmp(key, refused_fields[i].name) == 0;
        if (!known) {
            char msg[160];
            snprintf(msg, sizeof msg, "Unrecognized request argument supplied: %.100s", key);
            reply_error_param(r, 400, "unknown_parameter", msg, key);
            return -1;
        }
    }
    /* model */
    if (!json_object_object_get_ex(body, "model", &v) ||
        !json_object_is_type(v, json_type_string)) {
        reply_error_param(r, 400, "invalid_request", "model is required and must be a string",
                          "model");
        return -1;
    }
    const char *model = json_object_get_string(v);
    snprintf(c->model, sizeof c->model, "%s", model);
    if (strcmp(model, OPENAI_MODEL_SUPERVISOR) != 0) {
        const char *name = strncmp(model, OPENAI_MODEL_PREFIX, strlen(OPENAI_MODEL_PREFIX)) == 0
                               ? model + strlen(OPENAI_MODEL_PREFIX)
                               : NULL;
        int found = 0;
        for (size_t i = 0; name && i < json_object_array_length(agents); i++) {
            const char *an = json_field_str(json_object_array_get_idx(agents, i), "name");
            if (an && strcmp(an, name) == 0) {
                snprintf(c->agent, sizeof c->agent, "%s", an);
                found = 1;
            }
        }
        if (!found) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "The model '%.120s' does not exist or you do not have access to it.", model);
            reply_error_param(r, 404, "model_not_found", msg, "model");
            return -1;
        }
    }
    /* n, stream, stream_options, response_format */
    if (json_object_object_get_ex(body, "n", &v) && v &&
        (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 1)) {
        reply_error_param(r, 400, "unsupported_parameter",
                          "n must be 1: AgentHub produces one answer per request", "n");
        return -1;
    }
    if (json_object_object_get_ex(body, "stream", &v) && v) {
        if (!json_object_is_type(v, json_type_boolean)) {
            reply_error_param(r, 400, "invalid_request", "stream must be a boolean", "stream");
            return -1;
        }
        c->stream = json_object_get_boolean(v);
    }
    if (json_object_object_get_ex(body, "stream_options", &v) && v) {
        json_object *iu;
        if (!json_object_is_type(v, json_type_object) || !c->stream) {
            reply_error_param(r, 400, "invalid_request",
                              "stream_options is an object, allowed only with stream: true",
                              "stream_options");
            return -1;
        }
        if (json_object_object_get_ex(v, "include_usage", &iu) && iu)
            c->include_usage = json_object_get_boolean(iu);
    }
    if (json_object_object_get_ex(body, "response_format", &v) && v) {
        const char *t = json_field_str(v, "type");
        if (!t || strcmp(t, "text") != 0) {
            reply_error_param(r, 400, "unsupported_parameter",
                              "response_format: only {\"type\": \"text\"} is supported (an "
                              "agent's output format is configured on the server)",
                              "response_format");
            return -1;
        }
    }
    /* messages */
    if (!json_object_object_get_ex(body, "messages", &v) ||
        !json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0) {
        reply_error_param(r, 400, "invalid_request", "messages must be a non-empty array",
                          "messages");
        return -1;
    }
    size_t n = json_object_array_length(v);
    if (n > OPENAI_MAX_MESSAGES) {
        reply_error_param(r, 400, "invalid_request", "messages: at most 200 messages", "messages");
        return -1;
    }
    c->history = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(v, i), *content;
        const char *role = json_field_str(m, "role"), *bad = NULL;
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!role) {
            reply_error_param(r, 400, "invalid_request", "each message needs a string role", param);
            return -1;
        }
        int is_user = strcmp(role, "user") == 0, is_asst = strcmp(role, "assistant") == 0;
        int is_sys = strcmp(role, "system") == 0 || strcmp(role, "developer") == 0;
        if (!is_user && !is_asst && !is_sys) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "role '%.40s' is not supported (system, developer, user, assistant)", role);
            reply_error_param(r, 400, "unsupported_role", msg, param);
            return -1;
        }
        if (is_asst && ((json_object_object_get_ex(m, "tool_calls", &content) && content) ||
                        (json_object_object_get_ex(m, "function_call", &content) && content))) {
            reply_error_param(r, 400, "unsupported_parameter",
                              "assistant tool calls are not supported in messages", param);
            return -1;
        }
        if (!json_object_object_get_ex(m, "content", &content) || !content) {
            reply_error_param(r, 400, "invalid_request", "each message needs content", param);
            return -1;
        }
        /* the question (the last message) may carry files: the documents it is about */
        if (i == n - 1 && !c->files)
            c->files = json_object_new_array();
        char *text = message_text_files(content, i == n - 1 ? c->files : NULL, &bad);
        if (!text) {
            reply_error_param(r, bad ? 400 : 500, bad ? "invalid_request" : "internal",
                              bad ? bad : "out of memory", param);
            return -1;
        }
        long chars = utf8_chars(text, strlen(text));
        if (chars < 0) {
            free(text);
            reply_error_param(r, 400, "invalid_request", "content must be valid UTF-8 text", param);
            return -1;
        }
        if (i == n - 1) {
            int blank = utf8_blank(text, strlen(text));
            free(text);
            if (blank && chars > 0) { /* as POST /chat: no job, no session titled "   " */
                reply_error_param(r, 400, "invalid_request", "the last message must not be blank",
                                  param);
                return -1;
            }
            if (!is_user) {
                reply_error_param(r, 400, "invalid_request",
                                  "the last message must have role user: it is the question",
                                  param);
                return -1;
            }
            if (chars < 1 || chars > OPENAI_MAX_CHARS) {
                reply_error_param(r, 400, "invalid_request",
                                  "the last message must be 1 to 32000 characters", param);
                return -1;
            }
            break;
        }
        /* system/developer: the agents' prompts are configured on the server (ignored) */
        if (!is_sys && chars > 0) {
            json_object *h = json_object_new_object();
            json_object_object_add(h, "role",
                                   json_object_new_string(is_asst ? "assistant" : "user"));
            json_object_object_add(h, "content", json_object_new_string(text));
            json_object_array_add(c->history, h);
        }
        free(text);
    }
    /* keep the last OPENAI_MAX_HISTORY turns */
    size_t hn = json_object_array_length(c->history);
    if (hn > OPENAI_MAX_HISTORY)
        json_object_array_del_idx(c->history, 0, hn - OPENAI_MAX_HISTORY);
    return 0;
}

/* ---- answers ------------------------------------------------------------------------------- */

static long meta_tokens(json_object *meta, const char *which)
{
    json_object *t = NULL, *v = NULL;
    if (meta && json_object_object_get_ex(meta, "tokens", &t) && t &&
        json_object_object_get_ex(t, which, &v) && v)
        return (long)json_object_get_int64(v);
    return 0;
}

static json_object *usage_object(json_object *meta)
{
    long in = meta_tokens(meta, "input"), out = meta_tokens(meta, "output");
    json_object *u = json_object_new_object();
    json_object_object_add(u, "prompt_tokens", json_object_new_int64(in));
    json_object_object_add(u, "completion_tokens", json_object_new_int64(out));
    json_object_object_add(u, "total_tokens", json_object_new_int64(in + out));
    return u;
}

static const char *finish_reason(json_object *meta)
{
    const char *f = json_field_str(meta, "finish_reason");
    return f && strcmp(f, "length") == 0 ? "length" : "stop";
}

/* The "agenthub" extension: job, session, agent, intent, tool calls, citations, language. */
static json_object *extension(const char *job_id, const char *session_id, const char *message_id,
                              const char *agent, json_object *meta)
{
    json_object *x = json_object_new_object(), *v;
    json_object_object_add(x, "job_id", json_object_new_string(job_id));
    json_object_object_add(x, "session_id", json_object_new_string(session_id));
    json_object_object_add(x, "message_id", message_id ? json_object_new_string(message_id) : NULL);
    json_object_object_add(x, "agent", agent ? json_object_new_string(agent) : NULL);
    const char *intent = json_field_str(meta, "intent"), *lang = json_field_str(meta, "language");
    json_object_object_add(x, "intent", intent ? json_object_new_string(intent) : NULL);
    json_object_object_add(x, "language", lang ? json_object_new_string(lang) : NULL);
    json_object_object_add(x, "tool_calls",
                           meta && json_object_object_get_ex(meta, "tool_calls", &v) && v
                               ? json_object_get(v)
                               : json_object_new_array());
    json_object_object_add(x, "citations",
                           meta && json_object_object_get_ex(meta, "citations", &v) && v
                               ? json_object_get(v)
                               : json_object_new_array());
    json_object_object_add(x, "metadata", meta ? json_object_get(meta) : json_object_new_object());
    return x;
}

static void completion_id(const char *job_id, char *out, size_t cap)
{
    snprintf(out, cap, "chatcmpl-%s", job_id);
}

static void session_header(const char *session_id, char *out, size_t cap)
{
    snprintf(out, cap, OPENAI_SESSION_HEADER ": %s\r\n", session_id);
}

/* A job that ended in error, in OpenAI's error shape (500; the job id in the message). */
static void reply_job_error(struct req *r, json_object *err, const char *job_id)
{
    const char *code = json_field_str(err, "code"), *msg = json_field_str(err, "message");
    char text[700];
    snprintf(text, sizeof text, "%s (job %s)", msg ? msg : "the request failed", job_id);
    int status = code && strcmp(code, "agent_not_permitted") == 0 ? 403 : 500;
    reply_error(r, status, code ? code : "job_failed", text);
}

static void answer_once(struct req *r, struct completion *c, const char *tenant, const char *job_id,
                        const char *session_id)
{
    json_object *job = NULL, *meta = NULL, *err = NULL;
    char id[64], hdr[96];
    if (job_fetch(r->app, tenant, r->claims.sub, job_id, &job) != 0 || !job) {
        reply_error(r, 500, "internal", "the accepted job could not be read");
        return;
    }
    job_wait(r, tenant, job_id, (int)r->app->cfg.openai_wait_s, &job);
    const char *st = json_field_str(job, "status");
    if (!status_terminal(st)) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "the answer took longer than %lds; the job goes on: GET /api/%s/jobs/%s",
                 r->app->cfg.openai_wait_s, tenant, job_id);
        reply_error(r, 504, "timeout", msg);
        json_object_put(job);
        return;
    }
    if (strcmp(st, "error") == 0) {
        json_object_object_get_ex(job, "error", &err);
        reply_job_error(r, err, job_id);
        json_object_put(job);
        return;
    }
    json_object_object_get_ex(job, "metadata", &meta);
    const char *response = json_field_str(job, "response");
    completion_id(job_id, id, sizeof id);
    json_object *o = json_object_new_object(), *choices = json_object_new_array();
    json_object *ch = json_object_new_object(), *msg = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "object", json_object_new_string("chat.completion"));
    json_object_object_add(o, "created", json_object_new_int64((int64_t)time(NULL)));
    json_object_object_add(o, "model", json_object_new_string(c->model));
    json_object_object_add(msg, "role", json_object_new_string("assistant"));
    json_object_object_add(msg, "content", json_object_new_string(response ? response : ""));
    json_object_object_add(msg, "refusal", NULL);
    json_object_object_add(ch, "index", json_object_new_int(0));
    json_object_object_add(ch, "message", msg);
    json_object_object_add(ch, "logprobs", NULL);
    json_object_object_add(ch, "finish_reason", json_object_new_string(finish_reason(meta)));
    json_object_array_add(choices, ch);
    json_object_object_add(o, "choices", choices);
    json_object_object_add(o, "usage", usage_object(meta));
    json_object_object_add(o, "system_fingerprint", NULL);
    json_object_object_add(o, "agenthub",
                           extension(job_id, session_id,
                                     json_field_str(job, "assistant_message_id"),
                                     json_field_str(job, "agent"), meta));
    size_t len = 0;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    session_header(session_id, hdr, sizeof hdr);
    reply_raw(r, 200, "application/json", s, len, hdr);
    json_object_put(o);
    json_object_put(job);
}

/* One chunk: {"id","object":"chat.completion.chunk","created","model","choices":[...]} with
 * the given delta (owned) and finish_reason, plus extra members (owned, may be NULL). */
static int send_chunk(struct req *r, const struct completion *c, const char *id, long created,
                      json_object *delta, const char *finish, json_object *usage, json_object *ext)
{
    json_object *o = json_object_new_object(), *choices = json_object_new_array();
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "object", json_object_new_string("chat.completion.chunk"));
    json_object_object_add(o, "created", json_object_new_int64(created));
    json_object_object_add(o, "model", json_object_new_string(c->model));
    json_object_object_add(o, "system_fingerprint", NULL);
    if (delta) {
        json_object *ch = json_object_new_object();
        json_object_object_add(ch, "index", json_object_new_int(0));
        json_object_object_add(ch, "delta", delta);
        json_object_object_add(ch, "logprobs", NULL);
        json_object_object_add(ch, "finish_reason", finish ? json_object_new_string(finish) : NULL);
        json_object_array_add(choices, ch);
    }
    json_object_object_add(o, "choices", choices);
    if (c->include_usage)
        json_object_object_add(o, "usage", usage);
    else
        json_object_put(usage);
    if (ext)
        json_object_object_add(o, "agenthub", ext);
    struct strbuf b = {0};
    strbuf_adds(&b, "data: ");
    strbuf_adds(&b, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
    strbuf_adds(&b, "\n\n");
    int rc = b.oom ? -1 : stream_write(r, b.p, b.len);
    free(b.p);
    json_object_put(o);
    return rc;
}

static json_object *content_delta(const char *text, size_t len)
{
    json_object *d = json_object_new_object();
    json_object_object_add(d, "content", json_object_new_string_len(text, (int)len));
    return d;
}

/* The end of a stream: what the final answer holds beyond the streamed text, the
 * finish_reason chunk (with the extension), the usage chunk when asked, [DONE]. */
static int stream_finish(struct req *r, const struct completion *c, const char *id, long created,
                         const char *job_id, const char *session_id, const char *response,
                         const char *agent, const char *message_id, json_object *meta,
                         const struct strbuf *streamed)
{
    int fail = 0;
    size_t sl = streamed->p ? streamed->len : 0;
    size_t rl = response ? strlen(response) : 0;
    /* The deltas are the model's raw text; the final answer is that text formatted (the
     * agent's output format) or a text that was never streamed (a clarifying question, a
     * tool-less fallback). Send what the client has not seen when it extends what it has. */
    if (rl && sl == 0)
        fail = send_chunk(r, c, id, created, content_delta(response, rl), NULL, NULL, NULL);
    else if (rl > sl && strncmp(response, streamed->p, sl) == 0)
        fail =
            send_chunk(r, c, id, created, content_delta(response + sl, rl - sl), NULL, NULL, NULL);
    if (!fail)
        fail = send_chunk(r, c, id, created, json_object_new_object(), finish_reason(meta), NULL,
                          extension(job_id, session_id, message_id, agent, meta));
    if (!fail && c->include_usage) {
        /* the usage chunk: no choices */
        struct completion c2 = *c;
        c2.include_usage = 1;
        fail = send_chunk(r, &c2, id, created, NULL, NULL, usage_object(meta), NULL);
    }
    if (!fail)
        fail = stream_write(r, "data: [DONE]\n\n", 14);
    return fail;
}

static int stream_error(struct req *r, json_object *err, const char *job_id)
{
    const char *code = json_field_str(err, "code"), *msg = json_field_str(err, "message");
    char text[700];
    snprintf(text, sizeof text, "%s (job %s)", msg ? msg : "the request failed", job_id);
    json_object *o = json_object_new_object(), *e = json_object_new_object();
    json_object_object_add(e, "message", json_object_new_string(text));
    json_object_object_add(e, "type", json_object_new_string("api_error"));
    json_object_object_add(e, "param", NULL);
    json_object_object_add(e, "code", json_object_new_string(code ? code : "job_failed"));
    json_object_object_add(o, "error", e);
    struct strbuf b = {0};
    strbuf_adds(&b, "data: ");
    strbuf_adds(&b, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    strbuf_adds(&b, "\n\n");
    int rc = b.oom ? -1 : stream_write(r, b.p, b.len);
    free(b.p);
    json_object_put(o);
    return rc;
}

static void answer_stream(struct req *r, struct completion *c, const char *tenant,
                          const char *job_id, const char *session_id)
{
    struct ingress *app = r->app;
    struct sse_waiter *w = sse_hub_register(app->hub, job_id);
    struct strbuf streamed = {0};
    char id[64], last[48] = "0";
    long created = (long)time(NULL);
    int fail = 0, done = 0;
    json_object *job = NULL;
    completion_id(job_id, id, sizeof id);
    char hdr[96];
    session_header(session_id, hdr, sizeof hdr);
    reply_stream_begin_ex(r, "text/event-stream", hdr);
    json_object *first = json_object_new_object();
    json_object_object_add(first, "role", json_object_new_string("assistant"));
    json_object_object_add(first, "content", json_object_new_string(""));
    json_object *ext0 = json_object_new_object();
    json_object_object_add(ext0, "job_id", json_object_new_string(job_id));
    json_object_object_add(ext0, "session_id", json_object_new_string(session_id));
    fail = send_chunk(r, c, id, created, first, NULL, NULL, ext0);
    double start = now_mono(), last_write = start, last_pg = start;
    while (!fail && !done && !app->stopping) {
        json_object *arr = NULL;
        if (jobevents_read(app->rc, tenant, job_id, last, 200, &arr) == RC_OK && arr) {
            for (size_t i = 0; i < json_object_array_length(arr) && !fail && !done; i++) {
                json_object *e = json_object_array_get_idx(arr, i), *data = NULL;
                const char *ev = json_field_str(e, "event"), *eid = json_field_str(e, "id");
                if (eid)
                    snprintf(last, sizeof last, "%s", eid);
                json_object_object_get_ex(e, "data", &data);
                if (!ev)
                    continue;
                if (strcmp(ev, "delta") == 0 && data &&
                    !json_object_object_get_ex(data, "part", NULL)) {
                    /* a multi-part job's parts interleave: those come whole with the final */
                    const char *t = json_field_str(data, "text");
                    if (t && *t) {
                        strbuf_adds(&streamed, t);
                        fail = send_chunk(r, c, id, created, content_delta(t, strlen(t)), NULL,
                                          NULL, NULL);
                        last_write = now_mono();
                    }
                } else if (strcmp(ev, "final") == 0) {
                    json_object *meta = NULL;
                    json_object_object_get_ex(data, "metadata", &meta);
                    fail = stream_finish(r, c, id, created, job_id, session_id,
                                         json_field_str(data, "response"),
                                         json_field_str(data, "agent"),
                                         json_field_str(data, "message_id"), meta, &streamed);
                    done = 1;
                } else if (strcmp(ev, "error") == 0) {
                    fail = stream_error(r, data, job_id);
                    done = 1;
                }
            }
        }
        json_object_put(arr);
        if (fail || done)
            break;
        double now = now_mono();
        if (now - last_pg >= 5.0) {
            /* the events may be gone (Redis lost them): PostgreSQL has the outcome */
            last_pg = now;
            json_object_put(job);
            job = NULL;
            if (job_fetch(app, tenant, r->claims.sub, job_id, &job) == 0 && job &&
                status_terminal(json_field_str(job, "status"))) {
                json_object *arr2 = NULL;
                int more = jobevents_read(app->rc, tenant, job_id, last, 1, &arr2) == RC_OK &&
                           arr2 && json_object_array_length(arr2) > 0;
                json_object_put(arr2);
                if (more)
                    continue; /* replay what is left first */
                json_object *meta = NULL, *err = NULL;
                if (strcmp(json_field_str(job, "status"), "done") == 0) {
                    json_object_object_get_ex(job, "metadata", &meta);
                    fail =
                        stream_finish(r, c, id, created, job_id, session_id,
                                      json_field_str(job, "response"), json_field_str(job, "agent"),
                                      json_field_str(job, "assistant_message_id"), meta, &streamed);
                } else {
                    json_object_object_get_ex(job, "error", &err);
                    fail = stream_error(r, err, job_id);
                }
                break; /* answered */
            }
        }
        if (sse_stream_idle(r, w, start, now, &last_write, &fail))
            break;
    }
    if (!fail)
        stream_end(r);
    json_object_put(job);
    free(streamed.p);
    sse_hub_unregister(app->hub, w);
}

static void chat_completions(struct req *r)
{
    struct completion c;
    json_object *body = NULL, *agents = NULL, *extra = NULL, *attachments = NULL;
    char tenant[65];
    memset(&c, 0, sizeof c);
    snprintf(r->route, sizeof r->route, "v1.chat");
    if (strcmp(r->ri->request_method, "POST") != 0) {
        reply_method_not_allowed(r, "POST");
        return;
    }
    if (openai_caller(r, tenant, sizeof tenant) != 0)
        return;
    char idem[IDEMP_MAX + 1], hash[65] = "";
    char job_id[UUID_STR_LEN] = "", session_id[UUID_STR_LEN] = "";
    if (idem_header(r, idem) != 0)
        return;
    const char *sh = mg_get_header(r->conn, OPENAI_SESSION_HEADER);
    if (sh) {
        c.keep_session = 1;
        if (strcmp(sh, "new") != 0) {
            if (!uuid_valid(sh)) {
                reply_error(r, 400, "invalid_request",
                            OPENAI_SESSION_HEADER " must be a session id (UUID) or \"new\"");
                return;
            }
            snprintf(c.session_id, sizeof c.session_id, "%s", sh);
        }
    }
    if (!(body = req_json_body(r)))
        return;
    if (!(agents = tenant_agents(r, tenant)))
        goto out;
    if (parse_request(r, body, agents, &c) != 0)
        goto out;
    /* the question: the last message's text (a parts array joined) */
    json_object *msgs = json_object_object_get(body, "messages");
    json_object *lastm = json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
    const char *bad = NULL;
    json_object *files2 = json_object_new_array();
    char *question = message_text_files(json_object_object_get(lastm, "content"), files2, &bad);
    json_object_put(files2); /* the same as c.files, which parse_request kept */
    if (!question) {
        reply_error(r, 500, "internal", "out of memory");
        goto out;
    }
    /* file parts: checked against the caller like POST /chat's attachments (404 for another
     * tenant's or user's document, in OpenAI's error shape) */
    char lastp[32];
    snprintf(lastp, sizeof lastp, "messages[%zu]", json_object_array_length(msgs) - 1);
    r->error_param = lastp; /* the errors attachments_resolve answers are about this message */
    int arc = c.files && json_object_array_length(c.files) > 0
                  ? attachments_resolve(r, tenant, c.files, &attachments)
                  : 0;
    r->error_param = NULL;
    if (arc != 0) {
        free(question);
        goto out;
    }
    /* Held for the whole answer (stream or wait): refused before the job exists. */
    if (!req_hold_stream(r)) {
        free(question);
        goto out;
    }
    /* An Idempotency-Key (an SDK's extra_headers) makes a retry safe: the same key with the
     * same request (body and session header) answers from the job it started, anything else
     * under that key is a 422. */
    if (idem[0]) {
        request_hash(r->body, r->body_len, sh ? sh : "", hash);
        if (idem_lookup(r, tenant, idem, hash, job_id, session_id) < 0) {
            free(question);
            goto out;
        }
    }
    if (job_id[0]) {
        free(question);
        goto answer;
    }
    extra = json_object_new_object();
    if (c.agent[0])
        json_object_object_add(extra, "agent", json_object_new_string(c.agent));
    if (!c.keep_session)
        json_object_object_add(extra, "history", json_object_get(c.history));
    if (attachments)
        json_object_object_add(extra, "attachments", json_object_get(attachments));
    struct chat_submit cs;
    memset(&cs, 0, sizeof cs);
    cs.tenant = tenant;
    cs.message = question;
    cs.mlen = strlen(question);
    cs.session_id = c.session_id[0] ? c.session_id : NULL;
    cs.extra = extra;
    cs.idem = idem[0] ? idem : NULL;
    cs.hash = hash;
    int rc = chat_submit(r, &cs);
    free(question);
    if (rc == 1) {
        /* a concurrent request with the same key won: answer from its job */
        int found = idem_lookup(r, tenant, idem, hash, job_id, session_id);
        if (found == 0)
            reply_error(r, 409, "conflict", "a request with this Idempotency-Key is in flight");
        if (found <= 0)
            goto out;
        goto answer;
    }
    if (rc != 0)
        goto out;
    if (attachments)
        attachments_record(r, tenant, cs.session_out, cs.message_id, attachments, "message");
    snprintf(job_id, sizeof job_id, "%s", cs.job_id);
    snprintf(session_id, sizeof session_id, "%s", cs.session_out);
answer:
    if (c.stream)
        answer_stream(r, &c, tenant, job_id, session_id);
    else
        answer_once(r, &c, tenant, job_id, session_id);
out:
    json_object_put(extra);
    json_object_put(attachments);
    json_object_put(c.files);
    json_object_put(c.history);
    json_object_put(agents);
    json_object_put(body);
}

void routes_openai(struct req *r)
{
    char **s = r->segs;
    int n = r->nsegs;
    if (n >= 2 && n <= 4 && strcmp(s[1], "models") == 0 &&
        (n < 4 || strcmp(s[2], OPENAI_MODEL_SUPERVISOR) == 0)) {
        models(r);
        return;
    }
    if (n == 3 && strcmp(s[1], "chat") == 0 && strcmp(s[2], "completions") == 0) {
        chat_completions(r);
        return;
    }
    snprintf(r->route, sizeof r->route, "v1.unknown");
    reply_error(r, 404, "not_found", "no such route");
}
