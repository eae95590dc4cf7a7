/* routes_apikeys.c — tenant API keys through the admin API (keyauth.h for how they are checked).
 *
 *   POST   /api/admin/tenants/{tenant}/api-keys            {name, roles?, expires_in_s? |
 *                                                            expires_at?} -> 201, the key once
 *   GET    /api/admin/tenants/{tenant}/api-keys            -> {items: [...]} (never a key/hash)
 *   DELETE /api/admin/tenants/{tenant}/api-keys/{key_id}   -> 204 (revoked), 404
 *
 * The operator manages any tenant's keys, a tenant admin its own tenant's (routes_admin.c
 * checked that before calling here). Writes are audited like every admin write (the key id is
 * the audit row's resource; the body, and so the key, never is).
 */
#include "ingress.h"

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "keyauth.h"
#include "rfc3339.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define KEY_COLUMNS                                                                                \
    "key_id, 'ahk_' || key_id AS prefix, tenant_id, name, to_json(roles) AS roles_json, "          \
    "created_by, " TS("created_at") " AS created_at, " TS("expires_at") " AS expires_at, " TS(     \
        "revoked_at") " AS revoked_at, " TS("last_used_at") " AS last_used_at"
#define APIKEYS_MAX_EXPIRES_S (10L * 365 * 24 * 3600)

/* roles: ["user"] (the default) or ["user", "admin"], as a PostgreSQL text[] literal. */
#define ROLES_SHAPE "roles must be [\"user\"] or [\"user\", \"admin\"]"
static int roles_param(struct req *r, json_object *body, char *out, size_t cap)
{
    json_object *v;
    snprintf(out, cap, "{user}");
    if (!json_object_object_get_ex(body, "roles", &v) || !v)
        return 0;
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > 2) {
        reply_error(r, 400, "invalid_request", ROLES_SHAPE);
        return -1;
    }
    int user = 0, admin = 0;
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        json_object *e = json_object_array_get_idx(v, i);
        const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "";
        if (strcmp(s, "user") == 0)
            user = 1;
        else if (strcmp(s, "admin") == 0)
            admin = 1;
        else {
            reply_error(r, 400, "invalid_request", ROLES_SHAPE);
            return -1;
        }
    }
    if (!user) { /* every key chats; an admin key administers too (an empty list did nothing) */
        reply_error(r, 400, "invalid_request", ROLES_SHAPE);
        return -1;
    }
    snprintf(out, cap, "{%s%s%s}", user ? "user" : "", user && admin ? "," : "",
             admin ? "admin" : "");
    return 0;
}

static void key_create(struct req *r, const char *tenant)
{
    json_object *body = NULL, *v, *o = NULL;
    char key[APIKEY_LEN + 1], key_id[APIKEY_ID_LEN + 1], hash[APIKEY_HASH_HEX], roles[32];
    char expires_in[24] = "", err[256];
    const char *expires_at = NULL;
    PGresult *res = NULL;
    key[0] = '\0';
    if (!(body = req_json_body(r)))
        return;
    static const char *const members[] = {"name", "roles", "expires_in_s", "expires_at"};
    if (body_members_known(r, body, members, sizeof members / sizeof *members) != 0)
        goto out;
    if (!json_object_object_get_ex(body, "name", &v) || !json_object_is_type(v, json_type_string) ||
        json_object_get_string_len(v) < 1 || json_object_get_string_len(v) > 100) {
        reply_error(r, 400, "invalid_request", "name must be a string of 1 to 100 characters");
        goto out;
    }
    const char *name = json_object_get_string(v);
    if (roles_param(r, body, roles, sizeof roles) != 0)
        goto out;
    if (json_object_object_get_ex(body, "expires_in_s", &v) && v) {
        int64_t s = json_object_get_int64(v);
        if (!json_object_is_type(v, json_type_int) || s < 1 || s > APIKEYS_MAX_EXPIRES_S) {
            reply_error(r, 400, "invalid_request",
                        "expires_in_s must be an integer from 1 to 315360000");
            goto out;
        }
        snprintf(expires_in, sizeof expires_in, "%lld", (long long)s);
    }
    if (json_object_object_get_ex(body, "expires_at", &v) && v) {
        if (!json_object_is_type(v, json_type_string) || expires_in[0] ||
            !rfc3339_datetime_valid(json_object_get_string(v))) {
            reply_error(r, 400, "invalid_request",
                        "expires_at must be an RFC 3339 time string (not with expires_in_s)");
            goto out;
        }
        expires_at = json_object_get_string(v);
    }
    if (apikey_generate(key, key_id) != 0) {
        reply_error(r, 500, "internal", "cannot make a key");
        goto out;
    }
    apikey_hash(key, hash);
    snprintf(r->audit_resource, sizeof r->audit_resource, "%s", key_id);
    char creator[160]; /* who: the tenant admin's sub, or the operator's as "operator:<sub>" */
    snprintf(creator, sizeof creator, "%s%s", r->claims.operator? "operator:" : "", r->claims.sub);
    const char *p[] = {
        key_id, tenant, name, hash, roles, creator, expires_in[0] ? expires_in : NULL, expires_at};
    int st = pgpool_exec(
        r->app->db, &res,
        "INSERT INTO api_keys (key_id, tenant_id, name, key_hash, roles, created_by, expires_at) "
        "SELECT $1, $2, $3, $4, $5::text[], $6, "
        "COALESCE(now() + make_interval(secs => $7::bigint), $8::timestamptz) "
        "WHERE ($8::timestamptz IS NULL OR $8::timestamptz > now()) "
        "RETURNING " KEY_COLUMNS,
        8, p, err, sizeof err);
    if (st == PG_ERR_FOREIGN_KEY) {
        reply_error(r, 404, "not_found", "no such tenant");
        goto out;
    }
    if (st != PG_OK) {
        reply_db_error(r, st, "api key insert");
        goto out;
    }
    if (PQntuples(res) != 1) {
        reply_error(r, 400, "invalid_request", "expires_at must be in the future");
        goto out;
    }
    o = pg_row_json(res, 0);
    json_object_object_add(o, "roles", json_object_get(json_object_object_get(o, "roles_json")));
    json_object_object_del(o, "roles_json");
    /* the only time the key is shown */
    json_object_object_add(o, "key", json_object_new_string(key));
    reply_json(r, 201, o);
    log_kv(LOG_INFO, &r->log, "api key created", "key_id", key_id, (char *)NULL);
out:
    if (o) {
        /* the serialized copy is json-c's; drop the key from the object before freeing */
        json_object_object_del(o, "key");
        json_object_put(o);
    }
    OPENSSL_cleanse(key, sizeof key);
    PQclear(res);
    json_object_put(body);
}

