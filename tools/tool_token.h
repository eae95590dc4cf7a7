/* tool_token.h — short-lived tokens minted per tool call (issue 17).
 *
 * An inject_jwt tool never gets the user's own AgentHub token (AgentHub would accept it back).
 * With TOOL_TOKEN_KEY_FILE set, the agent signs, for every call, an RS256 JWT meant for that
 * tool's backend only:
 *
 *   header  {"alg":"RS256","typ":"JWT"[,"kid":TOOL_TOKEN_KID]}
 *   claims  iss        TOOL_TOKEN_ISSUER (default "agenthub-tools")
 *           aud        the tool config's jwt_audience, or else the endpoint's origin
 *                      "scheme://host[:port]" (lower case, port only when not the scheme's
 *                      default) -- see tool_token_audience()
 *           sub        the user the job runs for (the envelope's user_id: the verified sub)
 *           tenant_id  the job's tenant
 *           token_use  "tool"
 *           iat, exp   now, now + TOOL_TOKEN_TTL_S (default 60 s)
 *           jti        128 random bits, hex
 *
 * The key is a separate RSA key pair: its public half is never in JWT_PUBLIC_KEY_FILE, and
 * the ingress refuses token_use "tool" even if it were. A backend verifies with the public
 * key (`agenthubctl tool-token-pubkey --key PRIV.pem`): alg RS256 only, iss, aud = its own
 * origin or configured audience, token_use "tool", exp in the future (a small leeway for
 * clock skew), and optionally sub / tenant_id against what it serves.
 *
 * The PEM text is registered with log_add_secret() when loaded; a minted token is never
 * logged (log lines mask JWT-shaped text too).
 */
#ifndef AGENTHUB_TOOL_TOKEN_H
#define AGENTHUB_TOOL_TOKEN_H

#include <stddef.h>

#define TOOL_TOKEN_DEFAULT_ISSUER "agenthub-tools"
#define TOOL_TOKEN_DEFAULT_TTL_S 60
#define TOOL_TOKEN_MIN_TTL_S 5
#define TOOL_TOKEN_MAX_TTL_S 3600

struct tool_token_key; /* opaque: the private key PEM, issuer, kid, ttl */

/* Reads the PEM RSA private key at path (at most 64 KiB) and checks it is RSA and usable.
 * issuer NULL or "": TOOL_TOKEN_DEFAULT_ISSUER; kid NULL or "": no kid header; ttl_s in
 * [TOOL_TOKEN_MIN_TTL_S, TOOL_TOKEN_MAX_TTL_S]. 0 and *out (free with tool_token_key_free),
 * or negative with err filled (never any key material): -ENOENT/-EACCES unreadable, -EINVAL
 * not an RSA private key in PEM form or a bad ttl, -ENOMEM. */
int tool_token_key_load(struct tool_token_key **out, const char *path, const char *issuer,
                        const char *kid, long ttl_s, char *err, size_t errlen);
/* Wipes and frees; NULL-safe. */
void tool_token_key_free(struct tool_token_key *k);

long tool_token_key_ttl(const struct tool_token_key *k);

/* The public half as PEM ("-----BEGIN PUBLIC KEY-----", SubjectPublicKeyInfo), malloc'd. */
int tool_token_key_public_pem(const struct tool_token_key *k, char **out, char *err, size_t errlen);

/* The audience of a call: configured when non-empty, else url's origin
 * "scheme://host[:port]" (lower case; the port only when it is not the scheme's default).
 * *out malloc'd; -EINVAL when url has no scheme or host. */
int tool_token_audience(const char *configured, const char *url, char **out);

/* Signs the claims above for aud (required), sub (required), tenant (may be NULL: no
 * tenant_id claim) at time now. *out is the compact JWT, malloc'd; the caller wipes and frees
 * it. Negative with err filled on failure (never the token). */
int tool_token_mint(const struct tool_token_key *k, const char *aud, const char *sub,
                    const char *tenant, long now, char **out, char *err, size_t errlen);

#endif
