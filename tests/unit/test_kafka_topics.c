/* Unit tests for common/kafka_topics: the one table of topic settings (partitions, retention,
 * replication, min ISR) and its environment overrides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "kafka_topics.h"

static void unset_all(void)
{
    unsetenv("TOPIC_PARTITIONS");
    unsetenv("TOPIC_REPLICATION");
    unsetenv("TOPIC_MIN_ISR");
}

static void test_table_defaults(void **state)
{
    (void)state;
    struct kafka_topic_settings ts;
    char err[256];
    unset_all();
    assert_int_equal(kafka_topic_settings_for(KAFKA_TOPIC_CHAT_REQUESTS, &ts, err, sizeof err), 0);
    assert_int_equal(ts.partitions, 12);
    assert_int_equal(ts.replication, 1);
    assert_int_equal(ts.min_isr, 1);
    assert_true(ts.retention_ms == 7LL * 24 * 3600 * 1000);
    assert_int_equal(kafka_topic_settings_for(KAFKA_TOPIC_CHAT_EVENTS, &ts, err, sizeof err), 0);
    assert_true(ts.retention_ms == 24LL * 3600 * 1000);
    assert_int_equal(kafka_topic_settings_for(KAFKA_TOPIC_DLQ, &ts, err, sizeof err), 0);
    assert_int_equal(ts.partitions, 3);
    assert_true(ts.retention_ms == 30LL * 24 * 3600 * 1000);
    /* an agent topic, and a name the table does not know, get the agent topics' settings */
    assert_int_equal(kafka_topic_settings_for("agenthub.agent.AgentNew", &ts, err, sizeof err), 0);
    assert_int_equal(ts.partitions, 12);
    assert_int_equal(kafka_topic_settings_for("agenthub.chat.requestsX", &ts, err, sizeof err), 0);
    assert_int_equal(ts.partitions, 12);
    assert_true(ts.retention_ms == 7LL * 24 * 3600 * 1000);
    assert_int_equal(KAFKA_TOPICS_BUILTIN_COUNT, 4);
}

static void test_overrides(void **state)
{
    (void)state;
    struct kafka_topic_settings ts;
    char err[256];
    unset_all();
    setenv("TOPIC_PARTITIONS", "4", 1);
    setenv("TOPIC_REPLICATION", "3", 1);
    assert_int_equal(kafka_topic_settings_for("agenthub.agent.AgentDebt", &ts, err, sizeof err), 0);
    assert_int_equal(ts.partitions, 4);
    assert_int_equal(ts.replication, 3);
    assert_int_equal(ts.min_isr, 2); /* derived: survives one broker, refuses on two */
    /* the DLQ keeps its own partition count */
    assert_int_equal(kafka_topic_settings_for(KAFKA_TOPIC_DLQ, &ts, err, sizeof err), 0);
    assert_int_equal(ts.partitions, 3);
    assert_int_equal(ts.replication, 3);
    setenv("TOPIC_MIN_ISR", "3", 1);
    assert_int_equal(kafka_topic_settings_for(KAFKA_TOPIC_DLQ, &ts, err, sizeof err), 0);
    assert_int_equal(ts.min_isr, 3);
    /* "0" is the config tables' default: the table's value */
    setenv("TOPIC_PARTITIONS", "0", 1);
    setenv("TOPIC_MIN_ISR", "0", 1);
    assert_int_equal(kafka_topic_settings_for(KAFKA_TOPIC_CHAT_EVENTS, &ts, err, sizeof err), 0);
    assert_int_equal(ts.partitions, 12);
    assert_int_equal(ts.min_isr, 2);
    unset_all();
}

static void test_bad_overrides(void **state)
{
    (void)state;
    struct kafka_topic_settings ts;
    char err[256] = "";
    unset_all();
    setenv("TOPIC_PARTITIONS", "many", 1);
    assert_int_equal(kafka_topic_settings_for(KAFKA_TOPIC_CHAT_REQUESTS, &ts, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "TOPIC_PARTITIONS"));
    unset_all();
    setenv("TOPIC_REPLICATION", "2", 1);
    setenv("TOPIC_MIN_ISR", "3", 1); /* more in-sync replicas than replicas */
    assert_int_equal(kafka_topic_settings_for(KAFKA_TOPIC_CHAT_REQUESTS, &ts, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "TOPIC_MIN_ISR"));
    unset_all();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_defaults),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_bad_overrides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
