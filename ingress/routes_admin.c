/* routes_admin.c — /api/admin/... for the platform operator (everything) and tenant admins
 * (their own tenant only); see "who may do what" below and ingress/README.md, "Admin roles".
 *
 *   /api/admin/tenants                     GET list, POST {tenant_id, name, is_active?, settings?}
 *   /api/admin/tenants/{tid}               GET, PATCH|PUT, DELETE
 *   /api/admin/tenants/{tid}/permissions   GET {agents:[...], tools:[...]};
 *                                          POST {agent_id|tool_id, enabled} or
 *                                               {agents:[{agent_id,enabled}], tools:[...]}
 *   /api/admin/tenants/{tid}/llm-config    GET (never the key: has_api_key), PUT|POST, DELETE
 *   /api/admin/agents                      GET, POST {name, prompt_template, description?,
 *                                          llm_model_id?, output_format_id?, is_active?}
 *                                          (creates topic agenthub.agent.<name>)
 *   /api/admin/agents/{id}                 GET (with tools), PATCH|PUT, DELETE
 *   /api/admin/agents/{id}/tools           GET, POST {tools:[{tool_id, priority}]} (replaces)
 *   /api/admin/agents/reload               POST: deletes agenthub:*:cache:agent:*
 *   /api/admin/tools                       GET, POST {name, base_type, description?, config,
 *                                          input_schema?, output_schema?, output_format_id?,
 *                                          is_active?}
 *   /api/admin/tools/{id}                  GET, PATCH|PUT, DELETE
 *   /api/admin/output-formats[/{id}]       CRUD {name, format_type, description?, schema?,
 *                                          template?}
 *   /api/admin/llm-models[/{id}]           CRUD {provider, model_name, base_url?, ...}
 *   /api/admin/knowledge                   POST {tenant_id, source, text, title?} or
 *                                          {tenant_id, documents:[...]}: chunk, embed, upsert
 *                                          into ChromaDB (tools/knowledge.h);
 *                                          GET ?tenant_id=T lists what was added
 *   /api/admin/knowledge/{tenant}/{doc_id} DELETE (its chunks and its record)
 *   /api/admin/tools/{id}/test, /api/admin/knowledge/search, /api/admin/conversations[/{id}]:
 *                                          the admin panel's runs and reads (admin_console.h)
 *
 * Every write deletes the cache keys it affects (rcache.h key scheme) so the router and agents
 * reload on their next job: agent (and its tools) -> agenthub:*:cache:agent:{id} and
 * :agent_tools:{id}; tool -> agenthub:*:cache:tool:{id} and every :agent_tools:*;
 * permissions -> agenthub:{t}:cache:permissions:{agents|tools} (+ {t}'s :agent_tools:*);
 * llm-config -> llm_config_invalidate(t) (agenthub:{t}:llm); llm-models -> agenthub:*:llm.
 */
#include "ingress.h"
#include "admin_console.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "fernet.h"
#include "chroma.h"
#include "json_field.h"
#include "json_strict.h"
#include "jsonschema.h"
#include "knowledge.h"
#include "kafka.h"
#include "llm.h"
#include "log.h"
#include "ssrf.h"
#include "tool_secret.h"
#include "uuid.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

enum ftype { F_TEXT, F_BOOL, F_INT, F_NUM, F_OBJ, F_JSON, F_UUID, F_BASETYPE };

struct field {
    const char *name; /* JSON member and column (F_BASETYPE: column base_tool_id) */
    enum ftype type;
    int required; /* on create */
    int nullable; /* may be set to null */
    size_t maxlen;
};

struct resource {
    const char *path;
    const char *table;
    const char *id_col;
    int id_uuid;       /* else: tenant id text supplied by the client on create */
    const char *cols;  /* SELECT / RETURNING list */
    const char *order; /* ORDER BY */
    const struct field *fields;
    size_t nfields;
    /* Extra checks on a create (current NULL) or update (current = the row now). */
    int (*validate)(struct req *r, json_object *body, json_object *current);
    /* Cache invalidation and side effects after a successful write (row NULL on delete). */
    void (*after)(struct req *r, const char *id, json_object *row);
};

/* 400 invalid_request with fmt naming one member; returns -1 (answered). */
static int bad(struct req *r, const char *fmt, const char *name)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, name);
    reply_error(r, 400, "invalid_request", msg);
    return -1;
}

static void del_key(struct req *r, const char *pattern)
{
    int st = strchr(pattern, '*') ? rcache_del_pattern(r->app->rc, pattern)
                                  : rcache_del(r->app->rc, pattern);
    if (st != RC_OK && st != RC_MISS)
        log_kv(LOG_WARN, &r->log, "cache invalidation failed", "key", pattern, "status",
               rc_status_str(st), (char *)NULL);
}

/* The tenant's LLM config cache (agenthub:{tenant}:llm), through llm.h. */
static void invalidate_llm(struct req *r, const char *tenant)
{
    int st = llm_config_invalidate(r->app->rc, tenant);
    if (st != RC_OK && st != RC_MISS)
        log_kv(LOG_WARN, &r->log, "llm config cache invalidation failed", "status",
               rc_status_str(st), (char *)NULL);
}

/* ---- validation hooks ---------------------------------------------------------------------- */

static int check_schema_member(struct req *r, json_object *body, const char *name, int want_object)
{
    json_object *v;
    char err[256], msg[400];
    if (!json_object_object_get_ex(body, name, &v) || !v)
        return 0;
    if (jsonschema_check(v, err, sizeof err) != 0) {
        snprintf(msg, sizeof msg, "%s is not a supported JSON Schema: %s", name, err);
        reply_error(r, 400, "invalid_schema", msg);
        return -1;
    }
    json_object *t;
    if (want_object &&
        (!json_object_object_get_ex(v, "type", &t) || !json_object_is_type(t, json_type_string) ||
         strcmp(json_object_get_string(t), "object") != 0)) {
        snprintf(msg, sizeof msg, "%s must be a schema of type object", name);
        reply_error(r, 400, "invalid_schema", msg);
        return -1;
    }
    return 0;
}

/* What each base type needs in its config. */
static const char *base_config_schema(const char *base)
{
    if (strcmp(base, "HTTP_GET") == 0 || strcmp(base, "HTTP_POST") == 0)
        return "{\"type\":\"object\",\"required\":[\"endpoint\"],\"properties\":{"
               "\"endpoint\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":2048},"
               "\"method\":{\"type\":\"string\"},"
               "\"headers\":{\"type\":\"object\"},"
               "\"body_template\":{\"type\":[\"string\",\"object\"]},"
               "\"timeout_ms\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":120000},"
               "\"max_response_bytes\":{\"type\":\"integer\",\"minimum\":1},"
               "\"inject_jwt\":{\"type\":\"boolean\"},"
               "\"jwt_audience\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":256},"
               "\"allowed_hosts\":{\"type\":[\"string\",\"array\"],"
               "\"items\":{\"type\":\"string\"}}}}";
    if (strcmp(base, "RAG") == 0)
        return "{\"type\":\"object\",\"properties\":{"
               "\"top_k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100},"
               "\"similarity_threshold\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},"
               "\"collection\":{\"type\":\"string\",\"pattern\":"
               "\"^[A-Za-z0-9]([A-Za-z0-9_-]{0,62}[A-Za-z0-9])?$\"}}}";
    if (strcmp(base, "OCR") == 0)
        return "{\"type\":\"object\",\"properties\":{"
               "\"supported_formats\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
               "\"language\":{\"type\":\"string\"}}}";
    return NULL;
}

/* Is the caller the platform operator (not a tenant admin)? Only it may open private hosts
 * to a tool. */
static int is_operator(const struct req *r);

/* A tool's allowed_hosts (the SSRF guard's per-tool exemptions, tools/ssrf.h): host:port
 * entries only, no empty entry, no wildcard wider than "*.a.b"; an array is stored as the
 * comma-separated string the agent reads. Only the operator may set or change it: a tenant
 * admin's tool reaches public addresses plus what the operator allowed. */
static int validate_tool_allowed_hosts(struct req *r, json_object *cfg, json_object *current)
{
    json_object *ah = NULL, *cur_cfg = NULL, *cur_ah = NULL;
    char err[200], msg[300], joined[2048];
    if (!json_object_object_get_ex(cfg, "allowed_hosts", &ah) || !ah)
        return 0;
    if (json_object_is_type(ah, json_type_array)) {
        size_t n = 0;
        joined[0] = 0;
        for (size_t i = 0; i < json_object_array_length(ah); i++) {
            const char *e = json_object_get_string(json_object_array_get_idx(ah, i));
            int w = snprintf(joined + n, sizeof joined - n, "%s%s", i ? "," : "", e ? e : "");
            if (w < 0 || (size_t)w >= sizeof joined - n) {
                reply_error(r, 400, "invalid_config", "allowed_hosts is too long");
                return -1;
            }
            n += (size_t)w;
        }
        json_object_object_add(cfg, "allowed_hosts", json_object_new_string(joined));
        json_object_object_get_ex(cfg, "allowed_hosts", &ah);
    }
    const char *list = json_object_get_string(ah);
    if (!list || !*list || ssrf_allowlist_valid(list, 1, err, sizeof err) != 0) {
        snprintf(msg, sizeof msg, "allowed_hosts: %s", list && *list ? err : "empty");
        reply_error(r, 400, "invalid_config", msg);
        return -1;
    }
    if (current && json_object_object_get_ex(current, "config", &cur_cfg) && cur_cfg)
        json_object_object_get_ex(cur_cfg, "allowed_hosts", &cur_ah);
    int unchanged = cur_ah && strcmp(json_object_get_string(cur_ah), list) == 0;
    if (!unchanged && !is_operator(r)) {
        reply_error(r, 403, "forbidden", "only the platform operator may set allowed_hosts");
        return -1;
    }
    return 0;
}

/* Secrets in a tool config (tools/tool_secret.h: every headers value, and api_key, token,
 * password, secret) are stored sealed with the tool-secret purpose key, never in clear. A
 * mask sent back keeps the stored value. Without FERNET_KEY a secret is refused with 503
 * (like an LLM key), never stored in clear. */
/* scheme://authority of a tool endpoint (template), lower-cased, into out; "" when none. */
static void endpoint_origin(json_object *cfg, char *out, size_t cap)
{
    json_object *e = NULL;
    out[0] = 0;
    if (!cfg || !json_object_object_get_ex(cfg, "endpoint", &e) ||
        !json_object_is_type(e, json_type_string))
        return;
    const char *s = json_object_get_string(e), *p = strstr(s, "://");
    size_t n = p ? (size_t)(p - s) + 3 + strcspn(p + 3, "/?#") : strlen(s);
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    out[n] = 0;
}

