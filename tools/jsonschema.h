/* jsonschema.h — a JSON Schema (draft-07 subset) validator on json-c.
 *
 * Used for tool input schemas (arguments from the LLM are validated before any call), tool
 * output schemas, and by the admin API to refuse schemas we cannot enforce.
 *
 * Supported keywords:
 *   type            "string" | "number" | "integer" | "boolean" | "object" | "array" | "null",
 *                   or an array of those. "integer" accepts a json-c int and a double with no
 *                   fractional part (1.0); "number" accepts both ints and doubles.
 *   properties, required, additionalProperties (boolean or schema)
 *   items           (one schema for every element; the tuple form is not supported)
 *   enum, const     (deep JSON equality; 1 and 1.0 are equal)
 *   minLength, maxLength   counted in Unicode code points (UTF-8), as the spec says
 *   pattern         POSIX extended regular expression (regcomp with REG_EXTENDED|REG_NOSUB),
 *                   unanchored search like ECMA-262's. The ECMA shorthands \d \w \s \D \W \S
 *                   are rewritten to [0-9] [[:alnum:]_] [[:space:]] (and negations; inside a
 *                   bracket only \d \w \s). Not available: lookaround, lazy quantifiers,
 *                   \b, backreferences in ERE, \uXXXX; matching is bytewise on UTF-8.
 *                   Limits (glibc's regcomp can blow up on nested repetition): at most
 *                   JSONSCHEMA_MAX_PATTERN bytes, no stacked quantifiers ("a+*"), {m,n}
 *                   bounds up to 100, at most 8 of them, multiplying to at most 10000.
 *   minimum, maximum, exclusiveMinimum, exclusiveMaximum (draft-07 numeric form; the draft-04
 *                   boolean form of exclusive* is accepted too)
 *   minItems, maxItems
 * Accepted and ignored: format (not enforced), title, description, default, examples,
 *   $schema, $id, $comment, readOnly, writeOnly, deprecated, contentMediaType, contentEncoding.
 * Anything else (e.g. $ref, oneOf, anyOf, allOf, not, if/then/else, patternProperties,
 * dependencies, uniqueItems, multipleOf) makes jsonschema_check() fail, so an admin learns at
 * write time that a keyword would not be enforced.
 *
 * Nesting is limited to JSONSCHEMA_MAX_DEPTH levels (schema and instance); deeper is an error.
 * Error messages name the JSON pointer of the offending instance value ("/items/2/qty") or of
 * the schema keyword, e.g. "/mst: string shorter than minLength 10". They never include the
 * value itself (it may be user data).
 */
#ifndef AGENTHUB_JSONSCHEMA_H
#define AGENTHUB_JSONSCHEMA_H

#include <json-c/json.h>
#include <stddef.h>

#define JSONSCHEMA_MAX_DEPTH 32
#define JSONSCHEMA_MAX_PATTERN 512

/* Validates instance against schema. Returns 0 when valid; negative with err filled (the
 * first violation found) when not, or when the schema itself is unusable. schema NULL means
 * "anything goes" (returns 0). */
int jsonschema_validate(json_object *schema, json_object *instance, char *err, size_t errlen);

/* Is this a schema we support (an object, only known keywords, well-typed keyword values,
 * patterns that compile)? 0 if so; negative with err naming the schema path otherwise. */
int jsonschema_check(json_object *schema, char *err, size_t errlen);

#endif
