/* provider.h — private to llm/: what client.c needs from each wire format.
 *
 * A provider builds the request (URL, headers, JSON body) and turns what comes back into an
 * accumulated response (struct llm_acc): a whole JSON body, or SSE events one at a time.
 * client.c owns transport, retries, timeouts, rate limits and the fallback model.
 */
#ifndef AGENTHUB_LLM_PROVIDER_H
#define AGENTHUB_LLM_PROVIDER_H

#include <curl/curl.h>
#include <json-c/json.h>
#include <stddef.h>

#include "json_field.h" /* json_field_str */
#include "llm.h"

/* A growable byte buffer with a size cap (the cap protects against endless streams). */
struct llm_buf {
    char *p;
    size_t len, cap;
};
int llm_buf_add(struct llm_buf *b, const char *s, size_t n, size_t limit);
void llm_buf_free(struct llm_buf *b);

#define LLM_BODY_LIMIT (16u << 20) /* a response body or SSE event larger than this is bad */
#define LLM_MAX_TOOL_CALLS 64
/* The most tokens one call may report for one direction. Models' windows are at most a few
 * million tokens; a count beyond this, negative or not an integer is not believed (a tenant
 * may point its base_url at any server, and the counts feed budgets and sums). */
#define LLM_TOKENS_MAX 100000000L

/* One tool call being assembled from stream fragments. */
struct llm_acc_call {
    char *id;
    char *name;
    struct llm_buf args;
    int key; /* provider's index (OpenAI delta index, Anthropic content block index) */
};

/* The response as it is assembled. */
struct llm_acc {
    struct llm_buf content;
    struct llm_acc_call calls[LLM_MAX_TOOL_CALLS];
    size_t ncalls;
    char *finish_reason; /* normalized */
    long input_tokens, output_tokens;
    char *model;
    int done;       /* the stream's end marker was seen ([DONE], message_stop, finishReason) */
    int saw_finish; /* a finish reason arrived */
    size_t deltas;  /* deltas handed to the caller (no retry after the first) */
    llm_delta_cb on_delta;
    void *opaque;
    /* Text repair (utf8.h): the start of a character a stream fragment cut short, kept for
     * the next one, and the count of what was replaced. */
    char pending[4];
    size_t npending;
    size_t repaired;
    /* A provider-reported error inside a 200 stream (OpenAI/Anthropic "error" events). */
    int stream_error; /* an llm_status, 0 if none */
    char stream_errmsg[200];
};

void llm_acc_init(struct llm_acc *a, llm_delta_cb cb, void *opaque);
void llm_acc_cleanup(struct llm_acc *a);
/* Appends and emits a delta. Text is repaired first (utf8.h: ill-formed UTF-8 and control
 * characters become U+FFFD, counted in repaired), and a character a fragment cut short is
 * held back until the next fragment completes it, so no delta splits a character. */
int llm_acc_text(struct llm_acc *a, const char *s, size_t n);
/* Repairs the whole accumulated content (a non-streamed body, the held-back tail). A stream
 * that ended inside a character gets U+FFFD for it, handed to on_delta too, so the deltas
 * always add up to the content. */
int llm_acc_repair(struct llm_acc *a);
/* The call with provider index key, created if absent (NULL when there are too many). */
struct llm_acc_call *llm_acc_call(struct llm_acc *a, int key);
void llm_acc_set(char **dst, const char *s);
/* Token counts from a provider's usage object (NULL or a non-object: nothing taken; a member
 * that llm_token_count does not believe: that count is not taken). */
void llm_acc_usage(struct llm_acc *a, json_object *usage, const char *in_key, const char *out_key);
/* 1 and the count in *n when v is an integer (or a number with no fraction) in
 * 0..LLM_TOKENS_MAX; else 0 and *n untouched. */
int llm_token_count(json_object *v, long *n);
/* Records a provider finish reason (normalized) if raw is not NULL; returns 1 if it did. */
int llm_acc_finish_reason(struct llm_acc *a, const char *raw);
/* Moves the accumulated result into r (r zeroed first). Tool calls without arguments get "{}";
 * a call without a name gets "" and arguments that are not a JSON object are kept as sent
 * (the agent answers the model with a tool error). A stream without usage: output_tokens is
 * the number of content deltas. */
int llm_acc_finish(struct llm_acc *a, struct llm_response *r);

