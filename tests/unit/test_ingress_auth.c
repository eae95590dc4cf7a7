/* test_ingress_auth.c — RS256 verification of ingress/auth.c against every forgery we know.
 * Keys are generated in-process (OpenSSL), tokens are signed with libjwt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../ingress/auth.c"

#include <jwt.h>
#include <openssl/rsa.h>
#include <unistd.h>

static char priv1[4096], pub1[2048], priv2[4096], pub2[2048];
static char dir[256], keyfile[300], ident_file[300];

static void gen_key(char *priv, size_t pcap, char *pub, size_t pubcap)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    assert_non_null(k);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    int n = BIO_read(b, priv, (int)pcap - 1);
    assert_true(n > 0);
    priv[n] = 0;
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    n = BIO_read(b, pub, (int)pubcap - 1);
    assert_true(n > 0);
    pub[n] = 0;
    BIO_free(b);
    EVP_PKEY_free(k);
}

static void write_file(const char *path, const char *a, const char *b)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(a, f);
    if (b)
        fputs(b, f);
    fclose(f);
}

static int setup_all(void **state)
{
    gen_key(priv1, sizeof priv1, pub1, sizeof pub1);
    gen_key(priv2, sizeof priv2, pub2, sizeof pub2);
    snprintf(dir, sizeof dir, "/tmp/test_ingress_auth.%d", (int)getpid());
    mkdir(dir, 0700);
    snprintf(keyfile, sizeof keyfile, "%s/keys.pem", dir);
    char buf[8192];
    snprintf(buf, sizeof buf, "# kid: one\n%s# kid: two\n%s", pub1, pub2);
    write_file(keyfile, buf, NULL);
    snprintf(ident_file, sizeof ident_file, "%s/single.pem", dir);
    write_file(ident_file, pub1, NULL);
    return 0;
}

static int teardown_all(void **state)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 0;
}

struct tok {
    jwt_alg_t alg;
    const char *key; /* PEM or secret */
    const char *kid;
    const char *tenant;
    const char *sub;
    long exp_off; /* exp = now + exp_off (0: omit) */
    long nbf_off; /* nbf = now + nbf_off (0: omit) */
    int admin;
    const char *iss, *aud;
};

static char *make_token(const struct tok *t)
{
    jwt_t *j = NULL;
    time_t now = time(NULL);
    assert_int_equal(jwt_new(&j), 0);
    if (t->sub)
        jwt_add_grant(j, "sub", t->sub);
    if (t->tenant)
        jwt_add_grant(j, "tenant_id", t->tenant);
    if (t->exp_off)
        jwt_add_grant_int(j, "exp", (long)now + t->exp_off);
    if (t->nbf_off)
        jwt_add_grant_int(j, "nbf", (long)now + t->nbf_off);
    if (t->iss)
        jwt_add_grant(j, "iss", t->iss);
    if (t->aud)
        jwt_add_grant(j, "aud", t->aud);
    jwt_add_grants_json(j,
                        t->admin ? "{\"roles\":[\"user\",\"admin\"]}" : "{\"roles\":[\"user\"]}");
    if (t->kid)
        jwt_add_header(j, "kid", t->kid);
    assert_int_equal(
        jwt_set_alg(j, t->alg, (const unsigned char *)t->key, t->key ? (int)strlen(t->key) : 0), 0);
    char *s = jwt_encode_str(j);
    jwt_free(j);
    assert_non_null(s);
    return s;
}

static struct tok good(void)
{
    struct tok t = {JWT_ALG_RS256, priv1, "one", "tenant-a", "user-1", 3600, 0, 0, NULL, NULL};
    return t;
}

static struct auth *open_auth(const char *path, long leeway, const char *iss, const char *aud)
{
    struct auth *a = NULL;
    char err[256];
    int rc = auth_new(&a, path, leeway, iss, aud, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "auth_new: %s\n", err);
    assert_int_equal(rc, 0);
    return a;
}

static int verify(struct auth *a, const char *tok, struct auth_claims *c)
{
    char why[128];
    return auth_verify(a, tok, time(NULL), c, why, sizeof why);
}

