/* json_field.h — typed reads of one member of a JSON object. */
#ifndef AGENTHUB_JSON_FIELD_H
#define AGENTHUB_JSON_FIELD_H

#include <json-c/json.h>

/* o[key] when o is an object and that member is a string; else NULL. Borrowed from o. */
static inline const char *json_field_str(json_object *o, const char *key)
{
    json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

#endif
