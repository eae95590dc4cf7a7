/* kafka_consumer_free() while the group join is half done, against an in-process mock cluster
 * (librdkafka's rdkafka_mock.h; no stack needed).
 *
 * librdkafka before 2.3.0 aborts in rd_kafka_destroy() when a cooperative-sticky member is
 * closed between its JoinGroup answer and its first SyncGroup answer (librdkafka issue 4312).
 * The mock answers a new group's JoinGroup after about 3 s; the SyncGroup answer is held back
 * another 4 s here, so a consumer freed 5 s after it subscribed is inside that window. Without
 * kafka_consumer_free()'s wait for the first assignment this test dies with SIGABRT (an ingress
 * stopped ~3 s after its start did so in CI). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka.h"
#include "log.h"

#define API_SYNC_GROUP 14 /* Kafka protocol ApiKey of SyncGroup */
#define SYNC_DELAY_MS 4000
#define FREE_AFTER_MS 5000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
};

static void mock_start(struct mock *m)
{
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* this handle only hosts the mock cluster: no "no bootstrap.servers" notice */
    rd_kafka_conf_set(conf, "log_level", "3", e, sizeof e);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    assert_non_null(m->rk);
    m->mc = rd_kafka_mock_cluster_new(m->rk, 1);
    assert_non_null(m->mc);
    assert_int_equal(rd_kafka_mock_topic_create(m->mc, "close-test", 2, 1), 0);
    /* The first SyncGroup answer comes SYNC_DELAY_MS late. */
    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                         m->mc, 1, API_SYNC_GROUP, 1, RD_KAFKA_RESP_ERR_NO_ERROR, SYNC_DELAY_MS),
                     0);
}

static void mock_stop(struct mock *m)
{
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
}

/* Subscribes, polls for FREE_AFTER_MS (JoinGroup answered, SyncGroup not yet), frees; returns
 * how long kafka_consumer_free() took, in seconds. */
static double free_during_join(struct mock *m, const char *strategy)
{
    struct kafka_consumer *c = NULL;
    char err[256] = "";
    const char *topics[] = {"close-test"};
    struct kafka_consumer_opts o = {.brokers = rd_kafka_mock_cluster_bootstraps(m->mc),
                                    .group_id = strategy ? "close-eager" : "close-coop",
                                    .topics = topics,
                                    .ntopics = 1,
                                    .assignment_strategy = strategy};
    if (kafka_consumer_new(&c, &o, err, sizeof err) != 0)
        fail_msg("kafka_consumer_new: %s", err);
    double start = now_s();
    while (now_s() - start < FREE_AFTER_MS / 1000.0) {
        rd_kafka_message_t *msg = kafka_consumer_poll(c, 100);
        if (msg)
            rd_kafka_message_destroy(msg);
    }
    double t0 = now_s();
    kafka_consumer_free(c); /* librdkafka < 2.3.0 without the wait: SIGABRT here */
    return now_s() - t0;
}

static void test_cooperative_member_freed_mid_join(void **state)
{
    (void)state;
    struct mock m;
    mock_start(&m);
    double took = free_during_join(&m, NULL);
    /* It waited for the late SyncGroup answer (about 2 s left of it), within the 10 s bound. */
    if (rd_kafka_version() < 0x020300ff)
        assert_true(took > 0.5);
    assert_true(took < 10.5);
    mock_stop(&m);
}

static void test_eager_member_freed_mid_join(void **state)
{
    (void)state;
    struct mock m;
    mock_start(&m);
    double took = free_during_join(&m, "roundrobin");
    /* An eager assignor has no state to trip on: nothing to wait for. */
    assert_true(took < 3.0);
    mock_stop(&m);
}

int main(void)
{
    log_init("test_kafka_close", LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cooperative_member_freed_mid_join),
        cmocka_unit_test(test_eager_member_freed_mid_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
