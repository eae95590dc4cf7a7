/* apikey.c — see apikey.h. */
#include "apikey.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "b64.h"
#include "csprng.h"

int apikey_generate(char *key, char *key_id)
{
    unsigned char idb[APIKEY_ID_LEN / 2], sec[32];
    char secret[APIKEY_SECRET_LEN + 1];
    int rc = -1;
    if (csprng_fill(idb, sizeof idb) != 0 || csprng_fill(sec, sizeof sec) != 0)
        goto out;
    for (size_t i = 0; i < sizeof idb; i++)
        snprintf(key_id + 2 * i, 3, "%02x", idb[i]);
    if (b64_encode(sec, sizeof sec, secret, sizeof secret, B64_URLSAFE | B64_NOPAD) != 0)
        goto out;
    snprintf(key, APIKEY_LEN + 1, APIKEY_PREFIX "%s_%s", key_id, secret);
    rc = 0;
out:
    OPENSSL_cleanse(sec, sizeof sec);
    OPENSSL_cleanse(secret, sizeof secret);
    return rc;
}

int apikey_parse(const char *s, char *key_id)
{
    static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if (!s || strlen(s) != APIKEY_LEN || strncmp(s, APIKEY_PREFIX, 4) != 0)
        return 0;
    const char *id = s + 4;
    for (int i = 0; i < APIKEY_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    if (id[APIKEY_ID_LEN] != '_')
        return 0;
    const char *sec = id + APIKEY_ID_LEN + 1;
    if (strspn(sec, b64u) != APIKEY_SECRET_LEN)
        return 0;
    memcpy(key_id, id, APIKEY_ID_LEN);
    key_id[APIKEY_ID_LEN] = '\0';
    return 1;
}

void apikey_hash(const char *s, char *out)
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, strlen(s), h);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + (size_t)2 * (size_t)i, 3, "%02x", h[i]);
    OPENSSL_cleanse(h, sizeof h);
}

int apikey_hash_equal(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (n != strlen(b))
        return 0;
    return CRYPTO_memcmp(a, b, n) == 0;
}
