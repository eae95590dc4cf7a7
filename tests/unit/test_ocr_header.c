/* test_ocr_header.c — image sizes from headers (tools/ocr_header.c) on tiny crafted files: a
 * 60-byte PNG that claims 100000x100000 pixels, TIFFs claiming many large pages, truncated and
 * inconsistent headers of every format the OCR path decodes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ocr_header.h"

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}
static void put_le16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void put_le32(unsigned char *p, uint32_t v)
{
    put_le16(p, v & 0xffff);
    put_le16(p + 2, v >> 16);
}

/* Signature + IHDR (+ a fake IDAT and IEND): 60 bytes; the CRCs are not looked at here. */
static size_t make_png(unsigned char *b, uint32_t w, uint32_t h, unsigned depth, unsigned ctype)
{
    memset(b, 0, 60);
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    put_be32(b + 8, 13);
    memcpy(b + 12, "IHDR", 4);
    put_be32(b + 16, w);
    put_be32(b + 20, h);
    b[24] = (unsigned char)depth;
    b[25] = (unsigned char)ctype;
    put_be32(b + 33, 7);
    memcpy(b + 37, "IDAT", 4);
    memcpy(b + 52, "IEND\xae\x42\x60\x82", 8);
    return 60;
}

/* A little-endian TIFF of `pages` IFDs, each w x h, spp samples of 8 bits; every page is
 * chained to the next (the last one's next offset is `last_next`, 0 normally). */
static unsigned char *make_tiff(long pages, uint32_t w, uint32_t h, unsigned spp,
                                uint32_t last_next, size_t *len)
{
    const unsigned nent = 4;
    size_t ifd = 2 + 12 * nent + 4, bps_at = 8;
    size_t n = 8 + 16 + (size_t)pages * ifd;
    unsigned char *b = calloc(1, n);
    memcpy(b, "II*\0", 4);
    put_le32(b + 4, 8 + 16);
    for (unsigned k = 0; k < 8; k++)
        put_le16(b + bps_at + 2 * k, 8);
    for (long p = 0; p < pages; p++) {
        unsigned char *d = b + 8 + 16 + (size_t)p * ifd;
        put_le16(d, nent);
        unsigned char *e = d + 2;
        put_le16(e, 256), put_le16(e + 2, 4), put_le32(e + 4, 1), put_le32(e + 8, w);
        e += 12;
        put_le16(e, 257), put_le16(e + 2, 4), put_le32(e + 4, 1), put_le32(e + 8, h);
        e += 12;
        put_le16(e, 258), put_le16(e + 2, 3), put_le32(e + 4, spp);
        if (spp <= 2)
            put_le16(e + 8, 8), put_le16(e + 10, 8);
        else
            put_le32(e + 8, (uint32_t)bps_at);
        e += 12;
        put_le16(e, 277), put_le16(e + 2, 3), put_le32(e + 4, 1), put_le16(e + 8, spp);
        e += 12;
        uint32_t next = p + 1 < pages ? (uint32_t)(8 + 16 + (size_t)(p + 1) * ifd) : last_next;
        put_le32(e, next);
    }
    *len = n;
    return b;
}

/* A header may claim any size: 2^31-1 x 2^31-1 pixels of 32 bits is more bytes than a long
 * long holds. The estimate saturates (over every limit) instead of overflowing (UBSan aborted
 * here before: "signed integer overflow" in add_page; fuzz_ocr_header found it). */
