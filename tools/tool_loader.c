/* tool_loader.c — an agent's tools for a tenant (seed "Tool Loading System").
 *
 * The seed loads agent_tools ORDER BY priority LIMIT 5 and then drops the tools the tenant
 * is not permitted. That lets a disallowed high-priority tool push an allowed one out of
 * the five. Here the permission join (tenant_tool_permissions.enabled) and is_active are in
 * the WHERE clause, before the LIMIT: the agent gets the five best tools the tenant may use.
 * Ties in priority are broken by tool name so the order is stable.
 *
 * Config: base_tools.default_config with tool_configs.config merged over it (jsonb ||).
 *
 * Redis (seed keys, TTLs from rcache.h):
 *   agenthub:{tenant}:cache:tool:{tool_id}          the tool as JSON        RC_TTL_TOOL
 *   agenthub:{tenant}:cache:permissions:tools       enabled tool ids        RC_TTL_PERMISSIONS
 *   agenthub:{tenant}:cache:agent_tools:{agent_id}  the agent's tool ids,   RC_TTL_PERMISSIONS
 *                                                   permission-filtered, in order
 * A load reads agent_tools:{agent} and each tool:{id}; any miss (or Redis down) loads from
 * PostgreSQL and writes all three. tools_cache_invalidate() drops them (admin writes).
 *
 * Secrets (tool_secret.h): the cache holds a tool's config as it is stored, so its secrets
 * only in their sealed form; the HTTP tool opens them just before the request. A tool whose
 * stored config still has a secret in clear (a row from before sealing) is not cached, nor
 * is the agent's tool list that holds it: such an agent loads from PostgreSQL each job until
 * the tool is saved again through the admin API (which seals it).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "log.h"
#include "tool.h"
#include "tool_secret.h"

static const char *const LOAD_SQL =
    "SELECT t.tool_id::text, t.name, t.description, b.type, "
    "       (b.default_config || t.config)::text, t.input_schema::text, "
    "       t.output_schema::text, at.priority "
    "  FROM agent_tools at "
    "  JOIN tool_configs t ON t.tool_id = at.tool_id "
    "  JOIN base_tools b ON b.base_tool_id = t.base_tool_id "
    "  JOIN tenant_tool_permissions p ON p.tool_id = t.tool_id AND p.tenant_id = $1 "
    " WHERE at.agent_id = $2::uuid AND p.enabled AND t.is_active "
    "   AND (t.owner_tenant_id IS NULL OR t.owner_tenant_id = $1) "
    " ORDER BY at.priority ASC, t.name ASC "
    " LIMIT 5";

static const char *const PERMS_SQL =
    "SELECT tool_id::text FROM tenant_tool_permissions "
    " WHERE tenant_id = $1 AND enabled "
    "   AND tool_id IN (SELECT tool_id FROM tool_configs "
    "                    WHERE owner_tenant_id IS NULL OR owner_tenant_id = $1) "
    " ORDER BY tool_id";

static json_object *parse_or_null(const char *s)
{
    return s && *s ? json_tokener_parse(s) : NULL;
}

static char *dupstr(const char *s)
{
    return strdup(s ? s : "");
}

static json_object *def_to_json(const struct tool_def *d)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "tool_id", json_object_new_string(d->id));
    json_object_object_add(o, "name", json_object_new_string(d->name));
    json_object_object_add(o, "description", json_object_new_string(d->description));
    json_object_object_add(o, "base_tool_type", json_object_new_string(d->base_type));
    json_object_object_add(o, "config", json_object_get(d->config));
    json_object_object_add(o, "input_schema", json_object_get(d->input_schema));
    json_object_object_add(o, "output_schema", json_object_get(d->output_schema));
    json_object_object_add(o, "priority", json_object_new_int(d->priority));
    return o;
}

static int def_from_json(json_object *o, struct tool_def *d)
{
    json_object *v;
    memset(d, 0, sizeof *d);
    if (!json_object_is_type(o, json_type_object))
        return -EINVAL;
#define STR(key, field)                                                                            \
    do {                                                                                           \
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))   \
            return -EINVAL;                                                                        \
        if (!(d->field = strdup(json_object_get_string(v))))                                       \
            return -ENOMEM;                                                                        \
    } while (0)
    STR("tool_id", id);
    STR("name", name);
    STR("description", description);
    STR("base_tool_type", base_type);
#undef STR
    if (json_object_object_get_ex(o, "config", &v) && v)
        d->config = json_object_get(v);
    else
        d->config = json_object_new_object();
    if (json_object_object_get_ex(o, "input_schema", &v) && v)
        d->input_schema = json_object_get(v);
    if (json_object_object_get_ex(o, "output_schema", &v) && v)
        d->output_schema = json_object_get(v);
    if (json_object_object_get_ex(o, "priority", &v))
        d->priority = json_object_get_int(v);
    return 0;
}

/* From Redis; 0 on a full hit, RC_MISS / negative otherwise. */
static int load_cached(struct rcache *r, const char *tenant_id, const char *agent_id,
                       struct tool_def **out, size_t *n)
{
    char key[256];
    char *val = NULL;
    size_t len = 0;
    json_object *ids = NULL;
    struct tool_def *defs = NULL;
    size_t cnt = 0;
    int rc;

