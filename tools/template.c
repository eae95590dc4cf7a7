/* template.c — see template.h. */
#include "template.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

#define NAME_MAX_LEN 64

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* At s[0] == '{': length of the name when "{name}" follows, else 0. */
static size_t placeholder_at(const char *s)
{
    size_t n = 0;
    if (s[0] != '{')
        return 0;
    while (is_name_char(s[1 + n]) && n <= NAME_MAX_LEN)
        n++;
    if (n == 0 || n > NAME_MAX_LEN || s[1 + n] != '}')
        return 0;
    return n;
}

/* A scalar's text: strings as they are, numbers/booleans as JSON. NULL for other types. */
static const char *scalar_text(json_object *v, size_t *len)
{
    switch (json_object_get_type(v)) {
    case json_type_string:
        *len = (size_t)json_object_get_string_len(v);
        return json_object_get_string(v);
    case json_type_int:
    case json_type_double:
    case json_type_boolean: {
        const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
        *len = strlen(s);
        return s;
    }
    default:
        return NULL;
    }
}

int template_encode_value(json_object *val, char **out, char *err, size_t errlen)
{
    size_t len = 0;
    const char *s = scalar_text(val, &len);
    *out = NULL;
    if (!s) {
        snprintf(err, errlen, "value must be a string, number or boolean");
        return -EINVAL;
    }
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) {
        snprintf(err, errlen, "value \".\" or \"..\" is not allowed in a URL");
        return -EINVAL;
    }
    if (strlen(s) != len) {
        snprintf(err, errlen, "value contains a NUL byte");
        return -EINVAL;
    }
    char *e = curl_easy_escape(NULL, s, (int)len);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *out = strdup(e);
    curl_free(e);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* Looks up the argument a placeholder names: s points at "{name}", n = placeholder_at(s).
 * The name goes into name; *v is the member of args (NULL for JSON null). -EINVAL with err set
 * when args has no such member. */
static int placeholder_arg(const char *s, size_t n, json_object *args, char name[NAME_MAX_LEN + 1],
                           json_object **v, char *err, size_t errlen)
{
    memcpy(name, s + 1, n);
    name[n] = 0;
    if (!args || !json_object_object_get_ex(args, name, v)) {
        snprintf(err, errlen, "missing parameter \"%s\"", name);
        return -EINVAL;
    }
    return 0;
}