static void key_list(struct req *r, const char *tenant)
{
    PGresult *res = NULL;
    char err[256];
    if (req_tenant_exists(r, tenant) != 0)
        return; /* no keys of a tenant that does not exist: 404, as creating one answers */
    const char *p[] = {tenant};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT " KEY_COLUMNS " FROM api_keys WHERE tenant_id = $1 "
                         "ORDER BY created_at DESC, key_id",
                         1, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "api keys");
        return;
    }
    json_object *items = pg_rows_json(res);
    for (size_t i = 0; i < json_object_array_length(items); i++) {
        json_object *o = json_object_array_get_idx(items, i);
        json_object_object_add(o, "roles",
                               json_object_get(json_object_object_get(o, "roles_json")));
        json_object_object_del(o, "roles_json");
    }
    PQclear(res);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "items", items);
    reply_json(r, 200, o);
    json_object_put(o);
}

static void key_revoke(struct req *r, const char *tenant, const char *key_id)
{
    PGresult *res = NULL;
    char err[256];
    snprintf(r->audit_resource, sizeof r->audit_resource, "%.79s", key_id);
    const char *p[] = {tenant, key_id};
    int st = pgpool_exec(r->app->db, &res,
                         "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) "
                         "WHERE tenant_id = $1 AND key_id = $2 RETURNING key_id",
                         2, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "api key revoke");
        return;
    }
    int n = PQntuples(res);
    PQclear(res);
    if (!n) {
        reply_error(r, 404, "not_found", "no such API key");
        return;
    }
    keyauth_forget(r->app->keys, key_id); /* this process: at once; the others: keyauth.h */
    log_kv(LOG_INFO, &r->log, "api key revoked", "key_id", key_id, (char *)NULL);
    reply_raw(r, 204, NULL, "", 0, NULL);
}

void routes_apikeys(struct req *r, const char *tenant)
{
    const char *m = r->ri->request_method;
    snprintf(r->route, sizeof r->route, "admin.api-keys");
    if (r->nsegs == 5) {
        if (strcmp(m, "POST") == 0)
            key_create(r, tenant);
        else if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
            key_list(r, tenant);
        else
            reply_method_not_allowed(r, "GET, HEAD, POST");
        return;
    }
    const char *id = r->segs[5];
    size_t idlen = strlen(id);
    if (r->nsegs == 6 && strcmp(m, "DELETE") != 0) {
        reply_method_not_allowed(r, "DELETE");
        return;
    }
    /* the whole key in the URL (the audit row and the logs mask it): say what to send */
    if (r->nsegs == 6 && strncmp(id, APIKEY_PREFIX, strlen(APIKEY_PREFIX)) == 0) {
        reply_error(r, 400, "invalid_request",
                    "name the key by its key_id (the 16 hex characters after ahk_), never by "
                    "the key itself");
        return;
    }
    /* a key id is 16 lowercase hex (common/apikey.h); anything else names no key */
    if (r->nsegs != 6 || idlen != APIKEY_ID_LEN || strspn(id, "0123456789abcdef") != idlen) {
        reply_error(r, 404, "not_found", "no such API key");
        return;
    }
    key_revoke(r, tenant, id);
}
