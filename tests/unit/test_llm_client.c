/* Unit tests for the llm client against agenthub-standin-llm (started by the test from the
 * same build's bin/ as a helper process), for each provider wire format:
 *   plain answer, streamed answer (deltas in order, joined == final), one tool call, parallel
 *   tool calls, tool-result round trip, usage, 429 then success after Retry-After, 500 until
 *   giving up, timeout, malformed and cut answers, wrong and revoked keys, context too long,
 *   the fallback model, cancel on free, embeddings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "llm.h"
#include "log.h"
#include "metrics.h"
#include "tests/support/standin.h"

static pid_t g_pid;
static int g_port;
static struct httploop *g_loop;
static struct llm_client *g_client;
static int g_seq;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int start_standin(void)
{
    char dir[PATH_MAX], bin[PATH_MAX + 64];
    /* <build>/tests/unit/test_llm_client -> <build>/bin/agenthub-standin-llm */
    standin_build_bin_dir(dir, sizeof(dir));
    snprintf(bin, sizeof(bin), "%s/agenthub-standin-llm", dir);
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "stand-in not built: %s\n", bin);
        return -1;
    }
    return standin_llm_start(bin, &g_pid, &g_port, 200);
}

static int group_setup(void **state)
{
    log_init("test_llm_client", LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (start_standin() != 0)
        return -1;
    char err[128];
    if (httploop_new(&g_loop) != 0 || llm_client_new(&g_client, g_loop, NULL, err, sizeof(err)))
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    llm_client_free(g_client);
    httploop_free(g_loop);
    standin_stop(g_pid);
    curl_global_cleanup();
    return 0;
}

/* ---- per-provider configs ---------------------------------------------------------------- */

struct prov {
    enum llm_provider p;
    const char *name;
};
static const struct prov PROVS[] = {
    {LLM_PROVIDER_OPENAI, "openai"},
    {LLM_PROVIDER_ANTHROPIC, "anthropic"},
    {LLM_PROVIDER_GEMINI, "gemini"},
    {LLM_PROVIDER_OPENROUTER, "openrouter"},
};
#define NPROVS (sizeof(PROVS) / sizeof(PROVS[0]))

static char g_base[NPROVS][128];
static char g_model[256];

/* A config for provider i; model gets the stand-in options (e.g. "fault=500"). */
static struct llm_config cfg_for(size_t i, const char *opts)
{
    const struct prov *p = &PROVS[i];
    if (p->p == LLM_PROVIDER_OPENAI || p->p == LLM_PROVIDER_OPENROUTER)
        snprintf(g_base[i], sizeof(g_base[i]), "http://127.0.0.1:%d/v1", g_port);
    else
        snprintf(g_base[i], sizeof(g_base[i]), "http://127.0.0.1:%d", g_port);
    /* A unique fault key per call so fault counters never carry over between tests. */
    snprintf(g_model, sizeof(g_model), "standin-%s@key=k%d%s%s", p->name, ++g_seq,
             opts && *opts ? "," : "", opts ? opts : "");
    struct llm_config c = {.provider = p->p,
                           .tenant_id = "tenant-a",
                           .base_url = g_base[i],
                           .model = g_model,
                           .api_key = "sk-test-key-123456",
                           .connect_timeout_ms = 2000,
                           .timeout_ms = 10000,
                           .max_retries = 2,
                           .temperature = -1};
    return c;
}

static struct llm_message g_msgs[8];
static struct llm_request simple_req(const char *user)
{
    g_msgs[0] = (struct llm_message){.role = LLM_ROLE_SYSTEM, .content = "You are helpful."};
    g_msgs[1] = (struct llm_message){.role = LLM_ROLE_USER, .content = (char *)user};
    return (struct llm_request){.messages = g_msgs, .nmessages = 2, .temperature = -1};
}

static const struct llm_tool_def DEBT_TOOL = {
    .name = "get_debt",
    .description = "Customer debt by tax code (MST)",
    .parameters = "{\"type\":\"object\",\"properties\":{\"mst\":{\"type\":\"string\","
                  "\"description\":\"10-digit tax code\"}},\"required\":[\"mst\"]}"};
static const struct llm_tool_def TRACK_TOOL = {
    .name = "track_shipment",
    .description = "Shipment status by tracking number",
    .parameters = "{\"type\":\"object\",\"properties\":{\"tracking_number\":{\"type\":"
                  "\"string\"}},\"required\":[\"tracking_number\"]}"};

/* ---- tests --------------------------------------------------------------------------------- */

static void test_plain_answer(void **state)
{
    for (size_t i = 0; i < NPROVS; i++) {
        struct llm_config c = cfg_for(i, NULL);
        struct llm_request req = simple_req("Hello there, who are you?");
        struct llm_response r;
        struct llm_error e;
        assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), 0);
        assert_non_null(r.content);
        assert_true(strncmp(r.content, "[stand-in]", 10) == 0);
        assert_non_null(strstr(r.content, "Hello there, who are you?"));
        assert_string_equal(r.finish_reason, "stop");
        assert_true(r.input_tokens > 0);
        assert_true(r.output_tokens > 0);
        assert_non_null(r.model);
        assert_int_equal(r.ntool_calls, 0);
        llm_response_cleanup(&r);
    }
    /* counted on the process's metrics registry */
    assert_true(metrics_value(metrics_counter("llm_calls_total", "",
                                              "provider=\"gemini\",status=\"ok\"")) >= 1);
    assert_true(metrics_value(metrics_counter("llm_tokens_total", "",
                                              "provider=\"anthropic\",direction=\"output\"")) > 0);
}

