/* test_tool_secret.c — sealing, masking and opening tool config secrets (tools/tool_secret.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fernet.h"
#include "tool_secret.h"

#define MASTER "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="

static char key[FERNET_KEY_B64_LEN], other[FERNET_KEY_B64_LEN];
static char err[256];

static int setup(void **state)
{
    (void)state;
    char m2[FERNET_KEY_B64_LEN];
    assert_int_equal(fernet_purpose_key(MASTER, FERNET_PURPOSE_TOOL_SECRET, key), FERNET_OK);
    assert_int_equal(fernet_keygen(m2), FERNET_OK);
    assert_int_equal(fernet_purpose_key(m2, FERNET_PURPOSE_TOOL_SECRET, other), FERNET_OK);
    return 0;
}

static json_object *header(json_object *cfg, const char *name)
{
    json_object *h = NULL, *v = NULL;
    json_object_object_get_ex(cfg, "headers", &h);
    json_object_object_get_ex(h, name, &v);
    return v;
}

static char *open_text(json_object *v, const char *k)
{
    char *out = NULL;
    int clear = -1;
    if (tool_secret_open(v, k, &out, &clear) != TOOL_SECRET_OK)
        return NULL;
    return out;
}

static void test_seal_every_header_and_api_key(void **state)
{
    (void)state;
    json_object *cfg = json_tokener_parse(
        "{\"endpoint\":\"https://x/{a}\",\"headers\":{\"X-Api-Key\":\"sk-secret-123\","
        "\"Authorization\":\"Bearer abc\",\"X-Num\":7,\"X-Null\":null},\"api_key\":\"k2\"}");
    int n = 0;
    assert_int_equal(tool_secret_seal_config(cfg, NULL, key, &n, err, sizeof err), 0);
    assert_int_equal(n, 4);
    const char *text = json_object_to_json_string(cfg);
    assert_null(strstr(text, "sk-secret-123"));
    assert_null(strstr(text, "Bearer abc"));
    assert_null(strstr(text, "k2\""));
    json_object *ep = NULL; /* the rest is untouched */
    assert_true(json_object_object_get_ex(cfg, "endpoint", &ep));
    assert_string_equal(json_object_get_string(ep), "https://x/{a}");
    assert_true(tool_secret_is_sealed(header(cfg, "X-Api-Key")));
    assert_false(tool_secret_is_mask(header(cfg, "X-Api-Key")));
    assert_null(header(cfg, "X-Null"));
    assert_false(tool_secret_config_has_clear(cfg));

    char *s = open_text(header(cfg, "X-Api-Key"), key);
    assert_string_equal(s, "sk-secret-123");
    tool_secret_free_text(s);
    s = open_text(header(cfg, "X-Num"), key);
    assert_string_equal(s, "7");
    tool_secret_free_text(s);
    json_object *ak = NULL;
    json_object_object_get_ex(cfg, "api_key", &ak);
    s = open_text(ak, key);
    assert_string_equal(s, "k2");
    tool_secret_free_text(s);
    /* another deployment's (or the master) key does not open it */
    assert_null(open_text(header(cfg, "X-Api-Key"), other));
    assert_null(open_text(header(cfg, "X-Api-Key"), MASTER));
    assert_null(open_text(header(cfg, "X-Api-Key"), NULL));
    json_object_put(cfg);
}

