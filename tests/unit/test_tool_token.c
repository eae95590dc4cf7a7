/* Unit tests for tools/tool_token: per-call tool tokens (issue 17). A key pair is generated
 * here with OpenSSL; every minted token is verified with libjwt against the public half. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tool.h"
#include "tool_token.h"

static char g_dir[] = "/tmp/test_tool_token.XXXXXX";
static char g_priv[300], g_ec[300], g_small[300], g_pub_pem[4096];

static void write_key(const char *path, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_priv, sizeof g_priv, "%s/rsa.pem", g_dir);
    snprintf(g_ec, sizeof g_ec, "%s/ec.pem", g_dir);
    snprintf(g_small, sizeof g_small, "%s/rsa1024.pem", g_dir);
    EVP_PKEY *rsa = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256"), *small = EVP_RSA_gen(1024);
    if (!rsa || !ec || !small)
        return -1;
    write_key(g_priv, rsa);
    write_key(g_ec, ec);
    write_key(g_small, small);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, rsa);
    char *d = NULL;
    long n = BIO_get_mem_data(b, &d);
    if (n <= 0 || (size_t)n >= sizeof g_pub_pem)
        return -1;
    memcpy(g_pub_pem, d, (size_t)n);
    g_pub_pem[n] = 0;
    BIO_free(b);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(small);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(g_priv);
    unlink(g_ec);
    unlink(g_small);
    rmdir(g_dir);
    return 0;
}

static struct tool_token_key *load(const char *iss, const char *kid, long ttl)
{
    struct tool_token_key *k = NULL;
    char err[256] = "";
    int rc = tool_token_key_load(&k, g_priv, iss, kid, ttl, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_non_null(k);
    return k;
}

/* Verifies tok with the public key (libjwt checks the RS256 signature) and returns it. */
static jwt_t *verify(const char *tok)
{
    jwt_t *j = NULL;
    assert_int_equal(jwt_decode(&j, tok, (const unsigned char *)g_pub_pem, (int)strlen(g_pub_pem)),
                     0);
    assert_int_equal(jwt_get_alg(j), JWT_ALG_RS256);
    return j;
}

static void test_mint_claims(void **state)
{
    (void)state;
    struct tool_token_key *k = load(NULL, NULL, 60);
    char *tok = NULL, err[256] = "";
    long now = (long)time(NULL);
    assert_int_equal(
        tool_token_mint(k, "https://erp.example", "user-7", "demo", now, &tok, err, sizeof err), 0);
    jwt_t *j = verify(tok);
    assert_string_equal(jwt_get_grant(j, "iss"), TOOL_TOKEN_DEFAULT_ISSUER);
    assert_string_equal(jwt_get_grant(j, "aud"), "https://erp.example");
    assert_string_equal(jwt_get_grant(j, "sub"), "user-7");
    assert_string_equal(jwt_get_grant(j, "tenant_id"), "demo");
    assert_string_equal(jwt_get_grant(j, "token_use"), "tool");
    assert_int_equal(jwt_get_grant_int(j, "iat"), now);
    assert_int_equal(jwt_get_grant_int(j, "exp") - jwt_get_grant_int(j, "iat"), 60);
    const char *jti = jwt_get_grant(j, "jti");
    assert_non_null(jti);
    assert_int_equal(strlen(jti), 32);
    assert_int_equal(strspn(jti, "0123456789abcdef"), 32);
    assert_null(jwt_get_header(j, "kid"));
    assert_null(jwt_get_grant(j, "roles")); /* nothing AgentHub's own tokens carry */

    /* a second call: a new jti */
    char *tok2 = NULL;
    assert_int_equal(
        tool_token_mint(k, "https://erp.example", "user-7", "demo", now, &tok2, err, sizeof err),
        0);
    jwt_t *j2 = verify(tok2);
    assert_string_not_equal(jwt_get_grant(j2, "jti"), jti);
    jwt_free(j2);
    jwt_free(j);
    free(tok);
    free(tok2);
    tool_token_key_free(k);
}