struct stream_state {
    int done;
    char joined[4096];
    int ndeltas;
    char *final;
    long in, out;
    int code;
    char errmsg[512];
    char *finish;
    size_t ntools;
    char *tool_names;
    char *model;
};

static void s_delta(void *opaque, const char *t, size_t n)
{
    struct stream_state *s = opaque;
    size_t l = strlen(s->joined);
    snprintf(s->joined + l, sizeof(s->joined) - l, "%.*s", (int)n, t);
    s->ndeltas++;
}

static void s_done(void *opaque, const struct llm_response *r, const struct llm_error *e)
{
    struct stream_state *s = opaque;
    s->done = 1;
    if (r) {
        s->final = r->content ? strdup(r->content) : NULL;
        s->in = r->input_tokens;
        s->out = r->output_tokens;
        s->finish = strdup(r->finish_reason);
        s->ntools = r->ntool_calls;
        s->model = r->model ? strdup(r->model) : NULL;
        char names[256] = "";
        for (size_t i = 0; i < r->ntool_calls; i++) {
            strncat(names, r->tool_calls[i].name, sizeof(names) - strlen(names) - 2);
            strcat(names, ",");
        }
        s->tool_names = strdup(names);
    } else {
        s->code = e->code;
        snprintf(s->errmsg, sizeof(s->errmsg), "%s", e->message);
    }
}

static void s_free(struct stream_state *s)
{
    free(s->final);
    free(s->finish);
    free(s->tool_names);
    free(s->model);
}

static void run_until_done(int *done)
{
    long long end = mono_ms() + 30000;
    while (!*done && mono_ms() < end)
        httploop_run(g_loop, 200);
    assert_true(*done);
}

static void test_streamed_answer(void **state)
{
    for (size_t i = 0; i < NPROVS; i++) {
        struct llm_config c = cfg_for(i, "tps=200");
        struct llm_request req = simple_req("Stream me a few words please");
        req.stream = 1;
        struct stream_state s = {0};
        assert_int_equal(llm_chat_start(g_client, &c, &req, s_delta, s_done, &s), 0);
        assert_int_equal(s.done, 0); /* never inside start */
        run_until_done(&s.done);
        assert_int_equal(s.code, 0);
        assert_non_null(s.final);
        assert_true(s.ndeltas > 3);
        assert_string_equal(s.joined, s.final);
        assert_non_null(strstr(s.final, "Stream me a few words please"));
        assert_string_equal(s.finish, "stop");
        assert_true(s.in > 0 && s.out > 0);
        s_free(&s);
    }
}

