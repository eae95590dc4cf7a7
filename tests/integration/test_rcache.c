/* test_rcache.c — rcache against the local stack's Redis (REDIS_URL).
 *
 * get/setex/del with misses told apart from errors, binary-safe values, error replies,
 * del_pattern over more keys than one SCAN page, many threads on the small pool, and Redis
 * going away: `compose/local/stack stop redis` turns calls into RC_ERR_DOWN (never RC_MISS),
 * and after `stack start redis` the same client works again without being recreated. A
 * pipeline returns its replies in order, an error reply is that command's alone, and a
 * pipeline sent while Redis is down fails every command as RC_ERR_DOWN. The
 * stack command can be overridden with AGENTHUB_STACK.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "passmemo.h"
#include "rcache.h"
#include "tests/support/stack.h"

static const char *g_url;
static char g_tenant[64];

static struct rcache *open_client(void)
{
    struct rcache *r = NULL;
    char err[256];
    if (rcache_open(&r, g_url, err, sizeof err) != RC_OK)
        fail_msg("rcache_open: %s", err);
    return r;
}

static int setup(void **state)
{
    (void)state;
    g_url = getenv("REDIS_URL");
    snprintf(g_tenant, sizeof g_tenant, "rctest-%d", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!g_url || !*g_url)
        return 0;
    struct rcache *r = NULL;
    char err[256], pat[128];
    if (rcache_open(&r, g_url, err, sizeof err) == RC_OK) {
        snprintf(pat, sizeof pat, "agenthub:%s:*", g_tenant);
        rcache_del_pattern(r, pat);
        rcache_close(r);
    }
    return 0;
}

#define NEED_REDIS()                                                                               \
    do {                                                                                           \
        if (!g_url || !*g_url)                                                                     \
            skip();                                                                                \
    } while (0)

static void test_get_set_miss_del(void **state)
{
    (void)state;
    NEED_REDIS();
    struct rcache *r = open_client();
    char key[128];
    rcache_key(key, sizeof key, g_tenant, "agent", "a1");
    char *val = NULL;
    size_t len = 0;
    assert_int_equal(rcache_ping(r), RC_OK);
    assert_int_equal(rcache_get(r, key, &val, &len), RC_MISS);
    assert_null(val);
    assert_int_equal(rcache_setex(r, key, "{\"name\":\"AgentDebt\"}", 20, RC_TTL_AGENT), RC_OK);
    assert_int_equal(rcache_get(r, key, &val, &len), RC_OK);
    assert_int_equal(len, 20);
    assert_string_equal(val, "{\"name\":\"AgentDebt\"}");
    free(val);

    redisReply *rep = NULL;
    assert_int_equal(rcache_command(r, &rep, "TTL %s", key), RC_OK);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    assert_true(rep->integer > RC_TTL_AGENT - 10 && rep->integer <= RC_TTL_AGENT);
    freeReplyObject(rep);

    assert_int_equal(rcache_del(r, key), RC_OK);
    assert_int_equal(rcache_get(r, key, &val, &len), RC_MISS);
    rcache_close(r);
}

/* Inside a stage's intake pass (passmemo.h) a key is read from Redis once: a change made by
 * another client meanwhile is not seen until the pass ends, a miss is remembered too, and a
 * write through this process forgets what the pass remembered. */
