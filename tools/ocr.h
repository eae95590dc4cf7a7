/* ocr.h — text from images with Tesseract (libtesseract's C API + leptonica).
 *
 * PNG, JPEG, TIFF, BMP, GIF, WebP, PNM (leptonica's decoders). One TessBaseAPI per
 * call (Tesseract instances are not shared across threads; init costs ~100 ms, fine for a
 * tool call or a batch worker). Library chatter is silenced so stderr stays JSON lines.
 *
 * Languages: lang like "eng", "vie" or "eng+vie"; NULL uses ocr_default_lang(): "eng+vie"
 * when vie.traineddata is installed (Debian package tesseract-ocr-vie), else "eng". A
 * requested language that is not installed falls back to the default, never fails.
 * Data files come from TESSDATA_PREFIX, else Tesseract's compiled-in path.
 */
#ifndef AGENTHUB_OCR_H
#define AGENTHUB_OCR_H

#include <stddef.h>

#include "ocr_header.h"

#define OCR_MAX_IMAGE_BYTES (20L * 1024 * 1024)

/* Size limits: every image is checked from its header (ocr_header.h) BEFORE any decoder sees
 * it, and decoded with the decoder of the format the header was read as (never leptonica's
 * guess). Over a limit: -E2BIG, err "image_too_large: ..." or "image_too_many_pages: ...";
 * an unreadable header or a format outside the list: -EINVAL, "image_header_unreadable: ...".
 * Every err starts with its code so ("code: details"; the docworker's metadata.error_code):
 * also image_empty, image_truncated, image_unreadable, ocr_language_missing, ocr_failed,
 * out_of_memory.
 *
 * ocr_document: lim NULL for the defaults; setting_prefix names the limits in messages (see
 * ocr_header_check). all_pages 0 reads the first page only; otherwise every page of a TIFF is
 * decoded and recognised one at a time and the texts are joined by form feeds (as Tesseract
 * separates pages). *pages (may be NULL) gets the pages read. *text malloc'd UTF-8 (free()),
 * trailing blanks trimmed. */
int ocr_document(const unsigned char *data, size_t len, const char *lang,
                 const struct ocr_limits *lim, const char *setting_prefix, int all_pages,
                 char **text, int *pages, char *err, size_t errlen);
/* ocr_document with the default limits, first page only. */
int ocr_image(const unsigned char *data, size_t len, const char *lang, char **text, char *err,
              size_t errlen);
/* ---- page by page (the docworker) -------------------------------------------------------------
 * An engine is one initialised Tesseract for one thread, reused for every page that thread
 * reads (initialising costs ~100 ms). Pages come as leptonica images (a TIFF page) or as 8-bit
 * grey rows (a PDF page rendered by cairo). */
struct Pix; /* leptonica's PIX */
struct ocr_engine;

/* lang as for ocr_document (NULL: the default; not installed: the default). 0 or -EIO/-ENOMEM
 * with err. */
int ocr_engine_new(struct ocr_engine **out, const char *lang, char *err, size_t errlen);
void ocr_engine_free(struct ocr_engine *e); /* NULL-safe */
const char *ocr_engine_lang(const struct ocr_engine *e);

/* Checks an image from its header (as ocr_document does: truncation, format, limits) and
 * fills *h; then ocr_image_decode_page() decodes one page (0-based) with the header's format's
 * decoder and checks the decoded size again. Errors as for ocr_document. */
int ocr_image_open(const unsigned char *data, size_t len, const struct ocr_limits *lim,
                   const char *setting_prefix, struct ocr_header *h, char *err, size_t errlen);
int ocr_image_decode_page(const struct ocr_header *h, const unsigned char *data, size_t len,
                          int page, const struct ocr_limits *lim, struct Pix **out, char *err,
                          size_t errlen);
void ocr_pix_free(struct Pix *pix); /* NULL-safe */

/* Recognises one page. timeout_ms > 0 bounds the recognition (then -ETIMEDOUT, err
 * "timeout: ..."). *text malloc'd valid UTF-8, trailing blanks trimmed; *confidence is
 * Tesseract's mean word confidence, 0..100. ocr_engine_grey: rows of `stride` bytes, one byte
 * per pixel (0 black .. 255 white), dpi the resolution it was rendered at. */
int ocr_engine_pix(struct ocr_engine *e, struct Pix *pix, long timeout_ms, char **text,
                   float *confidence, char *err, size_t errlen);
int ocr_engine_grey(struct ocr_engine *e, const unsigned char *grey, int width, int height,
                    int stride, int dpi, long timeout_ms, char **text, float *confidence, char *err,
                    size_t errlen);

/* The language OCR will use for lang: lang itself when every "+"-separated part is
 * installed, else ocr_default_lang() (also for NULL). */
const char *ocr_lang_resolve(const char *lang);
/* 1 when <lang>.traineddata is installed. */
int ocr_lang_available(const char *lang);
const char *ocr_default_lang(void);

#endif
