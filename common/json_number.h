/* json_number.h — numbers in JSON as people write them: 0.15, not 0.14999999999999999.
 *
 * json-c (0.16) writes every double with "%.17g", so a price of 0.15 set through the API came
 * back as 0.14999999999999999, a call's cost as 0.00012689999999999999 and a similarity as
 * 0.37353340000000002: noise in the answers users read and in the prompts models read. These
 * make a number whose JSON text is fixed when it is made (json_object_new_double_s): the
 * value stays a double for whoever reads it in C, and parsing the text back gives it again
 * (json-c keeps a parsed number's text, so it survives a trip through Kafka or Redis). */
#ifndef AGENTHUB_JSON_NUMBER_H
#define AGENTHUB_JSON_NUMBER_H

#include <json-c/json.h>

/* v rounded to `decimals` (0..15) places, written without trailing zeros but with one digit
 * after the point ("0.15", "2.5", "10.0", "0.0001269"). NULL (JSON null) for NaN and the
 * infinities, which JSON cannot hold. */
json_object *json_decimal(double v, int decimals);

/* Does v have at most `decimals` places (0..15), as a column numeric(p, decimals) keeps it?
 * 0.00004 does not fit 4 places: stored, it would be 0 ("budget exceeded" at once). The
 * binary error of a double (0.1 + 0.2) is not a place. */
int json_decimal_fits(double v, int decimals);

/* A number as PostgreSQL wrote it (float8's shortest text, numeric's own digits): that text,
 * trailing zeros of a fraction dropped ("0.00012690" is 0.0001269), ".0" after a whole number
 * ("95.0": it is still a double). NULL for NaN, the infinities and text that is not a
 * number. */
json_object *json_number_text(const char *text);

/* Is text a number as RFC 8259 writes it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
int json_number_form_ok(const char *text);

/* 0 when o is a double whose kept text (a parse keeps each double's) is not JSON's number,
 * else 1: what json-c writes for o is then a JSON number (or NaN or an infinity). */
int json_number_text_ok(json_object *o);

/* json-c reads "1.", "1.e5", "-0." and (leniently) "03E" as doubles and keeps that text to
 * write them back: no JSON (a browser's JSON.parse throws on it, jsonb refuses it). When o is
 * a finite double written so, it gets the shortest text that reads back as its value, with a
 * point ("1.0", "100000.0", "3.0"). 1 when rewritten, 0 when left as it was, -1 out of memory. */
int json_number_fix_text(json_object *o);

#endif
