/* Unit tests for common/fernet: the Fernet spec's test vectors (generate.json, verify.json,
 * invalid.json of the fernet/spec repository), vectors produced by Python's
 * cryptography.fernet 38 (embedded), round trips, TTL and clock-skew rules, bad keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "fernet.h"

#define SECRET "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
#define T0 499162800ULL /* 1985-10-26T01:20:00-07:00 */
#define SPEC_TOKEN                                                                                 \
    "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_"                                    \
    "5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4"                                                         \
    "IwqDA=="

static const unsigned char iv0[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void test_spec_generate(void **state)
{
    char *tok = NULL;
    assert_int_equal(fernet_encrypt_at(SECRET, "hello", 5, T0, iv0, &tok), FERNET_OK);
    assert_string_equal(tok, SPEC_TOKEN);
    free(tok);
}

static void test_python_vectors(void **state)
{
    /* Fernet(SECRET)._encrypt_from_parts(msg, 499162800, bytes(range(16))) in Python. */
    char *tok = NULL;
    assert_int_equal(fernet_encrypt_at(SECRET, "", 0, T0, iv0, &tok), FERNET_OK);
    assert_string_equal(tok,
                        "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAkyKTyMbYmiNsw2aOq7"
                        "18ErZlYQbIORRvp9giNbObzxmg==");
    free(tok);
    assert_int_equal(fernet_encrypt_at(SECRET, "0123456789abcdef", 16, T0, iv0, &tok), FERNET_OK);
    assert_string_equal(tok,
                        "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0OD1xYxWk-FnTVkOLqDQyotg1f_5l_C34LZuLmvvtM"
                        "aTZB3CDmVlr7MWdCvETl7qadRnd3qN_Y9sP0W4vztgNggwo=");
    free(tok);
}

static void test_spec_verify(void **state)
{
    unsigned char *pt = NULL;
    size_t len = 0;
    assert_int_equal(fernet_decrypt_at(SECRET, SPEC_TOKEN, 60, T0 + 1, &pt, &len), FERNET_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(pt, "hello", 5);
    assert_int_equal(pt[5], '\0');
    free(pt);
    /* No ttl: no time check at all, as in Python's decrypt(token) without ttl. */
    assert_int_equal(fernet_decrypt_at(SECRET, SPEC_TOKEN, 0, 4000000000ULL, &pt, &len), FERNET_OK);
    free(pt);
    assert_int_equal(fernet_decrypt_at(SECRET, SPEC_TOKEN, 0, 1, &pt, &len), FERNET_OK);
    free(pt);
}

struct invalid_vec {
    const char *desc, *token;
    uint64_t now;
};

/* invalid.json: every entry uses SECRET and ttl_sec 60. */
static const struct invalid_vec invalid[] = {
    {"incorrect mac",
     "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-"
     "szkFVzXTuGb4hR8AKtwcaX1YdykQUFBQUFBQUF"
     "BQQ==",
     T0 + 1},
    {"too short", "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPA==", T0 + 1},
    {"invalid base64",
     "%%%%%%%%%%%%%AECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykRtfsH-p1"
     "YsUD2Q==",
     T0 + 1},
    {"payload size not multiple of block size",
     "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPOm73QeoCk9uGib28Xe5vz6oxq5nmxbx_"
     "v7mrfyudzU"
     "m",
     T0 + 1},
    {"payload padding error",
     "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0ODz4LEpdELGQAad7aNEHbf-"
     "JkLPIpuiYRLQ3RtXatOYREu2FWke6CnJNYIbkuKNq"
     "Ohw==",
     T0 + 1},
    {"far-future TS (unacceptable clock skew)",
     "gAAAAAAdwStRAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAnja1xKYyhd-Y6mSkTOyTGJmw2Xc2a6kBd-iX9b_"
     "qX"
     "Qcw==",
     T0 + 1},
    {"expired TTL",
     "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykRtfsH-"
     "p1YsU"
     "D2Q==",
     T0 + 91},
    {"incorrect IV (causes padding error)",
     "gAAAAAAdwJ6xBQECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-"
     "fWPAkLhFLHpGtDBRLRTZeUfWgHSv49TF2AUEZ1TIvcZjK"
     "1zQ==",
     T0 + 1},
    {"trailing characters after b64 padding", SPEC_TOKEN "trailingdata", T0 + 1},
    {"invalid characters in b64",
     "*gAAAAAAdwJ6wAAECAwQFBgcI!CQoLDA0ODy021?cpGVWKZ_eEwC@GM4BLLF_"
     "5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVm"
     "pU4IwqDA==",
     T0 + 1},
    {"invalid non-urlsafe characters in b64",
     "gAAAAAAdwJ6wAAEC/"
     "AwQFBgcICQoLDA0ODy+021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4"
     "IwqDA==",
     T0 + 1},
};

static void test_spec_invalid(void **state)
{
    size_t i;
    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        unsigned char *pt = (unsigned char *)"sentinel";
        size_t len = 99;
        int rc = fernet_decrypt_at(SECRET, invalid[i].token, 60, invalid[i].now, &pt, &len);
        if (rc == FERNET_OK)
            fail_msg("invalid vector accepted: %s", invalid[i].desc);
        assert_null(pt);
        assert_int_equal(len, 0);
    }
    /* The specific reasons where they are unambiguous. */
    unsigned char *pt = NULL;
    size_t len = 0;
    assert_int_equal(fernet_decrypt_at(SECRET, invalid[0].token, 60, T0 + 1, &pt, &len),
                     FERNET_ERR_SIGNATURE);
    assert_int_equal(fernet_decrypt_at(SECRET, invalid[1].token, 60, T0 + 1, &pt, &len),
                     FERNET_ERR_FORMAT);
    assert_int_equal(fernet_decrypt_at(SECRET, invalid[2].token, 60, T0 + 1, &pt, &len),
                     FERNET_ERR_FORMAT);
    assert_int_equal(fernet_decrypt_at(SECRET, invalid[5].token, 60, T0 + 1, &pt, &len),
                     FERNET_ERR_EXPIRED);
    assert_int_equal(fernet_decrypt_at(SECRET, invalid[6].token, 60, T0 + 91, &pt, &len),
                     FERNET_ERR_EXPIRED);
    assert_int_equal(fernet_decrypt_at(SECRET, invalid[8].token, 60, T0 + 1, &pt, &len),
                     FERNET_ERR_FORMAT);
}

static void test_ttl_boundaries(void **state)
{
    /* Python: invalid when timestamp + ttl < now, or now + 60 < timestamp. */
    unsigned char *pt = NULL;
    size_t len;
    assert_int_equal(fernet_decrypt_at(SECRET, SPEC_TOKEN, 60, T0 + 60, &pt, &len), FERNET_OK);
    free(pt);
    assert_int_equal(fernet_decrypt_at(SECRET, SPEC_TOKEN, 60, T0 + 61, &pt, &len),
                     FERNET_ERR_EXPIRED);
    assert_int_equal(fernet_decrypt_at(SECRET, SPEC_TOKEN, 60, T0 - 60, &pt, &len), FERNET_OK);
    free(pt);
    assert_int_equal(fernet_decrypt_at(SECRET, SPEC_TOKEN, 60, T0 - 61, &pt, &len),
                     FERNET_ERR_EXPIRED);
    assert_int_equal(fernet_decrypt_at(SECRET, SPEC_TOKEN, 1000, T0 - 61, &pt, &len),
                     FERNET_ERR_EXPIRED);
}

static void test_roundtrip_binary(void **state)
{
    char key[FERNET_KEY_B64_LEN], key2[FERNET_KEY_B64_LEN];
    unsigned char msg[1000], *pt = NULL;
    char *tok = NULL, *tok2 = NULL;
    size_t i, len = 0;

    for (i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)(i * 7);
    assert_int_equal(fernet_keygen(key), FERNET_OK);
    assert_int_equal(strlen(key), 44);
    assert_int_equal(key[43], '=');
    assert_int_equal(fernet_keygen(key2), FERNET_OK);
    assert_string_not_equal(key, key2);
    for (i = 0; i <= sizeof(msg); i += 111) {
        assert_int_equal(fernet_encrypt(key, msg, i, &tok), FERNET_OK);
        assert_int_equal(fernet_encrypt(key, msg, i, &tok2), FERNET_OK);
        assert_string_not_equal(tok, tok2); /* a fresh IV each time */
        assert_int_equal(fernet_decrypt(key, tok, 60, &pt, &len), FERNET_OK);
        assert_int_equal(len, i);
        if (i)
            assert_memory_equal(pt, msg, i);
        free(pt);
        assert_int_equal(fernet_decrypt(key2, tok, 0, &pt, &len), FERNET_ERR_SIGNATURE);
        assert_null(pt);
        free(tok);
        free(tok2);
    }
}

static void test_tamper_every_byte(void **state)
{
    char *tok = NULL;
    unsigned char raw[200], *pt = NULL;
    size_t rawlen = 0, i, len;
    char b64[300];

    assert_int_equal(fernet_encrypt_at(SECRET, "secret api key", 14, T0, iv0, &tok), FERNET_OK);
    assert_int_equal(b64_decode(tok, strlen(tok), raw, sizeof(raw), &rawlen, B64_URLSAFE), 0);
    for (i = 0; i < rawlen; i++) {
        raw[i] ^= 0x01;
        assert_int_equal(b64_encode(raw, rawlen, b64, sizeof(b64), B64_URLSAFE), 0);
        int rc = fernet_decrypt_at(SECRET, b64, 0, T0, &pt, &len);
        assert_true(rc == FERNET_ERR_SIGNATURE || (i == 0 && rc == FERNET_ERR_FORMAT));
        assert_null(pt);
        raw[i] ^= 0x01;
    }
    /* Truncations: every length short of the full token fails. */
    for (i = 0; i < strlen(tok); i++) {
        char *cut = strndup(tok, i);
        assert_int_not_equal(fernet_decrypt_at(SECRET, cut, 0, T0, &pt, &len), FERNET_OK);
        assert_null(pt);
        free(cut);
    }
    /* Python requires the '=' padding too. */
    tok[strlen(tok) - 1] = '\0';
    assert_int_equal(fernet_decrypt_at(SECRET, tok, 0, T0, &pt, &len), FERNET_ERR_FORMAT);
    free(tok);
}

static void test_bad_keys(void **state)
{
    char *tok = NULL;
    unsigned char *pt = NULL;
    size_t len;
    const char *bad[] = {"",
                         "short",
                         "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4",    /* no padding */
                         "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=x",  /* trailing */
                         "cw/0x689RpI+jtRR7oE8h/eQsKImvJapLeSbXpwF4e4=",   /* std alphabet */
                         "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4e4=", /* 33 bytes */
                         NULL};
    size_t i;
    for (i = 0; bad[i]; i++) {
        assert_int_equal(fernet_encrypt(bad[i], "x", 1, &tok), FERNET_ERR_KEY);
        assert_null(tok);
        assert_int_equal(fernet_decrypt(bad[i], SPEC_TOKEN, 0, &pt, &len), FERNET_ERR_KEY);
        assert_null(pt);
    }
    assert_int_equal(fernet_encrypt(NULL, "x", 1, &tok), FERNET_ERR_KEY);
    assert_int_equal(fernet_decrypt(SECRET, NULL, 0, &pt, &len), FERNET_ERR_FORMAT);
}

static void test_status_strings(void **state)
{
    int s;
    for (s = FERNET_ERR_NOMEM; s <= FERNET_OK; s++) {
        const char *m = fernet_status_str(s);
        assert_non_null(m);
        assert_null(strstr(m, SECRET));
        assert_true(strlen(m) > 1);
    }
    assert_non_null(strstr(fernet_status_str(FERNET_ERR_EXPIRED), "expired"));
    assert_non_null(strstr(fernet_status_str(FERNET_ERR_SIGNATURE), "signature"));
    assert_string_equal(fernet_status_str(42), "unknown fernet error");
}

/* issue 17: one key per purpose */
static void test_purpose_keys(void **state)
{
    (void)state;
    char wrap[FERNET_KEY_B64_LEN], tool[FERNET_KEY_B64_LEN], again[FERNET_KEY_B64_LEN];
    char *tok = NULL;
    unsigned char *plain = NULL;
    size_t len = 0;
    assert_int_equal(fernet_purpose_key(SECRET, FERNET_PURPOSE_USER_TOKEN, wrap), FERNET_OK);
    assert_int_equal(fernet_purpose_key(SECRET, FERNET_PURPOSE_TOOL_SECRET, tool), FERNET_OK);
    assert_int_equal(fernet_purpose_key(SECRET, FERNET_PURPOSE_USER_TOKEN, again), FERNET_OK);
    assert_string_equal(wrap, again); /* deterministic */
    assert_string_not_equal(wrap, tool);
    assert_string_not_equal(wrap, SECRET);
    assert_int_equal(strlen(wrap), 44);
    assert_int_equal(fernet_encrypt(wrap, "a.jwt.token", 11, &tok), FERNET_OK);
    assert_int_equal(fernet_decrypt(wrap, tok, 0, &plain, &len), FERNET_OK);
    assert_string_equal((char *)plain, "a.jwt.token");
    free(plain);
    plain = NULL;
    /* neither the master key nor another purpose's key opens it */
    assert_int_equal(fernet_decrypt(SECRET, tok, 0, &plain, &len), FERNET_ERR_SIGNATURE);
    assert_int_equal(fernet_decrypt(tool, tok, 0, &plain, &len), FERNET_ERR_SIGNATURE);
    free(tok);
    /* and what the master key made does not open with a purpose key */
    assert_int_equal(fernet_encrypt(SECRET, "sk-llm", 6, &tok), FERNET_OK);
    assert_int_equal(fernet_decrypt(wrap, tok, 0, &plain, &len), FERNET_ERR_SIGNATURE);
    free(tok);
    assert_int_equal(fernet_purpose_key("short", FERNET_PURPOSE_USER_TOKEN, wrap), FERNET_ERR_KEY);
    assert_int_equal(fernet_purpose_key(SECRET, "", wrap), FERNET_ERR_KEY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_purpose_keys),     cmocka_unit_test(test_spec_generate),
        cmocka_unit_test(test_python_vectors),   cmocka_unit_test(test_spec_verify),
        cmocka_unit_test(test_spec_invalid),     cmocka_unit_test(test_ttl_boundaries),
        cmocka_unit_test(test_roundtrip_binary), cmocka_unit_test(test_tamper_every_byte),
        cmocka_unit_test(test_bad_keys),         cmocka_unit_test(test_status_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
