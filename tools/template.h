/* template.h — endpoint and body templates for HTTP tools.
 *
 * A placeholder is "{name}" where name is [A-Za-z0-9_.-]{1,64} and names a top-level key of
 * the tool's arguments; any other brace is literal text (so JSON templates need no escaping).
 * A placeholder whose argument is missing is an error, never an empty string.
 *
 * URL templates (template_expand_url): each value is percent-encoded with curl_easy_escape
 * (everything but ALPHA DIGIT - . _ ~ is encoded, so "/", "?", "#", spaces and UTF-8 bytes
 * can't change the URL's structure); values "." and ".." are refused, since they would
 * still be dot-segments after encoding. Strings are used as they are; numbers and booleans
 * as their JSON text; null, objects and arrays are refused.
 *
 * Body templates (template_expand_body): the template is JSON (an object/array/value, or a
 * string holding JSON text).
 *  - as a JSON value: every string that is exactly "{name}" is replaced by the argument's
 *    JSON value, type kept (numbers stay numbers, objects stay objects); a placeholder
 *    inside a longer string is replaced by the value's text.
 *  - as text: each placeholder is replaced by the value JSON-escaped (a string's characters
 *    without quotes, so write "\"{mst}\"" around it; other values as JSON text); the
 *    result must parse as JSON.
 * Either way the result is a json_object the caller owns.
 */
#ifndef AGENTHUB_TEMPLATE_H
#define AGENTHUB_TEMPLATE_H

#include <json-c/json.h>
#include <stddef.h>

#define TEMPLATE_MAX_OUT ((size_t)64 * 1024)

/* *out malloc'd. used (may be NULL) gets each argument name consumed added as a key. */
int template_expand_url(const char *tmpl, json_object *args, json_object *used, char **out,
                        char *err, size_t errlen);
/* Percent-encodes one value (the rules above). *out malloc'd. */
int template_encode_value(json_object *val, char **out, char *err, size_t errlen);
/* *out is a new json_object (json_object_put). */
int template_expand_body(json_object *tmpl, json_object *args, json_object **out, char *err,
                         size_t errlen);

#endif