static void test_pass_reads_once(void **state)
{
    (void)state;
    NEED_REDIS();
    struct rcache *r = open_client(), *other = open_client();
    char key[128], missing[128];
    rcache_key(key, sizeof key, g_tenant, "agent", "memo");
    rcache_key(missing, sizeof missing, g_tenant, "agent", "memo-missing");
    assert_int_equal(rcache_setex(r, key, "one", 3, 60), RC_OK);
    char *val = NULL;
    size_t len = 0;

    passmemo_begin();
    assert_int_equal(rcache_get(r, key, &val, &len), RC_OK);
    assert_string_equal(val, "one");
    free(val);
    assert_int_equal(rcache_get(r, missing, &val, &len), RC_MISS);
    /* another process (a second client here) changes both keys */
    redisReply *rep = NULL;
    assert_int_equal(rcache_command(other, &rep, "SET %s two", key), RC_OK);
    freeReplyObject(rep);
    assert_int_equal(rcache_command(other, &rep, "SET %s now", missing), RC_OK);
    freeReplyObject(rep);
    assert_int_equal(rcache_get(r, key, &val, &len), RC_OK);
    assert_string_equal(val, "one"); /* the pass's answer */
    assert_int_equal(len, 3);
    free(val);
    assert_int_equal(rcache_get(r, missing, &val, &len), RC_MISS);
    assert_null(val);
    /* a write through this process: the pass forgets */
    assert_int_equal(rcache_del(r, "agenthub:unrelated:key"), RC_OK);
    assert_int_equal(rcache_get(r, key, &val, &len), RC_OK);
    assert_string_equal(val, "two");
    free(val);
    assert_int_equal(rcache_get(r, missing, &val, &len), RC_OK);
    assert_string_equal(val, "now");
    free(val);
    assert_int_equal(rcache_command(other, &rep, "SET %s three", key), RC_OK);
    freeReplyObject(rep);
    passmemo_end();

    /* after the pass every read goes to Redis again */
    assert_int_equal(rcache_get(r, key, &val, &len), RC_OK);
    assert_string_equal(val, "three");
    free(val);
    rcache_del(r, key);
    rcache_del(r, missing);
    rcache_close(other);
    rcache_close(r);
}

static void test_binary_values_and_error_replies(void **state)
{
    (void)state;
    NEED_REDIS();
    struct rcache *r = open_client();
    char key[128];
    rcache_key(key, sizeof key, g_tenant, "blob", "1");
    const char blob[] = {'a', '\0', 'b', '\r', '\n', (char)0xff};
    assert_int_equal(rcache_setex(r, key, blob, sizeof blob, 60), RC_OK);
    char *val = NULL;
    size_t len = 0;
    assert_int_equal(rcache_get(r, key, &val, &len), RC_OK);
    assert_int_equal(len, sizeof blob);
    assert_memory_equal(val, blob, sizeof blob);
    assert_int_equal(val[len], '\0');
    free(val);

    /* INCR on a non-number: Redis answers with an error, which is not "down". */
    redisReply *rep = NULL;
    const char *argv[] = {"INCR", key};
    assert_int_equal(rcache_commandv(r, &rep, 2, argv, NULL), RC_ERR_REPLY);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);
    /* GET on a list: a wrong-type error, not a miss. */
    rcache_key(key, sizeof key, g_tenant, "list", "1");
    assert_int_equal(rcache_command(r, NULL, "RPUSH %s x", key), RC_OK);
    assert_int_equal(rcache_get(r, key, &val, &len), RC_ERR_REPLY);
    assert_null(val);
    /* The connection is still good after error replies. */
    assert_int_equal(rcache_ping(r), RC_OK);
    /* Counters for rate limits. */
    rcache_key(key, sizeof key, g_tenant, "rate", "rpm");
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(rcache_command(r, &rep, "INCR %s", key), RC_OK);
        assert_int_equal(rep->integer, i);
        freeReplyObject(rep);
    }
    rcache_close(r);
}

