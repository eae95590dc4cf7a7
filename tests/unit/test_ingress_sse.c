/* test_ingress_sse.c — the wake-up hub of ingress/sse.c: a notification that arrives before
 * the wait is kept, waits time out, every waiter of a job is woken and no other, shutdown
 * wakes everyone; plus the SSE wire helpers. The route's collaborators are stubbed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../ingress/sse.c"

/* ---- stubs for what sse.c's route uses from the rest of the ingress ------------------------ */
int req_auth_tenant(struct req *r, const char *tenant)
{
    return -1;
}
void reply_error(struct req *r, int status, const char *code, const char *message)
{
}
void reply_stream_start(struct req *r, const char *ctype)
{
}
int stream_write(struct req *r, const char *buf, size_t len)
{
    return -1;
}
int req_query(const struct req *r, const char *name, char *buf, size_t cap)
{
    return -1;
}
int job_load(struct req *r, const char *tenant, const char *job_id, json_object **job)
{
    return -1;
}
double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define JOB_A "11111111-1111-4111-8111-111111111111"
#define JOB_B "22222222-2222-4222-8222-222222222222"

static void test_notify_before_wait_is_kept(void **state)
{
    struct sse_hub *h;
    assert_int_equal(sse_hub_new(&h), 0);
    struct sse_waiter *w = sse_hub_register(h, JOB_A);
    assert_non_null(w);
    sse_hub_notify(h, JOB_A);
    double t0 = now_mono();
    assert_int_equal(sse_hub_wait(h, w, 5000), 1);
    assert_true(now_mono() - t0 < 1.0);
    /* consumed: the next wait times out */
    assert_int_equal(sse_hub_wait(h, w, 50), 0);
    sse_hub_unregister(h, w);
    sse_hub_free(h);
}

static void test_other_job_does_not_wake(void **state)
{
    struct sse_hub *h;
    assert_int_equal(sse_hub_new(&h), 0);
    struct sse_waiter *w = sse_hub_register(h, JOB_A);
    sse_hub_notify(h, JOB_B);
    double t0 = now_mono();
    assert_int_equal(sse_hub_wait(h, w, 100), 0);
    assert_true(now_mono() - t0 >= 0.09);
    assert_int_equal(sse_hub_waiters(h), 1);
    sse_hub_unregister(h, w);
    assert_int_equal(sse_hub_waiters(h), 0);
    sse_hub_free(h);
}

struct waiter_arg {
    struct sse_hub *h;
    struct sse_waiter *w;
    int got;
};

static void *wait_thread(void *p)
{
    struct waiter_arg *a = p;
    a->got = sse_hub_wait(a->h, a->w, 5000);
    return NULL;
}

static void test_all_waiters_of_a_job_wake(void **state)
{
    struct sse_hub *h;
    enum { N = 64 };
    pthread_t th[N];
    struct waiter_arg args[N];
    assert_int_equal(sse_hub_new(&h), 0);
    for (int i = 0; i < N; i++) {
        args[i].h = h;
        args[i].w = sse_hub_register(h, i % 2 ? JOB_A : JOB_B);
        args[i].got = -1;
        assert_int_equal(pthread_create(&th[i], NULL, wait_thread, &args[i]), 0);
    }
    assert_int_equal(sse_hub_waiters(h), N);
    usleep(50000);
    sse_hub_notify(h, JOB_A);
    usleep(200000);
    /* the JOB_B waiters are still waiting: shutdown releases them */
    int woke_a = 0;
    for (int i = 1; i < N; i += 2)
        woke_a += args[i].got == 1;
    assert_int_equal(woke_a, N / 2);
    for (int i = 0; i < N; i += 2)
        assert_int_equal(args[i].got, -1);
    sse_hub_shutdown(h);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(args[i].got, 1);
        sse_hub_unregister(h, args[i].w);
    }
    assert_true(sse_hub_is_shutdown(h));
    /* after shutdown a wait returns at once */
    struct sse_waiter *w = sse_hub_register(h, JOB_A);
    double t0 = now_mono();
    assert_int_equal(sse_hub_wait(h, w, 5000), 1);
    assert_true(now_mono() - t0 < 1.0);
    sse_hub_unregister(h, w);
    sse_hub_free(h);
}

static void test_unregister_middle_of_bucket(void **state)
{
    struct sse_hub *h;
    struct sse_waiter *w[5];
    assert_int_equal(sse_hub_new(&h), 0);
    for (int i = 0; i < 5; i++)
        w[i] = sse_hub_register(h, JOB_A);
    sse_hub_unregister(h, w[2]);
    sse_hub_unregister(h, w[0]);
    sse_hub_unregister(h, w[4]);
    sse_hub_notify(h, JOB_A);
    assert_int_equal(sse_hub_wait(h, w[1], 10), 1);
    assert_int_equal(sse_hub_wait(h, w[3], 10), 1);
    sse_hub_unregister(h, w[1]);
    sse_hub_unregister(h, w[3]);
    assert_int_equal(sse_hub_waiters(h), 0);
    sse_hub_free(h);
}

static void test_stream_ids(void **state)
{
    assert_true(sse_id_valid("0"));
    assert_true(sse_id_valid("1795618585434-0"));
    assert_true(sse_id_valid("1-12"));
    assert_false(sse_id_valid(""));
    assert_false(sse_id_valid("-1"));
    assert_false(sse_id_valid("1-"));
    assert_false(sse_id_valid("abc"));
    assert_false(sse_id_valid("1-2-3"));
    assert_false(sse_id_valid("1795618585434-0\r\nevil: x"));
    assert_false(sse_id_valid("99999999999999999999-99999999999999999999x"));
}

static void test_event_format(void **state)
{
    size_t n = 0;
    char *t = sse_event_format("1-0", "delta", "{\"text\":\"hi\"}", &n);
    assert_string_equal(t, "id: 1-0\nevent: delta\ndata: {\"text\":\"hi\"}\n\n");
    assert_int_equal(n, strlen(t));
    free(t);
    /* Every line of the data is its own data: line; CRLF and bare CR-before-LF do not leak. */
    t = sse_event_format("2-1", "final", "a\r\nb\n\nc", &n);
    assert_string_equal(t, "id: 2-1\nevent: final\ndata: a\ndata: b\ndata: \ndata: c\n\n");
    assert_int_equal(n, strlen(t));
    free(t);
    t = sse_event_format("3-0", "error", "", &n);
    assert_string_equal(t, "id: 3-0\nevent: error\ndata: \n\n");
    free(t);
}

static void test_event_data_text(void **state)
{
    json_object *o = json_tokener_parse("{\"text\":\"a/b\",\"n\":1}");
    assert_string_equal(event_data_text(o), "{\"text\":\"a/b\",\"n\":1}");
    json_object_put(o);
    o = json_object_new_string("line1\nline2");
    assert_string_equal(event_data_text(o), "line1\nline2");
    json_object_put(o);
    assert_string_equal(event_data_text(NULL), "null");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_before_wait_is_kept),
        cmocka_unit_test(test_other_job_does_not_wake),
        cmocka_unit_test(test_all_waiters_of_a_job_wake),
        cmocka_unit_test(test_unregister_middle_of_bucket),
        cmocka_unit_test(test_stream_ids),
        cmocka_unit_test(test_event_format),
        cmocka_unit_test(test_event_data_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