static int seal_tool_secrets(struct req *r, json_object *cfg, json_object *current)
{
    json_object *cur_cfg = NULL;
    char key[FERNET_KEY_B64_LEN] = "", err[256], msg[320], o_new[512], o_cur[512];
    const char *fk = r->app->cfg.common.fernet_key;
    int sealed = 0;
    if (current)
        json_object_object_get_ex(current, "config", &cur_cfg);
    /* Like an LLM key (llm-config's key_endpoint_changed): a stored secret never follows the
     * tool to a new host unless it is supplied again. */
    if (cur_cfg && tool_secret_config_has_mask(cfg)) {
        endpoint_origin(cfg, o_new, sizeof o_new);
        endpoint_origin(cur_cfg, o_cur, sizeof o_cur);
        if (strcmp(o_new, o_cur) != 0) {
            reply_error(r, 409, "secret_endpoint_changed",
                        "config.endpoint: the tool's host changed; supply its secrets again "
                        "instead of the mask");
            return -1;
        }
    }
    if (fk && *fk && fernet_purpose_key(fk, FERNET_PURPOSE_TOOL_SECRET, key) != FERNET_OK) {
        reply_error(r, 500, "internal", "cannot derive the tool secret key");
        return -1;
    }
    int rc = tool_secret_seal_config(cfg, cur_cfg, key, &sealed, err, sizeof err);
    explicit_bzero(key, sizeof key);
    if (rc == TOOL_SECRET_OK)
        return 0;
    snprintf(msg, sizeof msg, "config.%s", err);
    if (rc == TOOL_SECRET_ERR_NO_KEY)
        reply_error(r, 503, "unavailable", msg);
    else if (rc == TOOL_SECRET_ERR_NOMEM)
        reply_error(r, 500, "internal", "cannot seal the tool's secrets");
    else
        reply_error(r, 400, "invalid_config", msg);
    return -1;
}

/* A tool row on its way to a client: its secrets masked (sealed and older clear ones). */
static void mask_tool_row(json_object *row)
{
    json_object *cfg = NULL;
    if (row && json_object_object_get_ex(row, "config", &cfg))
        tool_secret_mask_config(cfg);
}

static int validate_tool(struct req *r, json_object *body, json_object *current)
{
    const char *base = json_field_str(body, "base_type");
    json_object *cfg;
    char err[256], msg[400];
    if (!base && current)
        base = json_field_str(current, "base_type");
    const char *schema_text = base ? base_config_schema(base) : NULL;
    if (!schema_text) {
        reply_error(r, 400, "invalid_request",
                    "base_type must be one of HTTP_GET, HTTP_POST, RAG, OCR");
        return -1;
    }
    if (json_object_object_get_ex(body, "config", &cfg) && cfg) {
        json_object *schema = json_tokener_parse(schema_text);
        int rc = jsonschema_validate(schema, cfg, err, sizeof err);
        json_object_put(schema);
        if (rc != 0) {
            snprintf(msg, sizeof msg, "config is invalid for %s: %s", base, err);
            reply_error(r, 400, "invalid_config", msg);
            return -1;
        }
        if (validate_tool_allowed_hosts(r, cfg, current) != 0)
            return -1;
        if (seal_tool_secrets(r, cfg, current) != 0)
            return -1;
    } else if (!current && (strcmp(base, "HTTP_GET") == 0 || strcmp(base, "HTTP_POST") == 0)) {
        reply_error(r, 400, "invalid_config", "config with an endpoint is required");
        return -1;
    }
    if (check_schema_member(r, body, "input_schema", 1) ||
        check_schema_member(r, body, "output_schema", 0))
        return -1;
    return 0;
}

static int validate_output_format(struct req *r, json_object *body, json_object *current)
{
    const char *t = json_field_str(body, "format_type");
    if (t && strcmp(t, "text") != 0 && strcmp(t, "markdown") != 0 && strcmp(t, "json") != 0 &&
        strcmp(t, "table") != 0) {
        reply_error(r, 400, "invalid_request",
                    "format_type must be one of text, markdown, json, table");
        return -1;
    }
    return check_schema_member(r, body, "schema", 0);
}

static int validate_llm_model(struct req *r, json_object *body, json_object *current)
{
    const char *p = json_field_str(body, "provider");
    if (p && strcmp(p, "openai") != 0 && strcmp(p, "anthropic") != 0 && strcmp(p, "gemini") != 0 &&
        strcmp(p, "openrouter") != 0 && strcmp(p, "openai_compatible") != 0) {
        reply_error(r, 400, "invalid_request",
                    "provider must be one of openai, anthropic, gemini, openrouter, "
                    "openai_compatible");
        return -1;
    }
    return 0;
}

static int name_charset_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

static int validate_agent(struct req *r, json_object *body, json_object *current)
{
    const char *name = json_field_str(body, "name");
    json_object *v;
    /* The seed calls it default_output_format_id. */
    if (json_object_object_get_ex(body, "default_output_format_id", &v) &&
        !json_object_object_get_ex(body, "output_format_id", NULL))
        json_object_object_add(body, "output_format_id", json_object_get(v));
    if (name && !name_charset_ok(name, 100)) {
        reply_error(r, 400, "invalid_request", "name must match [A-Za-z0-9_-]{1,100}");
        return -1;
    }
    if (name) {
        char topic[160], err[256];
        snprintf(topic, sizeof topic, "%s%s", KAFKA_TOPIC_AGENT_PREFIX, name);
        if (kafka_topic_ensure(r->app->prod, topic, 0, 10000, err, sizeof err) != 0) {
            log_kv(LOG_WARN, &r->log, "agent topic not created", "topic", topic, "error", err,
                   (char *)NULL);
            reply_error(r, 503, "unavailable", "message broker unavailable, retry later");
            return -1;
        }
    }
    return 0;
}

/* A deleted tenant's id had a life: its LLM calls (usage_calls, kept for billing) or its
 * creation through this API (the audit log). Given again, the new tenant would start the month
 * with the old one's spend and read its usage and audit rows. 1 used (and no tenant has it
 * now: that one is the INSERT's 409), 0 never, -1 answered. */
static int tenant_id_used_before(struct req *r, const char *t)
{
    PGresult *res = NULL;
    char err[256];
    const char *p[] = {t};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT NOT EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $1) AND "
                         "(EXISTS (SELECT 1 FROM usage_calls WHERE tenant_id = $1) OR EXISTS "
                         "(SELECT 1 FROM admin_audit WHERE tenant_id = $1 AND method = 'POST' "
                         "AND route = '/api/admin/tenants' AND status = 201))",
                         1, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "tenant id check");
        return -1;
    }
    int used = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return used;
}

static int validate_tenant(struct req *r, json_object *body, json_object *current)
{
    const char *t = json_field_str(body, "tenant_id");
    if (!current && (!t || !tenant_id_valid(t))) {
        reply_error(r, 400, "invalid_request", "tenant_id must match [A-Za-z0-9_-]{1,64}");
        return -1;
    }
    if (!current && strcmp(t, "admin") == 0) { /* /api/admin/... is the admin API */
        reply_error(r, 400, "invalid_request", "tenant_id \"admin\" is reserved");
        return -1;
    }
    json_object *tv = NULL;
    if (current && json_object_object_get_ex(body, "tenant_id", &tv) &&
        !json_object_equal(tv, json_object_object_get(current, "tenant_id"))) {
        reply_error(r, 400, "invalid_request", "tenant_id cannot be changed");
        return -1;
    }
    if (!current) {
        int used = tenant_id_used_before(r, t);
        if (used < 0)
            return -1;
        if (used) {
            reply_error(r, 409, "conflict",
                        "this tenant_id belonged to a deleted tenant whose usage and audit records "
                        "are kept; a tenant id is never given twice, choose another");
            return -1;
        }
    }
    return 0;
}

static void after_agent(struct req *r, const char *id, json_object *row)
{
    char key[200];
    snprintf(key, sizeof key, "agenthub:*:cache:agent:%s", id);
    del_key(r, key);
    /* its tool list (tools/tool_loader.c caches it per tenant) */
    snprintf(key, sizeof key, "agenthub:*:cache:agent_tools:%s", id);
    del_key(r, key);
    del_key(r, "agenthub:*:cache:permissions:agents");
}

static void after_tool(struct req *r, const char *id, json_object *row)
{
    char key[200];
    snprintf(key, sizeof key, "agenthub:*:cache:tool:%s", id);
    del_key(r, key);
    del_key(r, "agenthub:*:cache:permissions:tools");
    /* every agent's cached tool list may include it */
    del_key(r, "agenthub:*:cache:agent_tools:*");
}

static void after_tenant(struct req *r, const char *id, json_object *row)
{
    char key[200];
    snprintf(key, sizeof key, "agenthub:%s:cache:*", id);
    del_key(r, key);
    invalidate_llm(r, id);
}

static void after_format(struct req *r, const char *id, json_object *row)
{
    del_key(r, "agenthub:*:cache:agent:*");
    del_key(r, "agenthub:*:cache:tool:*");
}

static void after_model(struct req *r, const char *id, json_object *row)
{
    del_key(r, "agenthub:*:llm");
    del_key(r, "agenthub:*:cache:agent:*");
}

/* ---- the resources ----------------------------------------------------------------------- */

static const struct field tenant_fields[] = {
    {"tenant_id", F_TEXT, 1, 0, 64},
    {"name", F_TEXT, 1, 0, 200},
    {"is_active", F_BOOL, 0, 0, 0},
    {"settings", F_OBJ, 0, 0, 0},
};
static const struct field agent_fields[] = {
    {"name", F_TEXT, 1, 0, 100},
    {"description", F_TEXT, 0, 0, 4000},
    {"prompt_template", F_TEXT, 1, 0, 100000},
    {"llm_model_id", F_UUID, 0, 1, 0},
    {"output_format_id", F_UUID, 0, 1, 0},
    {"is_active", F_BOOL, 0, 0, 0},
};
static const struct field tool_fields[] = {
    {"name", F_TEXT, 1, 0, 64},
    {"base_type", F_BASETYPE, 1, 0, 16},
    {"description", F_TEXT, 0, 0, 4000},
    {"config", F_OBJ, 0, 0, 0},
    {"input_schema", F_OBJ, 0, 0, 0},
    {"output_schema", F_OBJ, 0, 1, 0},
    {"output_format_id", F_UUID, 0, 1, 0},
    {"is_active", F_BOOL, 0, 0, 0},
};
static const struct field format_fields[] = {
    {"name", F_TEXT, 1, 0, 100},         {"format_type", F_TEXT, 1, 0, 16},
    {"description", F_TEXT, 0, 1, 4000}, {"schema", F_OBJ, 0, 1, 0},
    {"template", F_TEXT, 0, 1, 100000},
};
static const struct field model_fields[] = {
    {"provider", F_TEXT, 1, 0, 32},           {"model_name", F_TEXT, 1, 0, 200},
    {"base_url", F_TEXT, 0, 1, 2048},         {"context_window", F_INT, 0, 1, 0},
    {"max_output_tokens", F_INT, 0, 1, 0},    {"input_cost_per_mtok", F_NUM, 0, 1, 0},
    {"output_cost_per_mtok", F_NUM, 0, 1, 0}, {"is_active", F_BOOL, 0, 0, 0},
};

#define NF(a) (sizeof(a) / sizeof((a)[0]))

static const struct resource res_tenants = {
    "tenants",
    "tenants",
    "tenant_id",
    0,
    "tenant_id, name, is_active, settings, " TS("created_at") " AS created_at, " TS(
        "updated_at") " AS updated_at",
    "created_at, tenant_id",
    tenant_fields,
    NF(tenant_fields),
    validate_tenant,
    after_tenant};

static const struct resource res_agents = {
    "agents",
    "agent_configs",
    "agent_id",
    1,
    "agent_id, name, description, prompt_template, llm_model_id, output_format_id, is_active, "
    "owner_tenant_id, " TS("created_at") " AS created_at, " TS("updated_at") " AS updated_at",
    "name",
    agent_fields,
    NF(agent_fields),
    validate_agent,
    after_agent};

