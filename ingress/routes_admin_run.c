/* routes_admin_run.c — runs one tool call for the admin panel: "test this tool" and the
 * knowledge base's search preview (admin_console.h).
 *
 * Both go through tool_invoke(), exactly what an agent calls: the arguments are validated
 * against the tool's input schema, HTTP tools go through the SSRF guard (with the tool's own
 * allowed_hosts and the ingress's TOOL_ALLOWED_HOSTS, set like the agents'), sealed
 * secrets are opened only to build the request, the output is checked against the output
 * schema, and RAG searches the tenant's own collection with the tenant's embedder. The call
 * runs on a private httploop on the request's thread; no user token is forwarded (an
 * inject_jwt tool gets none: the ingress holds no tool-token key). Errors are the tool's own
 * short, safe messages ("tool X: HTTP 404", "tool X: invalid arguments: /mst: ...").
 */
#include "admin_console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envelope.h"
#include "fernet.h"
#include "httploop.h"
#include "json_field.h"
#include "llm.h"
#include "tool.h"

/* Longest a test call may take: the HTTP tools' own cap (60 s) and some. */
#define ADMIN_RUN_DEADLINE_MS 65000L
#define ADMIN_QUERY_MAX 2000

struct run_state {
    int done;
    json_object *result;
    char error[1024];
};

static void on_run_done(void *opaque, json_object *result, const char *error)
{
    struct run_state *st = opaque;
    if (st->done)
        return;
    st->done = 1;
    if (result)
        st->result = json_object_get(result);
    else
        snprintf(st->error, sizeof st->error, "%s", error ? error : "tool failed");
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The tenant_id member of body, defaulting to a tenant admin's own; checked (format,
 * access, existence). NULL when answered. */
static const char *body_tenant(struct req *r, json_object *body)
{
    if (!admin_is_operator(r) && !json_object_object_get_ex(body, "tenant_id", NULL))
        json_object_object_add(body, "tenant_id", json_object_new_string(r->claims.tenant_id));
    const char *tenant = json_field_str(body, "tenant_id");
    if (!tenant || !tenant_id_valid(tenant)) {
        reply_error(r, 400, "invalid_request", "tenant_id must match [A-Za-z0-9_-]{1,64}");
        return NULL;
    }
    if (admin_tenant_access(r, tenant) != 0 || req_tenant_exists(r, tenant) != 0)
        return NULL;
    return tenant;
}

/* Runs def once for tenant; answers 200 {ok, result|error, elapsed_ms} (extra members of
 * `extra` added first). */
static void run_and_reply(struct req *r, const char *tenant, const struct tool_def *def,
                          json_object *args, json_object *extra)
{
    struct httploop *loop = NULL;
    struct llm_client *llm = NULL;
    struct llm_config cfg;
    struct llm_error lerr;
    struct run_state st;
    char err[512], secret_key[FERNET_KEY_B64_LEN] = "";
    int have_cfg = 0;
    memset(&cfg, 0, sizeof cfg);
    memset(&lerr, 0, sizeof lerr);
    memset(&st, 0, sizeof st);
    if (httploop_new(&loop) != 0 || llm_client_new(&llm, loop, r->app->rc, err, sizeof err) != 0) {
        reply_error(r, 500, "internal", "cannot start the tool call");
        goto out;
    }
    const char *fk = r->app->cfg.common.fernet_key;
    if (llm_config_load(r->app->db, r->app->rc, fk ? fk : "", tenant, &cfg, &lerr) == LLM_OK)
        have_cfg = 1;
    if (fk && *fk && fernet_purpose_key(fk, FERNET_PURPOSE_TOOL_SECRET, secret_key) != FERNET_OK)
        secret_key[0] = 0;
    struct tool_ctx ctx = {
        .tenant_id = tenant,
        .user_id = r->claims.sub,
        .loop = loop,
        .llm = llm,
        .llm_cfg = have_cfg ? &cfg : NULL,
        .chroma_url = r->app->cfg.common.chroma_url,
        .allowed_hosts = r->app->cfg.tool_allowed_hosts,
        .tool_secret_key = secret_key[0] ? secret_key : NULL,
    };
    long t0 = now_ms();
    if (tool_invoke(&ctx, def, args, on_run_done, &st, err, sizeof err) != 0) {
        st.done = 1;
        snprintf(st.error, sizeof st.error, "%s", err);
    }
    while (!st.done && now_ms() - t0 < ADMIN_RUN_DEADLINE_MS)
        httploop_run(loop, 200);
    if (!st.done)
        snprintf(st.error, sizeof st.error, "tool %s: no answer within %ld ms", def->name,
                 ADMIN_RUN_DEADLINE_MS);
    st.done = 1; /* a cancellation reported while the loop is freed is not this answer */
    json_object *o = json_object_new_object();
    if (extra) {
        json_object_object_foreach(extra, k, v)
        {
            json_object_object_add(o, k, json_object_get(v));
        }
    }
    json_object_object_add(o, "ok", json_object_new_boolean(st.result != NULL));
    if (st.result)
        json_object_object_add(o, "result", json_object_get(st.result));
    else
        json_object_object_add(o, "error", json_object_new_string(st.error));
    json_object_object_add(o, "elapsed_ms", json_object_new_int64(now_ms() - t0));
    log_kv(LOG_INFO, &r->log, "admin tool run", "tool", def->name, "ok",
           st.result ? "true" : "false", (char *)NULL);
    reply_json(r, 200, o);
    json_object_put(o);
out:
    explicit_bzero(secret_key, sizeof secret_key);
    llm_client_free(llm);
    httploop_free(loop); /* after the client: it cancels its calls on the loop */
    if (have_cfg)
        llm_config_cleanup(&cfg);
    json_object_put(st.result);
}

