/* ocr_header.c — see ocr_header.h. Every read is bounds-checked against len; nothing here
 * allocates. */
#include "ocr_header.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define TIFF_MAX_ENTRIES 4096 /* entries of one IFD; libtiff warns past a few hundred */

static uint32_t be16(const unsigned char *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint32_t le16(const unsigned char *p)
{
    return (uint32_t)p[1] << 8 | p[0];
}
static uint32_t le24(const unsigned char *p)
{
    return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

void ocr_limits_default(struct ocr_limits *lim)
{
    lim->max_pixels = OCR_DEFAULT_MAX_PIXELS;
    lim->max_pages = OCR_DEFAULT_MAX_PAGES;
    lim->max_decoded_bytes = OCR_DEFAULT_MAX_DECODED_BYTES;
}

const char *ocr_format_name(enum ocr_format f)
{
    static const char *const names[] = {"unknown", "png", "jpeg", "tiff",
                                        "gif",     "bmp", "pnm",  "webp"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "unknown";
}

/* One page: the largest so far is kept, decoded bytes summed. The estimate is what the
 * decoder holds (rows of bits per pixel) plus leptonica's PIX (1, 8 or 32 bits per pixel). */
/* A header may claim any size: the sums saturate at LLONG_MAX (over every limit) rather
 * than overflow. */
static long long sat_mul(long long a, long long b)
{
    long long r;
    return __builtin_mul_overflow(a, b, &r) ? LLONG_MAX : r;
}

static long long sat_add(long long a, long long b)
{
    long long r;
    return __builtin_add_overflow(a, b, &r) ? LLONG_MAX : r;
}

static void add_page(struct ocr_header *h, uint32_t w, uint32_t ht, unsigned bits)
{
    long long px = sat_mul(w, ht);
    unsigned depth = bits <= 1 ? 1 : bits <= 8 ? 8 : 32;
    long long raw = sat_mul(sat_add(sat_mul(w, bits), 7) / 8, ht);
    long long pix = sat_mul(sat_add(sat_mul(w, depth), 31) / 32 * 4, ht);
    h->pages++;
    if (w > h->max_side)
        h->max_side = w;
    if (ht > h->max_side)
        h->max_side = ht;
    h->decoded_bytes = sat_add(h->decoded_bytes, sat_add(raw, pix));
    if (px > h->max_page_pixels || h->pages == 1) {
        h->max_page_pixels = px;
        h->width = w;
        h->height = ht;
        h->bits = bits;
    }
}

static int bad(char *err, size_t errlen, const char *fmt, const char *why)
{
    snprintf(err, errlen, "%s: %s header: %s", OCR_ERR_BAD_HEADER, fmt, why);
    return -EINVAL;
}

static int read_png(const unsigned char *d, size_t n, struct ocr_header *h, char *err,
                    size_t errlen)
{
    if (n < 33)
        return bad(err, errlen, "PNG", "truncated before the end of IHDR");
    if (be32(d + 8) != 13 || memcmp(d + 12, "IHDR", 4) != 0)
        return bad(err, errlen, "PNG", "the first chunk is not a 13-byte IHDR");
    uint32_t w = be32(d + 16), ht = be32(d + 20);
    unsigned depth = d[24], ctype = d[25], spp;
    if (w == 0 || ht == 0 || w > 0x7fffffffu || ht > 0x7fffffffu)
        return bad(err, errlen, "PNG", "width or height out of range");
    switch (ctype) {
    case 0:
        spp = 1;
        if (depth != 1 && depth != 2 && depth != 4 && depth != 8 && depth != 16)
            return bad(err, errlen, "PNG", "bad bit depth");
        break;
    case 3:
        spp = 1;
        if (depth != 1 && depth != 2 && depth != 4 && depth != 8)
            return bad(err, errlen, "PNG", "bad bit depth");
        break;
    case 2:
    case 4:
    case 6:
        spp = ctype == 2 ? 3 : ctype == 4 ? 2 : 4;
        if (depth != 8 && depth != 16)
            return bad(err, errlen, "PNG", "bad bit depth");
        break;
    default:
        return bad(err, errlen, "PNG", "bad colour type");
    }
    add_page(h, w, ht, spp * depth);
    return 0;
}

/* The first frame header (SOFn), found by walking the marker segments from SOI the way
 * libjpeg does. Anything but a marker where one is due is refused (libjpeg would skip it with
 * a warning, and could then find a different frame header). */
static int read_jpeg(const unsigned char *d, size_t n, struct ocr_header *h, char *err,
                     size_t errlen)
{
    size_t pos = 2;
    for (;;) {
        if (pos >= n)
            return bad(err, errlen, "JPEG", "no frame header (SOFn) before the end");
        if (d[pos] != 0xff)
            return bad(err, errlen, "JPEG", "data where a marker is due");
        while (pos < n && d[pos] == 0xff)
            pos++; /* fill bytes */
        if (pos >= n)
            return bad(err, errlen, "JPEG", "truncated marker");
        unsigned m = d[pos++];
        if (m == 0x01 || (m >= 0xd0 && m <= 0xd7))
            continue; /* standalone markers */
        if (m == 0xd8 || m == 0xd9 || m == 0xda || m == 0x00)
            return bad(err, errlen, "JPEG", "no frame header (SOFn) before the scan");
        if (pos + 2 > n)
            return bad(err, errlen, "JPEG", "truncated segment length");
        size_t seg = be16(d + pos);
        if (seg < 2 || pos + seg > n)
            return bad(err, errlen, "JPEG", "segment length out of range");
        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
            if (seg < 8)
                return bad(err, errlen, "JPEG", "frame header too short");
            unsigned prec = d[pos + 2], nf = d[pos + 7];
            uint32_t ht = be16(d + pos + 3), w = be16(d + pos + 5);
            if (seg != 8 + 3 * (size_t)nf || (nf != 1 && nf != 3 && nf != 4))
                return bad(err, errlen, "JPEG", "bad component count");
            if (ht == 0 || w == 0)
                return bad(err, errlen, "JPEG", "zero width or height (DNL is not accepted)");
            if (prec != 8 && prec != 12)
                return bad(err, errlen, "JPEG", "bad sample precision");
            /* libjpeg's buffers for a progressive or multi-scan image hold every coefficient
             * (16 bits a sample): counted as 16 bits per sample. */
            add_page(h, w, ht, nf * 16);
            return 0;
        }
        pos += seg;
    }
}

struct tiff_rd {
    const unsigned char *d;
    size_t n;
    int le;
};

static uint32_t t16(const struct tiff_rd *t, size_t off)
{
    return t->le ? le16(t->d + off) : be16(t->d + off);
}
static uint32_t t32(const struct tiff_rd *t, size_t off)
{
    return t->le ? le32(t->d + off) : be32(t->d + off);
}

/* One IFD entry's single SHORT or LONG value. -1 for a wrong type or count. */
static long long tiff_scalar(const struct tiff_rd *t, size_t e)
{
    uint32_t type = t16(t, e + 2), count = t32(t, e + 4);
    if (count != 1)
        return -1;
    if (type == 3)
        return t16(t, e + 8);
    if (type == 4)
        return t32(t, e + 8);
    return -1;
}

/* Every IFD of the main chain (the pages leptonica and libtiff read): width, length, bits per
 * sample (the largest of its values) and samples per pixel. */
static int read_tiff(const unsigned char *d, size_t n, long max_pages, struct ocr_header *h,
                     char *err, size_t errlen)
{
    struct tiff_rd t = {d, n, d[0] == 'I'};
    if (n < 8)
        return bad(err, errlen, "TIFF", "truncated");
    uint32_t off = t32(&t, 4);
    if (off == 0)
        return bad(err, errlen, "TIFF", "no image directory");
    while (off != 0) {
        if (h->pages >= max_pages) {
            h->pages++; /* more than allowed: stop walking (also ends a loop of IFDs) */
            return 0;
        }
        if (off < 8 || (size_t)off + 2 > n)
            return bad(err, errlen, "TIFF", "directory offset out of range");
        uint32_t cnt = t16(&t, off);
        if (cnt == 0 || cnt > TIFF_MAX_ENTRIES || (size_t)off + 2 + 12 * (size_t)cnt + 4 > n)
            return bad(err, errlen, "TIFF", "directory entries out of range");
        long long w = -1, ht = -1, spp = -1, bps = -1;
        for (uint32_t i = 0; i < cnt; i++) {
            size_t e = (size_t)off + 2 + 12 * (size_t)i;
            uint32_t tag = t16(&t, e);
            if (tag == 256 || tag == 257 || tag == 277) {
                long long *dst = tag == 256 ? &w : tag == 257 ? &ht : &spp;
                if (*dst != -1)
                    return bad(err, errlen, "TIFF", "a size tag appears twice");
                if ((*dst = tiff_scalar(&t, e)) < 0)
                    return bad(err, errlen, "TIFF", "a size tag has a wrong type or count");
            } else if (tag == 258) {
                uint32_t type = t16(&t, e + 2), c = t32(&t, e + 4);
                if (bps != -1)
                    return bad(err, errlen, "TIFF", "BitsPerSample appears twice");
                if (type != 3 || c == 0 || c > 8)
                    return bad(err, errlen, "TIFF", "BitsPerSample has a wrong type or count");
                size_t at = e + 8;
                if (c > 2) {
                    at = t32(&t, e + 8);
                    if (at > n || n - at < 2 * (size_t)c)
                        return bad(err, errlen, "TIFF", "BitsPerSample out of range");
                }
                bps = 0;
                for (uint32_t k = 0; k < c; k++)
                    if ((long long)t16(&t, at + 2 * k) > bps)
                        bps = t16(&t, at + 2 * k);
            }
        }
        if (w <= 0 || ht <= 0 || w > 0x7fffffffLL || ht > 0x7fffffffLL)
            return bad(err, errlen, "TIFF", "a page without a valid width or length");
        if (spp == -1)
            spp = 1;
        if (bps == -1)
            bps = 1;
        if (spp < 1 || spp > 8 || bps < 1 || bps > 32)
            return bad(err, errlen, "TIFF", "samples per pixel or bits per sample out of range");
        add_page(h, (uint32_t)w, (uint32_t)ht, (unsigned)(spp * bps));
        off = t32(&t, (size_t)off + 2 + 12 * (size_t)cnt);
    }
    return 0;
}

/* Skips GIF data sub-blocks from *pos (size byte, data, ..., 0). */
static int gif_skip_blocks(const unsigned char *d, size_t n, size_t *pos)
{
    size_t p = *pos;
    for (;;) {
        if (p >= n)
            return -1;
        unsigned sz = d[p++];
        if (sz == 0)
            break;
        if (n - p < sz)
            return -1;
        p += sz;
    }
    *pos = p;
    return 0;
}

/* The logical screen and every image (frame): giflib's DGifSlurp, which leptonica calls, holds
 * every frame's raster at once. */
static int read_gif(const unsigned char *d, size_t n, long max_pages, struct ocr_header *h,
                    char *err, size_t errlen)
{
    if (n < 13)
        return bad(err, errlen, "GIF", "truncated");
    uint32_t sw = le16(d + 6), sh = le16(d + 8);
    size_t pos = 13;
    if (d[10] & 0x80)
        pos += 3 * ((size_t)1 << ((d[10] & 7) + 1));
    long frames = 0;
    for (;;) {
        if (pos >= n)
            return bad(err, errlen, "GIF", "truncated before the trailer");
        unsigned b = d[pos];
        if (b == 0x3b)
            break;
        if (b == 0x21) {
            pos += 2;
            if (pos > n || gif_skip_blocks(d, n, &pos) != 0)
                return bad(err, errlen, "GIF", "truncated extension");
            continue;
        }
        if (b != 0x2c)
            return bad(err, errlen, "GIF", "unknown block");
        if (n - pos < 11)
            return bad(err, errlen, "GIF", "truncated image descriptor");
        uint32_t w = le16(d + pos + 5), ht = le16(d + pos + 7);
        unsigned packed = d[pos + 9];
        pos += 10;
        if (packed & 0x80)
            pos += 3 * ((size_t)1 << ((packed & 7) + 1));
        if (pos >= n || d[pos] < 1 || d[pos] > 11)
            return bad(err, errlen, "GIF", "bad LZW code size");
        pos++;
        if (gif_skip_blocks(d, n, &pos) != 0)
            return bad(err, errlen, "GIF", "truncated image data");
        if (w == 0 || ht == 0)
            return bad(err, errlen, "GIF", "an image of zero width or height");
        if (++frames > max_pages) {
            h->pages = frames;
            return 0;
        }
        /* The first frame is drawn on the logical screen: the larger of the two counts. */
        if (frames == 1 && (long long)sw * sh > (long long)w * ht)
            add_page(h, sw, sh, 8);
        else
            add_page(h, w, ht, 8);
    }
    if (frames == 0)
        return bad(err, errlen, "GIF", "no image");
    return 0;
}

static int read_bmp(const unsigned char *d, size_t n, struct ocr_header *h, char *err,
                    size_t errlen)
{
    if (n < 26)
        return bad(err, errlen, "BMP", "truncated");
    uint32_t hsz = le32(d + 14), w, ht, bpp;
    if (hsz == 12) {
        w = le16(d + 18);
        ht = le16(d + 20);
        bpp = le16(d + 24);
    } else {
        if (n < 30 || hsz < 40)
            return bad(err, errlen, "BMP", "truncated info header");
        int32_t sw = (int32_t)le32(d + 18), sh = (int32_t)le32(d + 22);
        if (sw <= 0 || sh == 0 || sh == INT32_MIN)
            return bad(err, errlen, "BMP", "width or height out of range");
        w = (uint32_t)sw;
        ht = (uint32_t)(sh < 0 ? -sh : sh);
        bpp = le16(d + 28);
    }
    if (w == 0 || ht == 0)
        return bad(err, errlen, "BMP", "width or height out of range");
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return bad(err, errlen, "BMP", "bad bits per pixel");
    add_page(h, w, ht, bpp);
    return 0;
}

/* One decimal header field of a PNM, after whitespace and # comments. */
static int pnm_field(const unsigned char *d, size_t n, size_t *pos, uint32_t *out)
{
    size_t p = *pos;
    for (;;) {
        while (p < n && isspace(d[p]))
            p++;
        if (p < n && d[p] == '#') {
            while (p < n && d[p] != '\n' && d[p] != '\r')
                p++;
            continue;
        }
        break;
    }
    unsigned long long v = 0;
    size_t digits = 0;
    while (p < n && isdigit(d[p])) {
        v = v * 10 + (unsigned)(d[p] - '0');
        if (++digits > 10 || v > 0x7fffffffULL)
            return -1;
        p++;
    }
    if (digits == 0 || p >= n || !isspace(d[p]))
        return -1;
    *out = (uint32_t)v;
    *pos = p;
    return 0;
}

static int read_pnm(const unsigned char *d, size_t n, struct ocr_header *h, char *err,
                    size_t errlen)
{
    uint32_t w, ht, maxval = 1;
    size_t pos = 2;
    int kind = d[1] - '0';
    if (pnm_field(d, n, &pos, &w) != 0 || pnm_field(d, n, &pos, &ht) != 0)
        return bad(err, errlen, "PNM", "width or height unreadable");
    if (kind != 1 && kind != 4 && pnm_field(d, n, &pos, &maxval) != 0)
        return bad(err, errlen, "PNM", "maximum value unreadable");
    if (w == 0 || ht == 0 || maxval == 0 || maxval > 65535)
        return bad(err, errlen, "PNM", "a field out of range");
    unsigned bps = kind == 1 || kind == 4 ? 1 : maxval > 255 ? 16 : 8;
    add_page(h, w, ht, (kind == 3 || kind == 6 ? 3 : 1) * bps);
    return 0;
}

static int read_webp(const unsigned char *d, size_t n, struct ocr_header *h, char *err,
                     size_t errlen)
{
    if (n < 30)
        return bad(err, errlen, "WebP", "truncated");
    const unsigned char *c = d + 12, *p = d + 20;
    uint32_t w, ht;
    if (memcmp(c, "VP8 ", 4) == 0) {
        if ((p[0] & 1) != 0 || p[3] != 0x9d || p[4] != 0x01 || p[5] != 0x2a)
            return bad(err, errlen, "WebP", "not a VP8 key frame");
        w = le16(p + 6) & 0x3fff;
        ht = le16(p + 8) & 0x3fff;
    } else if (memcmp(c, "VP8L", 4) == 0) {
        if (p[0] != 0x2f)
            return bad(err, errlen, "WebP", "bad VP8L signature");
        uint32_t b = le32(p + 1);
        w = (b & 0x3fff) + 1;
        ht = ((b >> 14) & 0x3fff) + 1;
    } else if (memcmp(c, "VP8X", 4) == 0) {
        w = le24(p + 4) + 1;
        ht = le24(p + 7) + 1;
    } else {
        return bad(err, errlen, "WebP", "unknown first chunk");
    }
    if (w == 0 || ht == 0)
        return bad(err, errlen, "WebP", "zero width or height");
    add_page(h, w, ht, 32);
    return 0;
}

static enum ocr_format sniff(const unsigned char *d, size_t n)
{
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return OCR_FMT_PNG;
    if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
        return OCR_FMT_JPEG;
    if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0))
        return OCR_FMT_TIFF;
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
        return OCR_FMT_GIF;
    if (n >= 2 && d[0] == 'B' && d[1] == 'M')
        return OCR_FMT_BMP;
    if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6' && isspace(d[2]))
        return OCR_FMT_PNM;
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return OCR_FMT_WEBP;
    return OCR_FMT_UNKNOWN;
}

