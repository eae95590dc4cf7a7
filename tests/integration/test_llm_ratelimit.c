/* Integration test: the per-tenant LLM rate limit shared through Redis.
 *
 * Two processes share one tenant with rate_limit_rpm = 60 and the real 60-second window; each
 * fires 45 calls at once at the stand-in. All 90 must succeed (over the limit a call waits, it
 * does not fail) and no 60-second span may hold more than 60 of them. The same check runs
 * quickly with rate_limit_rpm = 4 and a 2-second window (LLM_RATE_WINDOW_S=2).
 * Also: a call whose wait would outlast its timeout fails with LLM_ERR_RATE_LIMITED, and
 * Redis being unreachable lets calls through. Needs REDIS_URL (tests/run.sh's stack).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
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
#include "rcache.h"
#include "tests/support/standin.h"

static pid_t g_standin;
static int g_port;
static const char *g_redis;
static char g_tenant[64];

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int start_standin(void)
{
    char dir[PATH_MAX], bin[PATH_MAX + 64];
    standin_bin_dir(dir, sizeof(dir));
    snprintf(bin, sizeof(bin), "%s/agenthub-standin-llm", dir);
    return standin_llm_start(bin, &g_standin, &g_port, 200);
}

static int setup(void **state)
{
    log_init("test_llm_ratelimit", LOG_ERROR);
    g_redis = getenv("REDIS_URL");
    if (!g_redis)
        return -1;
    setenv("LLM_RATE_WINDOW_S", "2", 1);
    snprintf(g_tenant, sizeof(g_tenant), "rl-test-%d", (int)getpid());
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return start_standin();
}

static int teardown(void **state)
{
    standin_stop(g_standin);
    curl_global_cleanup();
    return 0;
}

static char g_base[128];
static struct llm_config config(const char *tenant, long rpm, long timeout_ms)
{
    snprintf(g_base, sizeof(g_base), "http://127.0.0.1:%d/v1", g_port);
    return (struct llm_config){.provider = LLM_PROVIDER_OPENAI,
                               .tenant_id = (char *)tenant,
                               .base_url = g_base,
                               .model = "standin-rl",
                               .api_key = "sk-rl",
                               .rate_limit_rpm = rpm,
                               .timeout_ms = timeout_ms,
                               .temperature = -1};
}

struct done {
    int n;
    int fd;
    int failed;
    int codes[16];
};

static void on_done(void *opaque, const struct llm_response *r, const struct llm_error *e)
{
    struct done *d = opaque;
    long long t = wall_ms();
    if (r) {
        ssize_t w = write(d->fd, &t, sizeof(t));
        (void)w;
    } else {
        d->codes[d->failed++ % 16] = e->code;
    }
    d->n++;
}

/* One process: its own loop, Redis connection and client; n calls started together.
 * window_s is the rate-limit window the client reads at creation (LLM_RATE_WINDOW_S). */
static int worker(int fd, int n, const char *tenant, long rpm, long window_s)
{
    struct httploop *loop;
    struct rcache *rc;
    struct llm_client *c;
    char err[256], w[24];
    snprintf(w, sizeof(w), "%ld", window_s);
    setenv("LLM_RATE_WINDOW_S", w, 1);
    if (httploop_new(&loop) || rcache_open(&rc, g_redis, err, sizeof(err)) ||
        llm_client_new(&c, loop, rc, err, sizeof(err)))
        return 2;
    struct llm_config cfg = config(tenant, rpm, window_s * 2000 + 30000);
    struct llm_message m[1] = {{.role = LLM_ROLE_USER, .content = "count me"}};
    struct llm_request req = {.messages = m, .nmessages = 1, .temperature = -1};
    struct done d = {.fd = fd};
    for (int i = 0; i < n; i++)
        if (llm_chat_start(c, &cfg, &req, NULL, on_done, &d) != 0)
            return 3;
    while (d.n < n)
        httploop_run(loop, 500);
    llm_client_free(c);
    httploop_free(loop);
    rcache_close(rc);
    return d.failed ? 4 : 0;
}

static int cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* Two processes, `per` calls each, one tenant limited to rpm calls per window_s seconds.
 * Every call must succeed (over the limit a call waits, it does not fail), and any rpm+1
 * consecutive completions must span at least a window: never more than rpm calls in any
 * window. slack_ms covers the answer time after admission on a busy machine; without the
 * limit (or with fixed per-window counters) the gaps would be near 0 ms. */
