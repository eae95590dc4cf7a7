/* Unit tests for common/traceparent: W3C parsing rules, formatting, new traces, child spans. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "traceparent.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define SPAN "00f067aa0ba902b7"

static void test_parse_valid(void **state)
{
    struct traceparent tp;
    char out[TRACEPARENT_LEN];
    assert_int_equal(traceparent_parse("00-" TRACE "-" SPAN "-01", &tp), 0);
    assert_string_equal(tp.trace_id, TRACE);
    assert_string_equal(tp.parent_id, SPAN);
    assert_int_equal(tp.flags, 1);
    traceparent_format(&tp, out);
    assert_string_equal(out, "00-" TRACE "-" SPAN "-01");
    assert_int_equal(strlen(out), 55);
    assert_int_equal(traceparent_parse("00-" TRACE "-" SPAN "-00", &tp), 0);
    assert_int_equal(tp.flags, 0);
    assert_int_equal(traceparent_parse("00-" TRACE "-" SPAN "-ff", &tp), 0);
    assert_int_equal(tp.flags, 0xff);
}

static void test_parse_invalid(void **state)
{
    struct traceparent tp;
    const char *bad[] = {
        "",
        "00-" TRACE "-" SPAN,                              /* no flags */
        "00-" TRACE "-" SPAN "-0",                         /* short flags */
        "00-" TRACE "-" SPAN "-01-extra",                  /* v00 is exactly 55 */
        "00-" TRACE "-" SPAN "-01 ",                       /* trailing space */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" SPAN "-01", /* uppercase */
        "00-" TRACE "-00F067AA0BA902B7-01",                /* uppercase */
        "00-00000000000000000000000000000000-" SPAN "-01", /* zero trace id */
        "00-" TRACE "-0000000000000000-01",                /* zero parent id */
        "ff-" TRACE "-" SPAN "-01",                        /* version ff */
        "0g-" TRACE "-" SPAN "-01",                        /* non-hex version */
        "00_" TRACE "-" SPAN "-01",                        /* wrong separator */
        "00-" TRACE "x" SPAN "-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-" SPAN "0-01", /* field lengths */
        "00-" TRACE "-" SPAN "-0x",
        "01-" TRACE "-" SPAN "-01x", /* future: dash needed */
        NULL,
    };
    int i;
    for (i = 0; bad[i]; i++)
        if (traceparent_parse(bad[i], &tp) == 0)
            fail_msg("accepted: \"%s\"", bad[i]);
    assert_int_equal(traceparent_parse(NULL, &tp), -1);
}

static void test_future_version(void **state)
{
    struct traceparent tp;
    assert_int_equal(traceparent_parse("cc-" TRACE "-" SPAN "-01", &tp), 0);
    assert_int_equal(traceparent_parse("cc-" TRACE "-" SPAN "-01-what-the-future-holds", &tp), 0);
    assert_string_equal(tp.trace_id, TRACE);
}

static void test_new_and_child(void **state)
{
    struct traceparent a, b, c, parsed;
    char s[TRACEPARENT_LEN];
    assert_int_equal(traceparent_new(&a), 0);
    assert_int_equal(traceparent_new(&b), 0);
    assert_int_equal(strlen(a.trace_id), 32);
    assert_int_equal(strlen(a.parent_id), 16);
    assert_int_equal(a.flags, 1);
    assert_string_not_equal(a.trace_id, b.trace_id);
    traceparent_format(&a, s);
    assert_int_equal(traceparent_parse(s, &parsed), 0);
    assert_string_equal(parsed.trace_id, a.trace_id);

    assert_int_equal(traceparent_child(&a, &c), 0);
    assert_string_equal(c.trace_id, a.trace_id);
    assert_string_not_equal(c.parent_id, a.parent_id);
    assert_int_equal(c.flags, a.flags);
    /* in place */
    b = a;
    assert_int_equal(traceparent_child(&b, &b), 0);
    assert_string_equal(b.trace_id, a.trace_id);
    assert_string_not_equal(b.parent_id, a.parent_id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_future_version),
        cmocka_unit_test(test_new_and_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