static void test_sizes_beyond_long_long(void **state)
{
    (void)state;
    unsigned char b[54] = {'B', 'M'};
    struct ocr_header h;
    struct ocr_limits lim;
    char err[256];
    ocr_limits_default(&lim);
    b[14] = 40;                                 /* BITMAPINFOHEADER */
    b[18] = b[19] = b[20] = 0xFF, b[21] = 0x7F; /* width 2^31-1 */
    b[22] = b[23] = b[24] = 0xFF, b[25] = 0x7F; /* height 2^31-1 */
    b[28] = 32;                                 /* bits per pixel */
    assert_int_equal(ocr_header_read(b, sizeof b, 50, &h, err, sizeof err), 0);
    assert_int_equal(h.format, OCR_FMT_BMP);
    assert_int_equal(h.width, 0x7FFFFFFFu);
    assert_true(h.max_page_pixels == 0x7FFFFFFFLL * 0x7FFFFFFFLL);
    assert_true(h.decoded_bytes == LLONG_MAX);
    assert_int_equal(ocr_header_check(b, sizeof b, &lim, "DOCWORKER_", &h, err, sizeof err),
                     -E2BIG);
    assert_non_null(strstr(err, "image_too_large: "));
}

static void test_png_bomb_60_bytes(void **state)
{
    (void)state;
    unsigned char b[60];
    struct ocr_header h;
    struct ocr_limits lim;
    char err[256];
    ocr_limits_default(&lim);
    size_t n = make_png(b, 100000, 100000, 8, 6);
    assert_int_equal(n, 60);
    assert_int_equal(ocr_header_read(b, n, 50, &h, err, sizeof err), 0);
    assert_int_equal(h.format, OCR_FMT_PNG);
    assert_int_equal(h.width, 100000);
    assert_int_equal(h.bits, 32);
    assert_true(h.decoded_bytes >= 4LL * 100000 * 100000);
    assert_int_equal(ocr_header_check(b, n, &lim, "DOCWORKER_", &h, err, sizeof err), -E2BIG);
    assert_string_equal(
        err, "image_too_large: 100000x100000 pixels exceeds DOCWORKER_MAX_PIXELS 40000000");
    /* without a prefix the tool's config key is named */
    assert_int_equal(ocr_header_check(b, n, &lim, NULL, &h, err, sizeof err), -E2BIG);
    assert_non_null(strstr(err, "max_pixels 40000000"));
    /* a page that fits */
    n = make_png(b, 2480, 3508, 8, 0);
    assert_int_equal(ocr_header_check(b, n, &lim, "DOCWORKER_", &h, err, sizeof err), 0);
    assert_int_equal(h.pages, 1);
    /* within the pixels, but one side too long */
    n = make_png(b, 40000, 10, 1, 0);
    assert_int_equal(ocr_header_check(b, n, &lim, "DOCWORKER_", &h, err, sizeof err), -E2BIG);
    assert_non_null(strstr(err, "a side of 40000 pixels"));
    /* a tighter budget of decoded bytes */
    lim.max_decoded_bytes = 1000000;
    n = make_png(b, 1000, 1000, 8, 6);
    assert_int_equal(ocr_header_check(b, n, &lim, "DOCWORKER_", &h, err, sizeof err), -E2BIG);
    assert_non_null(strstr(err, "DOCWORKER_MAX_DECODED_BYTES 1000000"));
}

static void test_png_bad_headers(void **state)
{
    (void)state;
    unsigned char b[60];
    struct ocr_header h;
    char err[256];
    size_t n = make_png(b, 100, 100, 8, 6);
    for (size_t cut = 8; cut < 33; cut++) {
        assert_int_equal(ocr_header_read(b, cut, 50, &h, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "image_header_unreadable"));
    }
    make_png(b, 0, 100, 8, 6);
    assert_int_equal(ocr_header_read(b, n, 50, &h, err, sizeof err), -EINVAL);
    make_png(b, 100, 100, 7, 6);
    assert_int_equal(ocr_header_read(b, n, 50, &h, err, sizeof err), -EINVAL);
    make_png(b, 100, 100, 8, 5);
    assert_int_equal(ocr_header_read(b, n, 50, &h, err, sizeof err), -EINVAL);
    make_png(b, 100, 100, 8, 6);
    memcpy(b + 12, "IDAT", 4); /* IHDR must come first */
    assert_int_equal(ocr_header_read(b, n, 50, &h, err, sizeof err), -EINVAL);
}