static void test_issuer_kid_ttl(void **state)
{
    (void)state;
    struct tool_token_key *k = load("my-hub", "tool-2026", 300);
    char *tok = NULL, err[256] = "";
    assert_int_equal(tool_token_key_ttl(k), 300);
    assert_int_equal(tool_token_mint(k, "aud-x", "u", NULL, 1000, &tok, err, sizeof err), 0);
    jwt_t *j = verify(tok);
    assert_string_equal(jwt_get_grant(j, "iss"), "my-hub");
    assert_string_equal(jwt_get_header(j, "kid"), "tool-2026");
    assert_int_equal(jwt_get_grant_int(j, "exp") - jwt_get_grant_int(j, "iat"), 300);
    assert_null(jwt_get_grant(j, "tenant_id"));
    jwt_free(j);
    free(tok);
    /* no audience or no subject: no token */
    assert_int_not_equal(tool_token_mint(k, "", "u", "t", 1000, &tok, err, sizeof err), 0);
    assert_null(tok);
    assert_int_not_equal(tool_token_mint(k, "a", NULL, "t", 1000, &tok, err, sizeof err), 0);
    assert_null(tok);
    tool_token_key_free(k);
}

static void test_not_verifiable_with_another_key(void **state)
{
    (void)state;
    struct tool_token_key *k = load(NULL, NULL, 60);
    char *tok = NULL, err[256] = "";
    assert_int_equal(tool_token_mint(k, "a", "u", "t", (long)time(NULL), &tok, err, sizeof err), 0);
    EVP_PKEY *other = EVP_RSA_gen(2048);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, other);
    char *d = NULL;
    long n = BIO_get_mem_data(b, &d);
    jwt_t *j = NULL;
    assert_int_not_equal(jwt_decode(&j, tok, (const unsigned char *)d, (int)n), 0);
    jwt_free(j);
    BIO_free(b);
    EVP_PKEY_free(other);
    free(tok);
    tool_token_key_free(k);
}

static void test_audience_rules(void **state)
{
    (void)state;
    char *a = NULL;
    /* configured wins, verbatim */
    assert_int_equal(tool_token_audience("urn:erp", "http://127.0.0.1:8080/api/x", &a), 0);
    assert_string_equal(a, "urn:erp");
    free(a);
    /* else the origin: scheme://host[:port], lower case, no path/query/userinfo */
    assert_int_equal(tool_token_audience(NULL, "http://127.0.0.1:18090/api/debt/1?x=y", &a), 0);
    assert_string_equal(a, "http://127.0.0.1:18090");
    free(a);
    assert_int_equal(tool_token_audience("", "HTTPS://ERP.Example.COM/a", &a), 0);
    assert_string_equal(a, "https://erp.example.com");
    free(a);
    assert_int_equal(tool_token_audience(NULL, "https://erp.example.com:443/a", &a), 0);
    assert_string_equal(a, "https://erp.example.com");
    free(a);
    assert_int_equal(tool_token_audience(NULL, "http://erp.example.com:80/a", &a), 0);
    assert_string_equal(a, "http://erp.example.com");
    free(a);
    assert_int_equal(tool_token_audience(NULL, "https://u:p@erp.example.com:8443/a", &a), 0);
    assert_string_equal(a, "https://erp.example.com:8443");
    free(a);
    assert_int_equal(tool_token_audience(NULL, "http://[::1]:9000/", &a), 0);
    assert_string_equal(a, "http://[::1]:9000");
    free(a);
    assert_int_not_equal(tool_token_audience(NULL, "not a url", &a), 0);
    assert_null(a);
    assert_int_not_equal(tool_token_audience(NULL, NULL, &a), 0);
}

static void test_load_refusals(void **state)
{
    (void)state;
    struct tool_token_key *k = NULL;
    char err[256] = "", path[320];
    /* unreadable */
    snprintf(path, sizeof path, "%s/missing.pem", g_dir);
    assert_int_equal(tool_token_key_load(&k, path, NULL, NULL, 60, err, sizeof err), -ENOENT);
    assert_null(k);
    /* not RSA (RS256 needs RSA) */
    assert_int_equal(tool_token_key_load(&k, g_ec, NULL, NULL, 60, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "not an RSA key"));
    assert_null(k);
    /* too short */
    assert_int_equal(tool_token_key_load(&k, g_small, NULL, NULL, 60, err, sizeof err), -EINVAL);
    assert_null(k);
    /* a public key, or garbage, is no private key */
    snprintf(path, sizeof path, "%s/pub.pem", g_dir);
    FILE *f = fopen(path, "w");
    fputs(g_pub_pem, f);
    fclose(f);
    assert_int_equal(tool_token_key_load(&k, path, NULL, NULL, 60, err, sizeof err), -EINVAL);
    assert_null(k);
    unlink(path);
    /* lifetime bounds */
    assert_int_equal(tool_token_key_load(&k, g_priv, NULL, NULL, 4, err, sizeof err), -EINVAL);
    assert_int_equal(tool_token_key_load(&k, g_priv, NULL, NULL, 3601, err, sizeof err), -EINVAL);
    assert_null(k);
    tool_token_key_free(NULL);
}

