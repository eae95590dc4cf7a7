/* extract.h — a document's pages read in parallel: PDFs with poppler (GLib API; text pages
 * from their text layer, scanned pages rendered with cairo and recognised with Tesseract),
 * images (a multi-page TIFF page by page) with leptonica and Tesseract.
 *
 * Pages are handed out one at a time to the calling thread and to `helpers` extra threads
 * (each with its own PopplerDocument and Tesseract engine: neither is shared between threads).
 * Results are reported through page_done strictly in page order, whatever order they finish
 * in. Limits (pages, pixels per page) are checked for every page before anything is rendered
 * or decoded; the time limit between pages and inside each recognition.
 */
#ifndef AGENTHUB_DOCWORKER_EXTRACT_H
#define AGENTHUB_DOCWORKER_EXTRACT_H

#include <stddef.h>

#include "ocr_header.h"
#include "pages.h"

struct doc_extract_opts {
    const unsigned char *data;
    size_t len;
    int is_pdf; /* else an image (ocr_header formats) */
    const char *lang;
    struct doc_page_limits lim;
    struct ocr_limits img_limits; /* images: checked from the header before decoding */
    double max_seconds;           /* per document; <= 0: none */
    /* Extra threads: borrow(opaque, want) returns how many may start (0..want); each one is
     * returned with give_back(opaque, 1) when it ends. NULL: no extra threads. */
    int (*borrow)(void *opaque, int want);
    void (*give_back)(void *opaque, int n);
    /* Called once the page count is known (before any page is read), then once per page in
     * page order (page is 1-based). Serialised: never two calls at once. Both may be NULL. */
    void (*started)(void *opaque, int npages);
    void (*page_done)(void *opaque, int page, int npages, const struct doc_page *p);
    void *opaque;
};

/* One-time process set-up (poppler's global state, its messages kept off stderr): call once
 * from main() before any thread reads a document. */
void doc_extract_init(void);

/* Reads every page. Returns 0 when the document was read (*pages has *npages entries; some may
 * carry a page error), or -1 with err "code: details" (pages.h) when the document as a whole
 * failed; *pages then holds what was read before the failure (or NULL). Free with
 * doc_pages_free(). */
int doc_extract_pages(const struct doc_extract_opts *o, struct doc_page **pages, int *npages,
                      char *err, size_t errlen);

#endif
