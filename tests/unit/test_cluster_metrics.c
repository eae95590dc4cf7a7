/* test_cluster_metrics.c — the monitoring dashboard's history (ingress/cluster_metrics.c):
 * the exposition format parsed into the kept families with their kept labels (the others
 * summed away, the route filter of the accept latency), the tiers' sampling and ring order,
 * gaps as null, the series cap and the target list's validation. No thread, no network: the
 * test ticks and ingests itself. The route's collaborators are stubbed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../ingress/cluster_metrics.c"

/* ---- stubs for what the route uses from the rest of the ingress ---------------------------- */
int req_admin(struct req *r)
{
    return -1;
}
void reply_error(struct req *r, int status, const char *code, const char *message)
{
}
int req_query(const struct req *r, const char *name, char *buf, size_t cap)
{
    return -1;
}
void reply_json(struct req *r, int status, json_object *obj)
{
}
void ingress_ready_checks(struct ingress *app, int *pg, int *rd, int *kf)
{
    *pg = *rd = *kf = 1;
}

static struct cluster_metrics *new_cm(const char *targets)
{
    struct cluster_metrics *cm = NULL;
    char err[256];
    assert_int_equal(cluster_metrics_new(&cm, NULL, targets, 1000, NULL, err, sizeof err), 0);
    return cm;
}

/* The series named so (with labels text) of a window, or NULL. */
static json_object *find(json_object *o, const char *target, const char *name, const char *labels)
{
    json_object *series = json_object_object_get(o, "series");
    for (size_t i = 0; i < json_object_array_length(series); i++) {
        json_object *s = json_object_array_get_idx(series, i);
        if (strcmp(json_object_get_string(json_object_object_get(s, "target")), target) == 0 &&
            strcmp(json_object_get_string(json_object_object_get(s, "name")), name) == 0 &&
            strcmp(json_object_to_json_string_ext(json_object_object_get(s, "labels"),
                                                  JSON_C_TO_STRING_PLAIN),
                   labels) == 0)
            return json_object_object_get(s, "v");
    }
    return NULL;
}

static double at(json_object *v, size_t i)
{
    json_object *x = json_object_array_get_idx(v, i);
    return x ? json_object_get_double(x) : NAN;
}

static const char scrape1[] =
    "# HELP ingress_jobs_accepted_total chat jobs accepted\n"
    "# TYPE ingress_jobs_accepted_total counter\n"
    "ingress_jobs_accepted_total 5\n"
    "ingress_http_requests_total{route=\"chat\",status=\"202\"} 5\n"
    "ingress_http_requests_total{route=\"jobs.get\",status=\"202\"} 2\n"
    "ingress_http_requests_total{route=\"chat\",status=\"503\"} 1\n"
    "ingress_http_request_duration_seconds_bucket{route=\"chat\",le=\"0.1\"} 4\n"
    "ingress_http_request_duration_seconds_bucket{route=\"jobs.get\",le=\"0.1\"} 9\n"
    "ingress_http_request_duration_seconds_sum{route=\"chat\"} 0.2\n"
    "not_kept_total 7\n"
    "usage_tokens_total{tenant=\"a \\\"q\\\" b\",model=\"m1\",direction=\"input\"} 10\n"
    "usage_tokens_total{tenant=\"a \\\"q\\\" b\",model=\"m2\",direction=\"input\"} 32\n"
    "garbage line without value\n"
    "ingress_sse_streams_open{} NaN\n";

static void test_parse_keep_and_sum(void **state)
{
    struct cluster_metrics *cm = new_cm("");
    cluster_metrics_tick(cm, 100.0);
    cluster_metrics_ingest(cm, "ingress", scrape1);
    json_object *o = cluster_metrics_json(cm, "5m");
    assert_non_null(o);
    assert_int_equal(json_object_array_length(json_object_object_get(o, "t")), 1);
    json_object *v = find(o, "ingress", "ingress_jobs_accepted_total", "{}");
    assert_non_null(v);
    assert_true(at(v, 0) == 5);
    /* routes summed away, statuses kept */
    v = find(o, "ingress", "ingress_http_requests_total", "{\"status\":\"202\"}");
    assert_non_null(v);
    assert_true(at(v, 0) == 7);
    /* the accept latency: route="chat" only, le kept */
    v = find(o, "ingress", "ingress_http_request_duration_seconds_bucket", "{\"le\":\"0.1\"}");
    assert_non_null(v);
    assert_true(at(v, 0) == 4);
    /* models summed away, the escaped tenant kept (unescaped) */
    v = find(o, "ingress", "usage_tokens_total",
             "{\"tenant\":\"a \\\"q\\\" b\",\"direction\":\"input\"}");
    assert_non_null(v);
    assert_true(at(v, 0) == 42);
    /* not kept, garbage and NaN: nothing */
    json_object *series = json_object_object_get(o, "series");
    for (size_t i = 0; i < json_object_array_length(series); i++) {
        const char *n = json_object_get_string(
            json_object_object_get(json_object_array_get_idx(series, i), "name"));
        assert_string_not_equal(n, "not_kept_total");
        assert_string_not_equal(n, "ingress_sse_streams_open");
        assert_string_not_equal(n, "ingress_http_request_duration_seconds_sum");
    }
    assert_null(cluster_metrics_json(cm, "7d"));
    json_object_put(o);
    cluster_metrics_stop(cm);
}

