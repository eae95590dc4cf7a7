/* test_jobevents.c — per-job event streams against the local stack (REDIS_URL, KAFKA_BROKERS).
 *
 * Emit several events, read them all, read after an id (Last-Event-ID resume) and page
 * through with a small max: no event lost, none repeated, order kept. Invalid input is refused
 * without touching the stream. jobevents_emit_many appends one event to each of many jobs in
 * one pipeline: each job gets exactly its own event with its TTL, and an invalid job among them
 * fails alone. With KAFKA_BROKERS set, the chat.event mirror on
 * agenthub.chat.events is checked too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "jobevents.h"
#include "kafka.h"
#include "rcache.h"
#include "uuid.h"

static const char *g_url;
static struct rcache *g_r;

static int setup(void **state)
{
    (void)state;
    g_url = getenv("REDIS_URL");
    if (!g_url || !*g_url)
        return 0;
    char err[256];
    if (rcache_open(&g_r, g_url, err, sizeof err) != RC_OK) {
        fprintf(stderr, "rcache_open: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rcache_close(g_r);
    return 0;
}

#define NEED_REDIS()                                                                               \
    do {                                                                                           \
        if (!g_r)                                                                                  \
            skip();                                                                                \
    } while (0)

static void new_job(struct envelope *env, const char *tenant)
{
    assert_int_equal(envelope_init(env, "chat.request", NULL), 0);
    snprintf(env->tenant_id, sizeof env->tenant_id, "%s", tenant);
    snprintf(env->user_id, sizeof env->user_id, "user-1");
    assert_int_equal(uuid_v4(env->session_id), 0);
    assert_int_equal(uuid_v4(env->message_id), 0);
}

static const char *const g_events[] = {"queued", "routed", "tool_call", "tool_result",
                                       "delta",  "delta",  "final"};
#define NEVENTS ((int)(sizeof g_events / sizeof g_events[0]))

static void emit_all(struct envelope *env, struct kafka_producer *p, char ids[][64])
{
    for (int i = 0; i < NEVENTS; i++) {
        json_object *d = json_object_new_object();
        json_object_object_add(d, "n", json_object_new_int(i));
        json_object_object_add(d, "text", json_object_new_string("xin chào \"quoted\"\n"));
        int st = jobevents_emit(g_r, p, env, g_events[i], d, ids[i], 64);
        json_object_put(d);
        assert_int_equal(st, RC_OK);
        assert_true(strlen(ids[i]) > 2);
        if (i > 0)
            assert_string_not_equal(ids[i], ids[i - 1]);
    }
}

static void check_entry(json_object *o, const char *id, int n)
{
    json_object *v;
    assert_true(json_object_object_get_ex(o, "id", &v));
    assert_string_equal(json_object_get_string(v), id);
    assert_true(json_object_object_get_ex(o, "event", &v));
    assert_string_equal(json_object_get_string(v), g_events[n]);
    assert_true(json_object_object_get_ex(o, "data", &v));
    assert_true(json_object_is_type(v, json_type_object));
    json_object *x;
    assert_true(json_object_object_get_ex(v, "n", &x));
    assert_int_equal(json_object_get_int(x), n);
    assert_true(json_object_object_get_ex(v, "text", &x));
    assert_string_equal(json_object_get_string(x), "xin chào \"quoted\"\n");
}

static void test_emit_read_all_and_after(void **state)
{
    (void)state;
    NEED_REDIS();
    struct envelope env;
    new_job(&env, "tenant-je");
    char ids[NEVENTS][64];
    emit_all(&env, NULL, ids);

    json_object *arr = NULL;
    assert_int_equal(jobevents_read(g_r, "tenant-je", env.job_id, "0", 100, &arr), RC_OK);
    assert_int_equal((int)json_object_array_length(arr), NEVENTS);
    for (int i = 0; i < NEVENTS; i++)
        check_entry(json_object_array_get_idx(arr, (size_t)i), ids[i], i);
    json_object_put(arr);

    /* NULL and "" mean "from the start" too. */
    assert_int_equal(jobevents_read(g_r, "tenant-je", env.job_id, NULL, 100, &arr), RC_OK);
    assert_int_equal((int)json_object_array_length(arr), NEVENTS);
    json_object_put(arr);

    /* Resume after each id: exactly the later ones. */
    for (int k = 0; k < NEVENTS; k++) {
        assert_int_equal(jobevents_read(g_r, "tenant-je", env.job_id, ids[k], 100, &arr), RC_OK);
        assert_int_equal((int)json_object_array_length(arr), NEVENTS - 1 - k);
        for (int i = k + 1; i < NEVENTS; i++)
            check_entry(json_object_array_get_idx(arr, (size_t)(i - k - 1)), ids[i], i);
        json_object_put(arr);
    }

    /* The stream carries the 24 h TTL. */
    redisReply *rep = NULL;
    assert_int_equal(rcache_command(g_r, &rep, "TTL agenthub:tenant-je:job:%s:events", env.job_id),
                     RC_OK);
    assert_true(rep->integer > (long long)JOBEVENTS_TTL_S - 60 && rep->integer <= JOBEVENTS_TTL_S);
    freeReplyObject(rep);
    rcache_command(g_r, NULL, "DEL agenthub:tenant-je:job:%s:events", env.job_id);
    envelope_cleanup(&env);
}

