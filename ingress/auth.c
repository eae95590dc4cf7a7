/* auth.c — see auth.h. */
#include "auth.h"
#include "b64.h"
#include "envelope.h"

#include <dirent.h>
#include <errno.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define AUTH_MAX_KEYS 64
#define AUTH_CACHE_SLOTS 4096

struct auth_key {
    char kid[129]; /* "" when none */
    char *pem;
    size_t pemlen;
    unsigned char fp[SHA256_DIGEST_LENGTH]; /* SHA-256 of the DER public key */
};

/* One trust domain: the tenant keys (JWT_PUBLIC_KEY_FILE) or the operator keys
 * (OPERATOR_PUBLIC_KEY_FILE). A token is of the kind of the set whose key verified it. */
struct auth_keyset {
    struct auth_key keys[AUTH_MAX_KEYS];
    size_t nkeys;
    const char *setting; /* the env name, for error messages */
};

struct auth_cache_slot {
    unsigned char hash[SHA256_DIGEST_LENGTH];
    int used;
    long valid_until; /* exp + leeway */
    struct auth_claims claims;
};

struct auth {
    struct auth_keyset tenant;
    struct auth_keyset op;
    long leeway;
    long max_lifetime;
    char *issuer;
    char *audience;
    pthread_mutex_t lock;
    struct auth_cache_slot *cache;
    unsigned long hits, misses;
};

static void why_set(char *why, size_t cap, const char *s)
{
    if (why && cap)
        snprintf(why, cap, "%s", s);
}

/* Is pem an RSA public key OpenSSL can read? Fills fp with the SHA-256 of its DER form, so
 * the same key in two files is recognised whatever the PEM formatting. */
static int pem_is_rsa_pub(const char *pem, size_t len, unsigned char fp[SHA256_DIGEST_LENGTH])
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (!b)
        return 0;
    EVP_PKEY *k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!k)
        return 0;
    int ok = EVP_PKEY_base_id(k) == EVP_PKEY_RSA;
    unsigned char *der = NULL;
    int dl = ok ? i2d_PUBKEY(k, &der) : -1;
    if (dl > 0)
        SHA256(der, (size_t)dl, fp);
    else
        ok = 0;
    OPENSSL_free(der);
    EVP_PKEY_free(k);
    return ok;
}

static int kid_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static int add_key(struct auth_keyset *a, const char *kid, const char *pem, size_t len, char *err,
                   size_t errlen)
{
    unsigned char fp[SHA256_DIGEST_LENGTH];
    if (a->nkeys >= AUTH_MAX_KEYS) {
        snprintf(err, errlen, "%s: more than %d keys", a->setting, AUTH_MAX_KEYS);
        return -EINVAL;
    }
    if (!pem_is_rsa_pub(pem, len, fp)) {
        snprintf(err, errlen, "%s: key %s is not a PEM RSA public key", a->setting,
                 *kid ? kid : "#");
        return -EINVAL;
    }
    for (size_t i = 0; i < a->nkeys && *kid; i++) {
        if (strcmp(a->keys[i].kid, kid) == 0) {
            snprintf(err, errlen, "duplicate kid %s", kid);
            return -EINVAL;
        }
    }
    struct auth_key *k = &a->keys[a->nkeys];
    k->pem = malloc(len + 1);
    if (!k->pem)
        return -ENOMEM;
    memcpy(k->pem, pem, len);
    k->pem[len] = 0;
    k->pemlen = len;
    memcpy(k->fp, fp, sizeof fp);
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    a->nkeys++;
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            if (cap > (1 << 20)) {
                free(buf);
                fclose(f);
                return NULL;
            }
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096)
            break;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* A file of PEM blocks, each optionally preceded by "# kid: NAME". */
