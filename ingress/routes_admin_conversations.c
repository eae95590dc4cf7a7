/* routes_admin_conversations.c — read-only views of a tenant's sessions for its admins
 * (admin_console.h): any user's sessions, and one conversation with each message's metadata,
 * its job (status, error, latency) and the job's events that say what happened (routed,
 * tool_call with its arguments, tool_result with its result or error, error). The events
 * live in Redis for JOBEVENTS_TTL_S (24 h); after that the message's metadata remains
 * (agent, intent, tool names, tokens, citations). Deleted sessions are listed too, marked. */
#include "admin_console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "jobevents.h"
#include "json_field.h"
#include "uuid.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* ?tenant_id= (a tenant admin's own by default), checked. 0 or -1 answered. */
static int query_tenant(struct req *r, char *tenant, size_t cap)
{
    if (req_query(r, "tenant_id", tenant, cap) != 0 || !tenant[0]) {
        if (admin_is_operator(r)) {
            reply_error(r, 400, "invalid_request", "?tenant_id= is required");
            return -1;
        }
        snprintf(tenant, cap, "%s", r->claims.tenant_id);
    }
    if (!tenant_id_valid(tenant)) {
        reply_error(r, 400, "invalid_request", "tenant_id must match [A-Za-z0-9_-]{1,64}");
        return -1;
    }
    return admin_tenant_access(r, tenant);
}

#define CONVERSATION_MAX_MESSAGES_S "1000"

/* GET /api/admin/conversations?tenant_id=&user_id=&limit=&offset= (newest first) */
static void sessions_list(struct req *r)
{
    char tenant[72], user[160] = "", limit[24], err[256];
    PGresult *res = NULL;
    if (query_tenant(r, tenant, sizeof tenant) != 0)
        return;
    if (req_query(r, "user_id", user, sizeof user) == 0 && strlen(user) > 128) {
        reply_error(r, 400, "invalid_request", "user_id is at most 128 characters");
        return;
    }
    long lim, off;
    if (req_list_window(r, 100, 500, &lim, &off) != 0)
        return;
    char offset[24];
    snprintf(limit, sizeof limit, "%ld", lim + 1); /* one more: are there others? */
    snprintf(offset, sizeof offset, "%ld", off);
    const char *p[] = {tenant, user[0] ? user : NULL, limit, offset};
    int st = pgpool_exec(
        r->app->db, &res,
        "SELECT s.session_id, s.user_id, s.title, " TS("s.created_at") " AS created_at, " TS(
            "s.last_message_at") " AS last_message_at, s.deleted_at IS NOT NULL AS deleted, "
                                 "(SELECT count(*) FROM messages m WHERE m.tenant_id = "
                                 "s.tenant_id AND m.session_id = s.session_id) AS message_count, "
                                 "(SELECT a.name FROM agent_configs a WHERE a.agent_id = "
                                 "s.agent_id) AS agent FROM sessions s WHERE s.tenant_id = $1 AND "
                                 "($2::text IS NULL OR s.user_id = $2) ORDER BY "
                                 "coalesce(s.last_message_at, s.created_at) DESC, "
                                 "s.session_id LIMIT $3::integer OFFSET $4::integer",
        4, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "conversations");
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "tenant_id", json_object_new_string(tenant));
    list_page_finish(o, "items", pg_rows_json(res), lim, off);
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

/* The events of a job worth showing an admin (no deltas: the answer is the message). */
static json_object *job_events(struct req *r, const char *tenant, const char *job_id)
{
    json_object *all = NULL, *out = json_object_new_array();
    if (jobevents_read(r->app->rc, tenant, job_id, "0", 1000, &all) != RC_OK || !all)
        return out;
    for (size_t i = 0; i < json_object_array_length(all); i++) {
        json_object *e = json_object_array_get_idx(all, i);
        const char *ev = json_field_str(e, "event");
        if (ev && strcmp(ev, "delta") != 0)
            json_object_array_add(out, json_object_get(e));
    }
    json_object_put(all);
    return out;
}

