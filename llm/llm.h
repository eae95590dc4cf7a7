/* llm.h — one C interface for chat and embedding calls to every provider.
 *
 * Providers: OpenAI chat completions, OpenRouter (OpenAI format, its base URL and headers),
 * any OpenAI-compatible base URL (vLLM, Ollama, llama.cpp), Anthropic messages, Google Gemini
 * generateContent / streamGenerateContent; embeddings via OpenAI /v1/embeddings, Gemini
 * embedContent, or the local lexical embedder.
 *
 * Calls are asynchronous on an httploop (thousands in flight on one thread): llm_chat_start()
 * returns at once, deltas and the final result arrive through callbacks from httploop_run().
 * Retries (429, 5xx, connection errors; exponential backoff with jitter, Retry-After honoured),
 * timeouts, per-tenant rate limits (Redis, shared by all processes) and the fallback model are
 * handled inside. The API key is never logged nor put in an error message.
 */
#ifndef AGENTHUB_LLM_H
#define AGENTHUB_LLM_H

#include <stddef.h>

#include "httploop.h"
#include "pgpool.h"
#include "rcache.h"

enum llm_provider {
    LLM_PROVIDER_OPENAI,
    LLM_PROVIDER_OPENROUTER,
    LLM_PROVIDER_OPENAI_COMPAT,
    LLM_PROVIDER_ANTHROPIC,
    LLM_PROVIDER_GEMINI,
    LLM_PROVIDER_LOCAL, /* embeddings only: the lexical embedder */
};

enum llm_role { LLM_ROLE_SYSTEM, LLM_ROLE_USER, LLM_ROLE_ASSISTANT, LLM_ROLE_TOOL };

enum llm_status {
    LLM_OK = 0,
    LLM_ERR_AUTH = -1,         /* 401/403: wrong or revoked key */
    LLM_ERR_RATE_LIMITED = -2, /* 429 after retries, or the tenant's rate_limit_rpm */
    LLM_ERR_TIMEOUT = -3,
    LLM_ERR_BAD_RESPONSE = -4, /* malformed JSON, cut stream, unexpected shape */
    LLM_ERR_UNAVAILABLE = -5,  /* 5xx after retries, connection refused */
    LLM_ERR_CONTEXT_TOO_LONG = -6,
    LLM_ERR_INVALID_REQUEST = -7, /* other 4xx, or a bad request built by the caller */
    LLM_ERR_CONFIG = -8,          /* no config for tenant, key does not decrypt */
    LLM_ERR_CANCELLED = -9,
};

struct llm_tool_call {
    char *id;
    char *name;
    char *arguments; /* JSON object text */
};

struct llm_message {
    enum llm_role role;
    char *content;                    /* may be NULL for an assistant turn with tool calls */
    struct llm_tool_call *tool_calls; /* assistant turns */
    size_t ntool_calls;
    char *tool_call_id; /* tool turns: which call this answers */
    char *name;         /* tool turns: the tool's name (Gemini needs it) */
};

struct llm_tool_def {
    const char *name;
    const char *description;
    const char *parameters; /* JSON Schema text */
};

struct llm_request {
    const struct llm_message *messages;
    size_t nmessages;
    const struct llm_tool_def *tools;
    size_t ntools;
    int stream;         /* deltas through the callback */
    int json_mode;      /* ask for a JSON object answer */
    double temperature; /* < 0: provider default */
    int max_tokens;     /* <= 0: config default */
};

struct llm_response {
    char *content;
    struct llm_tool_call *tool_calls;
    size_t ntool_calls;
    char *finish_reason; /* normalized: stop, tool_calls, length, content_filter */
    long input_tokens, output_tokens;
    char *model; /* the model that answered (fallback shows here) */
    /* Ill-formed UTF-8 sequences and control characters in content, tool calls (ids, names,
     * arguments) and the model's name that were replaced by U+FFFD (utf8.h): what a provider
     * sends is always valid text here. Token counts are 0..LLM_TOKENS_MAX (provider.h). */
    size_t repaired;
};

struct llm_error {
    enum llm_status code;
    int http_status;
    char message[512]; /* names tenant and provider, never the key */
};

