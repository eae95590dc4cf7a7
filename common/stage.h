/* stage.h — the consumer-stage machinery shared by the router and the agents.
 *
 * Concurrency model: one event-loop thread per process. stage_run() sleeps in ONE wait, the
 * httploop's epoll set, which also holds an eventfd librdkafka writes to when the consumer
 * queue fills (kafka_consumer_io_event): a message, an HTTP completion, a timer or a posted
 * call wakes it at once, then it takes what the consumer holds without waiting; every job is a
 * state machine advanced by LLM / tool callbacks from the httploop, never a blocked thread per job,
 * so one process keeps thousands of jobs in flight. DB and Redis calls are short and synchronous on
 * the loop thread.
 *
 * For each message the stage:
 *   1. records its offset as in flight in the partition's offset tracker;
 *   2. decodes the envelope (and runs the optional validate hook); a message that fails goes
 *      to agenthub.dlq (kafka_dead_letter, error in the x-error header) and counts as
 *      finished, so its partition keeps flowing;
 *   3. queues the job behind any earlier job of the same session on the same topic
 *      (per-session ordering: a job waits while an earlier job of its session from that topic
 *      is in flight in this process; a topic's messages of a session arrive in the order they
 *      were produced). Across topics and processes (a session's questions to two agents),
 *      session_order.h keeps the order, so two queues never wait for each other;
 *   4. calls handlers.start(); the handler must call stage_job_done() exactly once, from any
 *      callback on the loop thread (or synchronously inside start()).
 *
 * Offsets are committed only below the oldest unfinished job of each partition (periodically
 * and at shutdown). Revoked partitions drop their tracker: jobs from them still finish but
 * commit nothing (the new owner re-reads; stages are idempotent on redelivery).
 *
 * Shutdown: stage_request_stop() (async-signal-safe) -> stop polling, let in-flight jobs
 * finish for at most drain_timeout_ms, commit what finished, leave the group.
 */
#ifndef AGENTHUB_STAGE_H
#define AGENTHUB_STAGE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "httploop.h"
#include "kafka.h"

/* ---- pure parts (unit-tested on their own) ------------------------------------------------ */

/* Per-partition offset tracker. Offsets of one partition usually arrive in increasing order;
 * an offset that arrives out of order is inserted in its place. */
struct stage_offsets;

int stage_offsets_new(struct stage_offsets **out);
void stage_offsets_free(struct stage_offsets *t); /* NULL-safe */
/* Marks offset in flight. Returns 0, -EEXIST when already tracked, -ENOMEM. */
int stage_offsets_add(struct stage_offsets *t, const char *topic, int32_t partition,
                      int64_t offset);
/* Marks offset finished. Returns 0, or -ENOENT when the partition or offset is unknown
 * (revoked partition, or already finished): harmless, nothing to commit for it. */
int stage_offsets_done(struct stage_offsets *t, const char *topic, int32_t partition,
                       int64_t offset);
/* The offset to commit for a partition (the oldest unfinished offset, or last seen + 1 when
 * everything finished). Returns 1 and fills *next when it is beyond what was last committed,
 * 0 when there is nothing new, -ENOENT for an unknown partition. */
int stage_offsets_committable(const struct stage_offsets *t, const char *topic, int32_t partition,
                              int64_t *next);
/* Records that next was committed. */
void stage_offsets_committed(struct stage_offsets *t, const char *topic, int32_t partition,
                             int64_t next);
/* Forgets a partition (revoked). */
void stage_offsets_drop(struct stage_offsets *t, const char *topic, int32_t partition);
/* Calls cb for each partition with something new to commit. Returns how many. */
typedef void (*stage_offsets_cb)(void *opaque, const char *topic, int32_t partition, int64_t next);
size_t stage_offsets_foreach_committable(const struct stage_offsets *t, stage_offsets_cb cb,
                                         void *opaque);
/* Offsets in flight over all partitions. */
size_t stage_offsets_inflight(const struct stage_offsets *t);

/* Per-session FIFO: the head item of a key is running, the rest wait. */
struct stage_sessions;

int stage_sessions_new(struct stage_sessions **out);
void stage_sessions_free(struct stage_sessions *s); /* NULL-safe; items are not freed */
/* Returns 1 when item may start now (no other item of key), 0 when it was queued behind the
 * running one, -ENOMEM. */
