/* routes_ingest.c — batch documents into the tenant's knowledge base (issue 15, part 3).
 *
 *   POST   /api/admin/knowledge/ingest {tenant_id?, batch_id, document_ids?}
 *            the batch's processed documents (or the chosen ones) are chunked page by page,
 *            embedded and upserted into the tenant's ChromaDB collection
 *            (tools/knowledge.h, knowledge_add_pages), each chunk keeping its document and
 *            page. 200 with the ingestion when it is finished (status done, or error when no
 *            document could be ingested; 503 when the knowledge store is unreachable).
 *   GET    /api/admin/knowledge/ingest?tenant_id=&batch_id=   ingestions, newest first
 *   GET    /api/admin/knowledge/ingest/{ingest_id}            one ingestion
 *   DELETE /api/{t}/documents/{batch_id}/{document_id}        (http.c) a processed document:
 *            its knowledge chunks, its row (pages and session attachments go with it) and
 *            its place in the batch's counts
 *
 * Progress: the ingestion is a knowledge_ingests row written before the first document and
 * after each one (done, failed, chunks, and per document {document_id, filename, status,
 * chunks | error}), so another request can poll it while the POST runs. The POST's own
 * thread does the work: the embedder is the tenant's (as for /api/admin/knowledge and the
 * RAG tool), and ChromaDB's client is blocking.
 *
 * Re-ingesting a document replaces its chunks (knowledge_add_pages deletes the document's
 * chunks before upserting ids that are deterministic anyway), so nothing is duplicated;
 * knowledge_documents keeps one row per document (doc_id = the document id), which
 * DELETE /api/admin/knowledge/{tenant}/{document_id} also removes with its chunks.
 *
 * Access: the operator (any tenant, tenant_id required) or the tenant's admin (its own).
 * A document's owner or its tenant's admin may delete it.
 */
#include "ingress.h"
#include "admin_console.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chroma.h"
#include "doc_context.h"
#include "envelope.h"
#include "json_field.h"
#include "knowledge.h"
#include "sha256.h"
#include "strbuf.h"
#include "uuid.h"

#define INGEST_MAX_DOCS 1000
#define INGEST_MAX_PAGES 2000
#define ING_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define INGEST_COLUMNS                                                                             \
    "ingest_id, tenant_id, batch_id, actor, status, total, done, failed, chunks, "                 \
    "documents, " ING_TS("created_at") " AS created_at, " ING_TS("updated_at") " AS updated_at"

/* The operator, or the admin of exactly this tenant (routes_admin.c has the same rule). */
static int ingest_access(struct req *r, const char *tenant)
{
    snprintf(r->audit_tenant, sizeof r->audit_tenant, "%s", tenant);
    if (r->claims.operator|| strcmp(tenant, r->claims.tenant_id) == 0)
        return 0;
    reply_error(r, 403, "forbidden", "a tenant admin manages only its own tenant");
    return -1;
}

static void reply_ingest(struct req *r, int status, const char *ingest_id)
{
    PGresult *res = NULL;
    char err[256];
    const char *p[] = {ingest_id};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT " INGEST_COLUMNS " FROM knowledge_ingests WHERE ingest_id = $1", 1,
                         p, err, sizeof err);
    if (st != PG_OK || PQntuples(res) == 0) {
        PQclear(res);
        reply_db_error(r, st != PG_OK ? st : PG_ERR_QUERY, "ingest lookup");
        return;
    }
    json_object *o = pg_row_json(res, 0);
    PQclear(res);
    reply_json(r, status, o);
    json_object_put(o);
}

/* One document's pages: document_pages when the docworker wrote them, else the text split at
 * form feeds. Ingests it and returns 0 with *chunks, or -1 with err. */
