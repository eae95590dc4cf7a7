/* kafka_topics.h — the settings every AgentHub topic is created with: one source for the
 * services (kafka_topic_ensure), `agenthubctl topics` (the local Kafka cluster and the compose
 * deployment both create their topics with it) and the docs.
 *
 *   topic                    partitions  retention         why
 *   agenthub.chat.requests   12          7 days            replayable work
 *   agenthub.agent.<Name>    12          7 days            replayable work (router -> agent)
 *   agenthub.documents       12          7 days            replayable work
 *   agenthub.chat.events     12          1 day             wake-ups only: the events live in
 *                                                          Redis (24 h) and PostgreSQL
 *   agenthub.dlq             3           30 days           kept for operators to inspect
 *
 * The partition count of every topic but the DLQ can be set with TOPIC_PARTITIONS (the
 * local stack uses 4). Replication: TOPIC_REPLICATION (default 1; 3 on a three-node
 * cluster), and min.insync.replicas TOPIC_MIN_ISR (default 2 when replication >= 3,
 * else 1). With acks=all (every producer here) a write then survives the loss of any one
 * broker, and is refused rather than kept on one replica when two are gone.
 */
#ifndef AGENTHUB_KAFKA_TOPICS_H
#define AGENTHUB_KAFKA_TOPICS_H

#include <stddef.h>

struct kafka_topic_settings {
    int partitions;
    int replication;
    int min_isr;
    long long retention_ms;
};

/* The built-in topics, in creation order (agent topics are made per agent). */
extern const char *const KAFKA_TOPICS_BUILTIN[];
extern const size_t KAFKA_TOPICS_BUILTIN_COUNT;

/* The settings for `topic` (a built-in, an agent topic, or any other name, which gets the
 * agent topics' settings), with the environment's overrides. Returns 0, or -EINVAL with err
 * filled when an override is not a number in range (1..10000 partitions, 1..16 replicas,
 * 1..replication min ISR). The names have no KAFKA_ prefix: KAFKA_<X> goes to librdkafka. */
int kafka_topic_settings_for(const char *topic, struct kafka_topic_settings *out, char *err,
                             size_t errlen);

#endif
