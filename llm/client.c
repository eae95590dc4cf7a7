/* client.c — chat calls on an httploop: attempts, retries with backoff, timeouts, the
 * per-tenant rate limit, the fallback model, error typing. See llm.h for the behaviour.
 *
 * A call is a small state machine driven by loop callbacks:
 *   start -> timer(0) -> attempt: [rate limit: wait on a timer] -> transfer -> done:
 *     success                      -> on_done(resp)
 *     retryable, budget left       -> timer(backoff) -> attempt
 *     unavailable, fallback model  -> timer(0) -> attempt with the fallback
 *     otherwise                    -> on_done(err)
 * Callbacks never run inside llm_chat_start(). */
#include "provider.h"

#include "log.h"
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_TIMEOUT_MS 120000
#define DEFAULT_MAX_RETRIES 3
#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS 20000

struct llm_call;

struct llm_client {
    struct httploop *loop;
    struct rcache *r;
    struct llm_call *calls;
    long window_ms;
    unsigned int seed;
};

struct llm_call {
    struct llm_client *c;
    struct llm_call *prev, *next;
    struct llm_config cfg; /* deep copy */
    const struct llm_provider_ops *ops;
    char *body[2]; /* primary, fallback */
    const char *modelname[2];
    int use_fallback;
    int stream;
    int attempt;
    long long deadline_ms;
    long long started_ms;
    CURL *easy;
    struct curl_slist *hdrs;
    long timer_id;
    int cancelling;
    int is_sse;
    struct llm_acc acc;
    struct llm_sse sse;
    struct llm_buf raw;
    size_t received;
    long http_status;
    long retry_after_ms;
    int write_rc;  /* an llm_status that made the write callback stop the transfer */
    int att_open;  /* a transfer was started and its usage not yet recorded */
    int att_count; /* attempts recorded so far */
    long long att_t0;
    llm_done_cb on_done;
    void *opaque;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *g_proxy;
static llm_usage_hook g_usage_hook;
static void *g_usage_opaque;

void llm_set_usage_hook(llm_usage_hook fn, void *opaque)
{
    g_usage_hook = fn;
    g_usage_opaque = opaque;
}

void llm_usage_emit(const struct llm_usage_record *u)
{
    if (g_usage_hook)
        g_usage_hook(g_usage_opaque, u);
}

int llm_set_proxy(const char *proxy)
{
    char *p = NULL;
    if (proxy && *proxy && !(p = strdup(proxy)))
        return -1;
    free(g_proxy);
    g_proxy = p;
    return 0;
}

const char *llm_proxy(void)
{
    return g_proxy ? g_proxy : "";
}

/* LLM_REUSE_CONNECTIONS=false: every call on a new connection, closed after it. libcurl 7.x
 * walks its whole connection cache each time a transfer that left a connection in it is
 * removed (curl_multi_remove_handle), so with thousands of calls in flight each call costs
 * O(connections); without reuse that walk is skipped, at the price of a new TCP (and TLS)
 * handshake per call. Default true. */
static long llm_forbid_reuse(void)
{
    const char *e = getenv("LLM_REUSE_CONNECTIONS"); /* a boolean, as config.h reads them */
    return e && (strcasecmp(e, "false") == 0 || strcmp(e, "0") == 0 || strcasecmp(e, "no") == 0 ||
                 strcasecmp(e, "off") == 0);
}

const struct llm_provider_ops *llm_provider_ops(enum llm_provider p)
{
    switch (p) {
    case LLM_PROVIDER_OPENAI:
    case LLM_PROVIDER_OPENROUTER:
    case LLM_PROVIDER_OPENAI_COMPAT:
        return &llm_openai_ops;
    case LLM_PROVIDER_ANTHROPIC:
        return &llm_anthropic_ops;
    case LLM_PROVIDER_GEMINI:
        return &llm_gemini_ops;
    case LLM_PROVIDER_LOCAL:
        break;
    }
    return NULL;
}

int llm_client_new(struct llm_client **out, struct httploop *loop, struct rcache *r, char *err,
                   size_t errlen)
{
    *out = NULL;
    if (!loop) {
        snprintf(err, errlen, "llm_client_new: no loop");
        return -EINVAL;
    }
    struct llm_client *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->loop = loop;
    c->r = r;
    c->window_ms = 60000;
    const char *w = getenv("LLM_RATE_WINDOW_S");
    if (w && atol(w) > 0)
        c->window_ms = atol(w) * 1000;
    c->seed = (unsigned int)(now_ms() ^ (getpid() << 16));
    *out = c;
    return 0;
}

struct httploop *llm_client_loop(struct llm_client *c)
{
    return c->loop;
}

/* ---- config copies ---------------------------------------------------------------------- */

static int dupstr(char **dst, const char *s)
{
    *dst = NULL;
    if (!s)
        return 0;
    *dst = strdup(s);
    return *dst ? 0 : -1;
}

int llm_config_copy(struct llm_config *dst, const struct llm_config *src)
{
    *dst = *src;
    dst->tenant_id = dst->base_url = dst->model = dst->fallback_model = dst->api_key = NULL;
    dst->embedding_provider_model = dst->embedding_base_url = dst->embedding_api_key = NULL;
    if (dupstr(&dst->tenant_id, src->tenant_id) || dupstr(&dst->base_url, src->base_url) ||
        dupstr(&dst->model, src->model) || dupstr(&dst->fallback_model, src->fallback_model) ||
        dupstr(&dst->api_key, src->api_key) ||
        dupstr(&dst->embedding_provider_model, src->embedding_provider_model) ||
        dupstr(&dst->embedding_base_url, src->embedding_base_url) ||
        dupstr(&dst->embedding_api_key, src->embedding_api_key)) {
        llm_config_cleanup(dst);
        return -ENOMEM;
    }
    if (dst->connect_timeout_ms <= 0)
        dst->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    if (dst->timeout_ms <= 0)
        dst->timeout_ms = DEFAULT_TIMEOUT_MS;
    if (dst->max_retries == 0)
        dst->max_retries = DEFAULT_MAX_RETRIES;
    else if (dst->max_retries < 0)
        dst->max_retries = 0; /* explicitly none */
    return 0;
}

void llm_config_cleanup(struct llm_config *cfg)
{
    if (!cfg)
        return;
    if (cfg->api_key)
        memset(cfg->api_key, 0, strlen(cfg->api_key));
    if (cfg->embedding_api_key)
        memset(cfg->embedding_api_key, 0, strlen(cfg->embedding_api_key));
    free(cfg->tenant_id);
    free(cfg->base_url);
    free(cfg->model);
    free(cfg->fallback_model);
    free(cfg->api_key);
    free(cfg->embedding_provider_model);
    free(cfg->embedding_base_url);
    free(cfg->embedding_api_key);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- errors ----------------------------------------------------------------------------- */

/* Replaces every occurrence of the key in s by "***". */
void llm_scrub(char *s, size_t cap, const char *key)
{
    if (!s || !key || strlen(key) < 4)
        return;
    size_t kl = strlen(key);
    char *p;
    while ((p = strstr(s, key)) != NULL) {
        size_t tail = strlen(p + kl);
        memcpy(p, "***", 3);
        memmove(p + 3, p + kl, tail + 1);
    }
    log_redact(s, cap);
}

static const char *tenant_of(const struct llm_call *k)
{
    return k->cfg.tenant_id ? k->cfg.tenant_id : "(none)";
}

static void set_error(struct llm_call *k, struct llm_error *e, int code, long http,
                      const char *detail)
{
    memset(e, 0, sizeof(*e));
    e->code = code;
    e->http_status = (int)http;
    const char *prov = llm_provider_name(k->cfg.provider);
    if (code == LLM_ERR_AUTH) {
        /* Never the provider's text: some echo part of the key back. */
        snprintf(e->message, sizeof(e->message),
                 "LLM authentication failed for tenant %s with provider %s (HTTP %ld): the API "
                 "key is wrong or revoked",
                 tenant_of(k), prov, http);
        return;
    }
    char httpbuf[32] = "";
    if (http)
        snprintf(httpbuf, sizeof(httpbuf), ", HTTP %ld", http);
    snprintf(e->message, sizeof(e->message), "%s for tenant %s with provider %s (model %s%s)%s%s",
             llm_status_str(code), tenant_of(k), prov, k->modelname[k->use_fallback], httpbuf,
             detail && *detail ? ": " : "", detail ? detail : "");
    llm_scrub(e->message, sizeof(e->message), k->cfg.api_key);
}

/* ---- metrics (process-wide, on /metrics of the binary linking this) ---------------------- */

static void count_call(struct llm_call *k, int code, const struct llm_response *r)
{
    char labels[128];
    const char *prov = llm_provider_name(k->cfg.provider);
    snprintf(labels, sizeof(labels), "provider=\"%s\",status=\"%s\"", prov,
             code == 0 ? "ok" : llm_status_str(code));
    metrics_inc(
        metrics_counter("llm_calls_total", "LLM calls finished, by provider and outcome", labels),
        1);
    snprintf(labels, sizeof(labels), "provider=\"%s\"", prov);
    metrics_observe(metrics_histogram("llm_call_seconds",
                                      "LLM call time, retries and waits included", labels, NULL, 0),
                    (double)(now_ms() - k->started_ms) / 1000.0);
    metrics_inc(metrics_gauge("llm_calls_in_flight", "LLM calls started and not finished", ""), -1);
    if (r) {
        snprintf(labels, sizeof(labels), "provider=\"%s\",direction=\"input\"", prov);
        metrics_inc(metrics_counter("llm_tokens_total", "tokens reported by the providers", labels),
                    (double)r->input_tokens);
        snprintf(labels, sizeof(labels), "provider=\"%s\",direction=\"output\"", prov);
        metrics_inc(metrics_counter("llm_tokens_total", "tokens reported by the providers", labels),
                    (double)r->output_tokens);
    }
}

/* ---- call lifecycle --------------------------------------------------------------------- */

static void call_free(struct llm_call *k)
{
    if (k->easy) {
        curl_easy_cleanup(k->easy);
        k->easy = NULL;
    }
    curl_slist_free_all(k->hdrs);
    llm_acc_cleanup(&k->acc);
    llm_sse_cleanup(&k->sse);
    llm_buf_free(&k->raw);
    free(k->body[0]);
    free(k->body[1]);
    llm_config_cleanup(&k->cfg);
    free(k);
}

/* Once per started transfer: what it cost (usage.h records it). */
static void record_attempt(struct llm_call *k, int code, long in, long out)
{
    if (!k->att_open)
        return;
    k->att_open = 0;
    const char *purpose = k->cfg.usage.purpose[0] ? k->cfg.usage.purpose : "agent";
    if (k->use_fallback)
        purpose = "fallback";
    struct llm_usage_record u = {
        .tenant_id = k->cfg.tenant_id,
        .tag = &k->cfg.usage,
        .purpose = purpose,
        .attempt = k->att_count++,
        .provider = llm_provider_name(k->cfg.provider),
        .model = k->modelname[k->use_fallback],
        .input_tokens = in > 0 ? in : 0,
        .output_tokens = out > 0 ? out : 0,
        .latency_ms = (long)(now_ms() - k->att_t0),
        .outcome = code == 0 ? "ok" : llm_status_str(code),
    };
    llm_usage_emit(&u);
}

static void unlink_call(struct llm_call *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else if (k->c->calls == k)
        k->c->calls = k->next;
    if (k->next)
        k->next->prev = k->prev;
    k->prev = k->next = NULL;
}

static void finish_err(struct llm_call *k, int code, long http, const char *detail)
{
    struct llm_error e;
    record_attempt(k, code, k->acc.input_tokens, k->acc.output_tokens);
    set_error(k, &e, code, http, detail);
    struct log_ctx ctx = {.tenant_id = k->cfg.tenant_id};
    log_kv(LOG_WARN, &ctx, "llm call failed", "provider", llm_provider_name(k->cfg.provider),
           "model", k->modelname[k->use_fallback], "status", llm_status_str(code), "error",
           e.message, (char *)NULL);
    unlink_call(k);
    count_call(k, code, NULL);
    k->on_done(k->opaque, NULL, &e);
    call_free(k);
}

static void finish_ok(struct llm_call *k)
{
    struct llm_response r;
    if (llm_acc_finish(&k->acc, &r) != 0) {
        finish_err(k, LLM_ERR_BAD_RESPONSE, k->http_status, "unusable tool call in the answer");
        return;
    }
    if (!r.model)
        r.model = strdup(k->modelname[k->use_fallback]);
    record_attempt(k, 0, r.input_tokens, r.output_tokens);
    unlink_call(k);
    count_call(k, 0, &r);
    k->on_done(k->opaque, &r, NULL);
    llm_response_cleanup(&r);
    call_free(k);
}

static void attempt_begin(void *opaque);

static long backoff_ms(struct llm_call *k)
{
    long base = BACKOFF_BASE_MS;
    for (int i = 0; i < k->attempt && base < BACKOFF_MAX_MS; i++)
        base *= 2;
    if (base > BACKOFF_MAX_MS)
        base = BACKOFF_MAX_MS;
    /* Jitter in the upper half: spreads retries of many calls while keeping the growth. */
    long j = base / 2 + (long)(rand_r(&k->c->seed) % (unsigned long)(base / 2 + 1));
    return j;
}

/* After a failed attempt: retry, switch to the fallback model, or give up. */
static void attempt_failed(struct llm_call *k, int code, int retryable, const char *detail)
{
    record_attempt(k, code, k->acc.input_tokens, k->acc.output_tokens);
    struct log_ctx ctx = {.tenant_id = k->cfg.tenant_id};
    long long now = now_ms();
    if (retryable && k->acc.deltas == 0 && k->attempt < k->cfg.max_retries) {
        long delay = backoff_ms(k);
        if (k->retry_after_ms >= 0 && k->retry_after_ms > delay)
            delay = k->retry_after_ms;
        if (now + delay < k->deadline_ms) {
            char d[32], a[16], h[16];
            snprintf(d, sizeof(d), "%ld", delay);
            snprintf(a, sizeof(a), "%d", k->attempt + 1);
            snprintf(h, sizeof(h), "%ld", k->http_status);
            log_kv(LOG_INFO, &ctx, "llm retry", "provider", llm_provider_name(k->cfg.provider),
                   "model", k->modelname[k->use_fallback], "http_status", h, "attempt", a,
                   "delay_ms", d, (char *)NULL);
            k->attempt++;
            char labels[64];
            snprintf(labels, sizeof(labels), "provider=\"%s\"", llm_provider_name(k->cfg.provider));
            metrics_inc(metrics_counter("llm_retries_total", "LLM attempts retried", labels), 1);
            k->timer_id = httploop_timer(k->c->loop, delay, attempt_begin, k);
            if (k->timer_id > 0)
                return;
        }
    }
    if (code == LLM_ERR_UNAVAILABLE && k->acc.deltas == 0 && !k->use_fallback && k->body[1] &&
        now < k->deadline_ms) {
        log_kv(LOG_WARN, &ctx, "llm primary model unavailable, using the fallback", "provider",
               llm_provider_name(k->cfg.provider), "model", k->modelname[0], "fallback",
               k->modelname[1], (char *)NULL);
        k->use_fallback = 1;
        k->attempt = 0;
        k->timer_id = httploop_timer(k->c->loop, 0, attempt_begin, k);
        if (k->timer_id > 0)
            return;
    }
    char buf[300];
    if (k->attempt > 0 && retryable) {
        snprintf(buf, sizeof(buf), "gave up after %d retries%s%s", k->attempt,
                 detail && *detail ? "; " : "", detail ? detail : "");
        detail = buf;
    }
    finish_err(k, code, k->http_status, detail);
}

/* ---- transfer callbacks ----------------------------------------------------------------- */

static int on_sse_event(void *ud, const char *event, const char *data, size_t len)
{
    struct llm_call *k = ud;
    int rc = k->ops->event(&k->acc, event, data, len);
    return rc ? rc : (k->acc.stream_error ? k->acc.stream_error : 0);
}

static size_t on_write(char *p, size_t sz, size_t n, void *ud)
{
    struct llm_call *k = ud;
    size_t len = sz * n;
    long status = 0;
    curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
    k->http_status = status;
    k->received += len;
    if (k->received == len) { /* first bytes: SSE only for a 2xx event-stream answer */
        char *ct = NULL;
        curl_easy_getinfo(k->easy, CURLINFO_CONTENT_TYPE, &ct);
        k->is_sse = k->stream && status >= 200 && status < 300 && ct &&
                    strcasestr(ct, "text/event-stream") != NULL;
    }
    if (k->is_sse) {
        int rc = llm_sse_feed(&k->sse, p, len);
        if (rc) {
            k->write_rc = rc < 0 ? rc : LLM_ERR_BAD_RESPONSE;
            return 0; /* stops the transfer: CURLE_WRITE_ERROR */
        }
        return len;
    }
    if (llm_buf_add(&k->raw, p, len, LLM_BODY_LIMIT) != 0) {
        k->write_rc = LLM_ERR_BAD_RESPONSE;
        return 0;
    }
    return len;
}

/* Retry-After: delta-seconds or an HTTP date; retry-after-ms (OpenAI) in milliseconds. */
static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct llm_call *k = ud;
    size_t len = sz * n;
    char line[256];
    size_t l = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
    memcpy(line, p, l);
    line[l] = '\0';
    if (strncmp(line, "HTTP/", 5) == 0) {
        k->retry_after_ms = -1; /* a new response (after 100-continue or a redirect) */
        return len;
    }
    if (strncasecmp(line, "retry-after-ms:", 15) == 0) {
        long v = atol(line + 15);
        if (v >= 0)
            k->retry_after_ms = v;
    } else if (strncasecmp(line, "retry-after:", 12) == 0) {
        const char *v = line + 12;
        while (*v == ' ')
            v++;
        if (*v >= '0' && *v <= '9') {
            double s = strtod(v, NULL);
            if (k->retry_after_ms < 0 && s >= 0)
                k->retry_after_ms = (long)(s * 1000);
        } else {
            time_t when = curl_getdate(v, NULL);
            time_t now = time(NULL);
            if (when > 0 && k->retry_after_ms < 0)
                k->retry_after_ms = when > now ? (long)(when - now) * 1000 : 0;
        }
    }
    return len;
}

static void on_done(void *opaque, CURL *easy, CURLcode res)
{
    struct llm_call *k = opaque;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (status)
        k->http_status = status;
    curl_easy_cleanup(easy);
    k->easy = NULL;
    curl_slist_free_all(k->hdrs);
    k->hdrs = NULL;
    if (k->cancelling)
        return;

    if (res != CURLE_OK) {
        if (k->write_rc) {
            int code = k->write_rc;
            int retry = (code == LLM_ERR_UNAVAILABLE || code == LLM_ERR_RATE_LIMITED);
            attempt_failed(k, code, retry,
                           k->acc.stream_error ? k->acc.stream_errmsg
                                               : "malformed or oversized answer");
            return;
        }
        if (res == CURLE_OPERATION_TIMEDOUT) {
            if (now_ms() + 50 < k->deadline_ms && k->received == 0) /* the connect timeout */
                attempt_failed(k, LLM_ERR_UNAVAILABLE, 1, "connect timeout");
            else
                finish_err(k, LLM_ERR_TIMEOUT, k->http_status, "no complete answer in time");
            return;
        }
        if (k->received > 0 || k->acc.deltas > 0) {
            finish_err(k, LLM_ERR_BAD_RESPONSE, k->http_status, "the answer was cut off");
            return;
        }
        attempt_failed(k, LLM_ERR_UNAVAILABLE, 1, curl_easy_strerror(res));
        return;
    }

    if (k->http_status < 200 || k->http_status >= 300) {
        char msg[200];
        int code = llm_classify_http(k->http_status, k->raw.p, k->raw.len, msg, sizeof(msg));
        int retry = (code == LLM_ERR_RATE_LIMITED || code == LLM_ERR_UNAVAILABLE);
        attempt_failed(k, code, retry, msg);
        return;
    }

    if (k->is_sse) {
        int rc = llm_sse_finish(&k->sse);
        if (rc) {
            int code = rc < 0 ? rc : LLM_ERR_BAD_RESPONSE;
            attempt_failed(k, code, code == LLM_ERR_UNAVAILABLE || code == LLM_ERR_RATE_LIMITED,
                           k->acc.stream_errmsg);
            return;
        }
        if (!k->acc.done) {
            finish_err(k, LLM_ERR_BAD_RESPONSE, k->http_status,
                       "the stream ended before its end marker");
            return;
        }
    } else {
        json_object *root = llm_json_parse(k->raw.p, k->raw.len);
        int rc = root ? k->ops->parse(&k->acc, root) : LLM_ERR_BAD_RESPONSE;
        json_object_put(root);
        if (rc) {
            attempt_failed(k, rc, rc == LLM_ERR_UNAVAILABLE || rc == LLM_ERR_RATE_LIMITED,
                           k->acc.stream_error ? k->acc.stream_errmsg : "malformed answer");
            return;
        }
        /* Deltas for a non-streamed answer to a streaming caller: one, the whole text. */
        if (llm_acc_repair(&k->acc) != 0) {
            attempt_failed(k, LLM_ERR_BAD_RESPONSE, 0, "answer too large");
            return;
        }
        if (k->stream && k->acc.on_delta && k->acc.content.len) {
            k->acc.deltas++;
            k->acc.on_delta(k->acc.opaque, k->acc.content.p, k->acc.content.len);
        }
    }
    finish_ok(k);
}

static void attempt_begin(void *opaque)
{
    struct llm_call *k = opaque;
    k->timer_id = 0;
    long long now = now_ms();
    if (now >= k->deadline_ms) {
        finish_err(k, LLM_ERR_TIMEOUT, 0, "no answer in time");
        return;
    }
    if (k->cfg.rate_limit_rpm > 0 && k->c->r) {
        long wait = llm_ratelimit_acquire(k->c->r, k->cfg.tenant_id, k->cfg.rate_limit_rpm,
                                          k->c->window_ms);
        if (wait > 0) {
            if (now + wait >= k->deadline_ms) {
                char d[128];
                snprintf(d, sizeof(d), "over the tenant's rate limit of %ld requests per %lds",
                         k->cfg.rate_limit_rpm, k->c->window_ms / 1000);
                finish_err(k, LLM_ERR_RATE_LIMITED, 0, d);
                return;
            }
            k->timer_id = httploop_timer(k->c->loop, wait, attempt_begin, k);
            if (k->timer_id > 0)
                return;
            finish_err(k, LLM_ERR_UNAVAILABLE, 0, "cannot set a timer");
            return;
        }
    }

    /* A fresh attempt: nothing of the last one survives. */
    llm_delta_cb cb = k->acc.on_delta;
    void *cbo = k->acc.opaque;
    llm_acc_cleanup(&k->acc);
    llm_acc_init(&k->acc, cb, cbo);
    llm_sse_cleanup(&k->sse);
    llm_sse_init(&k->sse, on_sse_event, k);
    k->raw.len = 0;
    k->received = 0;
    k->http_status = 0;
    k->retry_after_ms = -1;
    k->write_rc = 0;
    k->is_sse = 0;

    struct llm_wire w = {
        .cfg = &k->cfg, .model = k->modelname[k->use_fallback], .req = NULL, .stream = k->stream};
    char url[2048];
    if (k->ops->url(&w, url, sizeof(url)) != 0) {
        finish_err(k, LLM_ERR_INVALID_REQUEST, 0, "URL too long");
        return;
    }
    CURL *e = curl_easy_init();
    if (!e) {
        finish_err(k, LLM_ERR_UNAVAILABLE, 0, "out of memory");
        return;
    }
    k->easy = e;
    k->hdrs = k->ops->headers(&w, NULL);
    /* No "Expect: 100-continue" round trip before large bodies. */
    k->hdrs = curl_slist_append(k->hdrs, "Expect:");
    const char *body = k->body[k->use_fallback];
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, k->hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, k);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, k->cfg.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(k->deadline_ms - now));
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "agenthub-llm/1");
    curl_easy_setopt(e, CURLOPT_PROXY, llm_proxy()); /* "": none, environment ignored */
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, llm_forbid_reuse());
    if (httploop_add(k->c->loop, e, on_done, k) != 0) {
        curl_easy_cleanup(e);
        k->easy = NULL;
        finish_err(k, LLM_ERR_UNAVAILABLE, 0, "cannot start the transfer");
        return;
    }
    k->att_open = 1;
    k->att_t0 = now;
}

