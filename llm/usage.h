/* usage.h — accounting of every LLM call (issue 14): one usage_calls row per provider attempt,
 * its cost from the price table, the tenant's monthly spend in Redis for budgets, and the
 * Prometheus counters of tokens and cost per tenant and model.
 *
 * usage_start() installs an llm_set_usage_hook() that copies each attempt's record into a
 * buffer (no I/O on the caller's thread) and starts one flusher thread per process. The
 * flusher writes what accumulated every USAGE_FLUSH_MS (or at 256 records) as ONE statement
 * (INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING RETURNING ...) and then, for the
 * rows that really went in, ONE Redis pipeline adding their tokens and cost to the tenants'
 * month counters. So a redelivered job that repeats a call (same job, part, purpose, seq,
 * attempt) adds nothing to the rows, the counters nor the metrics.
 *
 * What a SIGKILL loses: records still in the buffer (at most USAGE_FLUSH_MS of calls of that
 * process). A redelivered job records its own calls then, once.
 *
 * Redis keys (all with the tenant's hash tag):
 *   agenthub:{t}:usage:spent:YYYY-MM  hash tokens, micros (US dollars * 1e6), 40 days TTL
 *   agenthub:{t}:limits               hash ver, rpm, user_rpm, budget_tokens, budget_micros,
 *                                     soft_pct (limits_mirror.h; read by the ingress)
 *   agenthub:{t}:usage:soft:YYYY-MM / :hard:YYYY-MM   set once when a threshold is crossed
 *
 * Every USAGE_RECONCILE_S (60) the flusher also writes back from tenant_limits the limits of
 * tenants whose agenthub:{t}:limits is missing (a Redis loss) or older than the row, and seeds
 * their month's spend from usage_calls where Redis has none.
 *
 * Metrics (bounded): usage_tokens_total{tenant,model,direction}, usage_cost_usd_total{tenant,
 * model}, budget_threshold_events_total{tenant,kind}. The tenant label is the tenant id for
 * the first USAGE_METRIC_TENANTS (default 50) distinct tenants a process sees and "other"
 * after that; the model label likewise for the first 50 models. Per process, so at most
 * 51 x 51 x 2 series per process, whatever the number of tenants; exact per-tenant figures
 * come from the usage API. */
#ifndef AGENTHUB_USAGE_H
#define AGENTHUB_USAGE_H

#include <stddef.h>
#include <time.h>

#include "pgpool.h"
#include "rcache.h"

#define USAGE_FLUSH_MS 200

struct usage_price {
    char model[200];
    double in_per_mtok, out_per_mtok; /* US dollars per million tokens */
};

/* Pure: US dollars for in and out tokens at a price (NULL: 0). */
double usage_cost(long in, long out, const struct usage_price *p);
/* Pure: the price of model among n: exact match first, then the longest price model that is a
 * prefix of it ("gpt-4o" prices "gpt-4o-2024-08-06"); the stand-in's "@options" suffix is
 * ignored. NULL when none matches. */
const struct usage_price *usage_price_match(const struct usage_price *p, size_t n,
                                            const char *model);
/* Pure: the budget period of t ("YYYY-MM", UTC) and the seconds until the next one starts. */
void usage_period(time_t t, char out[8], long *reset_in_s);
/* Pure: the Redis keys listed above, agenthub:{t}:limits and agenthub:{t}:usage:spent:<period>,
 * written to out (n bytes); snprintf's count, so >= n means cut short. */
int usage_limits_key(char *out, size_t n, const char *tenant);
int usage_spent_key(char *out, size_t n, const char *tenant, const char *period);
/* Pure: a cost in micro-dollars (rounded half up), as the Redis counters hold it. */
long long usage_micros(double usd);

/* Starts the recorder (hook + flusher thread). db and rc are borrowed and must outlive
 * usage_stop(); rc may be NULL (no budget counters). Loads the price table once before it
 * returns. Returns 0 or negative with err set. */
int usage_start(struct pgpool *db, struct rcache *rc, char *err, size_t errlen);
/* Flushes what is buffered and stops the thread; NULL-safe to call without a start. */
void usage_stop(void);
/* Writes what is buffered now (blocking); for sync callers and tests. */
void usage_flush(void);
/* The cost of a call at the cached price table (re-read every 30 s); 0 before usage_start. */
double usage_cost_of(const char *model, long in, long out);
/* Re-read the price table on the next flush (admin writes in this process). */
void usage_prices_invalidate(void);
/* The bounded tenant label value for tenant (see above). */
const char *usage_tenant_label(const char *tenant, char *buf, size_t cap);

#endif
