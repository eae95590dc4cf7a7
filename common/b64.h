/* b64.h — RFC 4648 base64, standard and URL-safe alphabets.
 *
 * Encoding pads with '=' unless B64_NOPAD is given. Decoding is strict: only characters of the
 * chosen alphabet, '=' padding to a multiple of 4 (required unless B64_NOPAD, where it must be
 * absent), nothing after the padding. Python's base64.urlsafe_b64decode requires the same
 * padding; it silently skips stray characters, which this decoder rejects instead.
 */
#ifndef AGENTHUB_B64_H
#define AGENTHUB_B64_H

#include <stddef.h>

enum b64_flags {
    B64_STD = 0,          /* A-Z a-z 0-9 + / */
    B64_URLSAFE = 1 << 0, /* A-Z a-z 0-9 - _ */
    B64_NOPAD = 1 << 1,   /* no '=' padding (JWT style) */
};

/* Characters b64_encode writes for n input bytes, plus the NUL. */
size_t b64_encoded_size(size_t n, int flags);
/* Upper bound of the bytes b64_decode yields for n input characters. */
size_t b64_decoded_max(size_t n);

/* Writes the NUL-terminated encoding into out. 0, or -1 if outcap is too small. */
int b64_encode(const void *in, size_t len, char *out, size_t outcap, int flags);
/* Decodes inlen characters into out. 0, or -1 on bad input or a too small out. */
int b64_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap, size_t *outlen,
               int flags);

#endif
