/* doc_kind.h — what an uploaded document is, from its bytes: the ingress refuses what no
 * reader takes (415 at upload, not a 202 and a failed document later) and the docworker picks
 * its reader by it. Pure; tests/unit/test_docworker_doc.c. */
#ifndef AGENTHUB_DOC_KIND_H
#define AGENTHUB_DOC_KIND_H

#include <stddef.h>

enum doc_kind {
    DOC_KIND_UNKNOWN = 0,
    DOC_KIND_IMAGE, /* PNG, JPEG, TIFF, GIF, BMP, WebP, PNM: OCR */
    DOC_KIND_TEXT,  /* text/plain: passed through */
    DOC_KIND_PDF,   /* poppler: text pages extracted, scanned pages rendered and OCRed */
};

/* The kind by the content's magic bytes first, then by the declared content type (text/plain,
 * which has no magic, in UTF-8 or ASCII; application/pdf). */
enum doc_kind doc_sniff(const unsigned char *data, size_t len, const char *content_type);
const char *doc_kind_name(enum doc_kind k);

#endif