int llm_chat_start(struct llm_client *c, const struct llm_config *cfg,
                   const struct llm_request *req, llm_delta_cb on_delta, llm_done_cb on_done_cb,
                   void *opaque)
{
    if (!c || !cfg || !req || !on_done_cb || req->nmessages == 0 || !req->messages)
        return LLM_ERR_INVALID_REQUEST;
    const struct llm_provider_ops *ops = llm_provider_ops(cfg->provider);
    if (!ops || !cfg->model || !*cfg->model)
        return LLM_ERR_CONFIG;
    char err[256] = "";
    struct llm_call *k = calloc(1, sizeof(*k));
    if (!k)
        return LLM_ERR_UNAVAILABLE;
    int rc = LLM_ERR_UNAVAILABLE;
    if (llm_config_copy(&k->cfg, cfg) != 0)
        goto out;
    k->c = c;
    k->ops = ops;
    k->stream = req->stream && on_delta;
    k->on_done = on_done_cb;
    k->opaque = opaque;
    k->retry_after_ms = -1;
    llm_acc_init(&k->acc, on_delta, opaque);
    llm_sse_init(&k->sse, on_sse_event, k);
    k->modelname[0] = k->cfg.model;
    k->modelname[1] = k->cfg.fallback_model;
    for (int i = 0; i < 2; i++) {
        if (!k->modelname[i] || !*k->modelname[i])
            continue;
        struct llm_wire w = {
            .cfg = &k->cfg, .model = k->modelname[i], .req = req, .stream = k->stream};
        k->body[i] = ops->body(&w, err, sizeof(err));
        if (!k->body[i]) {
            rc = LLM_ERR_INVALID_REQUEST;
            goto out;
        }
    }
    k->started_ms = now_ms();
    k->deadline_ms = k->started_ms + k->cfg.timeout_ms;
    k->timer_id = httploop_timer(c->loop, 0, attempt_begin, k);
    if (k->timer_id <= 0)
        goto out;
    k->next = c->calls;
    if (c->calls)
        c->calls->prev = k;
    c->calls = k;
    k = NULL;
    metrics_inc(metrics_gauge("llm_calls_in_flight", "LLM calls started and not finished", ""), 1);
    rc = 0;
out:
    if (k) {
        if (err[0]) {
            struct log_ctx ctx = {.tenant_id = cfg->tenant_id};
            log_kv(LOG_WARN, &ctx, "llm request rejected", "error", err, (char *)NULL);
        }
        call_free(k);
    }
    return rc;
}