static void two_processes_share(const char *tenant, int per, long rpm, long window_s, long slack_ms)
{
    enum { PROCS = 2 };
    long window_ms = window_s * 1000;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t kids[PROCS];
    for (int k = 0; k < PROCS; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            close(fds[0]);
            _exit(worker(fds[1], per, tenant, rpm, window_s));
        }
    }
    close(fds[1]);
    long long *t = calloc((size_t)(per * PROCS), sizeof(*t));
    assert_non_null(t);
    size_t got = 0;
    ssize_t r;
    while (got < (size_t)(per * PROCS) && (r = read(fds[0], &t[got], sizeof(t[0]))) == sizeof(t[0]))
        got++;
    close(fds[0]);
    for (int k = 0; k < PROCS; k++) {
        int st;
        waitpid(kids[k], &st, 0);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0); /* every call succeeded */
    }
    assert_int_equal(got, (size_t)(per * PROCS));
    qsort(t, got, sizeof(t[0]), cmp);
    for (size_t i = 0; i + (size_t)rpm < got; i++)
        assert_true(t[i + (size_t)rpm] - t[i] >= window_ms - slack_ms);
    /* More calls than the limit allows in one window: the last waited for the window. */
    assert_true(t[got - 1] - t[0] >= ((long)got - 1) / rpm * window_ms - slack_ms);
    free(t);
}

/* The case: rate_limit_rpm = 60, the real 60-second window, 90 calls from two
 * processes: 60 at once, the other 30 only after the minute has passed. Takes ~60 s. */
static void test_two_processes_rpm60_real_minute(void **state)
{
    char tenant[80];
    snprintf(tenant, sizeof(tenant), "%s-60", g_tenant);
    two_processes_share(tenant, 45, 60, 60, 5000);
}

static void test_two_processes_share_the_limit(void **state)
{
    enum { PER = 6, RPM = 4, WINDOW_MS = 2000, SLACK_MS = 250 };
    two_processes_share(g_tenant, PER, RPM, WINDOW_MS / 1000, SLACK_MS);

    /* The counter lives under the tenant's namespace and expires. */
    struct rcache *rc;
    char err[256];
    assert_int_equal(rcache_open(&rc, g_redis, err, sizeof(err)), 0);
    char key[128];
    snprintf(key, sizeof(key), "agenthub:%s:ratelimit:llm", g_tenant);
    redisReply *rep = NULL;
    assert_int_equal(rcache_command(rc, &rep, "PTTL %s", key), RC_OK);
    assert_true(rep->integer > 0 && rep->integer <= WINDOW_MS + 1000);
    freeReplyObject(rep);
    rcache_close(rc);
}

static void test_wait_longer_than_timeout_fails(void **state)
{
    struct httploop *loop;
    struct rcache *rc;
    struct llm_client *c;
    char err[256];
    assert_int_equal(httploop_new(&loop), 0);
    assert_int_equal(rcache_open(&rc, g_redis, err, sizeof(err)), 0);
    assert_int_equal(llm_client_new(&c, loop, rc, err, sizeof(err)), 0);
    char tenant[80];
    snprintf(tenant, sizeof(tenant), "%s-t", g_tenant);
    struct llm_config cfg = config(tenant, 1, 300);
    struct llm_message m[1] = {{.role = LLM_ROLE_USER, .content = "only one"}};
    struct llm_request req = {.messages = m, .nmessages = 1, .temperature = -1};
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct done d = {.fd = fds[1]};
    assert_int_equal(llm_chat_start(c, &cfg, &req, NULL, on_done, &d), 0);
    assert_int_equal(llm_chat_start(c, &cfg, &req, NULL, on_done, &d), 0);
    while (d.n < 2)
        httploop_run(loop, 200);
    assert_int_equal(d.failed, 1);
    assert_int_equal(d.codes[0], LLM_ERR_RATE_LIMITED);
    close(fds[0]);
    close(fds[1]);
    llm_client_free(c);
    rcache_close(rc);

    /* Redis unreachable: not enforced, calls go through. */
    if (rcache_open(&rc, "redis://127.0.0.1:1/0?connect_timeout_ms=100", err, sizeof(err)) == 0) {
        assert_int_equal(llm_client_new(&c, loop, rc, err, sizeof(err)), 0);
        struct llm_response r;
        struct llm_error e;
        cfg.timeout_ms = 5000;
        for (int i = 0; i < 3; i++) {
            assert_int_equal(llm_chat_sync(c, &cfg, &req, &r, &e), 0);
            llm_response_cleanup(&r);
        }
        llm_client_free(c);
        rcache_close(rc);
    }
    httploop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_processes_share_the_limit),
        cmocka_unit_test(test_two_processes_rpm60_real_minute),
        cmocka_unit_test(test_wait_longer_than_timeout_fails),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