static void test_tool_calls(void **state)
{
    struct llm_tool_def tools[2] = {DEBT_TOOL, TRACK_TOOL};
    for (size_t i = 0; i < NPROVS; i++) {
        for (int stream = 0; stream < 2; stream++) {
            struct llm_config c = cfg_for(i, NULL);
            /* one call */
            struct llm_request req = simple_req("What is the debt of MST 0101234567?");
            req.tools = tools;
            req.ntools = 2;
            req.stream = stream;
            struct stream_state s = {0};
            assert_int_equal(llm_chat_start(g_client, &c, &req, s_delta, s_done, &s), 0);
            run_until_done(&s.done);
            assert_int_equal(s.code, 0);
            assert_int_equal(s.ntools, 1);
            assert_string_equal(s.tool_names, "get_debt,");
            assert_string_equal(s.finish, "tool_calls");
            s_free(&s);

            /* parallel: two tools at once */
            c = cfg_for(i, NULL);
            req = simple_req("Debt for 0101234567 and where is parcel VN123456789?");
            req.tools = tools;
            req.ntools = 2;
            req.stream = stream;
            struct llm_response r;
            struct llm_error e;
            memset(&s, 0, sizeof(s));
            assert_int_equal(llm_chat_start(g_client, &c, &req, s_delta, s_done, &s), 0);
            run_until_done(&s.done);
            assert_int_equal(s.code, 0);
            assert_int_equal(s.ntools, 2);
            assert_string_equal(s.tool_names, "get_debt,track_shipment,");
            s_free(&s);

            /* sync form keeps arguments and ids */
            if (!stream) {
                c = cfg_for(i, NULL);
                assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), 0);
                assert_int_equal(r.ntool_calls, 2);
                json_object *a0 = json_tokener_parse(r.tool_calls[0].arguments);
                json_object *v;
                assert_true(json_object_object_get_ex(a0, "mst", &v));
                assert_string_equal(json_object_get_string(v), "0101234567");
                json_object_put(a0);
                json_object *a1 = json_tokener_parse(r.tool_calls[1].arguments);
                assert_true(json_object_object_get_ex(a1, "tracking_number", &v));
                assert_string_equal(json_object_get_string(v), "VN123456789");
                json_object_put(a1);
                assert_non_null(r.tool_calls[0].id);
                assert_string_not_equal(r.tool_calls[0].id, r.tool_calls[1].id);
                llm_response_cleanup(&r);
            }
        }
    }
}

static void test_tool_result_round_trip(void **state)
{
    struct llm_tool_def tools[1] = {DEBT_TOOL};
    for (size_t i = 0; i < NPROVS; i++) {
        struct llm_config c = cfg_for(i, NULL);
        struct llm_request req = simple_req("What is the debt of MST 0101234567?");
        req.tools = tools;
        req.ntools = 1;
        struct llm_response r1, r2;
        struct llm_error e;
        assert_int_equal(llm_chat_sync(g_client, &c, &req, &r1, &e), 0);
        assert_int_equal(r1.ntool_calls, 1);
        /* Second turn: the assistant's call and the tool's result. */
        struct llm_message m[4];
        m[0] = g_msgs[0];
        m[1] = g_msgs[1];
        m[2] = (struct llm_message){.role = LLM_ROLE_ASSISTANT,
                                    .content = r1.content,
                                    .tool_calls = r1.tool_calls,
                                    .ntool_calls = r1.ntool_calls};
        m[3] = (struct llm_message){.role = LLM_ROLE_TOOL,
                                    .content = "{\"mst\":\"0101234567\",\"total_debt\":1250000,"
                                               "\"currency\":\"VND\",\"overdue\":true}",
                                    .tool_call_id = r1.tool_calls[0].id,
                                    .name = r1.tool_calls[0].name};
        struct llm_request req2 = {
            .messages = m, .nmessages = 4, .tools = tools, .ntools = 1, .temperature = -1};
        c = cfg_for(i, NULL);
        assert_int_equal(llm_chat_sync(g_client, &c, &req2, &r2, &e), 0);
        assert_int_equal(r2.ntool_calls, 0);
        assert_non_null(r2.content);
        assert_true(strncmp(r2.content, "[stand-in]", 10) == 0);
        assert_non_null(strstr(r2.content, "1250000"));
        assert_non_null(strstr(r2.content, "VND"));
        assert_string_equal(r2.finish_reason, "stop");
        llm_response_cleanup(&r1);
        llm_response_cleanup(&r2);
    }
}

