/* apikey.h — the tenant API key format, shared by the ingress (ingress/keyauth.h) and
 * agenthubctl (cli/apikeys.c).
 *
 *   ahk_<key_id>_<secret>      key_id: 16 lowercase hex (64 random bits), finds the row;
 *                              secret: 43 base64url characters (256 random bits)
 *
 * Only the SHA-256 of the whole key (hex) is stored (api_keys.key_hash, migrations/0006): a
 * key is high-entropy, so a plain hash cannot be reversed by guessing, and checking one costs
 * one hash. The key itself is shown once, when it is made. Logs mask anything shaped like a
 * key (common/log.c).
 */
#ifndef AGENTHUB_APIKEY_H
#define AGENTHUB_APIKEY_H

#include <stddef.h>

#define APIKEY_PREFIX "ahk_"
#define APIKEY_ID_LEN 16
#define APIKEY_SECRET_LEN 43
/* "ahk_" + id + "_" + secret */
#define APIKEY_LEN (4 + APIKEY_ID_LEN + 1 + APIKEY_SECRET_LEN)
#define APIKEY_HASH_HEX 65 /* 64 hex + NUL */

/* Makes a new key: key (APIKEY_LEN + 1 bytes) and its id (APIKEY_ID_LEN + 1). 0, or -1 when
 * the CSPRNG refused. */
int apikey_generate(char *key, char *key_id);
/* Is s shaped like a key? Fills key_id (APIKEY_ID_LEN + 1) when it is. 1 or 0. */
int apikey_parse(const char *s, char *key_id);
/* Lowercase hex SHA-256 of s into out (APIKEY_HASH_HEX bytes). */
void apikey_hash(const char *s, char *out);
/* Constant-time comparison of two NUL-terminated hex hashes of the same length. 1 equal. */
int apikey_hash_equal(const char *a, const char *b);

#endif
