/* limits.h — per-tenant request limits and the monthly budget check at the ingress (issue 14).
 *
 * Settings per tenant live in Redis (agenthub:{t}:limits, a hash the admin API writes from
 * tenant_limits): rpm (requests per minute for the tenant), user_rpm (per user of it),
 * budget_tokens, budget_micros (US dollars * 1e6), soft_pct. A field that is absent means no
 * such limit. The month's spend (agenthub:{t}:usage:spent:YYYY-MM) is added by the processes
 * that make LLM calls (llm/usage.h).
 *
 * One Lua script per chat request does the whole check atomically in Redis: budget spent?
 * then the tenant's and the user's sliding-window counters (two fixed one-minute buckets, the
 * previous one weighted by the part of it still inside the window: Cloudflare's
 * approximation), counting the request only when it is let through. The accept batcher runs
 * the scripts of a whole batch in one pipeline (accept_batcher_set_precheck), so the check
 * costs one Redis round trip per batch, never more than one per request.
 *
 * Tolerance: the script is atomic, so across any number of ingress processes a tenant never
 * gets more than `rpm` requests through in one bucket's worth of the estimate; the estimate
 * assumes the previous bucket's requests were spread evenly, so over an exact sliding minute
 * up to rpm + (the previous bucket's unevenness) can pass: at most 2 x rpm in the worst case
 * (all of one bucket's requests at its end), exactly rpm for a burst from idle.
 *
 * Redis down: requests are let through (logged, counted in ingress_limits_unchecked_total). */
#ifndef AGENTHUB_LIMITS_H
#define AGENTHUB_LIMITS_H

#include <stddef.h>

#include "accept.h"
#include "rcache.h"

enum limits_code {
    LIMITS_OK = 0,
    LIMITS_TENANT = 1,    /* 429 rate_limited: the tenant's requests per minute */
    LIMITS_USER = 2,      /* 429 rate_limited: the user's requests per minute */
    LIMITS_BUDGET = 3,    /* 429 budget_exceeded: the month's budget is spent */
    LIMITS_UNCHECKED = 4, /* Redis down or no answer: let through */
};

/* One chat request's check: in tenant, user; out the rest. */
struct limits_req {
    const char *tenant, *user;
    int code;
    long limit;               /* the binding requests-per-minute limit; 0: none */
    long remaining;           /* requests left in the window after this one */
    long reset_s;             /* seconds until the current bucket ends */
    long retry_after_s;       /* 429 only */
    long budget_reset_s;      /* LIMITS_BUDGET: seconds until the next month (UTC) */
    char budget_reset_at[32]; /* ... as an RFC 3339 time */
};

/* Pure: the sliding-window estimate of requests in the window at elapsed_ms into the current
 * bucket (0 <= elapsed_ms < window_ms). */
double limits_estimate(long prev, long cur, long elapsed_ms, long window_ms);
/* Pure: milliseconds until one more request fits under limit (0: it fits now). */
long limits_retry_after_ms(long prev, long cur, long elapsed_ms, long window_ms, long limit);

/* The precheck for accept_batcher_set_precheck: opaque is the struct rcache; items whose
 * `limit` is set are checked (one pipeline for all), refused ones get ACCEPT_LIMITED. Window:
 * window_s seconds (60; tests may set INGRESS_RATE_WINDOW_S). */
int limits_precheck(void *opaque, struct accept_item **items, int n);
void limits_set_window(long window_s);
/* "X-RateLimit-Limit/Remaining/Reset" lines for every answer to the request (reply_raw adds
 * req.limit_headers); "" when the tenant has no request limit. A refusal's Retry-After is
 * retry_after_s. */
void limits_headers(const struct limits_req *l, char *buf, size_t cap);

#endif
