/* Integration tests for common/stage against a running broker (KAFKA_BROKERS, normally the dev
 * broker of compose/local/stack; tests/run.sh exports it).
 *
 * The stage's runtime, with jobs completed by httploop timers in a chosen order: offsets are
 * committed only below the oldest unfinished job, a poison message goes to agenthub.dlq and the
 * partition keeps flowing, jobs of one session run one after the other, and a stop request
 * drains the job in flight before committing.
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

#include "envelope.h"
#include "httploop.h"
#include "kafka.h"
#include "log.h"
#include "stage.h"
#include "uuid.h"

static const char *g_brokers;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define MAXJ 8
#define CHAIN 400

struct run {
    struct stage *st;
    struct httploop *loop;
    char topic[128], group[128];
    long long start_ms[MAXJ], done_ms[MAXJ];
    int started;
    int64_t committed_mid; /* while job 0 is still running */
    int64_t committed_end; /* after everything finished */
    int stop_on_start;     /* drain test: stop as soon as the first job starts */
    int32_t partition;     /* where key "k" landed */
    int expect, ndone;     /* chain test: stop once `expect` jobs are done */
    int last_i, out_of_order;
    char *stack_ref;   /* a local's address in the first start handler */
    long stack_spread; /* how far later handlers' locals are from it */
    int checks;
    int prefetch_calls, prefetched_total;
    int prefetched[MAXJ];     /* job i's envelope was handed to the prefetch handler */
    int was_prefetched[MAXJ]; /* ... before job i started */
};

struct done_arg {
    struct run *r;
    struct stage_job *job;
    int i;
};

