/* test_tools_rag.c — knowledge ingestion and the RAG tool against the stack's ChromaDB
 * (CHROMA_URL) with the local embedder. Skipped when CHROMA_URL is not set.
 *
 * Loads the demo knowledge base (compose/local/demo-kb) into a collection of its own
 * (tenant "ragtest-<pid>"), removed again at the end.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "chroma.h"
#include "knowledge.h"
#include "tests/support/standin.h"
#include "tool.h"

static char g_tenant[64];
static const char *g_chroma;

static const char *const KB_FILES[] = {
    "payment-policy.md",        "chinh-sach-thanh-toan.md", "shipping-policy.md",
    "chinh-sach-van-chuyen.md", "analysis-guide.md",        "huong-dan-phan-tich.md",
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

/* compose/local/demo-kb from the repository root (the cwd under tests/run.sh), or found from
 * this binary's path (<root>/<build>/tests/integration/test_tools_rag). */
static void kb_dir(char *out, size_t cap)
{
    if (access("compose/local/demo-kb/payment-policy.md", R_OK) == 0) {
        snprintf(out, cap, "compose/local/demo-kb");
        return;
    }
    char root[PATH_MAX];
    standin_exe_up(root, sizeof root, 4);
    if (snprintf(out, cap, "%.*s/compose/local/demo-kb", (int)(cap > 32 ? cap - 32 : 0), root) < 0)
        out[0] = 0;
}

static int group_setup(void **state)
{
    (void)state;
    g_chroma = getenv("CHROMA_URL");
    if (!g_chroma || !*g_chroma)
        return 0;
    snprintf(g_tenant, sizeof g_tenant, "ragtest-%d", (int)getpid());
    struct chroma *c = NULL;
    char err[512], dir[PATH_MAX], path[PATH_MAX + 64];
    if (chroma_open(&c, g_chroma, err, sizeof err) != 0 ||
        chroma_heartbeat(c, err, sizeof err) != 0) {
        fprintf(stderr, "chroma: %s\n", err);
        chroma_close(c);
        return -1;
    }
    kb_dir(dir, sizeof dir);
    for (size_t i = 0; i < sizeof KB_FILES / sizeof KB_FILES[0]; i++) {
        size_t len = 0, n = 0;
        snprintf(path, sizeof path, "%s/%s", dir, KB_FILES[i]);
        char *text = read_file(path, &len);
        if (!text) {
            fprintf(stderr, "cannot read %s\n", path);
            chroma_close(c);
            return -1;
        }
        int rc =
            knowledge_add_document(c, g_tenant, NULL, KB_FILES[i], text, len, &n, err, sizeof err);
        free(text);
        if (rc != 0 || n == 0) {
            fprintf(stderr, "ingest %s: %s\n", KB_FILES[i], err);
            chroma_close(c);
            return -1;
        }
    }
    chroma_close(c);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (!g_chroma || !*g_chroma)
        return 0;
    struct chroma *c = NULL;
    char err[256], coll[128];
    if (chroma_open(&c, g_chroma, err, sizeof err) == 0 &&
        knowledge_collection_name(g_tenant, coll, sizeof coll) > 0)
        chroma_collection_delete(c, coll, err, sizeof err);
    chroma_close(c);
    return 0;
}

#define NEED_CHROMA()                                                                              \
    do {                                                                                           \
        if (!g_chroma || !*g_chroma)                                                               \
            skip();                                                                                \
    } while (0)

struct outcome {
    int done;
    json_object *result;
    char *error;
};

static void on_done(void *opaque, json_object *result, const char *error)
{
    struct outcome *o = opaque;
    o->done++;
    if (error)
        o->error = strdup(error);
    else
        o->result = json_object_get(result);
}

/* Runs the RAG tool; returns tool_invoke's rc. */
static int rag(const char *tenant, const char *config, const char *query, struct outcome *o,
               char *err, size_t errlen)
{
    struct tool_def t;
    memset(&t, 0, sizeof t);
    t.id = "00000000-0000-0000-0000-000000000004";
    t.name = "search_knowledge_base";
    t.description = "kb";
    t.base_type = "RAG";
    t.config = json_tokener_parse(config);
    t.input_schema = json_tokener_parse("{\"type\":\"object\",\"properties\":{\"query\":"
                                        "{\"type\":\"string\",\"minLength\":1}},"
                                        "\"required\":[\"query\"]}");
    t.output_schema = json_tokener_parse(
        "{\"type\":\"object\",\"required\":[\"results\"],\"properties\":{\"results\":{\"type\":"
        "\"array\",\"items\":{\"type\":\"object\",\"required\":[\"text\",\"source\",\"chunk\","
        "\"score\"],\"properties\":{\"score\":{\"type\":\"number\"},\"chunk\":{\"type\":"
        "\"integer\",\"minimum\":0}}}}}}");
    struct httploop *loop = NULL;
    assert_int_equal(httploop_new(&loop), 0);
    struct tool_ctx ctx = {.tenant_id = tenant, .loop = loop, .chroma_url = g_chroma};
    json_object *args = json_object_new_object();
    json_object_object_add(args, "query", json_object_new_string(query));
    memset(o, 0, sizeof *o);
    int rc = tool_invoke(&ctx, &t, args, on_done, o, err, errlen);
    if (rc == 0) {
        assert_int_equal(o->done, 0); /* never from inside tool_invoke */
        time_t until = time(NULL) + 30;
        while (!o->done && time(NULL) < until)
            httploop_run(loop, 100);
        assert_int_equal(o->done, 1);
    }
    json_object_put(args);
    httploop_free(loop);
    json_object_put(t.config);
    json_object_put(t.input_schema);
    json_object_put(t.output_schema);
    return rc;
}

