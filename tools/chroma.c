/* chroma.c — see chroma.h. */
#include "chroma.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool_internal.h"

#define CHROMA_PREFIX "/api/v2/tenants/default_tenant/databases/default_database"
#define CHROMA_MAX_RESPONSE (32L * 1024 * 1024)

struct chroma {
    char *base;
    CURL *easy; /* reused: keeps the connection alive between calls */
};

int chroma_open(struct chroma **out, const char *base_url, char *err, size_t errlen)
{
    *out = NULL;
    if (!base_url || !*base_url) {
        snprintf(err, errlen, "chroma: no URL configured (CHROMA_URL)");
        return -EINVAL;
    }
    struct chroma *c = calloc(1, sizeof *c);
    if (!c || !(c->base = strdup(base_url))) {
        free(c);
        snprintf(err, errlen, "chroma: out of memory");
        return -ENOMEM;
    }
    size_t n = strlen(c->base);
    while (n > 0 && c->base[n - 1] == '/')
        c->base[--n] = 0;
    *out = c;
    return 0;
}

void chroma_close(struct chroma *c)
{
    if (!c)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    free(c->base);
    free(c);
}

/* One request. path starts with "/". body may be NULL. On a 2xx answer *resp is the parsed
 * JSON (may be NULL for JSON null) and the status is returned (>= 200); otherwise negative
 * with err set; -ENOENT for 404. */
static int req(struct chroma *c, const char *method, const char *path, json_object *body,
               json_object **resp, char *err, size_t errlen)
{
    struct tool_rbuf b = {.max = CHROMA_MAX_RESPONSE};
    struct curl_slist *hdrs = NULL;
    char url[2048];
    int rc = -EIO;
    if (resp)
        *resp = NULL;
    if (snprintf(url, sizeof url, "%s%s", c->base, path) >= (int)sizeof url) {
        snprintf(err, errlen, "chroma: URL too long");
        return -EINVAL;
    }
    if (!c->easy && !(c->easy = curl_easy_init())) {
        snprintf(err, errlen, "chroma: out of memory");
        return -ENOMEM;
    }
    CURL *e = c->easy;
    curl_easy_reset(e);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never through an http_proxy from the env */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, CHROMA_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, tool_rbuf_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    const char *text = NULL;
    if (body) {
        text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    }
    CURLcode res = curl_easy_perform(e);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    if (res != CURLE_OK) {
        if (res == CURLE_COULDNT_CONNECT)
            snprintf(err, errlen, "chroma: service unavailable");
        else
            snprintf(err, errlen, "chroma: %s", curl_easy_strerror(res));
        rc = -EIO;
        goto out;
    }
    if (code == 404) {
        snprintf(err, errlen, "chroma: not found");
        rc = -ENOENT;
        goto out;
    }
    if (code < 200 || code > 299) {
        /* Chroma answers {"error": "...", "message": "..."}; the message names no secret */
        json_object *ej = b.p ? json_tokener_parse(b.p) : NULL, *m = NULL;
        const char *msg = NULL;
        if (ej && (json_object_object_get_ex(ej, "message", &m) ||
                   json_object_object_get_ex(ej, "error", &m)))
            msg = json_object_get_string(m);
        snprintf(err, errlen, "chroma: HTTP %ld%s%.200s", code, msg ? ": " : "", msg ? msg : "");
        json_object_put(ej);
        rc = code == 409 ? -EEXIST : -EIO;
        goto out;
    }
    if (resp && b.p) {
        enum json_tokener_error je = json_tokener_success;
        *resp = json_tokener_parse_verbose(b.p, &je);
        if (je != json_tokener_success) {
            snprintf(err, errlen, "chroma: response is not JSON");
            rc = -EPROTO;
            goto out;
        }
    }
    rc = (int)code;
out:
    curl_slist_free_all(hdrs);
    free(b.p);
    return rc;
}

int chroma_heartbeat(struct chroma *c, char *err, size_t errlen)
{
    int rc = req(c, "GET", "/api/v2/heartbeat", NULL, NULL, err, errlen);
    return rc < 0 ? rc : 0;
}

