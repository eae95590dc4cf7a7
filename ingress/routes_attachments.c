/* routes_attachments.c — documents in a chat (issue 15, part 2).
 *
 *   POST /api/{t}/chat {message, attachments: [{document_id}]}   (routes_chat.c calls
 *        attachments_resolve before accepting and attachments_record after)
 *   GET  /api/{t}/sessions/{id}/attachments      {"session_id", "attachments": [...]}
 *   POST /api/{t}/sessions/{id}/attachments
 *        application/json {"document_ids": [...]} (or {"attachments": [{document_id}]}):
 *            attaches the caller's already uploaded documents -> 200 {attachments}
 *        multipart/form-data: uploads files to the session through the documents batch
 *            pipeline (POST /api/{t}/documents, the docworker reads them) -> 202, the batch's
 *            answer; the documents are the session's attachments before the answer is sent
 *
 * Who may attach what: a document belongs to the user who uploaded it (its batch's user_id,
 * as GET /documents/{batch} shows it only to that user and the tenant's admins). A user may
 * attach only its own documents, a tenant admin any of its tenant's. Another tenant's
 * document, another user's, or no document at all: the same 404, so no caller learns which
 * ids exist. A document still being processed is 409 document_not_ready, one that failed 422
 * document_failed (a chat needs its text).
 */
#include "ingress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_field.h"
#include "strbuf.h"
#include "uuid.h"

#define ATT_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The ids of list ([{document_id}] or, for the sessions route, ["<id>"]) as a PostgreSQL
 * array literal of distinct UUIDs. 0, or -1 with msg set. */
static int ids_literal(json_object *list, int allow_strings, struct strbuf *arr, size_t *n,
                       char *msg, size_t msglen)
{
    size_t len = json_object_array_length(list);
    *n = 0;
    if (len > ATTACH_MAX) {
        snprintf(msg, msglen, "at most %d attachments per message", ATTACH_MAX);
        return -1;
    }
    strbuf_adds(arr, "{");
    for (size_t i = 0; i < len; i++) {
        json_object *e = json_object_array_get_idx(list, i);
        const char *id = NULL;
        if (allow_strings && json_object_is_type(e, json_type_string))
            id = json_object_get_string(e);
        else if (json_object_is_type(e, json_type_object))
            id = json_field_str(e, "document_id");
        if (!id || !uuid_valid(id)) {
            snprintf(msg, msglen, "attachments[%zu].document_id must be a UUID", i);
            return -1;
        }
        char low[UUID_STR_LEN];
        for (size_t k = 0; k < UUID_STR_LEN; k++)
            low[k] = (char)((id[k] >= 'A' && id[k] <= 'F') ? id[k] + 32 : id[k]);
        if (arr->p && strstr(arr->p, low))
            continue; /* the same document twice is attached once */
        if (*n)
            strbuf_adds(arr, ",");
        strbuf_adds(arr, low);
        (*n)++;
    }
    strbuf_adds(arr, "}");
    if (arr->oom) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    return 0;
}

/* Resolves ids against the caller: 0 with *out, or -1 when answered. require_done: the text
 * is needed (a chat), so a document still processing or failed is refused. */
