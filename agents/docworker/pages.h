/* pages.h — a document page by page: the per-page results, the limits checked before a page is
 * rendered, and the document's text made from its pages. Pure (no library calls); unit-tested
 * in tests/unit/test_docworker_pages.c.
 *
 * Error codes start the message ("code: details") and land in metadata.error_code:
 *   too_many_pages   the document has more than DOCWORKER_MAX_PAGES pages
 *   image_too_large  a page would render (PDF) or decode (image) to more than
 *                    DOCWORKER_MAX_PIXELS pixels; checked before anything is rendered or decoded
 *   timeout          the document took longer than DOCWORKER_MAX_SECONDS
 *   pdf_encrypted, pdf_damaged, pdf_truncated, pdf_no_pages   the PDF cannot be read
 *   no_text          every page failed (the first page's error follows)
 *   text_not_utf8    a text/plain document, or the text read, is not UTF-8
 *   unsupported_document_type   no reader takes the document
 *   ocr_failed       the OCR engine gave up without saying why
 *   out_of_memory
 * The OCR engine's own (tools/ocr.h) follow the same form: image_empty, image_truncated,
 * image_unreadable, ocr_language_missing, ocr_failed, out_of_memory.
 */
#ifndef AGENTHUB_DOCWORKER_PAGES_H
#define AGENTHUB_DOCWORKER_PAGES_H

#include <stddef.h>

#define DOC_ERR_TOO_MANY_PAGES "too_many_pages"
#define DOC_ERR_IMAGE_TOO_LARGE "image_too_large"
#define DOC_ERR_TIMEOUT "timeout"
#define DOC_ERR_PDF_ENCRYPTED "pdf_encrypted"
#define DOC_ERR_PDF_DAMAGED "pdf_damaged"
#define DOC_ERR_PDF_TRUNCATED "pdf_truncated"
#define DOC_ERR_PDF_NO_PAGES "pdf_no_pages"
#define DOC_ERR_NO_TEXT "no_text"
#define DOC_ERR_TEXT_NOT_UTF8 "text_not_utf8"
#define DOC_ERR_UNSUPPORTED "unsupported_document_type"
#define DOC_ERR_OCR_FAILED "ocr_failed"
#define DOC_ERR_OOM "out_of_memory"

#define DOC_PAGE_ERR_MAX 256

enum doc_page_method {
    DOC_PAGE_TEXT = 0, /* text extracted from the PDF's text objects */
    DOC_PAGE_OCR = 1,  /* rendered or decoded, then recognised by Tesseract */
};

/* One page's result (document_pages row). */
struct doc_page {
    enum doc_page_method method;
    char *text;                   /* malloc'd UTF-8; NULL when the page failed */
    float confidence;             /* OCR only: 0..100 */
    char error[DOC_PAGE_ERR_MAX]; /* "" when the page succeeded */
    int done;                     /* the result is final */
};

struct doc_page_limits {
    long max_pages;
    long max_pixels; /* per page */
    long dpi;        /* PDF pages are rendered at this resolution */
    long min_chars;  /* a PDF page with fewer non-blank characters of text is OCRed */
};

const char *doc_page_method_name(enum doc_page_method m);

/* 0, or -1 with err "too_many_pages: ..." (pages < 1 is not this function's business). */
int doc_pages_check_count(long pages, const struct doc_page_limits *lim, char *err, size_t errlen);

/* The pixel size of a w_pt x h_pt (PostScript points) page at lim->dpi, and whether it is
 * within lim->max_pixels and the longest side a renderer / Tesseract accept (max_side).
 * 0, or -1 with err "image_too_large: page N ...". */
int doc_page_render_size(double w_pt, double h_pt, int page, const struct doc_page_limits *lim,
                         long max_side, int *w_px, int *h_px, char *err, size_t errlen);

/* Non-blank characters (UTF-8 code points that are not spaces/controls) in s. */
long doc_text_weight(const char *s);

/* 1 when a PDF page whose text layer is `s` should be rendered and OCRed instead. */
int doc_page_needs_ocr(const char *s, const struct doc_page_limits *lim);

/* The document's text: every page's text (a failed page contributes an empty string) joined by
 * form feeds, so that page i is the i-th '\f'-separated part. malloc'd, or NULL (no memory). */
char *doc_pages_join(const struct doc_page *pages, int n);

/* Pages that succeeded. */
int doc_pages_succeeded(const struct doc_page *pages, int n);

void doc_pages_free(struct doc_page *pages, int n); /* frees texts and the array */

#endif