/* Who a call is for, for the accounting (usage.h): set by the caller in llm_config.usage
 * before llm_chat_start / llm_embed_sync (it is copied with the config). purpose "" means
 * "agent" for chat calls; a call answered by the fallback model is recorded as "fallback";
 * embedding calls are always "embedding". seq numbers the calls of one job part. */
struct llm_usage_tag {
    char job_id[37]; /* "" outside a job (knowledge ingestion) */
    int part;
    int seq;
    char purpose[12]; /* "intent", "agent", "embedding" */
    char agent[101];
};

struct llm_config {
    enum llm_provider provider;
    char *tenant_id;
    char *base_url; /* NULL: the provider's default */
    char *model;
    char *fallback_model;           /* NULL: none */
    char *api_key;                  /* plaintext, decrypted at use; never logged */
    char *embedding_provider_model; /* NULL: local embedder */
    long rate_limit_rpm;            /* <= 0: unlimited */
    long connect_timeout_ms, timeout_ms;
    int max_retries;
    double temperature;
    int max_tokens;
    /* Added (source-compatible): where embeddings go when embedding_provider_model names a
     * remote provider ("openai:text-embedding-3-small", "gemini:text-embedding-004",
     * "openai_compatible:<model>"; a bare model name means cfg->provider). NULL base: that
     * provider's default (or base_url when the providers match); NULL key: api_key. */
    char *embedding_base_url;
    char *embedding_api_key;
    /* Set by llm_config_load when the key embeddings would use (embedding_api_key, else
     * api_key) is bound to another endpoint than the embedding endpoint: llm_embed_sync then
     * fails with LLM_ERR_CONFIG and sends nothing. */
    int embedding_key_refused;
    struct llm_usage_tag usage; /* accounting only; zero: not tagged */
};

/* Defaults where a config leaves a field <= 0 (or NULL): connect_timeout_ms 10000,
 * timeout_ms 120000 (the whole call: every attempt, backoff and rate-limit wait), max_retries
 * 3 when 0 (negative: no retries), max_tokens: the provider's (Anthropic needs one: 1024).
 * temperature < 0: provider default (note 0 means 0).
 *
 * base_url conventions: OpenAI-family bases include the version ("https://api.openai.com/v1",
 * "http://host:port/v1") and get "/chat/completions" appended; Anthropic bases are the host
 * ("https://api.anthropic.com") and get "/v1/messages"; Gemini bases are the host
 * ("https://generativelanguage.googleapis.com") and get "/v1beta/models/{model}:...".
 *
 * Rate limit: rate_limit_rpm is a sliding window shared through Redis by every process
 * (agenthub:{tenant}:ratelimit:llm, a sorted set of request times; the window is 60 s, or
 * LLM_RATE_WINDOW_S for tests). Every HTTP attempt counts. Over the limit a call waits (a
 * loop timer) until a slot frees, and fails with LLM_ERR_RATE_LIMITED only if that would pass
 * its timeout. Redis down: calls are let through (logged).
 *
 * Retries: 429, 5xx and connection failures, while no delta has reached the caller; backoff
 * 500 ms * 2^n (max 20 s) with full jitter in its upper half, at least Retry-After. After the
 * primary model ends in LLM_ERR_UNAVAILABLE the fallback model (same provider and base URL)
 * gets its own attempts. */
struct llm_client;

/* r may be NULL (no cross-process rate limiting). loop is borrowed. */
/* The proxy every LLM and embedding transfer of this process uses. NULL or "": none, and the
 * environment's http_proxy / HTTPS_PROXY / ALL_PROXY are ignored too, so a tenant's provider
 * key never goes through a proxy the process merely inherited (issue 17). Set it once at start,
 * before any transfer (not thread-safe); the string is copied. */
int llm_set_proxy(const char *proxy);
/* The proxy llm_set_proxy() set: "" when none (CURLOPT_PROXY's "no proxy, whatever the
 * environment says"). */
const char *llm_proxy(void);

/* Accounting (issue 14): the hook runs once per attempt that reached a provider (an HTTP
 * transfer was started), with what the provider reported: every retry and fallback attempt,
 * every embedding request. Failed attempts carry the tokens known (usually 0). Set once at
 * start, before any call (not thread-safe to change); the hook itself may run on any thread
 * that makes calls and must be thread-safe. NULL: none. The record is valid during the call. */