static void outcome_free(struct outcome *o)
{
    json_object_put(o->result);
    free(o->error);
    memset(o, 0, sizeof *o);
}

static json_object *results(struct outcome *o)
{
    json_object *r = NULL;
    assert_null(o->error);
    assert_true(json_object_object_get_ex(o->result, "results", &r));
    return r;
}

static const char *field(json_object *hit, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(hit, k, &v) ? json_object_get_string(v) : NULL;
}

/* A hit's score, which is written with at most 4 decimals ("0.3735", not 0.37353340000000002). */
static double score(json_object *hit)
{
    json_object *v;
    assert_true(json_object_object_get_ex(hit, "score", &v));
    const char *text = json_object_to_json_string(v);
    const char *dot = strchr(text, '.');
    if (dot && strlen(dot + 1) > 4)
        fail_msg("score written as %s", text);
    return json_object_get_double(v);
}

static void expect_top(const char *query, const char *source)
{
    struct outcome o;
    char err[256];
    assert_int_equal(rag(g_tenant, "{\"top_k\":4}", query, &o, err, sizeof err), 0);
    json_object *r = results(&o);
    assert_true(json_object_array_length(r) >= 1);
    json_object *top = json_object_array_get_idx(r, 0);
    if (strcmp(field(top, "source"), source) != 0)
        fail_msg("query \"%s\": top hit %s, expected %s", query, field(top, "source"), source);
    assert_non_null(field(top, "text"));
    /* best first */
    for (size_t i = 1; i < json_object_array_length(r); i++)
        assert_true(score(json_object_array_get_idx(r, i - 1)) >=
                    score(json_object_array_get_idx(r, i)));
    outcome_free(&o);
}

static void test_top_hit_cites_source(void **state)
{
    (void)state;
    NEED_CHROMA();
    expect_top("accepted payment methods bank transfer VNPay QR corporate cards",
               "payment-policy.md");
    expect_top("Which carriers do we ship with and how do I look up a tracking number",
               "shipping-policy.md");
    expect_top("How should revenue be compared with the same period of the previous year",
               "analysis-guide.md");
}

static void test_vietnamese_query(void **state)
{
    (void)state;
    NEED_CHROMA();
    expect_top("phí vận chuyển miễn phí cho đơn hàng trên 5 triệu đồng",
               "chinh-sach-van-chuyen.md");
    expect_top("lãi chậm trả công nợ quá hạn phương thức thanh toán chuyển khoản",
               "chinh-sach-thanh-toan.md");
}

static void test_threshold_drops_results(void **state)
{
    (void)state;
    NEED_CHROMA();
    struct outcome o;
    char err[256], cfg[128];
    const char *q = "late payment interest overdue debt credit hold";
    assert_int_equal(
        rag(g_tenant, "{\"top_k\":4,\"similarity_threshold\":0}", q, &o, err, sizeof err), 0);
    json_object *r = results(&o);
    size_t n = json_object_array_length(r);
    assert_true(n >= 2);
    double s1 = score(json_object_array_get_idx(r, 0));
    double s2 = score(json_object_array_get_idx(r, 1));
    assert_true(s1 > s2);
    outcome_free(&o);

    /* a threshold between the first and second score keeps exactly the first */
    snprintf(cfg, sizeof cfg, "{\"top_k\":4,\"similarity_threshold\":%.6f}", (s1 + s2) / 2);
    assert_int_equal(rag(g_tenant, cfg, q, &o, err, sizeof err), 0);
    r = results(&o);
    assert_int_equal(json_object_array_length(r), 1);
    assert_true(score(json_object_array_get_idx(r, 0)) >= (s1 + s2) / 2);
    outcome_free(&o);

    /* nothing is that similar */
    assert_int_equal(rag(g_tenant, "{\"similarity_threshold\":0.999}", q, &o, err, sizeof err), 0);
    assert_int_equal(json_object_array_length(results(&o)), 0);
    outcome_free(&o);
}