static void test_valid_token(void **state)
{
    struct auth *a = open_auth(keyfile, 30, NULL, NULL);
    struct auth_claims c;
    struct tok t = good();
    char *s = make_token(&t);
    assert_int_equal(auth_key_count(a), 2);
    assert_int_equal(verify(a, s, &c), 0);
    assert_string_equal(c.tenant_id, "tenant-a");
    assert_string_equal(c.sub, "user-1");
    assert_int_equal(c.admin, 0);
    /* second time: from the cache, same claims */
    unsigned long h0, m0, h1, m1;
    auth_cache_stats(a, &h0, &m0);
    assert_int_equal(verify(a, s, &c), 0);
    auth_cache_stats(a, &h1, &m1);
    assert_int_equal(h1, h0 + 1);
    assert_string_equal(c.sub, "user-1");
    free(s);
    t.admin = 1;
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), 0);
    assert_int_equal(c.admin, 1);
    free(s);
    auth_free(a);
}

static void test_second_kid_selected(void **state)
{
    struct auth *a = open_auth(keyfile, 30, NULL, NULL);
    struct auth_claims c;
    struct tok t = good();
    t.key = priv2;
    t.kid = "two";
    char *s = make_token(&t);
    assert_int_equal(verify(a, s, &c), 0);
    free(s);
    /* key two's signature under kid one: refused */
    t.kid = "one";
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    /* no kid: every key is tried */
    t.kid = NULL;
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), 0);
    free(s);
    auth_free(a);
}

static void test_unknown_kid(void **state)
{
    struct auth *a = open_auth(keyfile, 30, NULL, NULL);
    struct auth_claims c;
    struct tok t = good();
    t.kid = "three";
    char *s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    assert_string_equal(c.sub, "");
    free(s);
    auth_free(a);
}

static void test_wrong_algorithms(void **state)
{
    struct auth *a = open_auth(keyfile, 30, NULL, NULL);
    struct auth_claims c;
    struct tok t = good();
    char *s;
    /* RS384/RS512 with the right key: we accept RS256 only */
    t.alg = JWT_ALG_RS384;
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    t.alg = JWT_ALG_RS512;
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    /* alg none */
    t.alg = JWT_ALG_NONE;
    t.key = NULL;
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    /* HS256 "signed" with the public key as the HMAC secret (the classic confusion) */
    t.alg = JWT_ALG_HS256;
    t.key = pub1;
    s = make_token(&t);
    {
        /* Raw libjwt, given the PEM as "the key", accepts this forgery: the check is ours. */
        jwt_t *raw = NULL;
        int raw_rc = jwt_decode(&raw, s, (const unsigned char *)pub1, (int)strlen(pub1));
        if (raw_rc == 0)
            assert_int_equal(jwt_get_alg(raw), JWT_ALG_HS256);
        jwt_free(raw);
    }
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    t.kid = NULL;
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    /* HS256 with the public key's PEM of the single-key file (no kid at all) */
    struct auth *a1 = open_auth(ident_file, 30, NULL, NULL);
    s = make_token(&t);
    assert_int_equal(verify(a1, s, &c), -1);
    free(s);
    t.alg = JWT_ALG_RS256;
    t.key = priv1;
    s = make_token(&t);
    assert_int_equal(verify(a1, s, &c), 0);
    free(s);
    auth_free(a1);
    auth_free(a);
}

static void test_handmade_none_header(void **state)
{
    struct auth *a = open_auth(keyfile, 30, NULL, NULL);
    struct auth_claims c;
    /* {"alg":"none","typ":"JWT"} . {"sub":"x","tenant_id":"tenant-a","exp":9999999999} . */
    const char *none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
                       "eyJzdWIiOiJ4IiwidGVuYW50X2lkIjoidGVuYW50LWEiLCJleHAiOjk5OTk5OTk5OTl9.";
    assert_int_equal(verify(a, none, &c), -1);
    /* alg "RS256 " / "rs256" variants */
    const char *lower = "eyJhbGciOiJyczI1NiJ9."
                        "eyJzdWIiOiJ4IiwidGVuYW50X2lkIjoidGVuYW50LWEiLCJleHAiOjk5OTk5OTk5OTl9.AAAA";
    assert_int_equal(verify(a, lower, &c), -1);
    auth_free(a);
}

