/* b64.c — RFC 4648 base64 (see b64.h). */
#include "b64.h"

#include <stdint.h>

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t b64_encoded_size(size_t n, int flags)
{
    if (flags & B64_NOPAD)
        return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0) + 1;
    return (n + 2) / 3 * 4 + 1;
}

size_t b64_decoded_max(size_t n)
{
    return n / 4 * 3 + 3;
}

int b64_encode(const void *in, size_t len, char *out, size_t outcap, int flags)
{
    const unsigned char *p = in;
    const char *abc = (flags & B64_URLSAFE) ? b64_url : b64_std;
    size_t i, o = 0;

    if (outcap < b64_encoded_size(len, flags))
        return -1;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
        out[o++] = abc[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        if (i + 1 < len)
            out[o++] = abc[v >> 6 & 63];
        else if (!(flags & B64_NOPAD))
            out[o++] = '=';
        if (!(flags & B64_NOPAD))
            out[o++] = '=';
    }
    out[o] = '\0';
    return 0;
}

static int b64_value(char c, int urlsafe)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (urlsafe ? '-' : '+'))
        return 62;
    if (c == (urlsafe ? '_' : '/'))
        return 63;
    return -1;
}

int b64_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap, size_t *outlen,
               int flags)
{
    int urlsafe = (flags & B64_URLSAFE) != 0;
    size_t data = inlen, pad = 0, i, o = 0;
    uint32_t acc = 0;
    int bits = 0;

    while (data > 0 && in[data - 1] == '=' && pad < 2) {
        data--;
        pad++;
    }
    if (flags & B64_NOPAD) {
        if (pad || data % 4 == 1)
            return -1;
    } else {
        if (inlen % 4 != 0)
            return -1;
        /* "xx==" pads 2, "xxx=" pads 1, "xxxx" none: any other count is a malformed tail. */
        if (pad && (data + pad) % 4 != 0)
            return -1;
        if (pad && data % 4 != 4 - pad)
            return -1;
    }
    for (i = 0; i < data; i++) {
        int v = b64_value(in[i], urlsafe);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outcap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    if (outlen)
        *outlen = o;
    return 0;
}