static void test_routing_prompt(void **state)
{
    const char *sys = "You are the supervisor. Route the user to one agent.\n"
                      "- AgentDebt: customer debt, invoices, payments, công nợ\n"
                      "- AgentShipment: shipment tracking, delivery status, vận đơn\n"
                      "Answer with JSON {\"agent\": \"<name>\"}, UNCLEAR or MULTI_INTENT.";
    struct {
        const char *msg, *want;
    } cases[] = {
        {"I want to check my debt", "\"agent\":\"AgentDebt\""},
        {"Kiểm tra công nợ giúp tôi", "\"agent\":\"AgentDebt\""},
        {"Where is my shipment?", "\"agent\":\"AgentShipment\""},
        {"What's the weather like?", "\"agent\":\"UNCLEAR\""},
        {"Check my debt and track my shipment", "\"agent\":\"MULTI_INTENT\""},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct llm_config c = cfg_for(k % NPROVS, NULL);
        struct llm_message m[2] = {{.role = LLM_ROLE_SYSTEM, .content = (char *)sys},
                                   {.role = LLM_ROLE_USER, .content = (char *)cases[k].msg}};
        struct llm_request req = {.messages = m, .nmessages = 2, .json_mode = 1, .temperature = 0};
        struct llm_response r;
        struct llm_error e;
        assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), 0);
        assert_non_null(strstr(r.content, cases[k].want));
        json_object *o = json_tokener_parse(r.content);
        assert_non_null(o);
        json_object_put(o);
        llm_response_cleanup(&r);
    }
}

static void test_429_then_success(void **state)
{
    for (size_t i = 0; i < NPROVS; i++) {
        struct llm_config c = cfg_for(i, "fault=429,n=1,ra=1");
        struct llm_request req = simple_req("retry me");
        struct llm_response r;
        struct llm_error e;
        long long t0 = mono_ms();
        assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), 0);
        long long took = mono_ms() - t0;
        assert_true(took >= 1000); /* Retry-After: 1 was honoured */
        assert_non_null(strstr(r.content, "retry me"));
        llm_response_cleanup(&r);

        /* 429 every time: rate limited after the retries. */
        c = cfg_for(i, "fault=429,ra=0");
        c.max_retries = 1;
        assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), LLM_ERR_RATE_LIMITED);
        assert_int_equal(e.http_status, 429);
    }
}

static void test_500_gives_up(void **state)
{
    for (size_t i = 0; i < NPROVS; i++) {
        struct llm_config c = cfg_for(i, "fault=500");
        c.max_retries = 2;
        struct llm_request req = simple_req("fail");
        struct llm_response r;
        struct llm_error e;
        long long t0 = mono_ms();
        assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), LLM_ERR_UNAVAILABLE);
        assert_true(mono_ms() - t0 >= 250 + 500); /* two backoffs: >= 250 and >= 500 ms */
        assert_int_equal(e.http_status, 500);
        assert_non_null(strstr(e.message, "tenant-a"));
        assert_non_null(strstr(e.message, "gave up after 2 retries"));
        assert_null(r.content);

        /* 500 twice then fine: the retries hide it. */
        c = cfg_for(i, "fault=500,n=2");
        assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), 0);
        llm_response_cleanup(&r);
    }
}

static void test_connection_refused(void **state)
{
    struct llm_config c = cfg_for(0, NULL);
    c.base_url = "http://127.0.0.1:1/v1";
    c.max_retries = 1;
    struct llm_request req = simple_req("x");
    struct llm_response r;
    struct llm_error e;
    assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), LLM_ERR_UNAVAILABLE);
}

static void test_timeout(void **state)
{
    for (size_t i = 0; i < NPROVS; i++) {
        for (int stream = 0; stream < 2; stream++) {
            struct llm_config c = cfg_for(i, stream ? "ttft=5000" : "fault=hang");
            c.timeout_ms = 400;
            struct llm_request req = simple_req("hang");
            req.stream = stream;
            struct stream_state s = {0};
            long long t0 = mono_ms();
            assert_int_equal(llm_chat_start(g_client, &c, &req, s_delta, s_done, &s), 0);
            run_until_done(&s.done);
            assert_int_equal(s.code, LLM_ERR_TIMEOUT);
            assert_true(mono_ms() - t0 < 3000);
            s_free(&s);
        }
    }
}

static void test_malformed_and_cut(void **state)
{
    const char *faults[] = {"fault=malformed", "fault=cut"};
    for (size_t i = 0; i < NPROVS; i++) {
        for (size_t f = 0; f < 2; f++) {
            for (int stream = 0; stream < 2; stream++) {
                struct llm_config c = cfg_for(i, faults[f]);
                struct llm_request req = simple_req("a long enough answer to cut in half please");
                req.stream = stream;
                struct stream_state s = {0};
                assert_int_equal(llm_chat_start(g_client, &c, &req, s_delta, s_done, &s), 0);
                run_until_done(&s.done);
                if (s.code != LLM_ERR_BAD_RESPONSE)
                    fprintf(stderr, "provider %s fault %s stream %d: %d %s\n", PROVS[i].name,
                            faults[f], stream, s.code, s.errmsg);
                assert_int_equal(s.code, LLM_ERR_BAD_RESPONSE);
                s_free(&s);
            }
        }
    }
}

