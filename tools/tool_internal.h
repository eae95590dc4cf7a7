/* tool_internal.h — what the tool base types share inside libtools (not a public contract).
 *
 * tool.c validates arguments and dispatches on base_type; http_tool.c runs HTTP_GET /
 * HTTP_POST asynchronously on the caller's httploop; rag.c and ocr.c are blocking and run
 * on a worker thread started by tool.c, which hands the result back on the loop's thread.
 * Either way a callback never runs inside tool_invoke().
 */
#ifndef AGENTHUB_TOOL_INTERNAL_H
#define AGENTHUB_TOOL_INTERNAL_H

#include "tool.h"

#define TOOL_DEFAULT_TIMEOUT_MS 10000L
#define TOOL_MAX_TIMEOUT_MS 60000L
#define TOOL_DEFAULT_MAX_RESPONSE (1024L * 1024L)
#define TOOL_MAX_REDIRECTS 3

int http_tool_start(const struct tool_ctx *ctx, const struct tool_def *tool, json_object *args,
                    tool_done_cb cb, void *opaque, char *err, size_t errlen);

/* Blocking base types, run on a worker thread: ctx->loop and ctx->llm are NULL there, the
 * rest is the thread's own copy. *result is new (json_object_put) on success. */
int rag_tool_run(const struct tool_ctx *ctx, const struct tool_def *tool, json_object *args,
                 json_object **result, char *err, size_t errlen);
int ocr_tool_run(const struct tool_ctx *ctx, const struct tool_def *tool, json_object *args,
                 json_object **result, char *err, size_t errlen);

/* An HTTP tool's 2xx body [0, len), NUL-terminated at len, as its result. Bytes that are
 * not valid text are repaired first (utf8.h; *repaired = 1). An empty body is {}; one strict
 * JSON value (json_strict.h; whitespace may follow) is itself, JSON null is NULL; anything
 * else (text, lenient JSON, more after the value) is {"text": body}, or, when need_json (the
 * tool has an output schema), -1 with err "tool X: response is not JSON (why)". Strings in
 * the result are made valid text (json_text.h). 0 and *result (new; NULL for null), or -1. */
int tool_response_result(const char *body, size_t len, int need_json, const char *tool_name,
                         json_object **result, int *repaired, char *err, size_t errlen);

/* Checks result against the output schema; fills err ("tool X: output does not match its
 * schema: /a: ...") and returns negative on a violation. */
int tool_check_output(const struct tool_def *tool, json_object *result, char *err, size_t errlen);

/* Config helpers: a number clamped to [lo, hi], def when absent or not a number. */
long tool_cfg_long(json_object *cfg, const char *key, long def, long lo, long hi);
double tool_cfg_double(json_object *cfg, const char *key, double def);
const char *tool_cfg_str(json_object *cfg, const char *key);
int tool_cfg_bool(json_object *cfg, const char *key, int def);

/* A response body collected by libcurl, capped at max bytes (set max before the transfer). p is
 * NUL-terminated once anything arrived; the caller frees p. */
struct tool_rbuf {
    char *p;
    size_t len, cap, max;
    int oversize; /* the cap was hit: the write was refused, which aborts the transfer */
};
/* CURLOPT_WRITEFUNCTION for a struct tool_rbuf passed as CURLOPT_WRITEDATA. */
size_t tool_rbuf_write(char *ptr, size_t size, size_t nmemb, void *userdata);

/* Blocking GET of url through the SSRF guard (for OCR image URLs). *data malloc'd. */
int tool_fetch_blocking(const struct tool_ctx *ctx, const struct tool_def *tool, const char *url,
                        size_t max_bytes, unsigned char **data, size_t *len, char *err,
                        size_t errlen);

#endif