static int resolve(struct req *r, const char *tenant, json_object *list, int allow_strings,
                   int require_done, json_object **out)
{
    struct strbuf arr = {0};
    PGresult *res = NULL;
    char msg[160], err[256];
    size_t n = 0;
    int rc = -1;
    *out = NULL;
    if (!json_object_is_type(list, json_type_array)) {
        reply_error(r, 400, "invalid_request", "attachments must be an array of {document_id}");
        goto out;
    }
    if (ids_literal(list, allow_strings, &arr, &n, msg, sizeof msg) != 0) {
        reply_error(r, 400, "invalid_request", msg);
        goto out;
    }
    if (n == 0) {
        rc = 0;
        goto out;
    }
    const char *p[] = {tenant, arr.p, r->claims.sub, r->claims.admin ? "t" : "f"};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT d.document_id::text AS document_id, d.filename, "
                         "d.batch_id::text AS batch_id, d.status, d.pages FROM documents d "
                         "JOIN document_batches b ON b.tenant_id = d.tenant_id AND "
                         "b.batch_id = d.batch_id WHERE d.tenant_id = $1 AND "
                         "d.document_id = ANY($2::uuid[]) AND (b.user_id = $3 OR $4::boolean) "
                         "ORDER BY array_position($2::uuid[], d.document_id)",
                         4, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "attachment lookup");
        goto out;
    }
    if ((size_t)PQntuples(res) != n) {
        reply_error(r, 404, "not_found", "no such document");
        goto out;
    }
    for (int i = 0; require_done && i < PQntuples(res); i++) {
        const char *status = PQgetvalue(res, i, 3);
        if (strcmp(status, "error") == 0) {
            snprintf(msg, sizeof msg, "document %s could not be read; it cannot be attached",
                     PQgetvalue(res, i, 0));
            reply_error(r, 422, "document_failed", msg);
            goto out;
        }
        if (strcmp(status, "done") != 0) {
            snprintf(msg, sizeof msg,
                     "document %s is still being processed; attach it once its batch is done",
                     PQgetvalue(res, i, 0));
            reply_error(r, 409, "document_not_ready", msg);
            goto out;
        }
    }
    *out = json_object_new_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "document_id", json_object_new_string(PQgetvalue(res, i, 0)));
        json_object_object_add(o, "filename", json_object_new_string(PQgetvalue(res, i, 1)));
        json_object_object_add(o, "batch_id", json_object_new_string(PQgetvalue(res, i, 2)));
        json_object_array_add(*out, o);
    }
    rc = 0;
out:
    PQclear(res);
    free(arr.p);
    return rc;
}

int attachments_resolve(struct req *r, const char *tenant, json_object *list, json_object **out)
{
    return resolve(r, tenant, list, 0, 1, out);
}

int attachments_record(struct req *r, const char *tenant, const char *session_id,
                       const char *message_id, json_object *resolved, const char *origin)
{
    struct strbuf arr = {0};
    char err[256];
    size_t n = resolved ? json_object_array_length(resolved) : 0;
    if (n == 0)
        return 0;
    strbuf_adds(&arr, "{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_adds(&arr, ",");
        strbuf_adds(&arr, json_field_str(json_object_array_get_idx(resolved, i), "document_id"));
    }
    strbuf_adds(&arr, "}");
    if (arr.oom) {
        free(arr.p);
        return PG_ERR_QUERY;
    }
    const char *p[] = {tenant, session_id, arr.p, r->claims.sub, origin, message_id};
    int st = pgpool_exec(r->app->db, NULL,
                         "INSERT INTO session_attachments (tenant_id, session_id, document_id, "
                         "user_id, origin, message_id) SELECT $1, $2::uuid, d, $4, $5, $6::uuid "
                         "FROM unnest($3::uuid[]) AS d ON CONFLICT DO NOTHING",
                         6, p, err, sizeof err);
    free(arr.p);
    if (st != PG_OK)
        log_kv(LOG_WARN, &r->log, "attachments not recorded", "error", err, (char *)NULL);
    return st;
}

/* 0 when the session is the caller's (tenant and user, not deleted); -1 answered. */
static int session_owned(struct req *r, const char *tenant, const char *session_id)
{
    PGresult *res = NULL;
    char err[256];
    const char *p[] = {session_id, tenant, r->claims.sub};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT 1 FROM sessions WHERE session_id = $1 AND tenant_id = $2 AND "
                         "user_id = $3 AND deleted_at IS NULL",
                         3, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "session lookup");
        return -1;
    }
    int found = PQntuples(res) > 0;
    PQclear(res);
    if (!found) {
        reply_error(r, 404, "not_found", "no such session");
        return -1;
    }
    return 0;
}

