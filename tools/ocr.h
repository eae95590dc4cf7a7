/* ocr.h — text from images with Tesseract (libtesseract's C API + leptonica).
 *
 * Any format leptonica reads (PNG, JPEG, TIFF, BMP, GIF, WebP, PNM). One TessBaseAPI per
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

#define OCR_MAX_IMAGE_BYTES (20L * 1024 * 1024)

/* *text malloc'd UTF-8 (free()), trailing blanks trimmed. */
int ocr_image(const unsigned char *data, size_t len, const char *lang, char **text, char *err,
              size_t errlen);
/* 1 when <lang>.traineddata is installed. */
int ocr_lang_available(const char *lang);
const char *ocr_default_lang(void);

#endif
