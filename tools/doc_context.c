/* doc_context.c — see doc_context.h. */
#include "doc_context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

size_t doc_split_pages(const char *text, size_t len, struct doc_page *pages, size_t max)
{
    size_t n = 0, start = 0;
    if (!text || max == 0)
        return 0;
    for (size_t i = 0; i <= len && n < max; i++) {
        if (i < len && (text[i] != '\f' || n + 1 == max))
            continue;
        pages[n].page = (int)n + 1;
        pages[n].text = text + start;
        pages[n].len = (n + 1 == max ? len : i) - start;
        n++;
        start = i + 1;
        if (n == max)
            break;
    }
    return n;
}

size_t doc_prefix_chars(const char *s, size_t len, size_t max)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) == 0x80)
            continue; /* a continuation byte belongs to the character before it */
        if (chars == max)
            return i;
        chars++;
    }
    return len;
}

static size_t text_chars(const char *s, size_t len)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            chars++;
    return chars;
}

/* The page's text without the blank lines around it. */
static void trim(const char **s, size_t *len)
{
    while (*len && ((*s)[0] == ' ' || (*s)[0] == '\n' || (*s)[0] == '\r' || (*s)[0] == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\n' || (*s)[*len - 1] == '\r' ||
                    (*s)[*len - 1] == '\t'))
        (*len)--;
}

static void add_citation(json_object *citations, const struct doc_source *d, int page, int cut)
{
    if (!citations)
        return;
    json_object *c = json_object_new_object();
    json_object_object_add(c, "type", json_object_new_string("attachment"));
    json_object_object_add(c, "document_id", json_object_new_string(d->document_id));
    json_object_object_add(c, "filename", json_object_new_string(d->filename));
    json_object_object_add(c, "page", json_object_new_int(page));
    if (cut)
        json_object_object_add(c, "truncated", json_object_new_boolean(1));
    json_object_array_add(citations, c);
}

int doc_context_build(const struct doc_source *docs, size_t ndocs, size_t max_chars, char **out,
                      json_object *citations)
{
    struct strbuf b = {0};
    char label[512];
    size_t left = max_chars, hidden = 0;
    *out = NULL;
    strbuf_adds(&b, "Attached documents. Answer from their text; cite each fact as "
                    "[document \"<filename>\" page <n>].\n");
    for (size_t i = 0; i < ndocs; i++) {
        const struct doc_source *d = &docs[i];
        if (d->npages == 0 && left > 0) {
            snprintf(label, sizeof label, "\n[document \"%s\" id=%s: no text was found]\n",
                     d->filename, d->document_id);
            strbuf_adds(&b, label);
            continue;
        }
        for (size_t k = 0; k < d->npages; k++) {
            const char *t = d->pages[k].text ? d->pages[k].text : "";
            size_t tl = d->pages[k].text ? d->pages[k].len : 0;
            trim(&t, &tl);
            if (left == 0) {
                hidden++;
                continue;
            }
            snprintf(label, sizeof label, "\n[document \"%s\" id=%s page %d]\n", d->filename,
                     d->document_id, d->pages[k].page);
            strbuf_adds(&b, label);
            size_t chars = text_chars(t, tl);
            int cut = chars > left;
            size_t take = cut ? doc_prefix_chars(t, tl, left) : tl;
            strbuf_add(&b, t, take);
            if (cut)
                strbuf_adds(&b, " [...]");
            strbuf_adds(&b, "\n");
            left -= cut ? left : chars;
            add_citation(citations, d, d->pages[k].page, cut);
        }
    }
    if (hidden) {
        snprintf(label, sizeof label,
                 "\n[%zu more page(s) not shown: the attached text is limited to %zu "
                 "characters]\n",
                 hidden, max_chars);
        strbuf_adds(&b, label);
    }
    if (b.oom) {
        strbuf_cleanup(&b);
        return -1;
    }
    *out = b.p;
    return 0;
}
