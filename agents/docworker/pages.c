/* pages.c — see pages.h. */
#include "pages.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *doc_page_method_name(enum doc_page_method m)
{
    return m == DOC_PAGE_OCR ? "ocr" : "text";
}

int doc_pages_check_count(long pages, const struct doc_page_limits *lim, char *err, size_t errlen)
{
    if (pages > lim->max_pages) {
        snprintf(err, errlen,
                 DOC_ERR_TOO_MANY_PAGES ": the document has %ld pages; at most %ld are read "
                                        "(DOCWORKER_MAX_PAGES)",
                 pages, lim->max_pages);
        return -1;
    }
    return 0;
}

int doc_page_render_size(double w_pt, double h_pt, int page, const struct doc_page_limits *lim,
                         long max_side, int *w_px, int *h_px, char *err, size_t errlen)
{
    *w_px = *h_px = 0;
    if (!(w_pt > 0) || !(h_pt > 0) || !isfinite(w_pt) || !isfinite(h_pt)) {
        snprintf(err, errlen, DOC_ERR_PDF_DAMAGED ": page %d has no usable size", page);
        return -1;
    }
    double w = ceil(w_pt * (double)lim->dpi / 72.0), h = ceil(h_pt * (double)lim->dpi / 72.0);
    if (w * h > (double)lim->max_pixels || w > (double)max_side || h > (double)max_side) {
        snprintf(err, errlen,
                 DOC_ERR_IMAGE_TOO_LARGE ": page %d is %.0fx%.0f points, %.0fx%.0f pixels at %ld "
                                         "dpi; at most %ld pixels per page (DOCWORKER_MAX_PIXELS) "
                                         "and %ld per side",
                 page, w_pt, h_pt, w, h, lim->dpi, lim->max_pixels, max_side);
        return -1;
    }
    *w_px = w < 1 ? 1 : (int)w;
    *h_px = h < 1 ? 1 : (int)h;
    return 0;
}

long doc_text_weight(const char *s)
{
    long n = 0;
    if (!s)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xc0) == 0x80)
            continue; /* continuation byte: counted with its lead */
        if (*p <= ' ' || *p == 0x7f)
            continue;
        n++;
    }
    return n;
}

int doc_page_needs_ocr(const char *s, const struct doc_page_limits *lim)
{
    return doc_text_weight(s) < lim->min_chars;
}

char *doc_pages_join(const struct doc_page *pages, int n)
{
    size_t total = 1;
    for (int i = 0; i < n; i++)
        total += (pages[i].text ? strlen(pages[i].text) : 0) + 1;
    char *out = malloc(total), *w = out;
    if (!out)
        return NULL;
    for (int i = 0; i < n; i++) {
        if (i > 0)
            *w++ = '\f';
        if (pages[i].text) {
            size_t k = strlen(pages[i].text);
            memcpy(w, pages[i].text, k);
            w += k;
        }
    }
    *w = '\0';
    return out;
}

int doc_pages_succeeded(const struct doc_page *pages, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += pages[i].text != NULL && pages[i].error[0] == '\0';
    return k;
}

void doc_pages_free(struct doc_page *pages, int n)
{
    if (!pages)
        return;
    for (int i = 0; i < n; i++)
        free(pages[i].text);
    free(pages);
}
