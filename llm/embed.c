/* embed.c — embeddings: OpenAI /v1/embeddings (and OpenAI-compatible servers), Gemini
 * embedContent, and the local lexical embedder.
 *
 * The local embedder is LEXICAL, not semantic: texts that share words (or word pairs, or
 * character trigrams, which catch inflections and typos) come out close; synonyms do not.
 * It is deterministic (same text, same vector, on every machine) and needs no network:
 *   - text is lowercased (ASCII) and split into words: runs of letters/digits/UTF-8 bytes;
 *   - features: each word (weight 1.0), each adjacent word pair (0.5), each character
 *     trigram of " word " (0.25, so Vietnamese syllables and short words count too);
 *   - feature -> FNV-1a 64-bit hash -> bucket hash % dim, sign from the top bit (signed
 *     hashing keeps collisions from adding up in one direction);
 *   - the vector is L2-normalized (an empty text gives a unit vector on bucket 0). */
#include "provider.h"

#include "log.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

static void bump(float *vec, int dim, uint64_t h, float w)
{
    /* Finalize (the low bits of FNV are weak for short inputs). */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    int i = (int)(h % (uint64_t)dim);
    vec[i] += (h >> 63) ? -w : w;
}

static int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

void llm_embed_local(const char *text, float *vec, int dim)
{
    if (!vec || dim <= 0)
        return;
    memset(vec, 0, sizeof(float) * (size_t)dim);
    const char *s = text ? text : "";
    size_t n = strlen(s);
    char word[256], prev[256] = "";
    size_t prevlen = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && !is_word_byte((unsigned char)s[i]))
            i++;
        size_t wl = 0;
        while (i < n && is_word_byte((unsigned char)s[i])) {
            char c = s[i++];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (wl < sizeof(word) - 1)
                word[wl++] = c;
        }
        if (wl == 0)
            break;
        word[wl] = '\0';
        bump(vec, dim, fnv1a(fnv1a(FNV_INIT, "w:", 2), word, wl), 1.0f);
        if (prevlen) {
            uint64_t h = fnv1a(FNV_INIT, "b:", 2);
            h = fnv1a(h, prev, prevlen);
            h = fnv1a(h, " ", 1);
            h = fnv1a(h, word, wl);
            bump(vec, dim, h, 0.5f);
        }
        char padded[260];
        padded[0] = ' ';
        memcpy(padded + 1, word, wl);
        padded[wl + 1] = ' ';
        for (size_t k = 0; k + 3 <= wl + 2; k++)
            bump(vec, dim, fnv1a(fnv1a(FNV_INIT, "c:", 2), padded + k, 3), 0.25f);
        memcpy(prev, word, wl + 1);
        prevlen = wl;
    }
    double sum = 0;
    for (int k = 0; k < dim; k++)
        sum += (double)vec[k] * vec[k];
    if (sum <= 0) {
        vec[0] = 1.0f;
        return;
    }
    float inv = (float)(1.0 / sqrt(sum));
    for (int k = 0; k < dim; k++)
        vec[k] *= inv;
}

/* ---- remote embeddings: one blocking POST on the client's loop ---------------------------- */

struct post {
    int done;
    CURLcode res;
    long status;
    long retry_after_ms;
    struct llm_buf body;
};

static size_t post_write(char *p, size_t sz, size_t n, void *ud)
{
    struct post *po = ud;
    if (llm_buf_add(&po->body, p, sz * n, LLM_BODY_LIMIT) != 0)
        return 0;
    return sz * n;
}

static size_t post_header(char *p, size_t sz, size_t n, void *ud)
{
    struct post *po = ud;
    if (sz * n > 12 && strncasecmp(p, "retry-after:", 12) == 0)
        po->retry_after_ms = atol(p + 12) * 1000;
    return sz * n;
}

static void post_done(void *opaque, CURL *easy, CURLcode res)
{
    struct post *po = opaque;
    po->res = res;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &po->status);
    curl_easy_cleanup(easy);
    po->done = 1;
}

