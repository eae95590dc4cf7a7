/* strbuf.c — see strbuf.h. */
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

static void strbuf_fail(struct strbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 1;
}

void strbuf_add(struct strbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (n > STRBUF_MAX - 1 - b->len) {
        strbuf_fail(b);
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            strbuf_fail(b);
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void strbuf_adds(struct strbuf *b, const char *s)
{
    if (s)
        strbuf_add(b, s, strlen(s));
}

void strbuf_cleanup(struct strbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

void strbuf_add_pg_array_elem(struct strbuf *b, const char *v, int first)
{
    if (!first)
        strbuf_add(b, ",", 1);
    if (!v) {
        strbuf_add(b, "NULL", 4);
        return;
    }
    strbuf_add(b, "\"", 1);
    const char *run = v;
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\') {
            strbuf_add(b, run, (size_t)(p - run));
            strbuf_add(b, "\\", 1);
            run = p;
        }
    }
    strbuf_add(b, run, strlen(run));
    strbuf_add(b, "\"", 1);
}
