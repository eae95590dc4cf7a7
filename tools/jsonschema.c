/* jsonschema.c — draft-07 subset validator; see jsonschema.h for the supported keywords.
 *
 * The validator walks schema and instance together, carrying the JSON pointer of the
 * instance value in a fixed buffer. It stops at the first violation: tool arguments come
 * from an LLM, and one precise message ("/mst: ...") is what the model needs to fix its call.
 */
#include "jsonschema.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_CAP 512

struct jpath {
    char buf[PATH_CAP];
    size_t len;
};

static void seterr(char *err, size_t errlen, const struct jpath *p, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void seterr(char *err, size_t errlen, const struct jpath *p, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", p && p->len ? p->buf : "(root)", msg);
}

/* Appends "/seg" with ~ and / escaped (RFC 6901), cut with "..." where the buffer ends.
 * Returns the old length to restore. len stays at most PATH_CAP - 2: a push starts only with
 * room for "/..." and the NUL (a path already cut there stays as it is), so the "..." that
 * cuts a segment always fits. It once did not: a long path cut near the end, then one more
 * level, wrote "..." past buf into len (schemas and a model's arguments set the keys). */
static size_t jpath_push(struct jpath *p, const char *seg)
{
    size_t old = p->len;
    if (p->len + 5 >= PATH_CAP)
        return old;
    p->buf[p->len++] = '/';
    for (const char *s = seg; *s; s++) {
        const char *rep = NULL;
        char one[2] = {*s, 0};
        if (*s == '~')
            rep = "~0";
        else if (*s == '/')
            rep = "~1";
        else
            rep = one;
        size_t rl = strlen(rep);
        if (p->len + rl + 4 >= PATH_CAP) {
            memcpy(p->buf + p->len, "...", 3);
            p->len += 3;
            break;
        }
        memcpy(p->buf + p->len, rep, rl);
        p->len += rl;
    }
    p->buf[p->len] = 0;
    return old;
}

static size_t jpath_push_idx(struct jpath *p, size_t i)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%zu", i);
    return jpath_push(p, tmp);
}

static void jpath_pop(struct jpath *p, size_t old)
{
    p->len = old;
    p->buf[old] = 0;
}

static int is_number(json_object *o)
{
    enum json_type t = json_object_get_type(o);
    return t == json_type_int || t == json_type_double;
}

/* The bound an exclusiveMinimum/exclusiveMaximum keyword sets: a number (draft 6+), or true
 * with the bound in minimum/maximum (draft 4). 1 with *lim set, 0 when there is none. */
static int exclusive_limit(json_object *schema, const char *key, const char *bound_key, double *lim)
{
    json_object *v = NULL, *m = NULL;
    if (!json_object_object_get_ex(schema, key, &v))
        return 0;
    if (is_number(v)) {
        *lim = json_object_get_double(v);
        return 1;
    }
    if (json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v) &&
        json_object_object_get_ex(schema, bound_key, &m) && is_number(m)) {
        *lim = json_object_get_double(m);
        return 1;
    }
    return 0;
}

static int is_integer(json_object *o)
{
    enum json_type t = json_object_get_type(o);
    if (t == json_type_int)
        return 1;
    if (t == json_type_double) {
        double d = json_object_get_double(o);
        return isfinite(d) && floor(d) == d;
    }
    return 0;
}

/* Non-negative integer keyword value (minLength, maxItems, ...). */
static int get_count(json_object *v, long long *out)
{
    if (!is_integer(v))
        return -1;
    double d = json_object_get_double(v);
    if (d < 0 || d > 1e15)
        return -1;
    *out = (long long)d;
    return 0;
}

static const char *const TYPE_NAMES[] = {"string", "number", "integer", "boolean",
                                         "object", "array",  "null"};

static int type_known(const char *s)
{
    for (size_t i = 0; i < sizeof TYPE_NAMES / sizeof TYPE_NAMES[0]; i++)
        if (strcmp(s, TYPE_NAMES[i]) == 0)
            return 1;
    return 0;
}

