/* Unit tests for common/passmemo: answers are remembered only inside a pass, misses too;
 * copies are the caller's; forget() empties the memo and keeps the pass open; end() closes it;
 * another thread never sees this thread's pass; a full memo stops remembering, never fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passmemo.h"

static void test_outside_a_pass_nothing_is_kept(void **state)
{
    int st = -1;
    char *v = NULL;
    passmemo_put("k", 0, "v", 1);
    assert_int_equal(passmemo_get("k", &st, &v, NULL), 0);
    assert_null(v);
    assert_int_equal(st, -1);
}

static void test_pass_remembers_values_and_misses(void **state)
{
    passmemo_begin();
    int st = -1;
    char *v = NULL;
    size_t len = 0;
    assert_int_equal(passmemo_get("a", &st, &v, &len), 0);
    passmemo_put("a", 0, "{\"x\":1}", 7);
    passmemo_put("miss", 1, NULL, 0);
    assert_int_equal(passmemo_get("a", &st, &v, &len), 1);
    assert_int_equal(st, 0);
    assert_int_equal(len, 7);
    assert_string_equal(v, "{\"x\":1}");
    v[0] = '!'; /* the caller's copy: the memo is not changed */
    free(v);
    v = NULL;
    assert_int_equal(passmemo_get("a", &st, &v, &len), 1);
    assert_string_equal(v, "{\"x\":1}");
    free(v);
    v = (char *)1;
    assert_int_equal(passmemo_get("miss", &st, &v, &len), 1);
    assert_int_equal(st, 1);
    assert_null(v);
    assert_int_equal(len, 0);
    /* status only (pipeline_tenant_active's use) */
    assert_int_equal(passmemo_get("miss", &st, NULL, NULL), 1);

    passmemo_forget();
    assert_int_equal(passmemo_get("a", &st, &v, &len), 0);
    passmemo_put("a", 0, "2", 1); /* still open after forget */
    v = NULL;
    assert_int_equal(passmemo_get("a", &st, &v, &len), 1);
    assert_string_equal(v, "2");
    free(v);

    passmemo_end();
    assert_int_equal(passmemo_get("a", &st, NULL, NULL), 0);
}

static void *other_thread(void *arg)
{
    int st;
    int *seen = arg;
    *seen = passmemo_get("shared", &st, NULL, NULL);
    return NULL;
}

static void test_other_threads_do_not_see_the_pass(void **state)
{
    passmemo_begin();
    passmemo_put("shared", 0, "v", 1);
    int seen = -1;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, &seen), 0);
    pthread_join(t, NULL);
    assert_int_equal(seen, 0);
    int st;
    assert_int_equal(passmemo_get("shared", &st, NULL, NULL), 1);
    passmemo_end();
}

static void test_a_full_memo_stops_remembering(void **state)
{
    passmemo_begin();
    char key[32];
    int kept = 0, st;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        passmemo_put(key, i, NULL, 0);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        if (passmemo_get(key, &st, NULL, NULL)) {
            assert_int_equal(st, i);
            kept++;
        }
    }
    assert_true(kept > 0 && kept < 1000);
    assert_int_equal(passmemo_get("k0", &st, NULL, NULL), 1);
    assert_int_equal(passmemo_get("k999", &st, NULL, NULL), 0);
    passmemo_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside_a_pass_nothing_is_kept),
        cmocka_unit_test(test_pass_remembers_values_and_misses),
        cmocka_unit_test(test_other_threads_do_not_see_the_pass),
        cmocka_unit_test(test_a_full_memo_stops_remembering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
