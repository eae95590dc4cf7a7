/* utf8.c — repair and boundary-safe cutting of UTF-8 text (utf8.h). */
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length of the well-formed sequence at s[i] (1..4), or 0 when the bytes there are
 * ill-formed; *bad is then the length of the maximal ill-formed subpart to replace (>= 1).
 * The second-byte ranges are those of the Unicode table "Well-Formed UTF-8 Byte Sequences". */
static size_t seq_len(const unsigned char *s, size_t len, size_t i, size_t *bad)
{
    unsigned char c = s[i];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    *bad = 1;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else
        return 0; /* 0x80..0xC1 (continuation or overlong lead), 0xF5..0xFF */
    for (size_t k = 1; k < need; k++) {
        if (i + k >= len)
            return 0; /* cut short: the lead and what follows it are one subpart */
        unsigned char b = s[i + k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
            return 0;
        *bad = k + 1;
    }
    return need;
}

static int control(unsigned char c)
{
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') || c == 0x7F;
}

char *utf8_sanitize(const char *in, size_t len, size_t *outlen, struct utf8_report *rep)
{
    const unsigned char *s = (const unsigned char *)in;
    /* Each replaced byte becomes at most three: size for the worst case only when needed. */
    size_t cap = len + 1, o = 0;
    if (!utf8_is_clean(in, len))
        cap = len * 3 + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t bad, n = seq_len(s, len, i, &bad);
        if (n == 1 && control(s[i])) {
            memcpy(out + o, REPLACEMENT, 3);
            o += 3;
            if (rep)
                rep->controls++;
            i++;
        } else if (n) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, REPLACEMENT, 3);
            o += 3;
            if (rep)
                rep->invalid++;
            i += bad;
        }
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
}

int utf8_is_clean(const char *in, size_t len)
{
    const unsigned char *s = (const unsigned char *)in;
    for (size_t i = 0; i < len;) {
        size_t bad, n = seq_len(s, len, i, &bad);
        if (n == 0 || (n == 1 && control(s[i])))
            return 0;
        i += n;
    }
    return 1;
}

size_t utf8_cut(const char *in, size_t len, size_t max)
{
    const unsigned char *s = (const unsigned char *)in;
    if (max >= len)
        return len;
    size_t n = max;
    /* Back over continuation bytes (at most three) to the byte that starts the character
     * s[max] belongs to; cutting before that lead keeps the character whole or out. */
    for (size_t k = 0; k < 3 && n > 0 && (s[n] & 0xC0) == 0x80; k++)
        n--;
    if ((s[n] & 0xC0) == 0x80)
        return max; /* not UTF-8 here anyway: any cut splits nothing that was a character */
    return n;
}

size_t utf8_copy_valid(char *dst, size_t cap, const char *s)
{
    size_t len = strlen(s), n;
    if (utf8_is_clean(s, len)) {
        n = utf8_cut(s, len, cap - 1);
        memmove(dst, s, n);
    } else {
        char *t = utf8_sanitize(s, len, &len, NULL);
        n = t ? utf8_cut(t, len, cap - 1) : 0;
        if (t)
            memcpy(dst, t, n);
        free(t);
    }
    dst[n] = '\0';
    return n;
}

size_t utf8_partial_tail(const char *in, size_t len)
{
    const unsigned char *s = (const unsigned char *)in;
    for (size_t k = 1; k <= 3 && k <= len; k++) {
        size_t i = len - k, bad;
        if (s[i] < 0xC2 || s[i] > 0xF4) {
            if ((s[i] & 0xC0) == 0x80)
                continue; /* a continuation byte: its lead may be further back */
            return 0;     /* ASCII or a byte that starts nothing */
        }
        /* A lead byte: cut short if every byte after it is a valid continuation so far. */
        return seq_len(s, len, i, &bad) == 0 && bad == k ? k : 0;
    }
    return 0;
}

int utf8_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && (s[i] < '\t' || s[i] > '\r')) /* \t \n \v \f \r: 9..13 */
            return 0;
    return 1;
}

long utf8_chars(const char *s, size_t len)
{
    long count = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > len)
            return -1;
        for (size_t j = 1; j < k; j++)
            if (((unsigned char)s[i + j] >> 6) != 2)
                return -1;
        i += k;
        count++;
    }
    return count;
}
