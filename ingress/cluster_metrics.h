/* cluster_metrics.h — the monitoring dashboard's data: the ingress scrapes the Prometheus
 * /metrics of every process of the cluster (itself, and INGRESS_METRICS_TARGETS: the router's,
 * agents' and docworkers' METRICS_LISTEN endpoints) and keeps a history of the figures the
 * dashboard draws, in this process's memory only:
 *
 *   tier "5m":  every scrape (INGRESS_METRICS_SCRAPE_MS, 1 s)  x 300 points
 *   tier "1h":  every 10th scrape                              x 360 points
 *   tier "24h": every 300th scrape                             x 288 points
 *
 * Only the families the dashboard needs are kept, with the labels it needs (the others are
 * summed away), at most CLUSTER_MAX_SERIES series. Values are stored as scraped (counters and
 * histogram buckets cumulative), so any tier's neighbouring points give a rate or a
 * percentile over that tier's step. A restart of the ingress starts an empty history; each
 * ingress instance has its own.
 *
 *   GET /api/admin/metrics/cluster?window=5m|1h|24h   (platform operator)
 *     {"window","step_s","t":[unix s...], "targets":[{name,url,up,error?}],
 *      "dependencies":{"postgres","redis","kafka"}, "series":[{target,name,labels,v:[...]}]}
 */
#ifndef AGENTHUB_CLUSTER_METRICS_H
#define AGENTHUB_CLUSTER_METRICS_H

#include <json-c/json.h>
#include <stddef.h>

#define CLUSTER_MAX_SERIES 2000

struct cluster_metrics;
struct ingress;
struct req;

/* targets: "name=host:port,name=http://host:port/metrics,..." (may be empty: the ingress
 * alone). token: the METRICS_TOKEN sent to the targets (NULL or "": none). app: for /ready's
 * checks (NULL: none). Creates the history without starting anything. Returns 0, or negative
 * with err filled (a bad target list: -EINVAL). */
int cluster_metrics_new(struct cluster_metrics **out, struct ingress *app, const char *targets,
                        long scrape_ms, const char *token, char *err, size_t errlen);
/* cluster_metrics_new, then the scraping thread. */
int cluster_metrics_start(struct cluster_metrics **out, struct ingress *app, const char *targets,
                          long scrape_ms, const char *token, char *err, size_t errlen);
/* Stops the thread (if started) and frees everything. NULL-safe. */
void cluster_metrics_stop(struct cluster_metrics *cm);

/* What one scrape does, for the thread and for tests: cluster_metrics_tick() opens the next
 * point (at wall-clock time now) of every tier due, and cluster_metrics_ingest() adds one
 * target's exposition text to it (lines that do not parse are skipped). */
void cluster_metrics_tick(struct cluster_metrics *cm, double now);
void cluster_metrics_ingest(struct cluster_metrics *cm, const char *target, const char *text);

/* The history of one window ("5m", "1h", "24h") as the route answers it (the caller owns
 * it); NULL for another window. */
json_object *cluster_metrics_json(struct cluster_metrics *cm, const char *window);

/* GET /api/admin/metrics/cluster. */
void routes_cluster_metrics(struct req *r);

#endif
