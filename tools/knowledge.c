/* knowledge.c — see knowledge.h. */
#include "knowledge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "httploop.h"
#include "pgpool.h"
#include "sha256.h"

#define EMBED_BATCH 64

struct unit {
    size_t start, end; /* byte range in the text */
};

struct units {
    struct unit *u;
    size_t n, cap;
};

static int units_add(struct units *us, size_t start, size_t end)
{
    if (end <= start)
        return 0;
    if (us->n == us->cap) {
        size_t cap = us->cap ? us->cap * 2 : 64;
        struct unit *p = realloc(us->u, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        us->u = p;
        us->cap = cap;
    }
    us->u[us->n].start = start;
    us->u[us->n].end = end;
    us->n++;
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Adds [start, end), cut into pieces of at most target bytes at blanks or UTF-8 boundaries. */
static int add_unit_split(struct units *us, const char *t, size_t start, size_t end, size_t target)
{
    while (end - start > target) {
        size_t cut = start + target;
        size_t lo = start + target / 2;
        size_t b = cut;
        while (b > lo && !is_blank(t[b - 1]))
            b--;
        if (b > lo) {
            cut = b;
        } else {
            while (cut > start + 1 && ((unsigned char)t[cut] & 0xC0) == 0x80)
                cut--;
        }
        if (units_add(us, start, cut))
            return -ENOMEM;
        start = cut;
    }
    return units_add(us, start, end);
}

/* Sentence and line units. */
static int split_units(const char *t, size_t len, size_t target, struct units *us)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        int boundary = c == '\n' || ((c == '.' || c == '!' || c == '?') && i + 1 < len &&
                                     (t[i + 1] == ' ' || t[i + 1] == '\t'));
        if (!boundary)
            continue;
        size_t end = i + 1;
        while (end < len && is_blank(t[end])) /* a unit keeps its trailing blanks */
            end++;
        if (add_unit_split(us, t, start, end, target))
            return -ENOMEM;
        start = end;
        i = end - 1;
    }
    if (start < len && add_unit_split(us, t, start, len, target))
        return -ENOMEM;
    return 0;
}

static char *trimmed_copy(const char *t, size_t start, size_t end)
{
    while (start < end && is_blank(t[start]))
        start++;
    while (end > start && is_blank(t[end - 1]))
        end--;
    if (end == start)
        return NULL;
    char *s = malloc(end - start + 1);
    if (s) {
        memcpy(s, t + start, end - start);
        s[end - start] = 0;
    }
    return s;
}

void knowledge_chunks_free(char **chunks, size_t n)
{
    if (!chunks)
        return;
    for (size_t i = 0; i < n; i++)
        free(chunks[i]);
    free(chunks);
}

int knowledge_chunk(const char *text, size_t len, size_t target, size_t overlap, char ***chunks,
                    size_t *n)
{
    struct units us = {0};
    char **out = NULL;
    size_t nout = 0, capout = 0;
    int rc = -ENOMEM;
    if (!target)
        target = KNOWLEDGE_CHUNK_TARGET;
    if (!overlap)
        overlap = KNOWLEDGE_CHUNK_OVERLAP;
    if (overlap >= target)
        overlap = target / 4;
    *chunks = NULL;
    *n = 0;
    if (split_units(text, len, target, &us))
        goto out;

    size_t first = 0;   /* first unit of the current chunk */
    size_t covered = 0; /* units [0, covered) are in some chunk */
    while (covered < us.n) {
        size_t last = covered; /* the chunk must take unit `covered` */
        /* grow backwards for the overlap: units before `covered` totalling <= overlap
         * while the whole stays <= target */
        first = covered;
        while (first > 0 && nout > 0) {
            size_t cand = first - 1;
            if (us.u[covered - 1].end - us.u[cand].start > overlap)
                break;
            if (us.u[last].end - us.u[cand].start > target)
                break;
            first = cand;
        }
        while (last + 1 < us.n && us.u[last + 1].end - us.u[first].start <= target)
            last++;
        char *s = trimmed_copy(text, us.u[first].start, us.u[last].end);
        if (s) {
            if (nout == capout) {
                size_t cap = capout ? capout * 2 : 16;
                char **p = realloc(out, cap * sizeof *p);
                if (!p) {
                    free(s);
                    goto out;
                }
                out = p;
                capout = cap;
            }
            out[nout++] = s;
        }
        covered = last + 1;
    }
    *chunks = out;
    *n = nout;
    out = NULL;
    rc = 0;
out:
    knowledge_chunks_free(out, nout);
    free(us.u);
    return rc;
}

