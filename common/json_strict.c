/* json_strict.c — strict JSON parsing (json_strict.h). */
#include "json_strict.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json_number.h"

static int finite_at(json_object *o, int depth)
{
    if (!o || depth > 64)
        return 1;
    switch (json_object_get_type(o)) {
    case json_type_double:
        return isfinite(json_object_get_double(o));
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            if (!finite_at(v, depth + 1))
                return 0;
        }
        return 1;
    }
    case json_type_array: {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            if (!finite_at(json_object_array_get_idx(o, i), depth + 1))
                return 0;
        return 1;
    }
    default:
        return 1;
    }
}

int json_strict_finite(json_object *o)
{
    return finite_at(o, 0);
}

/* json-c's strict mode still takes "1." and "1.e5", and keeps a parsed double's text to write
 * it back as it came: each double's text must be a JSON number. (Integers are written from
 * their value.) */
static int forms_at(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_double:
        return json_number_form_ok(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            if (!forms_at(v))
                return 0;
        }
        return 1;
    }
    case json_type_array: {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            if (!forms_at(json_object_array_get_idx(o, i)))
                return 0;
        return 1;
    }
    default:
        return 1;
    }
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
    if (jerr != json_tokener_success)
        fail(err, errlen, "%s at byte %zu", json_tokener_error_desc(jerr), end);
    else if (rest < len)
        fail(err, errlen, "text after the value at byte %zu", rest);
    else if (!json_strict_finite(o))
        fail(err, errlen,
             "a number is NaN, an infinity or beyond the range of a double (JSON "
             "has no such numbers)");
    else if (!forms_at(o)) /* depth: at most max_depth, as the tokener allowed */
        fail(err, errlen, "a number is not written as JSON writes numbers (like 1. or 1.e5)");
    else
        rc = 0;
    if (rc == 0)
        *out = o;
    else
        json_object_put(o);
    return rc;
}
