/* config.c — a tenant's LLM configuration: tenant_llm_configs + llm_models, cached in Redis
 * under agenthub:{tenant}:llm for RC_TTL_LLM seconds as JSON holding the ENCRYPTED key only;
 * the key is Fernet-decrypted at each load and lives in memory only. */
#include "provider.h"

#include "fernet.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const provider_names[] = {
    [LLM_PROVIDER_OPENAI] = "openai",
    [LLM_PROVIDER_OPENROUTER] = "openrouter",
    [LLM_PROVIDER_OPENAI_COMPAT] = "openai_compatible",
    [LLM_PROVIDER_ANTHROPIC] = "anthropic",
    [LLM_PROVIDER_GEMINI] = "gemini",
    [LLM_PROVIDER_LOCAL] = "local",
};

int llm_provider_parse(const char *s, enum llm_provider *out)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof(provider_names) / sizeof(provider_names[0]); i++) {
        if (strcmp(s, provider_names[i]) == 0) {
            *out = (enum llm_provider)i;
            return 0;
        }
    }
    if (strcmp(s, "openai-compatible") == 0 || strcmp(s, "openai_compat") == 0) {
        *out = LLM_PROVIDER_OPENAI_COMPAT;
        return 0;
    }
    if (strcmp(s, "google") == 0) {
        *out = LLM_PROVIDER_GEMINI;
        return 0;
    }
    return -1;
}

const char *llm_provider_name(enum llm_provider p)
{
    if ((unsigned)p < sizeof(provider_names) / sizeof(provider_names[0]))
        return provider_names[p];
    return "unknown";
}

const char *llm_status_str(int status)
{
    switch (status) {
    case LLM_OK:
        return "ok";
    case LLM_ERR_AUTH:
        return "authentication failed";
    case LLM_ERR_RATE_LIMITED:
        return "rate limited";
    case LLM_ERR_TIMEOUT:
        return "timed out";
    case LLM_ERR_BAD_RESPONSE:
        return "bad response";
    case LLM_ERR_UNAVAILABLE:
        return "provider unavailable";
    case LLM_ERR_CONTEXT_TOO_LONG:
        return "context too long";
    case LLM_ERR_INVALID_REQUEST:
        return "invalid request";
    case LLM_ERR_CONFIG:
        return "configuration error";
    case LLM_ERR_CANCELLED:
        return "cancelled";
    }
    return "unknown error";
}

int llm_config_invalidate(struct rcache *r, const char *tenant_id)
{
    if (!r || !tenant_id)
        return RC_ERR_REPLY;
    char key[160];
    snprintf(key, sizeof(key), "agenthub:%s:llm", tenant_id);
    return rcache_del(r, key);
}

/* The base a provider's calls go to when the model has no base_url (openai.c, anthropic.c,
 * gemini.c and embed.c use the same ones). */
static const char *provider_default_base(enum llm_provider p)
{
    switch (p) {
    case LLM_PROVIDER_OPENROUTER:
        return "https://openrouter.ai/api/v1";
    case LLM_PROVIDER_ANTHROPIC:
        return "https://api.anthropic.com";
    case LLM_PROVIDER_GEMINI:
        return "https://generativelanguage.googleapis.com";
    default:
        return "https://api.openai.com/v1";
    }
}

int llm_endpoint_origin(const char *provider, const char *base_url, char *out, size_t cap)
{
    enum llm_provider p;
    char scheme[16], host[300];
    size_t i, n;
    if (!provider || llm_provider_parse(provider, &p) != 0 || cap == 0)
        return -1;
    const char *u = base_url && *base_url ? base_url : provider_default_base(p);
    const char *sep = strstr(u, "://");
    if (!sep || sep == u || (size_t)(sep - u) >= sizeof(scheme))
        return -1;
    for (i = 0; u + i < sep; i++)
        scheme[i] = (char)(u[i] >= 'A' && u[i] <= 'Z' ? u[i] + 32 : u[i]);
    scheme[i] = 0;
    const char *a = sep + 3;
    n = strcspn(a, "/?#");
    /* userinfo is not part of the host curl connects to */
    for (size_t k = n; k > 0; k--) {
        if (a[k - 1] == '@') {
            a += k;
            n -= k;
            break;
        }
    }
    if (n == 0 || n >= sizeof(host))
        return -1;
    for (i = 0; i < n; i++)
        host[i] = (char)(a[i] >= 'A' && a[i] <= 'Z' ? a[i] + 32 : a[i]);
    host[n] = 0;
    /* an explicit port, unless the colon is inside an IPv6 literal */
    const char *rb = strrchr(host, ']');
    const char *colon = strrchr(host, ':');
    int has_port = colon && (!rb || colon > rb) && (host[0] == '[' || strchr(host, ':') == colon);
    const char *dport = strcmp(scheme, "https") == 0  ? "443"
                        : strcmp(scheme, "http") == 0 ? "80"
                                                      : "";
    int w = has_port
                ? snprintf(out, cap, "%s %s://%s", llm_provider_name(p), scheme, host)
                : snprintf(out, cap, "%s %s://%s:%s", llm_provider_name(p), scheme, host, dport);
    return w > 0 && (size_t)w < cap ? 0 : -1;
}