static void test_mask_round_trip_keeps_stored_value(void **state)
{
    (void)state;
    json_object *stored = json_tokener_parse("{\"headers\":{\"X-Api-Key\":\"sk-secret-123\"}}");
    assert_int_equal(tool_secret_seal_config(stored, NULL, key, NULL, err, sizeof err), 0);
    json_object *shown = NULL;
    json_object_deep_copy(stored, &shown, NULL);
    tool_secret_mask_config(shown);
    assert_true(tool_secret_is_mask(header(shown, "X-Api-Key")));
    assert_true(tool_secret_config_has_mask(shown));
    assert_false(tool_secret_config_has_mask(stored));
    assert_null(strstr(json_object_to_json_string(shown), "gAAAAA"));
    assert_string_equal(
        json_object_to_json_string_ext(header(shown, "X-Api-Key"), JSON_C_TO_STRING_PLAIN),
        "{\"$secret\":\"********\",\"set\":true}");

    /* the masked config sent back: the stored token is kept as is */
    int n = -1;
    assert_int_equal(tool_secret_seal_config(shown, stored, key, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_string_equal(json_object_to_json_string(header(shown, "X-Api-Key")),
                        json_object_to_json_string(header(stored, "X-Api-Key")));
    char *s = open_text(header(shown, "X-Api-Key"), key);
    assert_string_equal(s, "sk-secret-123");
    tool_secret_free_text(s);

    /* a mask with nothing stored behind it is refused, naming the member, not a value */
    json_object *bad = json_tokener_parse("{\"headers\":{\"X-New\":{\"$secret\":\"********\"}}}");
    assert_int_equal(tool_secret_seal_config(bad, stored, key, NULL, err, sizeof err),
                     TOOL_SECRET_ERR_NO_CURRENT);
    assert_non_null(strstr(err, "headers.X-New"));
    json_object_put(bad);
    json_object_put(shown);
    json_object_put(stored);
}

static void test_mask_over_legacy_clear_value_seals_it(void **state)
{
    (void)state;
    json_object *stored = json_tokener_parse("{\"headers\":{\"X-Api-Key\":\"old-clear\"}}");
    assert_true(tool_secret_config_has_clear(stored));
    json_object *shown = NULL;
    json_object_deep_copy(stored, &shown, NULL);
    tool_secret_mask_config(shown);
    assert_null(strstr(json_object_to_json_string(shown), "old-clear"));
    int n = 0;
    assert_int_equal(tool_secret_seal_config(shown, stored, key, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_null(strstr(json_object_to_json_string(shown), "old-clear"));
    char *s = open_text(header(shown, "X-Api-Key"), key);
    assert_string_equal(s, "old-clear");
    tool_secret_free_text(s);
    /* the agent still opens a legacy clear value, and says so */
    char *out = NULL;
    int clear = 0;
    assert_int_equal(tool_secret_open(header(stored, "X-Api-Key"), key, &out, &clear), 0);
    assert_int_equal(clear, 1);
    assert_string_equal(out, "old-clear");
    tool_secret_free_text(out);
    json_object_put(shown);
    json_object_put(stored);
}

static void test_refusals(void **state)
{
    (void)state;
    /* no key: a clear secret is never stored */
    json_object *c = json_tokener_parse("{\"headers\":{\"X-Api-Key\":\"sk-secret-123\"}}");
    assert_int_equal(tool_secret_seal_config(c, NULL, NULL, NULL, err, sizeof err),
                     TOOL_SECRET_ERR_NO_KEY);
    assert_null(strstr(err, "sk-secret-123"));
    assert_int_equal(tool_secret_seal_config(c, NULL, "", NULL, err, sizeof err),
                     TOOL_SECRET_ERR_NO_KEY);
    json_object_put(c);

    /* a token made with another key, or junk, is not accepted as sealed */
    char *tok = NULL;
    assert_int_equal(fernet_encrypt(other, "x", 1, &tok), FERNET_OK);
    char buf[512];
    snprintf(buf, sizeof buf, "{\"headers\":{\"A\":{\"$secret\":\"%s\"}}}", tok);
    c = json_tokener_parse(buf);
    assert_int_equal(tool_secret_seal_config(c, NULL, key, NULL, err, sizeof err),
                     TOOL_SECRET_ERR_INVALID);
    json_object_put(c);
    free(tok);
    c = json_tokener_parse("{\"headers\":{\"A\":{\"$secret\":\"junk\"}}}");
    assert_int_equal(tool_secret_seal_config(c, NULL, key, NULL, err, sizeof err),
                     TOOL_SECRET_ERR_INVALID);
    json_object_put(c);
    /* a token made with this key is kept as is */
    assert_int_equal(fernet_encrypt(key, "y", 1, &tok), FERNET_OK);
    snprintf(buf, sizeof buf, "{\"headers\":{\"A\":{\"$secret\":\"%s\"}}}", tok);
    c = json_tokener_parse(buf);
    int n = -1;
    assert_int_equal(tool_secret_seal_config(c, NULL, key, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    json_object *v = NULL;
    json_object_object_get_ex(header(c, "A"), TOOL_SECRET_MEMBER, &v);
    assert_string_equal(json_object_get_string(v), tok);
    json_object_put(c);
    free(tok);
    /* objects and arrays are not header values */
    c = json_tokener_parse("{\"headers\":{\"A\":{\"x\":1}}}");
    assert_int_equal(tool_secret_seal_config(c, NULL, key, NULL, err, sizeof err),
                     TOOL_SECRET_ERR_INVALID);
    json_object_put(c);
    c = json_tokener_parse("{\"api_key\":[\"x\"]}");
    assert_int_equal(tool_secret_seal_config(c, NULL, key, NULL, err, sizeof err),
                     TOOL_SECRET_ERR_INVALID);
    json_object_put(c);
    /* the mask never opens (the agent must never send it) */
    c = json_tokener_parse("{\"$secret\":\"********\",\"set\":true}");
    char *out = NULL;
    assert_int_equal(tool_secret_open(c, key, &out, NULL), TOOL_SECRET_ERR_UNREADABLE);
    assert_null(out);
    json_object_put(c);
    /* NULL-safe */
    tool_secret_mask_config(NULL);
    tool_secret_free_text(NULL);
    assert_false(tool_secret_config_has_clear(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_every_header_and_api_key),
        cmocka_unit_test(test_mask_round_trip_keeps_stored_value),
        cmocka_unit_test(test_mask_over_legacy_clear_value_seals_it),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