int stage_sessions_push(struct stage_sessions *s, const char *key, void *item);
/* The running item of key finished: removes it and returns the next item, which is now the
 * running one, or NULL when the key has nothing left. */
void *stage_sessions_pop(struct stage_sessions *s, const char *key);
/* Items (running + waiting) held for key; 0 when none. */
size_t stage_sessions_len(const struct stage_sessions *s, const char *key);
size_t stage_sessions_keys(const struct stage_sessions *s);
/* Removes every item, calling cb on each (shutdown). */
void stage_sessions_clear(struct stage_sessions *s, void (*cb)(void *item));

/* ---- the stage ------------------------------------------------------------------------------ */
struct stage;
struct stage_job;

struct stage_handlers {
    /* The job may run now. Call stage_job_done(job) exactly once, later or inside. */
    void (*start)(void *opaque, struct stage_job *job);
    /* Optional: checks beyond envelope_decode (type, payload). 0 ok, else -1 with err filled:
     * the message is dead-lettered. */
    int (*validate)(void *opaque, const struct envelope *env, char *err, size_t errlen);
    /* Optional: once per intake pass, the envelopes of the jobs about to start in it (in the
     * order they start), before the first start. What it reads in one round trip may serve
     * those starts while the pass lasts (startfacts.h). */
    void (*prefetch)(void *opaque, const struct envelope *const *envs, size_t n);
    void *opaque;
};

struct stage_opts {
    const char *name; /* for logs and metrics, e.g. "router" */
    const char *brokers;
    const char *group_id;
    const char *const *topics; /* may hold regex topics starting with '^' */
    size_t ntopics;
    struct kafka_producer *producer; /* borrowed: dead letters */
    struct httploop *loop;           /* borrowed: driven by stage_run */
    long max_inflight;               /* <= 0: 5000. Polling pauses while reached. */
    long drain_timeout_ms;           /* <= 0: 20000 */
    long commit_interval_ms;         /* <= 0: 200 */
    const char *metrics_listen;      /* "host:port" serving GET /metrics and /health; NULL or
                                        "" for none */
    const char *metrics_token;       /* METRICS_TOKEN: GET /metrics wants "Authorization:
                                        Bearer <it>" (401 otherwise); NULL or "": open */
    struct stage_handlers handlers;
};

int stage_new(struct stage **out, const struct stage_opts *opts, char *err, size_t errlen);
/* Frees the stage and every job record it still holds (jobs not yet started are dropped; they
 * were not committed, so another consumer re-reads them). Call after the LLM client and the
 * httploop are gone or idle. NULL-safe. */
void stage_free(struct stage *s);
/* Runs until stage_request_stop(), then drains and commits. Returns 0, or negative when the
 * consumer failed. */
int stage_run(struct stage *s);
/* Async-signal-safe. */
void stage_request_stop(struct stage *s);
int stage_stopping(const struct stage *s);

/* The job is finished (its output is durable): its offset may be committed and the next job
 * of its session starts. */
void stage_job_done(struct stage_job *job);
const struct envelope *stage_job_envelope(const struct stage_job *job);
const char *stage_job_topic(const struct stage_job *job);
int32_t stage_job_partition(const struct stage_job *job);
int64_t stage_job_offset(const struct stage_job *job);
struct stage *stage_job_stage(const struct stage_job *job);
/* Handler state for a job (borrowed pointer, the handler frees it). */
void stage_job_set_data(struct stage_job *job, void *data);
void *stage_job_data(const struct stage_job *job);

size_t stage_inflight(const struct stage *s); /* jobs received and not done */
long stage_jobs_done_total(const struct stage *s);

/* stage_run with SIGTERM and SIGINT asking the stage to stop (drain, commit, leave the group)
 * and SIGPIPE ignored: what each stage binary's main runs. One stage per process. */
int stage_run_until_signal(struct stage *s);

/* Runs fn(arg) on the loop thread soon; callable from any thread (delivery reports). Work
 * still queued when the stage is freed runs in stage_free (after stage_run returned). */
int stage_post(struct stage *s, void (*fn)(void *arg), void *arg);

#endif