static int load_file(struct auth_keyset *a, const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    int rc = 0;
    char *text = slurp(path, &len);
    if (!text) {
        snprintf(err, errlen, "cannot read %s", a->setting);
        return -ENOENT;
    }
    char kid[129] = "";
    char *p = text;
    while (*p) {
        char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll && p[0] == '#') {
            const char *q = p + 1;
            while (*q == ' ' || *q == '\t')
                q++;
            if (strncmp(q, "kid:", 4) == 0) {
                q += 4;
                while (*q == ' ' || *q == '\t')
                    q++;
                size_t kl = (size_t)((p + ll) - q);
                while (kl && (q[kl - 1] == ' ' || q[kl - 1] == '\r' || q[kl - 1] == '\t'))
                    kl--;
                if (kl >= sizeof kid) {
                    snprintf(err, errlen, "kid too long");
                    rc = -EINVAL;
                    goto out;
                }
                memcpy(kid, q, kl);
                kid[kl] = 0;
                if (!kid_valid(kid)) {
                    snprintf(err, errlen, "invalid kid in key file");
                    rc = -EINVAL;
                    goto out;
                }
            }
        } else if (strncmp(p, "-----BEGIN ", 11) == 0) {
            char *end = strstr(p, "-----END ");
            if (!end) {
                snprintf(err, errlen, "unterminated PEM block");
                rc = -EINVAL;
                goto out;
            }
            char *eend = strchr(end, '\n');
            size_t blen = eend ? (size_t)(eend - p + 1) : strlen(p);
            rc = add_key(a, kid, p, blen, err, errlen);
            if (rc)
                goto out;
            kid[0] = 0;
            p += blen;
            continue;
        }
        p = eol ? eol + 1 : p + ll;
    }
out:
    free(text);
    return rc;
}

static int load_dir(struct auth_keyset *a, const char *path, char *err, size_t errlen)
{
    DIR *d = opendir(path);
    int rc = 0;
    if (!d) {
        snprintf(err, errlen, "cannot open %s directory", a->setting);
        return -ENOENT;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (nl <= 4 || strcmp(de->d_name + nl - 4, ".pem") != 0)
            continue;
        char kid[129];
        if (nl - 4 >= sizeof kid)
            continue;
        memcpy(kid, de->d_name, nl - 4);
        kid[nl - 4] = 0;
        if (!kid_valid(kid))
            continue;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, de->d_name);
        size_t len = 0;
        char *pem = slurp(full, &len);
        if (!pem) {
            snprintf(err, errlen, "%s: cannot read key %s", a->setting, kid);
            rc = -EIO;
            goto out;
        }
        rc = add_key(a, kid, pem, len, err, errlen);
        free(pem);
        if (rc)
            goto out;
    }
out:
    closedir(d);
    return rc;
}

static int load_set(struct auth_keyset *ks, const char *setting, const char *path, char *err,
                    size_t errlen)
{
    struct stat st;
    int rc;
    ks->setting = setting;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s does not exist", setting);
        return -ENOENT;
    }
    rc = S_ISDIR(st.st_mode) ? load_dir(ks, path, err, errlen) : load_file(ks, path, err, errlen);
    if (rc)
        return rc;
    if (ks->nkeys == 0) {
        snprintf(err, errlen, "no public key in %s", setting);
        return -EINVAL;
    }
    return 0;
}

static void free_set(struct auth_keyset *ks)
{
    for (size_t i = 0; i < ks->nkeys; i++) {
        OPENSSL_cleanse(ks->keys[i].pem, ks->keys[i].pemlen);
        free(ks->keys[i].pem);
    }
    ks->nkeys = 0;
}

int auth_new_opts(struct auth **out, const struct auth_opts *o, char *err, size_t errlen)
{
    int rc = -ENOMEM;
    struct auth *a = calloc(1, sizeof *a);
    *out = NULL;
    if (!a)
        goto out;
    pthread_mutex_init(&a->lock, NULL);
    a->leeway = o->leeway_s < 0 ? 0 : o->leeway_s;
    a->max_lifetime = o->max_lifetime_s < 0 ? 0 : o->max_lifetime_s;
    a->cache = calloc(AUTH_CACHE_SLOTS, sizeof *a->cache);
    if (!a->cache)
        goto out;
    if (o->issuer && *o->issuer && !(a->issuer = strdup(o->issuer)))
        goto out;
    if (o->audience && *o->audience && !(a->audience = strdup(o->audience)))
        goto out;
    if (!o->key_path || !*o->key_path) {
        snprintf(err, errlen, "JWT_PUBLIC_KEY_FILE is not set");
        rc = -EINVAL;
        goto out;
    }
    rc = load_set(&a->tenant, "JWT_PUBLIC_KEY_FILE", o->key_path, err, errlen);
    if (rc)
        goto out;
    a->op.setting = "OPERATOR_PUBLIC_KEY_FILE";
    if (o->operator_key_path && *o->operator_key_path) {
        rc = load_set(&a->op, "OPERATOR_PUBLIC_KEY_FILE", o->operator_key_path, err, errlen);
        if (rc)
            goto out;
        /* The two trust domains stay apart: a key in both would make every tenant token
         * signer an operator. */
        for (size_t i = 0; i < a->tenant.nkeys; i++)
            for (size_t j = 0; j < a->op.nkeys; j++)
                if (memcmp(a->tenant.keys[i].fp, a->op.keys[j].fp, SHA256_DIGEST_LENGTH) == 0) {
                    snprintf(err, errlen,
                             "the same public key is in JWT_PUBLIC_KEY_FILE and "
                             "OPERATOR_PUBLIC_KEY_FILE; operator keys must be separate");
                    rc = -EINVAL;
                    goto out;
                }
    }
    *out = a;
    a = NULL;
    rc = 0;
out:
    auth_free(a);
    return rc;
}

