/* json_strict.h — JSON as RFC 8259 writes it, and nothing else.
 *
 * json-c's tokener, even in its strict mode, reads NaN, Infinity and -Infinity as numbers,
 * and a number too large for a double ("1e999") as an infinity. None of them is JSON: a
 * browser's JSON.parse throws on them, PostgreSQL's jsonb refuses them, and a NaN is not
 * equal to itself, so an envelope holding one did not survive its own round trip. Without
 * the strict flag json-c also takes 'single-quoted' strings, trailing commas, True and 01.
 * (With it, json-c still takes a single-quoted member name and a raw tab or other control
 * character inside a string; json-c writes both back as valid JSON, so they are left be.)
 *
 * json_strict_parse() takes one complete JSON value (whitespace may follow it) with every
 * number finite and every integer within 64 bits, or says what is wrong and where. */
#ifndef AGENTHUB_JSON_STRICT_H
#define AGENTHUB_JSON_STRICT_H

#include <json-c/json.h>
#include <stddef.h>

enum {
    JSON_STRICT_UTF8 = 1, /* also refuse strings that are not valid UTF-8 */
};

/* Parses buf[0..len) (NUL bytes in it are refused) nested at most max_depth deep. 0 with *out
 * set (NULL for the literal null; the caller owns it), or -1 with *out NULL and err set to
 * what is wrong, and for bad syntax where ("unexpected character at byte 5"); no prefix:
 * callers add their own. */
int json_strict_parse(const char *buf, size_t len, int max_depth, unsigned flags, json_object **out,
                      char *err, size_t errlen);

/* json-c clamps an integer beyond 64 bits without a word: 100000000000000000000 is read as
 * 18446744073709551615, and -99999999999999999999 as INT64_MIN. The byte offset in the JSON
 * text buf[0, len) of the first integer that does not fit (int64 when negative, uint64
 * otherwise), or -1 when every one fits. Strings and comments (json-c's lenient mode takes
 * single-quoted strings and comments) are skipped; buf should be text json-c took. */
long json_strict_int_beyond(const char *buf, size_t len);

/* 1 when every number in o (64 levels deep at most; deeper is not looked at) is finite. */
int json_strict_finite(json_object *o);

#endif
