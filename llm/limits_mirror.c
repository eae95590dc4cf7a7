/* limits_mirror.c — tenant_limits into Redis, newest version wins (see limits_mirror.h). */
#include "limits_mirror.h"

#include <stdio.h>
#include <time.h>

#include "usage.h"

/* KEYS[1] the limits hash; ARGV[1] the row's version, then field/value pairs. */
static const char MIRROR_LUA[] = "local v = tonumber(redis.call('HGET', KEYS[1], 'ver'))\n"
                                 "if v and v >= tonumber(ARGV[1]) then return 0 end\n"
                                 "redis.call('DEL', KEYS[1])\n"
                                 "redis.call('HSET', KEYS[1], 'ver', unpack(ARGV))\n"
                                 "return 1\n";

int limits_mirror_write(struct rcache *rc, const char *tenant, const PGresult *res, int i)
{
    static const char *cols[] = {"requests_per_minute", "user_requests_per_minute", "budget_tokens",
                                 "budget_micros", "soft_threshold_pct"};
    static const char *fields[] = {"rpm", "user_rpm", "budget_tokens", "budget_micros", "soft_pct"};
    char key[160];
    const char *argv[5 + 2 * 5];
    int argc = 0, ver = PQfnumber(res, "ver");
    if (ver < 0 || PQgetisnull(res, i, ver))
        return -1;
    usage_limits_key(key, sizeof key, tenant);
    argv[argc++] = "EVAL";
    argv[argc++] = MIRROR_LUA;
    argv[argc++] = "1";
    argv[argc++] = key;
    argv[argc++] = PQgetvalue(res, i, ver);
    for (int c = 0; c < 5; c++) {
        int col = PQfnumber(res, cols[c]);
        if (col < 0 || PQgetisnull(res, i, col))
            continue;
        argv[argc++] = fields[c];
        argv[argc++] = PQgetvalue(res, i, col);
    }
    redisReply *rep = NULL;
    int st = rcache_commandv(rc, &rep, argc, argv, NULL);
    int rc_out = st == RC_OK && rep && rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -1;
    if (rep)
        freeReplyObject(rep);
    return rc_out;
}

void limits_mirror_seed_spend(struct rcache *rc, struct pgpool *db, const char *tenant)
{
    char spent[160], period[8], err[256];
    usage_period(time(NULL), period, NULL);
    usage_spent_key(spent, sizeof spent, tenant, period);
    redisReply *rep = NULL;
    int missing = rcache_command(rc, &rep, "EXISTS %s", spent) == RC_OK && rep &&
                  rep->type == REDIS_REPLY_INTEGER && rep->integer == 0;
    if (rep)
        freeReplyObject(rep);
    if (!missing)
        return;
    PGresult *sum = NULL;
    const char *p[] = {tenant};
    if (pgpool_exec(db, &sum,
                    "SELECT coalesce(sum(input_tokens + output_tokens), 0)::bigint, "
                    "coalesce(round(sum(cost_usd) * 1000000), 0)::bigint FROM usage_calls "
                    "WHERE tenant_id = $1 AND created_at >= date_trunc('month', now() AT TIME "
                    "ZONE 'UTC') AT TIME ZONE 'UTC'",
                    1, p, err, sizeof err) != PG_OK)
        return;
    const char *a1[] = {"HSETNX", spent, "tokens", PQgetvalue(sum, 0, 0)};
    const char *a2[] = {"HSETNX", spent, "micros", PQgetvalue(sum, 0, 1)};
    struct rcache_cmd c[2] = {{4, a1, NULL, 0, NULL}, {4, a2, NULL, 0, NULL}};
    rcache_pipeline(rc, c, 2);
    for (int k = 0; k < 2; k++)
        if (c[k].reply)
            freeReplyObject(c[k].reply);
    PQclear(sum);
}