int llm_endpoint_same(const char *binding, const char *provider, const char *base_url)
{
    char bprov[64], a[400], b[400];
    if (!binding)
        return 0;
    const char *bar = strchr(binding, '|');
    if (!bar || (size_t)(bar - binding) >= sizeof(bprov))
        return 0;
    memcpy(bprov, binding, (size_t)(bar - binding));
    bprov[bar - binding] = 0;
    if (llm_endpoint_origin(bprov, bar + 1, a, sizeof(a)) != 0 ||
        llm_endpoint_origin(provider, base_url, b, sizeof(b)) != 0)
        return 0;
    return strcmp(a, b) == 0;
}

/* The cached form: what the database row says, key still encrypted. */
struct row {
    char *provider, *model, *base_url, *fallback, *enc_key, *emb_provider, *emb_model,
        *emb_base_url, *enc_emb_key, *key_ep, *emb_key_ep;
    long rpm;
    double temperature; /* < 0: unset */
    long max_tokens;
};

static void row_free(struct row *w)
{
    free(w->provider);
    free(w->model);
    free(w->base_url);
    free(w->fallback);
    free(w->enc_key);
    free(w->emb_provider);
    free(w->emb_model);
    free(w->emb_base_url);
    free(w->enc_emb_key);
    free(w->key_ep);
    free(w->emb_key_ep);
    memset(w, 0, sizeof(*w));
}

static char *jdup(json_object *o, const char *k)
{
    const char *s = json_field_str(o, k);
    return s ? strdup(s) : NULL;
}

static int row_from_json(struct row *w, const char *s, size_t len)
{
    json_object *o = llm_json_parse(s, len);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return -1;
    }
    w->provider = jdup(o, "provider");
    w->model = jdup(o, "model");
    w->base_url = jdup(o, "base_url");
    w->fallback = jdup(o, "fallback_model");
    w->enc_key = jdup(o, "encrypted_api_key");
    w->emb_provider = jdup(o, "embedding_provider");
    w->emb_model = jdup(o, "embedding_model");
    w->emb_base_url = jdup(o, "embedding_base_url");
    w->enc_emb_key = jdup(o, "encrypted_embedding_api_key");
    w->key_ep = jdup(o, "api_key_endpoint");
    w->emb_key_ep = jdup(o, "embedding_api_key_endpoint");
    json_object *v;
    /* An entry written before keys were bound has no "bound" member: a miss, reread. */
    if (!llm_json_get(o, "bound")) {
        json_object_put(o);
        return -1;
    }
    w->rpm = (v = llm_json_get(o, "rate_limit_rpm")) ? json_object_get_int64(v) : 0;
    w->temperature = (v = llm_json_get(o, "temperature")) && !json_object_is_type(v, json_type_null)
                         ? json_object_get_double(v)
                         : -1;
    w->max_tokens = (v = llm_json_get(o, "max_tokens")) ? json_object_get_int64(v) : 0;
    json_object_put(o);
    return w->provider && w->model ? 0 : -1;
}

static char *row_to_json(const struct row *w)
{
    json_object *o = json_object_new_object();
#define PUT(k, v)                                                                                  \
    if (v)                                                                                         \
    json_object_object_add(o, k, json_object_new_string(v))
    PUT("provider", w->provider);
    PUT("model", w->model);
    PUT("base_url", w->base_url);
    PUT("fallback_model", w->fallback);
    PUT("encrypted_api_key", w->enc_key);
    PUT("embedding_provider", w->emb_provider);
    PUT("embedding_model", w->emb_model);
    PUT("embedding_base_url", w->emb_base_url);
    PUT("encrypted_embedding_api_key", w->enc_emb_key);
    PUT("api_key_endpoint", w->key_ep);
    PUT("embedding_api_key_endpoint", w->emb_key_ep);
#undef PUT
    json_object_object_add(o, "bound", json_object_new_boolean(1));
    json_object_object_add(o, "rate_limit_rpm", json_object_new_int64(w->rpm));
    if (w->temperature >= 0)
        json_object_object_add(o, "temperature", json_object_new_double(w->temperature));
    json_object_object_add(o, "max_tokens", json_object_new_int64(w->max_tokens));
    char *s = llm_json_dup(o);
    json_object_put(o);
    return s;
}