static int type_matches(const char *t, json_object *inst)
{
    enum json_type jt = json_object_get_type(inst);
    if (strcmp(t, "string") == 0)
        return jt == json_type_string;
    if (strcmp(t, "number") == 0)
        return is_number(inst);
    if (strcmp(t, "integer") == 0)
        return is_integer(inst);
    if (strcmp(t, "boolean") == 0)
        return jt == json_type_boolean;
    if (strcmp(t, "object") == 0)
        return jt == json_type_object;
    if (strcmp(t, "array") == 0)
        return jt == json_type_array;
    if (strcmp(t, "null") == 0)
        return jt == json_type_null;
    return 0;
}

static const char *instance_type_name(json_object *inst)
{
    switch (json_object_get_type(inst)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "boolean";
    case json_type_int:
        return "integer";
    case json_type_double:
        return "number";
    case json_type_string:
        return "string";
    case json_type_object:
        return "object";
    case json_type_array:
        return "array";
    }
    return "unknown";
}

/* JSON equality as the spec defines it: numbers by value (1 == 1.0), objects unordered. */
static int json_equal(json_object *a, json_object *b, int depth)
{
    if (depth > JSONSCHEMA_MAX_DEPTH)
        return 0;
    if (is_number(a) && is_number(b)) {
        if (json_object_get_type(a) == json_type_int && json_object_get_type(b) == json_type_int)
            return json_object_get_int64(a) == json_object_get_int64(b);
        return json_object_get_double(a) == json_object_get_double(b);
    }
    enum json_type ta = json_object_get_type(a), tb = json_object_get_type(b);
    if (ta != tb)
        return 0;
    switch (ta) {
    case json_type_null:
        return 1;
    case json_type_boolean:
        return json_object_get_boolean(a) == json_object_get_boolean(b);
    case json_type_string:
        return json_object_get_string_len(a) == json_object_get_string_len(b) &&
               memcmp(json_object_get_string(a), json_object_get_string(b),
                      (size_t)json_object_get_string_len(a)) == 0;
    case json_type_array: {
        size_t n = json_object_array_length(a);
        if (n != json_object_array_length(b))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!json_equal(json_object_array_get_idx(a, i), json_object_array_get_idx(b, i),
                            depth + 1))
                return 0;
        return 1;
    }
    case json_type_object: {
        if (json_object_object_length(a) != json_object_object_length(b))
            return 0;
        json_object_object_foreach(a, k, va)
        {
            json_object *vb;
            if (!json_object_object_get_ex(b, k, &vb))
                return 0;
            if (!json_equal(va, vb, depth + 1))
                return 0;
        }
        return 1;
    }
    default:
        return 0;
    }
}

/* Number of UTF-8 code points (invalid bytes count one each). */
static size_t utf8_len(const char *s, size_t n)
{
    size_t cps = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            cps++;
    return cps;
}

/* Rewrites the ECMA shorthands \d \w \s (and upper-case negations) outside bracket
 * expressions into POSIX classes, since schemas written for JavaScript use them all the
 * time and POSIX ERE has no such escapes. Returns a malloc'd string or NULL. */
static char *pattern_translate(const char *pat)
{
    size_t n = strlen(pat);
    size_t cap = n * 16 + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t o = 0;
    int in_bracket = 0;
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < n) {
            char e = pat[i + 1];
            const char *rep = NULL;
            if (!in_bracket) {
                switch (e) {
                case 'd':
                    rep = "[0-9]";
                    break;
                case 'D':
                    rep = "[^0-9]";
                    break;
                case 'w':
                    rep = "[[:alnum:]_]";
                    break;
                case 'W':
                    rep = "[^[:alnum:]_]";
                    break;
                case 's':
                    rep = "[[:space:]]";
                    break;
                case 'S':
                    rep = "[^[:space:]]";
                    break;
                default:
                    break;
                }
            } else {
                switch (e) {
                case 'd':
                    rep = "0-9";
                    break;
                case 'w':
                    rep = "[:alnum:]_";
                    break;
                case 's':
                    rep = "[:space:]";
                    break;
                default:
                    break;
                }
            }
            if (rep) {
                size_t rl = strlen(rep);
                memcpy(out + o, rep, rl);
                o += rl;
            } else {
                out[o++] = c;
                out[o++] = e;
            }
            i++;
            continue;
        }
        if (!in_bracket && c == '[') {
            in_bracket = 1;
            out[o++] = c;
            /* "[]" and "[^]" take a literal ] first */
            if (i + 1 < n && pat[i + 1] == '^')
                out[o++] = pat[++i];
            if (i + 1 < n && pat[i + 1] == ']')
                out[o++] = pat[++i];
            continue;
        }
        if (in_bracket && c == '[' && i + 1 < n &&
            (pat[i + 1] == ':' || pat[i + 1] == '.' || pat[i + 1] == '=')) {
            /* [:class:] inside a bracket: copy through to the closing ":]" */
            char delim = pat[i + 1];
            const char *end = NULL;
            for (size_t j = i + 2; j + 1 < n; j++)
                if (pat[j] == delim && pat[j + 1] == ']') {
                    end = pat + j + 1;
                    break;
                }
            if (end) {
                size_t len = (size_t)(end - (pat + i)) + 1;
                memcpy(out + o, pat + i, len);
                o += len;
                i += len - 1;
                continue;
            }
        }
        if (in_bracket && c == ']')
            in_bracket = 0;
        out[o++] = c;
    }
    out[o] = 0;
    return out;
}

