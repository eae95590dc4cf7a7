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
