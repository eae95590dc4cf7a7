/* bench_llm — how many streaming LLM calls one process holds, and what a call costs.
 *
 * Starts agenthub-standin-llm (from $AGENTHUB_BIN) and, in this one thread on one httploop:
 *   held:       N streaming calls started at once against a slow stand-in (time to first token
 *               BENCH_LLM_TTFT_MS, default 2000, then BENCH_LLM_TPS tokens/s, default 10);
 *               reports how many were open streams at the same time (goal >= 2000), errors,
 *               wall time, CPU per call, peak RSS.
 *   throughput: calls/s against an instant stand-in with BENCH_LLM_PARALLEL calls kept in
 *               flight for BENCH_LLM_SECONDS; CPU time per call.
 * Prints "llm.<figure> <value>" lines and writes the same as JSON to argv[1] if given.
 * RLIMIT_NOFILE is raised to its hard limit here and in the stand-in.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "llm.h"
#include "log.h"
#include "tests/support/standin.h"

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v && *v ? atol(v) : def;
}

/* The stand-in's CPU seconds so far (utime + stime from /proc). */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static pid_t g_standin;
static int g_port;

static int start_standin(void)
{
    const char *dir = getenv("AGENTHUB_BIN");
    char bin[1024];
    snprintf(bin, sizeof(bin), "%s/agenthub-standin-llm", dir ? dir : "build/bin");
    if (standin_llm_start(bin, &g_standin, &g_port, 250) == 0)
        return 0;
    fprintf(stderr, "bench_llm: the stand-in did not start (%s)\n", bin);
    return -1;
}

struct call {
    int streaming; /* got a delta, not finished */
    int done;
};

static long g_open, g_peak_open, g_done, g_errors, g_started;
static struct llm_client *g_client;
static struct llm_config g_cfg;
static struct llm_request g_req;
static struct llm_message g_msg[2];

static void on_delta(void *opaque, const char *t, size_t n)
{
    struct call *c = opaque;
    if (!c->streaming) {
        c->streaming = 1;
        if (++g_open > g_peak_open)
            g_peak_open = g_open;
    }
}

static int g_refill; /* throughput phase: start another call on each completion */
static void start_one(struct call *c);

static void on_done(void *opaque, const struct llm_response *r, const struct llm_error *e)
{
    struct call *c = opaque;
    if (c->streaming)
        g_open--;
    c->streaming = 0;
    c->done = 1;
    g_done++;
    if (!r) {
        if (g_errors < 5)
            fprintf(stderr, "bench_llm: call failed: %s\n", e->message);
        g_errors++;
    }
    if (g_refill)
        start_one(c);
}

