/* utf8.h — text from outside (LLM answers and deltas, tool responses, OCR output, document
 * text, knowledge chunks) made valid before it is stored, streamed or published.
 *
 * PostgreSQL refuses text with invalid UTF-8 or a NUL byte ("invalid byte sequence for
 * encoding UTF8"), and JSON has no way to carry either, so one bad byte from a peer would
 * otherwise lose a whole answer. utf8_sanitize() repairs instead of refusing:
 *   - every maximal ill-formed subsequence (a stray continuation byte, a sequence cut short,
 *     an overlong form, a surrogate, a code point above U+10FFFF) becomes one U+FFFD, the
 *     practice of Unicode §3.9 and the WHATWG decoder;
 *   - NUL and the other C0 control characters but TAB, LF, CR and FF (the OCR text's page
 *     separator), and DEL, become U+FFFD;
 *   - everything else is copied as it is.
 * The counts go to an optional report, so the caller can record in the metadata that a text
 * was repaired. utf8_cut() finds where to cut a text so that no character is split.
 */
#ifndef AGENTHUB_UTF8_H
#define AGENTHUB_UTF8_H

#include <stddef.h>

struct utf8_report {
    size_t invalid;  /* ill-formed sequences replaced */
    size_t controls; /* NUL and control characters replaced */
};

/* A malloc'd, NUL-terminated repaired copy of s[0, len); its length in *outlen (may be NULL).
 * rep (may be NULL) is added to, not reset. NULL only when out of memory. */
char *utf8_sanitize(const char *s, size_t len, size_t *outlen, struct utf8_report *rep);

/* The number of characters (code points) in s[0, len), or -1 when it is not well-formed
 * UTF-8 by its byte structure (lead and continuation bytes; what a request's text is checked
 * with before it is accepted). */
long utf8_chars(const char *s, size_t len);

/* 1 when utf8_sanitize would copy s[0, len) unchanged, else 0. */
int utf8_is_clean(const char *s, size_t len);

/* The largest n <= max (and <= len) at which s may be cut without splitting a character:
 * n never falls between a lead byte and its continuation bytes. */
size_t utf8_cut(const char *s, size_t len, size_t max);

/* s copied into dst[0, cap) as valid text: repaired as utf8_sanitize() repairs it, cut between
 * characters to fit, NUL-terminated (cap > 0). s may be dst itself. Returns the length written;
 * out of memory, dst is "" and the return 0. For messages from outside (a provider's error, a
 * model's tool call) that go into logs, job errors and events. */
size_t utf8_copy_valid(char *dst, size_t cap, const char *s);

/* 1 when s[0, len) holds nothing but ASCII white space (space, \t, \n, \v, \f, \r), or
 * nothing at all: a blank question or answer. */
int utf8_blank(const char *s, size_t len);

/* How many bytes at the end of s[0, len) (0..3) begin a character that is cut short, as a
 * stream fragment may end: the caller keeps them and puts them before the next fragment. */
size_t utf8_partial_tail(const char *s, size_t len);

#endif