/* glibc's regcomp copies the parse tree for every bounded repetition and accepts stacked
 * quantifiers ("a+++", "(a{50}){50}"), so a short pattern can take gigabytes to compile.
 * Patterns are therefore limited: JSONSCHEMA_MAX_PATTERN bytes, no quantifier directly after
 * another, repetition bounds up to 100, at most 8 bounded repetitions whose bounds multiply
 * to at most 10000. */
static int pattern_sane(const char *pat, char *msg, size_t msglen)
{
    size_t n = strlen(pat);
    int in_bracket = 0, prev_quant = 0, nbounds = 0;
    long product = 1; /* nesting is not tracked: bound the product of all bounds */
    if (n > JSONSCHEMA_MAX_PATTERN) {
        snprintf(msg, msglen, "pattern longer than %d bytes", JSONSCHEMA_MAX_PATTERN);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\\') {
            i++;
            prev_quant = 0;
            continue;
        }
        if (in_bracket) {
            if (c == ']')
                in_bracket = 0;
            continue;
        }
        if (c == '[') {
            in_bracket = 1;
            if (i + 1 < n && pat[i + 1] == '^')
                i++;
            if (i + 1 < n && pat[i + 1] == ']')
                i++;
            prev_quant = 0;
            continue;
        }
        int quant = c == '*' || c == '+' || c == '?' || c == '{';
        if (quant && prev_quant) {
            snprintf(msg, msglen, "stacked quantifiers are not supported");
            return -EINVAL;
        }
        if (c == '{') {
            char *end = NULL;
            long lo = strtol(pat + i + 1, &end, 10), hi = lo;
            if (end && *end == ',')
                hi = end[1] == '}' ? 0 : strtol(end + 1, &end, 10);
            else if (end && *end != '}')
                end = NULL;
            long m = hi > lo ? hi : lo;
            int bad = !end || lo < 0 || lo > 100 || hi < 0 || hi > 100 || ++nbounds > 8;
            if (!bad && m > 1) /* only a bound in range is multiplied in: no overflow */
                product *= m;
            if (bad || product > 10000) {
                snprintf(msg, msglen,
                         "repetition bounds must be 0..100, at most 8 of them, "
                         "product at most 10000");
                return -EINVAL;
            }
            const char *close = strchr(pat + i, '}');
            if (!close) {
                snprintf(msg, msglen, "unterminated repetition bound");
                return -EINVAL;
            }
            i = (size_t)(close - pat);
        }
        prev_quant = quant;
    }
    return 0;
}

static int pattern_compile(const char *pat, regex_t *re, char *msg, size_t msglen)
{
    int src = pattern_sane(pat, msg, msglen);
    if (src)
        return src;
    char *tr = pattern_translate(pat);
    if (!tr) {
        snprintf(msg, msglen, "out of memory");
        return -ENOMEM;
    }
    int rc = regcomp(re, tr, REG_EXTENDED | REG_NOSUB);
    free(tr);
    if (rc != 0) {
        regerror(rc, re, msg, msglen);
        return -EINVAL;
    }
    return 0;
}

static int validate(json_object *schema, json_object *inst, struct jpath *p, int depth, char *err,
                    size_t errlen);

