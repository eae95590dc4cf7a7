/* Integration test: llm_config_load against PostgreSQL (the migrations' tenant_llm_configs +
 * llm_models) and Redis (agenthub:{tenant}:llm, encrypted key only, TTL 3600).
 * Needs DATABASE_URL and REDIS_URL (tests/run.sh's stack). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fernet.h"
#include "llm.h"
#include "log.h"
#include "migrate.h"
#include "pgpool.h"
#include "tests/support/pgexec.h"
#include "rcache.h"

static struct pgpool *g_db;
static struct rcache *g_r;
static char g_key[FERNET_KEY_B64_LEN];
static char g_tenant[64];
static char g_model_id[64], g_fb_id[64];

static int exec(const char *sql, int n, const char *const *params, char *out, size_t cap)
{
    return pgexec_first(g_db, sql, n, params, out, cap);
}

static int setup(void **state)
{
    log_init("test_llm_config", LOG_ERROR);
    const char *db = getenv("DATABASE_URL"), *redis = getenv("REDIS_URL");
    char err[256];
    if (!db || !redis)
        return -1;
    if (migrate_run(db, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "migrate: %s\n", err);
        return -1;
    }
    if (pgpool_open(&g_db, db, 2, err, sizeof(err)) || rcache_open(&g_r, redis, err, sizeof(err)))
        return -1;
    fernet_keygen(g_key);
    snprintf(g_tenant, sizeof(g_tenant), "llmcfg-%d", (int)getpid());
    const char *t[] = {g_tenant};
    if (exec("INSERT INTO tenants (tenant_id, name) VALUES ($1, 'LLM config test')", 1, t, NULL, 0))
        return -1;
    char name[64], fb[64];
    snprintf(name, sizeof(name), "gpt-test-%d", (int)getpid());
    snprintf(fb, sizeof(fb), "gpt-fallback-%d", (int)getpid());
    const char *m[] = {name};
    const char *f[] = {fb};
    if (exec("INSERT INTO llm_models (provider, model_name, base_url, max_output_tokens) VALUES "
             "('openai', $1, 'http://127.0.0.1:9/v1', 2048) RETURNING model_id",
             1, m, g_model_id, sizeof(g_model_id)) ||
        exec("INSERT INTO llm_models (provider, model_name) VALUES ('openai', $1) "
             "RETURNING model_id",
             1, f, g_fb_id, sizeof(g_fb_id)))
        return -1;
    char *tok = NULL;
    fernet_encrypt(g_key, "sk-plain-secret-42", strlen("sk-plain-secret-42"), &tok);
    const char *c[] = {g_tenant, g_model_id, tok, g_fb_id};
    int rc = exec("INSERT INTO tenant_llm_configs (tenant_id, model_id, encrypted_api_key, "
                  "rate_limit_rpm, fallback_model_id, temperature, embedding_provider, "
                  "embedding_model) VALUES ($1, $2, $3, 90, $4, 0.3, 'openai', "
                  "'text-embedding-3-small')",
                  4, c, NULL, 0);
    free(tok);
    return rc;
}

static int teardown(void **state)
{
    const char *t[] = {g_tenant};
    exec("DELETE FROM tenants WHERE tenant_id = $1", 1, t, NULL, 0);
    const char *m[] = {g_model_id, g_fb_id};
    exec("DELETE FROM llm_models WHERE model_id IN ($1::uuid, $2::uuid)", 2, m, NULL, 0);
    llm_config_invalidate(g_r, g_tenant);
    pgpool_close(g_db);
    rcache_close(g_r);
    return 0;
}

static void test_load_and_cache(void **state)
{
    struct llm_config cfg;
    struct llm_error e;
    llm_config_invalidate(g_r, g_tenant);
    assert_int_equal(llm_config_load(g_db, g_r, g_key, g_tenant, &cfg, &e), 0);
    assert_int_equal(cfg.provider, LLM_PROVIDER_OPENAI);
    assert_string_equal(cfg.tenant_id, g_tenant);
    assert_non_null(strstr(cfg.model, "gpt-test-"));
    assert_non_null(strstr(cfg.fallback_model, "gpt-fallback-"));
    assert_string_equal(cfg.base_url, "http://127.0.0.1:9/v1");
    assert_string_equal(cfg.api_key, "sk-plain-secret-42");
    assert_int_equal(cfg.rate_limit_rpm, 90);
    assert_int_equal(cfg.max_tokens, 2048);
    assert_true(cfg.temperature > 0.29 && cfg.temperature < 0.31);
    assert_string_equal(cfg.embedding_provider_model, "openai:text-embedding-3-small");
    llm_config_cleanup(&cfg);

    /* Cached: encrypted key only, TTL one hour. */
    char key[128];
    snprintf(key, sizeof(key), "agenthub:%s:llm", g_tenant);
    char *val = NULL;
    size_t len = 0;
    assert_int_equal(rcache_get(g_r, key, &val, &len), RC_OK);
    assert_null(strstr(val, "sk-plain-secret-42"));
    assert_non_null(strstr(val, "gAAAAA"));
    free(val);
    redisReply *rep = NULL;
    assert_int_equal(rcache_command(g_r, &rep, "TTL %s", key), RC_OK);
    assert_true(rep->integer > 3500 && rep->integer <= 3600);
    freeReplyObject(rep);

    /* Served from the cache: a database change is not seen until invalidated. */
    const char *t[] = {g_tenant};
    assert_int_equal(exec("UPDATE tenant_llm_configs SET rate_limit_rpm = 7 WHERE tenant_id = $1",
                          1, t, NULL, 0),
                     0);
    assert_int_equal(llm_config_load(g_db, g_r, g_key, g_tenant, &cfg, &e), 0);
    assert_int_equal(cfg.rate_limit_rpm, 90);
    llm_config_cleanup(&cfg);
    assert_int_equal(llm_config_invalidate(g_r, g_tenant), RC_OK);
    assert_int_equal(llm_config_load(g_db, g_r, g_key, g_tenant, &cfg, &e), 0);
    assert_int_equal(cfg.rate_limit_rpm, 7);
    llm_config_cleanup(&cfg);

    /* No Redis at all: straight from the database. */
    assert_int_equal(llm_config_load(g_db, NULL, g_key, g_tenant, &cfg, &e), 0);
    assert_string_equal(cfg.api_key, "sk-plain-secret-42");
    llm_config_cleanup(&cfg);
}