static void test_tiff_many_large_pages(void **state)
{
    (void)state;
    struct ocr_header h;
    struct ocr_limits lim;
    char err[256];
    size_t n;
    ocr_limits_default(&lim);

    /* 60 pages: more than DOCWORKER_MAX_PAGES, found without reading past page 51 */
    unsigned char *t = make_tiff(60, 1000, 1000, 1, 0, &n);
    assert_true(n < 4096);
    assert_int_equal(ocr_header_check(t, n, &lim, "DOCWORKER_", &h, err, sizeof err), -E2BIG);
    assert_string_equal(err, "image_too_many_pages: the tiff has more than 50 pages "
                             "(DOCWORKER_MAX_PAGES 50)");
    free(t);

    /* 40 pages of 6000x6000 8-bit grey: each page fits, all of them do not */
    t = make_tiff(40, 6000, 6000, 1, 0, &n);
    assert_int_equal(ocr_header_check(t, n, &lim, "DOCWORKER_", &h, err, sizeof err), -E2BIG);
    assert_int_equal(h.pages, 40);
    assert_non_null(strstr(err, "image_too_large: decoding 40 pages needs about"));
    assert_non_null(strstr(err, "DOCWORKER_MAX_DECODED_BYTES 1073741824"));
    free(t);

    /* 3 pages, one of 50000x50000 RGB */
    t = make_tiff(3, 50000, 50000, 3, 0, &n);
    assert_int_equal(ocr_header_check(t, n, &lim, "DOCWORKER_", &h, err, sizeof err), -E2BIG);
    assert_string_equal(
        err, "image_too_large: 50000x50000 pixels exceeds DOCWORKER_MAX_PIXELS 40000000");
    assert_int_equal(h.bits, 24);
    free(t);

    /* a loop of IFDs ends the walk at the page limit */
    t = make_tiff(2, 100, 100, 1, 8 + 16, &n);
    assert_int_equal(ocr_header_check(t, n, &lim, "DOCWORKER_", &h, err, sizeof err), -E2BIG);
    assert_non_null(strstr(err, "image_too_many_pages"));
    free(t);

    /* two ordinary pages */
    t = make_tiff(2, 2480, 3508, 1, 0, &n);
    assert_int_equal(ocr_header_check(t, n, &lim, "DOCWORKER_", &h, err, sizeof err), 0);
    assert_int_equal(h.pages, 2);
    assert_int_equal(h.format, OCR_FMT_TIFF);
    /* truncated anywhere inside the directories: refused, never "fewer pages" */
    for (size_t cut = 4; cut < n; cut += 7) {
        assert_int_equal(ocr_header_read(t, cut, 50, &h, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "image_header_unreadable: TIFF"));
    }
    /* a next-IFD offset past the end */
    put_le32(t + n - 4, 0x7fffffff);
    assert_int_equal(ocr_header_read(t, n, 50, &h, err, sizeof err), -EINVAL);
    free(t);

    /* a page without a width */
    t = make_tiff(1, 100, 100, 1, 0, &n);
    put_le16(t + 8 + 16 + 2, 999);
    assert_int_equal(ocr_header_read(t, n, 50, &h, err, sizeof err), -EINVAL);
    free(t);

    /* big-endian, as written by hand */
    unsigned char be[8 + 2 + 24 + 4] = {'M', 'M', 0, 42, 0, 0, 0,    8,    0, 2, 1, 0,
                                        0,   3,   0, 0,  0, 1, 0x1f, 0x40, 0, 0, 1, 1,
                                        0,   3,   0, 0,  0, 1, 0x1f, 0x40, 0, 0};
    assert_int_equal(ocr_header_read(be, sizeof be, 50, &h, err, sizeof err), 0);
    assert_int_equal(h.width, 8000);
    assert_int_equal(h.height, 8000);
    assert_int_equal(h.bits, 1);
}