static int ingest_one(struct req *r, struct chroma *c, const struct llm_config *emb,
                      const char *tenant, const char *document_id, const char *filename,
                      size_t *chunks, char *err, size_t errlen)
{
    PGresult *res = NULL;
    json_object *rows = NULL;
    struct doc_page *pages = NULL;
    size_t np = 0;
    int rc = -1;
    const char *p[] = {tenant, document_id};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT COALESCE(d.text, ''), (SELECT json_agg(json_build_object('page', "
                         "p.page, 'text', p.text) ORDER BY p.page)::text FROM document_pages p "
                         "WHERE p.document_id = d.document_id AND p.tenant_id = d.tenant_id) "
                         "FROM documents d WHERE d.tenant_id = $1 AND d.document_id = $2::uuid",
                         2, p, err, errlen);
    if (st != PG_OK || PQntuples(res) == 0) {
        if (st == PG_OK)
            snprintf(err, errlen, "the document is gone");
        goto out;
    }
    pages = calloc(INGEST_MAX_PAGES, sizeof *pages);
    if (!pages) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!PQgetisnull(res, 0, 1))
        rows = json_tokener_parse(PQgetvalue(res, 0, 1));
    if (rows && json_object_is_type(rows, json_type_array) && json_object_array_length(rows)) {
        for (size_t k = 0; k < json_object_array_length(rows) && k < INGEST_MAX_PAGES; k++) {
            json_object *row = json_object_array_get_idx(rows, k), *v;
            pages[k].page =
                json_object_object_get_ex(row, "page", &v) ? json_object_get_int(v) : (int)k + 1;
            pages[k].text = json_field_str(row, "text");
            pages[k].len = pages[k].text ? strlen(pages[k].text) : 0;
            np++;
        }
    } else {
        np = doc_split_pages(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), pages,
                             INGEST_MAX_PAGES);
    }
    if (knowledge_add_pages(c, tenant, emb, document_id, filename, pages, np, chunks, err,
                            errlen) != 0)
        goto out;
    {
        char nch[24], npg[24], sha[65];
        snprintf(nch, sizeof nch, "%zu", *chunks);
        snprintf(npg, sizeof npg, "%zu", np);
        sha256_hex(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), sha);
        const char *q[] = {tenant, document_id, filename, nch, sha, npg};
        st = pgpool_exec(r->app->db, NULL,
                         "INSERT INTO knowledge_documents (tenant_id, doc_id, source, title, "
                         "chunk_count, sha256, metadata) VALUES ($1, $2, $3, $3, $4::integer, $5, "
                         "jsonb_build_object('document_id', $2::text, 'pages', $6::integer)) "
                         "ON CONFLICT (tenant_id, doc_id) DO UPDATE SET source = EXCLUDED.source, "
                         "title = EXCLUDED.title, chunk_count = EXCLUDED.chunk_count, sha256 = "
                         "EXCLUDED.sha256, metadata = EXCLUDED.metadata, updated_at = now()",
                         6, q, err, errlen);
        if (st != PG_OK)
            goto out;
    }
    rc = 0;
out:
    json_object_put(rows);
    free(pages);
    PQclear(res);
    return rc;
}

/* Adds one document's outcome to the ingestion row (progress). */
static void ingest_progress(struct req *r, const char *ingest_id, json_object *doc, int ok,
                            size_t chunks)
{
    char err[256], nch[24];
    snprintf(nch, sizeof nch, "%zu", chunks);
    const char *p[] = {ingest_id, ok ? "t" : "f", nch,
                       json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN)};
    if (pgpool_exec(r->app->db, NULL,
                    "UPDATE knowledge_ingests SET done = done + $2::boolean::int, failed = failed "
                    "+ (NOT $2::boolean)::int, chunks = chunks + $3::int, documents = documents "
                    "|| jsonb_build_array($4::jsonb), updated_at = now() WHERE ingest_id = $1",
                    4, p, err, sizeof err) != PG_OK)
        log_kv(LOG_WARN, &r->log, "ingest progress not written", "error", err, (char *)NULL);
}