static int validate_object(json_object *schema, json_object *inst, struct jpath *p, int depth,
                           char *err, size_t errlen)
{
    json_object *props = NULL, *req = NULL, *addl = NULL;
    json_object_object_get_ex(schema, "properties", &props);
    json_object_object_get_ex(schema, "required", &req);
    json_object_object_get_ex(schema, "additionalProperties", &addl);

    if (req && json_object_is_type(req, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(req); i++) {
            const char *name = json_object_get_string(json_object_array_get_idx(req, i));
            if (name && !json_object_object_get_ex(inst, name, NULL)) {
                size_t old = jpath_push(p, name);
                seterr(err, errlen, p, "required property missing");
                jpath_pop(p, old);
                return -EINVAL;
            }
        }
    }
    json_object_object_foreach(inst, k, v)
    {
        json_object *sub = NULL;
        int known = props && json_object_is_type(props, json_type_object) &&
                    json_object_object_get_ex(props, k, &sub);
        size_t old = jpath_push(p, k);
        int rc = 0;
        if (known) {
            rc = validate(sub, v, p, depth + 1, err, errlen);
        } else if (addl) {
            if (json_object_is_type(addl, json_type_boolean)) {
                if (!json_object_get_boolean(addl)) {
                    seterr(err, errlen, p, "additional property not allowed");
                    rc = -EINVAL;
                }
            } else {
                rc = validate(addl, v, p, depth + 1, err, errlen);
            }
        }
        jpath_pop(p, old);
        if (rc)
            return rc;
    }
    return 0;
}

static int validate(json_object *schema, json_object *inst, struct jpath *p, int depth, char *err,
                    size_t errlen)
{
    if (depth > JSONSCHEMA_MAX_DEPTH) {
        seterr(err, errlen, p, "nesting deeper than %d levels", JSONSCHEMA_MAX_DEPTH);
        return -E2BIG;
    }
    if (!schema)
        return 0;
    if (json_object_is_type(schema, json_type_boolean)) {
        if (json_object_get_boolean(schema))
            return 0;
        seterr(err, errlen, p, "no value is allowed here");
        return -EINVAL;
    }
    if (!json_object_is_type(schema, json_type_object)) {
        seterr(err, errlen, p, "schema is not an object");
        return -EINVAL;
    }

    json_object *v;
    if (json_object_object_get_ex(schema, "type", &v)) {
        int ok = 0;
        if (json_object_is_type(v, json_type_string)) {
            ok = type_matches(json_object_get_string(v), inst);
            if (!ok) {
                seterr(err, errlen, p, "expected %s, got %s", json_object_get_string(v),
                       instance_type_name(inst));
                return -EINVAL;
            }
        } else if (json_object_is_type(v, json_type_array)) {
            char names[128] = "";
            for (size_t i = 0; i < json_object_array_length(v) && !ok; i++) {
                const char *t = json_object_get_string(json_object_array_get_idx(v, i));
                if (!t)
                    continue;
                ok = type_matches(t, inst);
                size_t nl = strlen(names);
                snprintf(names + nl, sizeof names - nl, "%s%s", nl ? " or " : "", t);
            }
            if (!ok) {
                seterr(err, errlen, p, "expected %s, got %s", names, instance_type_name(inst));
                return -EINVAL;
            }
        }
    }
    if (json_object_object_get_ex(schema, "enum", &v) && json_object_is_type(v, json_type_array)) {
        int found = 0;
        for (size_t i = 0; i < json_object_array_length(v) && !found; i++)
            found = json_equal(json_object_array_get_idx(v, i), inst, 0);
        if (!found) {
            seterr(err, errlen, p, "value is not one of the allowed values (enum)");
            return -EINVAL;
        }
    }
    if (json_object_object_get_ex(schema, "const", &v) && !json_equal(v, inst, 0)) {
        seterr(err, errlen, p, "value does not equal const");
        return -EINVAL;
    }

    enum json_type it = json_object_get_type(inst);
    long long cnt;
    if (it == json_type_string) {
        const char *s = json_object_get_string(inst);
        size_t blen = (size_t)json_object_get_string_len(inst);
        size_t cps = utf8_len(s, blen);
        if (json_object_object_get_ex(schema, "minLength", &v) && get_count(v, &cnt) == 0 &&
            (long long)cps < cnt) {
            seterr(err, errlen, p, "string shorter than minLength %lld", cnt);
            return -EINVAL;
        }
        if (json_object_object_get_ex(schema, "maxLength", &v) && get_count(v, &cnt) == 0 &&
            (long long)cps > cnt) {
            seterr(err, errlen, p, "string longer than maxLength %lld", cnt);
            return -EINVAL;
        }
        if (json_object_object_get_ex(schema, "pattern", &v) &&
            json_object_is_type(v, json_type_string)) {
            regex_t re;
            char msg[128];
            if (pattern_compile(json_object_get_string(v), &re, msg, sizeof msg) != 0) {
                seterr(err, errlen, p, "schema pattern does not compile: %s", msg);
                return -EINVAL;
            }
            int m = strlen(s) == blen ? regexec(&re, s, 0, NULL, 0) : REG_NOMATCH;
            regfree(&re);
            if (m != 0) {
                seterr(err, errlen, p, "string does not match pattern %s",
                       json_object_get_string(v));
                return -EINVAL;
            }
        }
    } else if (it == json_type_int || it == json_type_double) {
        double d = json_object_get_double(inst);
        if (json_object_object_get_ex(schema, "minimum", &v) && is_number(v) &&
            d < json_object_get_double(v)) {
            seterr(err, errlen, p, "number below minimum %g", json_object_get_double(v));
            return -EINVAL;
        }
        if (json_object_object_get_ex(schema, "maximum", &v) && is_number(v) &&
            d > json_object_get_double(v)) {
            seterr(err, errlen, p, "number above maximum %g", json_object_get_double(v));
            return -EINVAL;
        }
        double lim;
        if (exclusive_limit(schema, "exclusiveMinimum", "minimum", &lim) && d <= lim) {
            seterr(err, errlen, p, "number not above exclusiveMinimum %g", lim);
            return -EINVAL;
        }
        if (exclusive_limit(schema, "exclusiveMaximum", "maximum", &lim) && d >= lim) {
            seterr(err, errlen, p, "number not below exclusiveMaximum %g", lim);
            return -EINVAL;
        }
    } else if (it == json_type_array) {
        size_t n = json_object_array_length(inst);
        if (json_object_object_get_ex(schema, "minItems", &v) && get_count(v, &cnt) == 0 &&
            (long long)n < cnt) {
            seterr(err, errlen, p, "array has fewer than minItems %lld", cnt);
            return -EINVAL;
        }
        if (json_object_object_get_ex(schema, "maxItems", &v) && get_count(v, &cnt) == 0 &&
            (long long)n > cnt) {
            seterr(err, errlen, p, "array has more than maxItems %lld", cnt);
            return -EINVAL;
        }
        if (json_object_object_get_ex(schema, "items", &v)) {
            for (size_t i = 0; i < n; i++) {
                size_t old = jpath_push_idx(p, i);
                int rc = validate(v, json_object_array_get_idx(inst, i), p, depth + 1, err, errlen);
                jpath_pop(p, old);
                if (rc)
                    return rc;
            }
        }
    } else if (it == json_type_object) {
        return validate_object(schema, inst, p, depth, err, errlen);
    }
    return 0;
}