    if (rcache_key(key, sizeof key, tenant_id, "agent_tools", agent_id) < 0)
        return -EINVAL;
    rc = rcache_get(r, key, &val, &len);
    if (rc != RC_OK)
        return rc;
    ids = json_tokener_parse(val);
    free(val);
    val = NULL;
    rc = RC_MISS;
    if (!json_object_is_type(ids, json_type_array))
        goto out;
    size_t want = json_object_array_length(ids);
    if (want > TOOL_MAX_PER_AGENT)
        goto out;
    defs = calloc(want ? want : 1, sizeof *defs);
    if (!defs) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < want; i++) {
        const char *id = json_object_get_string(json_object_array_get_idx(ids, i));
        if (!id || rcache_key(key, sizeof key, tenant_id, "tool", id) < 0)
            goto out;
        int g = rcache_get(r, key, &val, &len);
        if (g != RC_OK) {
            rc = g;
            goto out;
        }
        json_object *o = json_tokener_parse(val);
        free(val);
        val = NULL;
        int d = def_from_json(o, &defs[cnt]);
        cnt++; /* partially filled entries are freed too */
        json_object_put(o);
        if (d != 0)
            goto out;
    }
    *out = defs;
    *n = cnt;
    defs = NULL;
    rc = 0;
out:
    tool_defs_free(defs, cnt);
    json_object_put(ids);
    return rc;
}

/* Once per tool id per process (the agent loads tools on its loop thread; the lock keeps
 * other callers safe too). */
static void warn_clear_once(const char *tenant_id, const char *id, const char *name)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char seen[64][37];
    static size_t nseen;
    int fresh = 1;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nseen && fresh; i++)
        fresh = strcmp(seen[i], id) != 0;
    if (fresh && nseen < sizeof seen / sizeof seen[0])
        snprintf(seen[nseen++], sizeof seen[0], "%s", id);
    pthread_mutex_unlock(&mu);
    if (!fresh)
        return;
    struct log_ctx lc = {.tenant_id = tenant_id};
    log_kv(LOG_WARN, &lc,
           "tool config holds a secret in clear (a row from before sealing): the agent's tools "
           "are not cached; run agenthubctl tools-seal or save the tool through the admin API",
           "tool", name, (char *)NULL);
}

static void store_cache(struct rcache *r, struct pgpool *db, const char *tenant_id,
                        const char *agent_id, const struct tool_def *defs, size_t n)
{
    char key[256];
    for (size_t i = 0; i < n; i++)
        if (tool_secret_config_has_clear(defs[i].config)) {
            warn_clear_once(tenant_id, defs[i].id, defs[i].name);
            return;
        }
    json_object *ids = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *o = def_to_json(&defs[i]);
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (rcache_key(key, sizeof key, tenant_id, "tool", defs[i].id) >= 0)
            rcache_setex(r, key, s, strlen(s), RC_TTL_TOOL);
        json_object_put(o);
        json_object_array_add(ids, json_object_new_string(defs[i].id));
    }
    const char *s = json_object_to_json_string_ext(ids, JSON_C_TO_STRING_PLAIN);
    if (rcache_key(key, sizeof key, tenant_id, "agent_tools", agent_id) >= 0)
        rcache_setex(r, key, s, strlen(s), RC_TTL_PERMISSIONS);
    json_object_put(ids);

    /* the tenant's enabled tool ids, as the seed caches them */
    PGresult *res = NULL;
    char err[256];
    const char *params[1] = {tenant_id};
    if (pgpool_exec(db, &res, PERMS_SQL, 1, params, err, sizeof err) == PG_OK) {
        json_object *perm = json_object_new_array();
        for (int i = 0; i < PQntuples(res); i++)
            json_object_array_add(perm, json_object_new_string(PQgetvalue(res, i, 0)));
        s = json_object_to_json_string_ext(perm, JSON_C_TO_STRING_PLAIN);
        if (rcache_key(key, sizeof key, tenant_id, "permissions", "tools") >= 0)
            rcache_setex(r, key, s, strlen(s), RC_TTL_PERMISSIONS);
        json_object_put(perm);
    }
    PQclear(res);
}

