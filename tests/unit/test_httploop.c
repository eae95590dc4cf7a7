/* Unit tests for common/httploop: completions, many concurrent transfers, cancel, timers,
 * wakeup, libcurl timeouts, freeing with transfers in flight. A small poll()-based HTTP
 * server runs on a thread of the test process:
 *   /ok          200 "hello"
 *   /delay/<ms>  200 "late" after ms milliseconds
 *   /hang        never answers
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httploop.h"

#define MAXC 1100

struct sconn {
    int fd;
    char req[2048];
    size_t len;
    long long answer_at; /* -1: not yet parsed; LLONG_MAX: hang */
    const char *body;
};

static int g_port;
static int g_listen = -1;
static int g_stop[2];
static pthread_t g_thread;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *server_main(void *arg)
{
    (void)arg;
    static struct sconn c[MAXC];
    static struct pollfd p[MAXC + 2];
    int nc = 0;
    for (;;) {
        int np = 0;
        p[np++] = (struct pollfd){.fd = g_stop[0], .events = POLLIN};
        p[np++] = (struct pollfd){.fd = g_listen, .events = POLLIN};
        long long now = mono_ms(), wait = 1000;
        for (int i = 0; i < nc; i++) {
            p[np++] = (struct pollfd){.fd = c[i].fd, .events = POLLIN};
            if (c[i].answer_at >= 0 && c[i].answer_at - now < wait)
                wait = c[i].answer_at - now < 0 ? 0 : c[i].answer_at - now;
        }
        poll(p, np, (int)wait);
        if (p[0].revents)
            break;
        int npolled = nc; /* p[] describes only these; accepted ones wait for the next poll */
        if (p[1].revents & POLLIN) {
            int fd;
            while (nc < MAXC && (fd = accept4(g_listen, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                c[nc] = (struct sconn){.fd = fd, .answer_at = -1};
                nc++;
            }
        }
        for (int i = 0; i < npolled; i++) {
            if (p[i + 2].revents && c[i].answer_at < 0) {
                ssize_t r = read(c[i].fd, c[i].req + c[i].len, sizeof(c[i].req) - 1 - c[i].len);
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    c[i].answer_at = -2; /* closed */
                } else if (r < 0) {
                    continue;
                } else {
                    c[i].len += (size_t)r;
                    c[i].req[c[i].len] = '\0';
                    if (strstr(c[i].req, "\r\n\r\n")) {
                        if (strncmp(c[i].req, "GET /ok ", 8) == 0) {
                            c[i].answer_at = mono_ms();
                            c[i].body = "hello";
                        } else if (strncmp(c[i].req, "GET /delay/", 11) == 0) {
                            c[i].answer_at = mono_ms() + atol(c[i].req + 11);
                            c[i].body = "late";
                        } else {
                            c[i].answer_at = 1LL << 62; /* hang */
                        }
                    }
                }
            } else if (p[i + 2].revents && c[i].answer_at >= 0) {
                char tmp[256];
                if (read(c[i].fd, tmp, sizeof(tmp)) <= 0)
                    c[i].answer_at = -2; /* the client went away */
            }
        }
        now = mono_ms();
        for (int i = 0; i < nc; i++) {
            if (c[i].answer_at >= 0 && c[i].answer_at <= now) {
                char out[256];
                int n = snprintf(out, sizeof(out),
                                 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n"
                                 "\r\n%s",
                                 strlen(c[i].body), c[i].body);
                ssize_t w = write(c[i].fd, out, (size_t)n);
                (void)w;
                c[i].answer_at = -2;
            }
            if (c[i].answer_at == -2) {
                close(c[i].fd);
                c[i] = c[--nc];
                i--;
            }
        }
    }
    for (int i = 0; i < nc; i++)
        close(c[i].fd);
    return NULL;
}

static int group_setup(void **state)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_listen = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(g_listen, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(g_listen, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(g_listen, 1024) != 0)
        return -1;
    socklen_t al = sizeof(a);
    getsockname(g_listen, (struct sockaddr *)&a, &al);
    g_port = ntohs(a.sin_port);
    if (pipe(g_stop) != 0)
        return -1;
    return pthread_create(&g_thread, NULL, server_main, NULL);
}

static int group_teardown(void **state)
{
    ssize_t w = write(g_stop[1], "x", 1);
    (void)w;
    pthread_join(g_thread, NULL);
    close(g_listen);
    close(g_stop[0]);
    close(g_stop[1]);
    curl_global_cleanup();
    return 0;
}

struct got {
    int calls;
    CURLcode res;
    long status;
    char body[64];
    size_t blen;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct got *g = ud;
    size_t len = sz * n;
    size_t room = sizeof(g->body) - 1 - g->blen;
    memcpy(g->body + g->blen, p, len < room ? len : room);
    g->blen += len < room ? len : room;
    g->body[g->blen] = '\0';
    return len;
}

static CURL *make_easy(const char *path, struct got *g)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", g_port, path);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    return e;
}