static void test_pipeline(void **state)
{
    (void)state;
    NEED_REDIS();
    struct rcache *r = open_client();
    enum { N = 300 };
    static char keys[N][128], vals[N][16];
    static const char *argv[N][3];
    struct rcache_cmd cmds[N + 1];
    char list[128];
    rcache_key(list, sizeof list, g_tenant, "plist", "1");
    assert_int_equal(rcache_command(r, NULL, "RPUSH %s x", list), RC_OK);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "agenthub:%s:cache:pipe:%d", g_tenant, i);
        snprintf(vals[i], sizeof vals[i], "v%d", i);
        argv[i][0] = "SET", argv[i][1] = keys[i], argv[i][2] = vals[i];
        cmds[i] = (struct rcache_cmd){.argc = 3, .argv = argv[i]};
    }
    /* The 151st command is an INCR on a list: an error reply for it alone. */
    const char *bad[] = {"INCR", list};
    cmds[N] = cmds[150];
    cmds[150] = (struct rcache_cmd){.argc = 2, .argv = bad};
    assert_int_equal(rcache_pipeline(r, cmds, N + 1), RC_OK);
    for (int i = 0; i <= N; i++) {
        assert_non_null(cmds[i].reply);
        if (i == 150) {
            assert_int_equal(cmds[i].status, RC_ERR_REPLY);
            assert_int_equal(cmds[i].reply->type, REDIS_REPLY_ERROR);
        } else {
            assert_int_equal(cmds[i].status, RC_OK);
            assert_int_equal(cmds[i].reply->type, REDIS_REPLY_STATUS);
        }
        freeReplyObject(cmds[i].reply);
    }
    /* Every SET ran, the one moved to the end included; read back in one more pipeline. */
    for (int i = 0; i < N; i++) {
        argv[i][0] = "GET";
        cmds[i] = (struct rcache_cmd){.argc = 2, .argv = argv[i]};
    }
    assert_int_equal(rcache_pipeline(r, cmds, N), RC_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(cmds[i].status, RC_OK);
        assert_int_equal(cmds[i].reply->type, REDIS_REPLY_STRING);
        assert_string_equal(cmds[i].reply->str, vals[i]);
        freeReplyObject(cmds[i].reply);
    }
    /* Nothing to send is not an error; a malformed command fails before anything is sent. */
    assert_int_equal(rcache_pipeline(r, cmds, 0), RC_OK);
    cmds[0] = (struct rcache_cmd){.argc = 0, .argv = argv[0]};
    assert_int_equal(rcache_pipeline(r, cmds, 1), RC_ERR_REPLY);
    assert_null(cmds[0].reply);
    assert_int_equal(rcache_ping(r), RC_OK);
    rcache_close(r);
}

