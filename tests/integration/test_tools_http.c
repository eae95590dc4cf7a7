/* test_tools_http.c — HTTP_GET / HTTP_POST tools against the stand-in ERP.
 *
 * Starts agenthub-standin-erp ($AGENTHUB_BIN, else the bin/ folder beside this test's build
 * folder) on 127.0.0.1:(AGENTHUB_PORT_BASE + 90), runs tools on an httploop and checks what
 * the ERP received through its /_last_request hook.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/standin.h"
#include "tool.h"

static pid_t g_erp;
static int g_port;
static char g_base[64];
static char g_allow[64]; /* "127.0.0.1:<port>": allow-list entries are host:port */
/* aud "erp-backend": inject_jwt forwards a token only to a tool whose jwt_audience is its aud */
static const char *JWT =
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEiLCJhdWQiOiJlcnAtYmFja2VuZCJ9.c2lnbmF0dXJl";

/* ---- helpers ------------------------------------------------------------------------- */

struct mem {
    char *p;
    size_t n;
};

static size_t mem_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct mem *m = ud;
    size_t n = size * nmemb;
    char *p = realloc(m->p, m->n + n + 1);
    if (!p)
        return 0;
    memcpy(p + m->n, ptr, n);
    m->p = p;
    m->n += n;
    m->p[m->n] = 0;
    return n;
}

/* Blocking GET on the ERP; returns the parsed body (caller puts) or NULL. */
static json_object *erp_get(const char *path_and_query)
{
    char url[1024];
    struct mem m = {0};
    snprintf(url, sizeof url, "%s%s", g_base, path_and_query);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, mem_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 5L);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    json_object *o = rc == CURLE_OK && m.p ? json_tokener_parse(m.p) : NULL;
    free(m.p);
    return o;
}

static json_object *last_request(const char *path)
{
    char q[512];
    char *enc = curl_easy_escape(NULL, path, 0);
    snprintf(q, sizeof q, "/_last_request?path=%s", enc);
    curl_free(enc);
    return erp_get(q);
}

static void set_fail(const char *mode)
{
    char q[128];
    snprintf(q, sizeof q, "/_fail?mode=%s&ms=2000", mode);
    json_object_put(erp_get(q));
}

static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("AGENTHUB_PORT_BASE");
    g_port = (base && atoi(base) > 0 ? atoi(base) : 18100) + 90;
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", g_port);
    snprintf(g_allow, sizeof g_allow, "127.0.0.1:%d", g_port);
    char dir[PATH_MAX], bin[PATH_MAX + 32], listen[64];
    standin_bin_dir(dir, sizeof dir);
    snprintf(bin, sizeof bin, "%s/agenthub-standin-erp", dir);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", g_port);
    g_erp = standin_spawn(bin, "ERP_LISTEN", listen);
    for (int i = 0; i < 100; i++) {
        json_object *h = erp_get("/health");
        if (h) {
            json_object_put(h);
            return 0;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "stand-in ERP did not start (%s)\n", bin);
    return -1;
}

static int group_teardown(void **state)
{
    (void)state;
    standin_stop(g_erp);
    return 0;
}

static int reset(void **state)
{
    (void)state;
    set_fail("ok");
    return 0;
}

struct outcome {
    int done;
    char *result; /* JSON text */
    char *error;
};

static void on_done(void *opaque, json_object *result, const char *error)
{
    struct outcome *o = opaque;
    o->done++;
    if (error)
        o->error = strdup(error);
    else
        o->result = strdup(json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN));
}

static void outcome_free(struct outcome *o)
{
    free(o->result);
    free(o->error);
    memset(o, 0, sizeof *o);
}

/* A tool from JSON text: {"name","base_type","config","input_schema","output_schema"}. */
static struct tool_def mk_tool(const char *name, const char *base_type, const char *config_fmt,
                               const char *input_schema, const char *output_schema)
{
    struct tool_def t;
    char cfg[2048];
    memset(&t, 0, sizeof t);
    /* %1$s in config_fmt is the ERP base URL */
    snprintf(cfg, sizeof cfg, config_fmt, g_base);
    t.id = strdup("00000000-0000-0000-0000-000000000001");
    t.name = strdup(name);
    t.description = strdup("test tool");
    t.base_type = strdup(base_type);
    t.config = json_tokener_parse(cfg);
    assert_non_null(t.config);
    t.input_schema = input_schema ? json_tokener_parse(input_schema) : NULL;
    t.output_schema = output_schema ? json_tokener_parse(output_schema) : NULL;
    return t;
}