static void done_cb(void *opaque, CURL *easy, CURLcode res)
{
    struct got *g = opaque;
    g->calls++;
    g->res = res;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &g->status);
    curl_easy_cleanup(easy);
}

static void run_until(struct httploop *l, int *flag, int want, int max_ms)
{
    long long end = mono_ms() + max_ms;
    while (*flag < want && mono_ms() < end)
        httploop_run(l, 50);
}

static void test_one_get(void **state)
{
    struct httploop *l;
    assert_int_equal(httploop_new(&l), 0);
    struct got g = {0};
    assert_int_equal(httploop_add(l, make_easy("/ok", &g), done_cb, &g), 0);
    assert_int_equal(httploop_active(l), 1);
    run_until(l, &g.calls, 1, 5000);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.res, CURLE_OK);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.body, "hello");
    assert_int_equal(httploop_active(l), 0);
    assert_int_equal(httploop_run(l, 0), 0);
    httploop_free(l);
}

static int g_many_done;
static void many_cb(void *opaque, CURL *easy, CURLcode res)
{
    struct got *g = opaque;
    g->calls++;
    g->res = res;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &g->status);
    curl_easy_cleanup(easy);
    g_many_done++;
}

/* 1000 transfers that each take 300 ms: all held at once, each completes exactly once. If the
 * loop served them one at a time this would take 300 s; the bound below proves concurrency. */
static void test_many_concurrent(void **state)
{
    enum { N = 1000 };
    struct httploop *l;
    assert_int_equal(httploop_new(&l), 0);
    struct got *g = calloc(N, sizeof(*g));
    g_many_done = 0;
    long long t0 = mono_ms();
    for (int i = 0; i < N; i++)
        assert_int_equal(httploop_add(l, make_easy("/delay/300", &g[i]), many_cb, &g[i]), 0);
    assert_int_equal(httploop_active(l), N);
    run_until(l, &g_many_done, N, 60000);
    long long took = mono_ms() - t0;
    assert_int_equal(g_many_done, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(g[i].calls, 1);
        assert_int_equal(g[i].res, CURLE_OK);
        assert_string_equal(g[i].body, "late");
    }
    assert_true(took < 30000);
    free(g);
    httploop_free(l);
}

static void test_cancel(void **state)
{
    struct httploop *l;
    assert_int_equal(httploop_new(&l), 0);
    struct got g = {0}, ok = {0};
    CURL *e = make_easy("/hang", &g);
    assert_int_equal(httploop_add(l, e, done_cb, &g), 0);
    assert_int_equal(httploop_add(l, make_easy("/delay/100", &ok), done_cb, &ok), 0);
    for (int i = 0; i < 3; i++)
        httploop_run(l, 20);
    assert_int_equal(g.calls, 0);
    httploop_cancel(l, e);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.res, CURLE_ABORTED_BY_CALLBACK);
    httploop_cancel(l, e); /* unknown now: no-op (e is freed; only its address is used) */
    run_until(l, &ok.calls, 1, 5000);
    assert_int_equal(ok.res, CURLE_OK);
    assert_int_equal(g.calls, 1);
    assert_int_equal(httploop_active(l), 0);
    httploop_free(l);
}

static void test_curl_timeout(void **state)
{
    struct httploop *l;
    assert_int_equal(httploop_new(&l), 0);
    struct got g = {0};
    CURL *e = make_easy("/hang", &g);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 200L);
    assert_int_equal(httploop_add(l, e, done_cb, &g), 0);
    run_until(l, &g.calls, 1, 5000);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.res, CURLE_OPERATION_TIMEDOUT);
    httploop_free(l);
}

static void test_connection_refused(void **state)
{
    struct httploop *l;
    assert_int_equal(httploop_new(&l), 0);
    struct got g = {0};
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, "http://127.0.0.1:1/");
    assert_int_equal(httploop_add(l, e, done_cb, &g), 0);
    run_until(l, &g.calls, 1, 5000);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.res, CURLE_COULDNT_CONNECT);
    httploop_free(l);
}

static int g_order[8], g_norder;
static void order_cb(void *opaque)
{
    g_order[g_norder++] = (int)(intptr_t)opaque;
}

static struct httploop *g_chain_loop;
static void chain_cb(void *opaque)
{
    g_order[g_norder++] = (int)(intptr_t)opaque;
    if ((intptr_t)opaque < 3)
        httploop_timer(g_chain_loop, 0, chain_cb, (void *)((intptr_t)opaque + 1));
}