static void test_jpeg(void **state)
{
    (void)state;
    struct ocr_header h;
    char err[256];
    /* SOI, APP0 (16 bytes), SOF2 of 60000x50000 with 3 components, then EOI */
    unsigned char j[] = {0xff, 0xd8, 0xff, 0xe0, 0,    16,   'J',  'F',  'I', 'F',  0,
                         1,    1,    0,    0,    1,    0,    1,    0,    0,   0xff, 0xff,
                         0xc2, 0,    17,   8,    0xc3, 0x50, 0xea, 0x60, 3,   1,    0x22,
                         0,    2,    0x11, 1,    3,    0x11, 1,    0xff, 0xd9};
    assert_int_equal(ocr_header_read(j, sizeof j, 50, &h, err, sizeof err), 0);
    assert_int_equal(h.format, OCR_FMT_JPEG);
    assert_int_equal(h.width, 60000);
    assert_int_equal(h.height, 50000);
    assert_int_equal(ocr_header_check(j, sizeof j, NULL, "DOCWORKER_", &h, err, sizeof err),
                     -E2BIG);
    assert_non_null(strstr(err, "60000x50000"));
    /* cut before the frame header */
    assert_int_equal(ocr_header_read(j, 24, 50, &h, err, sizeof err), -EINVAL);
    /* a scan before any frame header */
    unsigned char sos[] = {0xff, 0xd8, 0xff, 0xda, 0, 2, 0xff, 0xd9};
    assert_int_equal(ocr_header_read(sos, sizeof sos, 50, &h, err, sizeof err), -EINVAL);
    /* height 0 (DNL) */
    j[26] = 0, j[27] = 0;
    assert_int_equal(ocr_header_read(j, sizeof j, 50, &h, err, sizeof err), -EINVAL);
    j[26] = 0x01, j[27] = 0x00;
    /* garbage where a marker is due */
    j[20] = 0x00;
    assert_int_equal(ocr_header_read(j, sizeof j, 50, &h, err, sizeof err), -EINVAL);
}