static const struct resource res_tools = {
    "tools",
    "tool_configs",
    "tool_id",
    1,
    "tool_id, name, (SELECT b.type FROM base_tools b WHERE b.base_tool_id = "
    "tool_configs.base_tool_id) AS base_type, description, config, input_schema, output_schema, "
    "output_format_id, is_active, owner_tenant_id, " TS("created_at") " AS created_at, " TS(
        "updated_at") " AS updated_at",
    "name",
    tool_fields,
    NF(tool_fields),
    validate_tool,
    after_tool};

static const struct resource res_formats = {
    "output-formats",
    "output_formats",
    "format_id",
    1,
    "format_id, name, format_type, description, schema, template, " TS(
        "created_at") " AS created_at, " TS("updated_at") " AS updated_at",
    "name",
    format_fields,
    NF(format_fields),
    validate_output_format,
    after_format};

static const struct resource res_models = {
    "llm-models",
    "llm_models",
    "model_id",
    1,
    "model_id, provider, model_name, base_url, context_window, max_output_tokens, "
    "input_cost_per_mtok, output_cost_per_mtok, is_active, " TS("created_at") " AS created_at, " TS(
        "updated_at") " AS updated_at",
    "provider, model_name, model_id", /* a total order: pages never overlap */
    model_fields,
    NF(model_fields),
    validate_llm_model,
    after_model};

/* ---- who may do what (see ingress/README.md, "Admin roles") ---------------------------------
 *
 * Two kinds of admin reach these routes (req_admin): the platform operator (a token signed by
 * an OPERATOR_PUBLIC_KEY_FILE key, r->claims.operator) and a tenant admin (a tenant token with
 * role "admin"). The operator may do everything. A tenant admin manages its own tenant only:
 * its tenant row (not is_active), permissions, LLM config and knowledge, and the agents and
 * tools it owns (owner_tenant_id = its tenant); it reads the platform catalog (agents and
 * tools without owner, output formats, LLM models) but never writes it, and never sees
 * another tenant's objects: those answer 404 as if they did not exist. */

static int is_operator(const struct req *r)
{
    return r->claims.operator!= 0;
}

static int require_operator(struct req *r)
{
    if (is_operator(r))
        return 0;
    reply_error(r, 403, "forbidden", "this needs a platform operator token");
    return -1;
}

/* The operator, or the admin of exactly this tenant. */
static int require_tenant_access(struct req *r, const char *tenant)
{
    snprintf(r->audit_tenant, sizeof r->audit_tenant, "%s", tenant ? tenant : "");
    if (is_operator(r) || (tenant && strcmp(tenant, r->claims.tenant_id) == 0))
        return 0;
    log_kv(LOG_INFO, &r->log, "admin refused: other tenant", "token_tenant", r->claims.tenant_id,
           (char *)NULL);
    reply_error(r, 403, "forbidden", "a tenant admin manages only its own tenant");
    return -1;
}

int admin_is_operator(const struct req *r)
{
    return is_operator(r);
}

int admin_tenant_access(struct req *r, const char *tenant)
{
    return require_tenant_access(r, tenant);
}

enum owner_state { OWNER_NONE, OWNER_CATALOG, OWNER_SELF, OWNER_OTHER };

static int resource_owned(const struct resource *rs);

/* Who owns an agent or tool, seen from the caller. 0 with *state, or -1 answered (db). */
static int owner_state(struct req *r, const struct resource *rs, const char *id,
                       enum owner_state *state)
{
    char sql[256], err[256];
    PGresult *res = NULL;
    const char *p[] = {id};
    snprintf(sql, sizeof sql, "SELECT owner_tenant_id FROM %s WHERE %s = $1", rs->table,
             rs->id_col);
    int st = pgpool_exec(r->app->db, &res, sql, 1, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, rs->path);
        return -1;
    }
    if (PQntuples(res) == 0)
        *state = OWNER_NONE;
    else if (PQgetisnull(res, 0, 0))
        *state = OWNER_CATALOG;
    else if (!is_operator(r) && strcmp(PQgetvalue(res, 0, 0), r->claims.tenant_id) == 0)
        *state = OWNER_SELF;
    else
        *state = is_operator(r) ? OWNER_SELF : OWNER_OTHER;
    PQclear(res);
    return 0;
}

/* May the caller read (write = 0) or change (write = 1) this agent or tool? 0 yes, -1
 * answered: 404 when it is another tenant's (or absent), 403 for a tenant admin writing the
 * platform catalog. */
static int owned_check(struct req *r, const struct resource *rs, const char *id, int write)
{
    enum owner_state os;
    if (is_operator(r) || !resource_owned(rs))
        return 0;
    if (owner_state(r, rs, id, &os) != 0)
        return -1;
    if (os == OWNER_NONE || os == OWNER_OTHER) {
        reply_error(r, 404, "not_found", "no such resource");
        return -1;
    }
    if (write && os == OWNER_CATALOG) {
        reply_error(r, 403, "forbidden",
                    "the platform catalog is managed by the operator; create your own instead");
        return -1;
    }
    return 0;
}

/* ---- generic CRUD ------------------------------------------------------------------------- */

/* Agents and tools have an owner (owner_tenant_id; NULL = the platform catalog). */
static int resource_owned(const struct resource *rs)
{
    return rs == &res_agents || rs == &res_tools;
}

/* Converts a JSON member to a text parameter. Returns 0 (param set, maybe NULL), 1 absent,
 * -1 answered 400. *tmp holds a malloc'd string to free. */
static int field_param(struct req *r, const struct field *f, json_object *body, const char **param,
                       char **tmp)
{
    json_object *v;
    char buf[64];
    *tmp = NULL;
    if (!json_object_object_get_ex(body, f->name, &v))
        return 1;
    if (!v) {
        if (!f->nullable) {
            bad(r, "%s must not be null", f->name);
            return -1;
        }
        *param = NULL;
        return 0;
    }
    switch (f->type) {
    case F_TEXT:
    case F_BASETYPE:
        if (!json_object_is_type(v, json_type_string) ||
            (f->maxlen && (size_t)json_object_get_string_len(v) > f->maxlen) ||
            (f->required && json_object_get_string_len(v) == 0) ||
            strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
            bad(r, "%s must be a non-empty string of bounded length", f->name);
            return -1;
        }
        *param = json_object_get_string(v);
        return 0;
    case F_UUID:
        if (!json_object_is_type(v, json_type_string) || !uuid_valid(json_object_get_string(v))) {
            bad(r, "%s must be a UUID", f->name);
            return -1;
        }
        *param = json_object_get_string(v);
        return 0;
    case F_BOOL:
        if (!json_object_is_type(v, json_type_boolean)) {
            bad(r, "%s must be a boolean", f->name);
            return -1;
        }
        *param = json_object_get_boolean(v) ? "true" : "false";
        return 0;
    case F_INT:
        if (!json_object_is_type(v, json_type_int)) {
            bad(r, "%s must be an integer", f->name);
            return -1;
        }
        snprintf(buf, sizeof buf, "%lld", (long long)json_object_get_int64(v));
        break;
    case F_NUM:
        if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) {
            bad(r, "%s must be a number", f->name);
            return -1;
        }
        snprintf(buf, sizeof buf, "%.17g", json_object_get_double(v));
        break;
    case F_OBJ:
        if (!json_object_is_type(v, json_type_object)) {
            bad(r, "%s must be an object", f->name);
            return -1;
        }
        /* fallthrough */
    case F_JSON:
        *tmp = strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
        *param = *tmp;
        return *tmp ? 0 : -1;
    }
    *tmp = strdup(buf);
    *param = *tmp;
    return *tmp ? 0 : -1;
}

static const char *field_cast(const struct field *f)
{
    switch (f->type) {
    case F_BOOL:
        return "::boolean";
    case F_INT:
        return "::integer";
    case F_NUM:
        return "::numeric";
    case F_OBJ:
    case F_JSON:
        return "::jsonb";
    case F_UUID:
        return "::uuid";
    default:
        return "";
    }
}

static const char *field_column(const struct field *f)
{
    return f->type == F_BASETYPE ? "base_tool_id" : f->name;
}

static void appendf(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    if (len + 1 < cap)
        vsnprintf(buf + len, cap - len, fmt,
                  ap); /* NOLINT(clang-analyzer-valist.Uninitialized): started above */
    va_end(ap);
}

static json_object *fetch_one(struct req *r, const struct resource *rs, const char *id, int *st)
{
    char sql[2048], err[256];
    PGresult *res = NULL;
    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE %s = $1", rs->cols, rs->table, rs->id_col);
    const char *p[] = {id};
    *st = pgpool_exec(r->app->db, &res, sql, 1, p, err, sizeof err);
    if (*st != PG_OK)
        return NULL;
    json_object *o = PQntuples(res) ? pg_row_json(res, 0) : NULL;
    PQclear(res);
    return o;
}

/* {items, next_offset?}: a page of the list in its order; next_offset is there when more rows
 * follow (a list is never cut short without saying so). */
static void crud_list(struct req *r, const struct resource *rs)
{
    char sql[2048], err[256], lim[24], off[24];
    PGresult *res = NULL;
    long limit, offset;
    if (req_list_window(r, 1000, 1000, &limit, &offset) != 0)
        return;
    snprintf(lim, sizeof lim, "%ld", limit + 1); /* one more: are there others? */
    snprintf(off, sizeof off, "%ld", offset);
    const char *p[] = {lim, off, r->claims.tenant_id};
    int np = 2;
    /* a tenant admin lists the catalog and its own objects, or its own tenant row */
    const char *where = "";
    if (!is_operator(r) && resource_owned(rs)) {
        where = " WHERE owner_tenant_id IS NULL OR owner_tenant_id = $3";
        np = 3;
    } else if (!is_operator(r) && rs == &res_tenants) {
        where = " WHERE tenant_id = $3";
        np = 3;
    }
    snprintf(sql, sizeof sql,
             "SELECT %s FROM %s%s ORDER BY %s LIMIT $1::integer OFFSET $2::integer", rs->cols,
             rs->table, where, rs->order);
    int st = pgpool_exec(r->app->db, &res, sql, np, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, rs->path);
        return;
    }
    json_object *o = json_object_new_object();
    json_object *items = pg_rows_json(res);
    list_page_finish(o, "items", items, limit, offset);
    if (rs == &res_tools)
        for (size_t i = 0; i < json_object_array_length(items); i++)
            mask_tool_row(json_object_array_get_idx(items, i));
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

static void crud_get(struct req *r, const struct resource *rs, const char *id)
{
    int st;
    json_object *o = fetch_one(r, rs, id, &st);
    if (st != PG_OK) {
        reply_db_error(r, st, rs->path);
        return;
    }
    if (!o) {
        reply_error(r, 404, "not_found", "no such resource");
        return;
    }
    if (rs == &res_tools)
        mask_tool_row(o);
    reply_json(r, 200, o);
    json_object_put(o);
}

/* Every member of a write's body is a field of the resource, or one of the members GET answers
 * but no write sets, sent back unchanged (a client that PUTs what it read); anything else is a
 * 400 naming it (a misspelt "nmae" changed nothing and answered 200). 0, or -1 answered. */
