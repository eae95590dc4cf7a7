/* Integration tests for common/kafka against a running broker (KAFKA_BROKERS, normally the
 * dev broker of compose/local/stack; tests/run.sh exports it).
 *
 * Round trip with headers, commit-then-resume in the same group, two consumers splitting a
 * topic (cooperative rebalance, on_revoke), dead letters with their x-* headers, topic
 * creation, ping, produce_sync bounded against an unreachable broker, and recovery after the
 * stack takes the broker down and up again (`compose/local/stack stop|start kafka`).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kafka.h"
#include "log.h"

static const char *g_brokers;
static char g_run[32]; /* unique per run: topics and groups never collide with earlier runs */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void name(char *buf, size_t cap, const char *what)
{
    snprintf(buf, cap, "agenthub.test.%s.%s", what, g_run);
}

static struct kafka_producer *producer(void)
{
    struct kafka_producer *p = NULL;
    char err[256] = "";
    int rc = kafka_producer_new(&p, g_brokers, err, sizeof(err));
    if (rc != 0)
        fail_msg("kafka_producer_new: %s", err);
    return p;
}

struct revokes {
    int calls;
    int partitions;
};

static void count_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts)
{
    struct revokes *r = opaque;
    r->calls++;
    r->partitions += parts->cnt;
}

static struct kafka_consumer *consumer(const char *group, const char *topic, struct revokes *r)
{
    struct kafka_consumer *c = NULL;
    const char *topics[] = {topic};
    struct kafka_consumer_opts o = {
        .brokers = g_brokers,
        .group_id = group,
        .topics = topics,
        .ntopics = 1,
        .offset_reset = "earliest",
        .on_revoke = r ? count_revoke : NULL,
        .opaque = r,
    };
    char err[256] = "";
    if (kafka_consumer_new(&c, &o, err, sizeof(err)) != 0)
        fail_msg("kafka_consumer_new: %s", err);
    return c;
}

/* Polls until a message arrives or timeout_ms passes. */
static rd_kafka_message_t *next_msg(struct kafka_consumer *c, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    while (now_ms() < end) {
        rd_kafka_message_t *m = kafka_consumer_poll(c, 200);
        if (m)
            return m;
    }
    return NULL;
}

static void ensure(struct kafka_producer *p, const char *topic, int parts)
{
    char err[256] = "";
    int rc = kafka_topic_ensure(p, topic, parts, 10000, err, sizeof(err));
    if (rc != 0)
        fail_msg("kafka_topic_ensure %s: %s", topic, err);
}

