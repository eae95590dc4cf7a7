/* test_offsets.c — common/stage.c: the per-partition offset tracker and the per-session queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stage.h"

static int64_t next_of(struct stage_offsets *t, const char *topic, int32_t p)
{
    int64_t n = -42;
    int r = stage_offsets_committable(t, topic, p, &n);
    return r == 1 ? n : -1;
}

static void test_in_order_completion(void **state)
{
    (void)state;
    struct stage_offsets *t;
    assert_int_equal(stage_offsets_new(&t), 0);
    assert_int_equal(stage_offsets_committable(t, "a", 0, &(int64_t){0}), -ENOENT);
    for (int64_t o = 10; o < 15; o++)
        assert_int_equal(stage_offsets_add(t, "a", 0, o), 0);
    assert_int_equal(stage_offsets_inflight(t), 5);
    /* Nothing finished: commit point is the oldest in flight, 10. */
    assert_int_equal(next_of(t, "a", 0), 10);
    stage_offsets_committed(t, "a", 0, 10);
    assert_int_equal(next_of(t, "a", 0), -1);
    assert_int_equal(stage_offsets_done(t, "a", 0, 10), 0);
    assert_int_equal(next_of(t, "a", 0), 11);
    for (int64_t o = 11; o < 15; o++)
        assert_int_equal(stage_offsets_done(t, "a", 0, o), 0);
    assert_int_equal(next_of(t, "a", 0), 15);
    assert_int_equal(stage_offsets_inflight(t), 0);
    stage_offsets_free(t);
}

static void test_out_of_order_completion_holds_commit(void **state)
{
    (void)state;
    struct stage_offsets *t;
    assert_int_equal(stage_offsets_new(&t), 0);
    for (int64_t o = 0; o < 5; o++)
        assert_int_equal(stage_offsets_add(t, "a", 0, o), 0);
    /* 1..4 finish, 0 (a slow LLM call) does not: nothing past 0 may be committed. */
    for (int64_t o = 4; o >= 1; o--)
        assert_int_equal(stage_offsets_done(t, "a", 0, o), 0);
    assert_int_equal(next_of(t, "a", 0), 0);
    stage_offsets_committed(t, "a", 0, 0);
    assert_int_equal(next_of(t, "a", 0), -1);
    /* 2 finishes: still held by 0. */
    assert_int_equal(stage_offsets_done(t, "a", 0, 0), 0);
    assert_int_equal(next_of(t, "a", 0), 5);
    stage_offsets_free(t);
}

static void test_middle_unfinished(void **state)
{
    (void)state;
    struct stage_offsets *t;
    assert_int_equal(stage_offsets_new(&t), 0);
    for (int64_t o = 100; o < 110; o++)
        assert_int_equal(stage_offsets_add(t, "a", 0, o), 0);
    for (int64_t o = 100; o < 110; o++)
        if (o != 104)
            assert_int_equal(stage_offsets_done(t, "a", 0, o), 0);
    assert_int_equal(next_of(t, "a", 0), 104);
    assert_int_equal(stage_offsets_inflight(t), 1);
    assert_int_equal(stage_offsets_done(t, "a", 0, 104), 0);
    assert_int_equal(next_of(t, "a", 0), 110);
    stage_offsets_free(t);
}

static void test_gaps_in_offsets(void **state)
{
    (void)state;
    /* Compacted topics and transaction markers leave holes: only seen offsets count. */
    struct stage_offsets *t;
    assert_int_equal(stage_offsets_new(&t), 0);
    assert_int_equal(stage_offsets_add(t, "a", 0, 3), 0);
    assert_int_equal(stage_offsets_add(t, "a", 0, 7), 0);
    assert_int_equal(stage_offsets_add(t, "a", 0, 20), 0);
    assert_int_equal(stage_offsets_done(t, "a", 0, 3), 0);
    assert_int_equal(next_of(t, "a", 0), 7);
    assert_int_equal(stage_offsets_done(t, "a", 0, 20), 0);
    assert_int_equal(next_of(t, "a", 0), 7);
    assert_int_equal(stage_offsets_done(t, "a", 0, 7), 0);
    assert_int_equal(next_of(t, "a", 0), 21);
    stage_offsets_free(t);
}

