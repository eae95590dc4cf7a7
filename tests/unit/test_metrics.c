/* Unit tests for common/metrics: the rendered text is parsed back line by line and checked
 * against the exposition format (HELP/TYPE once per family, histogram buckets cumulative with
 * _sum/_count, label escaping), plus concurrent updates from several threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Value of the sample whose "name{labels}" part equals key exactly; NAN when absent. */
static double sample(const char *text, const char *key)
{
    const char *p = text;
    size_t klen = strlen(key);
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        if (*p != '#' && strncmp(p, key, klen) == 0 && p[klen] == ' ')
            return strtod(p + klen + 1, NULL);
        p = eol ? eol + 1 : NULL;
    }
    return NAN;
}

static int count_lines_starting(const char *text, const char *prefix)
{
    const char *p = text;
    int n = 0;
    size_t plen = strlen(prefix);
    while (p && *p) {
        if (strncmp(p, prefix, plen) == 0)
            n++;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return n;
}

/* Every line is a comment or "name[{labels}] value" with a parseable value. */
static void check_syntax(const char *text)
{
    const char *p = text;
    assert_true(strlen(text) == 0 || text[strlen(text) - 1] == '\n');
    while (*p) {
        const char *eol = strchr(p, '\n');
        char line[1024], *sp, *end;
        size_t n = (size_t)(eol - p);
        assert_true(n < sizeof(line));
        memcpy(line, p, n);
        line[n] = '\0';
        if (line[0] == '#') {
            assert_true(strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0);
        } else {
            sp = strrchr(line, ' ');
            assert_non_null(sp);
            if (strcmp(sp + 1, "+Inf") && strcmp(sp + 1, "-Inf") && strcmp(sp + 1, "NaN")) {
                strtod(sp + 1, &end);
                assert_true(*end == '\0');
            }
            if (strchr(line, '{'))
                assert_true(sp[-1] == '}');
        }
        p = eol + 1;
    }
}

static void test_counter_gauge(void **state)
{
    struct metric *c1 =
        metrics_counter("t_requests_total", "Requests.", "route=\"chat\",code=\"202\"");
    struct metric *c2 =
        metrics_counter("t_requests_total", "Requests.", "route=\"chat\",code=\"500\"");
    struct metric *c3 =
        metrics_counter("t_requests_total", "other help ignored", "route=\"chat\",code=\"202\"");
    struct metric *g = metrics_gauge("t_inflight", "In flight jobs.", NULL);
    char *text;

    assert_non_null(c1);
    assert_non_null(c2);
    assert_ptr_equal(c1, c3);
    assert_ptr_not_equal(c1, c2);
    metrics_inc(c1, 1);
    metrics_inc(c1, 2);
    metrics_inc(c2, 1);
    metrics_inc(c1, -5); /* ignored: counters only go up */
    assert_true(metrics_value(c1) == 3);
    metrics_set(c1, 100); /* ignored: not a gauge */
    assert_true(metrics_value(c1) == 3);
    metrics_set(g, 7);
    metrics_inc(g, -2.5);
    assert_true(metrics_value(g) == 4.5);

    text = metrics_render();
    assert_non_null(text);
    check_syntax(text);
    assert_int_equal(count_lines_starting(text, "# HELP t_requests_total "), 1);
    assert_int_equal(count_lines_starting(text, "# TYPE t_requests_total counter"), 1);
    assert_non_null(strstr(text, "# HELP t_requests_total Requests.\n"));
    assert_true(sample(text, "t_requests_total{route=\"chat\",code=\"202\"}") == 3);
    assert_true(sample(text, "t_requests_total{route=\"chat\",code=\"500\"}") == 1);
    assert_non_null(strstr(text, "# TYPE t_inflight gauge\n"));
    assert_true(sample(text, "t_inflight") == 4.5);
    /* HELP/TYPE come right before the family's samples. */
    assert_true(strstr(text, "# TYPE t_requests_total counter\nt_requests_total{") != NULL);
    free(text);
}

static void test_histogram(void **state)
{
    const double b[] = {0.1, 0.5, 1};
    struct metric *h = metrics_histogram("t_latency_seconds", "Latency.", "stage=\"router\"", b, 3);
    struct metric *hd = metrics_histogram("t_default_seconds", "Default buckets.", NULL, NULL, 0);
    char *text;
    assert_non_null(h);
    assert_non_null(hd);
    metrics_observe(h, 0.05);
    metrics_observe(h, 0.1); /* le is inclusive */
    metrics_observe(h, 0.7);
    metrics_observe(h, 3);
    metrics_observe(hd, 0.2);
    metrics_inc(h, 1); /* ignored on a histogram */
    assert_true(metrics_value(h) == 4);

    text = metrics_render();
    check_syntax(text);
    assert_int_equal(count_lines_starting(text, "# TYPE t_latency_seconds histogram"), 1);
    assert_true(sample(text, "t_latency_seconds_bucket{stage=\"router\",le=\"0.1\"}") == 2);
    assert_true(sample(text, "t_latency_seconds_bucket{stage=\"router\",le=\"0.5\"}") == 2);
    assert_true(sample(text, "t_latency_seconds_bucket{stage=\"router\",le=\"1\"}") == 3);
    assert_true(sample(text, "t_latency_seconds_bucket{stage=\"router\",le=\"+Inf\"}") == 4);
    assert_true(fabs(sample(text, "t_latency_seconds_sum{stage=\"router\"}") - 3.85) < 1e-9);
    assert_true(sample(text, "t_latency_seconds_count{stage=\"router\"}") == 4);
    assert_true(sample(text, "t_default_seconds_bucket{le=\"0.005\"}") == 0);
    assert_true(sample(text, "t_default_seconds_bucket{le=\"0.25\"}") == 1);
    assert_true(sample(text, "t_default_seconds_bucket{le=\"10\"}") == 1);
    assert_true(sample(text, "t_default_seconds_bucket{le=\"+Inf\"}") == 1);
    assert_true(sample(text, "t_default_seconds_count") == 1);
    assert_true(sample(text, "t_default_seconds_sum") == 0.2);
    free(text);

    /* Bad buckets and the reserved "le" label are refused. */
    {
        const double desc[] = {1, 0.5};
        assert_null(metrics_histogram("t_bad_seconds", "x", NULL, desc, 2));
        assert_null(metrics_histogram("t_bad2_seconds", "x", "le=\"1\"", NULL, 0));
    }
}

static void test_escaping_and_validation(void **state)
{
    char esc[64], labels[128];
    struct metric *m;
    char *text;

    metrics_label_escape(esc, sizeof(esc), "a\"b\\c\nd");
    assert_string_equal(esc, "a\\\"b\\\\c\\nd");
    metrics_label_escape(esc, 4, "\"\"\"");
    assert_string_equal(esc, "\\\""); /* never half an escape */
    snprintf(labels, sizeof(labels), "path=\"%s\"",
             metrics_label_escape(esc, sizeof(esc), "/x\"y\\z\n"));
    m = metrics_counter("t_escaped_total", "Help with \\ backslash\nand newline.", labels);
    assert_non_null(m);
    metrics_inc(m, 1);
    text = metrics_render();
    check_syntax(text);
    assert_non_null(
        strstr(text, "# HELP t_escaped_total Help with \\\\ backslash\\nand newline.\n"));
    assert_true(sample(text, "t_escaped_total{path=\"/x\\\"y\\\\z\\n\"}") == 1);
    free(text);

    assert_null(metrics_counter("9bad", "x", NULL));
    assert_null(metrics_counter("bad-name", "x", NULL));
    assert_null(metrics_counter("", "x", NULL));
    assert_null(metrics_counter(NULL, "x", NULL));
    assert_null(metrics_counter("t_ok_total", "x", "path=unquoted"));
    assert_null(metrics_counter("t_ok_total", "x", "path=\"raw\nnewline\""));
    assert_null(metrics_counter("t_ok_total", "x", "path=\"bad\\escape\""));
    assert_null(metrics_counter("t_ok_total", "x", "path=\"a\","));
    assert_null(metrics_counter("t_ok_total", "x", "__reserved=\"a\""));
    assert_non_null(metrics_counter("ns:t_ok_total", "x", "a=\"1\",b=\"\""));
    /* One name, one type. */
    assert_null(metrics_gauge("t_requests_total", "x", NULL));
    /* NULL metrics are ignored by every update. */
    metrics_inc(NULL, 1);
    metrics_set(NULL, 1);
    metrics_observe(NULL, 1);
    assert_true(metrics_value(NULL) == 0);
}

#define THREADS 4
#define ITER 20000

static void *worker(void *arg)
{
    struct metric *c = metrics_counter("t_threads_total", "Concurrent.", NULL);
    struct metric *h = metrics_histogram("t_threads_seconds", "Concurrent.", NULL, NULL, 0);
    int i;
    (void)arg;
    for (i = 0; i < ITER; i++) {
        metrics_inc(c, 1);
        metrics_observe(h, 0.5);
        if (i % 1000 == 0) {
            /* Series created while others update and render. */
            char labels[32];
            snprintf(labels, sizeof(labels), "n=\"%d\"", i / 1000);
            metrics_inc(metrics_counter("t_dyn_total", "Dynamic.", labels), 1);
            free(metrics_render());
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t t[THREADS];
    int i;
    char *text;
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
    for (i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    text = metrics_render();
    check_syntax(text);
    assert_true(sample(text, "t_threads_total") == THREADS * ITER);
    assert_true(sample(text, "t_threads_seconds_count") == THREADS * ITER);
    assert_true(sample(text, "t_threads_seconds_sum") == THREADS * ITER * 0.5);
    assert_true(sample(text, "t_dyn_total{n=\"0\"}") == THREADS);
    assert_int_equal(count_lines_starting(text, "# TYPE t_dyn_total counter"), 1);
    assert_int_equal(count_lines_starting(text, "t_dyn_total{"), ITER / 1000);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_escaping_and_validation),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
