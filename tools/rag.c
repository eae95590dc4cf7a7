/* rag.c — the RAG tool: search the tenant's knowledge base in ChromaDB.
 *
 * Config keys: top_k (default 4, 1..20), similarity_threshold (cosine similarity in
 * [-1, 1], default 0: results below it are dropped), collection (or collection_name;
 * optional). The collection is always derived from the tenant of the job running the tool:
 * no config value names a collection outright. Without the key it is the tenant's default
 * "agenthub_<tenant>" (the name knowledge uploads have always used); the key's value is a
 * suffix within that tenant's namespace, "agenthub_<tenant>.<suffix>" (knowledge.h,
 * knowledge_collection_name_sub). Tenant ids are [A-Za-z0-9_-], which cannot hold '.', so
 * no (tenant, suffix) pair spells another tenant's name: tenant "a" cannot reach "a_b"'s
 * or "a-b"'s collection. The tenant's own default name written out in full is accepted (old
 * configs); any other full name, like the old "agenthub_<tenant>_x" form, is refused.
 * Arguments: "query" (or "question"/"q"; otherwise the first string argument).
 * Result: {"results": [{"text", "source", "chunk", "score"}]} (score: the cosine similarity to
 * 4 decimals), best first, so the agent can cite its sources; a chunk of an ingested batch
 * document (knowledge_add_pages) also has "document_id", "filename" and "page", so the citation
 * names the document and its page. A tenant with no knowledge base yet gets {"results": []}.
 *
 * The Chroma call is blocking (chroma.h) and runs on the caller's thread; the result is
 * delivered from the loop like every tool result.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chroma.h"
#include "json_number.h"
#include "knowledge.h"
#include "tool_internal.h"

static const char *query_arg(json_object *args)
{
    static const char *const keys[] = {"query", "question", "q"};
    json_object *v;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_object_get_ex(args, keys[i], &v) &&
            json_object_is_type(v, json_type_string))
            return json_object_get_string(v);
    json_object_object_foreach(args, k, val)
    {
        (void)k;
        if (json_object_is_type(val, json_type_string))
            return json_object_get_string(val);
    }
    return NULL;
}

int rag_tool_run(const struct tool_ctx *ctx, const struct tool_def *tool, json_object *args,
                 json_object **result, char *err, size_t errlen)
{
    char coll[160], id[CHROMA_ID_MAX], e2[256];
    struct chroma *c = NULL;
    struct chroma_hit *hits = NULL;
    size_t nhits = 0;
    float *vec = NULL;
    int dim = 0;
    int rc = -EINVAL;
    const char *name = tool->name ? tool->name : "?";

    *result = NULL;
    const char *q = query_arg(args);
    if (!q || !*q) {
        snprintf(err, errlen, "tool %s: a non-empty \"query\" argument is required", name);
        return -EINVAL;
    }
    if (knowledge_collection_name(ctx->tenant_id, coll, sizeof coll) < 0) {
        snprintf(err, errlen, "tool %s: invalid tenant", name);
        return -EINVAL;
    }
    const char *cn = tool_cfg_str(tool->config, "collection");
    if (!cn)
        cn = tool_cfg_str(tool->config, "collection_name");
    /* a full name ("agenthub_...") other than the tenant's default is refused outright */
    if (cn && *cn && strcmp(cn, coll) != 0 &&
        (strncmp(cn, "agenthub_", 9) == 0 ||
         knowledge_collection_name_sub(ctx->tenant_id, cn, coll, sizeof coll) < 0)) {
        snprintf(err, errlen, "tool %s: collection is not this tenant's", name);
        return -EACCES;
    }
    long top_k = tool_cfg_long(tool->config, "top_k", 4, 1, 20);
    double threshold = tool_cfg_double(tool->config, "similarity_threshold", 0.0);

    if (chroma_open(&c, ctx->chroma_url, e2, sizeof e2) != 0) {
        snprintf(err, errlen, "tool %s: knowledge base not configured", name);
        goto out;
    }
    rc = chroma_collection_get(c, coll, id, e2, sizeof e2);
    if (rc == -ENOENT) {
        *result = json_object_new_object();
        json_object_object_add(*result, "results", json_object_new_array());
        rc = 0;
        goto out;
    }
    if (rc < 0) {
        snprintf(err, errlen, "tool %s: knowledge base unavailable", name);
        goto out;
    }
    if ((rc = knowledge_embed(ctx->llm_cfg, &q, 1, &vec, &dim, e2, sizeof e2)) != 0) {
        snprintf(err, errlen, "tool %s: %s", name, e2);
        goto out;
    }
    if ((rc = chroma_query(c, id, vec, dim, (int)top_k, &hits, &nhits, e2, sizeof e2)) != 0) {
        snprintf(err, errlen, "tool %s: knowledge base query failed (%s)", name, e2);
        goto out;
    }
    json_object *res = json_object_new_object(), *arr = json_object_new_array();
    json_object_object_add(res, "results", arr);
    for (size_t i = 0; i < nhits; i++) {
        /* 4 decimals, as shown (json_number.h): the threshold is held to the score shown, so
         * no result shows one under it */
        double score = round((1.0 - hits[i].distance) * 1e4) / 1e4;
        if (score < threshold)
            continue;
        json_object *r = json_object_new_object(), *v;
        json_object_object_add(r, "text", json_object_new_string(hits[i].document));
        const char *src = NULL;
        int chunk = -1;
        if (hits[i].metadata && json_object_object_get_ex(hits[i].metadata, "source", &v))
            src = json_object_get_string(v);
        if (hits[i].metadata && json_object_object_get_ex(hits[i].metadata, "chunk", &v))
            chunk = json_object_get_int(v);
        json_object_object_add(r, "source", json_object_new_string(src ? src : hits[i].id));
        json_object_object_add(r, "chunk", json_object_new_int(chunk));
        json_object_object_add(r, "score", json_decimal(score, 4));
        /* a batch document's chunk: which document and page it is from */
        static const char *const doc_keys[] = {"document_id", "filename", "page"};
        for (size_t k = 0; hits[i].metadata && k < sizeof doc_keys / sizeof doc_keys[0]; k++)
            if (json_object_object_get_ex(hits[i].metadata, doc_keys[k], &v))
                json_object_object_add(r, doc_keys[k], json_object_get(v));
        json_object_array_add(arr, r);
    }
    *result = res;
    rc = 0;
out:
    chroma_hits_free(hits, nhits);
    free(vec);
    chroma_close(c);
    return rc;
}
