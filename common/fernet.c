/* fernet.c — Fernet tokens with OpenSSL, compatible with Python's cryptography.fernet.
 *
 * Behaviour copied from cryptography.fernet (38.x):
 *   - keys and tokens are urlsafe base64 with '=' padding (padding is required, as it is for
 *     base64.urlsafe_b64decode); this decoder also rejects characters outside the alphabet,
 *     which Python skips — such tokens are never produced by any Fernet implementation;
 *   - with a ttl, a token is invalid when timestamp + ttl < now, or when it claims to be made
 *     more than 60 s in the future (_MAX_CLOCK_SKEW); without a ttl no time check at all.
 * The signature is checked (constant time) before anything else about the token is trusted.
 */
#include "fernet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "b64.h"
#include "csprng.h"

#define FERNET_VERSION 0x80
#define FERNET_MAX_CLOCK_SKEW 60
#define FERNET_HDR (1 + 8 + 16)           /* version, timestamp, IV */
#define FERNET_MIN (FERNET_HDR + 16 + 32) /* one cipher block and the HMAC */

static int fernet_key(const char *key_b64, unsigned char key[32])
{
    unsigned char buf[36];
    size_t n = 0;
    if (!key_b64 || b64_decode(key_b64, strlen(key_b64), buf, sizeof(buf), &n, B64_URLSAFE) != 0 ||
        n != 32) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return FERNET_ERR_KEY;
    }
    memcpy(key, buf, 32);
    OPENSSL_cleanse(buf, sizeof(buf));
    return FERNET_OK;
}

int fernet_purpose_key(const char *key_b64, const char *purpose, char out[FERNET_KEY_B64_LEN])
{
    unsigned char key[32], derived[32];
    unsigned int dlen = 0;
    char info[128];
    int rc = FERNET_ERR_KEY;
    if (!purpose || !*purpose || fernet_key(key_b64, key) != FERNET_OK)
        goto out;
    int n = snprintf(info, sizeof(info), "agenthub fernet purpose key v1:%s", purpose);
    if (n < 0 || (size_t)n >= sizeof(info))
        goto out;
    /* HMAC-SHA256(master, label): a PRF, so each label gets an independent 32-byte key and
     * no derived key reveals the master or another label's key */
    if (!HMAC(EVP_sha256(), key, sizeof(key), (const unsigned char *)info, (size_t)n, derived,
              &dlen) ||
        dlen != sizeof(derived))
        goto out;
    if (b64_encode(derived, sizeof(derived), out, FERNET_KEY_B64_LEN, B64_URLSAFE) != 0)
        goto out;
    rc = FERNET_OK;
out:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(derived, sizeof(derived));
    return rc;
}

int fernet_keygen(char out[FERNET_KEY_B64_LEN])
{
    unsigned char key[32];
    int rc = FERNET_ERR_KEY;
    if (csprng_fill(key, sizeof(key)) != 0)
        goto out;
    if (b64_encode(key, sizeof(key), out, FERNET_KEY_B64_LEN, B64_URLSAFE) != 0)
        goto out;
    rc = FERNET_OK;
out:
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

int fernet_encrypt_at(const char *key_b64, const void *plain, size_t len, uint64_t now,
                      const unsigned char iv[16], char **token)
{
    unsigned char key[32];
    unsigned char *raw = NULL;
    char *text = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    size_t cap, pos, b64cap;
    unsigned int maclen = 0;
    int outl = 0, finl = 0, i, rc;

    *token = NULL;
    rc = fernet_key(key_b64, key);
    if (rc != FERNET_OK)
        goto out;
    rc = FERNET_ERR_NOMEM;
    if (len > (size_t)1 << 30) /* far beyond any use here; keeps the size arithmetic safe */
        goto out;
    cap = FERNET_HDR + (len / 16 + 1) * 16 + 32;
    raw = malloc(cap);
    if (!raw)
        goto out;
    raw[0] = FERNET_VERSION;
    for (i = 0; i < 8; i++)
        raw[1 + i] = (unsigned char)(now >> (56 - 8 * i));
    memcpy(raw + 9, iv, 16);
    pos = FERNET_HDR;

    ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        goto out;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key + 16, iv) != 1 ||
        EVP_EncryptUpdate(ctx, raw + pos, &outl, plain ? plain : (const void *)"", (int)len) != 1 ||
        EVP_EncryptFinal_ex(ctx, raw + pos + outl, &finl) != 1)
        goto out;
    pos += (size_t)outl + (size_t)finl;
    if (!HMAC(EVP_sha256(), key, 16, raw, pos, raw + pos, &maclen) || maclen != 32)
        goto out;
    pos += 32;

    b64cap = b64_encoded_size(pos, B64_URLSAFE);
    text = malloc(b64cap);
    if (!text || b64_encode(raw, pos, text, b64cap, B64_URLSAFE) != 0)
        goto out;
    *token = text;
    text = NULL; /* now owned by the caller */
    rc = FERNET_OK;