static void ingest_post(struct req *r)
{
    json_object *body = req_json_body(r), *v, *docs_json = NULL;
    static const char *const members[] = {"tenant_id", "batch_id", "document_ids"};
    struct strbuf ids = {0};
    PGresult *res = NULL;
    struct chroma *c = NULL;
    struct llm_config cfg, *emb = NULL;
    char err[512], tenant[72], batch_id[UUID_STR_LEN], ingest_id[UUID_STR_LEN] = "";
    size_t nwant = 0;
    memset(&cfg, 0, sizeof cfg);
    if (!body)
        return;
    if (body_members_known(r, body, members, sizeof members / sizeof *members) != 0)
        goto out;
    const char *t = json_field_str(body, "tenant_id");
    if (!t && !r->claims.operator)
        t = r->claims.tenant_id;
    if (!t || !tenant_id_valid(t)) {
        reply_error(r, 400, "invalid_request", "tenant_id is required");
        goto out;
    }
    snprintf(tenant, sizeof tenant, "%s", t);
    if (ingest_access(r, tenant) != 0)
        goto out;
    const char *b = json_field_str(body, "batch_id");
    if (!b || !uuid_valid(b)) {
        reply_error(r, 400, "invalid_request", "batch_id must be a document batch's id");
        goto out;
    }
    snprintf(batch_id, sizeof batch_id, "%s", b);
    snprintf(r->audit_resource, sizeof r->audit_resource, "%s", batch_id);
    if (json_object_object_get_ex(body, "document_ids", &v) && v) {
        size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
        if (n == 0 || n > INGEST_MAX_DOCS) {
            reply_error(r, 400, "invalid_request", "document_ids must be an array of 1..1000 ids");
            goto out;
        }
        strbuf_adds(&ids, "{");
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(v, i);
            const char *id =
                json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
            if (!id || !uuid_valid(id)) {
                reply_error(r, 400, "invalid_request", "document_ids must hold document ids");
                goto out;
            }
            strbuf_add_pg_array_elem(&ids, id, i == 0);
        }
        strbuf_adds(&ids, "}");
        if (ids.oom) {
            reply_error(r, 500, "internal", "out of memory");
            goto out;
        }
    }
    {
        const char *p[] = {tenant, batch_id, ids.p};
        int st = pgpool_exec(
            r->app->db, &res,
            "SELECT d.document_id::text, d.filename, d.status, "
            "(SELECT count(DISTINCT x) FROM unnest($3::uuid[]) x) AS wanted FROM document_batches "
            "b LEFT JOIN documents d ON d.tenant_id = b.tenant_id AND d.batch_id = b.batch_id AND "
            "($3::uuid[] IS NULL OR d.document_id = ANY($3::uuid[])) WHERE b.tenant_id = $1 AND "
            "b.batch_id = $2::uuid ORDER BY d.created_at, d.document_id",
            3, p, err, sizeof err);
        if (st != PG_OK) {
            reply_db_error(r, st, "batch lookup");
            goto out;
        }
    }
    if (PQntuples(res) == 0) {
        reply_error(r, 404, "not_found", "no such document batch");
        goto out;
    }
    nwant = (size_t)atol(PQgetvalue(res, 0, 3));
    size_t ndocs = PQgetisnull(res, 0, 0) ? 0 : (size_t)PQntuples(res);
    if (ids.p && ndocs != nwant) {
        reply_error(r, 404, "not_found", "no such document in this batch");
        goto out;
    }
    if (ndocs == 0) {
        reply_error(r, 404, "not_found", "the batch has no documents");
        goto out;
    }
    if (chroma_open(&c, r->app->cfg.common.chroma_url, err, sizeof err) != 0 ||
        chroma_heartbeat(c, err, sizeof err) != 0) {
        log_kv(LOG_WARN, &r->log, "knowledge store unreachable", "error", err, (char *)NULL);
        reply_error(r, 503, "unavailable", "knowledge store unavailable");
        goto out;
    }
    {
        char total[24];
        PGresult *ir = NULL;
        snprintf(total, sizeof total, "%zu", ndocs);
        const char *p[] = {tenant, batch_id, r->claims.sub, total};
        int st = pgpool_exec(r->app->db, &ir,
                             "INSERT INTO knowledge_ingests (tenant_id, batch_id, actor, total) "
                             "VALUES ($1, $2::uuid, $3, $4::int) RETURNING ingest_id::text",
                             4, p, err, sizeof err);
        if (st != PG_OK) {
            reply_db_error(r, st, "ingest insert");
            goto out;
        }
        snprintf(ingest_id, sizeof ingest_id, "%s", PQgetvalue(ir, 0, 0));
        PQclear(ir);
    }
    emb = knowledge_embedder(r, tenant, &cfg);
    size_t failed = 0;
    for (size_t i = 0; i < ndocs; i++) {
        const char *doc_id = PQgetvalue(res, (int)i, 0), *fn = PQgetvalue(res, (int)i, 1);
        const char *status = PQgetvalue(res, (int)i, 2);
        size_t chunks = 0;
        int ok = 0;
        json_object *d = json_object_new_object();
        json_object_object_add(d, "document_id", json_object_new_string(doc_id));
        json_object_object_add(d, "filename", json_object_new_string(fn));
        if (strcmp(status, "done") != 0) {
            snprintf(err, sizeof err, "%s",
                     strcmp(status, "error") == 0 ? "the document could not be read"
                                                  : "the document is still being processed");
        } else if (ingest_one(r, c, emb, tenant, doc_id, fn, &chunks, err, sizeof err) == 0) {
            ok = 1;
        } else {
            log_kv(LOG_WARN, &r->log, "document not ingested", "document_id", doc_id, "error", err,
                   (char *)NULL);
        }
        json_object_object_add(d, "status", json_object_new_string(ok ? "done" : "error"));
        if (ok)
            json_object_object_add(d, "chunks", json_object_new_int64((int64_t)chunks));
        else
            json_object_object_add(d, "error", json_object_new_string(err));
        failed += !ok;
        ingest_progress(r, ingest_id, d, ok, chunks);
        json_object_put(d);
    }
    {
        const char *p[] = {ingest_id, failed == ndocs ? "error" : "done"};
        pgpool_exec(r->app->db, NULL,
                    "UPDATE knowledge_ingests SET status = $2, updated_at = now() "
                    "WHERE ingest_id = $1",
                    2, p, err, sizeof err);
    }
    reply_ingest(r, 200, ingest_id);