static void wake(void *opaque)
{
    *(int *)opaque = 1;
}

/* POSTs body to url with retries (429, 5xx, connection errors), waiting on loop timers so
 * other transfers on the loop keep going. On 0, *out holds the 2xx body. */
static int post_json(struct httploop *loop, const struct llm_config *cfg, const char *url,
                     struct curl_slist *hdrs, const char *body, struct llm_buf *out, long *http,
                     char *msg, size_t msgcap)
{
    long retries = cfg->max_retries == 0 ? 3 : (cfg->max_retries < 0 ? 0 : cfg->max_retries);
    long timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : 60000;
    long connect = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000;
    int rc = LLM_ERR_UNAVAILABLE;
    for (long attempt = 0;; attempt++) {
        struct post po = {.retry_after_ms = -1};
        CURL *e = curl_easy_init();
        if (!e)
            return LLM_ERR_UNAVAILABLE;
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, post_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &po);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, post_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &po);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_PROXY, llm_proxy()); /* "": none, environment ignored */
        if (httploop_add(loop, e, post_done, &po) != 0) {
            curl_easy_cleanup(e);
            return LLM_ERR_UNAVAILABLE;
        }
        while (!po.done)
            httploop_run(loop, 1000);
        *http = po.status;
        int retry = 0;
        if (po.res == CURLE_OPERATION_TIMEDOUT) {
            rc = LLM_ERR_TIMEOUT;
        } else if (po.res != CURLE_OK) {
            rc = LLM_ERR_UNAVAILABLE;
            retry = 1;
            snprintf(msg, msgcap, "%s", curl_easy_strerror(po.res));
        } else if (po.status >= 200 && po.status < 300) {
            *out = po.body;
            return 0;
        } else {
            rc = llm_classify_http(po.status, po.body.p, po.body.len, msg, msgcap);
            retry = rc == LLM_ERR_RATE_LIMITED || rc == LLM_ERR_UNAVAILABLE;
        }
        llm_buf_free(&po.body);
        if (!retry || attempt >= retries)
            return rc;
        long delay = 500L << (attempt < 6 ? attempt : 6);
        if (po.retry_after_ms > delay)
            delay = po.retry_after_ms;
        int fired = 0;
        if (httploop_timer(loop, delay, wake, &fired) <= 0)
            return rc;
        while (!fired)
            httploop_run(loop, 1000);
    }
}

/* post_json of root as compact JSON (root is consumed). On 0, *resp is the parsed 2xx answer:
 * NULL when it is not JSON (the caller's shape checks turn that into a bad response). */
static long long embed_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One accounting record per embedding request (its retries inside post_json included): the
 * tokens the provider reported (OpenAI usage.prompt_tokens; Gemini reports none: 0). */
static void embed_record(const struct llm_config *cfg, const char *model, int *idx, int rc,
                         json_object *resp, long long t0)
{
    json_object *u = llm_json_get(resp, "usage");
    json_object *pt = llm_json_get(u, "prompt_tokens");
    if (!pt)
        pt = llm_json_get(u, "total_tokens");
    struct llm_usage_record r = {
        .tenant_id = cfg->tenant_id,
        .tag = &cfg->usage,
        .purpose = "embedding",
        .attempt = (*idx)++,
        .provider = llm_provider_name(cfg->provider),
        .model = model,
        .input_tokens = 0,
        .output_tokens = 0,
        .latency_ms = (long)(embed_now_ms() - t0),
        .outcome = rc == 0 ? "ok" : llm_status_str(rc),
    };
    llm_token_count(pt, &r.input_tokens);
    llm_usage_emit(&r);
}

