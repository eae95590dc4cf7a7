/* doc_kind.c — see doc_kind.h. */
#include "doc_kind.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int has_prefix(const unsigned char *d, size_t n, const char *magic, size_t m)
{
    return n >= m && memcmp(d, magic, m) == 0;
}

/* "text/plain" or "text/plain; charset=utf-8" (case-insensitive, spaces allowed). */
static int ctype_is_text(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, "text/plain", 10) != 0)
        return 0;
    ct += 10;
    while (*ct == ' ')
        ct++;
    if (*ct == '\0')
        return 1;
    if (*ct != ';')
        return 0;
    /* Only UTF-8 (or ASCII) text is passed through; other charsets are refused. */
    const char *cs = strcasestr(ct, "charset=");
    if (!cs)
        return 1;
    cs += 8;
    if (*cs == '"')
        cs++;
    return strncasecmp(cs, "utf-8", 5) == 0 || strncasecmp(cs, "utf8", 4) == 0 ||
           strncasecmp(cs, "us-ascii", 8) == 0;
}

/* "BM" alone is too weak (a text could start so): also require a known DIB header size. */
static int is_bmp(const unsigned char *d, size_t n)
{
    if (n < 26 || d[0] != 'B' || d[1] != 'M')
        return 0;
    unsigned long h =
        d[14] | (unsigned long)d[15] << 8 | (unsigned long)d[16] << 16 | (unsigned long)d[17] << 24;
    return h == 12 || h == 40 || h == 52 || h == 56 || h == 64 || h == 108 || h == 124;
}

enum doc_kind doc_sniff(const unsigned char *d, size_t n, const char *content_type)
{
    static const unsigned char none[1] = {0};
    if (!d) {
        d = none;
        n = 0;
    }
    if (has_prefix(d, n, "\x89PNG\r\n\x1a\n", 8) || has_prefix(d, n, "\xff\xd8\xff", 3) ||
        has_prefix(d, n, "II*\0", 4) || has_prefix(d, n, "MM\0*", 4) ||
        has_prefix(d, n, "GIF87a", 6) || has_prefix(d, n, "GIF89a", 6) || is_bmp(d, n) ||
        (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0))
        return DOC_KIND_IMAGE;
    /* PNM: P1..P6 followed by whitespace. */
    if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6' && isspace(d[2]))
        return DOC_KIND_IMAGE;
    if (has_prefix(d, n, "%PDF-", 5))
        return DOC_KIND_PDF;
    if (ctype_is_text(content_type))
        return DOC_KIND_TEXT;
    if (content_type && strncasecmp(content_type, "application/pdf", 15) == 0)
        return DOC_KIND_PDF;
    return DOC_KIND_UNKNOWN;
}

const char *doc_kind_name(enum doc_kind k)
{
    switch (k) {
    case DOC_KIND_IMAGE:
        return "image";
    case DOC_KIND_TEXT:
        return "text";
    case DOC_KIND_PDF:
        return "pdf";
    default:
        return "unknown";
    }
}