static void test_time_claims(void **state)
{
    struct auth *a = open_auth(keyfile, 30, NULL, NULL);
    struct auth_claims c;
    struct tok t = good();
    char *s;
    t.exp_off = -120; /* expired beyond leeway */
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    t.exp_off = -10; /* expired, within leeway */
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), 0);
    free(s);
    t.exp_off = 0; /* no exp at all */
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    t.exp_off = 3600;
    t.nbf_off = 600; /* not yet valid */
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    t.nbf_off = 10; /* within leeway */
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), 0);
    free(s);
    auth_free(a);
}

static void test_cached_token_expires(void **state)
{
    struct auth *a = open_auth(keyfile, 0, NULL, NULL);
    struct auth_claims c;
    char why[64];
    struct tok t = good();
    t.exp_off = 100;
    char *s = make_token(&t);
    assert_int_equal(auth_verify(a, s, time(NULL), &c, why, sizeof why), 0);
    /* the cache must not outlive exp */
    assert_int_equal(auth_verify(a, s, time(NULL) + 200, &c, why, sizeof why), -1);
    free(s);
    auth_free(a);
}

static void test_tampering(void **state)
{
    struct auth *a = open_auth(keyfile, 30, NULL, NULL);
    struct auth_claims c;
    struct tok t = good();
    char *s = make_token(&t);
    char *d1 = strchr(s, '.'), *d2 = strchr(d1 + 1, '.');
    /* payload: swap in another tenant's payload, keep the signature */
    struct tok t2 = good();
    t2.tenant = "tenant-b";
    char *s2 = make_token(&t2);
    char *e1 = strchr(s2, '.'), *e2 = strchr(e1 + 1, '.');
    char forged[4096];
    snprintf(forged, sizeof forged, "%.*s%.*s%s", (int)(d1 - s), s, (int)(e2 - e1), e1, d2);
    assert_int_equal(verify(a, forged, &c), -1);
    /* one payload character flipped */
    char *m = strdup(s);
    m[(d1 - s) + 5] = m[(d1 - s) + 5] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(a, m, &c), -1);
    free(m);
    /* signature flipped */
    m = strdup(s);
    size_t L = strlen(m);
    m[L - 3] = m[L - 3] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(a, m, &c), -1);
    free(m);
    /* signature removed */
    m = strdup(s);
    m[d2 - s + 1] = 0;
    assert_int_equal(verify(a, m, &c), -1);
    free(m);
    assert_int_equal(verify(a, s, &c), 0);
    free(s2);
    free(s);
    auth_free(a);
}

static void test_claims_required(void **state)
{
    struct auth *a = open_auth(keyfile, 30, NULL, NULL);
    struct auth_claims c;
    struct tok t = good();
    char *s;
    t.tenant = NULL;
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    t.tenant = "bad tenant!";
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    t.tenant = "tenant-a";
    t.sub = NULL;
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    auth_free(a);
}

static void test_issuer_audience(void **state)
{
    struct auth *a = open_auth(keyfile, 30, "https://idp", "agenthub");
    struct auth_claims c;
    struct tok t = good();
    char *s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    t.iss = "https://idp";
    t.aud = "other";
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    t.aud = "agenthub";
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), 0);
    free(s);
    auth_free(a);
}

static void test_garbage(void **state)
{
    struct auth *a = open_auth(keyfile, 30, NULL, NULL);
    struct auth_claims c;
    const char *bad_tokens[] = {"",         "x",          "a.b",         "a.b.c.d",         "...",
                                "eyJ.eyJ.", "!!!.@@@.##", "e30.e30.e30", "bnVsbA.bnVsbA.AA"};
    for (size_t i = 0; i < sizeof bad_tokens / sizeof bad_tokens[0]; i++)
        assert_int_equal(verify(a, bad_tokens[i], &c), -1);
    assert_int_equal(verify(a, NULL, &c), -1);
    char big[AUTH_MAX_TOKEN + 10];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(verify(a, big, &c), -1);
    auth_free(a);
}