/* GET /api/admin/conversations/{session_id}?tenant_id= */
static void conversation_get(struct req *r, const char *session_id)
{
    char tenant[72], err[256];
    PGresult *s = NULL, *m = NULL;
    if (query_tenant(r, tenant, sizeof tenant) != 0)
        return;
    const char *p[] = {tenant, session_id};
    int st = pgpool_exec(r->app->db, &s,
                         "SELECT s.session_id, s.user_id, s.title, s.metadata, " TS(
                             "s.created_at") " AS created_at, " TS("s.last_message_at") " AS "
                                                                                        "last_"
                                                                                        "message_"
                                                                                        "at, "
                                                                                        "s.deleted_"
                                                                                        "at IS NOT "
                                                                                        "NULL AS "
                                                                                        "deleted "
                                                                                        "FROM "
                                                                                        "sessions "
                                                                                        "s WHERE "
                                                                                        "s.tenant_"
                                                                                        "id = $1 "
                                                                                        "AND "
                                                                                        "s.session_"
                                                                                        "id = "
                                                                                        "$2::uuid",
                         2, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "conversation");
        return;
    }
    if (PQntuples(s) == 0) {
        PQclear(s);
        reply_error(r, 404, "not_found", "no such session");
        return;
    }
    /* The newest CONVERSATION_MAX_MESSAGES, oldest first; the answer says how many came
     * before them (a session is never shown cut without saying so). */
    st = pgpool_exec(
        r->app->db, &m,
        "SELECT * FROM (SELECT m.message_id, m.role, m.content, m.metadata, m.job_id, " TS(
            "m.timestamp") " AS timestamp, j.status AS job_status, j.agent AS job_agent, "
                           "j.intent AS job_intent, j.error AS job_error, (extract(epoch FROM "
                           "j.updated_at - j.created_at) * 1000)::bigint AS job_latency_ms, "
                           "m.timestamp AS order_ts, count(*) OVER () AS order_total FROM "
                           "messages m LEFT JOIN jobs j ON j.job_id = m.job_id AND j.tenant_id = "
                           "m.tenant_id WHERE m.tenant_id = $1 AND m.session_id = $2::uuid ORDER "
                           "BY m.timestamp DESC, m.role LIMIT " CONVERSATION_MAX_MESSAGES_S ") x "
                           "ORDER BY order_ts, role DESC",
        2, p, err, sizeof err);
    if (st != PG_OK) {
        PQclear(s);
        reply_db_error(r, st, "conversation messages");
        return;
    }
    json_object *o = pg_row_json(s, 0);
    json_object *msgs = pg_rows_json(m);
    long long total = PQntuples(m) ? atoll(PQgetvalue(m, 0, PQfnumber(m, "order_total"))) : 0;
    PQclear(s);
    PQclear(m);
    for (size_t i = 0; i < json_object_array_length(msgs); i++) {
        json_object_object_del(json_object_array_get_idx(msgs, i), "order_ts");
        json_object_object_del(json_object_array_get_idx(msgs, i), "order_total");
    }
    json_object_object_add(
        o, "messages_omitted",
        json_object_new_int64(total - (long long)json_object_array_length(msgs)));
    /* each assistant message gets its job's events (one read per job) */
    for (size_t i = 0; i < json_object_array_length(msgs); i++) {
        json_object *msg = json_object_array_get_idx(msgs, i);
        const char *role = json_field_str(msg, "role"), *job = json_field_str(msg, "job_id");
        if (role && strcmp(role, "assistant") == 0 && job && uuid_valid(job))
            json_object_object_add(msg, "events", job_events(r, tenant, job));
    }
    json_object_object_add(o, "tenant_id", json_object_new_string(tenant));
    json_object_object_add(o, "messages", msgs);
    reply_json(r, 200, o);
    json_object_put(o);
}

void admin_conversations(struct req *r)
{
    if (strcmp(r->ri->request_method, "GET") != 0) {
        reply_method_not_allowed(r, "GET");
        return;
    }
    if (r->nsegs == 3) {
        sessions_list(r);
        return;
    }
    if (r->nsegs == 4 && uuid_valid(r->segs[3])) {
        conversation_get(r, r->segs[3]);
        return;
    }
    reply_error(r, 404, "not_found", "no such session");
}
