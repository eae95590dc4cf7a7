/* Unit tests for common/apikey (the tenant API key format) and the log's masking of keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "apikey.h"
#include "log.h"

static void test_generate_parses_back(void **state)
{
    char key[APIKEY_LEN + 1], id[APIKEY_ID_LEN + 1], id2[APIKEY_ID_LEN + 1];
    assert_int_equal(apikey_generate(key, id), 0);
    assert_int_equal(strlen(key), APIKEY_LEN);
    assert_int_equal(strncmp(key, "ahk_", 4), 0);
    assert_int_equal(apikey_parse(key, id2), 1);
    assert_string_equal(id, id2);
    assert_int_equal(strncmp(key + 4, id, APIKEY_ID_LEN), 0);
}

static void test_keys_differ(void **state)
{
    char a[APIKEY_LEN + 1], b[APIKEY_LEN + 1], ia[APIKEY_ID_LEN + 1], ib[APIKEY_ID_LEN + 1];
    assert_int_equal(apikey_generate(a, ia), 0);
    assert_int_equal(apikey_generate(b, ib), 0);
    assert_string_not_equal(a, b);
    assert_string_not_equal(ia, ib);
    /* the secrets differ too, not just the ids */
    assert_string_not_equal(a + 4 + APIKEY_ID_LEN, b + 4 + APIKEY_ID_LEN);
}

static void test_parse_refuses_malformed(void **state)
{
    char id[APIKEY_ID_LEN + 1];
    char good[APIKEY_LEN + 1];
    snprintf(good, sizeof good, "ahk_0123456789abcdef_%s",
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-");
    assert_int_equal(apikey_parse(good, id), 1);
    assert_string_equal(id, "0123456789abcdef");
    const char *bad[] = {
        "",
        "ahk_",
        "ahk_0123456789abcdef_short",
        "ahk_0123456789ABCDEF_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  /* upper-case id */
        "ahx_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  /* prefix */
        "ahk_0123456789abcdef-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  /* separator */
        "ahk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  /* alphabet */
        "ahk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* too long */
        "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(apikey_parse(bad[i], id), 0);
    assert_int_equal(apikey_parse(NULL, id), 0);
}

static void test_hash(void **state)
{
    char h[APIKEY_HASH_HEX], h2[APIKEY_HASH_HEX];
    apikey_hash("abc", h);
    /* SHA-256("abc") */
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    apikey_hash("abd", h2);
    assert_int_equal(apikey_hash_equal(h, h), 1);
    assert_int_equal(apikey_hash_equal(h, h2), 0);
    assert_int_equal(apikey_hash_equal(h, "ba78"), 0);
}

static void test_log_masks_keys(void **state)
{
    char key[APIKEY_LEN + 1], id[APIKEY_ID_LEN + 1], line[256];
    assert_int_equal(apikey_generate(key, id), 0);
    snprintf(line, sizeof line, "refused Bearer-less key %s here", key);
    log_redact(line, sizeof line);
    assert_null(strstr(line, key));
    assert_null(strstr(line, key + 4 + APIKEY_ID_LEN + 1)); /* not even the secret part */
    assert_non_null(strstr(line, "here"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_parses_back),    cmocka_unit_test(test_keys_differ),
        cmocka_unit_test(test_parse_refuses_malformed), cmocka_unit_test(test_hash),
        cmocka_unit_test(test_log_masks_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
