/* sse.c — an incremental Server-Sent Events parser (WHATWG "event stream" rules, the parts
 * LLM providers use): lines end in LF, CRLF or CR; "event:" names the event, "data:" lines
 * are joined with LF, a blank line dispatches, lines starting with ':' are comments. Bytes may
 * arrive split anywhere, including inside a CRLF pair or a UTF-8 sequence. */
#include "provider.h"

#include <stdlib.h>
#include <string.h>

int llm_buf_add(struct llm_buf *b, const char *s, size_t n, size_t limit)
{
    if (b->len + n + 1 > limit)
        return LLM_ERR_BAD_RESPONSE;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return LLM_ERR_BAD_RESPONSE;
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void llm_buf_free(struct llm_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void llm_sse_init(struct llm_sse *s, llm_sse_event_cb cb, void *ud)
{
    memset(s, 0, sizeof(*s));
    s->cb = cb;
    s->ud = ud;
}

void llm_sse_cleanup(struct llm_sse *s)
{
    llm_buf_free(&s->line);
    llm_buf_free(&s->data);
}

static int dispatch(struct llm_sse *s)
{
    int rc = 0;
    if (s->has_data) {
        const char *ev = s->event[0] ? s->event : "message";
        rc = s->cb(s->ud, ev, s->data.p ? s->data.p : "", s->data.len);
    }
    s->data.len = 0;
    if (s->data.p)
        s->data.p[0] = '\0';
    s->has_data = 0;
    s->event[0] = '\0';
    return rc;
}

static int process_line(struct llm_sse *s, const char *l, size_t n)
{
    if (n == 0)
        return dispatch(s);
    if (l[0] == ':')
        return 0;
    const char *colon = memchr(l, ':', n);
    size_t flen = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vlen = colon ? n - flen - 1 : 0;
    if (vlen && *v == ' ') {
        v++;
        vlen--;
    }
    if (flen == 4 && memcmp(l, "data", 4) == 0) {
        if (s->has_data && llm_buf_add(&s->data, "\n", 1, LLM_BODY_LIMIT) != 0)
            return LLM_ERR_BAD_RESPONSE;
        if (llm_buf_add(&s->data, v, vlen, LLM_BODY_LIMIT) != 0)
            return LLM_ERR_BAD_RESPONSE;
        s->has_data = 1;
    } else if (flen == 5 && memcmp(l, "event", 5) == 0) {
        size_t k = vlen < sizeof(s->event) - 1 ? vlen : sizeof(s->event) - 1;
        memcpy(s->event, v, k);
        s->event[k] = '\0';
    }
    /* id:, retry: and unknown fields are ignored. */
    return 0;
}

int llm_sse_feed(struct llm_sse *s, const char *p, size_t n)
{
    size_t i = 0;
    if (s->skip_lf && n > 0) {
        s->skip_lf = 0;
        if (p[0] == '\n')
            i = 1;
    }
    while (i < n) {
        const char *start = p + i;
        size_t k = 0;
        while (i + k < n && start[k] != '\n' && start[k] != '\r')
            k++;
        if (i + k == n) { /* no line end yet: keep the partial line */
            if (llm_buf_add(&s->line, start, k, LLM_BODY_LIMIT) != 0)
                return LLM_ERR_BAD_RESPONSE;
            return 0;
        }
        char term = start[k];
        int rc;
        if (s->line.len) {
            if (llm_buf_add(&s->line, start, k, LLM_BODY_LIMIT) != 0)
                return LLM_ERR_BAD_RESPONSE;
            rc = process_line(s, s->line.p, s->line.len);
            s->line.len = 0;
        } else {
            rc = process_line(s, start, k);
        }
        if (rc)
            return rc;
        i += k + 1;
        if (term == '\r') {
            if (i < n) {
                if (p[i] == '\n')
                    i++;
            } else {
                s->skip_lf = 1;
            }
        }
    }
    return 0;
}

int llm_sse_finish(struct llm_sse *s)
{
    int rc = 0;
    if (s->line.len) {
        rc = process_line(s, s->line.p, s->line.len);
        s->line.len = 0;
    }
    if (!rc)
        rc = dispatch(s);
    return rc;
}
