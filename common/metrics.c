/* metrics.c — Prometheus registry and text exposition (see metrics.h).
 *
 * Families and series are created under one mutex and never freed; lists only grow, and a
 * series is fully built before it is linked in, so updates need no lock: values are C11
 * atomics (doubles kept as their bit patterns, added with a compare-and-swap loop).
 * Histogram buckets are stored per bucket (not cumulative); rendering adds them up and takes
 * the count from the same snapshot so that _count always equals the +Inf bucket.
 */
#include "metrics.h"

#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric_family;

struct metric {
    struct metric_family *family;
    struct metric *next;
    char *labels;          /* exposition text without braces; "" for none */
    _Atomic uint64_t bits; /* counter/gauge value, histogram sum (double bit patterns) */
    size_t nbuckets;       /* histogram: finite bounds; counts has nbuckets + 1 (+Inf) */
    double *bounds;
    _Atomic uint64_t *counts;
};

struct metric_family {
    struct metric_family *next;
    char *name;
    char *help;
    enum metric_type type;
    struct metric *series, **tail;
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric_family *metrics_families, **metrics_tail = &metrics_families;

static const double metrics_default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                 0.5,   1,    2.5,   5,    10};

static uint64_t metrics_d2b(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

static double metrics_b2d(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static void metrics_add_double(_Atomic uint64_t *a, double v)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, metrics_d2b(metrics_b2d(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

static int metrics_name_valid(const char *s, int allow_colon)
{
    size_t i;
    if (!s || !s[0])
        return 0;
    for (i = 0; s[i]; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* Checks `name="value",...` (escapes \\ \" \n only, no raw newline). For histograms the
 * label name "le" is reserved. 1 valid, 0 not. */
static int metrics_labels_valid(const char *s, int histogram)
{
    const char *p = s;
    if (!*p)
        return 1;
    for (;;) {
        const char *n0 = p;
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'))
            return 0;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
               (*p >= '0' && *p <= '9'))
            p++;
        if ((p - n0 >= 2 && n0[0] == '_' && n0[1] == '_') ||
            (histogram && p - n0 == 2 && n0[0] == 'l' && n0[1] == 'e'))
            return 0;
        if (*p++ != '=' || *p++ != '"')
            return 0;
        while (*p != '"') {
            if (*p == '\0' || *p == '\n')
                return 0;
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    return 0;
            }
            p++;
        }
        p++;
        if (*p == '\0')
            return 1;
        if (*p++ != ',')
            return 0;
    }
}

char *metrics_label_escape(char *out, size_t cap, const char *value)
{
    size_t o = 0;
    const char *p;
    if (!out || cap == 0)
        return out;
    for (p = value ? value : ""; *p; p++) {
        const char *rep = NULL;
        size_t need;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '"')
            rep = "\\\"";
        else if (*p == '\n')
            rep = "\\n";
        need = rep ? 2 : 1;
        if (o + need >= cap)
            break;
        if (rep) {
            memcpy(out + o, rep, 2);
        } else {
            out[o] = *p;
        }
        o += need;
    }
    out[o] = '\0';
    return out;
}

static struct metric *metrics_get(const char *name, const char *help, const char *labels,
                                  enum metric_type type, const double *buckets, size_t nbuckets)
{
    struct metric_family *f;
    struct metric *m = NULL, *found = NULL;
    size_t i;

    if (!labels)
        labels = "";
    if (!metrics_name_valid(name, 1) || !metrics_labels_valid(labels, type == METRIC_HISTOGRAM))
        return NULL;
    if (type == METRIC_HISTOGRAM) {
        if (!buckets || nbuckets == 0) {
            buckets = metrics_default_buckets;
            nbuckets = sizeof(metrics_default_buckets) / sizeof(metrics_default_buckets[0]);
        }
        for (i = 0; i < nbuckets; i++)
            if (isnan(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
                return NULL; /* bounds must ascend strictly */
        if (isinf(buckets[nbuckets - 1]) && buckets[nbuckets - 1] > 0)
            nbuckets--; /* +Inf is implied */
    }

    pthread_mutex_lock(&metrics_lock);
    for (f = metrics_families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (f && f->type != type)
        goto out; /* one name, one type */
    if (!f) {
        f = calloc(1, sizeof(*f));
        if (!f)
            goto out;
        f->name = strdup(name);
        f->help = strdup(help ? help : "");
        if (!f->name || !f->help) {
            free(f->name);
            free(f->help);
            free(f);
            goto out;
        }
        f->type = type;
        f->tail = &f->series;
        *metrics_tail = f;
        metrics_tail = &f->next;
    }
    for (m = f->series; m; m = m->next)
        if (strcmp(m->labels, labels) == 0) {
            found = m;
            goto out;
        }
    m = calloc(1, sizeof(*m));
    if (!m)
        goto out;
    m->family = f;
    m->labels = strdup(labels);
    atomic_init(&m->bits, metrics_d2b(0.0));
    if (type == METRIC_HISTOGRAM) {
        m->nbuckets = nbuckets;
        m->bounds = malloc(sizeof(double) * (nbuckets ? nbuckets : 1));
        m->counts = calloc(nbuckets + 1, sizeof(*m->counts));
        if (m->bounds) {
            for (i = 0; i < nbuckets; i++)
                m->bounds[i] = buckets[i];
        }
        if (m->counts) {
            for (i = 0; i <= nbuckets; i++)
                atomic_init(&m->counts[i], 0);
        }
    }
    if (!m->labels || (type == METRIC_HISTOGRAM && (!m->bounds || !m->counts))) {
        free(m->labels);
        free(m->bounds);
        free(m->counts);
        free(m);
        goto out;
    }
    *f->tail = m; /* published fully built; readers hold the same lock */
    f->tail = &m->next;
    found = m;
out:
    pthread_mutex_unlock(&metrics_lock);
    return found;
}

struct metric *metrics_counter(const char *name, const char *help, const char *labels)
{
    return metrics_get(name, help, labels, METRIC_COUNTER, NULL, 0);
}

struct metric *metrics_gauge(const char *name, const char *help, const char *labels)
{
    return metrics_get(name, help, labels, METRIC_GAUGE, NULL, 0);
}

struct metric *metrics_histogram(const char *name, const char *help, const char *labels,
                                 const double *buckets, size_t nbuckets)
{
    return metrics_get(name, help, labels, METRIC_HISTOGRAM, buckets, nbuckets);
}

void metrics_inc(struct metric *m, double v)
{
    if (!m || m->family->type == METRIC_HISTOGRAM || isnan(v))
        return;
    if (m->family->type == METRIC_COUNTER && v < 0)
        return; /* a counter only goes up */
    metrics_add_double(&m->bits, v);
}

void metrics_set(struct metric *m, double v)
{
    if (!m || m->family->type != METRIC_GAUGE)
        return;
    atomic_store_explicit(&m->bits, metrics_d2b(v), memory_order_relaxed);
}

void metrics_observe(struct metric *m, double v)
{
    size_t lo, hi;
    if (!m || m->family->type != METRIC_HISTOGRAM || isnan(v))
        return;
    /* First bucket whose upper bound is >= v (le is inclusive); nbuckets means +Inf. */
    lo = 0;
    hi = m->nbuckets;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= m->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    metrics_add_double(&m->bits, v);
    atomic_fetch_add_explicit(&m->counts[lo], 1, memory_order_relaxed);
}

double metrics_value(const struct metric *m)
{
    size_t i;
    uint64_t n = 0;
    if (!m)
        return 0;
    if (m->family->type != METRIC_HISTOGRAM)
        return metrics_b2d(atomic_load_explicit(&((struct metric *)m)->bits, memory_order_relaxed));
    for (i = 0; i <= m->nbuckets; i++)
        n += atomic_load_explicit(&m->counts[i], memory_order_relaxed);
    return (double)n;
}

/* ---- rendering ------------------------------------------------------------------------- */

struct metrics_buf {
    char *p;
    size_t len, cap;
    int failed;
};

static void mb_printf(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void mb_printf(struct metrics_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        {
            size_t ncap = b->cap * 2 + (size_t)n + 1;
            char *np = realloc(b->p, ncap);
            if (!np) {
                b->failed = 1;
                return;
            }
            b->p = np;
            b->cap = ncap;
        }
    }
}

/* Shortest text that reads back as the same double, laid out like Go's
 * strconv.FormatFloat(v, 'g', -1, 64), which Prometheus clients use: plain decimals for
 * exponents -4..5 ("10", "0.005"), else "1e+06". Infinities are spelled +Inf/-Inf. */
static void metrics_fmt_double(char *out, size_t cap, double v)
{
    int prec, exp10 = 0;
    char tmp[40], *e;
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    e = strchr(tmp, 'e');
    if (e)
        exp10 = atoi(e + 1);
    if (v == 0 || exp10 < -4 || exp10 >= 6)
        snprintf(out, cap, "%s", v == 0 ? "0" : tmp);
    else
        snprintf(out, cap, "%.*f", prec - exp10 > 0 ? prec - exp10 : 0, v);
}

static void metrics_help_escaped(struct metrics_buf *b, const char *help)
{
    const char *p;
    for (p = help; *p; p++) {
        if (*p == '\\')
            mb_printf(b, "\\\\");
        else if (*p == '\n')
            mb_printf(b, "\\n");
        else
            mb_printf(b, "%c", *p);
    }
}

static void metrics_render_series(struct metrics_buf *b, const struct metric_family *f,
                                  struct metric *m)
{
    char num[40];
    size_t i;
    uint64_t cum = 0;
    const char *sep = m->labels[0] ? "," : "";

    if (f->type != METRIC_HISTOGRAM) {
        metrics_fmt_double(num, sizeof(num), metrics_value(m));
        if (m->labels[0])
            mb_printf(b, "%s{%s} %s\n", f->name, m->labels, num);
        else
            mb_printf(b, "%s %s\n", f->name, num);
        return;
    }
    for (i = 0; i <= m->nbuckets; i++) {
        cum += atomic_load_explicit(&m->counts[i], memory_order_relaxed);
        if (i < m->nbuckets)
            metrics_fmt_double(num, sizeof(num), m->bounds[i]);
        else
            snprintf(num, sizeof(num), "+Inf");
        mb_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, m->labels, sep, num,
                  (unsigned long long)cum);
    }
    metrics_fmt_double(num, sizeof(num),
                       metrics_b2d(atomic_load_explicit(&m->bits, memory_order_relaxed)));
    if (m->labels[0]) {
        mb_printf(b, "%s_sum{%s} %s\n", f->name, m->labels, num);
        mb_printf(b, "%s_count{%s} %llu\n", f->name, m->labels, (unsigned long long)cum);
    } else {
        mb_printf(b, "%s_sum %s\n", f->name, num);
        mb_printf(b, "%s_count %llu\n", f->name, (unsigned long long)cum);
    }
}

char *metrics_render(void)
{
    static const char *type_names[] = {"counter", "gauge", "histogram"};
    struct metrics_buf b = {0};
    struct metric_family *f;
    struct metric *m;

    b.cap = 4096;
    b.p = malloc(b.cap);
    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&metrics_lock);
    for (f = metrics_families; f; f = f->next) {
        mb_printf(&b, "# HELP %s ", f->name);
        metrics_help_escaped(&b, f->help);
        mb_printf(&b, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
        for (m = f->series; m; m = m->next)
            metrics_render_series(&b, f, m);
    }
    pthread_mutex_unlock(&metrics_lock);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

int metrics_token_ok(const char *want, const char *authorization)
{
    unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned al = 0, bl = 0;
    if (!want || !authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return 0;
    const char *got = authorization + 7;
    while (*got == ' ')
        got++;
    if (EVP_Digest(want, strlen(want), a, &al, EVP_sha256(), NULL) != 1 ||
        EVP_Digest(got, strlen(got), b, &bl, EVP_sha256(), NULL) != 1 || al != bl)
        return 0;
    return CRYPTO_memcmp(a, b, al) == 0;
}