static void test_del_pattern(void **state)
{
    (void)state;
    NEED_REDIS();
    struct rcache *r = open_client();
    char key[128], pat[128];
    /* More keys than one SCAN page, in the seed's agent namespace, plus neighbours that must
     * survive. */
    for (int i = 0; i < 1200; i++) {
        snprintf(key, sizeof key, "agenthub:%s:cache:agent:%d", g_tenant, i);
        assert_int_equal(rcache_setex(r, key, "x", 1, 300), RC_OK);
    }
    rcache_key(key, sizeof key, g_tenant, "tool", "t1");
    assert_int_equal(rcache_setex(r, key, "keep", 4, 300), RC_OK);
    snprintf(pat, sizeof pat, "agenthub:%s:cache:agent:*", g_tenant);
    assert_int_equal(rcache_del_pattern(r, pat), RC_OK);

    redisReply *rep = NULL;
    int left = 0;
    char cursor[32] = "0";
    do {
        assert_int_equal(rcache_command(r, &rep, "SCAN %s MATCH %s COUNT 1000", cursor, pat),
                         RC_OK);
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        left += (int)rep->element[1]->elements;
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    assert_int_equal(left, 0);
    char *val = NULL;
    size_t len;
    assert_int_equal(rcache_get(r, key, &val, &len), RC_OK);
    assert_string_equal(val, "keep");
    free(val);
    /* No match is fine. */
    assert_int_equal(rcache_del_pattern(r, "agenthub:nobody-here-xyz:*"), RC_OK);
    assert_int_equal(rcache_del_pattern(r, ""), RC_ERR_REPLY);
    rcache_close(r);
}

struct worker {
    struct rcache *r;
    int id;
    int ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char key[128], v[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "agenthub:%s:cache:w%d:%d", g_tenant, w->id, i);
        int n = snprintf(v, sizeof v, "%d-%d", w->id, i);
        if (rcache_setex(w->r, key, v, (size_t)n, 60) != RC_OK)
            continue;
        char *got = NULL;
        size_t len = 0;
        if (rcache_get(w->r, key, &got, &len) == RC_OK && len == (size_t)n &&
            memcmp(got, v, len) == 0)
            w->ok++;
        free(got);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    NEED_REDIS();
    struct rcache *r = open_client();
    struct worker w[12];
    pthread_t t[12];
    for (int i = 0; i < 12; i++) {
        w[i] = (struct worker){.r = r, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 12; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 100);
    }
    rcache_close(r);
}

static void test_server_restart(void **state)
{
    (void)state;
    NEED_REDIS();
    if (!stack_available())
        skip();
    struct rcache *r = open_client();
    char key[128];
    rcache_key(key, sizeof key, g_tenant, "agent", "restart");
    assert_int_equal(rcache_setex(r, key, "v", 1, 60), RC_OK);
    /* Warm several pool slots so stale connections exist when Redis goes away. */
    struct worker w[10];
    pthread_t t[10];
    for (int i = 0; i < 10; i++) {
        w[i] = (struct worker){.r = r, .id = 200 + i};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 10; i++)
        pthread_join(t[i], NULL);

    int stop_rc = stack_run("stop", "redis");
    char *val = NULL;
    size_t len = 0;
    int get_st = rcache_get(r, key, &val, &len);
    char *val_after = val;
    int set_st = rcache_setex(r, key, "w", 1, 60);
    int ping_st = rcache_ping(r);
    int del_st = rcache_del_pattern(r, "agenthub:x:*");
    const char *pargv[] = {"GET", key};
    struct rcache_cmd pcmds[2] = {{.argc = 2, .argv = pargv}, {.argc = 2, .argv = pargv}};
    int pipe_st = rcache_pipeline(r, pcmds, 2);
    int start_rc = stack_run("start", "redis"); /* always, before any assertion */

    /* Back within a bounded time; every failure on the way is "down". */
    int back = 0, others = 0;
    for (int i = 0; i < 100 && !back; i++) {
        int st = rcache_ping(r);
        if (st == RC_OK)
            back = 1;
        else if (st != RC_ERR_DOWN)
            others++;
        else
            usleep(100 * 1000);
    }
    assert_int_equal(stop_rc, 0);
    assert_int_equal(start_rc, 0);
    assert_int_equal(get_st, RC_ERR_DOWN);
    assert_null(val_after);
    assert_int_equal(set_st, RC_ERR_DOWN);
    assert_int_equal(ping_st, RC_ERR_DOWN);
    assert_int_equal(del_st, RC_ERR_DOWN);
    assert_int_equal(pipe_st, RC_ERR_DOWN);
    assert_int_equal(pcmds[0].status, RC_ERR_DOWN);
    assert_int_equal(pcmds[1].status, RC_ERR_DOWN);
    assert_null(pcmds[0].reply);
    assert_null(pcmds[1].reply);
    assert_true(back);
    assert_int_equal(others, 0);
    /* Same client, all pool slots: a burst of threads works again. */
    for (int i = 0; i < 10; i++) {
        w[i] = (struct worker){.r = r, .id = 100 + i};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 10; i++) {
        pthread_join(t[i], NULL);
        total += w[i].ok;
    }
    assert_int_equal(total, 10 * 100);
    assert_int_equal(rcache_setex(r, key, "again", 5, 60), RC_OK);
    assert_int_equal(rcache_get(r, key, &val, &len), RC_OK);
    assert_string_equal(val, "again");
    free(val);
    rcache_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_set_miss_del),
        cmocka_unit_test(test_pass_reads_once),
        cmocka_unit_test(test_binary_values_and_error_replies),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_del_pattern),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_server_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
