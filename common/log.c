/* log.c — see log.h. */
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 8192
#define LOG_MAX_SECRETS 64

static char g_component[64] = "agenthub";
static enum log_level g_level = LOG_INFO;
static int g_fd = 2;
static pthread_mutex_t g_secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_secrets[LOG_MAX_SECRETS];
static int g_nsecrets;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *component, enum log_level min_level)
{
    snprintf(g_component, sizeof(g_component), "%s", component ? component : "agenthub");
    g_level = min_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (s && strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

enum log_level log_get_level(void)
{
    return g_level;
}

void log_set_fd(int fd)
{
    g_fd = fd;
}

void log_add_secret(const char *secret)
{
    if (!secret || strlen(secret) < 4)
        return;
    pthread_mutex_lock(&g_secrets_lock);
    for (int i = 0; i < g_nsecrets; i++) {
        if (strcmp(g_secrets[i], secret) == 0)
            goto out;
    }
    if (g_nsecrets < LOG_MAX_SECRETS) {
        char *copy = strdup(secret);
        if (copy)
            g_secrets[g_nsecrets++] = copy;
    }
out:
    pthread_mutex_unlock(&g_secrets_lock);
}

static int is_b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '=';
}

/* Replaces s[start, end) with "***", shifting the tail. */
static size_t mask_range(char *s, size_t len, size_t start, size_t end)
{
    static const char stars[] = "***";
    size_t tail = len - end;
    memmove(s + start + 3, s + end, tail + 1);
    memcpy(s + start, stars, 3);
    return len - (end - start) + 3;
}

char *log_redact(char *s, size_t cap)
{
    (void)cap; /* masking never grows a string longer than 3 bytes per masked run >= 4 */
    if (!s)
        return s;
    size_t len = strlen(s);

    pthread_mutex_lock(&g_secrets_lock);
    for (int i = 0; i < g_nsecrets; i++) {
        size_t sl = strlen(g_secrets[i]);
        char *p = s;
        while ((p = strstr(p, g_secrets[i])) != NULL) {
            size_t at = (size_t)(p - s);
            len = mask_range(s, len, at, at + sl);
            p = s + at + 3;
        }
    }
    pthread_mutex_unlock(&g_secrets_lock);

    /* JWT-shaped (eyJ...), Fernet-shaped (gAAAAA...), tenant API key-shaped (ahk_...,
     * common/apikey.h) and "Bearer <x>" runs. */
    for (size_t i = 0; i < len; i++) {
        size_t start;
        if (strncmp(s + i, "Bearer ", 7) == 0 && i + 7 < len && s[i + 7] != '*') {
            start = i + 7;
        } else if ((strncmp(s + i, "eyJ", 3) == 0 || strncmp(s + i, "gAAAAA", 6) == 0 ||
                    strncmp(s + i, "ahk_", 4) == 0) &&
                   (i == 0 || !is_b64url(s[i - 1]))) {
            start = i;
        } else {
            continue;
        }
        size_t end = start;
        while (end < len && (is_b64url(s[end]) || s[end] == '.'))
            end++;
        if (end - start >= 8) {
            len = mask_range(s, len, start, end);
            i = start + 2;
        }
    }
    return s;
}

/* Appends a JSON string (quoted, escaped) to buf. */
static size_t put_json_str(char *buf, size_t pos, size_t cap, const char *s)
{
    if (pos + 2 >= cap)
        return pos;
    buf[pos++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && pos + 8 < cap; p++) {
        switch (*p) {
        case '"':
            buf[pos++] = '\\';
            buf[pos++] = '"';
            break;
        case '\\':
            buf[pos++] = '\\';
            buf[pos++] = '\\';
            break;
        case '\n':
            buf[pos++] = '\\';
            buf[pos++] = 'n';
            break;
        case '\r':
            buf[pos++] = '\\';
            buf[pos++] = 'r';
            break;
        case '\t':
            buf[pos++] = '\\';
            buf[pos++] = 't';
            break;
        default:
            if (*p < 0x20)
                pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", *p);
            else
                buf[pos++] = (char)*p;
        }
    }
    buf[pos++] = '"';
    return pos;
}

static size_t put_field(char *buf, size_t pos, size_t cap, const char *key, const char *val)
{
    if (!val || pos + 8 >= cap)
        return pos;
    buf[pos++] = ',';
    pos = put_json_str(buf, pos, cap, key);
    buf[pos++] = ':';
    char tmp[LOG_LINE_MAX];
    snprintf(tmp, sizeof(tmp), "%s", val);
    log_redact(tmp, sizeof(tmp));
    return put_json_str(buf, pos, cap, tmp);
}

static void emit(enum log_level level, const struct log_ctx *ctx, const char *msg, va_list *kv)
{
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t pos = (size_t)snprintf(
        line, sizeof(line), "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        ts.tv_nsec / 1000000, level_names[level]);
    size_t cap = sizeof(line) - 3;
    pos = put_field(line, pos, cap, "component", g_component);
    pos = put_field(line, pos, cap, "msg", msg);
    if (ctx) {
        pos = put_field(line, pos, cap, "tenant_id", ctx->tenant_id);
        pos = put_field(line, pos, cap, "job_id", ctx->job_id);
        pos = put_field(line, pos, cap, "trace_id", ctx->trace_id);
        pos = put_field(line, pos, cap, "request_id", ctx->request_id);
    }
    if (kv) {
        const char *k;
        while ((k = va_arg(*kv, const char *)) != NULL) {
            const char *v = va_arg(*kv, const char *);
            pos = put_field(line, pos, cap, k, v ? v : "");
        }
    }
    line[pos++] = '}';
    line[pos++] = '\n';
    ssize_t w = write(g_fd, line, pos);
    (void)w;
}

void log_vmsg(enum log_level level, const struct log_ctx *ctx, const char *fmt, va_list ap)
{
    if (level < g_level || level > LOG_ERROR)
        return;
    char msg[4096];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    emit(level, ctx, msg, NULL);
}

void log_msg(enum log_level level, const struct log_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, ctx, fmt, ap);
    va_end(ap);
}

void log_kv(enum log_level level, const struct log_ctx *ctx, const char *msg, ...)
{
    if (level < g_level || level > LOG_ERROR)
        return;
    va_list ap;
    va_start(ap, msg);
    emit(level, ctx, msg, &ap);
    va_end(ap);
}