void llm_client_free(struct llm_client *c)
{
    if (!c)
        return;
    while (c->calls) {
        struct llm_call *k = c->calls;
        /* unlink_call(k) below takes k off c->calls (k->c is c, which the analyzer does not
         * know), so k is never seen again after call_free. */
        k->cancelling = 1; /* NOLINT(clang-analyzer-unix.Malloc) */
        if (k->easy)
            httploop_cancel(c->loop, k->easy); /* on_done sees cancelling and returns */
        if (k->timer_id > 0)
            httploop_timer_cancel(c->loop, k->timer_id);
        k->timer_id = 0;
        unlink_call(k);
        struct llm_error e;
        set_error(k, &e, LLM_ERR_CANCELLED, 0, "the client was freed");
        count_call(k, LLM_ERR_CANCELLED, NULL);
        k->on_done(k->opaque, NULL, &e);
        call_free(k);
    }
    free(c);
}

/* ---- blocking form ---------------------------------------------------------------------- */

struct sync_state {
    int done;
    int rc;
    struct llm_response *out;
    struct llm_error *err;
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void sync_done(void *opaque, const struct llm_response *resp, const struct llm_error *e)
{
    struct sync_state *st = opaque;
    st->done = 1;
    if (!resp) {
        st->rc = e ? e->code : LLM_ERR_UNAVAILABLE;
        if (st->err && e)
            *st->err = *e;
        return;
    }
    struct llm_response *o = st->out;
    memset(o, 0, sizeof(*o));
    o->content = dup_or_null(resp->content);
    o->finish_reason = dup_or_null(resp->finish_reason);
    o->model = dup_or_null(resp->model);
    o->input_tokens = resp->input_tokens;
    o->output_tokens = resp->output_tokens;
    if (resp->ntool_calls) {
        o->tool_calls = calloc(resp->ntool_calls, sizeof(*o->tool_calls));
        if (o->tool_calls) {
            o->ntool_calls = resp->ntool_calls;
            for (size_t i = 0; i < resp->ntool_calls; i++) {
                o->tool_calls[i].id = dup_or_null(resp->tool_calls[i].id);
                o->tool_calls[i].name = dup_or_null(resp->tool_calls[i].name);
                o->tool_calls[i].arguments = dup_or_null(resp->tool_calls[i].arguments);
            }
        }
    }
    st->rc = 0;
}

int llm_chat_sync(struct llm_client *c, const struct llm_config *cfg, const struct llm_request *req,
                  struct llm_response *out, struct llm_error *err)
{
    struct sync_state st = {.out = out, .err = err};
    memset(out, 0, sizeof(*out));
    if (err)
        memset(err, 0, sizeof(*err));
    struct llm_request r = *req;
    r.stream = 0; /* no delta callback here */
    int rc = llm_chat_start(c, cfg, &r, NULL, sync_done, &st);
    if (rc) {
        if (err) {
            err->code = rc;
            snprintf(err->message, sizeof(err->message), "%s for tenant %s: request not started",
                     llm_status_str(rc), cfg && cfg->tenant_id ? cfg->tenant_id : "(none)");
        }
        return rc;
    }
    while (!st.done)
        httploop_run(c->loop, 1000);
    return st.rc;
}
