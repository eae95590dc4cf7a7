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
/* 1 when <lang>.traineddata is installed. */
int ocr_lang_available(const char *lang);
const char *ocr_default_lang(void);

#endif