static void test_key_directory_and_bad_files(void **state)
{
    char kd[300], path[400], err[256];
    struct auth *a = NULL;
    snprintf(kd, sizeof kd, "%s/keys.d", dir);
    mkdir(kd, 0700);
    snprintf(path, sizeof path, "%s/alpha.pem", kd);
    write_file(path, pub1, NULL);
    snprintf(path, sizeof path, "%s/beta.pem", kd);
    write_file(path, pub2, NULL);
    a = open_auth(kd, 30, NULL, NULL);
    assert_int_equal(auth_key_count(a), 2);
    struct auth_claims c;
    struct tok t = good();
    t.kid = "beta";
    t.key = priv2;
    char *s = make_token(&t);
    assert_int_equal(verify(a, s, &c), 0);
    free(s);
    t.kid = "alpha";
    s = make_token(&t);
    assert_int_equal(verify(a, s, &c), -1);
    free(s);
    auth_free(a);

    /* a private key or garbage is refused at load time */
    snprintf(path, sizeof path, "%s/bad.pem", dir);
    write_file(path, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", NULL);
    assert_int_not_equal(auth_new(&a, path, 30, NULL, NULL, err, sizeof err), 0);
    assert_null(a);
    write_file(path, "no keys here\n", NULL);
    assert_int_not_equal(auth_new(&a, path, 30, NULL, NULL, err, sizeof err), 0);
    assert_int_not_equal(auth_new(&a, "/nonexistent/keys.pem", 30, NULL, NULL, err, sizeof err), 0);
    assert_int_not_equal(auth_new(&a, "", 30, NULL, NULL, err, sizeof err), 0);
}

/* ---- issue 17: operator key set, token_use, lifetime --------------------------------------- */

/* Signs claims (a JSON object text; NOW, EXP and FAR in it stand for the current time, ten
 * minutes from now and forty days from now) with key. */
static char *sign_json(const char *key, const char *kid, const char *claims)
{
    char buf[2048];
    const char *p = claims;
    size_t n = 0;
    long now = (long)time(NULL);
    while (*p && n + 24 < sizeof buf) {
        long v = -1;
        if (strncmp(p, "NOW", 3) == 0)
            v = now;
        else if (strncmp(p, "EXP", 3) == 0)
            v = now + 600;
        else if (strncmp(p, "FAR", 3) == 0)
            v = now + 40L * 86400;
        if (v >= 0) {
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%ld", v);
            p += 3;
        } else {
            buf[n++] = *p++;
        }
    }
    buf[n] = 0;
    jwt_t *j = NULL;
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grants_json(j, buf), 0);
    if (kid)
        jwt_add_header(j, "kid", kid);
    assert_int_equal(jwt_set_alg(j, JWT_ALG_RS256, (const unsigned char *)key, (int)strlen(key)),
                     0);
    char *s = jwt_encode_str(j);
    jwt_free(j);
    assert_non_null(s);
    return s;
}

static int verify_json(struct auth *a, const char *key, const char *kid, const char *claims,
                       struct auth_claims *c)
{
    char *s = sign_json(key, kid, claims);
    int rc = verify(a, s, c);
    free(s);
    return rc;
}

static struct auth *open_opts(const char *op_path, long max_life, const char *iss, const char *aud)
{
    struct auth *a = NULL;
    char err[256];
    struct auth_opts o = {.key_path = ident_file, /* tenant key: pub1 */
                          .operator_key_path = op_path,
                          .leeway_s = 30,
                          .issuer = iss,
                          .audience = aud,
                          .max_lifetime_s = max_life};
    int rc = auth_new_opts(&a, &o, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "auth_new_opts: %s\n", err);
    assert_int_equal(rc, 0);
    return a;
}

static void test_token_use(void **state)
{
    struct auth *a = open_auth(keyfile, 30, NULL, NULL);
    struct auth_claims c;
    const char *base = "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"iat\":NOW,\"exp\":EXP";
    char claims[512];
    /* the agent's per-call tool token, even signed by a key we trust: refused */
    snprintf(claims, sizeof claims, "%s,\"token_use\":\"tool\"}", base);
    assert_int_equal(verify_json(a, priv1, "one", claims, &c), -1);
    snprintf(claims, sizeof claims, "%s,\"token_use\":\"operator\"}", base);
    assert_int_equal(verify_json(a, priv1, "one", claims, &c), -1);
    snprintf(claims, sizeof claims, "%s,\"token_use\":1}", base);
    assert_int_equal(verify_json(a, priv1, "one", claims, &c), -1);
    snprintf(claims, sizeof claims, "%s,\"token_use\":\"access\"}", base);
    assert_int_equal(verify_json(a, priv1, "one", claims, &c), 0);
    assert_int_equal(c.operator, 0);
    snprintf(claims, sizeof claims, "%s}", base);
    assert_int_equal(verify_json(a, priv1, "one", claims, &c), 0);
    auth_free(a);
}