out:
    OPENSSL_cleanse(key, sizeof(key));
    EVP_CIPHER_CTX_free(ctx);
    free(raw);
    free(text);
    return rc;
}

int fernet_encrypt(const char *key_b64, const void *plain, size_t len, char **token)
{
    unsigned char iv[16];
    *token = NULL;
    if (csprng_fill(iv, sizeof(iv)) != 0)
        return FERNET_ERR_NOMEM;
    return fernet_encrypt_at(key_b64, plain, len, (uint64_t)time(NULL), iv, token);
}

int fernet_decrypt_at(const char *key_b64, const char *token, long ttl_s, uint64_t now,
                      unsigned char **plain, size_t *len)
{
    unsigned char key[32];
    unsigned char mac[32];
    unsigned char *raw = NULL, *pt = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    size_t tlen, rawcap, rawlen = 0, ctlen = 0;
    unsigned int maclen = 0;
    uint64_t ts = 0;
    int outl = 0, finl = 0, i, rc;

    *plain = NULL;
    if (len)
        *len = 0;
    rc = fernet_key(key_b64, key);
    if (rc != FERNET_OK)
        goto out;
    rc = FERNET_ERR_FORMAT;
    if (!token)
        goto out;
    tlen = strlen(token);
    if (tlen > (size_t)1 << 31)
        goto out;
    rawcap = b64_decoded_max(tlen);
    rc = FERNET_ERR_NOMEM;
    raw = malloc(rawcap);
    if (!raw)
        goto out;
    rc = FERNET_ERR_FORMAT;
    if (b64_decode(token, tlen, raw, rawcap, &rawlen, B64_URLSAFE) != 0)
        goto out;
    if (rawlen < FERNET_MIN || raw[0] != FERNET_VERSION || (rawlen - FERNET_HDR - 32) % 16 != 0)
        goto out;

    rc = FERNET_ERR_SIGNATURE;
    if (!HMAC(EVP_sha256(), key, 16, raw, rawlen - 32, mac, &maclen) || maclen != 32)
        goto out;
    if (CRYPTO_memcmp(mac, raw + rawlen - 32, 32) != 0)
        goto out;

    for (i = 0; i < 8; i++)
        ts = ts << 8 | raw[1 + i];
    if (ttl_s > 0) {
        rc = FERNET_ERR_EXPIRED;
        /* Python: timestamp + ttl < current_time, or current_time + 60 < timestamp. Written
         * without overflow for any 64-bit timestamp. */
        if (ts < now && now - ts > (uint64_t)ttl_s)
            goto out;
        if (ts > now && ts - now > FERNET_MAX_CLOCK_SKEW)
            goto out;
    }

    ctlen = rawlen - FERNET_HDR - 32;
    rc = FERNET_ERR_NOMEM;
    pt = malloc(ctlen + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (!pt || !ctx)
        goto out;
    /* A bad padding under a valid signature: the token was made with a broken encoder or
     * the same signing key and another encryption key. Python calls it InvalidToken too. */
    rc = FERNET_ERR_FORMAT;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key + 16, raw + 9) != 1 ||
        EVP_DecryptUpdate(ctx, pt, &outl, raw + FERNET_HDR, (int)ctlen) != 1 ||
        EVP_DecryptFinal_ex(ctx, pt + outl, &finl) != 1)
        goto out;
    pt[outl + finl] = '\0';
    if (len)
        *len = (size_t)outl + (size_t)finl;
    *plain = pt;
    pt = NULL; /* now owned by the caller */
    rc = FERNET_OK;
out:
    OPENSSL_cleanse(key, sizeof(key));
    EVP_CIPHER_CTX_free(ctx);
    if (pt) {
        OPENSSL_cleanse(pt, ctlen + 1);
        free(pt);
    }
    free(raw);
    return rc;
}

int fernet_decrypt(const char *key_b64, const char *token, long ttl_s, unsigned char **plain,
                   size_t *len)
{
    return fernet_decrypt_at(key_b64, token, ttl_s, (uint64_t)time(NULL), plain, len);
}

const char *fernet_status_str(int status)
{
    switch (status) {
    case FERNET_OK:
        return "ok";
    case FERNET_ERR_KEY:
        return "invalid key: must be 32 bytes of urlsafe base64 (44 characters)";
    case FERNET_ERR_FORMAT:
        return "invalid token: not a well-formed Fernet token (truncated or corrupted)";
    case FERNET_ERR_SIGNATURE:
        return "invalid token: signature mismatch (tampered, or made with another key)";
    case FERNET_ERR_EXPIRED:
        return "invalid token: expired (older than the ttl, or timestamped too far in the future)";
    case FERNET_ERR_NOMEM:
        return "out of memory";
    default:
        return "unknown fernet error";
    }
}