/* The group's committed offset for the test's partition, read with a separate handle. */
static int64_t committed(struct run *r)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", g_brokers, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "group.id", r->group, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk)
        return -100;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, r->topic, r->partition);
    int64_t off = -200;
    if (rd_kafka_committed(rk, l, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return off;
}

static int payload_int(const struct envelope *e, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(e->payload, key, &v) ? json_object_get_int(v) : -1;
}

static void check_mid(void *opaque)
{
    struct run *r = opaque;
    r->committed_mid = committed(r);
    r->checks++;
}

static void check_end(void *opaque)
{
    struct run *r = opaque;
    r->committed_end = committed(r);
    r->checks++;
    stage_request_stop(r->st);
}

static void finish(void *opaque)
{
    struct done_arg *d = opaque;
    struct run *r = d->r;
    if (d->i < 0) { /* chain test */
        r->ndone++;
        stage_job_done(d->job);
        if (r->ndone == r->expect)
            httploop_timer(r->loop, 300, check_end, r);
        free(d);
        return;
    }
    r->done_ms[d->i] = now_ms();
    stage_job_done(d->job);
    /* Job 4 is the last quick one; job 0 the slow one. */
    if (d->i == 4)
        httploop_timer(r->loop, 600, check_mid, r);
    if (d->i == 0 && !r->stop_on_start)
        httploop_timer(r->loop, 600, check_end, r);
    free(d);
}

static void chain_start(struct run *r, struct stage_job *job, int i, int delay)
{
    char here;
    if (i == 1)
        r->stack_ref = &here;
    if (i > 1 && r->stack_ref) {
        long d = (long)(r->stack_ref - &here);
        if (d < 0)
            d = -d;
        if (d > r->stack_spread)
            r->stack_spread = d;
    }
    if (i != r->last_i + 1)
        r->out_of_order++;
    r->last_i = i;
    r->started++;
    r->partition = stage_job_partition(job);
    if (delay < 0) {
        /* finished inside its start handler: the session's next job starts from here */
        r->ndone++;
        stage_job_done(job);
    } else {
        struct done_arg *d = calloc(1, sizeof(*d));
        assert_non_null(d);
        d->r = r;
        d->job = job;
        d->i = -1;
        assert_true(httploop_timer(r->loop, delay, finish, d) > 0);
    }
    if (r->ndone == r->expect)
        httploop_timer(r->loop, 300, check_end, r);
}

static void start(void *opaque, struct stage_job *job)
{
    struct run *r = opaque;
    const struct envelope *e = stage_job_envelope(job);
    int i = payload_int(e, "i");
    if (r->expect) {
        chain_start(r, job, i, payload_int(e, "delay_ms"));
        return;
    }
    assert_true(i >= 0 && i < MAXJ);
    r->was_prefetched[i] = r->prefetched[i];
    r->start_ms[i] = now_ms();
    r->started++;
    r->partition = stage_job_partition(job);
    struct done_arg *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    d->r = r;
    d->job = job;
    d->i = i;
    assert_true(httploop_timer(r->loop, payload_int(e, "delay_ms"), finish, d) > 0);
    if (r->stop_on_start)
        stage_request_stop(r->st);
}

/* The stage hands over the envelopes of the jobs a pass is about to start. */
static void prefetch(void *opaque, const struct envelope *const *envs, size_t n)
{
    struct run *r = opaque;
    r->prefetch_calls++;
    for (size_t k = 0; k < n; k++) {
        int i = payload_int(envs[k], "i");
        if (i >= 0 && i < MAXJ) {
            assert_int_equal(r->start_ms[i], 0); /* not started yet */
            r->prefetched[i] = 1;
        }
        r->prefetched_total++;
    }
}

/* A fresh topic of one partition: a real broker (auto.create.topics.enable=false, as in
 * production) takes no message for a topic nobody created. */
static void topic_new(struct kafka_producer *p, const char *topic)
{
    char err[256] = "";
    if (kafka_topic_ensure(p, topic, 1, 15000, err, sizeof(err)) != 0)
        fail_msg("topic %s: %s", topic, err);
}

static void produce_env(struct kafka_producer *p, const char *topic, int i, const char *session,
                        int delay_ms)
{
    struct envelope e;
    assert_int_equal(envelope_init(&e, "chat.routed", NULL), 0);
    snprintf(e.tenant_id, sizeof(e.tenant_id), "stage-test");
    snprintf(e.user_id, sizeof(e.user_id), "u");
    snprintf(e.session_id, sizeof(e.session_id), "%s", session);
    assert_int_equal(uuid_v4(e.message_id), 0);
    json_object_object_add(e.payload, "i", json_object_new_int(i));
    json_object_object_add(e.payload, "delay_ms", json_object_new_int(delay_ms));
    char *text = envelope_encode(&e);
    assert_non_null(text);
    char err[256] = "";
    /* One key: every message on the same partition, whatever its session. */
    int rc =
        kafka_produce_sync(p, topic, "k", text, strlen(text), NULL, 0, 10000, err, sizeof(err));
    if (rc != 0)
        fail_msg("produce: %s", err);
    free(text);
    envelope_cleanup(&e);
}

static void run_stage(struct run *r, struct kafka_producer *p)
{
    char err[256] = "";
    const char *topics[] = {r->topic};
    assert_int_equal(httploop_new(&r->loop), 0);
    struct stage_opts o = {
        .name = "test",
        .brokers = g_brokers,
        .group_id = r->group,
        .topics = topics,
        .ntopics = 1,
        .producer = p,
        .loop = r->loop,
        .drain_timeout_ms = 10000,
        .commit_interval_ms = 100,
        .handlers = {.start = start, .prefetch = prefetch, .opaque = r},
    };
    if (stage_new(&r->st, &o, err, sizeof(err)) != 0)
        fail_msg("stage_new: %s", err);
    assert_int_equal(stage_run(r->st), 0);
    httploop_free(r->loop);
    stage_free(r->st);
}

/* A message with `marker` in its value on agenthub.dlq, with x-source-topic == topic? */
static int dlq_has(const char *marker, const char *topic)
{
    char group[96], err[256] = "";
    snprintf(group, sizeof(group), "stage-test-dlq-%lld", now_ms());
    const char *topics[] = {KAFKA_TOPIC_DLQ};
    struct kafka_consumer_opts o = {.brokers = g_brokers,
                                    .group_id = group,
                                    .topics = topics,
                                    .ntopics = 1,
                                    .offset_reset = "earliest"};
    struct kafka_consumer *c = NULL;
    if (kafka_consumer_new(&c, &o, err, sizeof(err)) != 0)
        fail_msg("consumer: %s", err);
    int found = 0;
    long long end = now_ms() + 20000;
    while (!found && now_ms() < end) {
        rd_kafka_message_t *m = kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (!m->err && m->len == strlen(marker) && memcmp(m->payload, marker, m->len) == 0) {
            char src[160] = "", xerr[256] = "";
            kafka_msg_header(m, "x-source-topic", src, sizeof(src));
            kafka_msg_header(m, "x-error", xerr, sizeof(xerr));
            found = strcmp(src, topic) == 0 && xerr[0] ? 1 : -1;
        }
        rd_kafka_message_destroy(m);
    }
    kafka_consumer_free(c);
    return found;
}

static void test_commit_below_oldest_unfinished_dlq_and_session_order(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    r.committed_mid = r.committed_end = -300;
    long long t = now_ms();
    snprintf(r.topic, sizeof(r.topic), "agenthub.test.stage.%lld", t);
    snprintf(r.group, sizeof(r.group), "agenthub-test-stage-%lld", t);
    struct kafka_producer *p = NULL;
    char err[256] = "", s0[37], s1[37], s2[37], marker[96];
    assert_int_equal(kafka_producer_new(&p, g_brokers, err, sizeof(err)), 0);
    topic_new(p, r.topic);
    uuid_v4(s0);
    uuid_v4(s1);
    uuid_v4(s2);
    /* offsets 0..4 of one partition (a fresh topic) */
    produce_env(p, r.topic, 0, s0, 2500);                /* 0: slow: holds the commit point */
    produce_env(p, r.topic, 1, s1, 1500);                /* 1 */
    snprintf(marker, sizeof(marker), "poison-%lld{", t); /* 2: not an envelope */
    assert_int_equal(kafka_produce_sync(p, r.topic, "k", marker, strlen(marker), NULL, 0, 10000,
                                        err, sizeof(err)),
                     0);
    produce_env(p, r.topic, 3, s1, 50); /* 3: same session as 1: waits for it */
    produce_env(p, r.topic, 4, s2, 50); /* 4: a different session: runs at once */
    run_stage(&r, p);

    assert_int_equal(r.started, 4);
    assert_int_equal(r.checks, 2);
    /* Job 3 started only once job 1 of its session was done; job 4 did not wait. */
    assert_true(r.start_ms[3] >= r.done_ms[1]);
    assert_true(r.start_ms[4] < r.done_ms[1]);
    /* While job 0 ran, nothing past it was committed, though 1, 2 (DLQ), 3 and 4 were done. */
    assert_true(r.done_ms[0] > 0);
    assert_int_equal(r.committed_mid, 0);
    /* After it finished: everything. */
    assert_int_equal(r.committed_end, 5);
    assert_int_equal(dlq_has(marker, r.topic), 1);
    /* The jobs that started in an intake pass (0, 1 and 4) were handed to the prefetch
     * handler before they started; job 3, started when job 1 was done, and the poison message
     * were not. */
    assert_true(r.prefetch_calls >= 1);
    assert_int_equal(r.prefetched_total, 3);
    assert_int_equal(r.was_prefetched[0], 1);
    assert_int_equal(r.was_prefetched[1], 1);
    assert_int_equal(r.was_prefetched[4], 1);
    assert_int_equal(r.prefetched[3], 0);
    kafka_producer_free(p);
}

static void test_stop_drains_the_job_in_flight(void **state)
{
    (void)state;
    struct run r;
    memset(&r, 0, sizeof(r));
    long long t = now_ms();
    snprintf(r.topic, sizeof(r.topic), "agenthub.test.stagedrain.%lld", t);
    snprintf(r.group, sizeof(r.group), "agenthub-test-stagedrain-%lld", t);
    r.stop_on_start = 1;
    struct kafka_producer *p = NULL;
    char err[256] = "", s0[37];
    assert_int_equal(kafka_producer_new(&p, g_brokers, err, sizeof(err)), 0);
    topic_new(p, r.topic);
    uuid_v4(s0);
    produce_env(p, r.topic, 0, s0, 1500);
    long long t0 = now_ms();
    run_stage(&r, p);
    /* stage_run returned only after the job finished, and committed it. */
    assert_int_equal(r.started, 1);
    assert_true(r.done_ms[0] > 0);
    assert_true(r.done_ms[0] - r.start_ms[0] >= 1400);
    assert_true(now_ms() - t0 < 60000);
    assert_int_equal(committed(&r), 1);
    kafka_producer_free(p);
}

static void test_long_session_backlog_finishing_synchronously(void **state)
{
    (void)state;
    /* One session, CHAIN jobs: the first runs 500 ms, every later one finishes inside its
     * start handler (like a redelivered job that is already answered). They must all run, in
     * order, without one stack frame per job, and be committed. */
    struct run r;
    memset(&r, 0, sizeof(r));
    long long t = now_ms();
    snprintf(r.topic, sizeof(r.topic), "agenthub.test.stagechain.%lld", t);
    snprintf(r.group, sizeof(r.group), "agenthub-test-stagechain-%lld", t);
    r.expect = CHAIN;
    r.last_i = -1;
    r.committed_end = -300;
    struct kafka_producer *p = NULL;
    char err[256] = "", s0[37];
    assert_int_equal(kafka_producer_new(&p, g_brokers, err, sizeof(err)), 0);
    topic_new(p, r.topic);
    uuid_v4(s0);
    for (int i = 0; i < CHAIN; i++)
        produce_env(p, r.topic, i, s0, i == 0 ? 500 : -1);
    run_stage(&r, p);
    assert_int_equal(r.started, CHAIN);
    assert_int_equal(r.ndone, CHAIN);
    assert_int_equal(r.out_of_order, 0);
    assert_int_equal(r.committed_end, CHAIN);
    /* Started one after the other from the same frame, not nested once per job. */
    assert_true(r.stack_spread < 4096);
    kafka_producer_free(p);
}

int main(void)
{
    g_brokers = getenv("KAFKA_BROKERS");
    if (!g_brokers || !*g_brokers) {
        printf("KAFKA_BROKERS is not set: run through tests/run.sh\n");
        /* cmocka closing line so the runner counts a skip, not a pass */
        printf("[  SKIPPED ] 3 test(s).\n");
        return 0;
    }
    log_init("test-stage", LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_below_oldest_unfinished_dlq_and_session_order),
        cmocka_unit_test(test_stop_drains_the_job_in_flight),
        cmocka_unit_test(test_long_session_backlog_finishing_synchronously),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