int ocr_header_read(const unsigned char *data, size_t len, long max_pages, struct ocr_header *h,
                    char *err, size_t errlen)
{
    int rc;
    memset(h, 0, sizeof *h);
    if (!data || len == 0) {
        snprintf(err, errlen, "%s: empty image", OCR_ERR_BAD_HEADER);
        return -EINVAL;
    }
    if (max_pages < 1)
        max_pages = 1;
    h->format = sniff(data, len);
    switch (h->format) {
    case OCR_FMT_PNG:
        rc = read_png(data, len, h, err, errlen);
        break;
    case OCR_FMT_JPEG:
        rc = read_jpeg(data, len, h, err, errlen);
        break;
    case OCR_FMT_TIFF:
        rc = read_tiff(data, len, max_pages, h, err, errlen);
        break;
    case OCR_FMT_GIF:
        rc = read_gif(data, len, max_pages, h, err, errlen);
        break;
    case OCR_FMT_BMP:
        rc = read_bmp(data, len, h, err, errlen);
        break;
    case OCR_FMT_PNM:
        rc = read_pnm(data, len, h, err, errlen);
        break;
    case OCR_FMT_WEBP:
        rc = read_webp(data, len, h, err, errlen);
        break;
    default:
        snprintf(err, errlen,
                 "%s: not a readable image (PNG, JPEG, TIFF, GIF, BMP, PNM or WebP expected)",
                 OCR_ERR_BAD_HEADER);
        rc = -EINVAL;
        break;
    }
    if (rc != 0)
        memset(h, 0, sizeof *h);
    return rc;
}

