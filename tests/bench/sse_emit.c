/* sse_emit.c — writes job events the way the stages do (jobevents_emit: XADD to the job's
 * Redis stream, then its chat.event on agenthub.chat.events, linger 0), for
 * tests/bench/bench_sse.py. REDIS_URL and KAFKA_BROKERS from the environment.
 *
 * Reads lines "TENANT JOB_ID SESSION_ID EVENT DATA_JSON" on stdin; for each it prints the
 * CLOCK_MONOTONIC time (seconds) taken just before the XADD, then emits. A line "WARM" only
 * connects (Redis and the broker) and answers "OK". Built by bench_sse.py against the
 * flavour's libcommon.a.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "jobevents.h"
#include "kafka.h"
#include "rcache.h"

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    char err[256], line[65536];
    struct rcache *rc = NULL;
    struct kafka_producer *prod = NULL;
    const char *redis = getenv("REDIS_URL"), *brokers = getenv("KAFKA_BROKERS");
    if (!redis || !brokers) {
        fprintf(stderr, "sse_emit: REDIS_URL and KAFKA_BROKERS are required\n");
        return 2;
    }
    if (rcache_open(&rc, redis, err, sizeof err) != 0 ||
        kafka_producer_new(&prod, brokers, err, sizeof err) != 0) {
        fprintf(stderr, "sse_emit: %s\n", err);
        return 1;
    }
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        if (strcmp(line, "WARM") == 0) {
            rcache_ping(rc);
            kafka_producer_ping(prod, 5000);
            printf("OK\n");
            fflush(stdout);
            continue;
        }
        char *save = NULL, *tenant = strtok_r(line, " ", &save), *job = strtok_r(NULL, " ", &save),
             *session = strtok_r(NULL, " ", &save), *event = strtok_r(NULL, " ", &save),
             *data = save;
        if (!tenant || !job || !session || !event || !data)
            continue;
        struct envelope env;
        envelope_init(&env, "chat.event", NULL);
        snprintf(env.tenant_id, sizeof env.tenant_id, "%s", tenant);
        snprintf(env.job_id, sizeof env.job_id, "%s", job);
        snprintf(env.session_id, sizeof env.session_id, "%s", session);
        snprintf(env.user_id, sizeof env.user_id, "bench");
        json_object *d = json_tokener_parse(data);
        double t = mono();
        int st = jobevents_emit(rc, prod, &env, event, d, NULL, 0);
        printf("%.6f %d\n", t, st);
        fflush(stdout);
        json_object_put(d);
        envelope_cleanup(&env);
    }
    kafka_producer_free(prod);
    rcache_close(rc);
    return 0;
}