static void test_operator_keys(void **state)
{
    char opfile[320];
    snprintf(opfile, sizeof opfile, "%s/operator.pem", dir);
    char buf[4096];
    snprintf(buf, sizeof buf, "# kid: op\n%s", pub2);
    write_file(opfile, buf, NULL);
    struct auth *a = open_opts(opfile, 86400, NULL, NULL);
    struct auth_claims c;
    assert_int_equal(auth_operator_key_count(a), 1);
    /* signed by the operator key: an operator, no tenant */
    assert_int_equal(verify_json(a, priv2, "op",
                                 "{\"sub\":\"alice\",\"iat\":NOW,\"exp\":EXP,"
                                 "\"token_use\":\"operator\"}",
                                 &c),
                     0);
    assert_int_equal(c.operator, 1);
    assert_int_equal(c.admin, 0);
    assert_string_equal(c.sub, "alice");
    assert_string_equal(c.tenant_id, "");
    /* without kid too; tenant_id and roles in it change nothing */
    assert_int_equal(verify_json(a, priv2, NULL,
                                 "{\"sub\":\"alice\",\"iat\":NOW,\"exp\":EXP,\"tenant_id\":\"t1\","
                                 "\"roles\":[\"admin\"]}",
                                 &c),
                     0);
    assert_int_equal(c.operator, 1);
    assert_string_equal(c.tenant_id, "");
    /* an operator token claiming token_use access or tool: refused */
    assert_int_equal(verify_json(a, priv2, "op",
                                 "{\"sub\":\"alice\",\"iat\":NOW,\"exp\":EXP,"
                                 "\"token_use\":\"tool\"}",
                                 &c),
                     -1);
    /* signed by the tenant key, whatever it claims: never an operator */
    assert_int_equal(verify_json(a, priv1, NULL,
                                 "{\"sub\":\"root\",\"tenant_id\":\"t1\",\"iat\":NOW,\"exp\":EXP,"
                                 "\"roles\":[\"admin\",\"operator\"],\"operator\":true}",
                                 &c),
                     0);
    assert_int_equal(c.operator, 0);
    assert_int_equal(c.admin, 1);
    /* the tenant key with the operator's kid: not found in the operator set */
    assert_int_equal(verify_json(a, priv1, "op",
                                 "{\"sub\":\"root\",\"iat\":NOW,\"exp\":EXP,"
                                 "\"token_use\":\"operator\"}",
                                 &c),
                     -1);
    /* operator tokens obey the lifetime bound */
    assert_int_equal(verify_json(a, priv2, "op", "{\"sub\":\"alice\",\"iat\":NOW,\"exp\":FAR}", &c),
                     -1);
    auth_free(a);

    /* the same key in both files: refused at start */
    struct auth *b = NULL;
    char err[256] = "";
    struct auth_opts o = {.key_path = keyfile, .operator_key_path = opfile, .leeway_s = 30};
    assert_int_not_equal(auth_new_opts(&b, &o, err, sizeof err), 0);
    assert_non_null(strstr(err, "same public key"));
    assert_null(b);
    /* even with different PEM text (the same key, other line breaks and kid) */
    char reflow[4096];
    snprintf(reflow, sizeof reflow, "# kid: x\n%s", pub1);
    write_file(opfile, reflow, NULL);
    o.key_path = ident_file;
    assert_int_not_equal(auth_new_opts(&b, &o, err, sizeof err), 0);
    /* no operator file: no operator */
    struct auth *n = open_opts(NULL, 0, NULL, NULL);
    assert_int_equal(auth_operator_key_count(n), 0);
    assert_int_equal(verify_json(n, priv2, "op",
                                 "{\"sub\":\"alice\",\"iat\":NOW,\"exp\":EXP,"
                                 "\"token_use\":\"operator\"}",
                                 &c),
                     -1);
    auth_free(n);
}

