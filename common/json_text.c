/* json_text.c — repair of every string in a JSON tree (json_text.h). */
#include "json_text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_number.h"
#include "utf8.h"

/* What a walk repairs: everything json_text_repair() does, or numbers' texts alone. */
enum { REPAIR_ALL, REPAIR_NUMBERS };

static long repair(json_object *o, int depth, int what);

/* NaN and the infinities are no JSON numbers (a browser's JSON.parse throws on the text
 * json-c writes for them, jsonb refuses it): such a member or element becomes null. */
static int not_finite(json_object *v)
{
    return json_object_is_type(v, json_type_double) && !isfinite(json_object_get_double(v));
}

/* A repaired copy of a string value, or o itself when it is clean. */
static long repair_string(json_object *o)
{
    const char *s = json_object_get_string(o);
    size_t len = (size_t)json_object_get_string_len(o);
    if (utf8_is_clean(s, len))
        return 0;
    struct utf8_report rep = {0, 0};
    size_t n = 0;
    char *t = utf8_sanitize(s, len, &n, &rep);
    if (!t)
        return -1;
    int rc = json_object_set_string_len(o, t, (int)n);
    free(t);
    return rc ? (long)(rep.invalid + rep.controls) : -1;
}

static long repair_object(json_object *o, int depth, int what)
{
    long total = 0;
    int bad_keys = 0;
    json_object_object_foreach(o, k, v)
    {
        if (what == REPAIR_ALL && !utf8_is_clean(k, strlen(k)))
            bad_keys = 1;
        if (what == REPAIR_ALL && not_finite(v)) { /* replaces the value only: the walk goes on */
            json_object_object_add(o, k, NULL);
            total++;
            continue;
        }
        long n = repair(v, depth + 1, what);
        if (n < 0)
            return -1;
        total += n;
    }
    if (!bad_keys)
        return total;
    /* Keys cannot be renamed in place: move every member to a repaired key. */
    json_object *copy = json_object_new_object();
    if (!copy)
        return -1;
    json_object_object_foreach(o, k2, v2)
    {
        struct utf8_report rep = {0, 0};
        char *nk = utf8_sanitize(k2, strlen(k2), NULL, &rep);
        if (!nk) {
            json_object_put(copy);
            return -1;
        }
        total += (long)(rep.invalid + rep.controls);
        json_object_object_add(copy, nk, json_object_get(v2));
        free(nk);
    }
    /* Empty o, then move the members back under their new keys. */
    while (json_object_object_length(o) > 0) {
        struct json_object_iterator it = json_object_iter_begin(o);
        char *k3 = strdup(json_object_iter_peek_name(&it));
        if (!k3) {
            json_object_put(copy);
            return -1;
        }
        json_object_object_del(o, k3);
        free(k3);
    }
    json_object_object_foreach(copy, k4, v4) json_object_object_add(o, k4, json_object_get(v4));
    json_object_put(copy);
    return total;
}

static long repair(json_object *o, int depth, int what)
{
    if (!o || depth > 64)
        return 0;
    switch (json_object_get_type(o)) {
    case json_type_double:
        return json_number_fix_text(o);
    case json_type_string:
        return what == REPAIR_ALL ? repair_string(o) : 0;
    case json_type_object:
        return repair_object(o, depth, what);
    case json_type_array: {
        long total = 0;
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++) {
            if (what == REPAIR_ALL && not_finite(json_object_array_get_idx(o, i))) {
                json_object_array_put_idx(o, i, NULL);
                total++;
                continue;
            }
            long r = repair(json_object_array_get_idx(o, i), depth + 1, what);
            if (r < 0)
                return -1;
            total += r;
        }
        return total;
    }
    default:
        return 0;
    }
}

long json_text_repair(json_object *o)
{
    return repair(o, 0, REPAIR_ALL);
}

long json_text_repair_numbers(json_object *o)
{
    return repair(o, 0, REPAIR_NUMBERS);
}

const char *json_text_clean_string(json_object *o, long *repaired)
{
    long n = json_text_repair(o);
    if (repaired)
        *repaired = n < 0 ? 0 : n;
    return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
}
