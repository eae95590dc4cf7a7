/* json_field.h — typed reads of one member of a JSON object. */
#ifndef AGENTHUB_JSON_FIELD_H
#define AGENTHUB_JSON_FIELD_H

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

/* o[key] when o is an object and that member is a string; else NULL. Borrowed from o. */
static inline const char *json_field_str(json_object *o, const char *key)
{
    json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

/* Is every member of object o one of known[0..n-1]? 0 if so; else -1 with msg (cap bytes) set to
 * "unknown member \"x\": the body takes a, b, c". A body's misspelt member ("sesion_id") is
 * refused by name, never read as absent. */
static inline int json_members_check(json_object *o, const char *const *known, size_t n, char *msg,
                                     size_t cap)
{
    json_object_object_foreach(o, key, val)
    {
        (void)val;
        size_t i = 0;
        while (i < n && strcmp(key, known[i]) != 0)
            i++;
        if (i < n)
            continue;
        size_t len = (size_t)snprintf(msg, cap, "unknown member \"%.64s\": the body takes ", key);
        for (i = 0; i < n && len < cap; i++)
            len += (size_t)snprintf(msg + len, cap - len, "%s%s", i ? ", " : "", known[i]);
        return -1;
    }
    return 0;
}

#endif