struct llm_usage_record {
    const char *tenant_id;
    const struct llm_usage_tag *tag;
    const char *purpose; /* effective: intent, agent, fallback, embedding */
    int attempt;         /* 0, 1, ... across retries and the fallback of one call */
    const char *provider, *model;
    long input_tokens, output_tokens;
    long latency_ms;
    const char *outcome; /* "ok" or llm_status_str() */
};
typedef void (*llm_usage_hook)(void *opaque, const struct llm_usage_record *u);
void llm_set_usage_hook(llm_usage_hook fn, void *opaque);
/* Calls the hook (if any) with u; for callers outside this library that make provider calls. */
void llm_usage_emit(const struct llm_usage_record *u);

int llm_client_new(struct llm_client **out, struct httploop *loop, struct rcache *r, char *err,
                   size_t errlen);
/* Cancels calls in flight (their on_done runs with LLM_ERR_CANCELLED); NULL-safe. Free the
 * client before its loop. One client per loop, used from the loop's thread only. */
void llm_client_free(struct llm_client *c);

typedef void (*llm_delta_cb)(void *opaque, const char *text, size_t len);
/* resp is valid only during the call; on failure resp is NULL and err says why. */
typedef void (*llm_done_cb)(void *opaque, const struct llm_response *resp,
                            const struct llm_error *err);

/* Copies what it needs from cfg and req. On failure (negative) the callbacks never run. */
int llm_chat_start(struct llm_client *c, const struct llm_config *cfg,
                   const struct llm_request *req, llm_delta_cb on_delta, llm_done_cb on_done,
                   void *opaque);
/* Blocking form for tools and tests: runs the client's loop until this call finishes. */
int llm_chat_sync(struct llm_client *c, const struct llm_config *cfg, const struct llm_request *req,
                  struct llm_response *out, struct llm_error *err);
void llm_response_cleanup(struct llm_response *r);

/* Embeddings: n texts -> n vectors of *dim floats (*vecs malloc'd, row-major). */
int llm_embed_sync(struct llm_client *c, const struct llm_config *cfg, const char *const *texts,
                   size_t n, float **vecs, int *dim, struct llm_error *err);
/* The local lexical embedder (hashed word and character n-grams, L2-normalized). */
void llm_embed_local(const char *text, float *vec, int dim);
#define LLM_LOCAL_EMBED_DIM 384

/* The tenant's config: Redis (agenthub:{tenant}:llm, 1 h, the encrypted key only) or
 * tenant_llm_configs + llm_models; the API key Fernet-decrypted with fernet_key. */
int llm_config_load(struct pgpool *db, struct rcache *r, const char *fernet_key,
                    const char *tenant_id, struct llm_config *out, struct llm_error *err);
/* Drops the cached config (admin writes). */
int llm_config_invalidate(struct rcache *r, const char *tenant_id);

/* Key binding. A stored provider key is bound to the endpoint it was given for:
 * tenant_llm_configs.api_key_endpoint / embedding_api_key_endpoint hold "provider|base_url"
 * (base_url empty: the provider's default), set by the database whenever the key is set.
 * llm_config_load refuses the chat key (LLM_ERR_CONFIG, "key_endpoint_mismatch" in the
 * message) when its binding's origin differs from the model's current endpoint, and marks
 * the embedding key refused likewise, so a key is never sent to a host it was not given for
 * (e.g. after the operator changed llm_models.base_url).
 *
 * llm_endpoint_origin writes "provider scheme://host:port" (provider canonical, scheme and
 * host lower-cased, default port made explicit, path dropped) for provider + base_url (NULL
 * or "": the provider's default base). Returns 0, or -1 (unknown provider, malformed URL).
 * llm_endpoint_same: 1 when binding ("provider|base_url") names the same origin as
 * provider + base_url, else 0 (also for a NULL or malformed binding). */
int llm_endpoint_origin(const char *provider, const char *base_url, char *out, size_t cap);
int llm_endpoint_same(const char *binding, const char *provider, const char *base_url);
void llm_config_cleanup(struct llm_config *cfg);
/* "openai", "anthropic", "gemini", "openrouter", "openai_compatible", "local". */
int llm_provider_parse(const char *s, enum llm_provider *out);
const char *llm_provider_name(enum llm_provider p);
const char *llm_status_str(int status);

#endif