static int crud_members_known(struct req *r, const struct resource *rs, json_object *body,
                              json_object *current)
{
    static const char *readonly[] = {"owner_tenant_id", "created_at", "updated_at"};
    char msg[200];
    json_object_object_foreach(body, k, v)
    {
        int ro = strcmp(k, rs->id_col) == 0, known = 0;
        for (size_t i = 0; i < rs->nfields && !known; i++)
            known = strcmp(k, rs->fields[i].name) == 0;
        for (size_t i = 0; i < sizeof readonly / sizeof readonly[0] && !known && !ro; i++)
            ro = strcmp(k, readonly[i]) == 0;
        if (!known && current && json_object_object_get_ex(current, k, NULL))
            ro = 1; /* a member GET answers that is not written (base_type, ...) */
        if (known)
            continue;
        if (ro && current && json_object_equal(json_object_object_get(current, k), v))
            continue;
        if (ro)
            snprintf(msg, sizeof msg, "%.64s is read-only", k);
        else
            snprintf(msg, sizeof msg, "unknown member \"%.64s\"", k);
        reply_error(r, 400, "invalid_request", msg);
        return -1;
    }
    return 0;
}

/* Create (id NULL) or update. */
static void crud_write(struct req *r, const struct resource *rs, const char *id)
{
    char sql[4096] = "", vals[1024] = "", err[256];
    const char *params[16];
    char *tmps[16];
    int np = 0, st;
    PGresult *res = NULL;
    json_object *current = NULL;
    json_object *body = req_json_body(r);
    memset(tmps, 0, sizeof tmps);
    if (!body)
        return;
    if (id) {
        current = fetch_one(r, rs, id, &st);
        if (st != PG_OK) {
            reply_db_error(r, st, rs->path);
            goto out;
        }
        if (!current) {
            reply_error(r, 404, "not_found", "no such resource");
            goto out;
        }
    }
    if (crud_members_known(r, rs, body, current) != 0)
        goto out;
    if (rs->validate && rs->validate(r, body, current) != 0)
        goto out;
    if (id)
        snprintf(sql, sizeof sql, "UPDATE %s SET ", rs->table);
    else
        snprintf(sql, sizeof sql, "INSERT INTO %s (", rs->table);
    for (size_t i = 0; i < rs->nfields; i++) {
        const struct field *f = &rs->fields[i];
        const char *param = NULL;
        int got = field_param(r, f, body, &param, &tmps[np]);
        if (got < 0)
            goto out;
        if (got == 1) {
            if (!id && f->required) {
                bad(r, "%s is required", f->name);
                goto out;
            }
            continue;
        }
        params[np] = param;
        np++;
        char expr[160];
        if (f->type == F_BASETYPE)
            snprintf(expr, sizeof expr, "(SELECT base_tool_id FROM base_tools WHERE type = $%d)",
                     np);
        else
            snprintf(expr, sizeof expr, "$%d%s", np, field_cast(f));
        if (id) {
            appendf(sql, sizeof sql, "%s = %s, ", field_column(f), expr);
        } else {
            appendf(sql, sizeof sql, "%s, ", field_column(f));
            appendf(vals, sizeof vals, "%s, ", expr);
        }
    }
    if (!id && resource_owned(rs) && !is_operator(r)) {
        /* what a tenant admin creates is its own */
        params[np++] = r->claims.tenant_id;
        appendf(sql, sizeof sql, "owner_tenant_id, ");
        appendf(vals, sizeof vals, "$%d, ", np);
    }
    if (id) {
        params[np++] = id;
        appendf(sql, sizeof sql, "updated_at = now() WHERE %s = $%d", rs->id_col, np);
        if (resource_owned(rs) && !is_operator(r)) {
            params[np++] = r->claims.tenant_id;
            appendf(sql, sizeof sql, " AND owner_tenant_id = $%d", np);
        }
    } else {
        if (np == 0) {
            reply_error(r, 400, "invalid_request", "nothing to create");
            goto out;
        }
        sql[strlen(sql) - 2] = 0;
        vals[strlen(vals) - 2] = 0;
        appendf(sql, sizeof sql, ") VALUES (%s)", vals);
    }
    appendf(sql, sizeof sql, " RETURNING %s", rs->cols);
    st = pgpool_exec(r->app->db, &res, sql, np, params, err, sizeof err);
    if (st == PG_ERR_CONFLICT) {
        reply_error(r, 409, "conflict", "a resource with that name or id already exists");
        goto out;
    }
    if (st == PG_ERR_QUERY || st == PG_ERR_INVALID) {
        /* CHECK constraints (name charset, enum values, bounds) */
        log_kv(LOG_INFO, &r->log, "admin write refused", "detail", err, (char *)NULL);
        reply_error(r, 400, "invalid_request", "a value is out of range or malformed");
        goto out;
    }
    if (st != PG_OK) {
        reply_db_error(r, st, rs->path);
        goto out;
    }
    if (PQntuples(res) == 0) {
        reply_error(r, 404, "not_found", "no such resource");
        goto out;
    }
    json_object *row = pg_row_json(res, 0);
    const char *rid = json_field_str(row, rs->id_col);
    if (rid)
        snprintf(r->audit_resource, sizeof r->audit_resource, "%s", rid);
    if (rid && rs == &res_tenants)
        snprintf(r->audit_tenant, sizeof r->audit_tenant, "%s", rid);
    if (rs->after && rid)
        rs->after(r, rid, row);
    if (rs == &res_tools)
        mask_tool_row(row);
    reply_json(r, id ? 200 : 201, row);
    json_object_put(row);
out:
    if (res)
        PQclear(res);
    for (int i = 0; i < 16; i++)
        free(tmps[i]);
    json_object_put(current);
    json_object_put(body);
}

static void crud_delete(struct req *r, const struct resource *rs, const char *id)
{
    char sql[512], err[256];
    PGresult *res = NULL;
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE %s = $1 RETURNING %s", rs->table, rs->id_col,
             rs->id_col);
    const char *p[] = {id};
    int st = pgpool_exec(r->app->db, &res, sql, 1, p, err, sizeof err);
    if (st == PG_ERR_FOREIGN_KEY) {
        reply_error(r, 409, "conflict", "the resource is still in use");
        return;
    }
    if (st != PG_OK) {
        reply_db_error(r, st, rs->path);
        return;
    }
    int n = PQntuples(res);
    PQclear(res);
    if (!n) {
        reply_error(r, 404, "not_found", "no such resource");
        return;
    }
    if (rs->after)
        rs->after(r, id, NULL);
    reply_raw(r, 204, NULL, "", 0, NULL);
}

static void crud(struct req *r, const struct resource *rs, int base)
{
    const char *m = r->ri->request_method;
    if (r->nsegs == base) {
        if (strcmp(m, "GET") == 0)
            crud_list(r, rs);
        else if (strcmp(m, "POST") == 0)
            crud_write(r, rs, NULL);
        else
            reply_method_not_allowed(r, "GET, POST");
        return;
    }
    const char *id = r->segs[base];
    if (r->nsegs != base + 1 || (rs->id_uuid ? !uuid_valid(id) : !tenant_id_valid(id))) {
        reply_error(r, 404, "not_found", "no such resource");
        return;
    }
    snprintf(r->audit_resource, sizeof r->audit_resource, "%s", id);
    int write = strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0;
    if (rs == &res_tenants && require_tenant_access(r, id) != 0)
        return;
    if (owned_check(r, rs, id, write) != 0)
        return;
    if (strcmp(m, "GET") == 0)
        crud_get(r, rs, id);
    else if (strcmp(m, "PATCH") == 0 || strcmp(m, "PUT") == 0)
        crud_write(r, rs, id);
    else if (strcmp(m, "DELETE") == 0)
        crud_delete(r, rs, id);
    else
        reply_method_not_allowed(r, "GET, PATCH, PUT, DELETE");
}

/* ---- agents: tools and reload ------------------------------------------------------------ */

static void agent_tools_get(struct req *r, const char *agent_id)
{
    char err[256];
    PGresult *res = NULL;
    const char *p[] = {agent_id};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT at.tool_id, t.name, at.priority FROM agent_tools at "
                         "JOIN tool_configs t ON t.tool_id = at.tool_id WHERE at.agent_id = $1 "
                         "ORDER BY at.priority, t.name",
                         1, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "agent tools");
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "agent_id", json_object_new_string(agent_id));
    json_object_object_add(o, "tools", pg_rows_json(res));
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

/* POST {tools:[{tool_id, priority}]}: replaces the agent's tool set in one transaction. */
static void agent_tools_set(struct req *r, const char *agent_id)
{
    char err[256];
    json_object *body = req_json_body(r), *tools;
    PGconn *c = NULL;
    PGresult *res = NULL;
    int st, in_tx = 0;
    if (!body)
        return;
    static const char *const members[] = {"tools"}, *const entry[] = {"tool_id", "priority"};
    if (body_members_known(r, body, members, 1) != 0)
        goto out;
    if (!json_object_object_get_ex(body, "tools", &tools) ||
        !json_object_is_type(tools, json_type_array) || json_object_array_length(tools) > 100) {
        reply_error(r, 400, "invalid_request", "tools must be an array of {tool_id, priority}");
        goto out;
    }
    size_t n = json_object_array_length(tools);
    for (size_t i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx(tools, i), *pr;
        const char *tid = json_field_str(t, "tool_id");
        if (!tid || !uuid_valid(tid) || !json_object_object_get_ex(t, "priority", &pr) ||
            !json_object_is_type(pr, json_type_int) || json_object_get_int64(pr) < 0 ||
            json_object_get_int64(pr) > 1000000) {
            reply_error(r, 400, "invalid_request",
                        "each tool needs a tool_id (UUID) and an integer priority >= 0");
            goto out;
        }
        if (body_members_known(r, t, entry, 2) != 0)
            goto out;
    }
    c = pgpool_acquire(r->app->db, 3000, &st, err, sizeof err);
    if (!c) {
        reply_db_error(r, st, "acquire");
        goto out;
    }
    const char *pa[] = {agent_id};
    if ((st = pgconn_exec(c, NULL, "BEGIN", 0, NULL, err, sizeof err)) != PG_OK) {
        reply_db_error(r, st, "begin");
        goto out;
    }
    in_tx = 1;
    st = pgconn_exec(c, &res,
                     "SELECT owner_tenant_id FROM agent_configs WHERE agent_id = $1 FOR UPDATE", 1,
                     pa, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "agent lookup");
        goto out;
    }
    int found = PQntuples(res) > 0;
    char owner[72] = "";
    int has_owner = found && !PQgetisnull(res, 0, 0);
    if (has_owner)
        snprintf(owner, sizeof owner, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    res = NULL;
    if (!found) {
        reply_error(r, 404, "not_found", "no such agent");
        goto out;
    }
    /* An agent's tools are the catalog's or its owner's: never another tenant's. */
    for (size_t i = 0; i < n; i++) {
        const char *pt[] = {json_field_str(json_object_array_get_idx(tools, i), "tool_id"),
                            has_owner ? owner : NULL};
        st = pgconn_exec(c, &res,
                         "SELECT 1 FROM tool_configs WHERE tool_id = $1::uuid AND "
                         "(owner_tenant_id IS NULL OR owner_tenant_id = $2)",
                         2, pt, err, sizeof err);
        if (st != PG_OK) {
            reply_db_error(r, st, "tool lookup");
            goto out;
        }
        int ok = PQntuples(res) > 0;
        PQclear(res);
        res = NULL;
        if (!ok) {
            reply_error(r, 400, "invalid_reference", "a tool_id does not exist");
            goto out;
        }
    }
    st =
        pgconn_exec(c, NULL, "DELETE FROM agent_tools WHERE agent_id = $1", 1, pa, err, sizeof err);
    for (size_t i = 0; i < n && st == PG_OK; i++) {
        json_object *t = json_object_array_get_idx(tools, i), *pr;
        json_object_object_get_ex(t, "priority", &pr);
        char prio[24];
        snprintf(prio, sizeof prio, "%lld", (long long)json_object_get_int64(pr));
        const char *p[] = {agent_id, json_field_str(t, "tool_id"), prio};
        st = pgconn_exec(c, NULL,
                         "INSERT INTO agent_tools (agent_id, tool_id, priority) VALUES ($1, $2, "
                         "$3::integer) ON CONFLICT (agent_id, tool_id) DO UPDATE SET priority = "
                         "EXCLUDED.priority",
                         3, p, err, sizeof err);
    }
    if (st == PG_ERR_FOREIGN_KEY) {
        reply_error(r, 400, "invalid_reference", "a tool_id does not exist");
        goto out;
    }
    if (st != PG_OK) {
        reply_db_error(r, st, "agent tools");
        goto out;
    }
    if ((st = pgconn_exec(c, NULL, "COMMIT", 0, NULL, err, sizeof err)) != PG_OK) {
        in_tx = 0;
        reply_db_error(r, st, "commit");
        goto out;
    }
    in_tx = 0;
    pgpool_release(r->app->db, c);
    c = NULL;
    after_agent(r, agent_id, NULL);
    agent_tools_get(r, agent_id);
out:
    if (res)
        PQclear(res);
    if (c) {
        if (in_tx)
            pgconn_exec(c, NULL, "ROLLBACK", 0, NULL, err, sizeof err);
        pgpool_release(r->app->db, c);
    }
    json_object_put(body);
}

