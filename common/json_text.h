/* json_text.h — every string in a JSON tree made valid text (utf8.h) before the tree is
 * stored (PostgreSQL jsonb refuses invalid UTF-8 and \u0000), streamed or published.
 *
 * A tool's response, a model's tool arguments or a document's text can carry ill-formed
 * UTF-8, NUL (a "\u0000" escape decodes to one) or other control characters; json-c keeps
 * them as they are. json_text_repair() walks the tree and replaces each such string, and each
 * such object key, by its utf8_sanitize() repair; and each member or element that is NaN or
 * an infinity (json-c reads "NaN", "Infinity" and "1e999" as such; JSON has none of them) by
 * null; and each number json-c keeps in a text JSON has not ("1.", "1.e5", "03": a model's
 * tool arguments, a provider's lenient body) by its shortest JSON text (json_number.h). */
#ifndef AGENTHUB_JSON_TEXT_H
#define AGENTHUB_JSON_TEXT_H

#include <json-c/json.h>
#include <stddef.h>

/* Repairs o in place (NULL-safe; nesting deeper than 64 is left as it is). Returns the number
 * of replacements made (utf8_report's invalid + controls, plus the numbers nulled), or -1
 * when out of memory (o is then partly repaired). */
long json_text_repair(json_object *o);

/* Numbers' texts alone, as above: strings, keys, NaN and the infinities are left as they are
 * (a provider's answer is parsed leniently, and its text repaired and counted later). */
long json_text_repair_numbers(json_object *o);

/* json_text_repair, then the compact text of o (borrowed from o, as
 * json_object_to_json_string_ext). *repaired (may be NULL) gets the count. */
const char *json_text_clean_string(json_object *o, long *repaired);

#endif
