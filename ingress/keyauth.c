/* keyauth.c — see keyauth.h. */
#include "keyauth.h"

#include <errno.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"

#define KEYAUTH_SLOTS 1024

struct keyauth_slot {
    unsigned char hash[SHA256_DIGEST_LENGTH]; /* SHA-256 of the presented key */
    int used;
    int ok;             /* 1 accepted, 0 refused */
    double valid_until; /* monotonic seconds */
    char key_id[APIKEY_ID_LEN + 1];
    char why[64]; /* refused: the reason */
    struct auth_claims claims;
};

struct keyauth {
    struct pgpool *db;
    long cache_ms;
    long touch_s;
    pthread_mutex_t lock;
    struct keyauth_slot *slots;
    unsigned long hits, misses;
};

int keyauth_new(struct keyauth **out, struct pgpool *db, long cache_ms, long touch_s)
{
    struct keyauth *k = calloc(1, sizeof *k);
    *out = NULL;
    if (!k)
        return -ENOMEM;
    k->slots = calloc(KEYAUTH_SLOTS, sizeof *k->slots);
    if (!k->slots) {
        free(k);
        return -ENOMEM;
    }
    k->db = db;
    k->cache_ms = cache_ms;
    k->touch_s = touch_s;
    pthread_mutex_init(&k->lock, NULL);
    *out = k;
    return 0;
}

void keyauth_free(struct keyauth *k)
{
    if (!k)
        return;
    OPENSSL_cleanse(k->slots, KEYAUTH_SLOTS * sizeof *k->slots);
    free(k->slots);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

int keyauth_is_key(const char *token)
{
    return token && strncmp(token, APIKEY_PREFIX, strlen(APIKEY_PREFIX)) == 0;
}

void keyauth_stats(struct keyauth *k, unsigned long *hits, unsigned long *misses)
{
    pthread_mutex_lock(&k->lock);
    *hits = k->hits;
    *misses = k->misses;
    pthread_mutex_unlock(&k->lock);
}

void keyauth_forget(struct keyauth *k, const char *key_id)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < KEYAUTH_SLOTS; i++)
        if (k->slots[i].used && strcmp(k->slots[i].key_id, key_id) == 0)
            memset(&k->slots[i], 0, sizeof k->slots[i]);
    pthread_mutex_unlock(&k->lock);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void why_set(char *why, size_t cap, const char *s)
{
    if (why && cap)
        snprintf(why, cap, "%s", s);
}

/* Remembers an answer (ok or refused) until `until` (monotonic). */
static void remember(struct keyauth *k, const unsigned char *hash, size_t slot, int ok,
                     const char *key_id, const struct auth_claims *c, const char *why, double until)
{
    if (k->cache_ms <= 0)
        return;
    pthread_mutex_lock(&k->lock);
    struct keyauth_slot *s = &k->slots[slot];
    memcpy(s->hash, hash, SHA256_DIGEST_LENGTH);
    s->used = 1;
    s->ok = ok;
    s->valid_until = until;
    snprintf(s->key_id, sizeof s->key_id, "%s", key_id);
    snprintf(s->why, sizeof s->why, "%s", why ? why : "");
    if (c)
        s->claims = *c;
    else
        memset(&s->claims, 0, sizeof s->claims);
    pthread_mutex_unlock(&k->lock);
}

/* The lookup, and last_used_at when it is older than touch_s, in one statement. Columns:
 * tenant_id, key_hash, is admin, expires (epoch, NULL none), seconds left, revoked. */
#define KEYAUTH_SQL                                                                                \
    "WITH k AS (SELECT tenant_id, key_hash, 'admin' = ANY(roles) AS admin, "                       \
    "  extract(epoch FROM expires_at)::bigint AS exp, "                                            \
    "  extract(epoch FROM expires_at - now()) AS left_s, revoked_at IS NOT NULL AS revoked "       \
    "  FROM api_keys WHERE key_id = $1), "                                                         \
    "u AS (UPDATE api_keys SET last_used_at = now() WHERE key_id = $1 AND key_hash = $2 "          \
    "  AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) "                     \
    "  AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $3::int))) "      \
    "SELECT tenant_id, key_hash, admin, exp, left_s, revoked FROM k"

int keyauth_verify(struct keyauth *k, const char *token, struct auth_claims *claims, char *why,
                   size_t whylen)
{
    unsigned char hash[SHA256_DIGEST_LENGTH];
    char key_id[APIKEY_ID_LEN + 1], hex[APIKEY_HASH_HEX], touch[24], err[256];
    PGresult *res = NULL;
    int rc = 1;

    memset(claims, 0, sizeof *claims);
    if (!apikey_parse(token, key_id)) {
        why_set(why, whylen, "malformed API key");
        return 1;
    }
    SHA256((const unsigned char *)token, strlen(token), hash);
    size_t slot = ((size_t)hash[0] | ((size_t)hash[1] << 8)) % KEYAUTH_SLOTS;
    double now = mono_s();
    pthread_mutex_lock(&k->lock);
    struct keyauth_slot *s = &k->slots[slot];
    if (s->used && CRYPTO_memcmp(s->hash, hash, sizeof hash) == 0) {
        if (now < s->valid_until) {
            int ok = s->ok;
            if (ok)
                *claims = s->claims;
            else
                why_set(why, whylen, s->why);
            k->hits++;
            pthread_mutex_unlock(&k->lock);
            return ok ? 0 : 1;
        }
        s->used = 0;
    }
    k->misses++;
    pthread_mutex_unlock(&k->lock);

    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hex + (size_t)2 * (size_t)i, 3, "%02x", hash[i]);
    snprintf(touch, sizeof touch, "%ld", k->touch_s);
    const char *p[] = {key_id, hex, touch};
    int st = pgpool_exec(k->db, &res, KEYAUTH_SQL, 3, p, err, sizeof err);
    if (st != PG_OK) {
        why_set(why, whylen, "API key lookup failed");
        rc = st < 0 ? st : PG_ERR_QUERY;
        goto out;
    }
    double until = now + (double)k->cache_ms / 1000.0;
    const char *refused = NULL;
    if (PQntuples(res) == 0)
        refused = "unknown API key";
    else if (!apikey_hash_equal(PQgetvalue(res, 0, 1), hex))
        refused = "API key secret does not match";
    else if (PQgetvalue(res, 0, 5)[0] == 't')
        refused = "API key revoked";
    else if (!PQgetisnull(res, 0, 4) && strtod(PQgetvalue(res, 0, 4), NULL) <= 0)
        refused = "API key expired";
    if (refused) {
        why_set(why, whylen, refused);
        remember(k, hash, slot, 0, key_id, NULL, refused, until);
        goto out;
    }
    snprintf(claims->tenant_id, sizeof claims->tenant_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(claims->sub, sizeof claims->sub, "apikey:%s", key_id);
    claims->admin = PQgetvalue(res, 0, 2)[0] == 't';
    claims->apikey = 1;
    if (!PQgetisnull(res, 0, 3)) {
        claims->exp = strtol(PQgetvalue(res, 0, 3), NULL, 10);
        double left = strtod(PQgetvalue(res, 0, 4), NULL);
        if (now + left < until)
            until = now + left; /* never cached past its expiry */
    } else {
        claims->exp = (long)time(NULL) + 365L * 24 * 3600;
    }
    remember(k, hash, slot, 1, key_id, claims, NULL, until);
    rc = 0;
out:
    PQclear(res);
    OPENSSL_cleanse(hex, sizeof hex);
    if (rc != 0)
        memset(claims, 0, sizeof *claims);
    return rc;
}