static int copy_id(json_object *coll, char *id, char *err, size_t errlen)
{
    json_object *v;
    if (!coll || !json_object_object_get_ex(coll, "id", &v) ||
        !json_object_is_type(v, json_type_string) ||
        strlen(json_object_get_string(v)) >= CHROMA_ID_MAX) {
        snprintf(err, errlen, "chroma: collection answer without an id");
        return -EPROTO;
    }
    snprintf(id, CHROMA_ID_MAX, "%s", json_object_get_string(v));
    return 0;
}

static int name_ok(const char *name, char *err, size_t errlen)
{
    size_t n = strlen(name);
    if (n < 3 || n > 512) {
        snprintf(err, errlen, "chroma: collection name must be 3-512 characters");
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.')) {
            snprintf(err, errlen, "chroma: invalid character in collection name");
            return -EINVAL;
        }
    }
    return 0;
}

int chroma_collection_get(struct chroma *c, const char *name, char *id, char *err, size_t errlen)
{
    char path[700];
    json_object *resp = NULL;
    int rc = name_ok(name, err, errlen);
    if (rc)
        return rc;
    snprintf(path, sizeof path, CHROMA_PREFIX "/collections/%s", name);
    rc = req(c, "GET", path, NULL, &resp, err, errlen);
    if (rc >= 0)
        rc = copy_id(resp, id, err, errlen);
    json_object_put(resp);
    return rc;
}

int chroma_collection_get_or_create(struct chroma *c, const char *name, char *id, char *err,
                                    size_t errlen)
{
    json_object *resp = NULL;
    int rc = name_ok(name, err, errlen);
    if (rc)
        return rc;
    json_object *body = json_object_new_object();
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "hnsw:space", json_object_new_string("cosine"));
    json_object_object_add(body, "name", json_object_new_string(name));
    json_object_object_add(body, "metadata", meta);
    json_object_object_add(body, "get_or_create", json_object_new_boolean(1));
    rc = req(c, "POST", CHROMA_PREFIX "/collections", body, &resp, err, errlen);
    if (rc >= 0)
        rc = copy_id(resp, id, err, errlen);
    json_object_put(resp);
    json_object_put(body);
    return rc;
}

int chroma_collection_delete(struct chroma *c, const char *name, char *err, size_t errlen)
{
    char path[700];
    int rc = name_ok(name, err, errlen);
    if (rc)
        return rc;
    snprintf(path, sizeof path, CHROMA_PREFIX "/collections/%s", name);
    rc = req(c, "DELETE", path, NULL, NULL, err, errlen);
    return rc < 0 ? rc : 0;
}

long chroma_count(struct chroma *c, const char *coll_id, char *err, size_t errlen)
{
    char path[256];
    json_object *resp = NULL;
    snprintf(path, sizeof path, CHROMA_PREFIX "/collections/%s/count", coll_id);
    int rc = req(c, "GET", path, NULL, &resp, err, errlen);
    long n = rc < 0 ? rc : (long)json_object_get_int64(resp);
    json_object_put(resp);
    return n;
}

int chroma_upsert(struct chroma *c, const char *coll_id, size_t n, const char *const *ids,
                  const float *vecs, int dim, const char *const *docs, json_object *const *metas,
                  char *err, size_t errlen)
{
    char path[256];
    json_object *body = json_object_new_object();
    json_object *jids = json_object_new_array(), *jemb = json_object_new_array();
    json_object *jdocs = json_object_new_array(), *jmeta = json_object_new_array();
    if (!body || !jids || !jemb || !jdocs || !jmeta) {
        json_object_put(body);
        json_object_put(jids);
        json_object_put(jemb);
        json_object_put(jdocs);
        json_object_put(jmeta);
        snprintf(err, errlen, "chroma: out of memory");
        return -ENOMEM;
    }
    json_object_object_add(body, "ids", jids);
    json_object_object_add(body, "embeddings", jemb);
    json_object_object_add(body, "documents", jdocs);
    json_object_object_add(body, "metadatas", jmeta);
    for (size_t i = 0; i < n; i++) {
        json_object_array_add(jids, json_object_new_string(ids[i]));
        json_object *v = json_object_new_array_ext(dim);
        for (int d = 0; d < dim; d++)
            json_object_array_add(v, json_object_new_double((double)vecs[i * (size_t)dim + d]));
        json_object_array_add(jemb, v);
        json_object_array_add(jdocs, json_object_new_string(docs[i]));
        json_object_array_add(jmeta, metas && metas[i] ? json_object_get(metas[i])
                                                       : json_object_new_object());
    }
    snprintf(path, sizeof path, CHROMA_PREFIX "/collections/%s/upsert", coll_id);
    int rc = req(c, "POST", path, body, NULL, err, errlen);
    json_object_put(body);
    return rc < 0 ? rc : 0;
}

