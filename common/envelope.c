/* envelope.c — encode, decode and derive job envelopes (see envelope.h).
 *
 * Decoding rules (the first problem found is reported in err):
 *   - the text is at most ENVELOPE_MAX_BYTES, has no NUL byte, is one JSON value (strict
 *     JSON (json_strict.h: UTF-8 checked, no NaN or infinities, nesting at most
 *     ENVELOPE_MAX_DEPTH) and that value is an object;
 *   - "version" is the integer ENVELOPE_VERSION;
 *   - required strings: type ([a-z0-9._-]{1,31}), job_id (UUID), tenant_id
 *     ([A-Za-z0-9_-]{1,64}), user_id (1..128 bytes, no control characters), traceparent
 *     (W3C, version 00 form), created_at (RFC 3339);
 *   - session_id and message_id (UUIDs) are required for "chat.*" types, optional for
 *     others (a doc.request has no chat session); when present they must be valid;
 *   - "attempt" is optional (0 when absent), an integer 0..1000000;
 *   - "payload" is required and is an object;
 *   - any other member is ignored, so a newer producer can add fields.
 * Strings never contain NUL (a "\u0000" escape is rejected as well).
 */
#include "envelope.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json_strict.h"
#include "traceparent.h"
#include "uuid.h"

#define ENVELOPE_MAX_DEPTH 64
#define ENVELOPE_MAX_ATTEMPT 1000000