static void test_key_is_a_log_secret(void **state)
{
    (void)state;
    struct tool_token_key *k = load(NULL, NULL, 60);
    FILE *f = fopen(g_priv, "r");
    char pem[8192];
    size_t n = fread(pem, 1, sizeof pem - 1, f);
    fclose(f);
    pem[n] = 0;
    char line[9000];
    snprintf(line, sizeof line, "key: %s end", pem);
    log_redact(line, sizeof line);
    assert_null(strstr(line, "PRIVATE KEY"));
    assert_string_equal(line, "key: *** end");
    /* and a minted token is JWT-shaped: masked in any log line */
    char *tok = NULL, err[256];
    assert_int_equal(tool_token_mint(k, "a", "u", "t", 1, &tok, err, sizeof err), 0);
    snprintf(line, sizeof line, "auth %s", tok);
    log_redact(line, sizeof line);
    assert_null(strstr(line, tok));
    free(tok);
    tool_token_key_free(k);
}

static void test_public_pem(void **state)
{
    (void)state;
    struct tool_token_key *k = load(NULL, NULL, 60);
    char *pub = NULL, err[256];
    assert_int_equal(tool_token_key_public_pem(k, &pub, err, sizeof err), 0);
    assert_string_equal(pub, g_pub_pem);
    assert_null(strstr(pub, "PRIVATE"));
    free(pub);
    tool_token_key_free(k);
}

/* What an inject_jwt tool sends, as the tool_call event reports it. */
static void test_auth_kind(void **state)
{
    (void)state;
    struct tool_token_key *k = load(NULL, NULL, 60);
    json_object *cfg = json_tokener_parse("{\"endpoint\":\"http://127.0.0.1:1/x\","
                                          "\"inject_jwt\":true}");
    json_object *cfg_noinj = json_tokener_parse("{\"endpoint\":\"http://127.0.0.1:1/x\"}");
    struct tool_def t = {.name = "t", .base_type = "HTTP_GET", .config = cfg};
    struct tool_def plain = {.name = "p", .base_type = "HTTP_GET", .config = cfg_noinj};
    struct tool_def rag = {.name = "r", .base_type = "RAG", .config = cfg};
    /* a user token (aud "hub"): header {"alg":"none"}, payload {"aud":"hub"} */
    const char *ujwt = "eyJhbGciOiJub25lIn0.eyJhdWQiOiJodWIifQ.x";
    struct tool_ctx ctx = {.tenant_id = "demo", .user_id = "u", .user_jwt = ujwt, .tool_key = k};
    assert_string_equal(tool_auth_kind(&ctx, &t), "tool_token");
    assert_string_equal(tool_auth_kind(&ctx, &plain), "none");
    assert_string_equal(tool_auth_kind(&ctx, &rag), "none");
    ctx.user_id = NULL; /* no subject: nothing minted */
    assert_string_equal(tool_auth_kind(&ctx, &t), "none");
    ctx.user_id = "u";
    ctx.tool_key = NULL; /* no key: the user's token only for its own audience */
    assert_string_equal(tool_auth_kind(&ctx, &t), "none");
    json_object_object_add(cfg, "jwt_audience", json_object_new_string("other"));
    assert_string_equal(tool_auth_kind(&ctx, &t), "none");
    json_object_object_add(cfg, "jwt_audience", json_object_new_string("hub"));
    assert_string_equal(tool_auth_kind(&ctx, &t), "user_token");
    ctx.tool_key = k; /* with a key, never the user's token, even for its audience */
    assert_string_equal(tool_auth_kind(&ctx, &t), "tool_token");
    json_object_put(cfg);
    json_object_put(cfg_noinj);
    tool_token_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mint_claims),
        cmocka_unit_test(test_issuer_kid_ttl),
        cmocka_unit_test(test_not_verifiable_with_another_key),
        cmocka_unit_test(test_audience_rules),
        cmocka_unit_test(test_load_refusals),
        cmocka_unit_test(test_key_is_a_log_secret),
        cmocka_unit_test(test_public_pem),
        cmocka_unit_test(test_auth_kind),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
