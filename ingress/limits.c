/* limits.c — the ingress's request limits and budget check (see limits.h). */
#include "limits.h"

#include <math.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "usage.h"

/* KEYS: 1 limits hash, 2 spent hash, 3/4 tenant bucket cur/prev, 5/6 user bucket cur/prev.
 * ARGV: 1 elapsed ms into the bucket, 2 window ms.
 * Returns {code, rpm, prev, cur, user_rpm, uprev, ucur} (counts before this request; -1 rpm:
 * none). code: 0 ok (counted), 1 tenant limit, 2 user limit, 3 budget. */
static const char LIMITS_LUA[] =
    "local c = redis.call('HMGET', KEYS[1], 'rpm', 'user_rpm', 'budget_tokens', "
    "'budget_micros')\n"
    "local rpm, urpm = tonumber(c[1]), tonumber(c[2])\n"
    "local bt, bm = tonumber(c[3]), tonumber(c[4])\n"
    "if bt or bm then\n"
    "  local s = redis.call('HMGET', KEYS[2], 'tokens', 'micros')\n"
    "  local st, sm = tonumber(s[1]) or 0, tonumber(s[2]) or 0\n"
    "  if (bt and st >= bt) or (bm and sm >= bm) then return {3, -1, 0, 0, -1, 0, 0} end\n"
    "end\n"
    "local el, win = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local tp, tc, up, uc = 0, 0, 0, 0\n"
    "if rpm then\n"
    "  tc = tonumber(redis.call('GET', KEYS[3]) or '0')\n"
    "  tp = tonumber(redis.call('GET', KEYS[4]) or '0')\n"
    "  if tc + tp * (win - el) / win + 1 > rpm then return {1, rpm, tp, tc, urpm or -1, 0, 0} end\n"
    "end\n"
    "if urpm then\n"
    "  uc = tonumber(redis.call('GET', KEYS[5]) or '0')\n"
    "  up = tonumber(redis.call('GET', KEYS[6]) or '0')\n"
    "  if uc + up * (win - el) / win + 1 > urpm then return {2, rpm or -1, tp, tc, urpm, up, uc} "
    "end\n"
    "end\n"
    "if rpm then redis.call('INCR', KEYS[3]); redis.call('PEXPIRE', KEYS[3], 2 * win) end\n"
    "if urpm then redis.call('INCR', KEYS[5]); redis.call('PEXPIRE', KEYS[5], 2 * win) end\n"
    "return {0, rpm or -1, tp, tc, urpm or -1, up, uc}\n";

static char g_sha[41];
static long g_window_ms = 60000;

void limits_set_window(long window_s)
{
    if (window_s > 0)
        g_window_ms = window_s * 1000;
}

double limits_estimate(long prev, long cur, long elapsed_ms, long window_ms)
{
    if (window_ms <= 0)
        return (double)cur;
    if (elapsed_ms < 0)
        elapsed_ms = 0;
    if (elapsed_ms > window_ms)
        elapsed_ms = window_ms;
    return (double)cur + (double)prev * (double)(window_ms - elapsed_ms) / (double)window_ms;
}

long limits_retry_after_ms(long prev, long cur, long elapsed_ms, long window_ms, long limit)
{
    if (limit <= 0 || window_ms <= 0)
        return 0;
    if (limits_estimate(prev, cur, elapsed_ms, window_ms) + 1 <= (double)limit)
        return 0;
    if (cur + 1 <= limit && prev > 0) {
        /* In this bucket, once the previous one's weight has decayed enough:
         * cur + prev * (window - e) / window + 1 <= limit. */
        double e = (double)window_ms - (double)(limit - 1 - cur) * (double)window_ms / prev;
        long t = (long)ceil(e) - elapsed_ms;
        return t > 0 ? t : 1;
    }
    /* In the next bucket, where this one is the previous: cur * (window - s) / window + 1 <=
     * limit. */
    double s = cur > 0 ? (double)window_ms - (double)(limit - 1) * (double)window_ms / cur : 0;
    if (s < 0)
        s = 0;
    return (window_ms - elapsed_ms) + (long)ceil(s);
}

static void sha1_hex(const char *s, char out[41])
{
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s, strlen(s), d);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void unchecked(int n)
{
    metrics_inc(metrics_counter("ingress_limits_unchecked_total",
                                "chat requests let through unchecked (Redis down)", ""),
                (double)n);
}

/* The reset instant is ts + month_reset of one clock reading (a second read of the clock
 * could fall in the next second and name 23:59:59 instead of the month's start). */