static void test_top_k(void **state)
{
    (void)state;
    NEED_CHROMA();
    struct outcome o;
    char err[256];
    assert_int_equal(rag(g_tenant, "{\"top_k\":2}", "shipping", &o, err, sizeof err), 0);
    assert_int_equal(json_object_array_length(results(&o)), 2);
    outcome_free(&o);
    /* the default is 4 */
    assert_int_equal(rag(g_tenant, "{}", "shipping", &o, err, sizeof err), 0);
    assert_int_equal(json_object_array_length(results(&o)), 4);
    outcome_free(&o);
}

static void test_tenant_without_kb(void **state)
{
    (void)state;
    NEED_CHROMA();
    struct outcome o;
    char err[256], other[80];
    snprintf(other, sizeof other, "%s-empty", g_tenant);
    assert_int_equal(rag(other, "{}", "payment terms", &o, err, sizeof err), 0);
    assert_int_equal(json_object_array_length(results(&o)), 0);
    outcome_free(&o);
}

static void test_foreign_collection_refused(void **state)
{
    (void)state;
    NEED_CHROMA();
    struct outcome o;
    char err[256], cfg[160];
    /* tenant "other" may not name this tenant's collection */
    snprintf(cfg, sizeof cfg, "{\"collection_name\":\"agenthub_%s\"}", g_tenant);
    assert_int_equal(rag("other", cfg, "payment terms", &o, err, sizeof err), 0);
    assert_non_null(o.error);
    assert_non_null(strstr(o.error, "not this tenant's"));
    outcome_free(&o);
    /* its own name is fine */
    assert_int_equal(rag(g_tenant, cfg, "payment terms", &o, err, sizeof err), 0);
    assert_true(json_object_array_length(results(&o)) > 0);
    outcome_free(&o);
}

/* issue 17: tenant ids that are prefixes of one another, with separators. g_tenant is
 * "ragtest-<pid>" and has documents; tenant "ragtest" must reach none of them, whatever its
 * tool config names. */
static void test_prefix_tenant_cannot_reach(void **state)
{
    (void)state;
    NEED_CHROMA();
    struct outcome o;
    char err[256], cfg[200], prefix[64];
    const char *dash = strrchr(g_tenant, '-');
    snprintf(prefix, sizeof prefix, "%.*s", (int)(dash - g_tenant), g_tenant);
    /* the full name of the other tenant's collection: refused */
    snprintf(cfg, sizeof cfg, "{\"collection\":\"agenthub_%s\"}", g_tenant);
    assert_int_equal(rag(prefix, cfg, "payment terms", &o, err, sizeof err), 0);
    assert_non_null(o.error);
    assert_non_null(strstr(o.error, "not this tenant's"));
    outcome_free(&o);
    /* the old "<own>_suffix" form (how "a" reached "a_b"): refused */
    snprintf(cfg, sizeof cfg, "{\"collection_name\":\"agenthub_%s_%s\"}", prefix, dash + 1);
    assert_int_equal(rag(prefix, cfg, "payment terms", &o, err, sizeof err), 0);
    assert_non_null(o.error);
    outcome_free(&o);
    /* "-<pid>" and "<pid>" as suffixes land in the prefix tenant's own namespace
     * (agenthub_ragtest.<pid>) or are refused, never in agenthub_ragtest-<pid> */
    const char *sfx[] = {dash, dash + 1};
    for (size_t k = 0; k < 2; k++) {
        snprintf(cfg, sizeof cfg, "{\"collection\":\"%s\"}", sfx[k]);
        assert_int_equal(rag(prefix, cfg, "payment terms", &o, err, sizeof err), 0);
        if (!o.error)
            assert_int_equal(json_object_array_length(results(&o)), 0);
        outcome_free(&o);
    }
    /* and the owner still reads its default collection */
    assert_int_equal(rag(g_tenant, "{}", "payment terms", &o, err, sizeof err), 0);
    assert_true(json_object_array_length(results(&o)) > 0);
    outcome_free(&o);
}