int knowledge_collection_name(const char *tenant_id, char *buf, size_t cap)
{
    size_t n = tenant_id ? strlen(tenant_id) : 0;
    if (n < 1 || n > 64)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = tenant_id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return -1;
    }
    int w = snprintf(buf, cap, "agenthub_%s", tenant_id);
    return w < 0 || (size_t)w >= cap ? -1 : w;
}

int knowledge_collection_name_sub(const char *tenant_id, const char *suffix, char *buf, size_t cap)
{
    size_t n = suffix ? strlen(suffix) : 0;
    if (n < 1 || n > 64)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = suffix[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        /* ChromaDB wants names to end with [A-Za-z0-9]; start alike for readability */
        if (!alnum && (i == 0 || i == n - 1 || (c != '_' && c != '-')))
            return -1;
    }
    char base[80];
    if (knowledge_collection_name(tenant_id, base, sizeof base) < 0)
        return -1;
    int w = snprintf(buf, cap, "%s.%s", base, suffix);
    return w < 0 || (size_t)w >= cap ? -1 : w;
}

int knowledge_embed(const struct llm_config *cfg, const char *const *texts, size_t n, float **vecs,
                    int *dim, char *err, size_t errlen)
{
    *vecs = NULL;
    *dim = 0;
    if (cfg && cfg->embedding_provider_model && *cfg->embedding_provider_model &&
        cfg->provider != LLM_PROVIDER_LOCAL) {
        /* A private loop: the caller may itself be running inside its loop's callback. */
        struct httploop *loop = NULL;
        struct llm_client *cl = NULL;
        struct llm_error lerr;
        char e2[256];
        int rc = -EIO;
        memset(&lerr, 0, sizeof lerr);
        if (httploop_new(&loop) != 0) {
            snprintf(err, errlen, "embedding: out of memory");
            return -ENOMEM;
        }
        if (llm_client_new(&cl, loop, NULL, e2, sizeof e2) != 0) {
            snprintf(err, errlen, "embedding: %s", e2);
            goto done;
        }
        if (llm_embed_sync(cl, cfg, texts, n, vecs, dim, &lerr) != 0) {
            snprintf(err, errlen, "embedding: %s", lerr.message[0] ? lerr.message : "failed");
            goto done;
        }
        rc = 0;
    done:
        llm_client_free(cl);
        httploop_free(loop);
        return rc;
    }
    float *v = malloc(n * LLM_LOCAL_EMBED_DIM * sizeof *v);
    if (!v && n) {
        snprintf(err, errlen, "embedding: out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        llm_embed_local(texts[i], v + i * LLM_LOCAL_EMBED_DIM, LLM_LOCAL_EMBED_DIM);
    *vecs = v;
    *dim = LLM_LOCAL_EMBED_DIM;
    return 0;
}

int knowledge_add_document(struct chroma *c, const char *tenant_id, const struct llm_config *cfg,
                           const char *source, const char *text, size_t len, size_t *nchunks,
                           char *err, size_t errlen)
{
    char coll[128], id[CHROMA_ID_MAX];
    char **chunks = NULL;
    size_t n = 0;
    char **ids = NULL;
    json_object **metas = NULL;
    float *vecs = NULL;
    json_object *where = NULL;
    char *clean = NULL;
    int rc;

    if (nchunks)
        *nchunks = 0;
    if (knowledge_collection_name(tenant_id, coll, sizeof coll) < 0) {
        snprintf(err, errlen, "invalid tenant id");
        return -EINVAL;
    }
    if (!source || !*source || strlen(source) > 200) {
        snprintf(err, errlen, "a document needs a source name of 1-200 characters");
        return -EINVAL;
    }
    if (len > (size_t)KNOWLEDGE_MAX_DOC_BYTES) {
        snprintf(err, errlen, "document larger than %ld bytes", KNOWLEDGE_MAX_DOC_BYTES);
        return -E2BIG;
    }
    /* Chunks are stored, embedded and quoted back to models: valid text only (utf8.h). A
     * document in Latin-1 or with NULs loses those bytes, not the whole document. */
    clean = utf8_sanitize(text, len, &len, NULL);
    if (!clean || knowledge_chunk(clean, len, 0, 0, &chunks, &n) != 0) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if ((rc = chroma_collection_get_or_create(c, coll, id, err, errlen)) < 0)
        goto out;
    where = json_object_new_object();
    json_object_object_add(where, "source", json_object_new_string(source));
    if ((rc = chroma_delete_where(c, id, where, err, errlen)) < 0)
        goto out;
    rc = -ENOMEM;
    if (n == 0) {
        rc = 0;
        goto out;
    }
    ids = calloc(n, sizeof *ids);
    metas = calloc(n, sizeof *metas);
    if (!ids || !metas) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(source) + 24;
        if (!(ids[i] = malloc(l))) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        snprintf(ids[i], l, "%s#%zu", source, i);
        metas[i] = json_object_new_object();
        json_object_object_add(metas[i], "source", json_object_new_string(source));
        json_object_object_add(metas[i], "chunk", json_object_new_int((int)i));
    }
    for (size_t off = 0; off < n; off += EMBED_BATCH) {
        size_t b = n - off < EMBED_BATCH ? n - off : EMBED_BATCH;
        int dim = 0;
        free(vecs);
        vecs = NULL;
        if ((rc = knowledge_embed(cfg, (const char *const *)chunks + off, b, &vecs, &dim, err,
                                  errlen)) != 0)
            goto out;
        if ((rc = chroma_upsert(c, id, b, (const char *const *)ids + off, vecs, dim,
                                (const char *const *)chunks + off, metas + off, err, errlen)) < 0)
            goto out;
    }
    if (nchunks)
        *nchunks = n;
    rc = 0;
out:
    if (ids)
        for (size_t i = 0; i < n; i++)
            free(ids[i]);
    if (metas)
        for (size_t i = 0; i < n; i++)
            json_object_put(metas[i]);
    free(ids);
    free(metas);
    free(vecs);
    json_object_put(where);
    knowledge_chunks_free(chunks, n);
    free(clean);
    return rc;
}

/* ---- documents of the batch pipeline -------------------------------------------------------- */

void knowledge_page_chunks_free(struct knowledge_chunk *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++)
        free(c[i].text);
    free(c);
}