static void test_partitions_independent(void **state)
{
    (void)state;
    struct stage_offsets *t;
    assert_int_equal(stage_offsets_new(&t), 0);
    assert_int_equal(stage_offsets_add(t, "a", 0, 1), 0);
    assert_int_equal(stage_offsets_add(t, "a", 1, 1), 0);
    assert_int_equal(stage_offsets_add(t, "b", 0, 1), 0);
    assert_int_equal(stage_offsets_done(t, "a", 1, 1), 0);
    assert_int_equal(next_of(t, "a", 0), 1);
    assert_int_equal(next_of(t, "a", 1), 2);
    assert_int_equal(next_of(t, "b", 0), 1);
    /* Wrong partition or topic: unknown. */
    assert_int_equal(stage_offsets_done(t, "a", 2, 1), -ENOENT);
    assert_int_equal(stage_offsets_done(t, "c", 0, 1), -ENOENT);
    stage_offsets_free(t);
}

static void test_duplicates_and_unknown(void **state)
{
    (void)state;
    struct stage_offsets *t;
    assert_int_equal(stage_offsets_new(&t), 0);
    assert_int_equal(stage_offsets_add(t, "a", 0, 5), 0);
    assert_int_equal(stage_offsets_add(t, "a", 0, 5), -EEXIST);
    assert_int_equal(stage_offsets_done(t, "a", 0, 6), -ENOENT);
    assert_int_equal(stage_offsets_done(t, "a", 0, 5), 0);
    /* Finishing twice is harmless and counts once. */
    assert_int_equal(stage_offsets_done(t, "a", 0, 5), -ENOENT);
    assert_int_equal(stage_offsets_inflight(t), 0);
    stage_offsets_free(t);
}

static void test_out_of_order_arrival(void **state)
{
    (void)state;
    struct stage_offsets *t;
    assert_int_equal(stage_offsets_new(&t), 0);
    assert_int_equal(stage_offsets_add(t, "a", 0, 10), 0);
    assert_int_equal(stage_offsets_add(t, "a", 0, 12), 0);
    assert_int_equal(stage_offsets_add(t, "a", 0, 11), 0); /* after a seek */
    assert_int_equal(stage_offsets_done(t, "a", 0, 10), 0);
    assert_int_equal(stage_offsets_done(t, "a", 0, 12), 0);
    assert_int_equal(next_of(t, "a", 0), 11);
    assert_int_equal(stage_offsets_done(t, "a", 0, 11), 0);
    assert_int_equal(next_of(t, "a", 0), 13);
    stage_offsets_free(t);
}

static void test_revoked_partition_dropped(void **state)
{
    (void)state;
    struct stage_offsets *t;
    assert_int_equal(stage_offsets_new(&t), 0);
    for (int64_t o = 0; o < 3; o++)
        assert_int_equal(stage_offsets_add(t, "a", 0, o), 0);
    assert_int_equal(stage_offsets_add(t, "a", 1, 0), 0);
    stage_offsets_drop(t, "a", 0);
    assert_int_equal(stage_offsets_inflight(t), 1);
    /* A job of the revoked partition finishing later commits nothing. */
    assert_int_equal(stage_offsets_done(t, "a", 0, 1), -ENOENT);
    assert_int_equal(stage_offsets_committable(t, "a", 0, &(int64_t){0}), -ENOENT);
    assert_int_equal(next_of(t, "a", 1), 0);
    /* Reassigned: a fresh tracker. */
    assert_int_equal(stage_offsets_add(t, "a", 0, 1), 0);
    assert_int_equal(next_of(t, "a", 0), 1);
    stage_offsets_drop(t, "zzz", 9); /* unknown: no-op */
    stage_offsets_free(t);
}

struct seen {
    char topic[16];
    int32_t part;
    int64_t next;
    int n;
};

static void collect(void *opaque, const char *topic, int32_t partition, int64_t next)
{
    struct seen *s = opaque;
    snprintf(s[s->n].topic, sizeof(s[0].topic), "%s", topic);
    s[s->n].part = partition;
    s[s->n].next = next;
    s[0].n++;
    s->n = s[0].n;
}

static void test_foreach_committable(void **state)
{
    (void)state;
    struct stage_offsets *t;
    assert_int_equal(stage_offsets_new(&t), 0);
    assert_int_equal(stage_offsets_add(t, "a", 0, 0), 0);
    assert_int_equal(stage_offsets_add(t, "a", 1, 7), 0);
    assert_int_equal(stage_offsets_done(t, "a", 1, 7), 0);
    struct seen s[4];
    memset(s, 0, sizeof(s));
    assert_int_equal(stage_offsets_foreach_committable(t, collect, s), 2);
    stage_offsets_committed(t, "a", 0, 0);
    stage_offsets_committed(t, "a", 1, 8);
    assert_int_equal(stage_offsets_foreach_committable(t, NULL, NULL), 0);
    /* Committed never goes backwards. */
    stage_offsets_committed(t, "a", 1, 3);
    assert_int_equal(next_of(t, "a", 1), -1);
    stage_offsets_free(t);
}

