/* fuzz_ocr_header — libFuzzer target for the image header reader (tools/ocr_header.c).
 *
 * Every uploaded image (POST /api/{tenant}/documents, the OCR tool's attachments) has its
 * header read by hand-written code before any decoder sees it, so any bytes must be safe to
 * read. Checked, beyond the sanitizers:
 *   - a refusal says why, with the code the API reports ("image_header_unreadable: ...",
 *     "image_too_large: ...", "image_too_many_pages: ...");
 *   - an accepted header is consistent: a known format, at least one page and no more than
 *     the walk allows, the largest page's size and side within what it claims, a decoded
 *     estimate that covers that page;
 *   - the default limits hold for what ocr_header_check accepts;
 *   - reading is deterministic.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocr_header.c"

#define FUZZ_TARGET "fuzz_ocr_header"
#include "fuzz_check.h"

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ocr_header h, h2;
    struct ocr_limits lim;
    char err[256], err2[256];
    long max_pages = 1 + (size ? data[0] % 8 : 0); /* small walks as well as the default */

    for (int round = 0; round < 2; round++) {
        long mp = round ? OCR_DEFAULT_MAX_PAGES : max_pages;
        memset(&h, 0xAB, sizeof h);
        err[0] = '\0';
        int rc = ocr_header_read(data, size, mp, &h, err, sizeof err);
        if (rc != 0) {
            fuzz_check(rc == -EINVAL, "a refusal other than -EINVAL");
            fuzz_check(starts(err, OCR_ERR_BAD_HEADER ": "), "a refusal without its code");
            continue;
        }
        fuzz_check(h.format != OCR_FMT_UNKNOWN, "accepted an unknown format");
        fuzz_check(h.pages >= 1 && h.pages <= mp + 1, "page count outside the walk");
        fuzz_check(h.max_page_pixels == sat_mul(h.width, h.height),
                   "the largest page's pixels are not its size");
        fuzz_check(h.width <= h.max_side && h.height <= h.max_side, "a side over max_side");
        fuzz_check(h.decoded_bytes >= 0 && h.decoded_bytes >= h.max_page_pixels / 8,
                   "decoded estimate below the largest page");

        memset(&h2, 0, sizeof h2);
        fuzz_check(ocr_header_read(data, size, mp, &h2, err2, sizeof err2) == 0 &&
                       h2.pages == h.pages && h2.width == h.width && h2.height == h.height &&
                       h2.decoded_bytes == h.decoded_bytes,
                   "reading twice differs");
    }

    ocr_limits_default(&lim);
    err[0] = '\0';
    int rc = ocr_header_check(data, size, &lim, "DOCWORKER_", &h, err, sizeof err);
    if (rc == 0) {
        fuzz_check(h.max_page_pixels <= lim.max_pixels && h.pages <= lim.max_pages &&
                       h.max_side <= OCR_MAX_SIDE && h.decoded_bytes <= lim.max_decoded_bytes,
                   "accepted over the default limits");
    } else if (rc == -E2BIG) {
        fuzz_check(starts(err, OCR_ERR_TOO_LARGE ": ") || starts(err, OCR_ERR_TOO_MANY_PAGES ": "),
                   "a limit refusal without its code");
    } else {
        fuzz_check(rc == -EINVAL && starts(err, OCR_ERR_BAD_HEADER ": "),
                   "an unreadable refusal without its code");
    }
    return 0;
}
