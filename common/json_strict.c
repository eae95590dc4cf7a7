/* json_strict.c — strict JSON parsing (json_strict.h). */
#include "json_strict.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json_number.h"

/* What a walk over a tree's numbers found, as flags. */
enum {
    NUM_NOT_FINITE = 1,    /* NaN or an infinity */
    NUM_NOT_JSON_TEXT = 2, /* a double kept in a text JSON has not: "1.", "1.e5" */
    NUM_INT_AT_LIMIT = 4,  /* INT64_MIN or UINT64_MAX, where json-c clamps what does not fit */
};

static unsigned numbers_at(json_object *o, int depth)
{
    unsigned found = 0;
    if (!o || depth > 64)
        return 0;
    switch (json_object_get_type(o)) {
    case json_type_double:
        if (!isfinite(json_object_get_double(o)))
            return NUM_NOT_FINITE;
        return json_number_text_ok(o) ? 0 : NUM_NOT_JSON_TEXT;
    case json_type_int:
        return json_object_get_int64(o) == INT64_MIN || json_object_get_uint64(o) == UINT64_MAX
                   ? NUM_INT_AT_LIMIT
                   : 0;
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            found |= numbers_at(v, depth + 1);
        }
        return found;
    }
    case json_type_array: {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            found |= numbers_at(json_object_array_get_idx(o, i), depth + 1);
        return found;
    }
    default:
        return 0;
    }
}

int json_strict_finite(json_object *o)
{
    return !(numbers_at(o, 0) & NUM_NOT_FINITE);
}

/* Does the integer s[0, n) (digits after an optional sign; leading zeros as a lenient parse
 * takes them) fit where json-c puts it: int64 when negative, uint64 otherwise? */
static int int_fits(const char *s, size_t n)
{
    int neg = n && *s == '-';
    if (n && (*s == '-' || *s == '+'))
        s++, n--;
    while (n > 1 && *s == '0')
        s++, n--;
    const char *lim = neg ? "9223372036854775808" : "18446744073709551615";
    size_t ln = strlen(lim);
    return n < ln || (n == ln && memcmp(s, lim, n) <= 0);
}

long json_strict_int_beyond(const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        char c = buf[i];
        if (c == '"' || c == '\'') { /* a string (single-quoted: json-c's lenient mode) */
            for (i++; i < len && buf[i] != c; i++)
                if (buf[i] == '\\')
                    i++;
            i++;
        } else if (c == '/' && i + 1 < len && (buf[i + 1] == '/' || buf[i + 1] == '*')) {
            const char *e = buf[i + 1] == '/' ? memchr(buf + i, '\n', len - i)
                                              : memmem(buf + i + 2, len - i - 2, "*/", 2);
            i = e ? (size_t)(e - buf) + 1 : len; /* a comment: lenient mode again */
        } else if (c == '-' || c == '+' || (c >= '0' && c <= '9')) {
            size_t start = i++;
            while (i < len && buf[i] >= '0' && buf[i] <= '9')
                i++;
            if (i < len && (buf[i] == '.' || buf[i] == 'e' || buf[i] == 'E')) {
                while (i < len && strchr("0123456789.eE+-", buf[i])) /* a double */
                    i++;
            } else if (!int_fits(buf + start, i - start)) {
                return (long)start;
            }
        } else {
            i++;
        }
    }
    return -1;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int json_strict_parse(const char *buf, size_t len, int max_depth, unsigned flags, json_object **out,
                      char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!buf || len == 0)
        return fail(err, errlen, "no JSON value at byte 0");
    const char *nul = memchr(buf, '\0', len);
    if (nul)
        return fail(err, errlen, "NUL byte at byte %zu", (size_t)(nul - buf));
    if (len > (size_t)INT32_MAX)
        return fail(err, errlen, "more than %d bytes at byte 0", INT32_MAX);
    json_tokener *tok = json_tokener_new_ex(max_depth);
    if (!tok)
        return fail(err, errlen, "out of memory at byte 0");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
                                    ((flags & JSON_STRICT_UTF8) ? JSON_TOKENER_VALIDATE_UTF8 : 0));
    json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (!o && jerr == json_tokener_continue) {
        /* The input ended inside a value ("42", or one cut short): a NUL marks the end. */
        o = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        end = len;
    }
    json_tokener_free(tok);
    size_t rest = end; /* buf is not NUL-terminated: stay inside len */
    while (rest < len && strchr(" \t\r\n", buf[rest]))
        rest++;
    int rc = -1;
    long at = -1;
    /* one walk over the numbers (depth: at most max_depth, as the tokener allowed); the text
     * is scanned only when an integer sits where json-c clamps */
    unsigned found = jerr == json_tokener_success ? numbers_at(o, 0) : 0;
    if (jerr != json_tokener_success)
        fail(err, errlen, "%s at byte %zu", json_tokener_error_desc(jerr), end);
    else if (rest < len)
        fail(err, errlen, "text after the value at byte %zu", rest);
    else if (found & NUM_NOT_FINITE)
        fail(err, errlen,
             "a number is NaN, an infinity or beyond the range of a double (JSON "
             "has no such numbers)");
    else if (found & NUM_NOT_JSON_TEXT)
        fail(err, errlen, "a number is not written as JSON writes numbers (like 1. or 1.e5)");
    else if ((found & NUM_INT_AT_LIMIT) && (at = json_strict_int_beyond(buf, len)) >= 0)
        fail(err, errlen,
             "an integer at byte %ld is beyond 64 bits (it would change; send it as a string)", at);
    else
        rc = 0;
    if (rc == 0)
        *out = o;
    else
        json_object_put(o);
    return rc;
}