int chroma_delete_where(struct chroma *c, const char *coll_id, json_object *where, char *err,
                        size_t errlen)
{
    char path[256];
    json_object *body = json_object_new_object();
    json_object_object_add(body, "where", json_object_get(where));
    snprintf(path, sizeof path, CHROMA_PREFIX "/collections/%s/delete", coll_id);
    int rc = req(c, "POST", path, body, NULL, err, errlen);
    json_object_put(body);
    return rc < 0 ? rc : 0;
}

void chroma_hits_free(struct chroma_hit *hits, size_t n)
{
    if (!hits)
        return;
    for (size_t i = 0; i < n; i++) {
        free(hits[i].id);
        free(hits[i].document);
        json_object_put(hits[i].metadata);
    }
    free(hits);
}

/* resp[key][0] as an array, or NULL. */
static json_object *first_row(json_object *resp, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(resp, key, &v) || !json_object_is_type(v, json_type_array) ||
        json_object_array_length(v) < 1)
        return NULL;
    v = json_object_array_get_idx(v, 0);
    return json_object_is_type(v, json_type_array) ? v : NULL;
}

int chroma_query(struct chroma *c, const char *coll_id, const float *vec, int dim, int n_results,
                 struct chroma_hit **hits, size_t *nhits, char *err, size_t errlen)
{
    char path[256];
    json_object *resp = NULL;
    *hits = NULL;
    *nhits = 0;
    json_object *body = json_object_new_object();
    json_object *qe = json_object_new_array(), *v = json_object_new_array_ext(dim);
    for (int d = 0; d < dim; d++)
        json_object_array_add(v, json_object_new_double((double)vec[d]));
    json_object_array_add(qe, v);
    json_object_object_add(body, "query_embeddings", qe);
    json_object_object_add(body, "n_results", json_object_new_int(n_results));
    json_object *inc = json_object_new_array();
    json_object_array_add(inc, json_object_new_string("documents"));
    json_object_array_add(inc, json_object_new_string("metadatas"));
    json_object_array_add(inc, json_object_new_string("distances"));
    json_object_object_add(body, "include", inc);
    snprintf(path, sizeof path, CHROMA_PREFIX "/collections/%s/query", coll_id);
    int rc = req(c, "POST", path, body, &resp, err, errlen);
    json_object_put(body);
    if (rc < 0)
        return rc;
    json_object *ids = first_row(resp, "ids"), *docs = first_row(resp, "documents");
    json_object *metas = first_row(resp, "metadatas"), *dists = first_row(resp, "distances");
    size_t n = ids ? json_object_array_length(ids) : 0;
    if (n == 0) {
        json_object_put(resp);
        return 0;
    }
    struct chroma_hit *h = calloc(n, sizeof *h);
    if (!h) {
        json_object_put(resp);
        snprintf(err, errlen, "chroma: out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(ids, i));
        h[i].id = strdup(s ? s : "");
        s = docs ? json_object_get_string(json_object_array_get_idx(docs, i)) : NULL;
        h[i].document = strdup(s ? s : "");
        json_object *m = metas ? json_object_array_get_idx(metas, i) : NULL;
        h[i].metadata = json_object_is_type(m, json_type_object) ? json_object_get(m) : NULL;
        h[i].distance = dists ? json_object_get_double(json_object_array_get_idx(dists, i)) : 2.0;
    }
    *hits = h;
    *nhits = n;
    json_object_put(resp);
    return 0;
}
