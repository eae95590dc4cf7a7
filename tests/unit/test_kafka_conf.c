/* Unit tests for common/kafka without a broker: KAFKA_* environment passthrough, argument
 * validation, and the bound on produce_sync when nothing answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka.h"
#include "log.h"
#include "tests/support/logline.h"

/* Nothing listens on loopback port 1: connections are refused at once. */
#define NOWHERE "127.0.0.1:1"

static void test_env_passthrough_valid(void **state)
{
    (void)state;
    struct kafka_producer *p = NULL;
    char err[256] = "";
    setenv("KAFKA_SOCKET_TIMEOUT_MS", "5000", 1);
    setenv("KAFKA_CLIENT_ID", "unit-test", 1);
    setenv("KAFKA_BROKERS", "not-a-property-and-ignored", 1);
    assert_int_equal(kafka_producer_new(&p, NOWHERE, err, sizeof(err)), 0);
    kafka_producer_free(p);
    unsetenv("KAFKA_SOCKET_TIMEOUT_MS");
    unsetenv("KAFKA_CLIENT_ID");
    unsetenv("KAFKA_BROKERS");
}

static void test_env_passthrough_rejects_unknown_property(void **state)
{
    (void)state;
    struct kafka_producer *p = NULL;
    struct kafka_consumer *c = NULL;
    char err[256] = "";
    setenv("KAFKA_NO_SUCH_THING", "1", 1);
    assert_int_equal(kafka_producer_new(&p, NOWHERE, err, sizeof(err)), -EINVAL);
    assert_null(p);
    assert_non_null(strstr(err, "no.such.thing"));

    const char *topics[] = {"t"};
    struct kafka_consumer_opts o = {
        .brokers = NOWHERE, .group_id = "g", .topics = topics, .ntopics = 1};
    err[0] = '\0';
    assert_int_equal(kafka_consumer_new(&c, &o, err, sizeof(err)), -EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "no.such.thing"));
    unsetenv("KAFKA_NO_SUCH_THING");
}

static void test_env_passthrough_rejects_bad_value(void **state)
{
    (void)state;
    struct kafka_producer *p = NULL;
    char err[256] = "";
    setenv("KAFKA_LINGER_MS", "soon", 1);
    assert_true(kafka_producer_new(&p, NOWHERE, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "linger.ms"));
    unsetenv("KAFKA_LINGER_MS");
}

/* A password given through KAFKA_* is masked in every later log line. */
static void test_env_passwords_never_logged(void **state)
{
    (void)state;
    struct kafka_producer *p = NULL;
    char err[256] = "", line[512];
    setenv("KAFKA_SASL_PASSWORD", "pw-in-kafka-conf-9", 1);
    kafka_producer_new(&p, NOWHERE, err, sizeof(err)); /* the conf is read either way */
    kafka_producer_free(p);
    unsetenv("KAFKA_SASL_PASSWORD");
    assert_int_equal(
        logline_capture("sasl said: bad password pw-in-kafka-conf-9", line, sizeof line), 0);
    assert_null(strstr(line, "pw-in-kafka-conf-9"));
    assert_non_null(strstr(line, "bad password ***"));
}

static void test_env_overrides_defaults(void **state)
{
    (void)state;
    /* An eager strategy from the environment replaces the cooperative default. */
    struct kafka_consumer *c = NULL;
    char err[256] = "";
    setenv("KAFKA_PARTITION_ASSIGNMENT_STRATEGY", "range", 1);
    const char *topics[] = {"t", "^agenthub\\.agent\\..*"};
    struct kafka_consumer_opts o = {
        .brokers = NOWHERE, .group_id = "g", .topics = topics, .ntopics = 2};
    assert_int_equal(kafka_consumer_new(&c, &o, err, sizeof(err)), 0);
    kafka_consumer_free(c);
    unsetenv("KAFKA_PARTITION_ASSIGNMENT_STRATEGY");
}