int auth_new(struct auth **out, const char *key_path, long leeway_s, const char *issuer,
             const char *audience, char *err, size_t errlen)
{
    struct auth_opts o = {
        .key_path = key_path, .leeway_s = leeway_s, .issuer = issuer, .audience = audience};
    return auth_new_opts(out, &o, err, errlen);
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    free_set(&a->tenant);
    free_set(&a->op);
    free(a->issuer);
    free(a->audience);
    free(a->cache);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

size_t auth_key_count(const struct auth *a)
{
    return a ? a->tenant.nkeys : 0;
}

size_t auth_operator_key_count(const struct auth *a)
{
    return a ? a->op.nkeys : 0;
}

void auth_cache_stats(struct auth *a, unsigned long *hits, unsigned long *misses)
{
    pthread_mutex_lock(&a->lock);
    *hits = a->hits;
    *misses = a->misses;
    pthread_mutex_unlock(&a->lock);
}

/* Unpadded base64url -> bytes, NUL-terminated (common/b64). Returns length or -1. */
static long b64url_decode(const char *in, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    if (cap == 0 ||
        b64_decode(in, n, (unsigned char *)out, cap - 1, &len, B64_URLSAFE | B64_NOPAD) != 0)
        return -1;
    out[len] = 0;
    return (long)len;
}

/* Reads an integral NumericDate claim (json int or double). 1 present, 0 absent, -1 bad. */
static int claim_time(json_object *payload, const char *name, long *out)
{
    json_object *v;
    if (!json_object_object_get_ex(payload, name, &v) || !v)
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        *out = (long)json_object_get_int64(v);
        return 1;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (d != d || d < 0 || d > 1e13)
            return -1;
        *out = (long)d;
        return 1;
    }
    return -1;
}