static void agents(struct req *r)
{
    /* segs: api admin agents [reload | {id} [tools]] */
    if (r->nsegs == 4 && strcmp(r->segs[3], "reload") == 0) {
        if (strcmp(r->ri->request_method, "POST") != 0) {
            reply_method_not_allowed(r, "POST");
            return;
        }
        if (require_operator(r) != 0)
            return;
        /* the seed's agenthub:*:cache:agent:* and, with them, the agents' tool lists */
        int st = rcache_del_pattern(r->app->rc, "agenthub:*:cache:agent:*");
        if (st == RC_OK || st == RC_MISS)
            st = rcache_del_pattern(r->app->rc, "agenthub:*:cache:agent_tools:*");
        if (st != RC_OK && st != RC_MISS) {
            reply_error(r, 503, "unavailable", "cache unavailable, retry later");
            return;
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "status", json_object_new_string("reloaded"));
        reply_json(r, 200, o);
        json_object_put(o);
        return;
    }
    if (r->nsegs == 5 && strcmp(r->segs[4], "tools") == 0) {
        if (!uuid_valid(r->segs[3])) {
            reply_error(r, 404, "not_found", "no such agent");
            return;
        }
        snprintf(r->audit_resource, sizeof r->audit_resource, "%s", r->segs[3]);
        if (owned_check(r, &res_agents, r->segs[3], strcmp(r->ri->request_method, "GET") != 0) != 0)
            return;
        if (strcmp(r->ri->request_method, "GET") == 0)
            agent_tools_get(r, r->segs[3]);
        else if (strcmp(r->ri->request_method, "POST") == 0 ||
                 strcmp(r->ri->request_method, "PUT") == 0)
            agent_tools_set(r, r->segs[3]);
        else
            reply_method_not_allowed(r, "GET, POST, PUT");
        return;
    }
    crud(r, &res_agents, 3);
}

/* ---- tenants: permissions and llm-config ------------------------------------------------- */

static void permissions_get(struct req *r, const char *tenant)
{
    char err[256];
    PGresult *a = NULL, *t = NULL;
    const char *p[] = {tenant};
    int st = pgpool_exec(r->app->db, &a,
                         "SELECT p.agent_id, c.name, p.enabled FROM tenant_agent_permissions p "
                         "JOIN agent_configs c ON c.agent_id = p.agent_id WHERE p.tenant_id = $1 "
                         "AND (c.owner_tenant_id IS NULL OR c.owner_tenant_id = $1) "
                         "ORDER BY c.name",
                         1, p, err, sizeof err);
    if (st == PG_OK)
        st = pgpool_exec(r->app->db, &t,
                         "SELECT p.tool_id, c.name, p.enabled FROM tenant_tool_permissions p "
                         "JOIN tool_configs c ON c.tool_id = p.tool_id WHERE p.tenant_id = $1 "
                         "AND (c.owner_tenant_id IS NULL OR c.owner_tenant_id = $1) "
                         "ORDER BY c.name",
                         1, p, err, sizeof err);
    if (st != PG_OK) {
        if (a)
            PQclear(a);
        reply_db_error(r, st, "permissions");
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "tenant_id", json_object_new_string(tenant));
    json_object_object_add(o, "agents", pg_rows_json(a));
    json_object_object_add(o, "tools", pg_rows_json(t));
    PQclear(a);
    PQclear(t);
    reply_json(r, 200, o);
    json_object_put(o);
}

/* Is e one {agent_id|tool_id (UUID), enabled (boolean, default true)} entry? */
static int permission_entry_valid(json_object *e)
{
    json_object *en;
    const char *aid = json_field_str(e, "agent_id"), *tid = json_field_str(e, "tool_id");
    if ((!aid == !tid) || (aid && !uuid_valid(aid)) || (tid && !uuid_valid(tid)))
        return 0;
    return !json_object_object_get_ex(e, "enabled", &en) ||
           json_object_is_type(en, json_type_boolean);
}

/* One entry (permission_entry_valid): upsert. Returns pg status, or 2 when the agent or tool
 * is not one this tenant may be given. */
static int permission_put(struct req *r, const char *tenant, json_object *e, int *agents,
                          int *tools)
{
    char err[256];
    json_object *en;
    const char *aid = json_field_str(e, "agent_id"), *tid = json_field_str(e, "tool_id");
    int enabled = 1;
    if (json_object_object_get_ex(e, "enabled", &en))
        enabled = json_object_get_boolean(en);
    const char *p[] = {tenant, aid ? aid : tid, enabled ? "true" : "false"};
    PGresult *res = NULL;
    int st;
    /* Only the platform catalog's or this tenant's own agents and tools can be permitted: an
     * object of another tenant is "not found" (for the operator too). */
    if (aid) {
        *agents = 1;
        st = pgpool_exec(r->app->db, &res,
                         "INSERT INTO tenant_agent_permissions (tenant_id, agent_id, enabled) "
                         "SELECT $1, $2::uuid, $3::boolean WHERE EXISTS (SELECT 1 FROM "
                         "agent_configs a WHERE a.agent_id = $2::uuid AND (a.owner_tenant_id IS "
                         "NULL OR a.owner_tenant_id = $1)) ON CONFLICT (tenant_id, agent_id) DO "
                         "UPDATE SET enabled = EXCLUDED.enabled, updated_at = now() RETURNING 1",
                         3, p, err, sizeof err);
    } else {
        *tools = 1;
        st = pgpool_exec(r->app->db, &res,
                         "INSERT INTO tenant_tool_permissions (tenant_id, tool_id, enabled) "
                         "SELECT $1, $2::uuid, $3::boolean WHERE EXISTS (SELECT 1 FROM "
                         "tool_configs t WHERE t.tool_id = $2::uuid AND (t.owner_tenant_id IS "
                         "NULL OR t.owner_tenant_id = $1)) ON CONFLICT (tenant_id, tool_id) DO "
                         "UPDATE SET enabled = EXCLUDED.enabled, updated_at = now() RETURNING 1",
                         3, p, err, sizeof err);
    }
    if (st == PG_OK && PQntuples(res) == 0)
        st = 2;
    if (res)
        PQclear(res);
    return st;
}

static void permissions_set(struct req *r, const char *tenant)
{
    json_object *body = req_json_body(r), *list;
    int agents = 0, tools = 0, st = PG_OK;
    char key[200];
    if (!body)
        return;
    static const char *const members[] = {"agent_id", "tool_id", "enabled", "agents", "tools"};
    static const char *const entry_members[] = {"agent_id", "tool_id", "enabled"};
    if (body_members_known(r, body, members, sizeof members / sizeof *members) != 0)
        goto out;
    if (req_tenant_exists(r, tenant) != 0)
        goto out;
    json_object *entries = json_object_new_array();
    if (json_field_str(body, "agent_id") || json_field_str(body, "tool_id"))
        json_object_array_add(entries, json_object_get(body));
    const char *kinds[] = {"agents", "tools"};
    for (int k = 0; k < 2; k++) {
        if (json_object_object_get_ex(body, kinds[k], &list)) {
            if (!json_object_is_type(list, json_type_array)) {
                json_object_put(entries);
                reply_error(r, 400, "invalid_request", "agents and tools must be arrays");
                goto out;
            }
            for (size_t i = 0; i < json_object_array_length(list); i++)
                json_object_array_add(entries, json_object_get(json_object_array_get_idx(list, i)));
        }
    }
    if (json_object_array_length(entries) == 0) {
        json_object_put(entries);
        reply_error(r, 400, "invalid_request",
                    "expected {agent_id|tool_id, enabled} or {agents:[...], tools:[...]}");
        goto out;
    }
    /* Every entry is checked before any is written: a bad third entry used to leave the
     * first two applied behind a 400. */
    for (size_t i = 0; i < json_object_array_length(entries); i++) {
        json_object *e = json_object_array_get_idx(entries, i);
        if (!json_object_is_type(e, json_type_object) || !permission_entry_valid(e)) {
            json_object_put(entries);
            reply_error(r, 400, "invalid_request",
                        "each entry needs exactly one of agent_id or tool_id (UUID) and a boolean "
                        "enabled");
            goto out;
        }
        if (e != body && body_members_known(r, e, entry_members,
                                            sizeof entry_members / sizeof *entry_members) != 0) {
            json_object_put(entries);
            goto out;
        }
    }
    for (size_t i = 0; i < json_object_array_length(entries) && st == PG_OK; i++)
        st = permission_put(r, tenant, json_object_array_get_idx(entries, i), &agents, &tools);
    json_object_put(entries);
    /* Invalidate whatever was written, even when a later entry failed. */
    if (agents) {
        snprintf(key, sizeof key, "agenthub:%s:cache:permissions:agents", tenant);
        del_key(r, key);
    }
    if (tools) {
        snprintf(key, sizeof key, "agenthub:%s:cache:permissions:tools", tenant);
        del_key(r, key);
        /* the cached agent tool lists are permission-filtered */
        snprintf(key, sizeof key, "agenthub:%s:cache:agent_tools:*", tenant);
        del_key(r, key);
    }
    if (st == PG_ERR_FOREIGN_KEY || st == 2) {
        reply_error(r, 404, "not_found", "no such agent or tool");
        goto out;
    }
    if (st != PG_OK) {
        reply_db_error(r, st, "permissions");
        goto out;
    }
    permissions_get(r, tenant);
out:
    json_object_put(body);
}