static void test_gif_bmp_pnm_webp(void **state)
{
    (void)state;
    struct ocr_header h;
    struct ocr_limits lim;
    char err[256];
    ocr_limits_default(&lim);

    /* GIF: a 10x10 screen and one 65535x65535 frame with a tiny LZW stream */
    unsigned char g[] = {'G', 'I', 'F', '8',  '9',  'a',  10,   0, 10, 0, 0,    0,    0, 0x2c, 0,
                         0,   0,   0,   0xff, 0xff, 0xff, 0xff, 0, 2,  2, 0x4c, 0x01, 0, 0x3b};
    assert_int_equal(ocr_header_check(g, sizeof g, &lim, "DOCWORKER_", &h, err, sizeof err),
                     -E2BIG);
    assert_non_null(strstr(err, "65535x65535"));
    assert_int_equal(ocr_header_read(g, sizeof g - 1, 50, &h, err, sizeof err), -EINVAL);
    /* many frames count as pages */
    size_t gn = 13 + 60 * 14 + 1;
    unsigned char *many = calloc(1, gn);
    memcpy(many, g, 13);
    for (int i = 0; i < 60; i++) {
        unsigned char fr[14] = {0x2c, 0, 0, 0, 0, 10, 0, 10, 0, 0, 2, 1, 0x44, 0};
        memcpy(many + 13 + 14 * i, fr, 14);
    }
    many[gn - 1] = 0x3b;
    assert_int_equal(ocr_header_check(many, gn, &lim, NULL, &h, err, sizeof err), -E2BIG);
    assert_non_null(strstr(err, "image_too_many_pages"));
    lim.max_pages = 100;
    assert_int_equal(ocr_header_check(many, gn, &lim, NULL, &h, err, sizeof err), 0);
    assert_int_equal(h.pages, 60);
    free(many);

    /* BMP: 40-byte info header, 50000 x -50000 (top-down), 24 bits */
    unsigned char bmp[54] = {'B', 'M'};
    put_le32(bmp + 14, 40);
    put_le32(bmp + 18, 50000);
    put_le32(bmp + 22, (uint32_t)-50000);
    put_le16(bmp + 28, 24);
    assert_int_equal(ocr_header_check(bmp, sizeof bmp, NULL, "DOCWORKER_", &h, err, sizeof err),
                     -E2BIG);
    assert_non_null(strstr(err, "50000x50000"));
    put_le16(bmp + 28, 7);
    assert_int_equal(ocr_header_read(bmp, sizeof bmp, 50, &h, err, sizeof err), -EINVAL);
    assert_int_equal(ocr_header_read(bmp, 20, 50, &h, err, sizeof err), -EINVAL);

    /* PNM with a comment */
    const char *pnm = "P6\n# scanner\n70000 70000\n255\n";
    assert_int_equal(ocr_header_check((const unsigned char *)pnm, strlen(pnm), NULL, "DOCWORKER_",
                                      &h, err, sizeof err),
                     -E2BIG);
    assert_int_equal(h.bits, 24);
    const char *pbm = "P4 640 480\n";
    assert_int_equal(
        ocr_header_read((const unsigned char *)pbm, strlen(pbm), 50, &h, err, sizeof err), 0);
    assert_int_equal(h.bits, 1);
    const char *cut = "P5 640 48";
    assert_int_equal(
        ocr_header_read((const unsigned char *)cut, strlen(cut), 50, &h, err, sizeof err), -EINVAL);
    const char *huge = "P5 99999999999 2 255\n";
    assert_int_equal(
        ocr_header_read((const unsigned char *)huge, strlen(huge), 50, &h, err, sizeof err),
        -EINVAL);

    /* WebP VP8X canvas of 16777216 x 16777216 */
    unsigned char w[30] = {'R', 'I', 'F', 'F', 22,   0,    0,    0,    'W',  'E',
                           'B', 'P', 'V', 'P', '8',  'X',  10,   0,    0,    0,
                           0,   0,   0,   0,   0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(ocr_header_check(w, sizeof w, NULL, "DOCWORKER_", &h, err, sizeof err),
                     -E2BIG);
    assert_int_equal(h.width, 16777216);
    /* VP8L 100x200 */
    unsigned char l[30] = {'R', 'I', 'F', 'F', 22,  0,  0, 0, 'W', 'E', 'B',
                           'P', 'V', 'P', '8', 'L', 10, 0, 0, 0,   0x2f};
    put_le32(l + 21, 99 | (199u << 14));
    assert_int_equal(ocr_header_read(l, sizeof l, 50, &h, err, sizeof err), 0);
    assert_int_equal(h.width, 100);
    assert_int_equal(h.height, 200);
    assert_int_equal(ocr_header_read(l, 20, 50, &h, err, sizeof err), -EINVAL);
}

static void test_unknown_and_empty(void **state)
{
    (void)state;
    struct ocr_header h;
    char err[256];
    const unsigned char spix[] = "spix\0\0\0\0 leptonica's own format is not accepted";
    assert_int_equal(ocr_header_read(spix, sizeof spix, 50, &h, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "image_header_unreadable: not a readable image"));
    assert_int_equal(ocr_header_read(spix, 0, 50, &h, err, sizeof err), -EINVAL);
    assert_int_equal(ocr_header_read(NULL, 10, 50, &h, err, sizeof err), -EINVAL);
    assert_string_equal(ocr_format_name(OCR_FMT_WEBP), "webp");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_beyond_long_long),
        cmocka_unit_test(test_png_bomb_60_bytes),
        cmocka_unit_test(test_png_bad_headers),
        cmocka_unit_test(test_tiff_many_large_pages),
        cmocka_unit_test(test_jpeg),
        cmocka_unit_test(test_gif_bmp_pnm_webp),
        cmocka_unit_test(test_unknown_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