static void test_paging_no_loss_no_dup(void **state)
{
    (void)state;
    NEED_REDIS();
    struct envelope env;
    new_job(&env, "tenant-je");
    char ids[NEVENTS][64];
    emit_all(&env, NULL, ids);

    char after[64] = "0";
    int seen = 0;
    for (int round = 0; round < 20; round++) {
        json_object *arr = NULL;
        assert_int_equal(jobevents_read(g_r, "tenant-je", env.job_id, after, 2, &arr), RC_OK);
        int n = (int)json_object_array_length(arr);
        assert_true(n <= 2);
        for (int i = 0; i < n; i++) {
            assert_true(seen < NEVENTS);
            json_object *o = json_object_array_get_idx(arr, (size_t)i);
            check_entry(o, ids[seen], seen);
            seen++;
            json_object *id;
            json_object_object_get_ex(o, "id", &id);
            snprintf(after, sizeof after, "%s", json_object_get_string(id));
        }
        json_object_put(arr);
        if (n == 0)
            break;
    }
    assert_int_equal(seen, NEVENTS);
    rcache_command(g_r, NULL, "DEL agenthub:tenant-je:job:%s:events", env.job_id);
    envelope_cleanup(&env);
}

static void test_jobs_and_tenants_are_separate(void **state)
{
    (void)state;
    NEED_REDIS();
    struct envelope a, b;
    new_job(&a, "tenant-je");
    new_job(&b, "tenant-je2");
    char ids[NEVENTS][64];
    emit_all(&a, NULL, ids);
    json_object *arr = NULL;
    /* b's job has no events; a's job under b's tenant has none either. */
    assert_int_equal(jobevents_read(g_r, "tenant-je2", b.job_id, "0", 100, &arr), RC_OK);
    assert_int_equal((int)json_object_array_length(arr), 0);
    json_object_put(arr);
    assert_int_equal(jobevents_read(g_r, "tenant-je2", a.job_id, "0", 100, &arr), RC_OK);
    assert_int_equal((int)json_object_array_length(arr), 0);
    json_object_put(arr);
    rcache_command(g_r, NULL, "DEL agenthub:tenant-je:job:%s:events", a.job_id);
    envelope_cleanup(&a);
    envelope_cleanup(&b);
}