int knowledge_chunk_pages(const struct doc_page *pages, size_t npages, struct knowledge_chunk **out,
                          size_t *n)
{
    struct knowledge_chunk *all = NULL;
    size_t nall = 0, cap = 0;
    *out = NULL;
    *n = 0;
    for (size_t p = 0; p < npages; p++) {
        char **chunks = NULL;
        size_t nc = 0;
        if (!pages[p].text || pages[p].len == 0)
            continue;
        if (knowledge_chunk(pages[p].text, pages[p].len, 0, 0, &chunks, &nc) != 0)
            goto oom;
        if (nall + nc > cap) {
            size_t ncap = cap ? cap * 2 : 16;
            while (ncap < nall + nc)
                ncap *= 2;
            struct knowledge_chunk *na = realloc(all, ncap * sizeof *na);
            if (!na) {
                knowledge_chunks_free(chunks, nc);
                goto oom;
            }
            all = na;
            cap = ncap;
        }
        for (size_t i = 0; i < nc; i++) {
            all[nall].page = pages[p].page;
            all[nall].index = nall;
            all[nall].text = chunks[i]; /* now owned by all */
            nall++;
        }
        free(chunks);
    }
    *out = all;
    *n = nall;
    return 0;
oom:
    knowledge_page_chunks_free(all, nall);
    return -ENOMEM;
}

int knowledge_chunk_id(const char *document_id, int page, size_t index, char *buf, size_t cap)
{
    int w = snprintf(buf, cap, "%s:p%d:c%zu", document_id, page, index);
    return w < 0 || (size_t)w >= cap ? -1 : w;
}

static int document_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return 0;
    }
    return 1;
}

int knowledge_delete_document(struct chroma *c, const char *tenant_id, const char *document_id,
                              char *err, size_t errlen)
{
    char coll[128], id[CHROMA_ID_MAX];
    if (knowledge_collection_name(tenant_id, coll, sizeof coll) < 0 ||
        !document_id_ok(document_id)) {
        snprintf(err, errlen, "invalid tenant or document id");
        return -EINVAL;
    }
    int rc = chroma_collection_get(c, coll, id, err, errlen);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    json_object *where = json_object_new_object();
    json_object_object_add(where, "document_id", json_object_new_string(document_id));
    rc = chroma_delete_where(c, id, where, err, errlen);
    json_object_put(where);
    return rc;
}

