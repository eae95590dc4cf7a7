/* kafka.h — producer and consumer wrappers on librdkafka.
 *
 * The code never knows whether it talks to real Apache Kafka or the dev broker (librdkafka's
 * mock cluster): both are just a bootstrap list. Every environment variable KAFKA_<X>
 * (other than KAFKA_BROKERS) is passed to rd_kafka_conf_set as <x> with '_' -> '.'
 * (KAFKA_SOCKET_TIMEOUT_MS=5000 -> socket.timeout.ms=5000). librdkafka's own log lines are
 * routed through log.h.
 *
 * Producer: idempotent (enable.idempotence=true, acks=all), delivery reports.
 * Consumer: one consumer group, enable.auto.commit=false (the caller commits explicitly what
 * it has finished), auto.offset.reset=earliest, cooperative rebalance handled inside; the
 * caller learns of revoked partitions through an optional callback.
 */
#ifndef AGENTHUB_KAFKA_H
#define AGENTHUB_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* Topic names (DESIGN.md). Agent topics are KAFKA_TOPIC_AGENT_PREFIX + agent name. */
#define KAFKA_TOPIC_CHAT_REQUESTS "agenthub.chat.requests"
#define KAFKA_TOPIC_CHAT_EVENTS "agenthub.chat.events"
#define KAFKA_TOPIC_DOCUMENTS "agenthub.documents"
#define KAFKA_TOPIC_DLQ "agenthub.dlq"
#define KAFKA_TOPIC_AGENT_PREFIX "agenthub.agent."

struct kafka_header {
    const char *name;
    const char *value; /* NUL-terminated */
};

/* ---- producer ---------------------------------------------------------------------------- */
struct kafka_producer;

/* err is 0 on success, else an rd_kafka_resp_err_t; errstr is human-readable. */
typedef void (*kafka_delivery_cb)(void *opaque, int err, const char *errstr);

int kafka_producer_new(struct kafka_producer **out, const char *brokers, char *err, size_t errlen);
/* Like kafka_producer_new, with librdkafka settings {name, value, ..., NULL} applied over the
 * defaults and under the environment (a KAFKA_<X> variable still wins). */
int kafka_producer_new_with(struct kafka_producer **out, const char *brokers,
                            const char *const *settings, char *err, size_t errlen);
/* Flushes (up to 10 s) then destroys. NULL-safe. */
void kafka_producer_free(struct kafka_producer *p);
/* Asynchronous produce; cb (may be NULL) runs from kafka_producer_poll() or the producer's
 * background poller thread, exactly once, with the final outcome. Returns 0 if queued. */
int kafka_produce(struct kafka_producer *p, const char *topic, const char *key, const void *val,
                  size_t vallen, const struct kafka_header *hdrs, size_t nhdrs,
                  kafka_delivery_cb cb, void *opaque);
/* Produces and waits until the broker acknowledged (acks=all) or timeout_ms passed.
 * Returns 0 when acknowledged, -ETIMEDOUT, or -EIO with errstr filled. Thread-safe. */
int kafka_produce_sync(struct kafka_producer *p, const char *topic, const char *key,
                       const void *val, size_t vallen, const struct kafka_header *hdrs,
                       size_t nhdrs, int timeout_ms, char *err, size_t errlen);
int kafka_producer_flush(struct kafka_producer *p, int timeout_ms);
/* Creates a topic if missing (admin API) with kafka_topics.h's settings (replication, min ISR,
 * retention); partitions > 0 overrides the table's count. An existing topic is left alone.
 * Without an admin API (the dev broker) a metadata request creates it with the broker's
 * defaults. */
int kafka_topic_ensure(struct kafka_producer *p, const char *topic, int partitions, int timeout_ms,
                       char *err, size_t errlen);
/* Is at least one broker reachable (metadata request within timeout_ms)? */
int kafka_producer_ping(struct kafka_producer *p, int timeout_ms);

/* ---- consumer ---------------------------------------------------------------------------- */
struct kafka_consumer;