static void test_tiers_rings_and_gaps(void **state)
{
    struct cluster_metrics *cm = new_cm("router=127.0.0.1:1");
    char line[64];
    for (int i = 0; i < 320; i++) {
        cluster_metrics_tick(cm, 1000.0 + i);
        if (i == 315) /* the router did not answer this scrape */
            continue;
        snprintf(line, sizeof line, "agenthub_stage_jobs_done_total{stage=\"router\"} %d\n", i);
        cluster_metrics_ingest(cm, "router", line);
    }
    json_object *o = cluster_metrics_json(cm, "5m");
    json_object *t = json_object_object_get(o, "t");
    assert_int_equal(json_object_array_length(t), 300); /* the ring is full: oldest first */
    assert_true(at(t, 0) == 1020.0 && at(t, 299) == 1319.0);
    json_object *v = find(o, "router", "agenthub_stage_jobs_done_total", "{\"stage\":\"router\"}");
    assert_non_null(v);
    assert_true(at(v, 0) == 20 && at(v, 299) == 319);
    assert_null(json_object_array_get_idx(v, 295)); /* tick 315: a gap, not a zero */
    json_object_put(o);
    o = cluster_metrics_json(cm, "1h"); /* every 10th tick: 0, 10, ..., 310 */
    t = json_object_object_get(o, "t");
    assert_int_equal(json_object_array_length(t), 32);
    v = find(o, "router", "agenthub_stage_jobs_done_total", "{\"stage\":\"router\"}");
    assert_true(at(v, 1) == 10 && at(v, 31) == 310);
    assert_true(json_object_get_double(json_object_object_get(o, "step_s")) == 10.0);
    json_object_put(o);
    o = cluster_metrics_json(cm, "24h"); /* ticks 0 and 300 */
    v = find(o, "router", "agenthub_stage_jobs_done_total", "{\"stage\":\"router\"}");
    assert_int_equal(json_object_array_length(v), 2);
    assert_true(at(v, 0) == 0 && at(v, 1) == 300);
    /* targets: the ingress itself, then the list */
    json_object *targets = json_object_object_get(o, "targets");
    assert_int_equal(json_object_array_length(targets), 2);
    assert_string_equal(json_object_get_string(
                            json_object_object_get(json_object_array_get_idx(targets, 1), "url")),
                        "http://127.0.0.1:1/metrics");
    json_object_put(o);
    cluster_metrics_stop(cm);
}

static void test_series_cap(void **state)
{
    struct cluster_metrics *cm = new_cm("");
    cluster_metrics_tick(cm, 1.0);
    char line[96];
    for (int i = 0; i < CLUSTER_MAX_SERIES + 10; i++) {
        snprintf(line, sizeof line, "usage_cost_usd_total{tenant=\"t%d\"} 1\n", i);
        cluster_metrics_ingest(cm, "agent", line);
    }
    json_object *o = cluster_metrics_json(cm, "5m");
    assert_int_equal(json_object_array_length(json_object_object_get(o, "series")),
                     CLUSTER_MAX_SERIES);
    assert_int_equal(json_object_get_int(json_object_object_get(o, "dropped_series")), 10);
    json_object_put(o);
    cluster_metrics_stop(cm);
}

static void test_bad_targets(void **state)
{
    const char *bad[] = {"router", "=127.0.0.1:1", "ro uter=127.0.0.1:1", "ingress=127.0.0.1:1",
                         "router="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cluster_metrics *cm = NULL;
        char err[256] = "";
        assert_int_equal(cluster_metrics_new(&cm, NULL, bad[i], 1000, NULL, err, sizeof err),
                         -EINVAL);
        assert_null(cm);
        assert_non_null(strstr(err, "INGRESS_METRICS_TARGETS"));
    }
    struct cluster_metrics *cm = new_cm(" a=h:1 , b=https://x.example/m ,");
    assert_int_equal(cm->ntargets, 2);
    assert_string_equal(cm->targets[1].url, "https://x.example/m");
    cluster_metrics_stop(cm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_keep_and_sum),
        cmocka_unit_test(test_tiers_rings_and_gaps),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_bad_targets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