int knowledge_add_pages(struct chroma *c, const char *tenant_id, const struct llm_config *cfg,
                        const char *document_id, const char *filename, const struct doc_page *pages,
                        size_t npages, size_t *nchunks, char *err, size_t errlen)
{
    char coll[128], id[CHROMA_ID_MAX];
    struct doc_page *clean = NULL;
    struct knowledge_chunk *chunks = NULL;
    size_t n = 0;
    char **ids = NULL;
    const char **texts = NULL;
    json_object **metas = NULL;
    float *vecs = NULL;
    json_object *where = NULL;
    int rc = -ENOMEM;

    if (nchunks)
        *nchunks = 0;
    if (knowledge_collection_name(tenant_id, coll, sizeof coll) < 0 ||
        !document_id_ok(document_id)) {
        snprintf(err, errlen, "invalid tenant or document id");
        return -EINVAL;
    }
    if (!filename || !*filename || strlen(filename) > 255) {
        snprintf(err, errlen, "a document needs a file name of 1-255 bytes");
        return -EINVAL;
    }
    size_t total = 0;
    for (size_t p = 0; p < npages; p++)
        total += pages[p].len;
    if (total > (size_t)KNOWLEDGE_MAX_DOC_BYTES) {
        snprintf(err, errlen, "document larger than %ld bytes", KNOWLEDGE_MAX_DOC_BYTES);
        return -E2BIG;
    }
    /* Chunks are stored, embedded and quoted back to models: valid text only (utf8.h). */
    clean = calloc(npages ? npages : 1, sizeof *clean);
    if (!clean)
        goto oom;
    for (size_t p = 0; p < npages; p++) {
        clean[p].page = pages[p].page;
        clean[p].text =
            utf8_sanitize(pages[p].text ? pages[p].text : "", pages[p].len, &clean[p].len, NULL);
        if (!clean[p].text)
            goto oom;
    }
    if (knowledge_chunk_pages(clean, npages, &chunks, &n) != 0)
        goto oom;
    if ((rc = chroma_collection_get_or_create(c, coll, id, err, errlen)) < 0)
        goto out;
    where = json_object_new_object();
    json_object_object_add(where, "document_id", json_object_new_string(document_id));
    if ((rc = chroma_delete_where(c, id, where, err, errlen)) < 0)
        goto out;
    if (n == 0) {
        rc = 0;
        goto out;
    }
    ids = calloc(n, sizeof *ids);
    texts = calloc(n, sizeof *texts);
    metas = calloc(n, sizeof *metas);
    if (!ids || !texts || !metas)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        char cid[160];
        if (knowledge_chunk_id(document_id, chunks[i].page, chunks[i].index, cid, sizeof cid) < 0 ||
            !(ids[i] = strdup(cid)))
            goto oom;
        texts[i] = chunks[i].text;
        metas[i] = json_object_new_object();
        json_object_object_add(metas[i], "source", json_object_new_string(filename));
        json_object_object_add(metas[i], "document_id", json_object_new_string(document_id));
        json_object_object_add(metas[i], "filename", json_object_new_string(filename));
        json_object_object_add(metas[i], "page", json_object_new_int(chunks[i].page));
        json_object_object_add(metas[i], "chunk", json_object_new_int((int)chunks[i].index));
    }
    for (size_t off = 0; off < n; off += EMBED_BATCH) {
        size_t b = n - off < EMBED_BATCH ? n - off : EMBED_BATCH;
        int dim = 0;
        free(vecs);
        vecs = NULL;
        if ((rc = knowledge_embed(cfg, texts + off, b, &vecs, &dim, err, errlen)) != 0)
            goto out;
        if ((rc = chroma_upsert(c, id, b, (const char *const *)ids + off, vecs, dim, texts + off,
                                metas + off, err, errlen)) < 0)
            goto out;
    }
    if (nchunks)
        *nchunks = n;
    rc = 0;
    goto out;
oom:
    rc = -ENOMEM;
    snprintf(err, errlen, "out of memory");
out:
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    for (size_t i = 0; metas && i < n; i++)
        json_object_put(metas[i]);
    free(ids);
    free(texts);
    free(metas);
    free(vecs);
    json_object_put(where);
    knowledge_page_chunks_free(chunks, n);
    for (size_t p = 0; clean && p < npages; p++)
        free((char *)clean[p].text);
    free(clean);
    return rc;
}

int knowledge_record_document(struct pgpool *db, const char *tenant_id, const char *source,
                              const char *title, size_t nchunks, const char *text, size_t len,
                              char *err, size_t errlen)
{
    char nch[24], sha[65];
    snprintf(nch, sizeof nch, "%zu", nchunks);
    sha256_hex(text, len, sha);
    const char *p[] = {tenant_id, source, title, nch, sha};
    return pgpool_exec(db, NULL,
                       "INSERT INTO knowledge_documents (tenant_id, doc_id, source, title, "
                       "chunk_count, sha256) VALUES ($1, $2, $2, $3, $4::integer, $5) "
                       "ON CONFLICT (tenant_id, doc_id) DO UPDATE SET title = "
                       "EXCLUDED.title, chunk_count = EXCLUDED.chunk_count, sha256 = "
                       "EXCLUDED.sha256, updated_at = now()",
                       5, p, err, errlen);
}