#define LLM_CFG_COLS                                                                               \
    "c.tenant_id, c.model_id, m.provider, m.model_name, c.rate_limit_rpm, c.fallback_model_id, "   \
    "c.temperature, c.max_tokens, c.embedding_provider, c.embedding_model, "                       \
    "c.embedding_base_url, c.encrypted_api_key IS NOT NULL AS has_api_key, "                       \
    "c.encrypted_embedding_api_key IS NOT NULL AS has_embedding_api_key, c.is_active, " TS(        \
        "c.updated_at") " AS updated_at"

static void llm_config_get(struct req *r, const char *tenant)
{
    char err[256];
    PGresult *res = NULL;
    const char *p[] = {tenant};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT " LLM_CFG_COLS " FROM tenant_llm_configs c JOIN llm_models m ON "
                         "m.model_id = c.model_id WHERE c.tenant_id = $1",
                         1, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "llm-config");
        return;
    }
    if (!PQntuples(res)) {
        PQclear(res);
        reply_error(r, 404, "not_found", "no LLM configuration for this tenant");
        return;
    }
    json_object *o = pg_row_json(res, 0);
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

/* Encrypts a key member into *out (malloc'd). 0 ok / absent, -1 answered. */
static int encrypt_member(struct req *r, json_object *body, const char *name, char **out,
                          int *present)
{
    json_object *v;
    *out = NULL;
    *present = 0;
    if (!json_object_object_get_ex(body, name, &v))
        return 0;
    *present = 1;
    if (!v)
        return 0; /* null clears the key */
    if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
        json_object_get_string_len(v) > 4096) {
        bad(r, "%s must be a non-empty string", name);
        return -1;
    }
    const char *fk = r->app->cfg.common.fernet_key;
    if (!fk || !*fk) {
        reply_error(r, 503, "unavailable", "FERNET_KEY is not configured");
        return -1;
    }
    if (fernet_encrypt(fk, json_object_get_string(v), (size_t)json_object_get_string_len(v), out) !=
        FERNET_OK) {
        reply_error(r, 500, "internal", "cannot encrypt the key");
        return -1;
    }
    return 0;
}

/* Where the key used for embeddings goes: "" for the local embedder. */
static void embedding_origin(const char *eprov, const char *ebase, const char *prov,
                             const char *base, char *out, size_t cap)
{
    out[0] = 0;
    if (!eprov || strcmp(eprov, "local") == 0)
        return;
    const char *b = ebase && *ebase ? ebase : (prov && strcmp(eprov, prov) == 0 ? base : NULL);
    if (llm_endpoint_origin(eprov, b, out, cap) != 0)
        snprintf(out, cap, "?%s|%s", eprov, b ? b : "");
}

/* A member of body if present (its string, or NULL for null), else the current value. */
static const char *member_or(json_object *body, const char *name, const char *current)
{
    json_object *v;
    if (!json_object_object_get_ex(body, name, &v))
        return current;
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* A stored key is never sent to a new host unless it is supplied again: a change of the
 * endpoint (provider + base URL origin) the chat key or the embedding key would be sent to is
 * refused (409 key_endpoint_changed, naming the field) unless this request carries that key.
 * llm/config.c checks the same at use (the key's stored binding), for the changes made
 * elsewhere (llm_models.base_url). 0 ok, -1 answered. */
static int llm_endpoint_guard(struct req *r, const char *tenant, json_object *body)
{
    char err[256], oldo[400], newo[400];
    PGresult *cur = NULL, *nm = NULL;
    int rc = -1;
    const char *p[] = {tenant};
    int st = pgpool_exec(r->app->db, &cur,
                         "SELECT m.provider, m.base_url, c.encrypted_api_key IS NOT NULL, "
                         "c.embedding_provider, c.embedding_base_url, "
                         "c.encrypted_embedding_api_key IS NOT NULL FROM tenant_llm_configs c "
                         "JOIN llm_models m ON m.model_id = c.model_id WHERE c.tenant_id = $1",
                         1, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "llm-config");
        goto out;
    }
    const char *mid = json_field_str(body, "model_id");
    if (PQntuples(cur) == 0 || !mid || !uuid_valid(mid)) {
        rc = 0; /* nothing stored yet, or the write itself answers 400 */
        goto out;
    }
    const char *pm[] = {mid};
    st = pgpool_exec(r->app->db, &nm,
                     "SELECT provider, base_url FROM llm_models WHERE model_id = $1", 1, pm, err,
                     sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "llm-config");
        goto out;
    }
    if (PQntuples(nm) == 0) {
        rc = 0; /* the write answers "no such model" */
        goto out;
    }
#define CV(res, c) (PQgetisnull(res, 0, c) ? NULL : PQgetvalue(res, 0, c))
    const char *oprov = CV(cur, 0), *obase = CV(cur, 1), *nprov = CV(nm, 0), *nbase = CV(nm, 1);
    /* columns 2 and 5 are IS NOT NULL: never null */
    int had_key = PQgetvalue(cur, 0, 2)[0] == 't', had_ekey = PQgetvalue(cur, 0, 5)[0] == 't';
    int key_given = json_object_object_get_ex(body, "api_key", NULL);
    int ekey_given = json_object_object_get_ex(body, "embedding_api_key", NULL);
    json_object *ev = NULL;
    int ekey_new = ekey_given && json_object_object_get_ex(body, "embedding_api_key", &ev) && ev;
    if (had_key && !key_given) {
        if (llm_endpoint_origin(oprov, obase, oldo, sizeof oldo) != 0)
            oldo[0] = 0;
        if (llm_endpoint_origin(nprov, nbase, newo, sizeof newo) != 0 || strcmp(oldo, newo) != 0) {
            reply_error(r, 409, "key_endpoint_changed",
                        "model_id: the new model is served by another endpoint (provider or "
                        "host) than the one the stored api_key was given for; send api_key again "
                        "(or null to remove it)");
            goto out;
        }
    }
    /* The key embeddings use: embedding_api_key, else api_key. */
    int ekey_after = ekey_given ? ekey_new : had_ekey;
    int emb_uses_stored = ekey_after ? !ekey_given : (had_key && !key_given);
    if (emb_uses_stored) {
        embedding_origin(CV(cur, 3), CV(cur, 4), oprov, obase, oldo, sizeof oldo);
        embedding_origin(member_or(body, "embedding_provider", CV(cur, 3)),
                         member_or(body, "embedding_base_url", CV(cur, 4)), nprov, nbase, newo,
                         sizeof newo);
        if (newo[0] && strcmp(oldo, newo) != 0) {
            reply_error(r, 409, "key_endpoint_changed",
                        "embedding_base_url: embeddings would go to another endpoint (provider "
                        "or host) than the one the stored key was given for; send "
                        "embedding_api_key (or api_key) again");
            goto out;
        }
    }
#undef CV
    rc = 0;
out:
    if (cur)
        PQclear(cur);
    if (nm)
        PQclear(nm);
    return rc;
}

/* The ranges tenant_llm_configs keeps, checked first and named: the table's CHECKs answered
 * "a value is out of range or malformed", and a bad value could meet the endpoint guard's
 * 409 before its 400. Types are field_param's. 0, or -1 answered. */
static int llm_config_ranges(struct req *r, json_object *body)
{
    json_object *v;
    if (json_object_object_get_ex(body, "temperature", &v) && v &&
        (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) &&
        !(json_object_get_double(v) >= 0 && json_object_get_double(v) <= 2))
        return bad(r, "%s must be 0..2", "temperature");
    if (json_object_object_get_ex(body, "max_tokens", &v) && v &&
        json_object_is_type(v, json_type_int) && json_object_get_int64(v) < 1)
        return bad(r, "%s must be at least 1", "max_tokens");
    if (json_object_object_get_ex(body, "rate_limit_rpm", &v) && v &&
        json_object_is_type(v, json_type_int) && json_object_get_int64(v) < 0)
        return bad(r, "%s must be 0 (no limit) or more", "rate_limit_rpm");
    const char *ep = json_field_str(body, "embedding_provider");
    if (ep && strcmp(ep, "openai") != 0 && strcmp(ep, "gemini") != 0 &&
        strcmp(ep, "openai_compatible") != 0 && strcmp(ep, "local") != 0)
        return bad(r, "%s must be openai, gemini, openai_compatible or local",
                   "embedding_provider");
    const char *eu = json_field_str(body, "embedding_base_url");
    if (eu && strncmp(eu, "http://", 7) != 0 && strncmp(eu, "https://", 8) != 0)
        return bad(r, "%s must be an http:// or https:// URL", "embedding_base_url");
    const char *m = json_field_str(body, "model_id"),
               *fb = json_field_str(body, "fallback_model_id");
    if (m && fb && strcasecmp(m, fb) == 0)
        return bad(r, "%s must be another model than model_id", "fallback_model_id");
    return 0;
}

static void llm_config_set(struct req *r, const char *tenant)
{
    static const struct field f[] = {
        {"model_id", F_UUID, 1, 0, 0},          {"rate_limit_rpm", F_INT, 0, 0, 0},
        {"fallback_model_id", F_UUID, 0, 1, 0}, {"temperature", F_NUM, 0, 1, 0},
        {"max_tokens", F_INT, 0, 1, 0},         {"embedding_provider", F_TEXT, 0, 1, 32},
        {"embedding_model", F_TEXT, 0, 1, 200}, {"embedding_base_url", F_TEXT, 0, 1, 2048},
        {"is_active", F_BOOL, 0, 0, 0},
    };
    char sql[8192], cols[1024] = "tenant_id", vals[1024] = "$1", upd[2048] = "";
    char err[256], *tmps[16], *key = NULL, *ekey = NULL;
    const char *params[16];
    int np = 1, kp, ekp;
    memset(tmps, 0, sizeof tmps);
    /* what GET answers and no write sets: a client may send back what it read */
    static const char *const read_only[] = {
        "tenant_id", "provider", "model_name", "has_api_key", "has_embedding_api_key",
        "updated_at"};
    json_object *body = req_json_body(r);
    if (!body)
        return;
    for (size_t i = 0; i < sizeof read_only / sizeof *read_only; i++)
        json_object_object_del(body, read_only[i]);
    /* the body takes the fields and the two keys, encrypted apart */
    const char *members[sizeof f / sizeof f[0] + 2];
    size_t nm = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        members[nm++] = f[i].name;
    members[nm++] = "api_key";
    members[nm++] = "embedding_api_key";
    if (body_members_known(r, body, members, nm) != 0 || llm_config_ranges(r, body) != 0)
        goto out;
    if (req_tenant_exists(r, tenant) != 0)
        goto out;
    if (llm_endpoint_guard(r, tenant, body) != 0)
        goto out;
    if (encrypt_member(r, body, "api_key", &key, &kp) != 0 ||
        encrypt_member(r, body, "embedding_api_key", &ekey, &ekp) != 0)
        goto out;
    params[0] = tenant;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        const char *param = NULL;
        int got = field_param(r, &f[i], body, &param, &tmps[np]);
        if (got < 0)
            goto out;
        if (got == 1) {
            if (f[i].required) {
                bad(r, "%s is required", f[i].name);
                goto out;
            }
            continue;
        }
        params[np++] = param;
        char e[96];
        snprintf(e, sizeof e, "$%d%s", np, field_cast(&f[i]));
        appendf(cols, sizeof cols, ", %s", f[i].name);
        appendf(vals, sizeof vals, ", %s", e);
        appendf(upd, sizeof upd, "%s = EXCLUDED.%s, ", f[i].name, f[i].name);
    }
    if (kp) {
        params[np++] = key;
        appendf(cols, sizeof cols, ", encrypted_api_key");
        appendf(vals, sizeof vals, ", $%d", np);
        appendf(upd, sizeof upd, "encrypted_api_key = EXCLUDED.encrypted_api_key, ");
    }
    if (ekp) {
        params[np++] = ekey;
        appendf(cols, sizeof cols, ", encrypted_embedding_api_key");
        appendf(vals, sizeof vals, ", $%d", np);
        appendf(upd, sizeof upd,
                "encrypted_embedding_api_key = EXCLUDED.encrypted_embedding_api_key, ");
    }
    snprintf(sql, sizeof sql,
             "INSERT INTO tenant_llm_configs (%s) VALUES (%s) ON CONFLICT (tenant_id) DO UPDATE "
             "SET %supdated_at = now()",
             cols, vals, upd);
    int st = pgpool_exec(r->app->db, NULL, sql, np, params, err, sizeof err);
    if (st == PG_ERR_FOREIGN_KEY) {
        reply_error(r, 400, "invalid_reference", "no such model");
        goto out;
    }
    if (st == PG_ERR_QUERY || st == PG_ERR_INVALID) {
        log_kv(LOG_INFO, &r->log, "llm-config refused", "detail", err, (char *)NULL);
        reply_error(r, 400, "invalid_request", "a value is out of range or malformed");
        goto out;
    }
    if (st != PG_OK) {
        reply_db_error(r, st, "llm-config");
        goto out;
    }
    invalidate_llm(r, tenant);
    llm_config_get(r, tenant);