int jsonschema_validate(json_object *schema, json_object *instance, char *err, size_t errlen)
{
    struct jpath p = {.len = 0};
    p.buf[0] = 0;
    if (err && errlen)
        err[0] = 0;
    if (!schema)
        return 0;
    return validate(schema, instance, &p, 0, err, errlen);
}

/* ---- schema check --------------------------------------------------------------------- */

static const char *const IGNORED_KEYWORDS[] = {
    "format",          "title",     "description", "default",
    "examples",        "$schema",   "$id",         "$comment",
    "readOnly",        "writeOnly", "deprecated",  "contentMediaType",
    "contentEncoding",
};

static int in_list(const char *k, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, list[i]) == 0)
            return 1;
    return 0;
}

static int check(json_object *schema, struct jpath *p, int depth, char *err, size_t errlen);

static int check_kw(const char *k, json_object *v, json_object *schema, struct jpath *p, int depth,
                    char *err, size_t errlen)
{
    if (strcmp(k, "type") == 0) {
        if (json_object_is_type(v, json_type_string)) {
            if (!type_known(json_object_get_string(v)))
                goto bad_type;
            return 0;
        }
        if (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0) {
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *e = json_object_array_get_idx(v, i);
                if (!json_object_is_type(e, json_type_string) ||
                    !type_known(json_object_get_string(e)))
                    goto bad_type;
            }
            return 0;
        }
    bad_type:
        seterr(err, errlen, p,
               "unknown type (use string, number, integer, boolean, object, "
               "array, null, or an array of them)");
        return -EINVAL;
    }
    if (strcmp(k, "properties") == 0) {
        if (!json_object_is_type(v, json_type_object)) {
            seterr(err, errlen, p, "properties must be an object");
            return -EINVAL;
        }
        json_object_object_foreach(v, pk, pv)
        {
            size_t old = jpath_push(p, pk);
            int rc = check(pv, p, depth + 1, err, errlen);
            jpath_pop(p, old);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (strcmp(k, "required") == 0) {
        if (json_object_is_type(v, json_type_array)) {
            size_t i;
            for (i = 0; i < json_object_array_length(v); i++)
                if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
                    break;
            if (i == json_object_array_length(v))
                return 0;
        }
        seterr(err, errlen, p, "required must be an array of strings");
        return -EINVAL;
    }
    if (strcmp(k, "additionalProperties") == 0 || strcmp(k, "items") == 0) {
        if (json_object_is_type(v, json_type_array)) {
            seterr(err, errlen, p, "%s: the array (tuple) form is not supported", k);
            return -EINVAL;
        }
        return check(v, p, depth + 1, err, errlen);
    }
    if (strcmp(k, "enum") == 0) {
        if (!json_object_is_type(v, json_type_array)) {
            seterr(err, errlen, p, "enum must be an array");
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(k, "const") == 0)
        return 0;
    if (strcmp(k, "minLength") == 0 || strcmp(k, "maxLength") == 0 || strcmp(k, "minItems") == 0 ||
        strcmp(k, "maxItems") == 0) {
        long long c;
        if (get_count(v, &c) != 0) {
            seterr(err, errlen, p, "%s must be a non-negative integer", k);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(k, "pattern") == 0) {
        regex_t re;
        char msg[128];
        if (!json_object_is_type(v, json_type_string)) {
            seterr(err, errlen, p, "pattern must be a string");
            return -EINVAL;
        }
        if (pattern_compile(json_object_get_string(v), &re, msg, sizeof msg) != 0) {
            seterr(err, errlen, p, "pattern is not a POSIX extended regex: %s", msg);
            return -EINVAL;
        }
        regfree(&re);
        return 0;
    }
    if (strcmp(k, "minimum") == 0 || strcmp(k, "maximum") == 0) {
        if (!is_number(v)) {
            seterr(err, errlen, p, "%s must be a number", k);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(k, "exclusiveMinimum") == 0 || strcmp(k, "exclusiveMaximum") == 0) {
        if (!is_number(v) && !json_object_is_type(v, json_type_boolean)) {
            seterr(err, errlen, p, "%s must be a number", k);
            return -EINVAL;
        }
        return 0;
    }
    if (in_list(k, IGNORED_KEYWORDS, sizeof IGNORED_KEYWORDS / sizeof IGNORED_KEYWORDS[0]))
        return 0;
    (void)schema;
    seterr(err, errlen, p, "unsupported keyword \"%s\"", k);
    return -ENOTSUP;
}

static int check(json_object *schema, struct jpath *p, int depth, char *err, size_t errlen)
{
    if (depth > JSONSCHEMA_MAX_DEPTH) {
        seterr(err, errlen, p, "schema nested deeper than %d levels", JSONSCHEMA_MAX_DEPTH);
        return -E2BIG;
    }
    if (json_object_is_type(schema, json_type_boolean))
        return 0;
    if (!json_object_is_type(schema, json_type_object)) {
        seterr(err, errlen, p, "a schema must be an object or a boolean");
        return -EINVAL;
    }
    json_object_object_foreach(schema, k, v)
    {
        size_t old = jpath_push(p, k);
        int rc = check_kw(k, v, schema, p, depth, err, errlen);
        jpath_pop(p, old);
        if (rc)
            return rc;
    }
    return 0;
}

int jsonschema_check(json_object *schema, char *err, size_t errlen)
{
    struct jpath p = {.len = 0};
    p.buf[0] = 0;
    if (err && errlen)
        err[0] = 0;
    if (!schema) {
        seterr(err, errlen, &p, "no schema");
        return -EINVAL;
    }
    return check(schema, &p, 0, err, errlen);
}