static char *col(PGresult *res, int c)
{
    return PQgetisnull(res, 0, c) ? NULL : strdup(PQgetvalue(res, 0, c));
}

static const char *SQL =
    "SELECT m.provider, m.model_name, m.base_url, fm.model_name, c.encrypted_api_key, "
    "c.rate_limit_rpm, c.temperature, COALESCE(c.max_tokens, m.max_output_tokens), "
    "c.embedding_provider, c.embedding_model, c.embedding_base_url, "
    "c.encrypted_embedding_api_key, c.api_key_endpoint, c.embedding_api_key_endpoint "
    "FROM tenant_llm_configs c "
    "JOIN tenants t ON t.tenant_id = c.tenant_id "
    "JOIN llm_models m ON m.model_id = c.model_id "
    "LEFT JOIN llm_models fm ON fm.model_id = c.fallback_model_id AND fm.is_active "
    "WHERE c.tenant_id = $1 AND c.is_active AND t.is_active";

/* 0 found, 1 no row, negative: the database failed (err set). */
static int row_from_db(struct pgpool *db, const char *tenant, struct row *w, char *err,
                       size_t errlen)
{
    PGresult *res = NULL;
    const char *params[] = {tenant};
    int st = pgpool_exec(db, &res, SQL, 1, params, err, errlen);
    if (st != PG_OK)
        return -1;
    int rc = 1;
    if (PQntuples(res) == 1) {
        w->provider = col(res, 0);
        w->model = col(res, 1);
        w->base_url = col(res, 2);
        w->fallback = col(res, 3);
        w->enc_key = col(res, 4);
        w->rpm = PQgetisnull(res, 0, 5) ? 0 : atol(PQgetvalue(res, 0, 5));
        w->temperature = PQgetisnull(res, 0, 6) ? -1 : atof(PQgetvalue(res, 0, 6));
        w->max_tokens = PQgetisnull(res, 0, 7) ? 0 : atol(PQgetvalue(res, 0, 7));
        w->emb_provider = col(res, 8);
        w->emb_model = col(res, 9);
        w->emb_base_url = col(res, 10);
        w->enc_emb_key = col(res, 11);
        w->key_ep = col(res, 12);
        w->emb_key_ep = col(res, 13);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

static void cfg_error(struct llm_error *err, int code, const char *fmt, const char *tenant)
{
    if (!err)
        return;
    memset(err, 0, sizeof(*err));
    err->code = code;
    snprintf(err->message, sizeof(err->message), fmt, tenant);
}

static int decrypt(const char *fernet_key, const char *token, char **out)
{
    *out = NULL;
    if (!token || !*token)
        return 0;
    if (!fernet_key || !*fernet_key)
        return -1;
    unsigned char *plain = NULL;
    size_t len = 0;
    if (fernet_decrypt(fernet_key, token, 0, &plain, &len) != FERNET_OK)
        return -1;
    *out = (char *)plain;
    return 0;
}

int llm_config_load(struct pgpool *db, struct rcache *r, const char *fernet_key,
                    const char *tenant_id, struct llm_config *out, struct llm_error *err)
{
    struct row w = {0};
    int rc = LLM_ERR_CONFIG;
    char key[160];
    char dberr[256] = "";
    memset(out, 0, sizeof(*out));
    if (err)
        memset(err, 0, sizeof(*err));
    if (!tenant_id || !*tenant_id || strlen(tenant_id) > 64) {
        cfg_error(err, LLM_ERR_CONFIG, "invalid tenant id%s", "");
        return LLM_ERR_CONFIG;
    }
    snprintf(key, sizeof(key), "agenthub:%s:llm", tenant_id);

    char *cached = NULL;
    size_t clen = 0;
    int cst = r ? rcache_get(r, key, &cached, &clen) : RC_MISS;
    if (cst == RC_OK && row_from_json(&w, cached, clen) == 0) {
        /* from the cache */
    } else {
        row_free(&w);
        if (!db) {
            cfg_error(err, LLM_ERR_CONFIG, "no LLM configuration for tenant %s", tenant_id);
            goto out;
        }
        int d = row_from_db(db, tenant_id, &w, dberr, sizeof(dberr));
        if (d < 0) {
            cfg_error(err, LLM_ERR_UNAVAILABLE,
                      "cannot load the LLM configuration for tenant %s: database unavailable",
                      tenant_id);
            rc = LLM_ERR_UNAVAILABLE;
            goto out;
        }
        if (d > 0) {
            cfg_error(err, LLM_ERR_CONFIG, "no active LLM configuration for tenant %s", tenant_id);
            goto out;
        }
        char *js = r ? row_to_json(&w) : NULL;
        if (js) {
            rcache_setex(r, key, js, strlen(js), RC_TTL_LLM); /* best effort */
            free(js);
        }
    }

    if (llm_provider_parse(w.provider, &out->provider) != 0 ||
        out->provider == LLM_PROVIDER_LOCAL) {
        cfg_error(err, LLM_ERR_CONFIG, "unknown LLM provider configured for tenant %s", tenant_id);
        goto out;
    }
    /* The key goes only where it was given for (see llm.h, key binding). */
    if (w.enc_key && *w.enc_key && !llm_endpoint_same(w.key_ep, w.provider, w.base_url)) {
        cfg_error(err, LLM_ERR_CONFIG,
                  "key_endpoint_mismatch: the LLM API key of tenant %s was given for another "
                  "endpoint than the model's current one; it is not used until it is supplied "
                  "again",
                  tenant_id);
        struct log_ctx lc = {.tenant_id = tenant_id};
        log_kv(LOG_WARN, &lc, "llm api key refused: bound to another endpoint", "provider",
               w.provider, (char *)NULL);
        goto out;
    }
    if (w.emb_provider && strcmp(w.emb_provider, "local") != 0) {
        enum llm_provider ep;
        const char *eprov = w.emb_provider;
        if (llm_provider_parse(eprov, &ep) == 0) {
            const char *ebase = w.emb_base_url && *w.emb_base_url ? w.emb_base_url
                                : ep == out->provider             ? w.base_url
                                                                  : NULL;
            int has_emb_key = w.enc_emb_key && *w.enc_emb_key;
            const char *bind = has_emb_key ? w.emb_key_ep : w.key_ep;
            if ((has_emb_key || (w.enc_key && *w.enc_key)) &&
                !llm_endpoint_same(bind, eprov, ebase)) {
                out->embedding_key_refused = 1;
                struct log_ctx lc = {.tenant_id = tenant_id};
                log_kv(LOG_WARN, &lc, "embedding api key refused: bound to another endpoint",
                       "provider", eprov, (char *)NULL);
            }
        }
    }
    if (decrypt(fernet_key, w.enc_key, &out->api_key) != 0) {
        cfg_error(err, LLM_ERR_CONFIG,
                  "the LLM API key of tenant %s does not decrypt (FERNET_KEY differs?)", tenant_id);
        goto out;
    }
    if (w.enc_emb_key && decrypt(fernet_key, w.enc_emb_key, &out->embedding_api_key) != 0) {
        cfg_error(err, LLM_ERR_CONFIG,
                  "the embedding API key of tenant %s does not decrypt (FERNET_KEY differs?)",
                  tenant_id);
        goto out;
    }
    out->tenant_id = strdup(tenant_id);
    out->model = w.model;
    w.model = NULL;
    out->base_url = w.base_url;
    w.base_url = NULL;
    out->fallback_model = w.fallback;
    w.fallback = NULL;
    out->embedding_base_url = w.emb_base_url;
    w.emb_base_url = NULL;
    if (w.emb_provider && strcmp(w.emb_provider, "local") != 0) {
        size_t n = strlen(w.emb_provider) + (w.emb_model ? strlen(w.emb_model) : 0) + 2;
        out->embedding_provider_model = malloc(n);
        if (out->embedding_provider_model)
            snprintf(out->embedding_provider_model, n, "%s:%s", w.emb_provider,
                     w.emb_model ? w.emb_model : "");
    }
    out->rate_limit_rpm = w.rpm;
    out->temperature = w.temperature;
    out->max_tokens = (int)w.max_tokens;
    out->connect_timeout_ms = 10000;
    out->timeout_ms = 120000;
    out->max_retries = 3;
    if (!out->tenant_id || !out->model) {
        cfg_error(err, LLM_ERR_CONFIG, "out of memory loading the config of tenant %s", tenant_id);
        goto out;
    }
    rc = 0;
out:
    free(cached);
    row_free(&w);
    if (rc)
        llm_config_cleanup(out);
    return rc;
}