static void env_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void env_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int tenant_id_valid(const char *s)
{
    size_t i;
    if (!s)
        return 0;
    for (i = 0; s[i]; i++) {
        char c = s[i];
        if (i >= 64)
            return 0;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return i > 0;
}

static int env_type_valid(const char *s)
{
    size_t i;
    for (i = 0; s[i]; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return i > 0 && i < sizeof(((struct envelope *)0)->type);
}

static int env_digits(const char *s, int n)
{
    int i;
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM). */
static int env_rfc3339_valid(const char *s)
{
    const char *p = s;
    if (!env_digits(p, 4) || p[4] != '-' || !env_digits(p + 5, 2) || p[7] != '-' ||
        !env_digits(p + 8, 2) || (p[10] != 'T' && p[10] != 't' && p[10] != ' ') ||
        !env_digits(p + 11, 2) || p[13] != ':' || !env_digits(p + 14, 2) || p[16] != ':' ||
        !env_digits(p + 17, 2))
        return 0;
    p += 19;
    if (*p == '.') {
        p++;
        if (!env_digits(p, 1))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0';
    if (*p == '+' || *p == '-')
        return env_digits(p + 1, 2) && p[3] == ':' && env_digits(p + 4, 2) && p[6] == '\0';
    return 0;
}

static int env_user_valid(const char *s)
{
    size_t i;
    for (i = 0; s[i]; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return i > 0;
}

/* Copies the string member `name` into dst (cap bytes with the NUL). Returns 1 copied,
 * 0 absent (only when !required), -1 error (err filled). */
static int env_get_str(json_object *root, const char *name, int required, char *dst, size_t cap,
                       char *err, size_t errlen)
{
    json_object *v = NULL;
    const char *s;
    int n;

    if (!json_object_object_get_ex(root, name, &v)) {
        if (!required)
            return 0;
        env_err(err, errlen, "envelope: missing field \"%s\"", name);
        return -1;
    }
    if (!json_object_is_type(v, json_type_string)) {
        env_err(err, errlen, "envelope: field \"%s\" must be a string", name);
        return -1;
    }
    s = json_object_get_string(v);
    n = json_object_get_string_len(v);
    if (n < 0 || (size_t)n != strlen(s)) {
        env_err(err, errlen, "envelope: field \"%s\" contains a NUL character", name);
        return -1;
    }
    if ((size_t)n >= cap) {
        env_err(err, errlen, "envelope: field \"%s\" is too long (%d bytes, at most %zu)", name, n,
                cap - 1);
        return -1;
    }
    memcpy(dst, s, (size_t)n + 1);
    return 1;
}

static int env_parse(const char *buf, size_t len, json_object **out, char *err, size_t errlen)
{
    char why[192];
    if (json_strict_parse(buf, len, ENVELOPE_MAX_DEPTH, JSON_STRICT_UTF8, out, why, sizeof why) !=
        0) {
        env_err(err, errlen, "envelope: not valid JSON (%s)", why);
        return -EINVAL;
    }
    return 0; /* *out is NULL for the literal null: the caller reports its type */
}

int envelope_decode(struct envelope *e, const char *buf, size_t len, char *err, size_t errlen)
{
    json_object *root = NULL, *v = NULL;
    struct traceparent tp;
    int is_chat, r, rc = -EINVAL;
    int64_t n;

    memset(e, 0, sizeof(*e));
    if (err && errlen)
        err[0] = '\0';
    if (!buf || len == 0) {
        env_err(err, errlen, "envelope: empty message");
        goto out;
    }
    if (len > (size_t)ENVELOPE_MAX_BYTES) {
        env_err(err, errlen, "envelope: too large (%zu bytes, at most %d)", len,
                ENVELOPE_MAX_BYTES);
        goto out;
    }
    rc = env_parse(buf, len, &root, err, errlen);
    if (rc != 0)
        goto out;
    rc = -EINVAL;
    if (!json_object_is_type(root, json_type_object)) {
        env_err(err, errlen, "envelope: not a JSON object (got %s)",
                json_type_to_name(json_object_get_type(root)));
        goto out;
    }

    if (!json_object_object_get_ex(root, "version", &v)) {
        env_err(err, errlen, "envelope: missing field \"version\"");
        goto out;
    }
    if (!json_object_is_type(v, json_type_int)) {
        env_err(err, errlen, "envelope: field \"version\" must be an integer");
        goto out;
    }
    n = json_object_get_int64(v);
    if (n != ENVELOPE_VERSION) {
        env_err(err, errlen, "envelope: unsupported version %lld (this build reads %d)",
                (long long)n, ENVELOPE_VERSION);
        goto out;
    }
    e->version = ENVELOPE_VERSION;

    if (env_get_str(root, "type", 1, e->type, sizeof(e->type), err, errlen) < 0)
        goto out;
    if (!env_type_valid(e->type)) {
        env_err(err, errlen, "envelope: invalid type (expected [a-z0-9._-]{1,31})");
        goto out;
    }
    is_chat = strncmp(e->type, "chat.", 5) == 0;

    if (env_get_str(root, "job_id", 1, e->job_id, sizeof(e->job_id), err, errlen) < 0)
        goto out;
    if (!uuid_valid(e->job_id)) {
        env_err(err, errlen, "envelope: field \"job_id\" is not a UUID");
        goto out;
    }
    if (env_get_str(root, "tenant_id", 1, e->tenant_id, sizeof(e->tenant_id), err, errlen) < 0)
        goto out;
    if (!tenant_id_valid(e->tenant_id)) {
        env_err(err, errlen, "envelope: invalid tenant_id (expected [A-Za-z0-9_-]{1,64})");
        goto out;
    }
    if (env_get_str(root, "user_id", 1, e->user_id, sizeof(e->user_id), err, errlen) < 0)
        goto out;
    if (!env_user_valid(e->user_id)) {
        env_err(err, errlen, "envelope: invalid user_id (empty or control characters)");
        goto out;
    }
    r = env_get_str(root, "session_id", is_chat, e->session_id, sizeof(e->session_id), err, errlen);
    if (r < 0)
        goto out;
    if (r > 0 && !uuid_valid(e->session_id)) {
        env_err(err, errlen, "envelope: field \"session_id\" is not a UUID");
        goto out;
    }
    r = env_get_str(root, "message_id", is_chat, e->message_id, sizeof(e->message_id), err, errlen);
    if (r < 0)
        goto out;
    if (r > 0 && !uuid_valid(e->message_id)) {
        env_err(err, errlen, "envelope: field \"message_id\" is not a UUID");
        goto out;
    }
    if (env_get_str(root, "traceparent", 1, e->traceparent, sizeof(e->traceparent), err, errlen) <
        0)
        goto out;
    if (traceparent_parse(e->traceparent, &tp) != 0 || strncmp(e->traceparent, "00-", 3) != 0) {
        env_err(err, errlen, "envelope: invalid traceparent");
        goto out;
    }
    if (env_get_str(root, "created_at", 1, e->created_at, sizeof(e->created_at), err, errlen) < 0)
        goto out;
    if (!env_rfc3339_valid(e->created_at)) {
        env_err(err, errlen, "envelope: field \"created_at\" is not an RFC 3339 time");
        goto out;
    }

    if (json_object_object_get_ex(root, "attempt", &v)) {
        if (!json_object_is_type(v, json_type_int)) {
            env_err(err, errlen, "envelope: field \"attempt\" must be an integer");
            goto out;
        }
        n = json_object_get_int64(v);
        if (n < 0 || n > ENVELOPE_MAX_ATTEMPT) {
            env_err(err, errlen, "envelope: field \"attempt\" out of range (0..%d)",
                    ENVELOPE_MAX_ATTEMPT);
            goto out;
        }
        e->attempt = (int)n;
    }

    if (!json_object_object_get_ex(root, "payload", &v)) {
        env_err(err, errlen, "envelope: missing field \"payload\"");
        goto out;
    }
    if (!json_object_is_type(v, json_type_object)) {
        env_err(err, errlen, "envelope: field \"payload\" must be an object");
        goto out;
    }
    e->payload = json_object_get(v);
    rc = 0;
out:
    json_object_put(root);
    if (rc != 0) {
        json_object_put(e->payload);
        memset(e, 0, sizeof(*e));
    }
    return rc;
}

static int env_add_str(json_object *o, const char *key, const char *val)
{
    json_object *s = json_object_new_string(val);
    if (!s)
        return -1;
    if (json_object_object_add(o, key, s) != 0) {
        json_object_put(s);
        return -1;
    }
    return 0;
}

char *envelope_encode(const struct envelope *e)
{
    json_object *o = NULL, *v = NULL;
    const char *text;
    char *out = NULL;

    o = json_object_new_object();
    if (!o)
        goto out;
    v = json_object_new_int(e->version ? e->version : ENVELOPE_VERSION);
    if (!v || json_object_object_add(o, "version", v) != 0)
        goto out;
    v = NULL;
    if (env_add_str(o, "type", e->type) || env_add_str(o, "job_id", e->job_id) ||
        env_add_str(o, "tenant_id", e->tenant_id) || env_add_str(o, "user_id", e->user_id))
        goto out;
    if (e->session_id[0] && env_add_str(o, "session_id", e->session_id))
        goto out;
    if (e->message_id[0] && env_add_str(o, "message_id", e->message_id))
        goto out;
    if (env_add_str(o, "traceparent", e->traceparent) ||
        env_add_str(o, "created_at", e->created_at))
        goto out;
    v = json_object_new_int(e->attempt);
    if (!v || json_object_object_add(o, "attempt", v) != 0)
        goto out;
    v = e->payload ? json_object_get(e->payload) : json_object_new_object();
    if (!v || json_object_object_add(o, "payload", v) != 0)
        goto out;
    v = NULL;
    text =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (text)
        out = strdup(text);
out:
    json_object_put(v);
    json_object_put(o);
    return out;
}

static void env_now_rfc3339(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    char date[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    if (strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        date[0] = '\0';
    snprintf(out, cap, "%.19s.%03dZ", date, (int)(ts.tv_nsec / 1000000) % 1000);
}

int envelope_init(struct envelope *e, const char *type, const struct envelope *parent)
{
    struct traceparent ptp, tp;
    char tpbuf[sizeof(e->traceparent)];
    int rc = -EINVAL;

    memset(e, 0, sizeof(*e));
    if (!type || strlen(type) >= sizeof(e->type))
        goto out;
    e->version = ENVELOPE_VERSION;
    memcpy(e->type, type, strlen(type) + 1);
    rc = -EIO; /* no randomness from the OS */
    if (parent) {
        memcpy(e->job_id, parent->job_id, sizeof(e->job_id));
        memcpy(e->tenant_id, parent->tenant_id, sizeof(e->tenant_id));
        memcpy(e->user_id, parent->user_id, sizeof(e->user_id));
        memcpy(e->session_id, parent->session_id, sizeof(e->session_id));
        memcpy(e->message_id, parent->message_id, sizeof(e->message_id));
        /* The fixed buffers of a caller-filled parent may lack a NUL: terminate them. */
        e->job_id[sizeof(e->job_id) - 1] = '\0';
        e->tenant_id[sizeof(e->tenant_id) - 1] = '\0';
        e->user_id[sizeof(e->user_id) - 1] = '\0';
        e->session_id[sizeof(e->session_id) - 1] = '\0';
        e->message_id[sizeof(e->message_id) - 1] = '\0';
        memcpy(tpbuf, parent->traceparent, sizeof(tpbuf));
        tpbuf[sizeof(tpbuf) - 1] = '\0';
        if (traceparent_parse(tpbuf, &ptp) == 0) {
            if (traceparent_child(&ptp, &tp) != 0)
                goto out;
        } else if (traceparent_new(&tp) != 0) {
            goto out; /* a parent without a usable trace starts a new one */
        }
    } else {
        if (uuid_v4(e->job_id) != 0 || traceparent_new(&tp) != 0)
            goto out;
    }
    traceparent_format(&tp, e->traceparent);
    env_now_rfc3339(e->created_at, sizeof(e->created_at));
    e->attempt = 0;
    rc = -ENOMEM;
    e->payload = json_object_new_object();
    if (!e->payload)
        goto out;
    rc = 0;
out:
    if (rc != 0) {
        json_object_put(e->payload);
        memset(e, 0, sizeof(*e));
    }
    return rc;
}

void envelope_cleanup(struct envelope *e)
{
    if (!e)
        return;
    json_object_put(e->payload);
    e->payload = NULL;
}