static int post_object(struct httploop *loop, const struct llm_config *cfg, const char *url,
                       struct curl_slist *hdrs, json_object *root, json_object **resp, long *http,
                       char *msg, size_t msgcap, const char *model, int *idx)
{
    struct llm_buf out = {0};
    char *body = llm_json_dup(root);
    json_object_put(root);
    *resp = NULL;
    long long t0 = embed_now_ms();
    int sent = body != NULL;
    int rc =
        body ? post_json(loop, cfg, url, hdrs, body, &out, http, msg, msgcap) : LLM_ERR_UNAVAILABLE;
    free(body);
    if (rc == 0)
        *resp = llm_json_parse(out.p, out.len);
    llm_buf_free(&out);
    if (sent)
        embed_record(cfg, model, idx, rc, *resp, t0);
    return rc;
}

#define OPENAI_BATCH 256
#define GEMINI_BATCH 100

/* "provider:model" or "model" (cfg->provider). */
static int embed_target(const struct llm_config *cfg, enum llm_provider *prov, char *model,
                        size_t cap)
{
    const char *s = cfg->embedding_provider_model;
    if (!s || !*s || strcmp(s, "local") == 0 || strncmp(s, "local:", 6) == 0) {
        *prov = LLM_PROVIDER_LOCAL;
        return 0;
    }
    const char *colon = strchr(s, ':');
    if (colon) {
        char p[32];
        size_t pl = (size_t)(colon - s) < sizeof(p) - 1 ? (size_t)(colon - s) : sizeof(p) - 1;
        memcpy(p, s, pl);
        p[pl] = '\0';
        if (llm_provider_parse(p, prov) != 0)
            return -1;
        s = colon + 1;
    } else {
        *prov = cfg->provider;
    }
    snprintf(model, cap, "%s", s);
    if (*prov == LLM_PROVIDER_ANTHROPIC) /* no embeddings API: local */
        *prov = LLM_PROVIDER_LOCAL;
    return 0;
}

static void embed_error(struct llm_error *err, int code, long http, const struct llm_config *cfg,
                        const char *prov, const char *detail)
{
    if (!err)
        return;
    memset(err, 0, sizeof(*err));
    err->code = code;
    err->http_status = (int)http;
    if (code == LLM_ERR_AUTH)
        snprintf(err->message, sizeof(err->message),
                 "embedding authentication failed for tenant %s with provider %s (HTTP %ld)",
                 cfg->tenant_id ? cfg->tenant_id : "(none)", prov, http);
    else
        snprintf(err->message, sizeof(err->message), "embedding %s for tenant %s with %s%s%s",
                 llm_status_str(code), cfg->tenant_id ? cfg->tenant_id : "(none)", prov,
                 detail && *detail ? ": " : "", detail ? detail : "");
    llm_scrub(err->message, sizeof(err->message), cfg->api_key);
    llm_scrub(err->message, sizeof(err->message), cfg->embedding_api_key);
}