static void test_invalid_input(void **state)
{
    (void)state;
    NEED_REDIS();
    struct envelope env;
    new_job(&env, "tenant-je");
    char id[64] = "unchanged";
    assert_int_not_equal(jobevents_emit(g_r, NULL, &env, "bogus", NULL, id, sizeof id), RC_OK);
    assert_string_equal(id, "");
    assert_int_not_equal(jobevents_emit(g_r, NULL, NULL, "queued", NULL, id, sizeof id), RC_OK);

    json_object *arr = (json_object *)1;
    assert_int_equal(jobevents_read(g_r, "tenant-je", env.job_id, "0", 100, &arr), RC_OK);
    assert_int_equal((int)json_object_array_length(arr), 0); /* nothing was appended */
    json_object_put(arr);

    static const char *const bad_after[] = {
        "abc", "1-", "-1", "1-2-3", "(5", "1 2", "123456789012345678901234-1"};
    for (size_t i = 0; i < sizeof bad_after / sizeof bad_after[0]; i++) {
        arr = (json_object *)1;
        assert_int_equal(jobevents_read(g_r, "tenant-je", env.job_id, bad_after[i], 10, &arr),
                         RC_ERR_REPLY);
        assert_null(arr);
    }
    /* Ids that cannot reach another tenant's or job's keys. */
    assert_int_equal(jobevents_read(g_r, "tenant:*", env.job_id, "0", 10, &arr), RC_ERR_REPLY);
    assert_int_equal(jobevents_read(g_r, "tenant-je", "*", "0", 10, &arr), RC_ERR_REPLY);
    assert_int_equal(jobevents_read(g_r, "tenant-je", env.job_id, "0", 0, &arr), RC_ERR_REPLY);
    struct envelope bad = env;
    bad.payload = NULL;
    snprintf(bad.tenant_id, sizeof bad.tenant_id, "a:b");
    assert_int_not_equal(jobevents_emit(g_r, NULL, &bad, "queued", NULL, NULL, 0), RC_OK);

    /* data NULL is a JSON null; a bare "<ms>" id resumes too. */
    assert_int_equal(jobevents_emit(g_r, NULL, &env, "error", NULL, id, sizeof id), RC_OK);
    assert_int_equal(jobevents_read(g_r, "tenant-je", env.job_id, "0", 10, &arr), RC_OK);
    assert_int_equal((int)json_object_array_length(arr), 1);
    json_object *d = (json_object *)1;
    assert_true(json_object_object_get_ex(json_object_array_get_idx(arr, 0), "data", &d));
    assert_null(d);
    json_object_put(arr);
    assert_int_equal(jobevents_read(g_r, "tenant-je", env.job_id, "1", 10, &arr), RC_OK);
    assert_int_equal((int)json_object_array_length(arr), 1);
    json_object_put(arr);
    rcache_command(g_r, NULL, "DEL agenthub:tenant-je:job:%s:events", env.job_id);
    envelope_cleanup(&env);
}

static void test_emit_many(void **state)
{
    (void)state;
    NEED_REDIS();
    enum { N = 40 };
    struct envelope env[N];
    const struct envelope *envs[N];
    json_object *data[N];
    int status[N];
    for (int i = 0; i < N; i++) {
        new_job(&env[i], "tenant-je");
        envs[i] = &env[i];
        data[i] = json_object_new_object();
        json_object_object_add(data[i], "n", json_object_new_int(i));
    }
    snprintf(env[7].tenant_id, sizeof env[7].tenant_id, "bad:tenant"); /* refused alone */
    assert_int_equal(jobevents_emit_many(g_r, envs, "queued", data, N, status), RC_OK);
    for (int i = 0; i < N; i++) {
        if (i == 7) {
            assert_int_equal(status[i], RC_ERR_REPLY);
            continue;
        }
        assert_int_equal(status[i], RC_OK);
        json_object *arr = NULL, *o, *v, *x;
        assert_int_equal(jobevents_read(g_r, "tenant-je", env[i].job_id, "0", 10, &arr), RC_OK);
        assert_int_equal((int)json_object_array_length(arr), 1);
        o = json_object_array_get_idx(arr, 0);
        assert_true(json_object_object_get_ex(o, "event", &v));
        assert_string_equal(json_object_get_string(v), "queued");
        assert_true(json_object_object_get_ex(o, "data", &v));
        assert_true(json_object_object_get_ex(v, "n", &x));
        assert_int_equal(json_object_get_int(x), i);
        json_object_put(arr);
        redisReply *rep = NULL;
        assert_int_equal(
            rcache_command(g_r, &rep, "TTL agenthub:tenant-je:job:%s:events", env[i].job_id),
            RC_OK);
        assert_true(rep->integer > (long long)JOBEVENTS_TTL_S - 60 &&
                    rep->integer <= JOBEVENTS_TTL_S);
        freeReplyObject(rep);
        rcache_command(g_r, NULL, "DEL agenthub:tenant-je:job:%s:events", env[i].job_id);
    }
    /* An unknown event name fails every job and writes nothing. */
    assert_int_equal(jobevents_emit_many(g_r, envs, "bogus", data, 3, status), RC_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(status[i], RC_ERR_REPLY);
        json_object *arr = NULL;
        assert_int_equal(jobevents_read(g_r, "tenant-je", env[i].job_id, "0", 10, &arr), RC_OK);
        assert_int_equal((int)json_object_array_length(arr), 0);
        json_object_put(arr);
    }
    assert_int_equal(jobevents_emit_many(g_r, envs, "queued", data, 0, status), RC_OK);
    for (int i = 0; i < N; i++) {
        json_object_put(data[i]);
        envelope_cleanup(&env[i]);
    }
}