static void test_many_random_completions(void **state)
{
    (void)state;
    /* 5000 offsets finishing in a shuffled order: the commit point is always the smallest
     * unfinished offset, checked against a plain bitmap. */
    enum { N = 5000 };
    static int done[N];
    static int order[N];
    memset(done, 0, sizeof(done));
    struct stage_offsets *t;
    assert_int_equal(stage_offsets_new(&t), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(stage_offsets_add(t, "t", 3, 1000 + i), 0);
        order[i] = i;
    }
    srand(12345);
    for (int i = N - 1; i > 0; i--) {
        int k = rand() % (i + 1);
        int tmp = order[i];
        order[i] = order[k];
        order[k] = tmp;
    }
    int low = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(stage_offsets_done(t, "t", 3, 1000 + order[i]), 0);
        done[order[i]] = 1;
        while (low < N && done[low])
            low++;
        if (i % 97 == 0 || i == N - 1) {
            int64_t n = 0;
            int r = stage_offsets_committable(t, "t", 3, &n);
            assert_int_equal(r, 1);
            assert_int_equal(n, 1000 + low);
        }
    }
    assert_int_equal(stage_offsets_inflight(t), 0);
    assert_int_equal(next_of(t, "t", 3), 1000 + N);
    stage_offsets_free(t);
}

/* ---- per-session queue ---------------------------------------------------------------------- */

static void test_sessions_fifo(void **state)
{
    (void)state;
    struct stage_sessions *s;
    int a = 1, b = 2, c = 3, d = 4;
    assert_int_equal(stage_sessions_new(&s), 0);
    assert_int_equal(stage_sessions_push(s, "s1", &a), 1); /* runs now */
    assert_int_equal(stage_sessions_push(s, "s1", &b), 0); /* waits */
    assert_int_equal(stage_sessions_push(s, "s2", &c), 1); /* other session: runs */
    assert_int_equal(stage_sessions_push(s, "s1", &d), 0);
    assert_int_equal(stage_sessions_len(s, "s1"), 3);
    assert_int_equal(stage_sessions_len(s, "s2"), 1);
    assert_int_equal(stage_sessions_keys(s), 2);
    assert_ptr_equal(stage_sessions_pop(s, "s1"), &b);
    assert_ptr_equal(stage_sessions_pop(s, "s1"), &d);
    assert_null(stage_sessions_pop(s, "s1"));
    assert_int_equal(stage_sessions_len(s, "s1"), 0);
    assert_int_equal(stage_sessions_keys(s), 1);
    /* A new job of a drained session runs at once. */
    assert_int_equal(stage_sessions_push(s, "s1", &a), 1);
    assert_null(stage_sessions_pop(s, "s2"));
    assert_null(stage_sessions_pop(s, "nope"));
    stage_sessions_free(s);
}

static int freed;
static void count_free(void *item)
{
    (void)item;
    freed++;
}

static void test_sessions_many_keys_and_clear(void **state)
{
    (void)state;
    struct stage_sessions *s;
    assert_int_equal(stage_sessions_new(&s), 0);
    static int items[10000];
    char key[32];
    /* 5000 sessions x 2 jobs: hash chains are exercised well beyond the bucket count. */
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "sess-%d", i % 5000);
        assert_int_equal(stage_sessions_push(s, key, &items[i]), i < 5000 ? 1 : 0);
    }
    assert_int_equal(stage_sessions_keys(s), 5000);
    for (int i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof(key), "sess-%d", i);
        assert_ptr_equal(stage_sessions_pop(s, key), &items[i + 5000]);
        assert_null(stage_sessions_pop(s, key));
    }
    assert_int_equal(stage_sessions_keys(s), 2500);
    freed = 0;
    stage_sessions_clear(s, count_free);
    assert_int_equal(freed, 5000);
    assert_int_equal(stage_sessions_keys(s), 0);
    stage_sessions_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_completion),
        cmocka_unit_test(test_out_of_order_completion_holds_commit),
        cmocka_unit_test(test_middle_unfinished),
        cmocka_unit_test(test_gaps_in_offsets),
        cmocka_unit_test(test_partitions_independent),
        cmocka_unit_test(test_duplicates_and_unknown),
        cmocka_unit_test(test_out_of_order_arrival),
        cmocka_unit_test(test_revoked_partition_dropped),
        cmocka_unit_test(test_foreach_committable),
        cmocka_unit_test(test_many_random_completions),
        cmocka_unit_test(test_sessions_fifo),
        cmocka_unit_test(test_sessions_many_keys_and_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