/* Appends a JSON array of numbers to row (dim fixed by the first vector). */
static int take_vector(json_object *arr, float **vecs, size_t row, size_t n, int *dim)
{
    if (!arr || !json_object_is_type(arr, json_type_array))
        return -1;
    int d = (int)json_object_array_length(arr);
    if (d <= 0 || d > 65536)
        return -1;
    if (!*vecs) {
        *dim = d;
        *vecs = calloc(n * (size_t)d, sizeof(float));
        if (!*vecs)
            return -1;
    } else if (d != *dim) {
        return -1;
    }
    for (int i = 0; i < d; i++) {
        json_object *v = json_object_array_get_idx(arr, (size_t)i);
        if (!v ||
            !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
            return -1;
        (*vecs)[row * (size_t)d + (size_t)i] = (float)json_object_get_double(v);
    }
    return 0;
}

int llm_embed_sync(struct llm_client *c, const struct llm_config *cfg, const char *const *texts,
                   size_t n, float **vecs, int *dim, struct llm_error *err)
{
    *vecs = NULL;
    *dim = 0;
    if (err)
        memset(err, 0, sizeof(*err));
    if (!cfg || (n && !texts))
        return LLM_ERR_INVALID_REQUEST;
    enum llm_provider prov;
    char model[200] = "";
    if (embed_target(cfg, &prov, model, sizeof(model)) != 0) {
        embed_error(err, LLM_ERR_CONFIG, 0, cfg, "?", "unknown embedding provider");
        return LLM_ERR_CONFIG;
    }
    if (n == 0)
        return 0;
    if (prov == LLM_PROVIDER_LOCAL) {
        *vecs = calloc(n * LLM_LOCAL_EMBED_DIM, sizeof(float));
        if (!*vecs)
            return LLM_ERR_UNAVAILABLE;
        for (size_t i = 0; i < n; i++)
            llm_embed_local(texts[i], *vecs + i * LLM_LOCAL_EMBED_DIM, LLM_LOCAL_EMBED_DIM);
        *dim = LLM_LOCAL_EMBED_DIM;
        return 0;
    }
    if (cfg->embedding_key_refused) {
        embed_error(err, LLM_ERR_CONFIG, 0, cfg, llm_provider_name(prov),
                    "key_endpoint_mismatch: the embedding key was given for another endpoint; "
                    "supply it again");
        return LLM_ERR_CONFIG;
    }
    if (!c) {
        embed_error(err, LLM_ERR_INVALID_REQUEST, 0, cfg, llm_provider_name(prov), "no client");
        return LLM_ERR_INVALID_REQUEST;
    }
    struct httploop *loop = llm_client_loop(c);
    struct llm_config ec = *cfg; /* shallow: only provider, key and base change */
    ec.provider = prov;
    ec.api_key = cfg->embedding_api_key ? cfg->embedding_api_key : cfg->api_key;
    ec.base_url = cfg->embedding_base_url ? cfg->embedding_base_url
                                          : (prov == cfg->provider ? cfg->base_url : NULL);
    const char *pname = llm_provider_name(prov);
    char msg[200] = "";
    long http = 0;
    int rc = LLM_ERR_UNAVAILABLE, nreq = 0;
    struct curl_slist *h = NULL;
    char url[2048];
    size_t bl = ec.base_url ? strlen(ec.base_url) : 0;
    while (bl > 0 && ec.base_url[bl - 1] == '/')
        bl--;

    if (prov == LLM_PROVIDER_GEMINI) {
        /* :embedContent for one text, :batchEmbedContents (at most 100 a request) for more. */
        h = llm_gemini_headers(&ec, NULL);
        const char *base = ec.base_url ? ec.base_url : "https://generativelanguage.googleapis.com";
        if (!ec.base_url)
            bl = strlen(base);
        int versioned = (bl >= 7 && memcmp(base + bl - 7, "/v1beta", 7) == 0);
        const char *m = strncmp(model, "models/", 7) == 0 ? model + 7 : model;
        snprintf(url, sizeof(url), "%.*s%s/models/%s:%s", (int)bl, base, versioned ? "" : "/v1beta",
                 m, n == 1 ? "embedContent" : "batchEmbedContents");
        char mname[240];
        snprintf(mname, sizeof(mname), "models/%s", m);
        for (size_t off = 0; off < n; off += GEMINI_BATCH) {
            size_t cnt = n - off < GEMINI_BATCH ? n - off : GEMINI_BATCH;
            json_object *root = json_object_new_object();
            json_object *reqs = json_object_new_array();
            for (size_t i = off; i < off + cnt; i++) {
                json_object *content = json_object_new_object();
                json_object *parts = json_object_new_array();
                json_object *part = json_object_new_object();
                json_object_object_add(part, "text",
                                       json_object_new_string(texts[i] ? texts[i] : ""));
                json_object_array_add(parts, part);
                json_object_object_add(content, "parts", parts);
                if (n == 1) {
                    json_object_object_add(root, "content", content);
                } else {
                    json_object *r1 = json_object_new_object();
                    json_object_object_add(r1, "model", json_object_new_string(mname));
                    json_object_object_add(r1, "content", content);
                    json_object_array_add(reqs, r1);
                }
            }
            if (n == 1)
                json_object_put(reqs);
            else
                json_object_object_add(root, "requests", reqs);
            json_object *resp = NULL;
            rc = post_object(loop, &ec, url, h, root, &resp, &http, msg, sizeof(msg), model, &nreq);
            if (rc)
                goto out;
            rc = 0;
            if (n == 1) {
                json_object *vals = llm_json_get(llm_json_get(resp, "embedding"), "values");
                rc = take_vector(vals, vecs, 0, n, dim) == 0 ? 0 : LLM_ERR_BAD_RESPONSE;
            } else {
                json_object *embs = llm_json_get(resp, "embeddings");
                if (!embs || !json_object_is_type(embs, json_type_array) ||
                    json_object_array_length(embs) != cnt)
                    rc = LLM_ERR_BAD_RESPONSE;
                for (size_t i = 0; rc == 0 && i < cnt; i++) {
                    json_object *vals = llm_json_get(json_object_array_get_idx(embs, i), "values");
                    if (take_vector(vals, vecs, off + i, n, dim) != 0)
                        rc = LLM_ERR_BAD_RESPONSE;
                }
            }
            json_object_put(resp);
            if (rc) {
                snprintf(msg, sizeof(msg), "malformed embedding answer");
                goto out;
            }
        }
        goto out;
    }

    /* OpenAI family: /embeddings, at most OPENAI_BATCH inputs a request. */
    h = llm_openai_headers(&ec, NULL);
    const char *base = ec.base_url
                           ? ec.base_url
                           : (prov == LLM_PROVIDER_OPENROUTER ? "https://openrouter.ai/api/v1"
                                                              : "https://api.openai.com/v1");
    if (!ec.base_url)
        bl = strlen(base);
    snprintf(url, sizeof(url), "%.*s/embeddings", (int)bl, base);
    for (size_t off = 0; off < n; off += OPENAI_BATCH) {
        size_t cnt = n - off < OPENAI_BATCH ? n - off : OPENAI_BATCH;
        json_object *root = json_object_new_object();
        json_object *input = json_object_new_array();
        for (size_t i = off; i < off + cnt; i++)
            json_object_array_add(input, json_object_new_string(texts[i] ? texts[i] : ""));
        json_object_object_add(root, "model", json_object_new_string(model));
        json_object_object_add(root, "input", input);
        json_object_object_add(root, "encoding_format", json_object_new_string("float"));
        json_object *resp = NULL;
        rc = post_object(loop, &ec, url, h, root, &resp, &http, msg, sizeof(msg), model, &nreq);
        if (rc)
            goto out;
        json_object *data = llm_json_get(resp, "data");
        rc = LLM_ERR_BAD_RESPONSE;
        if (data && json_object_is_type(data, json_type_array) &&
            json_object_array_length(data) == cnt) {
            rc = 0;
            for (size_t i = 0; i < cnt && rc == 0; i++) {
                json_object *d = json_object_array_get_idx(data, i);
                json_object *ix = llm_json_get(d, "index");
                size_t row = ix ? (size_t)json_object_get_int(ix) : i;
                if (row >= cnt ||
                    take_vector(llm_json_get(d, "embedding"), vecs, off + row, n, dim) != 0)
                    rc = LLM_ERR_BAD_RESPONSE;
            }
        }
        json_object_put(resp);
        if (rc) {
            snprintf(msg, sizeof(msg), "malformed embeddings answer");
            goto out;
        }
    }
out:
    curl_slist_free_all(h);
    if (rc) {
        free(*vecs);
        *vecs = NULL;
        *dim = 0;
        embed_error(err, rc, http, cfg, pname, msg);
        struct log_ctx ctx = {.tenant_id = cfg->tenant_id};
        log_kv(LOG_WARN, &ctx, "embedding failed", "provider", pname, "status", llm_status_str(rc),
               (char *)NULL);
    }
    return rc;
}