static void test_reingest_replaces_chunks(void **state)
{
    (void)state;
    NEED_CHROMA();
    struct chroma *c = NULL;
    char err[512], coll[128], id[CHROMA_ID_MAX];
    size_t n = 0;
    char tenant[80];
    snprintf(tenant, sizeof tenant, "%s-re", g_tenant);
    assert_int_equal(chroma_open(&c, g_chroma, err, sizeof err), 0);
    char *big = malloc(4000);
    big[0] = 0;
    for (int i = 0; i < 40; i++)
        strcat(big, "Warehouse opening hours are eight to five on working days. ");
    assert_int_equal(
        knowledge_add_document(c, tenant, NULL, "hours.md", big, strlen(big), &n, err, sizeof err),
        0);
    assert_true(n >= 3);
    assert_true(knowledge_collection_name(tenant, coll, sizeof coll) > 0);
    assert_int_equal(chroma_collection_get(c, coll, id, err, sizeof err) >= 0, 1);
    assert_int_equal(chroma_count(c, id, err, sizeof err), (long)n);
    const char *small = "Warehouse opening hours are seven to four.";
    assert_int_equal(knowledge_add_document(c, tenant, NULL, "hours.md", small, strlen(small), &n,
                                            err, sizeof err),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(chroma_count(c, id, err, sizeof err), 1);
    /* ids are <source>#<n> with {source, chunk} metadata */
    float vec[LLM_LOCAL_EMBED_DIM];
    llm_embed_local(small, vec, LLM_LOCAL_EMBED_DIM);
    struct chroma_hit *hits = NULL;
    size_t nh = 0;
    assert_int_equal(chroma_query(c, id, vec, LLM_LOCAL_EMBED_DIM, 3, &hits, &nh, err, sizeof err),
                     0);
    assert_int_equal(nh, 1);
    assert_string_equal(hits[0].id, "hours.md#0");
    assert_string_equal(hits[0].document, small);
    json_object *v;
    assert_true(json_object_object_get_ex(hits[0].metadata, "source", &v));
    assert_string_equal(json_object_get_string(v), "hours.md");
    assert_true(json_object_object_get_ex(hits[0].metadata, "chunk", &v));
    assert_int_equal(json_object_get_int(v), 0);
    assert_true(hits[0].distance < 0.01); /* the same text: cosine distance ~0 */
    chroma_hits_free(hits, nh);
    chroma_collection_delete(c, coll, err, sizeof err);
    assert_int_equal(chroma_collection_get(c, coll, id, err, sizeof err), -ENOENT);
    free(big);
    chroma_close(c);
}

static void test_concurrent_calls(void **state)
{
    (void)state;
    NEED_CHROMA();
    /* more calls than worker slots, all in flight on one loop at once */
    enum { N = 10 };
    struct outcome o[N];
    struct tool_def t;
    char err[256];
    memset(&t, 0, sizeof t);
    t.id = "00000000-0000-0000-0000-000000000004";
    t.name = "search_knowledge_base";
    t.base_type = "RAG";
    t.config = json_tokener_parse("{\"top_k\":1}");
    struct httploop *loop = NULL;
    assert_int_equal(httploop_new(&loop), 0);
    struct tool_ctx ctx = {.tenant_id = g_tenant, .loop = loop, .chroma_url = g_chroma};
    static const char *const Q[] = {"payment methods", "shipping fees", "revenue analysis",
                                    "giao hàng chậm", "công nợ quá hạn"};
    for (int i = 0; i < N; i++) {
        json_object *args = json_object_new_object();
        json_object_object_add(args, "query", json_object_new_string(Q[i % 5]));
        memset(&o[i], 0, sizeof o[i]);
        assert_int_equal(tool_invoke(&ctx, &t, args, on_done, &o[i], err, sizeof err), 0);
        json_object_put(args);
    }
    time_t until = time(NULL) + 60;
    int done = 0;
    while (done < N && time(NULL) < until) {
        httploop_run(loop, 50);
        done = 0;
        for (int i = 0; i < N; i++)
            done += o[i].done;
    }
    assert_int_equal(done, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(o[i].done, 1);
        assert_int_equal(json_object_array_length(results(&o[i])), 1);
        outcome_free(&o[i]);
    }
    httploop_free(loop);
    json_object_put(t.config);
}

static void test_chroma_down(void **state)
{
    (void)state;
    struct outcome o;
    char err[256];
    const char *saved = g_chroma;
    g_chroma = "http://127.0.0.1:9"; /* discard port: nothing listens */
    assert_int_equal(rag("tenant-a", "{}", "x", &o, err, sizeof err), 0);
    g_chroma = saved;
    assert_non_null(o.error);
    assert_string_equal(o.error, "tool search_knowledge_base: knowledge base unavailable");
    outcome_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_hit_cites_source),
        cmocka_unit_test(test_vietnamese_query),
        cmocka_unit_test(test_threshold_drops_results),
        cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_tenant_without_kb),
        cmocka_unit_test(test_foreign_collection_refused),
        cmocka_unit_test(test_prefix_tenant_cannot_reach),
        cmocka_unit_test(test_reingest_replaces_chunks),
        cmocka_unit_test(test_concurrent_calls),
        cmocka_unit_test(test_chroma_down),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