static void tool_free(struct tool_def *t)
{
    free(t->id);
    free(t->name);
    free(t->description);
    free(t->base_type);
    json_object_put(t->config);
    json_object_put(t->input_schema);
    json_object_put(t->output_schema);
}

/* Runs one tool call to completion. Returns tool_invoke's rc; err gets its error. */
static int run(struct tool_def *t, const char *args_json, const char *allowed, const char *jwt,
               struct outcome *o, char *err, size_t errlen)
{
    struct httploop *loop = NULL;
    /* allow-list entries are host:port: "127.0.0.1,localhost" here means those hosts on
     * the ERP's port */
    char al[512] = "";
    if (allowed) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", allowed);
        for (char *save = NULL, *h = strtok_r(tmp, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
            size_t cur = strlen(al);
            if (strchr(h, ':'))
                snprintf(al + cur, sizeof al - cur, "%s%s", cur ? "," : "", h);
            else
                snprintf(al + cur, sizeof al - cur, "%s%s:%d", cur ? "," : "", h, g_port);
        }
    }
    assert_int_equal(httploop_new(&loop), 0);
    struct tool_ctx ctx = {.tenant_id = "tenant-a",
                           .user_jwt = jwt,
                           .loop = loop,
                           .allowed_hosts = allowed ? al : NULL};
    json_object *args = json_tokener_parse(args_json);
    memset(o, 0, sizeof *o);
    int rc = tool_invoke(&ctx, t, args, on_done, o, err, errlen);
    if (rc == 0) {
        time_t until = time(NULL) + 20;
        while (!o->done && time(NULL) < until)
            httploop_run(loop, 100);
        assert_int_equal(o->done, 1);
    }
    json_object_put(args);
    httploop_free(loop);
    return rc;
}

static const char *DEBT_IN = "{\"type\":\"object\",\"properties\":{\"mst\":{\"type\":\"string\","
                             "\"pattern\":\"^[0-9]{10}([0-9]{3})?$\"}},\"required\":[\"mst\"]}";
static const char *DEBT_OUT = "{\"type\":\"object\",\"properties\":{\"mst\":{\"type\":\"string\"},"
                              "\"total_debt\":{\"type\":\"number\"},\"currency\":{\"const\":"
                              "\"VND\"}},\"required\":[\"mst\",\"total_debt\"]}";
static const char *DEBT_CFG =
    "{\"endpoint\":\"%s/api/debt/{mst}\",\"inject_jwt\":true,\"jwt_audience\":\"erp-backend\","
    "\"headers\":{\"X-API-Version\":\"v1\"}}";

/* ---- tests --------------------------------------------------------------------------- */

