/* ocr_header.h — image sizes read from the file's header, before anything is decoded.
 *
 * A PNG of a few kilobytes can claim 100000x100000 RGBA pixels and a TIFF can hold hundreds of
 * such pages: handed to a decoder, either takes gigabytes. ocr_header_read() parses only the
 * header bytes of the formats the OCR path decodes (PNG IHDR, JPEG SOFn, every TIFF IFD of the
 * main chain, every GIF image descriptor, BMP, PNM, WebP VP8/VP8L/VP8X) and
 * ocr_header_check() compares what they claim with limits. Pure (no library calls), so it is
 * unit-tested with crafted files (tests/unit/test_ocr_header.c).
 *
 * A file whose header cannot be read completely (truncated, inconsistent, a format not in the
 * list) is refused: it is never handed to a decoder blind.
 */
#ifndef AGENTHUB_OCR_HEADER_H
#define AGENTHUB_OCR_HEADER_H

#include <stddef.h>
#include <stdint.h>

/* Error codes at the start of every message, "code: details". */
#define OCR_ERR_TOO_LARGE "image_too_large"
#define OCR_ERR_TOO_MANY_PAGES "image_too_many_pages"
#define OCR_ERR_BAD_HEADER "image_header_unreadable"

/* Defaults of the limits (DOCWORKER_MAX_PIXELS, _MAX_PAGES, _MAX_DECODED_BYTES; the OCR tool's
 * max_pixels, max_pages, max_decoded_bytes) and the ceilings their settings are bounded by. */
#define OCR_DEFAULT_MAX_PIXELS 40000000L
#define OCR_DEFAULT_MAX_PAGES 50L
#define OCR_DEFAULT_MAX_DECODED_BYTES (1024L * 1024 * 1024)
#define OCR_CEIL_MAX_PIXELS 400000000L
#define OCR_CEIL_MAX_PAGES 1000L
#define OCR_CEIL_MAX_DECODED_BYTES (16L * 1024 * 1024 * 1024)
#define OCR_MAX_SIDE 30000L /* pixels per side, whatever the area (Tesseract's own is 32767) */

enum ocr_format {
    OCR_FMT_UNKNOWN = 0,
    OCR_FMT_PNG,
    OCR_FMT_JPEG,
    OCR_FMT_TIFF,
    OCR_FMT_GIF,
    OCR_FMT_BMP,
    OCR_FMT_PNM,
    OCR_FMT_WEBP,
};

struct ocr_limits {
    long max_pixels;             /* per page (frame) */
    long max_pages;              /* pages of a TIFF, frames of a GIF */
    long long max_decoded_bytes; /* estimate summed over every page */
};

/* What the header claims. For a multi-page file, width/height/bits are the largest page's. */
struct ocr_header {
    enum ocr_format format;
    long pages;             /* >= 1 */
    uint32_t width, height; /* the largest page by area */
    unsigned bits;          /* bits per pixel of that page (samples x bits per sample) */
    long long max_page_pixels;
    uint32_t max_side;       /* the longest side of any page */
    long long decoded_bytes; /* estimate: decoder buffers + leptonica's PIX, all pages */
};

/* The default limits (OCR_DEFAULT_*). */
void ocr_limits_default(struct ocr_limits *lim);
const char *ocr_format_name(enum ocr_format f);

/* Parses the header. 0, or -EINVAL with err = "image_header_unreadable: ..." (also for a
 * format not listed above). max_pages bounds the TIFF/GIF walk: a file with more pages stops
 * the walk and reports pages = max_pages + 1 (so a loop of IFDs ends). */
int ocr_header_read(const unsigned char *data, size_t len, long max_pages, struct ocr_header *h,
                    char *err, size_t errlen);

/* ocr_header_read, then the limits: 0, -EINVAL (unreadable) or -E2BIG with err =
 * "image_too_large: ..." / "image_too_many_pages: ...". setting_prefix names the settings in
 * the message ("DOCWORKER_" gives "DOCWORKER_MAX_PIXELS"; NULL or "" gives "max_pixels"). */
int ocr_header_check(const unsigned char *data, size_t len, const struct ocr_limits *lim,
                     const char *setting_prefix, struct ocr_header *h, char *err, size_t errlen);

#endif