out:
    if (emb)
        llm_config_cleanup(&cfg);
    chroma_close(c);
    PQclear(res);
    free(ids.p);
    json_object_put(docs_json);
    json_object_put(body);
}

static void ingest_get(struct req *r, const char *ingest_id)
{
    PGresult *res = NULL;
    char err[256];
    if (!uuid_valid(ingest_id)) {
        reply_error(r, 404, "not_found", "no such ingestion");
        return;
    }
    const char *p[] = {ingest_id, r->claims.operator? NULL : r->claims.tenant_id };
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT " INGEST_COLUMNS " FROM knowledge_ingests WHERE ingest_id = $1 "
                         "AND ($2::text IS NULL OR tenant_id = $2)",
                         2, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "ingest lookup");
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        reply_error(r, 404, "not_found", "no such ingestion");
        return;
    }
    json_object *o = pg_row_json(res, 0);
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

static void ingest_list(struct req *r)
{
    PGresult *res = NULL;
    char err[256], tenant[72] = "", batch[64] = "";
    if (req_query(r, "tenant_id", tenant, sizeof tenant) != 0 && !r->claims.operator)
        snprintf(tenant, sizeof tenant, "%s", r->claims.tenant_id);
    if (!tenant_id_valid(tenant)) {
        reply_error(r, 400, "invalid_request", "?tenant_id= is required");
        return;
    }
    if (ingest_access(r, tenant) != 0)
        return;
    if (req_query(r, "batch_id", batch, sizeof batch) == 0 && !uuid_valid(batch)) {
        reply_error(r, 400, "invalid_request", "batch_id must be a document batch's id");
        return;
    }
    long limit, offset;
    if (req_list_window(r, 100, 1000, &limit, &offset) != 0)
        return;
    char lim[24], off[24];
    snprintf(lim, sizeof lim, "%ld", limit + 1); /* one more: are there others? */
    snprintf(off, sizeof off, "%ld", offset);
    const char *p[] = {tenant, batch[0] ? batch : NULL, lim, off};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT " INGEST_COLUMNS " FROM knowledge_ingests WHERE tenant_id = $1 "
                         "AND ($2::uuid IS NULL OR batch_id = $2::uuid) "
                         "ORDER BY created_at DESC, ingest_id LIMIT $3::integer OFFSET $4::integer",
                         4, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "ingest list");
        return;
    }
    json_object *o = json_object_new_object();
    list_page_finish(o, "items", pg_rows_json(res), limit, offset);
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

