/* ratelimit.c — the per-tenant LLM request limit, shared by every process through Redis.
 *
 * A sliding-window log: agenthub:{tenant}:ratelimit:llm is a sorted set of admitted request
 * times (Redis server time, ms). One Lua script trims entries older than the window, admits
 * the request if fewer than rpm remain, and otherwise says how long until the oldest one
 * leaves the window. Because the check and the insert are one atomic script and the clock is
 * Redis's, no window of that length ever holds more than rpm requests, whatever the number
 * of processes or hosts. (A fixed per-minute counter would allow 2 x rpm across a minute
 * boundary.) */
#include "provider.h"

#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *SCRIPT =
    "local key = KEYS[1]\n"
    "local limit = tonumber(ARGV[1])\n"
    "local window = tonumber(ARGV[2])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)\n"
    "if redis.call('ZCARD', key) < limit then\n"
    "  redis.call('ZADD', key, now, ARGV[3] .. ':' .. t[1] .. t[2])\n"
    "  redis.call('PEXPIRE', key, window + 1000)\n"
    "  return 0\n"
    "end\n"
    "local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')\n"
    "local wait = tonumber(oldest[2]) + window - now + 1\n"
    "if wait < 1 then wait = 1 end\n"
    "return wait\n";

long llm_ratelimit_acquire(struct rcache *r, const char *tenant, long rpm, long window_ms)
{
    static unsigned long counter;
    if (!r || !tenant || rpm <= 0)
        return 0;
    char key[160];
    snprintf(key, sizeof(key), "agenthub:%s:ratelimit:llm", tenant);
    char limit[32], window[32], member[64];
    snprintf(limit, sizeof(limit), "%ld", rpm);
    snprintf(window, sizeof(window), "%ld", window_ms);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(member, sizeof(member), "%d-%lu-%ld", (int)getpid(), ++counter, (long)ts.tv_nsec);
    const char *argv[] = {"EVAL", SCRIPT, "1", key, limit, window, member};
    redisReply *rep = NULL;
    int st = rcache_commandv(r, &rep, 7, argv, NULL);
    long wait = -1;
    if (st == RC_OK && rep && rep->type == REDIS_REPLY_INTEGER)
        wait = (long)rep->integer;
    if (rep)
        freeReplyObject(rep);
    if (wait < 0) {
        struct log_ctx ctx = {.tenant_id = tenant};
        log_kv(LOG_WARN, &ctx, "llm rate limit not enforced: redis unavailable", "status",
               rc_status_str(st), (char *)NULL);
    }
    return wait;
}