out:
    for (int i = 0; i < 16; i++)
        free(tmps[i]);
    free(key);
    free(ekey);
    json_object_put(body);
}

static void llm_config_delete(struct req *r, const char *tenant)
{
    char err[256];
    PGresult *res = NULL;
    const char *p[] = {tenant};
    int st = pgpool_exec(r->app->db, &res,
                         "DELETE FROM tenant_llm_configs WHERE tenant_id = $1 RETURNING tenant_id",
                         1, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "llm-config");
        return;
    }
    int n = PQntuples(res);
    PQclear(res);
    invalidate_llm(r, tenant);
    if (!n) {
        reply_error(r, 404, "not_found", "no LLM configuration for this tenant");
        return;
    }
    reply_raw(r, 204, NULL, "", 0, NULL);
}

static void tenants(struct req *r)
{
    const char *m = r->ri->request_method;
    if ((r->nsegs == 5 || r->nsegs == 6) && strcmp(r->segs[4], "api-keys") == 0) {
        const char *t = r->segs[3];
        if (!tenant_id_valid(t)) {
            reply_error(r, 404, "not_found", "no such tenant");
            return;
        }
        if (require_tenant_access(r, t) != 0)
            return;
        routes_apikeys(r, t);
        return;
    }
    if (r->nsegs == 5) {
        const char *t = r->segs[3];
        if (!tenant_id_valid(t)) {
            reply_error(r, 404, "not_found", "no such tenant");
            return;
        }
        if (require_tenant_access(r, t) != 0)
            return;
        if (strcmp(r->segs[4], "permissions") == 0) {
            if (strcmp(m, "GET") == 0) {
                if (req_tenant_exists(r, t) == 0)
                    permissions_get(r, t);
            } else if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0) {
                permissions_set(r, t);
            } else {
                reply_method_not_allowed(r, "GET, POST, PUT");
            }
            return;
        }
        if (strcmp(r->segs[4], "limits") == 0) {
            routes_usage_limits(r, t); /* routes_usage.c: writes are the operator's */
            return;
        }
        if (strcmp(r->segs[4], "llm-config") == 0) {
            if (strcmp(m, "GET") == 0)
                llm_config_get(r, t);
            else if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0)
                llm_config_set(r, t);
            else if (strcmp(m, "DELETE") == 0)
                llm_config_delete(r, t);
            else
                reply_method_not_allowed(r, "GET, POST, PUT, PATCH, DELETE");
            return;
        }
        reply_error(r, 404, "not_found", "no such route");
        return;
    }
    /* Creating, deleting and (de)activating tenants is the operator's. */
    if (!is_operator(r)) {
        if ((r->nsegs == 3 && strcmp(m, "POST") == 0) ||
            (r->nsegs == 4 && strcmp(m, "DELETE") == 0)) {
            if (r->nsegs == 4)
                snprintf(r->audit_tenant, sizeof r->audit_tenant, "%s", r->segs[3]);
            require_operator(r);
            return;
        }
        if (r->nsegs == 4 && (strcmp(m, "PATCH") == 0 || strcmp(m, "PUT") == 0)) {
            if (require_tenant_access(r, r->segs[3]) != 0)
                return;
            if (req_read_body(r) != 0)
                return;
            /* a body that is not JSON gets its 400 from the route */
            json_object *b = NULL;
            char why[192];
            if (json_strict_parse(r->body, r->body_len, 64, 0, &b, why, sizeof why) != 0)
                b = NULL;
            int touches = b && json_object_is_type(b, json_type_object) &&
                          json_object_object_get_ex(b, "is_active", NULL);
            json_object_put(b);
            if (touches) {
                reply_error(r, 403, "forbidden", "is_active is set by the platform operator");
                return;
            }
        }
    }
    crud(r, &res_tenants, 3);
}

/* ---- knowledge base (ChromaDB via tools/knowledge.h) ------------------------------------- */

/* The tenant's provider embedder when it has one configured, else NULL (local embedder):
 * the RAG tool makes the same choice, so documents and queries share one embedding space. */
struct llm_config *knowledge_embedder(struct req *r, const char *tenant, struct llm_config *cfg)
{
    struct llm_error lerr;
    memset(&lerr, 0, sizeof lerr);
    memset(cfg, 0, sizeof *cfg);
    const char *fk = r->app->cfg.common.fernet_key;
    if (llm_config_load(r->app->db, r->app->rc, fk ? fk : "", tenant, cfg, &lerr) != LLM_OK)
        return NULL;
    if (cfg->embedding_provider_model && *cfg->embedding_provider_model &&
        cfg->provider != LLM_PROVIDER_LOCAL)
        return cfg;
    llm_config_cleanup(cfg);
    memset(cfg, 0, sizeof *cfg);
    return NULL;
}

/* POST {tenant_id, source, text, title?} or {tenant_id, documents:[{source, text, title?}]} */
static void knowledge_add(struct req *r)
{
    json_object *body = req_json_body(r), *docs = NULL, *out = NULL, *v;
    struct chroma *c = NULL;
    struct llm_config cfg, *emb = NULL;
    char err[512];
    memset(&cfg, 0, sizeof cfg);
    if (!body)
        return;
    /* a tenant admin's knowledge is its own tenant's (the default) */
    if (!is_operator(r) && !json_object_object_get_ex(body, "tenant_id", NULL))
        json_object_object_add(body, "tenant_id", json_object_new_string(r->claims.tenant_id));
    const char *tenant = json_field_str(body, "tenant_id");
    if (!tenant || !tenant_id_valid(tenant)) {
        reply_error(r, 400, "invalid_request", "tenant_id is required");
        goto out;
    }
    static const char *const members[] = {"tenant_id", "source", "text", "title", "documents"};
    static const char *const doc_members[] = {"source", "text", "title"};
    if (body_members_known(r, body, members, sizeof members / sizeof *members) != 0)
        goto out;
    if (require_tenant_access(r, tenant) != 0)
        goto out;
    if (req_tenant_exists(r, tenant) != 0)
        goto out;
    if (json_object_object_get_ex(body, "documents", &v)) {
        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0 ||
            json_object_array_length(v) > 100) {
            reply_error(r, 400, "invalid_request", "documents must be an array of 1..100");
            goto out;
        }
        docs = json_object_get(v);
    } else {
        docs = json_object_new_array();
        json_object_array_add(docs, json_object_get(body));
    }
    size_t n = json_object_array_length(docs);
    for (size_t i = 0; i < n; i++) {
        json_object *d = json_object_array_get_idx(docs, i), *t;
        const char *src = json_field_str(d, "source");
        if (!src || !*src || strlen(src) > 200 || !json_object_object_get_ex(d, "text", &t) ||
            !json_object_is_type(t, json_type_string) || json_object_get_string_len(t) == 0) {
            reply_error(r, 400, "invalid_request",
                        "each document needs a source (1..200) and a non-empty text");
            goto out;
        }
        if (d != body &&
            body_members_known(r, d, doc_members, sizeof doc_members / sizeof *doc_members) != 0)
            goto out;
    }
    if (chroma_open(&c, r->app->cfg.common.chroma_url, err, sizeof err) != 0) {
        reply_error(r, 503, "unavailable", "knowledge store unavailable");
        goto out;
    }
    emb = knowledge_embedder(r, tenant, &cfg);
    out = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *d = json_object_array_get_idx(docs, i), *t;
        json_object_object_get_ex(d, "text", &t);
        const char *src = json_field_str(d, "source"), *text = json_object_get_string(t);
        size_t len = (size_t)json_object_get_string_len(t), chunks = 0;
        if (knowledge_add_document(c, tenant, emb, src, text, len, &chunks, err, sizeof err) != 0) {
            log_kv(LOG_WARN, &r->log, "knowledge add failed", "source", src, "error", err,
                   (char *)NULL);
            reply_error(r, 503, "unavailable", "knowledge store or embedder unavailable");
            goto out;
        }
        int st = knowledge_record_document(r->app->db, tenant, src, json_field_str(d, "title"),
                                           chunks, text, len, err, sizeof err);
        if (st != PG_OK) {
            reply_db_error(r, st, "knowledge_documents");
            goto out;
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "doc_id", json_object_new_string(src));
        json_object_object_add(o, "chunks", json_object_new_int64((int64_t)chunks));
        json_object_array_add(out, o);
    }
    json_object *res = json_object_new_object();
    json_object_object_add(res, "tenant_id", json_object_new_string(tenant));
    json_object_object_add(res, "embedder",
                           json_object_new_string(emb ? emb->embedding_provider_model : "local"));
    json_object_object_add(res, "documents", out);
    out = NULL;
    reply_json(r, 201, res);
    json_object_put(res);
out:
    if (emb)
        llm_config_cleanup(&cfg);
    chroma_close(c);
    json_object_put(out);
    json_object_put(docs);
    json_object_put(body);
}

static void knowledge_list(struct req *r)
{
    char tenant[72], err[256];
    PGresult *res = NULL;
    if (req_query(r, "tenant_id", tenant, sizeof tenant) != 0) {
        if (is_operator(r)) {
            reply_error(r, 400, "invalid_request", "?tenant_id= is required");
            return;
        }
        snprintf(tenant, sizeof tenant, "%s", r->claims.tenant_id);
    }
    if (!tenant_id_valid(tenant)) {
        reply_error(r, 400, "invalid_request", "?tenant_id= is required");
        return;
    }
    if (require_tenant_access(r, tenant) != 0)
        return;
    const char *p[] = {tenant};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT doc_id, source, title, chunk_count, sha256, " TS(
                             "created_at") " AS created_at, " TS("updated_at") " AS updated_at "
                                                                               "FROM "
                                                                               "knowledge_"
                                                                               "documents WHERE "
                                                                               "tenant_id = $1 "
                                                                               "ORDER BY doc_id",
                         1, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "knowledge list");
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "tenant_id", json_object_new_string(tenant));
    json_object_object_add(o, "items", pg_rows_json(res));
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