static int partition_count(struct kafka_producer *p, const char *topic)
{
    (void)p;
    /* A separate plain handle: the wrapper keeps its rd_kafka_t private. */
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", g_brokers, e, sizeof(e));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    assert_non_null(rk);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    /* All topics: asking for this one alone would create it on an auto-creating broker. */
    if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < md->topic_cnt; i++) {
            if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
                n = md->topics[i].partition_cnt;
        }
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return n;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_round_trip_with_headers(void **state)
{
    (void)state;
    char topic[128], group[128], err[256] = "", buf[128];
    name(topic, sizeof(topic), "roundtrip");
    name(group, sizeof(group), "g-roundtrip");
    struct kafka_producer *p = producer();
    ensure(p, topic, 2);

    struct kafka_header h[] = {
        {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        {"x-tenant", "tenant-a"},
        {"x-empty", ""}};
    const char *val = "{\"hello\":\"world\"}";
    assert_int_equal(
        kafka_produce_sync(p, topic, "session-1", val, strlen(val), h, 3, 10000, err, sizeof(err)),
        0);

    struct kafka_consumer *c = consumer(group, topic, NULL);
    rd_kafka_message_t *m = next_msg(c, 30000);
    assert_non_null(m);
    assert_int_equal(m->len, strlen(val));
    assert_memory_equal(m->payload, val, m->len);
    assert_int_equal(m->key_len, strlen("session-1"));
    assert_memory_equal(m->key, "session-1", m->key_len);
    assert_int_equal(kafka_msg_header(m, "x-tenant", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "tenant-a");
    assert_int_equal(kafka_msg_header(m, "traceparent", buf, sizeof(buf)), 0);
    assert_string_equal(buf, h[0].value);
    assert_int_equal(kafka_msg_header(m, "x-empty", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(kafka_msg_header(m, "x-missing", buf, sizeof(buf)), -1);
    /* Too small a buffer is not a silently truncated value. */
    assert_true(kafka_msg_header(m, "x-tenant", buf, 4) < 0);
    rd_kafka_message_destroy(m);
    kafka_consumer_free(c);
    kafka_producer_free(p);
}

struct delivered {
    int calls;
    int err;
};

static void on_delivery(void *opaque, int err, const char *errstr)
{
    (void)errstr;
    struct delivered *d = opaque;
    d->calls++;
    d->err = err;
}

static void test_async_produce_calls_back_once(void **state)
{
    (void)state;
    char topic[128];
    name(topic, sizeof(topic), "async");
    struct kafka_producer *p = producer();
    ensure(p, topic, 1);
    struct delivered d[5];
    memset(d, 0, sizeof(d));
    for (int i = 0; i < 5; i++)
        assert_int_equal(kafka_produce(p, topic, "k", "v", 1, NULL, 0, on_delivery, &d[i]), 0);
    assert_int_equal(kafka_producer_flush(p, 10000), 0);
    /* The poller thread ran the callbacks; flush returned after the last report. */
    long long end = now_ms() + 5000;
    int total;
    do {
        total = 0;
        for (int i = 0; i < 5; i++)
            total += d[i].calls;
    } while (total < 5 && now_ms() < end && usleep(10000) == 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(d[i].calls, 1);
        assert_int_equal(d[i].err, 0);
    }
    kafka_producer_free(p);
}

struct chained {
    struct kafka_producer *p;
    const char *topic;
    int rc;
    int done;
};

static void produce_from_callback(void *opaque, int err, const char *errstr)
{
    (void)errstr;
    struct chained *c = opaque;
    char e[256] = "";
    /* Runs on the producer's poller thread: a sync produce here must not wait for itself. */
    c->rc =
        err ? -1000
            : kafka_produce_sync(c->p, c->topic, "k", "second", 6, NULL, 0, 10000, e, sizeof(e));
    __atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
}

static void test_produce_sync_from_delivery_callback(void **state)
{
    (void)state;
    char topic[128];
    name(topic, sizeof(topic), "chained");
    struct kafka_producer *p = producer();
    ensure(p, topic, 1);
    struct chained c = {p, topic, -1, 0};
    assert_int_equal(kafka_produce(p, topic, "k", "first", 5, NULL, 0, produce_from_callback, &c),
                     0);
    long long end = now_ms() + 20000;
    while (!__atomic_load_n(&c.done, __ATOMIC_SEQ_CST) && now_ms() < end)
        usleep(10000);
    assert_int_equal(__atomic_load_n(&c.done, __ATOMIC_SEQ_CST), 1);
    assert_int_equal(c.rc, 0);
    kafka_producer_free(p);
}

static void test_commit_then_resume_in_same_group(void **state)
{
    (void)state;
    char topic[128], group[128], err[256] = "";
    name(topic, sizeof(topic), "resume");
    name(group, sizeof(group), "g-resume");
    struct kafka_producer *p = producer();
    ensure(p, topic, 1);
    const char *vals[] = {"m0", "m1", "m2", "m3"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(
            kafka_produce_sync(p, topic, "same", vals[i], 2, NULL, 0, 10000, err, sizeof(err)), 0);

    /* First member reads m0 and m1, commits only m0 (next offset = m0's + 1), leaves. */
    struct kafka_consumer *c = consumer(group, topic, NULL);
    rd_kafka_message_t *m = next_msg(c, 30000);
    assert_non_null(m);
    assert_memory_equal(m->payload, "m0", 2);
    int32_t part = m->partition;
    int64_t off0 = m->offset;
    assert_int_equal(kafka_consumer_commit(c, topic, part, off0 + 1), 0);
    rd_kafka_message_destroy(m);
    m = next_msg(c, 10000);
    assert_non_null(m);
    assert_memory_equal(m->payload, "m1", 2); /* read, not committed */
    rd_kafka_message_destroy(m);
    kafka_consumer_free(c);

    /* A new member of the same group resumes right after the committed offset: m1 again. */
    c = consumer(group, topic, NULL);
    m = next_msg(c, 30000);
    assert_non_null(m);
    assert_memory_equal(m->payload, "m1", 2);
    assert_int_equal(m->offset, off0 + 1);
    rd_kafka_message_destroy(m);
    kafka_consumer_free(c);

    /* Another group starts from the beginning (auto.offset.reset=earliest). */
    char other[160];
    snprintf(other, sizeof(other), "%s-other", group);
    c = consumer(other, topic, NULL);
    m = next_msg(c, 30000);
    assert_non_null(m);
    assert_memory_equal(m->payload, "m0", 2);
    rd_kafka_message_destroy(m);
    kafka_consumer_free(c);
    kafka_producer_free(p);
}

static void test_two_members_split_partitions(void **state)
{
    (void)state;
    char topic[128], group[128];
    name(topic, sizeof(topic), "split");
    name(group, sizeof(group), "g-split");
    struct kafka_producer *p = producer();
    ensure(p, topic, 4);

    struct revokes ra = {0}, rb = {0};
    struct kafka_consumer *a = consumer(group, topic, &ra);
    /* A joins alone first and owns all four partitions. */
    long long end = now_ms() + 5000;
    while (now_ms() < end) {
        rd_kafka_message_t *m = kafka_consumer_poll(a, 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    struct kafka_consumer *b = consumer(group, topic, &rb);

    /* B's arrival makes A give partitions away (on_revoke). From then on they read disjoint
     * partitions that together cover the topic. */
    unsigned mask_a = 0, mask_b = 0;
    int produced = 0;
    end = now_ms() + 60000;
    while (now_ms() < end && !(ra.calls > 0 && mask_a && mask_b && (mask_a | mask_b) == 0xF)) {
        for (int i = 0; i < 8; i++, produced++) {
            char key[32];
            snprintf(key, sizeof(key), "k%d", produced);
            assert_int_equal(kafka_produce(p, topic, key, key, strlen(key), NULL, 0, NULL, NULL),
                             0);
        }
        kafka_producer_flush(p, 5000);
        for (int i = 0; i < 10; i++) {
            rd_kafka_message_t *m = kafka_consumer_poll(a, 50);
            if (m) {
                if (ra.calls > 0) /* only what A reads after it gave partitions away */
                    mask_a |= 1u << m->partition;
                rd_kafka_message_destroy(m);
            }
            m = kafka_consumer_poll(b, 50);
            if (m) {
                mask_b |= 1u << m->partition;
                rd_kafka_message_destroy(m);
            }
        }
    }
    assert_true(ra.calls >= 1);
    assert_true(ra.partitions >= 1);
    assert_true(mask_a != 0);
    assert_true(mask_b != 0);
    assert_int_equal(mask_a & mask_b, 0);
    assert_int_equal(mask_a | mask_b, 0xF);
    kafka_consumer_free(b);
    /* Leaving the group revokes what B held. */
    assert_true(rb.calls >= 1);
    kafka_consumer_free(a);
    kafka_producer_free(p);
}

static void test_dead_letter_headers(void **state)
{
    (void)state;
    char topic[128], group[128], dlqgroup[128], err[256] = "", buf[512], unique[64];
    name(topic, sizeof(topic), "poison");
    name(group, sizeof(group), "g-poison");
    name(dlqgroup, sizeof(dlqgroup), "g-dlq");
    snprintf(unique, sizeof(unique), "not json %s", g_run);
    struct kafka_producer *p = producer();
    ensure(p, topic, 1);
    struct kafka_header h[] = {{"x-tenant", "tenant-b"}};
    assert_int_equal(kafka_produce_sync(p, topic, "poison-key", unique, strlen(unique), h, 1, 10000,
                                        err, sizeof(err)),
                     0);
    struct kafka_consumer *c = consumer(group, topic, NULL);
    rd_kafka_message_t *m = next_msg(c, 30000);
    assert_non_null(m);
    char srcpart[16], srcoff[24];
    snprintf(srcpart, sizeof(srcpart), "%d", (int)m->partition);
    snprintf(srcoff, sizeof(srcoff), "%lld", (long long)m->offset);
    /* The reason quotes a bearer token: it must not reach the DLQ in clear. */
    const char *why = "envelope: bad JSON near Bearer "
                      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlc2lnbmF0dXJl";
    assert_int_equal(kafka_dead_letter(p, m, why, err, sizeof(err)), 0);
    rd_kafka_message_destroy(m);
    kafka_consumer_free(c);

    c = consumer(dlqgroup, KAFKA_TOPIC_DLQ, NULL);
    rd_kafka_message_t *found = NULL;
    long long end = now_ms() + 30000;
    while (!found && now_ms() < end) {
        m = kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (m->len == strlen(unique) && memcmp(m->payload, unique, m->len) == 0)
            found = m;
        else
            rd_kafka_message_destroy(m);
    }
    assert_non_null(found);
    assert_int_equal(found->key_len, strlen("poison-key"));
    assert_memory_equal(found->key, "poison-key", found->key_len);
    assert_int_equal(kafka_msg_header(found, "x-tenant", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "tenant-b");
    assert_int_equal(kafka_msg_header(found, "x-source-topic", buf, sizeof(buf)), 0);
    assert_string_equal(buf, topic);
    assert_int_equal(kafka_msg_header(found, "x-source-partition", buf, sizeof(buf)), 0);
    assert_string_equal(buf, srcpart);
    assert_int_equal(kafka_msg_header(found, "x-source-offset", buf, sizeof(buf)), 0);
    assert_string_equal(buf, srcoff);
    assert_int_equal(kafka_msg_header(found, "x-error", buf, sizeof(buf)), 0);
    assert_non_null(strstr(buf, "bad JSON"));
    assert_null(strstr(buf, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0"));
    rd_kafka_message_destroy(found);
    kafka_consumer_free(c);
    kafka_producer_free(p);
}

static void test_topic_ensure_and_ping(void **state)
{
    (void)state;
    char topic[128], err[256] = "";
    snprintf(topic, sizeof(topic), "%sTest%s", KAFKA_TOPIC_AGENT_PREFIX, g_run);
    struct kafka_producer *p = producer();
    assert_int_equal(kafka_producer_ping(p, 5000), 0);
    assert_int_equal(partition_count(p, topic), -1); /* does not exist yet */
    assert_int_equal(kafka_topic_ensure(p, topic, 3, 10000, err, sizeof(err)), 0);
    /* Real Kafka honours the count (admin CreateTopics); the dev broker has no admin API and
     * creates it with its default partition count. */
    int n = partition_count(p, topic);
    assert_true(n >= 1);
    /* Again: already exists is success, and the partition count is unchanged. */
    assert_int_equal(kafka_topic_ensure(p, topic, 6, 10000, err, sizeof(err)), 0);
    assert_int_equal(partition_count(p, topic), n);
    /* Broker default partitions. */
    char topic2[160];
    snprintf(topic2, sizeof(topic2), "%s.dflt", topic);
    assert_int_equal(kafka_topic_ensure(p, topic2, 0, 10000, err, sizeof(err)), 0);
    assert_true(partition_count(p, topic2) >= 1);
    /* Invalid names are refused, not crashed on. */
    assert_true(kafka_topic_ensure(p, "", 1, 2000, err, sizeof(err)) < 0);
    kafka_producer_free(p);
}

static void test_unreachable_broker_is_bounded(void **state)
{
    (void)state;
    /* Port 1 on loopback: nothing listens; connections are refused at once. */
    struct kafka_producer *p = NULL;
    char err[256] = "";
    assert_int_equal(kafka_producer_new(&p, "127.0.0.1:1", err, sizeof(err)), 0);
    long long t0 = now_ms();
    int rc = kafka_produce_sync(p, "agenthub.test.unreachable", "k", "v", 1, NULL, 0, 1500, err,
                                sizeof(err));
    long long took = now_ms() - t0;
    assert_true(rc == -ETIMEDOUT || rc == -EIO);
    assert_true(err[0] != '\0');
    /* A bound, not a speed goal: the call must come back near its timeout, not hang. */
    assert_true(took >= 1000);
    assert_true(took < 1500 + 5000);
    assert_true(kafka_producer_ping(p, 1000) < 0);
    /* Freeing with the message still queued: flush times out, the message is purged. */
    kafka_producer_free(p);
}

static int run_stack(const char *verb)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "compose/local/stack %s kafka >/dev/null 2>&1", verb);
    return system(cmd);
}

static void test_broker_down_then_recovers(void **state)
{
    (void)state;
    /* Needs the stack that tests/run.sh started (AGENTHUB_VAR names it). */
    if (!getenv("AGENTHUB_VAR") || access("compose/local/stack", X_OK) != 0)
        skip();
    char topic[128], err[256] = "";
    name(topic, sizeof(topic), "outage");
    struct kafka_producer *p = producer();
    ensure(p, topic, 1);
    assert_int_equal(
        kafka_produce_sync(p, topic, "k", "before", 6, NULL, 0, 10000, err, sizeof(err)), 0);
    assert_int_equal(run_stack("stop"), 0);
    int rc = kafka_produce_sync(p, topic, "k", "during", 6, NULL, 0, 2000, err, sizeof(err));
    int ping = kafka_producer_ping(p, 1000);
    int started = run_stack("start"); /* restore before asserting */
    assert_int_equal(started, 0);
    assert_int_equal(rc, -ETIMEDOUT);
    assert_true(ping < 0);
    /* The same producer recovers; "during" stays queued and is delivered too. */
    assert_int_equal(
        kafka_produce_sync(p, topic, "k", "after", 5, NULL, 0, 30000, err, sizeof(err)), 0);
    kafka_producer_free(p);

    char group[128];
    name(group, sizeof(group), "g-outage");
    struct kafka_consumer *c = consumer(group, topic, NULL);
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        rd_kafka_message_t *m = next_msg(c, 30000);
        if (!m)
            break;
        seen |= (m->len == 6 && memcmp(m->payload, "before", 6) == 0) ? 1 : 0;
        seen |= (m->len == 6 && memcmp(m->payload, "during", 6) == 0) ? 2 : 0;
        seen |= (m->len == 5 && memcmp(m->payload, "after", 5) == 0) ? 4 : 0;
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(seen, 7);
    kafka_consumer_free(c);
}

int main(void)
{
    g_brokers = getenv("KAFKA_BROKERS");
    if (!g_brokers || !*g_brokers) {
        fprintf(stderr, "test_kafka: KAFKA_BROKERS is not set (run via tests/run.sh)\n");
        return 1;
    }
    enum log_level lv = LOG_WARN;
    if (getenv("LOG_LEVEL"))
        log_level_parse(getenv("LOG_LEVEL"), &lv);
    log_init("test_kafka", lv);
    snprintf(g_run, sizeof(g_run), "%lx%x", (unsigned long)time(NULL), (unsigned)getpid());
    if (getenv("TEST_FILTER")) /* run only the tests whose name matches this glob */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_with_headers),
        cmocka_unit_test(test_async_produce_calls_back_once),
        cmocka_unit_test(test_produce_sync_from_delivery_callback),
        cmocka_unit_test(test_commit_then_resume_in_same_group),
        cmocka_unit_test(test_two_members_split_partitions),
        cmocka_unit_test(test_dead_letter_headers),
        cmocka_unit_test(test_topic_ensure_and_ping),
        cmocka_unit_test(test_unreachable_broker_is_bounded),
        cmocka_unit_test(test_broker_down_then_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
