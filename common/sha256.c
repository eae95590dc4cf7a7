/* sha256.c — see sha256.h. */
#include "sha256.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hl = 0;
    memset(h, 0, sizeof h);
    EVP_Digest(data, len, h, &hl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + (size_t)2 * (size_t)i, 3, "%02x", h[i]);
}