/* DELETE /api/admin/knowledge/{tenant}/{doc_id} */
static void knowledge_delete(struct req *r, const char *tenant, const char *doc_id)
{
    struct chroma *c = NULL;
    char err[512], coll[128], cid[CHROMA_ID_MAX];
    PGresult *res = NULL;
    if (!tenant_id_valid(tenant) || knowledge_collection_name(tenant, coll, sizeof coll) < 0) {
        reply_error(r, 404, "not_found", "no such document");
        return;
    }
    snprintf(r->audit_resource, sizeof r->audit_resource, "%s", doc_id);
    if (require_tenant_access(r, tenant) != 0)
        return;
    const char *p[] = {tenant, doc_id};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT 1 FROM knowledge_documents WHERE tenant_id = $1 AND doc_id = $2",
                         2, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "knowledge lookup");
        return;
    }
    int found = PQntuples(res) > 0;
    PQclear(res);
    if (!found) {
        reply_error(r, 404, "not_found", "no such document");
        return;
    }
    if (chroma_open(&c, r->app->cfg.common.chroma_url, err, sizeof err) != 0) {
        reply_error(r, 503, "unavailable", "knowledge store unavailable");
        return;
    }
    int crc = chroma_collection_get(c, coll, cid, err, sizeof err);
    if (crc == 0) {
        json_object *where = json_object_new_object();
        json_object_object_add(where, "source", json_object_new_string(doc_id));
        crc = chroma_delete_where(c, cid, where, err, sizeof err);
        json_object_put(where);
        /* an ingested batch document (routes_ingest.c): doc_id is its document id */
        if (crc == 0 && uuid_valid(doc_id))
            crc = knowledge_delete_document(c, tenant, doc_id, err, sizeof err);
    } else if (crc == -ENOENT) {
        crc = 0;
    }
    chroma_close(c);
    if (crc != 0) {
        log_kv(LOG_WARN, &r->log, "knowledge delete failed", "error", err, (char *)NULL);
        reply_error(r, 503, "unavailable", "knowledge store unavailable");
        return;
    }
    st = pgpool_exec(r->app->db, NULL,
                     "DELETE FROM knowledge_documents WHERE tenant_id = $1 AND doc_id = $2", 2, p,
                     err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "knowledge delete");
        return;
    }
    reply_raw(r, 204, NULL, "", 0, NULL);
}

static void knowledge(struct req *r)
{
    const char *m = r->ri->request_method;
    if (r->nsegs >= 4 && strcmp(r->segs[3], "ingest") == 0) {
        routes_knowledge_ingest(r); /* batch documents (routes_ingest.c) */
        return;
    }
    if (r->nsegs == 3) {
        if (strcmp(m, "POST") == 0)
            knowledge_add(r);
        else if (strcmp(m, "GET") == 0)
            knowledge_list(r);
        else
            reply_method_not_allowed(r, "GET, POST");
        return;
    }
    if (r->nsegs == 4 && strcmp(r->segs[3], "search") == 0) {
        if (strcmp(m, "POST") == 0)
            admin_knowledge_search(r);
        else
            reply_method_not_allowed(r, "POST");
        return;
    }
    if (r->nsegs == 5 && strcmp(m, "DELETE") == 0) {
        knowledge_delete(r, r->segs[3], r->segs[4]);
        return;
    }
    if (r->nsegs == 5)
        reply_method_not_allowed(r, "DELETE");
    else
        reply_error(r, 404, "not_found", "no such route");
}

/* ---- audit log ---------------------------------------------------------------------------- */

/* One row per admin write (anything but GET/HEAD) of an authenticated caller: who, what, when
 * and the answer (a plain user's is the 403). Never the body: no key or secret is stored. Best
 * effort: a failure is logged. */
static void audit_record(struct req *r)
{
    char err[256], st[12], route[1024], resource[sizeof r->audit_resource];
    snprintf(st, sizeof st, "%d", r->status);
    /* a key or token pasted into a URL is masked here as in the logs (log_redact) */
    snprintf(route, sizeof route, "%s", r->ri->local_uri ? r->ri->local_uri : "");
    log_redact(route, sizeof route);
    snprintf(resource, sizeof resource, "%s", r->audit_resource);
    log_redact(resource, sizeof resource);
    const char *tenant = r->audit_tenant[0] ? r->audit_tenant
                         : !is_operator(r)  ? r->claims.tenant_id
                                            : NULL;
    const char *p[] = {is_operator(r)    ? "operator"
                       : r->claims.admin ? "tenant_admin"
                                         : "user",
                       r->claims.sub,
                       is_operator(r) ? NULL : r->claims.tenant_id,
                       tenant,
                       r->ri->request_method,
                       route,
                       resource[0] ? resource : NULL,
                       st,
                       r->request_id};
    int rc = pgpool_exec(r->app->db, NULL,
                         "INSERT INTO admin_audit (actor_kind, actor_sub, actor_tenant, tenant_id, "
                         "method, route, resource_id, status, request_id) VALUES ($1, $2, $3, $4, "
                         "left($5, 16), left($6, 1024), $7, $8::integer, $9)",
                         9, p, err, sizeof err);
    if (rc != PG_OK)
        log_kv(LOG_WARN, &r->log, "admin audit row not written", "status", pg_status_str(rc),
               (char *)NULL);
}

/* GET /api/admin/audit?tenant_id=&limit=&offset= (newest first). A tenant admin reads its
 * tenant's. */
static void audit_list(struct req *r)
{
    char tenant[72] = "", limit[24], err[256];
    PGresult *res = NULL;
    long lim;
    if (strcmp(r->ri->request_method, "GET") != 0) {
        reply_method_not_allowed(r, "GET");
        return;
    }
    int has_tenant = req_query(r, "tenant_id", tenant, sizeof tenant) == 0 && tenant[0];
    if (has_tenant && !tenant_id_valid(tenant)) {
        reply_error(r, 400, "invalid_request", "tenant_id must match [A-Za-z0-9_-]{1,64}");
        return;
    }
    if (!is_operator(r)) {
        if (has_tenant && require_tenant_access(r, tenant) != 0)
            return;
        snprintf(tenant, sizeof tenant, "%s", r->claims.tenant_id);
        has_tenant = 1;
    }
    long off;
    if (req_list_window(r, 100, 1000, &lim, &off) != 0)
        return;
    char offset[24];
    snprintf(limit, sizeof limit, "%ld", lim + 1); /* one more: are there others? */
    snprintf(offset, sizeof offset, "%ld", off);
    const char *p[] = {has_tenant ? tenant : NULL, limit, offset};
    int st = pgpool_exec(
        r->app->db, &res,
        "SELECT audit_id, " TS(
            "at") " AS at, actor_kind, actor_sub, actor_tenant, "
                  "tenant_id, method, route, resource_id, status, request_id FROM "
                  "admin_audit WHERE $1::text IS NULL OR tenant_id = $1 OR actor_tenant = "
                  "$1 ORDER BY audit_id DESC LIMIT $2::integer OFFSET $3::integer",
        3, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "audit");
        return;
    }
    json_object *o = json_object_new_object();
    list_page_finish(o, "items", pg_rows_json(res), lim, off);
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

/* GET /api/admin/whoami: who the credential is, for the admin panel to say which role it has:
 * {kind: "operator" | "tenant_admin", sub, tenant_id (a tenant admin's), api_key}. */
static void whoami(struct req *r)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "kind",
                           json_object_new_string(is_operator(r) ? "operator" : "tenant_admin"));
    json_object_object_add(o, "sub", json_object_new_string(r->claims.sub));
    json_object_object_add(o, "tenant_id",
                           is_operator(r) ? NULL : json_object_new_string(r->claims.tenant_id));
    json_object_object_add(o, "api_key", json_object_new_boolean(r->claims.apikey));
    reply_json(r, 200, o);
    json_object_put(o);
}

/* POST /api/admin/tools/{id}/test: a tool the caller may read (catalog or own), run once. */
static void tool_test(struct req *r, const char *id)
{
    int st;
    if (strcmp(r->ri->request_method, "POST") != 0) {
        reply_method_not_allowed(r, "POST");
        return;
    }
    if (!uuid_valid(id)) {
        reply_error(r, 404, "not_found", "no such resource");
        return;
    }
    snprintf(r->audit_resource, sizeof r->audit_resource, "%s", id);
    if (owned_check(r, &res_tools, id, 0) != 0)
        return;
    json_object *row = fetch_one(r, &res_tools, id, &st);
    if (st != PG_OK) {
        reply_db_error(r, st, "tools");
        return;
    }
    if (!row) {
        reply_error(r, 404, "not_found", "no such resource");
        return;
    }
    admin_tool_test(r, row); /* sealed secrets stay sealed: the tool code opens them */
    json_object_put(row);
}

void routes_admin(struct req *r)
{
    const char *m = r->ri->request_method;
    int write = strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0;
    if (req_auth(r, NULL) != 0)
        return; /* 401: no actor to record */
    /* Every write of a known actor is recorded, a plain user's refused one included; the row
     * exists before the client sees the answer. */
    if (write)
        r->before_reply = audit_record;
    if (req_admin_role(r) != 0)
        return;
    if (r->nsegs < 3) {
        reply_error(r, 404, "not_found", "no such route");
        return;
    }
    static const char *known[] = {"tenants",    "agents",       "tools", "output-formats",
                                  "llm-models", "knowledge",    "audit", "usage",
                                  "prices",     "conversations"};
    const char *what = r->segs[2];
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(what, known[i]) == 0)
            snprintf(r->route, sizeof r->route, "admin.%s", known[i]);
    if (strcmp(what, "tenants") == 0)
        tenants(r);
    else if (strcmp(what, "agents") == 0)
        agents(r);
    else if (strcmp(what, "tools") == 0 && r->nsegs == 5 && strcmp(r->segs[4], "test") == 0)
        tool_test(r, r->segs[3]);
    else if (strcmp(what, "tools") == 0)
        crud(r, &res_tools, 3);
    else if (strcmp(what, "conversations") == 0)
        admin_conversations(r);
    else if (strcmp(what, "whoami") == 0 && r->nsegs == 3 && !write)
        whoami(r);
    else if (strcmp(what, "output-formats") == 0 || strcmp(what, "llm-models") == 0) {
        /* the platform catalog: tenant admins read it, the operator writes it */
        if (!write || require_operator(r) == 0)
            crud(r, strcmp(what, "llm-models") == 0 ? &res_models : &res_formats, 3);
    } else if (strcmp(what, "knowledge") == 0)
        knowledge(r);
    else if (strcmp(what, "audit") == 0 && r->nsegs == 3)
        audit_list(r);
    else if (strcmp(what, "usage") == 0 || strcmp(what, "prices") == 0)
        routes_usage_admin(r);
    else
        reply_error(r, 404, "not_found", "no such route");
    r->before_reply = NULL;
}