static int check_claims(struct auth *a, json_object *payload, time_t now, int operator_kind,
                        struct auth_claims *c, char *why, size_t whylen)
{
    json_object *v;
    long exp = 0, nbf = 0, iat = 0;
    int has, has_iat;
    if (!json_object_is_type(payload, json_type_object)) {
        why_set(why, whylen, "payload is not an object");
        return -1;
    }
    has = claim_time(payload, "exp", &exp);
    if (has != 1) {
        why_set(why, whylen, has == 0 ? "exp missing" : "exp malformed");
        return -1;
    }
    if ((long)now > exp + a->leeway) {
        why_set(why, whylen, "expired");
        return -1;
    }
    has = claim_time(payload, "nbf", &nbf);
    if (has < 0 || (has == 1 && (long)now + a->leeway < nbf)) {
        why_set(why, whylen, has < 0 ? "nbf malformed" : "not yet valid (nbf)");
        return -1;
    }
    has_iat = claim_time(payload, "iat", &iat);
    if (has_iat < 0) {
        why_set(why, whylen, "iat malformed");
        return -1;
    }
    if (has_iat == 1 && iat > (long)now + a->leeway) {
        why_set(why, whylen, "iat in the future");
        return -1;
    }
    /* JWT_MAX_LIFETIME_S: a token's whole lifetime (exp - iat) is bounded, so a stolen token
     * is useful for a bounded time; iat is then required (without it the lifetime is not
     * known). */
    if (a->max_lifetime > 0) {
        if (has_iat != 1) {
            why_set(why, whylen, "iat missing (required by JWT_MAX_LIFETIME_S)");
            return -1;
        }
        if (exp - iat > a->max_lifetime) {
            why_set(why, whylen, "lifetime exceeds JWT_MAX_LIFETIME_S");
            return -1;
        }
    }
    /* token_use: an access token says "access" or nothing; an operator token "operator" or
     * nothing. Anything else (the agent's per-call "tool" tokens, say) is refused, even when
     * its signing key ended up in our key file. */
    if (json_object_object_get_ex(payload, "token_use", &v)) {
        const char *want = operator_kind ? "operator" : "access";
        if (!json_object_is_type(v, json_type_string) ||
            strcmp(json_object_get_string(v), want) != 0) {
            why_set(why, whylen, "token_use is not accepted here");
            return -1;
        }
    }
    if (a->issuer) {
        if (!json_object_object_get_ex(payload, "iss", &v) ||
            !json_object_is_type(v, json_type_string) ||
            strcmp(json_object_get_string(v), a->issuer) != 0) {
            why_set(why, whylen, "issuer mismatch");
            return -1;
        }
    }
    if (a->audience) {
        int ok = 0;
        if (json_object_object_get_ex(payload, "aud", &v)) {
            if (json_object_is_type(v, json_type_string))
                ok = strcmp(json_object_get_string(v), a->audience) == 0;
            else if (json_object_is_type(v, json_type_array)) {
                size_t n = json_object_array_length(v);
                for (size_t i = 0; i < n && !ok; i++) {
                    json_object *e = json_object_array_get_idx(v, i);
                    ok = json_object_is_type(e, json_type_string) &&
                         strcmp(json_object_get_string(e), a->audience) == 0;
                }
            }
        }
        if (!ok) {
            why_set(why, whylen, "audience mismatch");
            return -1;
        }
    }
    if (operator_kind) {
        /* An operator is not in any tenant: tenant_id and roles are ignored. */
        c->tenant_id[0] = 0;
    } else {
        if (!json_object_object_get_ex(payload, "tenant_id", &v) ||
            !json_object_is_type(v, json_type_string) ||
            !tenant_id_valid(json_object_get_string(v))) {
            why_set(why, whylen, "tenant_id missing or malformed");
            return -1;
        }
        snprintf(c->tenant_id, sizeof c->tenant_id, "%s", json_object_get_string(v));
    }
    if (!json_object_object_get_ex(payload, "sub", &v) ||
        !json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
        json_object_get_string_len(v) >= (int)sizeof c->sub) {
        why_set(why, whylen, "sub missing or malformed");
        return -1;
    }
    const char *sub = json_object_get_string(v);
    for (const char *q = sub; *q; q++) {
        if ((unsigned char)*q < 0x20 || *q == 0x7f) {
            why_set(why, whylen, "sub has control characters");
            return -1;
        }
    }
    snprintf(c->sub, sizeof c->sub, "%s", sub);
    c->admin = 0;
    c->operator= operator_kind ? 1 : 0;
    if (!operator_kind && json_object_object_get_ex(payload, "roles", &v)) {
        if (!json_object_is_type(v, json_type_array)) {
            why_set(why, whylen, "roles is not an array");
            return -1;
        }
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(v, i);
            if (json_object_is_type(e, json_type_string) &&
                strcmp(json_object_get_string(e), "admin") == 0)
                c->admin = 1;
        }
    }
    c->exp = exp;
    c->iat = has_iat == 1 ? iat : 0;
    return 0;
}

/* Verifies the signature with one key; returns the payload JSON (caller puts) or NULL. */
static json_object *verify_with(const struct auth_key *k, const char *token)
{
    jwt_t *jwt = NULL;
    json_object *payload = NULL;
    char *grants = NULL;
    if (jwt_decode(&jwt, token, (const unsigned char *)k->pem, (int)k->pemlen) != 0 || !jwt)
        goto out;
    /* Belt and braces: the header was checked already, but never trust a token whose
     * decoded algorithm is anything but RS256. */
    if (jwt_get_alg(jwt) != JWT_ALG_RS256)
        goto out;
    grants = jwt_get_grants_json(jwt, NULL);
    if (!grants)
        goto out;
    payload = json_tokener_parse(grants);
out:
    free(grants);
    jwt_free(jwt);
    return payload;
}