void routes_knowledge_ingest(struct req *r)
{
    const char *m = r->ri->request_method;
    snprintf(r->route, sizeof r->route, "admin.knowledge.ingest");
    if (r->nsegs == 4 && strcmp(m, "POST") == 0)
        ingest_post(r);
    else if (r->nsegs == 4 && strcmp(m, "GET") == 0)
        ingest_list(r);
    else if (r->nsegs == 5 && strcmp(m, "GET") == 0)
        ingest_get(r, r->segs[4]);
    else if (r->nsegs == 4 || r->nsegs == 5)
        reply_method_not_allowed(r, r->nsegs == 4 ? "GET, POST" : "GET");
    else
        reply_error(r, 404, "not_found", "no such route");
}

/* ---- DELETE /api/{t}/documents/{batch_id}/{document_id} ------------------------------------ */

void routes_document_delete(struct req *r, const char *tenant, const char *batch_id,
                            const char *document_id)
{
    PGresult *res = NULL;
    struct chroma *c = NULL;
    char err[512];
    if (req_auth_tenant(r, tenant) != 0)
        return;
    if (!uuid_valid(batch_id) || !uuid_valid(document_id)) {
        reply_error(r, 404, "not_found", "no such document");
        return;
    }
    const char *p[] = {tenant, batch_id, document_id, r->claims.sub, r->claims.admin ? "t" : "f"};
    int st = pgpool_exec(r->app->db, &res,
                         "SELECT d.status FROM documents d JOIN document_batches b ON "
                         "b.tenant_id = d.tenant_id AND b.batch_id = d.batch_id WHERE "
                         "d.tenant_id = $1 AND d.batch_id = $2::uuid AND d.document_id = $3::uuid "
                         "AND (b.user_id = $4 OR $5::boolean)",
                         5, p, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "document lookup");
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        reply_error(r, 404, "not_found", "no such document");
        return;
    }
    int busy =
        strcmp(PQgetvalue(res, 0, 0), "done") != 0 && strcmp(PQgetvalue(res, 0, 0), "error") != 0;
    PQclear(res);
    res = NULL;
    if (busy) {
        reply_error(r, 409, "document_busy",
                    "the document is still being processed; delete it once its batch is done");
        return;
    }
    /* Its knowledge chunks first: if the store is unreachable nothing is deleted (503). */
    if (chroma_open(&c, r->app->cfg.common.chroma_url, err, sizeof err) != 0 ||
        knowledge_delete_document(c, tenant, document_id, err, sizeof err) != 0) {
        chroma_close(c);
        log_kv(LOG_WARN, &r->log, "document chunks not deleted", "error", err, (char *)NULL);
        reply_error(r, 503, "unavailable", "knowledge store unavailable");
        return;
    }
    chroma_close(c);
    const char *q[] = {tenant, batch_id, document_id, document_id};
    st = pgpool_exec(
        r->app->db, &res,
        "WITH d AS (DELETE FROM documents WHERE tenant_id = $1 AND batch_id = $2::uuid AND "
        "document_id = $3::uuid AND status IN ('done', 'error') RETURNING status), "
        "k AS (DELETE FROM knowledge_documents WHERE tenant_id = $1 AND doc_id = $4::text), "
        "u AS (UPDATE document_batches b SET total = b.total - (SELECT count(*) FROM d)::int, "
        "succeeded = b.succeeded - (SELECT count(*) FROM d WHERE status = 'done')::int, "
        "failed = b.failed - (SELECT count(*) FROM d WHERE status = 'error')::int, "
        "updated_at = now() WHERE b.tenant_id = $1 AND b.batch_id = $2::uuid) "
        "SELECT count(*) FROM d",
        4, q, err, sizeof err);
    if (st != PG_OK) {
        reply_db_error(r, st, "document delete");
        return;
    }
    int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (n == 0) {
        reply_error(r, 404, "not_found", "no such document");
        return;
    }
    reply_raw(r, 204, NULL, "", 0, NULL);
}