static void test_max_lifetime(void **state)
{
    struct auth *a = open_opts(NULL, 86400, NULL, NULL);
    struct auth_claims c;
    long now = (long)time(NULL);
    char claims[256];
    /* a 30-day token: refused */
    snprintf(claims, sizeof claims, "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"iat\":%ld,\"exp\":%ld}",
             now, now + 30L * 86400);
    assert_int_equal(verify_json(a, priv1, NULL, claims, &c), -1);
    /* exactly the maximum: accepted, and iat is kept */
    snprintf(claims, sizeof claims, "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"iat\":%ld,\"exp\":%ld}",
             now, now + 86400);
    assert_int_equal(verify_json(a, priv1, NULL, claims, &c), 0);
    assert_int_equal(c.iat, now);
    /* no iat: refused while a maximum is set */
    snprintf(claims, sizeof claims, "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"exp\":%ld}", now + 60);
    assert_int_equal(verify_json(a, priv1, NULL, claims, &c), -1);
    /* an iat in the future (to stretch exp): refused */
    snprintf(claims, sizeof claims, "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"iat\":%ld,\"exp\":%ld}",
             now + 20L * 86400, now + 20L * 86400 + 60);
    assert_int_equal(verify_json(a, priv1, NULL, claims, &c), -1);
    snprintf(claims, sizeof claims,
             "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"iat\":\"x\",\"exp\":%ld}", now + 60);
    assert_int_equal(verify_json(a, priv1, NULL, claims, &c), -1);
    auth_free(a);
    /* 0: not checked, iat optional */
    struct auth *b = open_opts(NULL, 0, NULL, NULL);
    snprintf(claims, sizeof claims, "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"exp\":%ld}",
             now + 30L * 86400);
    assert_int_equal(verify_json(b, priv1, NULL, claims, &c), 0);
    auth_free(b);
}

static void test_issuer_audience_required(void **state)
{
    struct auth *a = open_opts(NULL, 0, "https://idp.example", "agenthub");
    struct auth_claims c;
    const char *ok = "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"exp\":EXP,"
                     "\"iss\":\"https://idp.example\",\"aud\":\"agenthub\"}";
    assert_int_equal(verify_json(a, priv1, NULL, ok, &c), 0);
    /* aud as an array containing ours: accepted; without it: refused */
    assert_int_equal(verify_json(a, priv1, NULL,
                                 "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"exp\":EXP,"
                                 "\"iss\":\"https://idp.example\",\"aud\":[\"x\",\"agenthub\"]}",
                                 &c),
                     0);
    assert_int_equal(verify_json(a, priv1, NULL,
                                 "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"exp\":EXP,"
                                 "\"iss\":\"https://idp.example\",\"aud\":[\"x\",\"erp\"]}",
                                 &c),
                     -1);
    assert_int_equal(verify_json(a, priv1, NULL,
                                 "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"exp\":EXP,"
                                 "\"iss\":\"https://idp.example\",\"aud\":[]}",
                                 &c),
                     -1);
    /* missing aud, missing iss, wrong iss, iss of another type */
    assert_int_equal(verify_json(a, priv1, NULL,
                                 "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"exp\":EXP,"
                                 "\"iss\":\"https://idp.example\"}",
                                 &c),
                     -1);
    assert_int_equal(verify_json(a, priv1, NULL,
                                 "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"exp\":EXP,"
                                 "\"aud\":\"agenthub\"}",
                                 &c),
                     -1);
    assert_int_equal(verify_json(a, priv1, NULL,
                                 "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"exp\":EXP,"
                                 "\"iss\":\"https://evil.example\",\"aud\":\"agenthub\"}",
                                 &c),
                     -1);
    assert_int_equal(verify_json(a, priv1, NULL,
                                 "{\"sub\":\"u\",\"tenant_id\":\"t1\",\"exp\":EXP,"
                                 "\"iss\":[\"https://idp.example\"],\"aud\":\"agenthub\"}",
                                 &c),
                     -1);
    auth_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_token),
        cmocka_unit_test(test_second_kid_selected),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_wrong_algorithms),
        cmocka_unit_test(test_handmade_none_header),
        cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_cached_token_expires),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_claims_required),
        cmocka_unit_test(test_issuer_audience),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_key_directory_and_bad_files),
        cmocka_unit_test(test_token_use),
        cmocka_unit_test(test_operator_keys),
        cmocka_unit_test(test_max_lifetime),
        cmocka_unit_test(test_issuer_audience_required),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
