/* metrics.h — a process-wide Prometheus metrics registry (counters, gauges, histograms),
 * rendered in the text exposition format (version 0.0.4). Thread-safe; updates are lock-free
 * after a metric is created. Metrics live until process exit.
 *
 * A metric is one name plus one label set: metrics_counter("http_requests_total", "...",
 * "route=\"chat\",status=\"202\"") and the same name with other labels are series of one
 * family (one HELP/TYPE block). Asking again for the same name and labels returns the same
 * metric.
 */
#ifndef AGENTHUB_METRICS_H
#define AGENTHUB_METRICS_H

#include <stddef.h>

struct metric;

struct metric *metrics_counter(const char *name, const char *help, const char *labels);
struct metric *metrics_gauge(const char *name, const char *help, const char *labels);
/* buckets: ascending upper bounds (+Inf is implied); NULL = default latency buckets (s). */
struct metric *metrics_histogram(const char *name, const char *help, const char *labels,
                                 const double *buckets, size_t nbuckets);

void metrics_inc(struct metric *m, double v);     /* counter, gauge */
void metrics_set(struct metric *m, double v);     /* gauge */
void metrics_observe(struct metric *m, double v); /* histogram */
double metrics_value(const struct metric *m);     /* counter/gauge value, histogram count */

/* The whole registry as text; malloc'd. */
char *metrics_render(void);

/* Added (source-compatible):
 * Label values passed in `labels` use the exposition format's escapes (\\, \", \n).
 * metrics_label_escape() writes value escaped that way into out (NUL-terminated, truncated to
 * cap) and returns out, so callers can build labels from untrusted text such as a route:
 *     char esc[64], labels[128];
 *     metrics_label_escape(esc, sizeof(esc), tenant);
 *     snprintf(labels, sizeof(labels), "tenant=\"%s\"", esc);
 * The constructors return NULL for an invalid name or label text, or a name already
 * registered with another type; every update function ignores a NULL metric. */
char *metrics_label_escape(char *out, size_t cap, const char *value);

/* METRICS_TOKEN: does an Authorization header value ("Bearer <token>") carry `want`? The
 * tokens are compared through their SHA-256 digests with CRYPTO_memcmp, so the time taken
 * tells nothing about the secret (not even its length). NULL or malformed header: 0. */
int metrics_token_ok(const char *want, const char *authorization);

#endif