/* Incremental SSE parser: feed any byte ranges; complete events are dispatched. */
typedef int (*llm_sse_event_cb)(void *ud, const char *event, const char *data, size_t len);
struct llm_sse {
    struct llm_buf line;
    struct llm_buf data;
    char event[64];
    int has_data;
    int skip_lf; /* last byte was CR: a following LF belongs to it */
    llm_sse_event_cb cb;
    void *ud;
};
void llm_sse_init(struct llm_sse *s, llm_sse_event_cb cb, void *ud);
/* Returns 0, or the callback's non-zero value (parsing stops), or LLM_ERR_BAD_RESPONSE when
 * a line or event is over LLM_BODY_LIMIT. */
int llm_sse_feed(struct llm_sse *s, const char *p, size_t n);
/* Dispatches a final event not followed by a blank line (a stream ending without one). */
int llm_sse_finish(struct llm_sse *s);
void llm_sse_cleanup(struct llm_sse *s);

/* What a provider needs to build a request. */
struct llm_wire {
    const struct llm_config *cfg;
    const char *model;
    const struct llm_request *req;
    int stream;
};

struct llm_provider_ops {
    const char *name;
    /* Full URL into buf. */
    int (*url)(const struct llm_wire *w, char *buf, size_t cap);
    /* Adds auth and provider headers. */
    struct curl_slist *(*headers)(const struct llm_wire *w, struct curl_slist *h);
    /* The JSON body (malloc'd) or NULL with err set. */
    char *(*body)(const struct llm_wire *w, char *err, size_t errlen);
    /* A whole (non-streaming) 200 body into acc. 0, or an llm_status. */
    int (*parse)(struct llm_acc *a, json_object *root);
    /* One SSE event into acc. 0, or an llm_status. */
    int (*event)(struct llm_acc *a, const char *event, const char *data, size_t len);
};

extern const struct llm_provider_ops llm_openai_ops;
extern const struct llm_provider_ops llm_anthropic_ops;
extern const struct llm_provider_ops llm_gemini_ops;
const struct llm_provider_ops *llm_provider_ops(enum llm_provider p);

struct httploop *llm_client_loop(struct llm_client *c);

/* Deep copy with defaults applied (timeouts, retries); llm_config_cleanup frees it. */
int llm_config_copy(struct llm_config *dst, const struct llm_config *src);
/* Replaces the key (and anything log.h would mask) in s by ***. */
void llm_scrub(char *s, size_t cap, const char *key);
/* Sliding-window admission for a tenant: 0 admitted, > 0 ms to wait, < 0 Redis failed. */
long llm_ratelimit_acquire(struct rcache *r, const char *tenant, long rpm, long window_ms);
/* Content-Type and x-goog-api-key for cfg. */
struct curl_slist *llm_gemini_headers(const struct llm_config *cfg, struct curl_slist *h);

/* Maps an HTTP error answer to an llm_status (context length, auth, rate limit, ...). msg gets
 * the provider's own error text, if any, as one line of valid text (utf8.h) cut between
 * characters (it never contains the request's key: callers scrub). */
int llm_classify_http(long status, const char *body, size_t len, char *msg, size_t msgcap);
/* Records a provider error object seen inside a 200 answer; returns its llm_status. */
int llm_take_stream_error(struct llm_acc *a, json_object *err);
/* Content-Type and Authorization: Bearer (and OpenRouter's headers) for cfg. */
struct curl_slist *llm_openai_headers(const struct llm_config *cfg, struct curl_slist *h);
/* Provider finish reasons -> stop, tool_calls, length, content_filter. */
const char *llm_finish_normalize(const char *raw);

/* Shared JSON helpers (and json_field_str: a string member or NULL). */
json_object *llm_json_get(json_object *o, const char *key); /* NULL if o is not an object */
/* NULL if malformed. Read leniently (providers and models write what json-c takes), but a
 * number written as JSON has none ("1.", "1.e5") gets JSON's text (json_text.h). */
json_object *llm_json_parse(const char *s, size_t len);
/* Parses tool arguments text as an object; anything else becomes {} (never NULL). Made JSON
 * for a request body: valid text, no NaN or infinity (json_text_repair). */
json_object *llm_json_args(const char *s);
char *llm_json_dup(json_object *o); /* compact text, malloc'd */
/* The list under list_key of the last message in msgs if that message has this role, else a
 * new {"role": role, list_key: []} appended to msgs: consecutive turns of one role merge. */
json_object *llm_json_turn(json_object *msgs, const char *role, const char *list_key);

/* Appends the header line prefix + secret (prefix like "x-api-key: "); the temporary line is
 * wiped before it is freed. Nothing is added when secret is NULL or empty. */
struct curl_slist *llm_header_secret(struct curl_slist *h, const char *prefix, const char *secret);

#endif