/* The Kafka mirror: a chat.event envelope per emitted event but `delta`, keyed by session.
 * All go to one partition in order, so once the final is read a delta copy would have been. */
static void test_kafka_mirror(void **state)
{
    (void)state;
    NEED_REDIS();
    const char *brokers = getenv("KAFKA_BROKERS");
    if (!brokers || !*brokers)
        skip();
    char err[512];
    struct kafka_producer *p = NULL;
    assert_int_equal(kafka_producer_new(&p, brokers, err, sizeof err), 0);
    kafka_topic_ensure(p, KAFKA_TOPIC_CHAT_EVENTS, 0, 10000, err, sizeof err);

    char group[64];
    snprintf(group, sizeof group, "test-jobevents-%d", (int)getpid());
    const char *topics[] = {KAFKA_TOPIC_CHAT_EVENTS};
    struct kafka_consumer_opts o = {.brokers = brokers,
                                    .group_id = group,
                                    .topics = topics,
                                    .ntopics = 1,
                                    .offset_reset = "earliest"};
    struct kafka_consumer *c = NULL;
    assert_int_equal(kafka_consumer_new(&c, &o, err, sizeof err), 0);

    struct envelope env;
    new_job(&env, "tenant-je");
    char ids[NEVENTS][64];
    emit_all(&env, p, ids);
    assert_int_equal(kafka_producer_flush(p, 10000), 0);

    int found[NEVENTS] = {0}, nfound = 0, nwanted = 0;
    for (int i = 0; i < NEVENTS; i++)
        nwanted += strcmp(g_events[i], "delta") != 0;
    time_t deadline = time(NULL) + 30;
    while (nfound < nwanted && time(NULL) < deadline) {
        rd_kafka_message_t *m = kafka_consumer_poll(c, 500);
        if (!m)
            continue;
        struct envelope ev;
        if (!m->err && envelope_decode(&ev, m->payload, m->len, err, sizeof err) == 0) {
            if (strcmp(ev.job_id, env.job_id) == 0) {
                assert_string_equal(ev.type, "chat.event");
                assert_string_equal(ev.tenant_id, "tenant-je");
                assert_string_equal(ev.session_id, env.session_id);
                assert_int_equal((int)m->key_len, (int)strlen(env.session_id));
                assert_memory_equal(m->key, env.session_id, m->key_len);
                json_object *id = NULL, *event = NULL;
                json_object_object_get_ex(ev.payload, "id", &id);
                json_object_object_get_ex(ev.payload, "event", &event);
                for (int i = 0; i < NEVENTS; i++) {
                    if (!found[i] && id && strcmp(json_object_get_string(id), ids[i]) == 0) {
                        assert_string_equal(json_object_get_string(event), g_events[i]);
                        assert_string_not_equal(g_events[i], "delta");
                        found[i] = 1;
                        nfound++;
                    }
                }
            }
            envelope_cleanup(&ev);
        }
        rd_kafka_message_destroy(m);
    }
    kafka_consumer_free(c);
    kafka_producer_free(p);
    assert_int_equal(nfound, nwanted);
    rcache_command(g_r, NULL, "DEL agenthub:tenant-je:job:%s:events", env.job_id);
    envelope_cleanup(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emit_read_all_and_after),
        cmocka_unit_test(test_paging_no_loss_no_dup),
        cmocka_unit_test(test_jobs_and_tenants_are_separate),
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_emit_many),
        cmocka_unit_test(test_kafka_mirror),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