int tools_load_for_agent(struct pgpool *db, struct rcache *r, const char *tenant_id,
                         const char *agent_id, struct tool_def **out, size_t *n, char *err,
                         size_t errlen)
{
    PGresult *res = NULL;
    struct tool_def *defs = NULL;
    size_t cnt = 0;
    int rc;
    struct log_ctx lc = {.tenant_id = tenant_id};

    *out = NULL;
    *n = 0;
    if (!tenant_id || !agent_id) {
        snprintf(err, errlen, "tools: tenant and agent required");
        return -EINVAL;
    }
    if (r) {
        rc = load_cached(r, tenant_id, agent_id, out, n);
        if (rc == 0)
            return 0;
        if (rc == RC_ERR_DOWN)
            log_warn(&lc, "tools: redis unavailable, loading agent tools from the database");
    }
    if (!db) {
        snprintf(err, errlen, "tools: no database");
        return -EINVAL;
    }
    const char *params[2] = {tenant_id, agent_id};
    rc = pgpool_exec(db, &res, LOAD_SQL, 2, params, err, errlen);
    if (rc != PG_OK)
        goto out;
    int rows = PQntuples(res);
    defs = calloc(rows > 0 ? (size_t)rows : 1, sizeof *defs);
    if (!defs) {
        snprintf(err, errlen, "tools: out of memory");
        rc = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < rows; i++) {
        struct tool_def *d = &defs[cnt++];
        d->id = dupstr(PQgetvalue(res, i, 0));
        d->name = dupstr(PQgetvalue(res, i, 1));
        d->description = dupstr(PQgetvalue(res, i, 2));
        d->base_type = dupstr(PQgetvalue(res, i, 3));
        d->config = parse_or_null(PQgetvalue(res, i, 4));
        if (!d->config)
            d->config = json_object_new_object();
        d->input_schema = parse_or_null(PQgetvalue(res, i, 5));
        d->output_schema = PQgetisnull(res, i, 6) ? NULL : parse_or_null(PQgetvalue(res, i, 6));
        d->priority = atoi(PQgetvalue(res, i, 7));
        if (!d->id || !d->name || !d->description || !d->base_type) {
            snprintf(err, errlen, "tools: out of memory");
            rc = -ENOMEM;
            goto out;
        }
        /* The admin API refuses such schemas; a row written around it still loads (the
         * keywords we cannot enforce are ignored), but someone should hear about it. */
        char serr[256];
        if ((d->input_schema && jsonschema_check(d->input_schema, serr, sizeof serr) != 0) ||
            (d->output_schema && jsonschema_check(d->output_schema, serr, sizeof serr) != 0))
            log_kv(LOG_WARN, &lc, "tool schema not fully enforceable", "tool", d->name, "reason",
                   serr, (char *)NULL);
    }
    if (r)
        store_cache(r, db, tenant_id, agent_id, defs, cnt);
    *out = defs;
    *n = cnt;
    defs = NULL;
    rc = 0;
out:
    tool_defs_free(defs, cnt);
    PQclear(res);
    return rc;
}

int tools_cache_invalidate(struct rcache *r, const char *tenant_id)
{
    char pat[256];
    const char *t = tenant_id ? tenant_id : "*";
    int rc = 0, x;
    if (!r)
        return 0;
    snprintf(pat, sizeof pat, "agenthub:%s:cache:tool:*", t);
    if ((x = rcache_del_pattern(r, pat)) < 0)
        rc = x;
    snprintf(pat, sizeof pat, "agenthub:%s:cache:agent_tools:*", t);
    if ((x = rcache_del_pattern(r, pat)) < 0)
        rc = x;
    snprintf(pat, sizeof pat, "agenthub:%s:cache:permissions:tools", t);
    if ((x = rcache_del_pattern(r, pat)) < 0)
        rc = x;
    return rc;
}