int template_expand_url(const char *tmpl, json_object *args, json_object *used, char **out,
                        char *err, size_t errlen)
{
    struct strbuf b = {0};
    int rc = -EINVAL;
    *out = NULL;
    for (const char *s = tmpl; *s;) {
        size_t n = placeholder_at(s);
        if (!n) {
            strbuf_add(&b, s, 1);
            s++;
            continue;
        }
        char name[NAME_MAX_LEN + 1];
        json_object *v;
        if (placeholder_arg(s, n, args, name, &v, err, errlen) != 0)
            goto out;
        char *enc = NULL, e2[128];
        if (template_encode_value(v, &enc, e2, sizeof e2) != 0) {
            snprintf(err, errlen, "parameter \"%s\": %s", name, e2);
            goto out;
        }
        strbuf_add(&b, enc, strlen(enc));
        free(enc);
        if (used)
            json_object_object_add(used, name, NULL);
        s += n + 2;
        if (b.len > TEMPLATE_MAX_OUT) {
            snprintf(err, errlen, "expanded URL too long");
            goto out;
        }
    }
    if (b.oom || !b.p) {
        if (!b.p && !b.oom) {
            *out = strdup("");
            rc = *out ? 0 : -ENOMEM;
            goto out;
        }
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    *out = b.p;
    b.p = NULL;
    rc = 0;
out:
    free(b.p);
    return rc;
}

/* JSON-escapes s (without quotes) into b. */
static void sb_json_escape(struct strbuf *b, const char *s, size_t len)
{
    json_object *tmp = json_object_new_string_len(s, (int)len);
    if (!tmp) {
        b->oom = 1;
        return;
    }
    const char *j = json_object_to_json_string_ext(tmp, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t jl = strlen(j);
    if (jl >= 2)
        strbuf_add(b, j + 1, jl - 2);
    json_object_put(tmp);
}

/* Interpolates placeholders inside one string; raw=1 keeps text (JSON value mode),
 * raw=0 JSON-escapes string values (text mode). */
static int interpolate(const char *s, json_object *args, int json_escape, struct strbuf *b,
                       char *err, size_t errlen)
{
    while (*s) {
        size_t n = placeholder_at(s);
        if (!n) {
            strbuf_add(b, s, 1);
            s++;
            continue;
        }
        char name[NAME_MAX_LEN + 1];
        json_object *v;
        if (placeholder_arg(s, n, args, name, &v, err, errlen) != 0)
            return -EINVAL;
        if (json_escape) {
            if (json_object_is_type(v, json_type_string)) {
                sb_json_escape(b, json_object_get_string(v), (size_t)json_object_get_string_len(v));
            } else {
                const char *j = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
                strbuf_add(b, j, strlen(j));
            }
        } else {
            size_t len = 0;
            const char *t = scalar_text(v, &len);
            if (!t) {
                const char *j = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
                strbuf_add(b, j, strlen(j));
            } else {
                strbuf_add(b, t, len);
            }
        }
        if (b->len > TEMPLATE_MAX_OUT) {
            snprintf(err, errlen, "expanded body too large");
            return -E2BIG;
        }
        s += n + 2;
    }
    return b->oom ? -ENOMEM : 0;
}

static int expand_value(json_object *t, json_object *args, json_object **out, int depth, char *err,
                        size_t errlen)
{
    *out = NULL;
    if (depth > 32) {
        snprintf(err, errlen, "body template nested too deep");
        return -E2BIG;
    }
    switch (json_object_get_type(t)) {
    case json_type_string: {
        const char *s = json_object_get_string(t);
        size_t n = placeholder_at(s);
        if (n && s[n + 2] == 0) {
            char name[NAME_MAX_LEN + 1];
            json_object *v;
            if (placeholder_arg(s, n, args, name, &v, err, errlen) != 0)
                return -EINVAL;
            *out = json_object_get(v);
            if (!v) /* JSON null */
                return 0;
            /* a deep copy so the body never shares nodes with the args */
            json_object *copy = NULL;
            if (json_object_deep_copy(v, &copy, NULL) != 0) {
                json_object_put(*out);
                *out = NULL;
                return -ENOMEM;
            }
            json_object_put(*out);
            *out = copy;
            return 0;
        }
        struct strbuf b = {0};
        int rc = interpolate(s, args, 0, &b, err, errlen);
        if (rc == 0) {
            *out = json_object_new_string_len(b.p ? b.p : "", (int)b.len);
            if (!*out)
                rc = -ENOMEM;
        }
        free(b.p);
        return rc;
    }
    case json_type_object: {
        json_object *o = json_object_new_object();
        if (!o)
            return -ENOMEM;
        json_object_object_foreach(t, k, v)
        {
            json_object *ev = NULL;
            int rc = expand_value(v, args, &ev, depth + 1, err, errlen);
            if (rc) {
                json_object_put(o);
                return rc;
            }
            json_object_object_add(o, k, ev);
        }
        *out = o;
        return 0;
    }
    case json_type_array: {
        json_object *a = json_object_new_array();
        if (!a)
            return -ENOMEM;
        for (size_t i = 0; i < json_object_array_length(t); i++) {
            json_object *ev = NULL;
            int rc =
                expand_value(json_object_array_get_idx(t, i), args, &ev, depth + 1, err, errlen);
            if (rc) {
                json_object_put(a);
                return rc;
            }
            json_object_array_add(a, ev);
        }
        *out = a;
        return 0;
    }
    default:
        *out = json_object_get(t);
        return 0;
    }
}

/* ---- text templates ----------------------------------------------------------------
 * A text template is parsed as JSON first and filled in afterwards, so no value is ever
 * parsed as JSON text: each placeholder is first replaced by a marker, "\u0001<i>\u0001"
 * (a whole JSON string) where it stands outside a string, and "\u0002<i>\u0002" inside a
 * string; then the template is parsed, and the markers in the parsed tree are replaced by
 * the values: a \u0001 marker by the argument's JSON value (type kept: a string stays one
 * string whatever it holds), a \u0002 marker by the value's text inside that string. A
 * template's own text may not hold U+0001 or U+0002. */

#define MARK_VALUE '\001'
#define MARK_TEXT '\002'
#define MAX_MARKS 256

struct marks {
    char names[MAX_MARKS][NAME_MAX_LEN + 1];
    size_t n;
};

static int has_marker_chars(const char *s)
{
    if (strchr(s, MARK_VALUE) || strchr(s, MARK_TEXT))
        return 1;
    for (const char *p = s; (p = strstr(p, "\\u000")) != NULL; p += 5)
        if (p[5] == '1' || p[5] == '2')
            return 1;
    return 0;
}

/* Rewrites the template text with markers; the names go into m. */
static int mark_text(const char *s, json_object *args, struct marks *m, struct strbuf *b, char *err,
                     size_t errlen)
{
    int in_str = 0, esc = 0;
    while (*s) {
        size_t n = placeholder_at(s);
        if (n && !esc) {
            char name[NAME_MAX_LEN + 1];
            json_object *v;
            if (placeholder_arg(s, n, args, name, &v, err, errlen) != 0)
                return -EINVAL;
            if (m->n >= MAX_MARKS) {
                snprintf(err, errlen, "body template has too many placeholders");
                return -E2BIG;
            }
            memcpy(m->names[m->n], name, n + 1);
            char mk[48];
            snprintf(mk, sizeof mk, in_str ? "\\u0002%zu\\u0002" : "\"\\u0001%zu\\u0001\"", m->n);
            strbuf_add(b, mk, strlen(mk));
            m->n++;
            s += n + 2;
            continue;
        }
        char c = *s++;
        strbuf_add(b, &c, 1);
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        }
    }
    return b->oom ? -ENOMEM : 0;
}

/* The argument a marker index names (NULL for JSON null). */
static json_object *mark_arg(const struct marks *m, size_t i, json_object *args)
{
    json_object *v = NULL;
    json_object_object_get_ex(args, m->names[i], &v);
    return v;
}

/* s with every \002<i>\002 replaced by that value's text; -EINVAL on a \001 marker. */
static int fill_text(const char *s, size_t len, const struct marks *m, json_object *args,
                     struct strbuf *b, char *err, size_t errlen)
{
    for (size_t k = 0; k < len;) {
        if (s[k] == MARK_VALUE) {
            snprintf(err, errlen, "body template: a placeholder outside a string must be a value");
            return -EINVAL;
        }
        if (s[k] != MARK_TEXT) {
            strbuf_add(b, s + k, 1);
            k++;
            continue;
        }
        size_t i = 0, j = k + 1;
        while (j < len && s[j] >= '0' && s[j] <= '9')
            i = i * 10 + (size_t)(s[j++] - '0');
        if (j >= len || s[j] != MARK_TEXT || i >= m->n) {
            snprintf(err, errlen, "body template: bad placeholder");
            return -EINVAL;
        }
        json_object *v = mark_arg(m, i, args);
        size_t tl = 0;
        const char *t = scalar_text(v, &tl);
        if (!t) {
            t = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
            tl = strlen(t);
        }
        strbuf_add(b, t, tl);
        if (b->len > TEMPLATE_MAX_OUT) {
            snprintf(err, errlen, "expanded body too large");
            return -E2BIG;
        }
        k = j + 1;
    }
    return b->oom ? -ENOMEM : 0;
}

static int fill_value(json_object *t, const struct marks *m, json_object *args, json_object **out,
                      int depth, char *err, size_t errlen)
{
    *out = NULL;
    if (depth > 32) {
        snprintf(err, errlen, "body template nested too deep");
        return -E2BIG;
    }
    switch (json_object_get_type(t)) {
    case json_type_string: {
        const char *s = json_object_get_string(t);
        size_t len = (size_t)json_object_get_string_len(t);
        if (len >= 3 && s[0] == MARK_VALUE && s[len - 1] == MARK_VALUE) {
            size_t i = 0, j = 1;
            while (j < len - 1 && s[j] >= '0' && s[j] <= '9')
                i = i * 10 + (size_t)(s[j++] - '0');
            if (j != len - 1 || i >= m->n) {
                snprintf(err, errlen, "body template: bad placeholder");
                return -EINVAL;
            }
            json_object *v = mark_arg(m, i, args);
            if (!v)
                return 0; /* JSON null */
            return json_object_deep_copy(v, out, NULL) == 0 ? 0 : -ENOMEM;
        }
        struct strbuf b = {0};
        int rc = fill_text(s, len, m, args, &b, err, errlen);
        if (rc == 0 && !(*out = json_object_new_string_len(b.p ? b.p : "", (int)b.len)))
            rc = -ENOMEM;
        free(b.p);
        return rc;
    }
    case json_type_object: {
        json_object *o = json_object_new_object();
        if (!o)
            return -ENOMEM;
        json_object_object_foreach(t, k, v)
        {
            struct strbuf kb = {0};
            json_object *ev = NULL;
            int rc = fill_text(k, strlen(k), m, args, &kb, err, errlen);
            if (rc == 0)
                rc = fill_value(v, m, args, &ev, depth + 1, err, errlen);
            if (rc == 0)
                json_object_object_add(o, kb.p ? kb.p : "", ev);
            free(kb.p);
            if (rc) {
                json_object_put(o);
                return rc;
            }
        }
        *out = o;
        return 0;
    }
    case json_type_array: {
        json_object *a = json_object_new_array();
        if (!a)
            return -ENOMEM;
        for (size_t i = 0; i < json_object_array_length(t); i++) {
            json_object *ev = NULL;
            int rc =
                fill_value(json_object_array_get_idx(t, i), m, args, &ev, depth + 1, err, errlen);
            if (rc) {
                json_object_put(a);
                return rc;
            }
            json_object_array_add(a, ev);
        }
        *out = a;
        return 0;
    }
    default:
        *out = json_object_get(t);
        return 0;
    }
}

static int expand_text(const char *s, json_object *args, json_object **out, char *err,
                       size_t errlen)
{
    struct strbuf b = {0};
    struct marks *m = calloc(1, sizeof *m);
    json_object *parsed = NULL;
    int rc = -ENOMEM;
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (has_marker_chars(s)) {
        snprintf(err, errlen, "body template holds U+0001 or U+0002");
        rc = -EINVAL;
        goto out;
    }
    if ((rc = mark_text(s, args, m, &b, err, errlen)) != 0)
        goto out;
    enum json_tokener_error jerr = json_tokener_success;
    parsed = json_tokener_parse_verbose(b.p ? b.p : "", &jerr);
    if (!parsed) {
        snprintf(err, errlen, "body template is not JSON: %s", json_tokener_error_desc(jerr));
        rc = -EINVAL;
        goto out;
    }
    rc = fill_value(parsed, m, args, out, 0, err, errlen);
out:
    json_object_put(parsed);
    free(b.p);
    free(m);
    return rc;
}

int template_expand_body(json_object *tmpl, json_object *args, json_object **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    if (json_object_is_type(tmpl, json_type_string)) {
        const char *s = json_object_get_string(tmpl);
        /* A string holding JSON text (it starts with { or [ after blanks) is a text
         * template; any other string is a JSON string value. */
        const char *p = s;
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
            p++;
        if ((*p == '{' && !placeholder_at(p)) || *p == '[')
            return expand_text(s, args, out, err, errlen);
    }
    return expand_value(tmpl, args, out, 0, err, errlen);
}