static void list_attachments(struct req *r, const char *tenant, const char *session_id)
{
    PGresult *res = NULL;
    char err[256];
    const char *p[] = {tenant, session_id};
    int st = pgpool_exec(
        r->app->db, &res,
        "SELECT a.document_id, d.filename, d.content_type, d.size_bytes, d.status, d.pages, "
        "d.batch_id, a.origin, a.message_id, " ATT_TS("a.created_at") " AS attached_at "
                                                                      "FROM session_attachments a "
                                                                      "JOIN documents d ON "
                                                                      "d.document_id = "
                                                                      "a.document_id AND "
                                                                      "d.tenant_id = a.tenant_id "
                                                                      "WHERE a.tenant_id = $1 "
                                                                      "AND a.session_id = $2 "
                                                                      "ORDER BY a.created_at, "
                                                                      "a.document_id",
        2, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "list attachments");
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "session_id", json_object_new_string(session_id));
    json_object_object_add(o, "attachments", pg_rows_json(res));
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

/* before_reply of an upload to a session: the batch's documents become the session's
 * attachments before the client sees the 202 (r->job_id is the batch id). A failure here
 * leaves the upload accepted (its documents can be attached by id later) and is logged. */
static void attach_uploaded(struct req *r)
{
    char err[256];
    if (r->status != 202 || !r->job_id[0] || !r->attach_session[0])
        return;
    const char *p[] = {r->claims.tenant_id, r->attach_session, r->job_id, r->claims.sub};
    int st = pgpool_exec(r->app->db, NULL,
                         "INSERT INTO session_attachments (tenant_id, session_id, document_id, "
                         "user_id, origin) SELECT tenant_id, $2::uuid, document_id, $4, 'upload' "
                         "FROM documents WHERE tenant_id = $1 AND batch_id = $3::uuid "
                         "ON CONFLICT DO NOTHING",
                         4, p, err, sizeof err);
    if (st != PG_OK)
        log_kv(LOG_WARN, &r->log, "uploaded documents not attached to the session", "error", err,
               (char *)NULL);
}

static void post_attachments(struct req *r, const char *tenant, const char *session_id)
{
    const char *ct = mg_get_header(r->conn, "Content-Type");
    if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0) {
        snprintf(r->attach_session, sizeof r->attach_session, "%s", session_id);
        r->before_reply = attach_uploaded;
        documents_upload(r, tenant);
        r->before_reply = NULL;
        return;
    }
    json_object *body = req_json_body(r), *list = NULL, *resolved = NULL;
    if (!body)
        return;
    static const char *const members[] = {"document_ids", "attachments"};
    if (body_members_known(r, body, members, sizeof members / sizeof *members) != 0)
        goto out;
    if (!json_object_object_get_ex(body, "document_ids", &list) &&
        !json_object_object_get_ex(body, "attachments", &list)) {
        reply_error(r, 400, "invalid_request",
                    "send {\"document_ids\": [...]} or multipart/form-data files");
        goto out;
    }
    if (!list || !json_object_is_type(list, json_type_array) ||
        json_object_array_length(list) == 0) {
        reply_error(r, 400, "invalid_request", "document_ids must be a non-empty array");
        goto out;
    }
    if (resolve(r, tenant, list, 1, 0, &resolved) != 0)
        goto out;
    int st = attachments_record(r, tenant, session_id, NULL, resolved, "upload");
    if (st != PG_OK) {
        reply_db_error(r, st, "attach");
        goto out;
    }
    list_attachments(r, tenant, session_id);
out:
    json_object_put(resolved);
    json_object_put(body);
}

void routes_session_attachments(struct req *r, const char *tenant, const char *session_id)
{
    const char *m = r->ri->request_method;
    snprintf(r->route, sizeof r->route, "sessions.attachments");
    if (strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0) {
        reply_method_not_allowed(r, "GET, POST");
        return;
    }
    if (session_owned(r, tenant, session_id) != 0)
        return;
    if (strcmp(m, "GET") == 0)
        list_attachments(r, tenant, session_id);
    else
        post_attachments(r, tenant, session_id);
}