/* With a kid: that key of the set only; without: every key of the set in turn. */
static json_object *verify_set(const struct auth_keyset *ks, const char *kid, const char *token)
{
    json_object *payload = NULL;
    for (size_t i = 0; i < ks->nkeys && !payload; i++) {
        if (kid && strcmp(ks->keys[i].kid, kid) != 0)
            continue;
        payload = verify_with(&ks->keys[i], token);
        if (kid)
            break;
    }
    return payload;
}

int auth_verify(struct auth *a, const char *token, time_t now, struct auth_claims *claims,
                char *why, size_t whylen)
{
    unsigned char hash[SHA256_DIGEST_LENGTH];
    json_object *hdr = NULL, *payload = NULL;
    char hbuf[1024];
    int rc = -1;
    size_t len;

    memset(claims, 0, sizeof *claims);
    if (!token || !*token) {
        why_set(why, whylen, "empty token");
        return -1;
    }
    len = strlen(token);
    if (len > AUTH_MAX_TOKEN) {
        why_set(why, whylen, "token too long");
        return -1;
    }
    SHA256((const unsigned char *)token, len, hash);
    size_t slot = ((size_t)hash[0] | ((size_t)hash[1] << 8)) % AUTH_CACHE_SLOTS;
    pthread_mutex_lock(&a->lock);
    struct auth_cache_slot *cs = &a->cache[slot];
    if (cs->used && memcmp(cs->hash, hash, sizeof hash) == 0) {
        if ((long)now <= cs->valid_until) {
            *claims = cs->claims;
            a->hits++;
            pthread_mutex_unlock(&a->lock);
            return 0;
        }
        cs->used = 0;
    }
    a->misses++;
    pthread_mutex_unlock(&a->lock);

    /* Shape: three base64url parts, nothing else. */
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.') || d1 == token || d2 == d1 + 1 || !d2[1]) {
        why_set(why, whylen, "not a compact JWS");
        goto out;
    }
    static const char b64url_chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    if (token[strspn(token, b64url_chars)] != '\0') {
        why_set(why, whylen, "bad characters");
        goto out;
    }
    /* Header first: decide the algorithm ourselves. */
    if (b64url_decode(token, (size_t)(d1 - token), hbuf, sizeof hbuf) < 0) {
        why_set(why, whylen, "header not base64url");
        goto out;
    }
    hdr = json_tokener_parse(hbuf);
    json_object *alg, *kidv;
    if (!hdr || !json_object_is_type(hdr, json_type_object) ||
        !json_object_object_get_ex(hdr, "alg", &alg) ||
        !json_object_is_type(alg, json_type_string) ||
        strcmp(json_object_get_string(alg), "RS256") != 0) {
        why_set(why, whylen, "algorithm is not RS256");
        goto out;
    }
    const char *kid = NULL;
    if (json_object_object_get_ex(hdr, "kid", &kidv)) {
        if (!json_object_is_type(kidv, json_type_string)) {
            why_set(why, whylen, "kid is not a string");
            goto out;
        }
        kid = json_object_get_string(kidv);
    }
    /* The tenant keys first, then the operator keys: the set whose key verified the
     * signature decides what the token is, never a claim. */
    int operator_kind = 0;
    payload = verify_set(&a->tenant, kid, token);
    if (!payload && a->op.nkeys) {
        payload = verify_set(&a->op, kid, token);
        operator_kind = payload != NULL;
    }
    if (!payload) {
        why_set(why, whylen, kid ? "unknown kid or bad signature" : "bad signature");
        goto out;
    }
    if (check_claims(a, payload, now, operator_kind, claims, why, whylen) != 0)
        goto out;

    pthread_mutex_lock(&a->lock);
    cs = &a->cache[slot];
    memcpy(cs->hash, hash, sizeof hash);
    cs->used = 1;
    cs->valid_until = claims->exp + a->leeway;
    cs->claims = *claims;
    pthread_mutex_unlock(&a->lock);
    rc = 0;
out:
    if (rc != 0)
        memset(claims, 0, sizeof *claims);
    json_object_put(hdr);
    json_object_put(payload);
    return rc;
}
