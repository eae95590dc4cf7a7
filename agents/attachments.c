/* attachments.c — see attachments.h. */
#include "attachments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc_context.h"
#include "json_field.h"
#include "strbuf.h"

#define ATTACH_MAX_PAGES 500 /* per document; the docworker's page limit is far below */

int agent_attachments_context(struct pgpool *db, const char *tenant_id, json_object *attachments,
                              size_t max_chars, char **out, json_object *citations, char *err,
                              size_t errlen)
{
    struct strbuf ids = {0};
    PGresult *res = NULL;
    struct doc_source *docs = NULL;
    struct doc_page *pages = NULL;
    json_object **page_rows = NULL;
    size_t n = attachments && json_object_is_type(attachments, json_type_array)
                   ? json_object_array_length(attachments)
                   : 0;
    int rc = 0, first = 1;
    *out = NULL;
    if (n == 0)
        return 0;
    strbuf_adds(&ids, "{");
    for (size_t i = 0; i < n; i++) {
        const char *id = json_field_str(json_object_array_get_idx(attachments, i), "document_id");
        if (!id)
            continue;
        strbuf_add_pg_array_elem(&ids, id, first);
        first = 0;
    }
    strbuf_adds(&ids, "}");
    if (ids.oom) {
        snprintf(err, errlen, "out of memory");
        return PG_ERR_QUERY;
    }
    const char *p[] = {tenant_id, ids.p};
    /* The pages as one JSON array per document (document_pages), or NULL: then the text. */
    rc = pgpool_exec(db, &res,
                     "SELECT d.document_id::text, d.filename, COALESCE(d.text, ''), "
                     "(SELECT json_agg(json_build_object('page', p.page, 'text', p.text) "
                     "ORDER BY p.page)::text FROM document_pages p WHERE p.document_id = "
                     "d.document_id AND p.tenant_id = d.tenant_id) "
                     "FROM documents d WHERE d.tenant_id = $1 AND d.document_id = ANY($2::uuid[]) "
                     "AND d.status = 'done' ORDER BY array_position($2::uuid[], d.document_id)",
                     2, p, err, errlen);
    free(ids.p);
    if (rc != PG_OK)
        return rc;
    size_t nd = (size_t)PQntuples(res);
    if (nd == 0) {
        PQclear(res);
        return 0;
    }
    docs = calloc(nd, sizeof *docs);
    pages = calloc(nd * ATTACH_MAX_PAGES, sizeof *pages);
    page_rows = calloc(nd, sizeof *page_rows);
    if (!docs || !pages || !page_rows) {
        snprintf(err, errlen, "out of memory");
        rc = PG_ERR_QUERY;
        goto out;
    }
    for (size_t i = 0; i < nd; i++) {
        struct doc_page *dp = pages + i * ATTACH_MAX_PAGES;
        docs[i].document_id = PQgetvalue(res, (int)i, 0);
        docs[i].filename = PQgetvalue(res, (int)i, 1);
        docs[i].pages = dp;
        if (!PQgetisnull(res, (int)i, 3))
            page_rows[i] = json_tokener_parse(PQgetvalue(res, (int)i, 3));
        size_t np = page_rows[i] && json_object_is_type(page_rows[i], json_type_array)
                        ? json_object_array_length(page_rows[i])
                        : 0;
        if (np > 0) {
            for (size_t k = 0; k < np && k < ATTACH_MAX_PAGES; k++) {
                json_object *row = json_object_array_get_idx(page_rows[i], k), *v;
                dp[k].page = json_object_object_get_ex(row, "page", &v) ? json_object_get_int(v)
                                                                        : (int)k + 1;
                dp[k].text = json_field_str(row, "text");
                dp[k].len = dp[k].text ? strlen(dp[k].text) : 0;
                docs[i].npages++;
            }
        } else {
            const char *text = PQgetvalue(res, (int)i, 2);
            size_t tl = (size_t)PQgetlength(res, (int)i, 2);
            docs[i].npages = tl ? doc_split_pages(text, tl, dp, ATTACH_MAX_PAGES) : 0;
        }
    }
    if (doc_context_build(docs, nd, max_chars, out, citations) != 0) {
        snprintf(err, errlen, "out of memory");
        rc = PG_ERR_QUERY;
        goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; page_rows && i < nd; i++)
        json_object_put(page_rows[i]);
    free(page_rows);
    free(pages);
    free(docs);
    PQclear(res);
    return rc;
}
