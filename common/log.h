/* log.h — JSON-lines logging on stderr.
 *
 * One JSON object per line: {"ts","level","component","msg", and tenant_id / job_id /
 * trace_id / request_id when known, then any extra key/value pairs}. A line is built in
 * memory and written with one write(2), so lines from many threads never interleave.
 *
 * Secrets never reach the output: strings registered with log_add_secret() are replaced by
 * "***", and anything shaped like a bearer token or JWT (three base64url parts starting
 * with "eyJ"), a Fernet token ("gAAAAA...") or a tenant API key ("ahk_...") is masked too.
 */
#ifndef AGENTHUB_LOG_H
#define AGENTHUB_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* What a line is about; any field may be NULL. Borrowed for the call only. */
struct log_ctx {
    const char *tenant_id;
    const char *job_id;
    const char *trace_id;
    const char *request_id;
};

/* Sets the component name (copied) and the minimum level. Safe to call again. */
void log_init(const char *component, enum log_level min_level);
/* "debug" | "info" | "warn" | "error" -> 0, or -1 for anything else. */
int log_level_parse(const char *s, enum log_level *out);
enum log_level log_get_level(void);
/* Registers a secret (copied) to mask in every later line. Strings under 4 bytes are ignored. */
void log_add_secret(const char *secret);
/* Writes to fd instead of stderr (tests). */
void log_set_fd(int fd);

/* The message is printf-formatted. Extra fields: log_kv() takes NULL-terminated key, value
 * string pairs after the message, e.g. log_kv(LOG_INFO, &ctx, "job done", "agent", name, NULL). */
void log_msg(enum log_level level, const struct log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level level, const struct log_ctx *ctx, const char *fmt, va_list ap);
void log_kv(enum log_level level, const struct log_ctx *ctx, const char *msg, ...)
    __attribute__((sentinel));

/* Masks secrets in s in place (same rules as log lines); returns s. Use on any text that may
 * travel to a client or another system (error messages, tool errors). */
char *log_redact(char *s, size_t cap);

#define log_debug(ctx, ...) log_msg(LOG_DEBUG, (ctx), __VA_ARGS__)
#define log_info(ctx, ...) log_msg(LOG_INFO, (ctx), __VA_ARGS__)
#define log_warn(ctx, ...) log_msg(LOG_WARN, (ctx), __VA_ARGS__)
#define log_error(ctx, ...) log_msg(LOG_ERROR, (ctx), __VA_ARGS__)

#endif