static void test_bad_keys(void **state)
{
    const char *keys[] = {"bad-key", "revoked-key"};
    for (size_t i = 0; i < NPROVS; i++) {
        for (int k = 0; k < 2; k++) {
            struct llm_config c = cfg_for(i, NULL);
            c.api_key = (char *)keys[k];
            struct llm_request req = simple_req("hi");
            struct llm_response r;
            struct llm_error e;
            assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), LLM_ERR_AUTH);
            assert_int_equal(e.http_status, 401);
            assert_non_null(strstr(e.message, "tenant-a"));
            assert_non_null(strstr(e.message, PROVS[i].name));
            assert_null(strstr(e.message, keys[k]));
        }
    }
    /* The key never shows in any error text, whatever the error. */
    struct llm_config c = cfg_for(0, "fault=500");
    c.max_retries = -1;
    struct llm_request req = simple_req("hi");
    struct llm_response r;
    struct llm_error e;
    assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), LLM_ERR_UNAVAILABLE);
    assert_null(strstr(e.message, "sk-test-key-123456"));
}

static void test_key_never_logged(void **state)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    log_init("test_llm_client", LOG_DEBUG);
    log_set_fd(fds[1]);
    struct llm_request req = simple_req("log me");
    struct llm_response r;
    struct llm_error e;
    for (size_t i = 0; i < NPROVS; i++) {
        struct llm_config c = cfg_for(i, "fault=500,n=1");
        c.api_key = "sk-live-abcdef987654";
        assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), 0); /* logs a retry */
        llm_response_cleanup(&r);
        c = cfg_for(i, NULL);
        c.api_key = "revoked-key";
        assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), LLM_ERR_AUTH);
    }
    log_set_fd(2);
    log_init("test_llm_client", LOG_ERROR);
    close(fds[1]);
    static char out[65536];
    ssize_t n = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    assert_true(n > 0);
    out[n] = '\0';
    assert_non_null(strstr(out, "llm retry"));
    assert_non_null(strstr(out, "llm call failed"));
    assert_non_null(strstr(out, "tenant-a"));
    assert_null(strstr(out, "sk-live-abcdef987654"));
    assert_null(strstr(out, "revoked-key"));
}

static void test_context_too_long(void **state)
{
    for (size_t i = 0; i < NPROVS; i++) {
        struct llm_config c = cfg_for(i, "fault=context");
        struct llm_request req = simple_req("very long");
        struct llm_response r;
        struct llm_error e;
        assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), LLM_ERR_CONTEXT_TOO_LONG);
    }
}

static void test_fallback_model(void **state)
{
    for (size_t i = 0; i < NPROVS; i++) {
        struct llm_config c = cfg_for(i, "fault=500");
        c.max_retries = -1;
        char fb[64];
        snprintf(fb, sizeof(fb), "standin-fallback-%zu", i);
        c.fallback_model = fb;
        struct llm_request req = simple_req("use the fallback");
        struct llm_response r;
        struct llm_error e;
        assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), 0);
        assert_string_equal(r.model, fb);
        assert_non_null(strstr(r.content, "use the fallback"));
        llm_response_cleanup(&r);

        /* Auth errors do not switch models. */
        c.api_key = "bad-key";
        assert_int_equal(llm_chat_sync(g_client, &c, &req, &r, &e), LLM_ERR_AUTH);
    }
}

static void test_cancel_on_free(void **state)
{
    struct httploop *l;
    struct llm_client *cl;
    char err[64];
    assert_int_equal(httploop_new(&l), 0);
    assert_int_equal(llm_client_new(&cl, l, NULL, err, sizeof(err)), 0);
    struct stream_state s[3] = {{0}};
    for (int k = 0; k < 3; k++) {
        /* two transfers in flight, one call waiting on a retry timer */
        struct llm_config c = cfg_for((size_t)k, k == 2 ? "fault=429,ra=30" : "fault=hang");
        c.timeout_ms = 60000;
        struct llm_request req = simple_req("never");
        assert_int_equal(llm_chat_start(cl, &c, &req, NULL, s_done, &s[k]), 0);
    }
    for (int k = 0; k < 10; k++)
        httploop_run(l, 30);
    llm_client_free(cl);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(s[k].done, 1);
        assert_int_equal(s[k].code, LLM_ERR_CANCELLED);
    }
    assert_int_equal(httploop_active(l), 0);
    httploop_free(l);
}

