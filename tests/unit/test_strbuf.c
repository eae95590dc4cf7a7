/* Unit tests for common/strbuf: appends, NUL termination, growth, NULL and empty adds, the
 * size cap (sticky failure: the text is freed, later adds do nothing), cleanup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

static void test_append_and_terminate(void **state)
{
    (void)state;
    struct strbuf b = {0};
    strbuf_adds(&b, "hello");
    strbuf_add(&b, ", world!!", 7);
    assert_false(b.oom);
    assert_int_equal(b.len, 12);
    assert_string_equal(b.p, "hello, world");
    strbuf_cleanup(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

static void test_empty_and_null_adds(void **state)
{
    (void)state;
    struct strbuf b = {0};
    strbuf_adds(&b, NULL);
    assert_null(b.p); /* NULL adds nothing, not even the terminator */
    strbuf_add(&b, NULL, 0);
    assert_non_null(b.p); /* an empty add makes an empty string */
    assert_string_equal(b.p, "");
    strbuf_cleanup(&b);
}

static void test_growth_keeps_bytes(void **state)
{
    (void)state;
    struct strbuf b = {0};
    for (int i = 0; i < 10000; i++)
        strbuf_add(&b, i % 2 ? "b" : "a\0", i % 2 ? 1 : 2); /* embedded NULs kept */
    assert_false(b.oom);
    assert_int_equal(b.len, 15000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.p[0], 'a');
    assert_int_equal(b.p[1], '\0');
    assert_int_equal(b.p[2], 'b');
    assert_int_equal(b.p[b.len], '\0');
    strbuf_cleanup(&b);
}

static void test_cap_is_sticky(void **state)
{
    (void)state;
    struct strbuf b = {0};
    strbuf_adds(&b, "abc");
    b.len = STRBUF_MAX - 2; /* pretend it is nearly full; nothing is written past cap */
    strbuf_add(&b, "xy", 2);
    assert_true(b.oom);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    strbuf_adds(&b, "more");
    assert_null(b.p);
    assert_true(b.oom);
    strbuf_cleanup(&b);
    assert_false(b.oom);
    strbuf_adds(&b, "again");
    assert_string_equal(b.p, "again");
    strbuf_cleanup(&b);
}

static void test_pg_array_elems(void **state)
{
    (void)state;
    struct strbuf b = {0};
    strbuf_add_pg_array_elem(&b, "plain", 1);
    strbuf_add_pg_array_elem(&b, NULL, 0);
    strbuf_add_pg_array_elem(&b, "say \"hi\" \\ bye", 0);
    strbuf_add_pg_array_elem(&b, "", 0);
    assert_false(b.oom);
    assert_string_equal(b.p, "\"plain\",NULL,\"say \\\"hi\\\" \\\\ bye\",\"\"");
    strbuf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_terminate), cmocka_unit_test(test_empty_and_null_adds),
        cmocka_unit_test(test_growth_keeps_bytes),   cmocka_unit_test(test_cap_is_sticky),
        cmocka_unit_test(test_pg_array_elems),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
