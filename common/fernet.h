/* fernet.h — Fernet tokens, byte-compatible with Python's cryptography.fernet.
 *
 * Key: 32 bytes, urlsafe base64 (44 characters): first half signs (HMAC-SHA256), second half
 * encrypts (AES-128-CBC, PKCS7). Token: urlsafe base64 of
 *   0x80 | timestamp (8 bytes BE) | IV (16) | ciphertext | HMAC (32).
 */
#ifndef AGENTHUB_FERNET_H
#define AGENTHUB_FERNET_H

#include <stddef.h>
#include <stdint.h>

#define FERNET_KEY_B64_LEN 45 /* 44 + NUL */

enum fernet_status {
    FERNET_OK = 0,
    FERNET_ERR_KEY = -1,       /* the key is not 32 bytes of urlsafe base64 */
    FERNET_ERR_FORMAT = -2,    /* not a Fernet token (base64, version byte, length) */
    FERNET_ERR_SIGNATURE = -3, /* tampered, or made with another key */
    FERNET_ERR_EXPIRED = -4,   /* older than ttl, or too far in the future */
    FERNET_ERR_NOMEM = -5,
};

int fernet_keygen(char out[FERNET_KEY_B64_LEN]);

/* Keys have one purpose each. FERNET_KEY itself protects the tenants' LLM keys (and stays
 * interoperable with Python's cryptography); every other use derives its own Fernet key:
 * out = urlsafe_b64(HMAC-SHA256(master key bytes, "agenthub fernet purpose key v1:" purpose)).
 * A token made with one purpose's key does not decrypt with the master or another purpose's. */
#define FERNET_PURPOSE_USER_TOKEN "user-token-wrap"
#define FERNET_PURPOSE_TOOL_SECRET "tool-secret"
int fernet_purpose_key(const char *key_b64, const char *purpose, char out[FERNET_KEY_B64_LEN]);
/* *token is malloc'd, NUL-terminated. */
int fernet_encrypt(const char *key_b64, const void *plain, size_t len, char **token);
/* Same with a fixed time and IV (tests). */
int fernet_encrypt_at(const char *key_b64, const void *plain, size_t len, uint64_t now,
                      const unsigned char iv[16], char **token);
/* ttl_s <= 0: no expiry check. *plain is malloc'd and NUL-terminated (len excludes the NUL). */
int fernet_decrypt(const char *key_b64, const char *token, long ttl_s, unsigned char **plain,
                   size_t *len);
int fernet_decrypt_at(const char *key_b64, const char *token, long ttl_s, uint64_t now,
                      unsigned char **plain, size_t *len);
const char *fernet_status_str(int status); /* never includes key or token */

#endif
