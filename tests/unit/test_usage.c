/* test_usage.c — the pure parts of the accounting (llm/usage.c) and of the ingress's request
 * limits (ingress/limits.c): cost at a price, which price a model gets, the budget period and
 * its reset, micro-dollars, the sliding-window estimate and Retry-After. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../ingress/limits.c"

static void test_cost(void **state)
{
    (void)state;
    struct usage_price p = {"gpt-4o", 2.50, 10.00};
    /* 1M in + 1M out = 2.50 + 10.00 */
    assert_true(fabs(usage_cost(1000000, 1000000, &p) - 12.5) < 1e-9);
    /* 1234 in, 567 out: (1234 * 2.5 + 567 * 10) / 1e6 */
    assert_true(fabs(usage_cost(1234, 567, &p) - 0.008755) < 1e-12);
    assert_true(usage_cost(1000, 1000, NULL) == 0);
    assert_true(usage_cost(-5, -5, &p) == 0); /* nonsense counts cost nothing */
    assert_int_equal(usage_micros(0.008755), 8755);
    assert_int_equal(usage_micros(0.0000004), 0);
    assert_int_equal(usage_micros(0.0000005), 1); /* half up */
    assert_int_equal(usage_micros(-1), 0);
}

static void test_price_match(void **state)
{
    (void)state;
    struct usage_price t[] = {{"gpt-4o", 2.5, 10},
                              {"gpt-4o-mini", 0.15, 0.6},
                              {"claude-3-5-sonnet", 3, 15},
                              {"standin-1", 1, 2}};
    assert_ptr_equal(usage_price_match(t, 4, "gpt-4o"), &t[0]);
    assert_ptr_equal(usage_price_match(t, 4, "gpt-4o-mini"), &t[1]);
    /* the longest prefix wins */
    assert_ptr_equal(usage_price_match(t, 4, "gpt-4o-mini-2024-07-18"), &t[1]);
    assert_ptr_equal(usage_price_match(t, 4, "gpt-4o-2024-08-06"), &t[0]);
    assert_ptr_equal(usage_price_match(t, 4, "claude-3-5-sonnet-20241022"), &t[2]);
    /* the stand-in's options are not part of the model */
    assert_ptr_equal(usage_price_match(t, 4, "standin-1@ttft=10,key=x"), &t[3]);
    assert_null(usage_price_match(t, 4, "gpt-4"));
    assert_null(usage_price_match(t, 4, "llama3"));
    assert_null(usage_price_match(t, 4, NULL));
    assert_null(usage_price_match(t, 0, "gpt-4o"));
}

static void test_period(void **state)
{
    (void)state;
    char p[8];
    long reset = 0;
    /* 2026-12-04T17:00:00Z -> 2026-12, resets 2027-01-01T00:00:00Z */
    usage_period(1796403600, p, &reset);
    assert_string_equal(p, "2026-12");
    assert_int_equal(1796403600 + reset, 1798761600);
    /* the last second of February 2028 (leap year) */
    usage_period(1835481599, p, &reset);
    assert_string_equal(p, "2028-02");
    assert_int_equal(reset, 1);
    usage_period(1835481600, p, &reset);
    assert_string_equal(p, "2028-03");
}

/* The ingress's budget check reads the keys the recorder writes: one spelling of each. */
static void test_keys(void **state)
{
    (void)state;
    char k[64];
    assert_int_equal(usage_limits_key(k, sizeof k, "acme"), 22);
    assert_string_equal(k, "agenthub:{acme}:limits");
    assert_int_equal(usage_spent_key(k, sizeof k, "acme", "2026-12"), 35);
    assert_string_equal(k, "agenthub:{acme}:usage:spent:2026-12");
    /* cut short: the count says so and the key stays terminated */
    char small[16];
    assert_true(usage_spent_key(small, sizeof small, "acme", "2026-12") >= (int)sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
}

static void test_window_estimate(void **state)
{
    (void)state;
    /* the previous bucket counts in proportion to how much of it is still in the window */
    assert_true(fabs(limits_estimate(10, 0, 0, 60000) - 10) < 1e-9);
    assert_true(fabs(limits_estimate(10, 0, 30000, 60000) - 5) < 1e-9);
    assert_true(fabs(limits_estimate(10, 4, 45000, 60000) - 6.5) < 1e-9);
    assert_true(fabs(limits_estimate(10, 4, 60000, 60000) - 4) < 1e-9);
    assert_true(fabs(limits_estimate(0, 7, 12345, 60000) - 7) < 1e-9);
}

static void test_retry_after(void **state)
{
    (void)state;
    /* fits: no wait */
    assert_int_equal(limits_retry_after_ms(0, 5, 1000, 60000, 10), 0);
    /* a burst from idle filled the bucket: wait for the next bucket, where this one weighs
     * (60 - s) / 60 * 10 + 1 <= 10 -> s >= 6 s */
    assert_int_equal(limits_retry_after_ms(0, 10, 20000, 60000, 10), 40000 + 6000);
    /* cur 5 and prev 10 at 30 s: 5 + 10 * (60 - e) / 60 + 1 <= 10 -> e >= 36 s */
    assert_int_equal(limits_retry_after_ms(10, 5, 30000, 60000, 10), 6000);
    /* the answer really is the first moment that fits */
    for (long prev = 0; prev <= 30; prev += 3)
        for (long cur = 0; cur <= 12; cur++)
            for (long el = 0; el < 60000; el += 7919) {
                long w = limits_retry_after_ms(prev, cur, el, 60000, 10);
                if (w == 0) {
                    assert_true(limits_estimate(prev, cur, el, 60000) + 1 <= 10);
                    continue;
                }
                long t = el + w;
                double after = t < 60000 ? limits_estimate(prev, cur, t, 60000)
                                         : limits_estimate(cur, 0, t - 60000, 60000);
                assert_true(after + 1 <= 10 + 1e-9);
            }
}

static void test_headers(void **state)
{
    (void)state;
    char buf[160];
    struct limits_req l = {.code = LIMITS_OK, .limit = 10, .remaining = 3, .reset_s = 42};
    limits_headers(&l, buf, sizeof buf);
    assert_string_equal(buf, "X-RateLimit-Limit: 10\r\nX-RateLimit-Remaining: 3\r\n"
                             "X-RateLimit-Reset: 42\r\n");
    l.limit = 0; /* no limit configured: no headers */
    limits_headers(&l, buf, sizeof buf);
    assert_string_equal(buf, "");
    l.limit = 10;
    l.code = LIMITS_UNCHECKED; /* Redis down: nothing to say */
    limits_headers(&l, buf, sizeof buf);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost),        cmocka_unit_test(test_price_match),
        cmocka_unit_test(test_period),      cmocka_unit_test(test_window_estimate),
        cmocka_unit_test(test_retry_after), cmocka_unit_test(test_headers),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
