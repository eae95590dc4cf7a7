/* tool_token.c — per-call RS256 tokens for tool backends (see tool_token.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "csprng.h"
#include "log.h"
#include "tool_token.h"

#define TOOL_TOKEN_MAX_KEY ((size_t)64 * 1024)

struct tool_token_key {
    unsigned char *pem; /* the private key as read (libjwt parses PEM) */
    size_t pemlen;
    EVP_PKEY *pkey;
    char *issuer;
    char *kid;
    long ttl_s;
};

void tool_token_key_free(struct tool_token_key *k)
{
    if (!k)
        return;
    if (k->pem) {
        explicit_bzero(k->pem, k->pemlen);
        free(k->pem);
    }
    EVP_PKEY_free(k->pkey);
    free(k->issuer);
    free(k->kid);
    free(k);
}

long tool_token_key_ttl(const struct tool_token_key *k)
{
    return k ? k->ttl_s : 0;
}

/* Reads at most max bytes of path into a NUL-terminated buffer. */
static int read_file(const char *path, size_t max, unsigned char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    unsigned char *buf = NULL;
    size_t n = 0;
    int rc = -ENOMEM;
    if (fd < 0)
        return -errno;
    if (!(buf = malloc(max + 1)))
        goto out;
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            rc = -EFBIG;
            goto out;
        }
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    if (buf) {
        explicit_bzero(buf, max + 1);
        free(buf);
    }
    close(fd);
    return rc;
}

int tool_token_key_load(struct tool_token_key **out, const char *path, const char *issuer,
                        const char *kid, long ttl_s, char *err, size_t errlen)
{
    struct tool_token_key *k = NULL;
    BIO *bio = NULL;
    int rc = -EINVAL;
    *out = NULL;
    if (!path || !*path) {
        snprintf(err, errlen, "no key file given");
        return -EINVAL;
    }
    if (ttl_s < TOOL_TOKEN_MIN_TTL_S || ttl_s > TOOL_TOKEN_MAX_TTL_S) {
        snprintf(err, errlen, "the token lifetime must be %d..%d seconds", TOOL_TOKEN_MIN_TTL_S,
                 TOOL_TOKEN_MAX_TTL_S);
        return -EINVAL;
    }
    if (!(k = calloc(1, sizeof *k))) {
        rc = -ENOMEM;
        goto oom;
    }
    k->ttl_s = ttl_s;
    if (!(k->issuer = strdup(issuer && *issuer ? issuer : TOOL_TOKEN_DEFAULT_ISSUER)) ||
        (kid && *kid && !(k->kid = strdup(kid)))) {
        rc = -ENOMEM;
        goto oom;
    }
    if ((rc = read_file(path, TOOL_TOKEN_MAX_KEY, &k->pem, &k->pemlen)) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", path,
                 rc == -EFBIG ? "larger than 64 KiB" : strerror(-rc));
        goto out;
    }
    /* The PEM text is a secret: nothing may ever log it. */
    log_add_secret((const char *)k->pem);
    rc = -EINVAL;
    if (!(bio = BIO_new_mem_buf(k->pem, (int)k->pemlen))) {
        rc = -ENOMEM;
        goto oom;
    }
    k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (!k->pkey) {
        snprintf(err, errlen, "%s is not a PEM private key", path);
        goto out;
    }
    if (EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_RSA) {
        snprintf(err, errlen, "%s is not an RSA key (RS256 needs one)", path);
        goto out;
    }
    if (EVP_PKEY_get_bits(k->pkey) < 2048) {
        snprintf(err, errlen, "%s: the RSA key is shorter than 2048 bits", path);
        goto out;
    }
    *out = k;
    k = NULL;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    BIO_free(bio);
    tool_token_key_free(k);
    return rc;
}

int tool_token_key_public_pem(const struct tool_token_key *k, char **out, char *err, size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    int rc = -ENOMEM;
    *out = NULL;
    if (!bio)
        goto out;
    if (!k || !k->pkey || PEM_write_bio_PUBKEY(bio, k->pkey) != 1) {
        rc = -EINVAL;
        goto out;
    }
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || !(p = malloc((size_t)n + 1)))
        goto out;
    memcpy(p, data, (size_t)n);
    p[n] = 0;
    *out = p;
    rc = 0;
out:
    if (rc)
        snprintf(err, errlen, rc == -ENOMEM ? "out of memory" : "cannot encode the public key");
    BIO_free(bio);
    return rc;
}

int tool_token_audience(const char *configured, const char *url, char **out)
{
    CURLU *u = NULL;
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -ENOMEM;
    *out = NULL;
    if (configured && *configured) {
        *out = strdup(configured);
        return *out ? 0 : -ENOMEM;
    }
    if (!url || !(u = curl_url()))
        return url ? -ENOMEM : -EINVAL;
    rc = -EINVAL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
        goto out;
    /* without CURLU_DEFAULT_PORT: no port when the URL has none; an explicit default port is
     * dropped so that http://h and http://h:80 are one audience */
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
        port = NULL;
    if (port && ((strcasecmp(scheme, "http") == 0 && strcmp(port, "80") == 0) ||
                 (strcasecmp(scheme, "https") == 0 && strcmp(port, "443") == 0))) {
        curl_free(port);
        port = NULL;
    }
    size_t n = strlen(scheme) + strlen(host) + (port ? strlen(port) : 0) + 5;
    char *o = malloc(n);
    if (!o) {
        rc = -ENOMEM;
        goto out;
    }
    snprintf(o, n, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
    for (char *p = o; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    *out = o;
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

int tool_token_mint(const struct tool_token_key *k, const char *aud, const char *sub,
                    const char *tenant, long now, char **out, char *err, size_t errlen)
{
    jwt_t *jwt = NULL;
    unsigned char rnd[16];
    char jti[33];
    int rc = -EINVAL;
    *out = NULL;
    if (!k || !aud || !*aud || !sub || !*sub) {
        snprintf(err, errlen, "a tool token needs a key, an audience and a subject");
        return -EINVAL;
    }
    if (csprng_fill(rnd, sizeof rnd) != 0) {
        snprintf(err, errlen, "no random bytes for the token id");
        return -EIO;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(jti + 2 * i, 3, "%02x", rnd[i]);
    if (jwt_new(&jwt) != 0) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (jwt_add_grant(jwt, "iss", k->issuer) != 0 || jwt_add_grant(jwt, "aud", aud) != 0 ||
        jwt_add_grant(jwt, "sub", sub) != 0 ||
        (tenant && *tenant && jwt_add_grant(jwt, "tenant_id", tenant) != 0) ||
        jwt_add_grant(jwt, "token_use", "tool") != 0 || jwt_add_grant_int(jwt, "iat", now) != 0 ||
        jwt_add_grant_int(jwt, "exp", now + k->ttl_s) != 0 || jwt_add_grant(jwt, "jti", jti) != 0 ||
        (k->kid && jwt_add_header(jwt, "kid", k->kid) != 0)) {
        snprintf(err, errlen, "cannot build the tool token's claims");
        goto out;
    }
    if (jwt_set_alg(jwt, JWT_ALG_RS256, k->pem, (int)k->pemlen) != 0) {
        snprintf(err, errlen, "cannot use the tool token key");
        goto out;
    }
    char *s = jwt_encode_str(jwt);
    if (!s) {
        snprintf(err, errlen, "cannot sign the tool token");
        rc = -EIO;
        goto out;
    }
    *out = s;
    rc = 0;
out:
    jwt_free(jwt); /* scrubs its copy of the key */
    explicit_bzero(rnd, sizeof rnd);
    return rc;
}
