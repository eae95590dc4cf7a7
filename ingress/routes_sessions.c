/* routes_sessions.c — the Sessions API (DESIGN.md). Every query filters on the token's tenant
 * AND user: another tenant's or user's session is indistinguishable from a missing one (404).
 *
 *   GET    /api/{t}/sessions[?limit=&offset=]   {"sessions":[...], "limit", "offset",
 * "next_offset"?} POST   /api/{t}/sessions {title?, metadata?} 201 session GET
 * /api/{t}/sessions/{id}                session + message_count DELETE /api/{t}/sessions/{id} 204
 * (soft delete: deleted_at) GET    /api/{t}/sessions/{id}/messages[?limit=&offset=]
 * {"messages":[...], "next_offset"?} oldest first GET/POST /api/{t}/sessions/{id}/attachments
 * documents of the session (routes_attachments.c)
 */
#include "ingress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uuid.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define SESSION_COLUMNS                                                                            \
    "session_id, title, agent_id, metadata, " TS("created_at") " AS created_at, " TS(              \
        "updated_at") " AS updated_at, " TS("last_message_at") " AS last_message_at"

/* ?limit= (1..500, default 50) and ?offset=; limit is one more than asked (are there others?). */
static int page_params(struct req *r, long *asked, char limit[24], char offset[24])
{
    long l, o;
    if (req_list_window(r, 50, 500, &l, &o) != 0)
        return -1;
    *asked = l;
    snprintf(limit, 24, "%ld", l + 1);
    snprintf(offset, 24, "%ld", o);
    return 0;
}

static void list_sessions(struct req *r, const char *tenant)
{
    char limit[24], offset[24], err[256];
    PGresult *res = NULL;
    long asked;
    if (page_params(r, &asked, limit, offset) != 0)
        return;
    const char *p[] = {tenant, r->claims.sub, limit, offset};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT " SESSION_COLUMNS " FROM sessions WHERE tenant_id = $1 AND "
                         "user_id = $2 AND deleted_at IS NULL "
                         "ORDER BY created_at DESC, session_id LIMIT $3 OFFSET $4",
                         4, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "list sessions");
        return;
    }
    json_object *o = json_object_new_object();
    list_page_finish(o, "sessions", pg_rows_json(res), asked, atol(offset));
    json_object_object_add(o, "limit", json_object_new_int64(asked));
    json_object_object_add(o, "offset", json_object_new_int64(atol(offset)));
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

static void create_session(struct req *r, const char *tenant)
{
    char err[256];
    PGresult *res = NULL;
    json_object *body, *v;
    const char *title = NULL, *meta = "{}";
    /* every field is optional: no body at all (no Content-Length either) is {} */
    if (req_read_body(r) != 0)
        return;
    if (r->body_len == 0) {
        body = json_object_new_object();
    } else if (!(body = req_json_body(r))) {
        return;
    }
    static const char *const members[] = {"title", "metadata"};
    if (body_members_known(r, body, members, sizeof members / sizeof *members) != 0)
        goto out;
    if (json_object_object_get_ex(body, "title", &v) && v) {
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) > 200) {
            reply_error(r, 400, "invalid_request", "title must be a string of at most 200 bytes");
            goto out;
        }
        title = json_object_get_string(v);
    }
    if (json_object_object_get_ex(body, "metadata", &v) && v) {
        if (!json_object_is_type(v, json_type_object)) {
            reply_error(r, 400, "invalid_request", "metadata must be an object");
            goto out;
        }
        meta = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    }
    const char *p[] = {tenant, r->claims.sub, title, meta};
    int st = pgpool_exec(r->app->db, &res,
                         "INSERT INTO sessions (tenant_id, user_id, title, metadata) "
                         "VALUES ($1, $2, $3, $4::jsonb) RETURNING " SESSION_COLUMNS,
                         4, p, err, sizeof err);
    if (st == PG_ERR_FOREIGN_KEY) {
        reply_error(r, 404, "not_found", "no such tenant");
        goto out;
    }
    if (st != PG_OK) {
        reply_db_error(r, st, "create session");
        goto out;
    }
    json_object *o = pg_row_json(res, 0);
    PQclear(res);
    reply_json(r, 201, o);
    json_object_put(o);
