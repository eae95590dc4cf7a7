/* keyauth.h — tenant API keys as bearer credentials (common/apikey.h for the format).
 *
 * A bearer credential shaped like "ahk_<key_id>_<secret>" is checked here instead of as a JWT
 * (http.c's req_auth). The row is read by key_id and the SHA-256 of the presented key is
 * compared in constant time with api_keys.key_hash; a revoked, expired or unknown key, or a
 * hash mismatch, is refused. The caller becomes the user "apikey:<key_id>" of the key's tenant
 * (claims.apikey = 1), its tenant's admin when the key's roles hold "admin".
 *
 * Cache: answers (accepted and refused) are kept in-process, by the SHA-256 of the key (never
 * the key), for INGRESS_API_KEY_CACHE_MS (default 2000 ms) and never past the key's expiry.
 * So a known key costs no database round trip per request: one per key per process per
 * window. The same window bounds revocation: a key revoked through the admin API is dropped
 * at once from the cache of the ingress process that revoked it, and every other process
 * refuses it at the latest INGRESS_API_KEY_CACHE_MS later (its cached answer runs out and the
 * next lookup sees revoked_at). No cross-process message is needed for that bound.
 *
 * last_used_at: written by the lookup's own statement (one round trip), and only when it is
 * older than INGRESS_API_KEY_TOUCH_S — at most once per that interval per key, whatever the
 * request rate.
 */
#ifndef AGENTHUB_INGRESS_KEYAUTH_H
#define AGENTHUB_INGRESS_KEYAUTH_H

#include <stddef.h>
#include <time.h>

#include "ingress.h"

struct keyauth;

/* cache_ms 0: no cache (every request reads the row). touch_s: last_used_at granularity. */
int keyauth_new(struct keyauth **out, struct pgpool *db, long cache_ms, long touch_s);
void keyauth_free(struct keyauth *k); /* NULL-safe */

/* 1 when token is shaped like an API key (then keyauth_verify decides, never the JWT path). */
int keyauth_is_key(const char *token);

/* 0 with *claims filled; 1 refused (reason in why, never the key); a negative pg_status when
 * the database could not answer (the caller answers 503). */
int keyauth_verify(struct keyauth *k, const char *token, struct auth_claims *claims, char *why,
                   size_t whylen);

/* Drops every cached answer for key_id (revocation, in this process: at once). */
void keyauth_forget(struct keyauth *k, const char *key_id);

void keyauth_stats(struct keyauth *k, unsigned long *hits, unsigned long *misses);

#endif
