/* auth.h — RS256 JWT verification for the ingress (libjwt 1.10 + OpenSSL).
 *
 * Keys: JWT_PUBLIC_KEY_FILE is either
 *   - a file of concatenated PEM public keys, each optionally preceded by a line
 *     `# kid: NAME` naming it (a key without such a line has no kid), or
 *   - a directory: every NAME.pem in it is one key whose kid is NAME.
 * A token whose header carries `kid` is checked against that key only (unknown kid: refused).
 * A token without `kid` is checked against every key in turn.
 *
 * The algorithm is decided by us, never by the token: the header is parsed first and anything
 * but "RS256" (none, HS*, ES*, PS*) is refused before a key is touched, and jwt_get_alg() is
 * checked again after decoding. So an HS256 token "signed" with the public key as the HMAC
 * secret is refused. Claims: exp required, nbf optional, both with leeway; iss/aud when
 * configured; tenant_id ([A-Za-z0-9_-]{1,64}) and sub required; roles (array of strings)
 * optional, "admin" grants the admin routes.
 *
 * Verified tokens are cached by SHA-256 of the token until exp (+leeway). The cache never
 * holds the token itself.
 */
#ifndef AGENTHUB_INGRESS_AUTH_H
#define AGENTHUB_INGRESS_AUTH_H

#include <stddef.h>
#include <time.h>

#include "ingress.h"

#define AUTH_MAX_TOKEN 8192

struct auth;

/* Loads the keys. Returns 0, or negative with err filled (no key found, unreadable, not an
 * RSA public key). */
int auth_new(struct auth **out, const char *key_path, long leeway_s, const char *issuer,
             const char *audience, char *err, size_t errlen);
void auth_free(struct auth *a); /* NULL-safe */
size_t auth_key_count(const struct auth *a);

/* Verifies token at time `now`. 0 with *claims filled, or -1 with the reason in why (for a
 * debug log line; it never contains the token). */
int auth_verify(struct auth *a, const char *token, time_t now, struct auth_claims *claims,
                char *why, size_t whylen);

/* Cache statistics (tests, metrics). */
void auth_cache_stats(struct auth *a, unsigned long *hits, unsigned long *misses);

#endif