static void test_timers(void **state)
{
    struct httploop *l;
    assert_int_equal(httploop_new(&l), 0);
    g_norder = 0;
    long a = httploop_timer(l, 120, order_cb, (void *)1);
    long b = httploop_timer(l, 40, order_cb, (void *)2);
    long c = httploop_timer(l, 80, order_cb, (void *)3);
    long d = httploop_timer(l, 60, order_cb, (void *)4);
    assert_true(a > 0 && b > 0 && c > 0 && d > 0);
    assert_true(a != b && b != c && c != d);
    httploop_timer_cancel(l, d);
    httploop_timer_cancel(l, d); /* twice: no-op */
    assert_int_equal(httploop_active(l), 3);
    long long t0 = mono_ms();
    while (httploop_active(l) > 0 && mono_ms() - t0 < 3000)
        httploop_run(l, 1000);
    assert_int_equal(g_norder, 3);
    assert_int_equal(g_order[0], 2);
    assert_int_equal(g_order[1], 3);
    assert_int_equal(g_order[2], 1);
    assert_true(mono_ms() - t0 >= 115); /* the last one waited its delay */

    /* A timer added with delay 0 from a timer callback runs on a later pass, not this one. */
    g_norder = 0;
    g_chain_loop = l;
    httploop_timer(l, 0, chain_cb, (void *)1);
    httploop_run(l, 0);
    assert_int_equal(g_norder, 1);
    httploop_run(l, 0);
    httploop_run(l, 0);
    assert_int_equal(g_norder, 3);
    assert_int_equal(httploop_active(l), 0);
    httploop_free(l);
}

static void *wake_thread(void *arg)
{
    usleep(100 * 1000);
    httploop_wakeup(arg);
    return NULL;
}

static void test_wakeup(void **state)
{
    struct httploop *l;
    assert_int_equal(httploop_new(&l), 0);
    pthread_t t;
    pthread_create(&t, NULL, wake_thread, l);
    long long t0 = mono_ms();
    httploop_run(l, 10000);
    long long took = mono_ms() - t0;
    pthread_join(t, NULL);
    assert_true(took < 5000);
    httploop_free(l);
}

static struct httploop *g_add_loop;
static struct got g_second;
static void add_again_cb(void *opaque, CURL *easy, CURLcode res)
{
    done_cb(opaque, easy, res);
    assert_int_equal(httploop_add(g_add_loop, make_easy("/ok", &g_second), done_cb, &g_second), 0);
}

static void test_add_from_callback_and_free_in_flight(void **state)
{
    struct httploop *l;
    assert_int_equal(httploop_new(&l), 0);
    g_add_loop = l;
    memset(&g_second, 0, sizeof(g_second));
    struct got first = {0};
    assert_int_equal(httploop_add(l, make_easy("/ok", &first), add_again_cb, &first), 0);
    run_until(l, &g_second.calls, 1, 5000);
    assert_int_equal(first.calls, 1);
    assert_int_equal(g_second.calls, 1);
    assert_string_equal(g_second.body, "hello");

    /* Adding the same handle twice is refused; freeing the loop aborts what is in flight. */
    struct got h1 = {0}, h2 = {0};
    CURL *e = make_easy("/hang", &h1);
    assert_int_equal(httploop_add(l, e, done_cb, &h1), 0);
    assert_true(httploop_add(l, e, done_cb, &h1) < 0);
    assert_int_equal(httploop_add(l, make_easy("/hang", &h2), done_cb, &h2), 0);
    httploop_timer(l, 100000, order_cb, NULL);
    httploop_run(l, 20);
    httploop_free(l);
    assert_int_equal(h1.calls, 1);
    assert_int_equal(h1.res, CURLE_ABORTED_BY_CALLBACK);
    assert_int_equal(h2.calls, 1);
    assert_int_equal(h2.res, CURLE_ABORTED_BY_CALLBACK);
}

/* 700 hanging transfers span three of the loop's multi handles (256 each): every third is
 * cancelled, one /ok added after them still completes, and freeing the loop aborts the rest;
 * each callback runs exactly once with the result that fits. */
static void test_cancel_and_free_across_shards(void **state)
{
    enum { N = 700 };
    struct httploop *l;
    assert_int_equal(httploop_new(&l), 0);
    struct got *g = calloc(N, sizeof(*g));
    CURL **e = calloc(N, sizeof(*e));
    for (int i = 0; i < N; i++) {
        e[i] = make_easy("/hang", &g[i]);
        assert_int_equal(httploop_add(l, e[i], done_cb, &g[i]), 0);
    }
    httploop_run(l, 50);
    int cancelled = 0;
    for (int i = 0; i < N; i += 3, cancelled++)
        httploop_cancel(l, e[i]);
    assert_int_equal(httploop_active(l), N - cancelled);
    struct got ok = {0};
    assert_int_equal(httploop_add(l, make_easy("/ok", &ok), done_cb, &ok), 0);
    run_until(l, &ok.calls, 1, 5000);
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.res, CURLE_OK);
    assert_string_equal(ok.body, "hello");
    httploop_free(l);
    for (int i = 0; i < N; i++) {
        assert_int_equal(g[i].calls, 1);
        assert_int_equal(g[i].res, CURLE_ABORTED_BY_CALLBACK);
    }
    free(e);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_get),
        cmocka_unit_test(test_many_concurrent),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_curl_timeout),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_wakeup),
        cmocka_unit_test(test_add_from_callback_and_free_in_flight),
        cmocka_unit_test(test_cancel_and_free_across_shards),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