/* A tenant admin tests only what its tenant may use: its own tools, or catalog tools its
 * tenant is permitted (a catalog tool may carry the platform's secrets). 0 yes, -1 answered. */
static int tool_usable(struct req *r, const char *tenant, const char *tool_id)
{
    char err[256];
    PGresult *res = NULL;
    if (admin_is_operator(r))
        return 0;
    const char *p[] = {tool_id, tenant};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT 1 FROM tool_configs t WHERE t.tool_id = $1::uuid AND "
                         "(t.owner_tenant_id = $2 OR EXISTS (SELECT 1 FROM "
                         "tenant_tool_permissions p WHERE p.tenant_id = $2 AND p.tool_id = "
                         "t.tool_id AND p.enabled))",
                         2, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "tool permission");
        return -1;
    }
    int n = PQntuples(res);
    PQclear(res);
    if (!n) {
        reply_error(r, 403, "forbidden", "the tenant is not permitted this tool");
        return -1;
    }
    return 0;
}

void admin_tool_test(struct req *r, json_object *tool_row)
{
    json_object *body = req_json_body(r), *args = NULL, *v;
    if (!body)
        return;
    static const char *const members[] = {"tenant_id", "arguments"};
    if (body_members_known(r, body, members, sizeof members / sizeof *members) != 0)
        goto out;
    const char *tenant = body_tenant(r, body);
    if (!tenant)
        goto out;
    const char *tool_id = json_field_str(tool_row, "tool_id");
    if (!tool_id || tool_usable(r, tenant, tool_id) != 0)
        goto out;
    if (json_object_object_get_ex(body, "arguments", &args) && args &&
        !json_object_is_type(args, json_type_object)) {
        reply_error(r, 400, "invalid_request", "arguments must be an object");
        goto out;
    }
    struct tool_def def = {
        .id = (char *)json_field_str(tool_row, "tool_id"),
        .name = (char *)json_field_str(tool_row, "name"),
        .description = (char *)json_field_str(tool_row, "description"),
        .base_type = (char *)json_field_str(tool_row, "base_type"),
        .config = json_object_object_get_ex(tool_row, "config", &v) ? v : NULL,
        .input_schema = json_object_object_get_ex(tool_row, "input_schema", &v) ? v : NULL,
        .output_schema = json_object_object_get_ex(tool_row, "output_schema", &v) ? v : NULL,
    };
    if (!def.name || !def.base_type) {
        reply_error(r, 500, "internal", "the tool row is incomplete");
        goto out;
    }
    json_object *empty = args ? NULL : json_object_new_object();
    json_object *extra = json_object_new_object();
    json_object_object_add(extra, "tool", json_object_new_string(def.name));
    json_object_object_add(extra, "tenant_id", json_object_new_string(tenant));
    run_and_reply(r, tenant, &def, args ? args : empty, extra);
    json_object_put(extra);
    json_object_put(empty);
out:
    json_object_put(body);
}

void admin_knowledge_search(struct req *r)
{
    json_object *body = req_json_body(r), *v;
    if (!body)
        return;
    static const char *const members[] = {"tenant_id", "query", "top_k", "collection"};
    if (body_members_known(r, body, members, sizeof members / sizeof *members) != 0)
        goto out;
    const char *tenant = body_tenant(r, body);
    if (!tenant)
        goto out;
    const char *q = json_field_str(body, "query");
    if (!q || !*q || strlen(q) > ADMIN_QUERY_MAX) {
        reply_error(r, 400, "invalid_request", "query must be a string of 1..2000 characters");
        goto out;
    }
    json_object *cfg = json_object_new_object();
    if (json_object_object_get_ex(body, "top_k", &v)) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
            json_object_get_int64(v) > 20) {
            json_object_put(cfg);
            reply_error(r, 400, "invalid_request", "top_k must be an integer 1..20");
            goto out;
        }
        json_object_object_add(cfg, "top_k", json_object_get(v));
    }
    const char *coll = json_field_str(body, "collection");
    if (coll && *coll)
        json_object_object_add(cfg, "collection", json_object_new_string(coll));
    json_object *schema = json_tokener_parse(
        "{\"type\":\"object\",\"required\":[\"query\"],\"properties\":{\"query\":{\"type\":"
        "\"string\"}}}");
    json_object *args = json_object_new_object();
    json_object_object_add(args, "query", json_object_new_string(q));
    struct tool_def def = {
        .name = "knowledge_search",
        .base_type = "RAG",
        .config = cfg,
        .input_schema = schema,
    };
    json_object *extra = json_object_new_object();
    json_object_object_add(extra, "tenant_id", json_object_new_string(tenant));
    json_object_object_add(extra, "query", json_object_new_string(q));
    run_and_reply(r, tenant, &def, args, extra);
    json_object_put(extra);
    json_object_put(args);
    json_object_put(schema);
    json_object_put(cfg);
out:
    json_object_put(body);
}