static void format_reset(time_t t, char *buf, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int limits_precheck(void *opaque, struct accept_item **items, int n)
{
    struct rcache *rcache = opaque;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (items[i]->limit)
            m++;
    if (m == 0 || !rcache)
        return 0;
    if (!g_sha[0])
        sha1_hex(LIMITS_LUA, g_sha);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    long long bucket = now_ms / g_window_ms;
    long elapsed = (long)(now_ms - bucket * g_window_ms);
    char period[8];
    long month_reset = 0;
    usage_period(ts.tv_sec, period, &month_reset);
    char el[24], win[24];
    snprintf(el, sizeof el, "%ld", elapsed);
    snprintf(win, sizeof win, "%ld", g_window_ms);

    /* argv storage: 13 strings per item ("EVALSHA", sha, "6", 6 keys, 2 args) */
    struct slot {
        char k[6][200];
        const char *argv[11];
        struct limits_req *l;
    };
    struct slot *sl = calloc((size_t)m, sizeof *sl);
    struct rcache_cmd *cmds = calloc((size_t)m, sizeof *cmds);
    int rc = -1;
    if (!sl || !cmds) {
        unchecked(m);
        goto out;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int k = 0;
        for (int i = 0; i < n; i++) {
            struct limits_req *l = items[i]->limit;
            if (!l)
                continue;
            struct slot *s = &sl[k];
            s->l = l;
            usage_limits_key(s->k[0], sizeof s->k[0], l->tenant);
            usage_spent_key(s->k[1], sizeof s->k[1], l->tenant, period);
            snprintf(s->k[2], sizeof s->k[2], "agenthub:{%s}:rl:t:%lld", l->tenant, bucket);
            snprintf(s->k[3], sizeof s->k[3], "agenthub:{%s}:rl:t:%lld", l->tenant, bucket - 1);
            snprintf(s->k[4], sizeof s->k[4], "agenthub:{%s}:rl:u:%s:%lld", l->tenant,
                     l->user ? l->user : "", bucket);
            snprintf(s->k[5], sizeof s->k[5], "agenthub:{%s}:rl:u:%s:%lld", l->tenant,
                     l->user ? l->user : "", bucket - 1);
            const char *a[11] = {"EVALSHA", g_sha,   "6",     s->k[0], s->k[1], s->k[2],
                                 s->k[3],   s->k[4], s->k[5], el,      win};
            memcpy(s->argv, a, sizeof a);
            if (cmds[k].reply)
                freeReplyObject(cmds[k].reply);
            cmds[k] = (struct rcache_cmd){.argc = 11, .argv = s->argv};
            k++;
        }
        int st = rcache_pipeline(rcache, cmds, m);
        if (st != RC_OK) {
            log_kv(LOG_WARN, NULL, "request limits not checked (Redis down)", (char *)NULL);
            unchecked(m);
            for (int j = 0; j < m; j++)
                sl[j].l->code = LIMITS_UNCHECKED;
            goto out;
        }
        int noscript = 0;
        for (int j = 0; j < m; j++)
            if (cmds[j].reply && cmds[j].reply->type == REDIS_REPLY_ERROR &&
                strncmp(cmds[j].reply->str, "NOSCRIPT", 8) == 0)
                noscript = 1;
        if (noscript && attempt == 0) {
            redisReply *r = NULL;
            rcache_command(rcache, &r, "SCRIPT LOAD %s", LIMITS_LUA);
            if (r)
                freeReplyObject(r);
            continue;
        }
        break;
    }
    for (int j = 0; j < m; j++) {
        struct limits_req *l = sl[j].l;
        redisReply *r = cmds[j].reply;
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 7) {
            if (r && r->type == REDIS_REPLY_ERROR)
                log_kv(LOG_WARN, &(struct log_ctx){.tenant_id = l->tenant},
                       "request limits not checked", "error", r->str, (char *)NULL);
            l->code = LIMITS_UNCHECKED;
            unchecked(1);
            continue;
        }
        long v[7];
        for (int e = 0; e < 7; e++)
            v[e] = r->element[e]->type == REDIS_REPLY_INTEGER ? (long)r->element[e]->integer : 0;
        l->code = (int)v[0];
        l->reset_s = (g_window_ms - elapsed + 999) / 1000;
        /* The binding limit: the user's when it refused or leaves less, else the tenant's. */
        long rem_t = v[1] > 0
                         ? v[1] - (long)ceil(limits_estimate(v[2], v[3], elapsed, g_window_ms)) -
                               (l->code == LIMITS_OK ? 1 : 0)
                         : -1;
        long rem_u = v[4] > 0
                         ? v[4] - (long)ceil(limits_estimate(v[5], v[6], elapsed, g_window_ms)) -
                               (l->code == LIMITS_OK ? 1 : 0)
                         : -1;
        if (l->code == LIMITS_USER || (rem_u >= 0 && (rem_t < 0 || rem_u < rem_t))) {
            l->limit = v[4];
            l->remaining = rem_u;
        } else if (v[1] > 0) {
            l->limit = v[1];
            l->remaining = rem_t;
        }
        if (l->remaining < 0)
            l->remaining = 0;
        if (l->code == LIMITS_TENANT)
            l->retry_after_s =
                (limits_retry_after_ms(v[2], v[3], elapsed, g_window_ms, v[1]) + 999) / 1000;
        else if (l->code == LIMITS_USER)
            l->retry_after_s =
                (limits_retry_after_ms(v[5], v[6], elapsed, g_window_ms, v[4]) + 999) / 1000;
        else if (l->code == LIMITS_BUDGET) {
            l->budget_reset_s = month_reset;
            l->retry_after_s = month_reset;
            format_reset(ts.tv_sec + month_reset, l->budget_reset_at, sizeof l->budget_reset_at);
        }
        if (l->code == LIMITS_TENANT || l->code == LIMITS_USER || l->code == LIMITS_BUDGET) {
            if (l->retry_after_s < 1)
                l->retry_after_s = 1;
            for (int i = 0; i < n; i++)
                if (items[i]->limit == l)
                    items[i]->outcome = ACCEPT_LIMITED;
        }
    }
    rc = 0;
out:
    for (int j = 0; cmds && j < m; j++)
        if (cmds[j].reply)
            freeReplyObject(cmds[j].reply);
    free(cmds);
    free(sl);
    return rc;
}

void limits_headers(const struct limits_req *l, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (!l)
        return;
    if (l->limit > 0 && l->code != LIMITS_UNCHECKED)
        snprintf(buf, cap,
                 "X-RateLimit-Limit: %ld\r\nX-RateLimit-Remaining: %ld\r\n"
                 "X-RateLimit-Reset: %ld\r\n",
                 l->limit, l->remaining, l->reset_s);
}