/* Called on the polling thread when partitions are revoked (before the group moves them):
 * the caller must stop committing for them. */
typedef void (*kafka_revoke_cb)(void *opaque, const rd_kafka_topic_partition_list_t *parts);

struct kafka_consumer_opts {
    const char *brokers;
    const char *group_id;
    const char *const *topics; /* may include regex topics starting with '^' */
    size_t ntopics;
    const char *offset_reset; /* "earliest" (default) or "latest" */
    /* partition.assignment.strategy: NULL is cooperative-sticky (a stage's group rebalances
     * without stopping every member); a group of one member gains nothing from it and may
     * say "roundrobin". KAFKA_PARTITION_ASSIGNMENT_STRATEGY overrides both. */
    const char *assignment_strategy;
    kafka_revoke_cb on_revoke;
    void *opaque;
    /* fetch.wait.max.ms; 0: librdkafka's default (500). A consumer whose messages sit on
     * somebody's wait (the ingress's wake-ups) sets it low: the dev broker (librdkafka's mock
     * cluster) holds an empty fetch answer for all of it even when a message arrives. */
    int fetch_wait_max_ms;
};

int kafka_consumer_new(struct kafka_consumer **out, const struct kafka_consumer_opts *opts,
                       char *err, size_t errlen);
/* Returns a message (caller frees with rd_kafka_message_destroy), or NULL on timeout.
 * Partition EOF and transient errors are handled inside (logged, not returned). */
rd_kafka_message_t *kafka_consumer_poll(struct kafka_consumer *c, int timeout_ms);
/* Makes librdkafka write 8 bytes (a uint64_t 1, as an eventfd wants) to fd when the consumer
 * queue (messages, rebalances) becomes non-empty, so a caller can sleep in its own epoll set
 * and call kafka_consumer_poll(c, 0) when fd is readable. At most one write per period between
 * polls: after a wake-up, poll until it returns NULL. fd stays the caller's (close it after
 * kafka_consumer_free). Returns 0 or -EINVAL. */
int kafka_consumer_io_event(struct kafka_consumer *c, int fd);
/* Commits `next_offset` (the offset of the next message to read) for one partition,
 * synchronously. */
int kafka_consumer_commit(struct kafka_consumer *c, const char *topic, int32_t partition,
                          int64_t next_offset);
/* Like kafka_consumer_commit, but queued without waiting for the coordinator's answer (a
 * failure is only logged by librdkafka; a later commit of a higher offset supersedes it).
 * Returns 0 when queued. */
int kafka_consumer_commit_async(struct kafka_consumer *c, const char *topic, int32_t partition,
                                int64_t next_offset);
/* Inside on_revoke: were the partitions lost (session timed out, e.g. the broker is gone)
 * rather than handed over? A commit for lost partitions cannot succeed and only blocks. */
int kafka_consumer_assignment_lost(struct kafka_consumer *c);
/* Leaves the group cleanly (rd_kafka_consumer_close) and destroys. NULL-safe.
 * librdkafka before 2.3.0 (Debian 12 has 2.0.2) aborts in rd_kafka_destroy() when a
 * cooperative-sticky member is closed after its JoinGroup succeeded but before its first
 * SyncGroup answer (librdkafka issue 4312). A member that has joined but was never assigned
 * is therefore polled until its first assignment arrives (for at most 10 s;
 * what it reads meanwhile is dropped uncommitted, so another member reads it again) before it
 * is closed. */
void kafka_consumer_free(struct kafka_consumer *c);

/* Copies header `name` of msg into buf (NUL-terminated). Returns 0, or -1 when absent. */
int kafka_msg_header(const rd_kafka_message_t *msg, const char *name, char *buf, size_t cap);

/* Sends msg to KAFKA_TOPIC_DLQ with its original key, value and headers plus
 * x-error, x-source-topic, x-source-partition, x-source-offset. Waits for the ack. */
int kafka_dead_letter(struct kafka_producer *p, const rd_kafka_message_t *msg, const char *error,
                      char *err, size_t errlen);

#endif