static const char *setting(char *buf, size_t n, const char *prefix, const char *name)
{
    if (prefix && *prefix) {
        snprintf(buf, n, "%s%s", prefix, name);
    } else {
        size_t i = 0;
        for (; name[i] && i + 1 < n; i++)
            buf[i] = (char)tolower((unsigned char)name[i]);
        buf[i] = '\0';
    }
    return buf;
}

int ocr_header_check(const unsigned char *data, size_t len, const struct ocr_limits *lim,
                     const char *setting_prefix, struct ocr_header *h, char *err, size_t errlen)
{
    struct ocr_limits def;
    char name[64];
    if (!lim) {
        ocr_limits_default(&def);
        lim = &def;
    }
    int rc = ocr_header_read(data, len, lim->max_pages, h, err, errlen);
    if (rc != 0)
        return rc;
    if (h->pages > lim->max_pages) {
        snprintf(err, errlen, "%s: the %s has more than %ld pages (%s %ld)", OCR_ERR_TOO_MANY_PAGES,
                 ocr_format_name(h->format), lim->max_pages,
                 setting(name, sizeof name, setting_prefix, "MAX_PAGES"), lim->max_pages);
        return -E2BIG;
    }
    if (h->max_page_pixels > lim->max_pixels) {
        snprintf(err, errlen, "%s: %ux%u pixels exceeds %s %ld", OCR_ERR_TOO_LARGE,
                 (unsigned)h->width, (unsigned)h->height,
                 setting(name, sizeof name, setting_prefix, "MAX_PIXELS"), lim->max_pixels);
        return -E2BIG;
    }
    if (h->max_side > OCR_MAX_SIDE) {
        snprintf(err, errlen, "%s: a side of %u pixels exceeds %ld", OCR_ERR_TOO_LARGE,
                 (unsigned)h->max_side, OCR_MAX_SIDE);
        return -E2BIG;
    }
    if (h->decoded_bytes > lim->max_decoded_bytes) {
        snprintf(err, errlen, "%s: decoding %ld page%s needs about %lld bytes, exceeds %s %lld",
                 OCR_ERR_TOO_LARGE, h->pages, h->pages == 1 ? "" : "s", h->decoded_bytes,
                 setting(name, sizeof name, setting_prefix, "MAX_DECODED_BYTES"),
                 lim->max_decoded_bytes);
        return -E2BIG;
    }
    return 0;
}