static void test_get_injects_jwt(void **state)
{
    (void)state;
    struct tool_def t = mk_tool("get_customer_debt", "HTTP_GET", DEBT_CFG, DEBT_IN, DEBT_OUT);
    struct outcome o;
    char err[256];
    assert_int_equal(run(&t, "{\"mst\":\"0123456789\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_null(o.error);
    json_object *r = json_tokener_parse(o.result), *v;
    assert_true(json_object_object_get_ex(r, "total_debt", &v));
    assert_int_equal(json_object_get_int64(v), 125000000);
    assert_true(json_object_object_get_ex(r, "currency", &v));
    assert_string_equal(json_object_get_string(v), "VND");
    json_object_put(r);

    json_object *last = last_request("/api/debt/0123456789");
    assert_true(json_object_object_get_ex(last, "authorization", &v));
    char want[256];
    snprintf(want, sizeof want, "Bearer %s", JWT);
    assert_string_equal(json_object_get_string(v), want);
    assert_true(json_object_object_get_ex(last, "x_api_version", &v));
    assert_string_equal(json_object_get_string(v), "v1");
    json_object_put(last);
    outcome_free(&o);
    tool_free(&t);
}

/* issue 17: the user's token never goes to a backend it was not issued for */
static void test_jwt_not_sent_to_other_audience(void **state)
{
    (void)state;
    struct tool_def t = mk_tool("get_customer_debt", "HTTP_GET",
                                "{\"endpoint\":\"%s/api/debt/{mst}\",\"inject_jwt\":true,"
                                "\"jwt_audience\":\"someone-else\"}",
                                DEBT_IN, NULL);
    struct outcome o;
    char err[256];
    assert_int_equal(run(&t, "{\"mst\":\"0318888888\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    /* the stand-in ERP answers 401 to a request without a token */
    if (o.error)
        assert_non_null(strstr(o.error, "HTTP 40"));
    json_object *last = last_request("/api/debt/0318888888"), *v = NULL;
    assert_false(json_object_object_get_ex(last, "authorization", &v) && v);
    json_object_put(last);
    outcome_free(&o);
    tool_free(&t);
    /* no jwt_audience at all: not sent either */
    t = mk_tool("get_customer_debt", "HTTP_GET",
                "{\"endpoint\":\"%s/api/debt/{mst}\",\"inject_jwt\":true}", DEBT_IN, NULL);
    assert_int_equal(run(&t, "{\"mst\":\"0317777777\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    last = last_request("/api/debt/0317777777");
    v = NULL;
    assert_false(json_object_object_get_ex(last, "authorization", &v) && v);
    json_object_put(last);
    outcome_free(&o);
    tool_free(&t);
}

static void test_no_jwt_without_inject(void **state)
{
    (void)state;
    struct tool_def t =
        mk_tool("get_shipment", "HTTP_GET", "{\"endpoint\":\"%s/api/shipments/{tracking_number}\"}",
                NULL, NULL);
    struct outcome o;
    char err[256];
    assert_int_equal(
        run(&t, "{\"tracking_number\":\"VN123456789\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_null(o.error);
    assert_non_null(strstr(o.result, "\"status\":\"in_transit\""));
    json_object *last = last_request("/api/shipments/VN123456789"), *v;
    assert_true(json_object_object_get_ex(last, "seen", &v));
    assert_true(json_object_get_boolean(v));
    json_object_object_get_ex(last, "authorization", &v);
    assert_null(v);
    json_object_put(last);
    outcome_free(&o);
    tool_free(&t);
}

static void test_invalid_args_refused(void **state)
{
    (void)state;
    struct tool_def t = mk_tool("get_customer_debt", "HTTP_GET", DEBT_CFG, DEBT_IN, DEBT_OUT);
    struct outcome o;
    char err[256] = "";
    assert_int_not_equal(run(&t, "{\"mst\":\"12ab\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_non_null(strstr(err, "invalid arguments"));
    assert_non_null(strstr(err, "/mst"));
    assert_int_equal(o.done, 0);
    assert_int_not_equal(run(&t, "{}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_non_null(strstr(err, "/mst: required"));
    tool_free(&t);
}

static void test_ssrf_loopback_refused_without_allowlist(void **state)
{
    (void)state;
    struct tool_def t = mk_tool("get_customer_debt", "HTTP_GET", DEBT_CFG, DEBT_IN, DEBT_OUT);
    struct outcome o;
    char err[256] = "";
    assert_int_not_equal(run(&t, "{\"mst\":\"0123456789\"}", NULL, JWT, &o, err, sizeof err), 0);
    assert_non_null(strstr(err, "refused"));
    assert_null(strstr(err, JWT));
    /* the tool's own allowed_hosts works as well */
    tool_free(&t);
    t = mk_tool("get_customer_debt", "HTTP_GET",
                "{\"endpoint\":\"%1$s/api/debt/{mst}\",\"allowed_hosts\":\"%1$s\"}", DEBT_IN,
                DEBT_OUT);
    /* the entry is host:port: strip the scheme the format put in */
    json_object_object_add(t.config, "allowed_hosts",
                           json_object_new_string(strstr(g_base, "//") + 2));
    assert_int_equal(run(&t, "{\"mst\":\"0109876543\"}", NULL, JWT, &o, err, sizeof err), 0);
    assert_null(o.error);
    outcome_free(&o);
    tool_free(&t);
}

static void test_http_errors(void **state)
{
    (void)state;
    struct tool_def t = mk_tool("get_customer_debt", "HTTP_GET", DEBT_CFG, DEBT_IN, DEBT_OUT);
    struct outcome o;
    char err[256];
    /* unknown MST: 404 */
    assert_int_equal(run(&t, "{\"mst\":\"0000000000\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_string_equal(o.error, "tool get_customer_debt: HTTP 404");
    outcome_free(&o);
    set_fail("500");
    assert_int_equal(run(&t, "{\"mst\":\"0123456789\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_string_equal(o.error, "tool get_customer_debt: HTTP 500");
    outcome_free(&o);
    set_fail("down");
    assert_int_equal(run(&t, "{\"mst\":\"0123456789\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_string_equal(o.error, "tool get_customer_debt: HTTP 503");
    outcome_free(&o);
    tool_free(&t);
}

static void test_output_schema_violation(void **state)
{
    (void)state;
    struct tool_def t = mk_tool("get_customer_debt", "HTTP_GET", DEBT_CFG, DEBT_IN, DEBT_OUT);
    struct outcome o;
    char err[256];
    set_fail("badshape");
    assert_int_equal(run(&t, "{\"mst\":\"0123456789\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_non_null(o.error);
    assert_non_null(strstr(o.error, "output does not match its schema"));
    assert_non_null(strstr(o.error, "/total_debt"));
    assert_null(o.result);
    outcome_free(&o);
    tool_free(&t);
}

static void test_oversize_response(void **state)
{
    (void)state;
    struct tool_def t = mk_tool("get_customer_debt", "HTTP_GET", DEBT_CFG, DEBT_IN, NULL);
    struct outcome o;
    char err[256];
    set_fail("oversize"); /* 2 MiB against the 1 MiB default */
    assert_int_equal(run(&t, "{\"mst\":\"0123456789\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_non_null(o.error);
    assert_string_equal(o.error, "tool get_customer_debt: response larger than 1048576 bytes");
    outcome_free(&o);
    tool_free(&t);
    /* a smaller cap on a normal answer */
    set_fail("ok");
    t = mk_tool("get_customer_debt", "HTTP_GET",
                "{\"endpoint\":\"%s/api/debt/{mst}\",\"max_response_bytes\":50}", DEBT_IN, NULL);
    assert_int_equal(run(&t, "{\"mst\":\"0123456789\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_non_null(strstr(o.error, "response larger than 50 bytes"));
    outcome_free(&o);
    tool_free(&t);
}

static void test_service_unavailable(void **state)
{
    (void)state;
    /* a port nobody listens on: base + 91 */
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"endpoint\":\"http://127.0.0.1:%d/api/debt/{mst}\"}", g_port + 1);
    struct tool_def t = mk_tool("get_customer_debt", "HTTP_GET", cfg, DEBT_IN, NULL);
    struct outcome o;
    char err[256];
    char allow[64];
    snprintf(allow, sizeof allow, "127.0.0.1:%d", g_port + 1); /* host:port, not the ERP's */
    assert_int_equal(run(&t, "{\"mst\":\"0123456789\"}", allow, JWT, &o, err, sizeof err), 0);
    assert_string_equal(o.error, "tool get_customer_debt: service unavailable");
    outcome_free(&o);
    tool_free(&t);
}

static void test_timeout(void **state)
{
    (void)state;
    struct tool_def t =
        mk_tool("get_customer_debt", "HTTP_GET",
                "{\"endpoint\":\"%s/api/debt/{mst}\",\"timeout_ms\":300}", DEBT_IN, NULL);
    struct outcome o;
    char err[256];
    set_fail("slow");
    assert_int_equal(run(&t, "{\"mst\":\"0123456789\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_string_equal(o.error, "tool get_customer_debt: timed out after 300 ms");
    outcome_free(&o);
    tool_free(&t);
}

static void test_post_body_template(void **state)
{
    (void)state;
    struct tool_def t = mk_tool(
        "analysis_report", "HTTP_POST",
        "{\"endpoint\":\"%s/api/analysis/"
        "report\",\"inject_jwt\":true,\"jwt_audience\":\"erp-backend\","
        "\"body_template\":{\"metric\":\"{metric}\",\"period\":\"{period}\",\"source\":\"agent\"}}",
        "{\"type\":\"object\",\"properties\":{\"metric\":{\"enum\":[\"revenue\",\"debt\"]},"
        "\"period\":{\"type\":\"string\"}},\"required\":[\"metric\",\"period\"]}",
        "{\"type\":\"object\",\"required\":[\"value\"],\"properties\":{\"value\":{\"type\":"
        "\"integer\"}}}");
    struct outcome o;
    char err[256];
    assert_int_equal(run(&t, "{\"metric\":\"revenue\",\"period\":\"2024-Q1\"}", "127.0.0.1", JWT,
                         &o, err, sizeof err),
                     0);
    assert_null(o.error);
    assert_non_null(strstr(o.result, "\"metric\":\"revenue\""));
    assert_non_null(strstr(o.result, "\"period\":\"2024-Q1\""));
    json_object *last = last_request("/api/analysis/report"), *v;
    json_object_object_get_ex(last, "method", &v);
    assert_string_equal(json_object_get_string(v), "POST");
    json_object_object_get_ex(last, "body", &v);
    json_object *body = json_tokener_parse(json_object_get_string(v));
    json_object_object_get_ex(body, "source", &v);
    assert_string_equal(json_object_get_string(v), "agent");
    json_object_put(body);
    json_object_put(last);
    outcome_free(&o);
    tool_free(&t);
}

static void test_unused_args_become_query(void **state)
{
    (void)state;
    struct tool_def t =
        mk_tool("get_order", "HTTP_GET", "{\"endpoint\":\"%s/api/orders/{id}\"}", NULL, NULL);
    struct outcome o;
    char err[256];
    assert_int_equal(run(&t, "{\"id\":\"ORD-1001\",\"lang\":\"vi VN\",\"n\":2}", "127.0.0.1", NULL,
                         &o, err, sizeof err),
                     0);
    assert_null(o.error);
    json_object *last = last_request("/api/orders/ORD-1001"), *v;
    json_object_object_get_ex(last, "query", &v);
    assert_string_equal(json_object_get_string(v), "lang=vi%20VN&n=2");
    json_object_put(last);
    outcome_free(&o);
    tool_free(&t);
}

static void test_path_traversal_stays_encoded(void **state)
{
    (void)state;
    struct tool_def t =
        mk_tool("get_order", "HTTP_GET", "{\"endpoint\":\"%s/api/orders/{id}\"}", NULL, NULL);
    struct outcome o;
    char err[256];
    /* "../../_fail?mode=down" must not reach /_fail: encoded, it stays one path segment */
    assert_int_equal(
        run(&t, "{\"id\":\"../../_fail?mode=down\"}", "127.0.0.1", NULL, &o, err, sizeof err), 0);
    /* Whatever the server makes of the path (civetweb decodes %2F and removes dot segments
     * itself), "?mode=down" arrived as part of the path, not as a query: the ERP is not in
     * "down" mode afterwards. */
    outcome_free(&o);
    assert_int_equal(run(&t, "{\"id\":\"ORD-1002\"}", "127.0.0.1", NULL, &o, err, sizeof err), 0);
    assert_null(o.error);
    outcome_free(&o);
    /* ".." alone is refused before any request */
    assert_int_not_equal(run(&t, "{\"id\":\"..\"}", "127.0.0.1", NULL, &o, err, sizeof err), 0);
    tool_free(&t);
}

static void test_redirects(void **state)
{
    (void)state;
    char cfg[512];
    struct outcome o;
    char err[256];
    /* to a private address: refused at the hop, before any connection */
    snprintf(cfg, sizeof cfg,
             "{\"endpoint\":\"%%s/"
             "_redirect?to={to}\",\"inject_jwt\":true,\"jwt_audience\":\"erp-backend\"}");
    struct tool_def t = mk_tool("redir", "HTTP_GET", cfg, NULL, NULL);
    assert_int_equal(
        run(&t, "{\"to\":\"http://10.1.2.3/steal\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_non_null(o.error);
    assert_non_null(strstr(o.error, "refused"));
    assert_non_null(strstr(o.error, "private"));
    outcome_free(&o);
    assert_int_equal(run(&t, "{\"to\":\"http://169.254.169.254/latest/meta-data/\"}", "127.0.0.1",
                         JWT, &o, err, sizeof err),
                     0);
    assert_non_null(strstr(o.error, "refused"));
    outcome_free(&o);
    assert_int_equal(
        run(&t, "{\"to\":\"file:///etc/passwd\"}", "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_non_null(o.error);
    outcome_free(&o);

    /* same origin: followed, JWT kept */
    char to[256], args[400];
    snprintf(to, sizeof to, "%s/api/debt/0312345678", g_base);
    snprintf(args, sizeof args, "{\"to\":\"%s\"}", to);
    assert_int_equal(run(&t, args, "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_null(o.error);
    assert_non_null(strstr(o.result, "0312345678"));
    json_object *last = last_request("/api/debt/0312345678"), *v;
    json_object_object_get_ex(last, "authorization", &v);
    assert_non_null(v);
    json_object_put(last);
    outcome_free(&o);

    /* other origin (localhost instead of 127.0.0.1), allowed: followed, JWT not sent */
    snprintf(args, sizeof args, "{\"to\":\"http://localhost:%d/api/debt/0401234567\"}", g_port);
    assert_int_equal(run(&t, args, "127.0.0.1,localhost", JWT, &o, err, sizeof err), 0);
    assert_null(o.error);
    last = last_request("/api/debt/0401234567");
    json_object_object_get_ex(last, "seen", &v);
    assert_true(json_object_get_boolean(v));
    json_object_object_get_ex(last, "authorization", &v);
    assert_null(v);
    json_object_put(last);
    outcome_free(&o);

    /* other origin not on the allowlist: refused */
    assert_int_equal(run(&t, args, "127.0.0.1", JWT, &o, err, sizeof err), 0);
    assert_non_null(strstr(o.error, "refused"));
    outcome_free(&o);
    tool_free(&t);
}

static void test_cancel_on_loop_free(void **state)
{
    (void)state;
    struct tool_def t = mk_tool("get_customer_debt", "HTTP_GET", DEBT_CFG, DEBT_IN, NULL);
    struct httploop *loop = NULL;
    struct outcome o = {0};
    char err[256];
    set_fail("slow");
    assert_int_equal(httploop_new(&loop), 0);
    struct tool_ctx ctx = {
        .tenant_id = "tenant-a", .user_jwt = JWT, .loop = loop, .allowed_hosts = g_allow};
    json_object *args = json_tokener_parse("{\"mst\":\"0123456789\"}");
    assert_int_equal(tool_invoke(&ctx, &t, args, on_done, &o, err, sizeof err), 0);
    httploop_run(loop, 50);
    httploop_free(loop);
    assert_int_equal(o.done, 1);
    assert_string_equal(o.error, "tool get_customer_debt: cancelled");
    json_object_put(args);
    outcome_free(&o);
    tool_free(&t);
}

static void test_unknown_base_type(void **state)
{
    (void)state;
    struct tool_def t = mk_tool("db", "DB_QUERY", "{}", NULL, NULL);
    struct outcome o;
    char err[256];
    assert_int_not_equal(run(&t, "{}", NULL, NULL, &o, err, sizeof err), 0);
    assert_non_null(strstr(err, "unknown base type"));
    tool_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_get_injects_jwt, reset),
        cmocka_unit_test_setup(test_jwt_not_sent_to_other_audience, reset),
        cmocka_unit_test_setup(test_no_jwt_without_inject, reset),
        cmocka_unit_test_setup(test_invalid_args_refused, reset),
        cmocka_unit_test_setup(test_ssrf_loopback_refused_without_allowlist, reset),
        cmocka_unit_test_setup(test_http_errors, reset),
        cmocka_unit_test_setup(test_output_schema_violation, reset),
        cmocka_unit_test_setup(test_oversize_response, reset),
        cmocka_unit_test_setup(test_service_unavailable, reset),
        cmocka_unit_test_setup(test_timeout, reset),
        cmocka_unit_test_setup(test_post_body_template, reset),
        cmocka_unit_test_setup(test_unused_args_become_query, reset),
        cmocka_unit_test_setup(test_path_traversal_stays_encoded, reset),
        cmocka_unit_test_setup(test_redirects, reset),
        cmocka_unit_test_setup(test_cancel_on_loop_free, reset),
        cmocka_unit_test_setup(test_unknown_base_type, reset),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