static void test_argument_validation(void **state)
{
    (void)state;
    struct kafka_producer *p = NULL;
    struct kafka_consumer *c = NULL;
    char err[256] = "";
    assert_int_equal(kafka_producer_new(&p, "", err, sizeof(err)), -EINVAL);
    assert_int_equal(kafka_producer_new(&p, NULL, err, sizeof(err)), -EINVAL);
    assert_null(p);

    const char *topics[] = {"t"};
    struct kafka_consumer_opts o = {
        .brokers = NOWHERE, .group_id = "", .topics = topics, .ntopics = 1};
    assert_int_equal(kafka_consumer_new(&c, &o, err, sizeof(err)), -EINVAL);
    o.group_id = "g";
    o.ntopics = 0;
    assert_int_equal(kafka_consumer_new(&c, &o, err, sizeof(err)), -EINVAL);
    o.ntopics = 1;
    o.offset_reset = "middle";
    assert_int_equal(kafka_consumer_new(&c, &o, err, sizeof(err)), -EINVAL);
    assert_int_equal(kafka_consumer_new(&c, NULL, err, sizeof(err)), -EINVAL);
    assert_null(c);

    /* NULL-safe frees and calls. */
    kafka_producer_free(NULL);
    kafka_consumer_free(NULL);
    assert_null(kafka_consumer_poll(NULL, 0));
    assert_int_equal(kafka_consumer_commit(NULL, "t", 0, 1), -EINVAL);
    assert_int_equal(kafka_produce(NULL, "t", "k", "v", 1, NULL, 0, NULL, NULL), -EINVAL);
    assert_int_equal(kafka_produce_sync(NULL, "t", "k", "v", 1, NULL, 0, 10, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(kafka_dead_letter(NULL, NULL, "x", err, sizeof(err)), -EINVAL);
    char buf[8];
    assert_int_equal(kafka_msg_header(NULL, "x", buf, sizeof(buf)), -1);
}

static void test_topic_names_validated(void **state)
{
    (void)state;
    struct kafka_producer *p = NULL;
    char err[256] = "";
    assert_int_equal(kafka_producer_new(&p, NOWHERE, err, sizeof(err)), 0);
    assert_int_equal(kafka_topic_ensure(p, "", 1, 100, err, sizeof(err)), -EINVAL);
    assert_int_equal(kafka_topic_ensure(p, "bad topic", 1, 100, err, sizeof(err)), -EINVAL);
    assert_int_equal(kafka_topic_ensure(p, "..", 1, 100, err, sizeof(err)), -EINVAL);
    assert_int_equal(kafka_topic_ensure(p, "a/b", 1, 100, err, sizeof(err)), -EINVAL);
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

static void test_undelivered_callbacks_run_once_on_free(void **state)
{
    (void)state;
    struct kafka_producer *p = NULL;
    char err[256] = "";
    setenv("KAFKA_MESSAGE_TIMEOUT_MS", "60000", 1);
    assert_int_equal(kafka_producer_new(&p, NOWHERE, err, sizeof(err)), 0);
    unsetenv("KAFKA_MESSAGE_TIMEOUT_MS");
    struct delivered d = {0, 0};
    assert_int_equal(kafka_produce(p, "agenthub.test", "k", "v", 1, NULL, 0, on_delivery, &d), 0);
    assert_int_equal(kafka_producer_flush(p, 200), -ETIMEDOUT);
    /* Free fails what is still queued: the callback runs once, with an error. */
    kafka_producer_free(p);
    assert_int_equal(d.calls, 1);
    assert_int_not_equal(d.err, 0);
}

static void test_produce_sync_bounded_without_broker(void **state)
{
    (void)state;
    struct kafka_producer *p = NULL;
    char err[256] = "";
    setenv("KAFKA_MESSAGE_TIMEOUT_MS", "300", 1);
    assert_int_equal(kafka_producer_new(&p, NOWHERE, err, sizeof(err)), 0);
    unsetenv("KAFKA_MESSAGE_TIMEOUT_MS");
    /* message.timeout.ms (300 ms) fails it before our own 20 s bound: -EIO with the reason. */
    int rc = kafka_produce_sync(p, "agenthub.test", "k", "v", 1, NULL, 0, 20000, err, sizeof(err));
    assert_int_equal(rc, -EIO);
    assert_true(strlen(err) > 0);
    kafka_producer_free(p);
}

int main(void)
{
    log_init("test_kafka_conf", LOG_ERROR);
    /* librdkafka's connection errors are expected here: keep the output clean. */
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0)
        log_set_fd(devnull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_passthrough_valid),
        cmocka_unit_test(test_env_passthrough_rejects_unknown_property),
        cmocka_unit_test(test_env_passthrough_rejects_bad_value),
        cmocka_unit_test(test_env_passwords_never_logged),
        cmocka_unit_test(test_env_overrides_defaults),
        cmocka_unit_test(test_argument_validation),
        cmocka_unit_test(test_topic_names_validated),
        cmocka_unit_test(test_undelivered_callbacks_run_once_on_free),
        cmocka_unit_test(test_produce_sync_bounded_without_broker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