out:
    json_object_put(body);
}

static void get_session(struct req *r, const char *tenant, const char *id)
{
    char err[256];
    PGresult *res = NULL;
    const char *p[] = {id, tenant, r->claims.sub};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT " SESSION_COLUMNS ", (SELECT count(*) FROM messages m WHERE "
                         "m.session_id = s.session_id AND m.tenant_id = s.tenant_id) AS "
                         "message_count FROM sessions s WHERE session_id = $1 AND tenant_id = $2 "
                         "AND user_id = $3 AND deleted_at IS NULL",
                         3, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "get session");
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        reply_error(r, 404, "not_found", "no such session");
        return;
    }
    json_object *o = pg_row_json(res, 0);
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

static void delete_session(struct req *r, const char *tenant, const char *id)
{
    char err[256];
    PGresult *res = NULL;
    const char *p[] = {id, tenant, r->claims.sub};
    int st = pgpool_exec(r->app->db, &res,
                         "UPDATE sessions SET deleted_at = now(), updated_at = now() "
                         "WHERE session_id = $1 AND tenant_id = $2 AND user_id = $3 "
                         "AND deleted_at IS NULL RETURNING session_id",
                         3, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "delete session");
        return;
    }
    int n = PQntuples(res);
    PQclear(res);
    if (n == 0) {
        reply_error(r, 404, "not_found", "no such session");
        return;
    }
    reply_raw(r, 204, NULL, "", 0, NULL);
}

static void list_messages(struct req *r, const char *tenant, const char *id)
{
    char limit[24], offset[24], err[256];
    PGresult *res = NULL;
    long asked;
    if (page_params(r, &asked, limit, offset) != 0)
        return;
    const char *p0[] = {id, tenant, r->claims.sub};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT 1 FROM sessions WHERE session_id = $1 AND tenant_id = $2 AND "
                         "user_id = $3 AND deleted_at IS NULL",
                         3, p0, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "session lookup");
        return;
    }
    int found = PQntuples(res) > 0;
    PQclear(res);
    if (!found) {
        reply_error(r, 404, "not_found", "no such session");
        return;
    }
    const char *p[] = {id, tenant, limit, offset};
    st = pgpool_exec(
        r->app->db, &res,
        "SELECT message_id, role, content, metadata, job_id, " TS(
            "timestamp") " AS timestamp FROM messages WHERE session_id = $1 AND tenant_id = $2 "
                         "ORDER BY timestamp ASC, message_id LIMIT $3 OFFSET $4",
        4, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "list messages");
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "session_id", json_object_new_string(id));
    list_page_finish(o, "messages", pg_rows_json(res), asked, atol(offset));
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

void routes_sessions(struct req *r, const char *tenant)
{
    const char *m = r->ri->request_method;
    int n = r->nsegs;
    if (req_auth_tenant(r, tenant) != 0)
        return;
    if (n == 3) {
        if (strcmp(m, "GET") == 0)
            list_sessions(r, tenant);
        else if (strcmp(m, "POST") == 0)
            create_session(r, tenant);
        else
            reply_method_not_allowed(r, "GET, POST");
        return;
    }
    const char *id = r->segs[3];
    if (n == 5 && uuid_valid(id) && strcmp(r->segs[4], "attachments") == 0) {
        routes_session_attachments(r, tenant, id); /* routes_attachments.c */
        return;
    }
    if (n > 5 || !uuid_valid(id) || (n == 5 && strcmp(r->segs[4], "messages") != 0)) {
        reply_error(r, 404, "not_found", "no such session");
        return;
    }
    if (n == 5) {
        if (strcmp(m, "GET") == 0)
            list_messages(r, tenant, id);
        else
            reply_method_not_allowed(r, "GET");
        return;
    }
    if (strcmp(m, "GET") == 0)
        get_session(r, tenant, id);
    else if (strcmp(m, "DELETE") == 0)
        delete_session(r, tenant, id);
    else
        reply_method_not_allowed(r, "GET, DELETE");
}