static void start_one(struct call *c)
{
    c->done = c->streaming = 0;
    if (llm_chat_start(g_client, &g_cfg, &g_req, on_delta, on_done, c) == 0)
        g_started++;
    else
        g_errors++;
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    log_init("bench_llm", LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long n = env_long("BENCH_LLM_CONCURRENCY", 2500);
    long ttft = env_long("BENCH_LLM_TTFT_MS", 2000), tps = env_long("BENCH_LLM_TPS", 10);
    long parallel = env_long("BENCH_LLM_PARALLEL", 100);
    long seconds = env_long("BENCH_LLM_SECONDS", 5);
    if ((long)rl.rlim_cur < 2 * n + 100) {
        n = ((long)rl.rlim_cur - 100) / 2;
        fprintf(stderr, "bench_llm: RLIMIT_NOFILE %ld caps the calls at %ld\n", (long)rl.rlim_cur,
                n);
    }
    if (start_standin() != 0)
        return 1;

    struct httploop *loop;
    char err[256];
    if (httploop_new(&loop) || llm_client_new(&g_client, loop, NULL, err, sizeof(err)))
        return 1;
    char base[64], model[128];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d/v1", g_port);
    snprintf(model, sizeof(model), "standin-bench@ttft=%ld,tps=%ld", ttft, tps);
    g_cfg = (struct llm_config){.provider = LLM_PROVIDER_OPENAI,
                                .tenant_id = "bench",
                                .base_url = base,
                                .model = model,
                                .api_key = "sk-bench",
                                .connect_timeout_ms = 30000,
                                .timeout_ms = 120000,
                                .max_retries = -1,
                                .temperature = -1};
    g_msg[0] = (struct llm_message){.role = LLM_ROLE_USER, .content = "benchmark call"};
    g_req = (struct llm_request){.messages = g_msg, .nmessages = 1, .stream = 1, .temperature = -1};

    /* ---- held: N slow streams at once ---- */
    struct call *calls = calloc((size_t)n, sizeof(*calls));
    double c0 = cpu_s(), s0 = proc_cpu_s(g_standin);
    long long t0 = mono_ms();
    for (long i = 0; i < n; i++)
        start_one(&calls[i]);
    while (g_done < g_started)
        httploop_run(loop, 1000);
    long long held_ms = mono_ms() - t0;
    double held_cpu = cpu_s() - c0, held_standin_cpu = proc_cpu_s(g_standin) - s0;
    long held_errors = g_errors;
    long peak = g_peak_open;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long rss_held = ru.ru_maxrss;

    /* ---- throughput: instant answers, `parallel` calls kept in flight ---- */
    snprintf(model, sizeof(model), "standin-bench-fast");
    g_done = g_started = g_errors = 0;
    g_refill = 1;
    c0 = cpu_s();
    s0 = proc_cpu_s(g_standin);
    t0 = mono_ms();
    long p = parallel < n ? parallel : n;
    for (long i = 0; i < p; i++)
        start_one(&calls[i]);
    while (mono_ms() - t0 < seconds * 1000)
        httploop_run(loop, 100);
    g_refill = 0;
    long done_in_window = g_done;
    long long tp_ms = mono_ms() - t0;
    double tp_cpu = cpu_s() - c0, tp_standin_cpu = proc_cpu_s(g_standin) - s0;
    while (g_done < g_started)
        httploop_run(loop, 100);
    long tp_errors = g_errors;
    getrusage(RUSAGE_SELF, &ru);

    llm_client_free(g_client);
    httploop_free(loop);
    free(calls);
    standin_stop(g_standin);
    curl_global_cleanup();

    double cps = done_in_window * 1000.0 / (double)(tp_ms ? tp_ms : 1);
    char out[2048];
    snprintf(out, sizeof(out),
             "{\"held_calls_started\":%ld,\"held_peak_open_streams\":%ld,\"held_errors\":%ld,"
             "\"held_wall_s\":%.2f,\"held_calls_per_s\":%.1f,\"held_cpu_ms_per_call\":%.3f,"
             "\"held_standin_cpu_ms_per_call\":%.3f,\"ttft_ms\":%ld,\"tps\":%ld,"
             "\"peak_rss_kb_held\":%ld,\"throughput_calls_per_s\":%.1f,"
             "\"throughput_parallel\":%ld,\"throughput_errors\":%ld,"
             "\"throughput_cpu_ms_per_call\":%.3f,\"throughput_standin_cpu_ms_per_call\":%.3f,"
             "\"peak_rss_kb\":%ld}",
             n, peak, held_errors, held_ms / 1000.0, n * 1000.0 / (double)(held_ms ? held_ms : 1),
             held_cpu * 1000.0 / (double)n, held_standin_cpu * 1000.0 / (double)n, ttft, tps,
             rss_held, cps, p, tp_errors,
             done_in_window ? tp_cpu * 1000.0 / (double)done_in_window : 0,
             done_in_window ? tp_standin_cpu * 1000.0 / (double)done_in_window : 0, ru.ru_maxrss);
    printf("llm.held_calls_started %ld\n", n);
    printf("llm.held_peak_open_streams %ld (goal >= 2000)\n", peak);
    printf("llm.held_errors %ld\n", held_errors);
    printf("llm.held_wall_s %.2f (ttft %ld ms, %ld tokens/s)\n", held_ms / 1000.0, ttft, tps);
    printf("llm.held_calls_per_s %.1f\n", n * 1000.0 / (double)(held_ms ? held_ms : 1));
    printf("llm.held_cpu_ms_per_call %.3f (stand-in %.3f)\n", held_cpu * 1000.0 / (double)n,
           held_standin_cpu * 1000.0 / (double)n);
    printf("llm.peak_rss_kb_held %ld\n", rss_held);
    printf("llm.throughput_calls_per_s %.1f (%ld in flight, instant stand-in)\n", cps, p);
    printf("llm.throughput_cpu_ms_per_call %.3f (stand-in %.3f)\n",
           done_in_window ? tp_cpu * 1000.0 / (double)done_in_window : 0,
           done_in_window ? tp_standin_cpu * 1000.0 / (double)done_in_window : 0);
    printf("llm.throughput_errors %ld\n", tp_errors);
    printf("llm.peak_rss_kb %ld\n", ru.ru_maxrss);
    if (argc > 1) {
        FILE *f = fopen(argv[1], "w");
        if (f) {
            fprintf(f, "%s\n", out);
            fclose(f);
        }
    }
    return held_errors || tp_errors ? 1 : 0;
}
