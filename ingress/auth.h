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
 * secret is refused. Claims: exp required, nbf optional, both with leeway; iat optional but
 * never in the future, and required when a maximum lifetime is set (exp - iat must not exceed
 * it); iss/aud when configured (aud: a string or an array containing it); token_use, when
 * present, must be "access" (the agent's per-call "tool" tokens are refused here whatever key
 * signed them); tenant_id ([A-Za-z0-9_-]{1,64}) and sub required; roles (array of strings)
 * optional, "admin" makes the caller its tenant's admin.
 *
 * Operator tokens: OPERATOR_PUBLIC_KEY_FILE (same formats) is a second, separate key set. A
 * token whose signature verifies with one of its keys is an operator token (claims.operator =
 * 1, tenant_id empty, roles ignored, token_use absent or "operator"); the same claims rules
 * apply otherwise (exp, iat/lifetime, iss, aud). A tenant key never makes an operator, an
 * operator key never makes a tenant token, and the same public key in both sets is refused
 * at start.
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

struct auth_opts {
    const char *key_path;          /* JWT_PUBLIC_KEY_FILE (required) */
    const char *operator_key_path; /* OPERATOR_PUBLIC_KEY_FILE; NULL/"": no operator */
    long leeway_s;
    const char *issuer;   /* NULL/"": not checked */
    const char *audience; /* NULL/"": not checked */
    long max_lifetime_s;  /* JWT_MAX_LIFETIME_S; 0: not checked (iat then optional) */
};

/* Loads the keys. Returns 0, or negative with err filled (no key found, unreadable, not an
 * RSA public key, the same key in both sets). */
int auth_new_opts(struct auth **out, const struct auth_opts *o, char *err, size_t errlen);
/* The tenant key set only, no lifetime bound (tests, fuzzing). */
int auth_new(struct auth **out, const char *key_path, long leeway_s, const char *issuer,
             const char *audience, char *err, size_t errlen);
void auth_free(struct auth *a); /* NULL-safe */
size_t auth_key_count(const struct auth *a);
size_t auth_operator_key_count(const struct auth *a);

/* Verifies token at time `now`. 0 with *claims filled, or -1 with the reason in why (for a
 * debug log line; it never contains the token). */
int auth_verify(struct auth *a, const char *token, time_t now, struct auth_claims *claims,
                char *why, size_t whylen);

/* Cache statistics (tests, metrics). */
void auth_cache_stats(struct auth *a, unsigned long *hits, unsigned long *misses);

#endif
