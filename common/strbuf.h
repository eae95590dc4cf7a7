/* strbuf.h — a growable text buffer, always NUL-terminated once something was added.
 *
 * Errors are sticky: when an allocation fails (or the text would pass STRBUF_MAX) the text is
 * freed, p becomes NULL, oom is set and every later add does nothing, so a builder adds
 * without checking and looks at oom (or p) once at the end. Zero-initialise to start
 * (`struct strbuf b = {0};`); the caller owns b.p (free() it, or strbuf_cleanup()).
 */
#ifndef AGENTHUB_STRBUF_H
#define AGENTHUB_STRBUF_H

#include <stddef.h>

#define STRBUF_MAX ((size_t)256 * 1024 * 1024)

struct strbuf {
    char *p; /* NULL until the first add (an empty add allocates: p is then "") */
    size_t len, cap;
    int oom;
};

/* Appends n bytes of s (s may hold NULs; n may be 0). */
void strbuf_add(struct strbuf *b, const char *s, size_t n);
/* Appends the string s; NULL adds nothing. */
void strbuf_adds(struct strbuf *b, const char *s);
/* Appends one element of a PostgreSQL array literal ('{"a","b",NULL}' without the braces): a
 * comma unless first, then v quoted with '"' and '\\' escaped, or NULL for v == NULL. The
 * literal goes to the server as a bound parameter, so nothing here is SQL. */
void strbuf_add_pg_array_elem(struct strbuf *b, const char *v, int first);
/* Frees the text and zeroes the buffer. */
void strbuf_cleanup(struct strbuf *b);

#endif