static void test_invalid_requests(void **state)
{
    struct llm_config c = cfg_for(0, NULL);
    struct llm_request empty = {.messages = g_msgs, .nmessages = 0};
    struct stream_state s = {0};
    assert_int_equal(llm_chat_start(g_client, &c, &empty, NULL, s_done, &s),
                     LLM_ERR_INVALID_REQUEST);
    c.provider = LLM_PROVIDER_LOCAL;
    struct llm_request req = simple_req("x");
    assert_int_equal(llm_chat_start(g_client, &c, &req, NULL, s_done, &s), LLM_ERR_CONFIG);
    assert_int_equal(s.done, 0);
}

static void test_embeddings(void **state)
{
    const char *texts[] = {"công nợ khách hàng", "shipment tracking VN123"};
    float local[2][LLM_LOCAL_EMBED_DIM];
    llm_embed_local(texts[0], local[0], LLM_LOCAL_EMBED_DIM);
    llm_embed_local(texts[1], local[1], LLM_LOCAL_EMBED_DIM);
    const char *targets[] = {"openai:text-embedding-3-small", "gemini:text-embedding-004", NULL};
    for (int t = 0; t < 3; t++) {
        struct llm_config c = cfg_for(t == 1 ? 2 : 0, NULL);
        c.embedding_provider_model = (char *)targets[t];
        float *v = NULL;
        int dim = 0;
        struct llm_error e;
        assert_int_equal(llm_embed_sync(g_client, &c, texts, 2, &v, &dim, &e), 0);
        assert_int_equal(dim, LLM_LOCAL_EMBED_DIM);
        for (int k = 0; k < 2; k++)
            for (int d = 0; d < dim; d++)
                assert_true(fabsf(v[k * dim + d] - local[k][d]) < 1e-5f);
        free(v);
    }
    /* One text (Gemini :embedContent) and many (batched: 2 OpenAI, 3 Gemini requests). */
    enum { MANY = 300 };
    static char buf[MANY][32];
    const char *many[MANY];
    for (int k = 0; k < MANY; k++) {
        snprintf(buf[k], sizeof(buf[k]), "text number %d", k);
        many[k] = buf[k];
    }
    for (int t = 0; t < 2; t++) {
        for (int one = 0; one < 2; one++) {
            struct llm_config c = cfg_for(t == 1 ? 2 : 0, NULL);
            c.embedding_provider_model = (char *)targets[t];
            float *v = NULL;
            int dim = 0;
            struct llm_error e;
            size_t cnt = one ? 1 : MANY;
            assert_int_equal(llm_embed_sync(g_client, &c, many, cnt, &v, &dim, &e), 0);
            float want[LLM_LOCAL_EMBED_DIM];
            for (size_t k = 0; k < cnt; k += 37) {
                llm_embed_local(many[k], want, LLM_LOCAL_EMBED_DIM);
                for (int d = 0; d < dim; d++)
                    assert_true(fabsf(v[k * (size_t)dim + (size_t)d] - want[d]) < 1e-5f);
            }
            free(v);
        }
    }
    /* A wrong key is an auth error naming tenant and provider. */
    struct llm_config c = cfg_for(0, NULL);
    c.embedding_provider_model = "openai:text-embedding-3-small";
    c.api_key = "revoked-key";
    float *v = NULL;
    int dim = 0;
    struct llm_error e;
    assert_int_equal(llm_embed_sync(g_client, &c, texts, 2, &v, &dim, &e), LLM_ERR_AUTH);
    assert_null(v);
    assert_non_null(strstr(e.message, "tenant-a"));
    assert_null(strstr(e.message, "revoked-key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_answer),     cmocka_unit_test(test_streamed_answer),
        cmocka_unit_test(test_tool_calls),       cmocka_unit_test(test_tool_result_round_trip),
        cmocka_unit_test(test_routing_prompt),   cmocka_unit_test(test_429_then_success),
        cmocka_unit_test(test_500_gives_up),     cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_timeout),          cmocka_unit_test(test_malformed_and_cut),
        cmocka_unit_test(test_bad_keys),         cmocka_unit_test(test_key_never_logged),
        cmocka_unit_test(test_context_too_long), cmocka_unit_test(test_fallback_model),
        cmocka_unit_test(test_cancel_on_free),   cmocka_unit_test(test_invalid_requests),
        cmocka_unit_test(test_embeddings),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
