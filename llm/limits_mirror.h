/* limits_mirror.h — a tenant's tenant_limits row into Redis (agenthub:{t}:limits), where the
 * ingress's check reads it, and the month's spend seeded where Redis has none.
 *
 * Two writers race for the same key: the admin API after a PUT, and every recording process's
 * reconciliation after a Redis loss (usage.h). A reconciliation reads tenant_limits first and
 * writes later, so its row can be older than what an admin PUT wrote meanwhile. Each write
 * therefore carries the row's version (updated_at in microseconds, LIMITS_MIRROR_VER, strictly
 * increasing per tenant) and goes through one script that replaces the hash only when Redis
 * holds no version or an older one: a stale row never overwrites a newer one, whatever the
 * order the writes land in. The hash always holds "ver", even for a tenant with no limit at
 * all, so "no key" means only "Redis lost it". */
#ifndef AGENTHUB_LIMITS_MIRROR_H
#define AGENTHUB_LIMITS_MIRROR_H

#include <libpq-fe.h>

#include "pgpool.h"
#include "rcache.h"

/* The columns limits_mirror_write reads (by name) from a tenant_limits row. */
#define LIMITS_MIRROR_COLUMNS                                                                      \
    "requests_per_minute, user_requests_per_minute, budget_tokens, "                               \
    "round(budget_usd * 1000000)::bigint AS budget_micros, soft_threshold_pct, " LIMITS_MIRROR_VER
#define LIMITS_MIRROR_VER "(extract(epoch FROM updated_at) * 1000000)::bigint AS ver"
/* The updated_at an UPDATE of a row sets: later than the row's, even when two PUTs' clocks
 * tie or their transactions started in the other order (the row lock orders them). */
#define LIMITS_MIRROR_TOUCH                                                                        \
    "greatest(clock_timestamp(), tenant_limits.updated_at + interval '1 microsecond')"

/* Row i of res into agenthub:{tenant}:limits, unless Redis holds this version or a newer one.
 * Returns 1 written, 0 left (Redis is as new or newer), -1 Redis unreachable or refused. */
int limits_mirror_write(struct rcache *rc, const char *tenant, const PGresult *res, int i);

/* The month's spend (agenthub:{t}:usage:spent:YYYY-MM) from usage_calls, where Redis has no
 * counter (HSETNX: a counter already there wins). */
void limits_mirror_seed_spend(struct rcache *rc, struct pgpool *db, const char *tenant);

#endif