static void test_errors(void **state)
{
    struct llm_config cfg;
    struct llm_error e;
    char other[FERNET_KEY_B64_LEN];
    fernet_keygen(other);
    assert_int_equal(llm_config_load(g_db, g_r, other, g_tenant, &cfg, &e), LLM_ERR_CONFIG);
    assert_non_null(strstr(e.message, g_tenant));
    assert_null(strstr(e.message, other));
    assert_null(cfg.api_key);
    assert_int_equal(llm_config_load(g_db, g_r, g_key, "no-such-tenant-xyz", &cfg, &e),
                     LLM_ERR_CONFIG);
    assert_non_null(strstr(e.message, "no-such-tenant-xyz"));
    /* An inactive config is no config. */
    const char *t[] = {g_tenant};
    exec("UPDATE tenant_llm_configs SET is_active = FALSE WHERE tenant_id = $1", 1, t, NULL, 0);
    llm_config_invalidate(g_r, g_tenant);
    assert_int_equal(llm_config_load(g_db, g_r, g_key, g_tenant, &cfg, &e), LLM_ERR_CONFIG);
    exec("UPDATE tenant_llm_configs SET is_active = TRUE WHERE tenant_id = $1", 1, t, NULL, 0);
}

/* issue 17: a stored key is used only at the endpoint it was given for. */
static void test_key_binding(void **state)
{
    char o[400];
    assert_int_equal(llm_endpoint_origin("openai", NULL, o, sizeof(o)), 0);
    assert_string_equal(o, "openai https://api.openai.com:443");
    assert_int_equal(
        llm_endpoint_origin("openai-compatible", "HTTP://User@Host.EXAMPLE:8080/v1", o, sizeof(o)),
        0);
    assert_string_equal(o, "openai_compatible http://host.example:8080");
    assert_int_equal(llm_endpoint_origin("anthropic", "https://[::1]/x", o, sizeof(o)), 0);
    assert_string_equal(o, "anthropic https://[::1]:443");
    assert_int_equal(llm_endpoint_origin("nope", "https://a", o, sizeof(o)), -1);
    assert_int_equal(llm_endpoint_origin("openai", "no-scheme", o, sizeof(o)), -1);
    assert_true(llm_endpoint_same("openai|", "openai", "https://api.openai.com/v1/"));
    assert_true(llm_endpoint_same("openai|https://api.openai.com:443/v1", "openai", NULL));
    assert_true(llm_endpoint_same("openai|http://h:1/v1", "openai", "http://H:1/other"));
    assert_false(llm_endpoint_same("openai|http://h:1/v1", "openai", "http://h:2/v1"));
    assert_false(llm_endpoint_same("openai|http://h:1/v1", "openai_compatible", "http://h:1/v1"));
    assert_false(llm_endpoint_same("openai|http://h/v1", "openai", "https://h/v1"));
    assert_false(llm_endpoint_same(NULL, "openai", NULL));
    assert_false(llm_endpoint_same("garbage", "openai", NULL));

    struct llm_config cfg;
    struct llm_error e;
    const char *pm[] = {g_model_id};
    const char *pt[] = {g_tenant};
    /* the operator moves the model to another host: the key is refused, never decrypted */
    assert_int_equal(exec("UPDATE llm_models SET base_url = 'http://127.0.0.2:9/v1' WHERE "
                          "model_id = $1",
                          1, pm, NULL, 0),
                     0);
    llm_config_invalidate(g_r, g_tenant);
    assert_int_equal(llm_config_load(g_db, g_r, g_key, g_tenant, &cfg, &e), LLM_ERR_CONFIG);
    assert_non_null(strstr(e.message, "key_endpoint_mismatch"));
    assert_null(strstr(e.message, "sk-plain"));
    /* from the cache too */
    assert_int_equal(llm_config_load(g_db, g_r, g_key, g_tenant, &cfg, &e), LLM_ERR_CONFIG);
    /* the key supplied again (a new ciphertext): bound to the new endpoint, usable */
    char *tok = NULL;
    fernet_encrypt(g_key, "sk-plain-secret-42", strlen("sk-plain-secret-42"), &tok);
    const char *pk[] = {g_tenant, tok};
    assert_int_equal(exec("UPDATE tenant_llm_configs SET encrypted_api_key = $2 WHERE "
                          "tenant_id = $1",
                          2, pk, NULL, 0),
                     0);
    free(tok);
    llm_config_invalidate(g_r, g_tenant);
    assert_int_equal(llm_config_load(g_db, g_r, g_key, g_tenant, &cfg, &e), 0);
    assert_int_equal(cfg.embedding_key_refused, 0);
    llm_config_cleanup(&cfg);
    /* embeddings sent elsewhere with the chat key: the embedding use is refused */
    assert_int_equal(exec("UPDATE tenant_llm_configs SET embedding_base_url = "
                          "'http://127.0.0.3:9/v1' WHERE tenant_id = $1",
                          1, pt, NULL, 0),
                     0);
    llm_config_invalidate(g_r, g_tenant);
    assert_int_equal(llm_config_load(g_db, g_r, g_key, g_tenant, &cfg, &e), 0);
    assert_int_equal(cfg.embedding_key_refused, 1);
    const char *texts[] = {"hello"};
    float *vecs = NULL;
    int dim = 0;
    assert_int_equal(llm_embed_sync(NULL, &cfg, texts, 1, &vecs, &dim, &e), LLM_ERR_CONFIG);
    assert_non_null(strstr(e.message, "key_endpoint_mismatch"));
    assert_null(vecs);
    llm_config_cleanup(&cfg);
    /* back as it was for the other tests */
    exec("UPDATE tenant_llm_configs SET embedding_base_url = NULL WHERE tenant_id = $1", 1, pt,
         NULL, 0);
    exec("UPDATE llm_models SET base_url = 'http://127.0.0.1:9/v1' WHERE model_id = $1", 1, pm,
         NULL, 0);
    fernet_encrypt(g_key, "sk-plain-secret-42", strlen("sk-plain-secret-42"), &tok);
    const char *pk2[] = {g_tenant, tok};
    exec("UPDATE tenant_llm_configs SET encrypted_api_key = $2 WHERE tenant_id = $1", 2, pk2, NULL,
         0);
    free(tok);
    llm_config_invalidate(g_r, g_tenant);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_cache),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_key_binding),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
