/* cluster_metrics.c — scrapes the cluster's /metrics into an in-memory history (see the
 * header) and serves it to the monitoring dashboard.
 *
 * One thread: every INGRESS_METRICS_SCRAPE_MS it renders the ingress's own registry, fetches
 * each target's /metrics with libcurl (one easy handle per target, short timeouts, METRICS_TOKEN
 * as a bearer token), and, under the lock, advances the tiers and adds each kept sample to its
 * series. Readers (the route) take the same lock while they copy a tier into JSON.
 */
#include "cluster_metrics.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingress.h"
#include "metrics.h"

#define MAX_TARGETS 64
#define MAX_BODY ((size_t)8 * 1024 * 1024)
#define NTIERS 3
#define HASH_BUCKETS 4096

static const struct tier_def {
    const char *name;
    int every; /* in scrapes */
    int cap;   /* points */
} tiers[NTIERS] = {{"5m", 1, 300}, {"1h", 10, 360}, {"24h", 300, 288}};

/* The families kept, and the labels kept of each (the rest are summed away). `only`: a label
 * that must have this value ("route=chat"), or NULL. */
static const struct keep {
    const char *name;
    const char *labels[3];
    const char *only_label, *only_value;
} keeps[] = {
    {"up", {NULL}, NULL, NULL},
    {"ingress_jobs_accepted_total", {NULL}, NULL, NULL},
    {"ingress_http_requests_total", {"status"}, NULL, NULL},
    {"ingress_http_request_duration_seconds_bucket", {"le"}, "route", "chat"},
    {"ingress_sse_streams_open", {NULL}, NULL, NULL},
    {"ingress_streams_refused_total", {NULL}, NULL, NULL},
    {"ingress_streams_refused_caller_total", {NULL}, NULL, NULL},
    {"ingress_publish_failures_total", {NULL}, NULL, NULL},
    {"agenthub_stage_jobs_in_flight", {"stage"}, NULL, NULL},
    {"agenthub_stage_jobs_done_total", {"stage"}, NULL, NULL},
    {"agenthub_stage_dead_letters_total", {"stage"}, NULL, NULL},
    {"agenthub_stage_job_seconds_bucket", {"stage", "le"}, NULL, NULL},
    {"agenthub_stage_consumer_lag_seconds", {"group", "topic"}, NULL, NULL},
    {"llm_call_seconds_bucket", {"le"}, NULL, NULL},
    {"llm_calls_total", {"status"}, NULL, NULL},
    {"llm_calls_in_flight", {NULL}, NULL, NULL},
    {"tool_call_seconds_bucket", {"le"}, NULL, NULL},
    {"usage_tokens_total", {"tenant", "direction"}, NULL, NULL},
    {"usage_cost_usd_total", {"tenant"}, NULL, NULL},
    {"docworker_queue_length", {NULL}, NULL, NULL},
    {"docworker_documents_total", {"status"}, NULL, NULL},
};

struct series {
    struct series *next; /* hash chain */
    char *key;           /* target \x1f name \x1f labels-json */
    char *name, *labels; /* labels: a JSON object's text */
    double *v[NTIERS];
};

struct target {
    char name[64];
    char url[512];
    CURL *curl;
    char *body;
    size_t len;
    int too_big;
    int up;
    char error[160];
    char shown_error[160]; /* error as of the last tick (under lock) */
};

struct cluster_metrics {
    struct ingress *app;
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    long scrape_ms;
    char *token_header;
    struct target targets[MAX_TARGETS];
    int ntargets;
    long long scrapes; /* scraping thread only */
    /* under lock: */
    long long ticks; /* the current tick (-1 before the first) */
    int head[NTIERS], count[NTIERS];
    double *ts[NTIERS];
    struct series *buckets[HASH_BUCKETS];
    struct series **all;
    size_t nall;
    int dropped_series;
    int dep_pg, dep_rd, dep_kf, have_deps;
    double last_read; /* wall clock of the last cluster_metrics_json */
};

/* ---- the history ------------------------------------------------------------------------- */

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static struct series *series_get(struct cluster_metrics *cm, const char *target, const char *name,
                                 const char *labels)
{
    size_t klen = strlen(target) + strlen(name) + strlen(labels) + 3;
    char *key = malloc(klen);
    if (!key)
        return NULL;
    snprintf(key, klen, "%s\x1f%s\x1f%s", target, name, labels);
    uint32_t h = hash_str(key) % HASH_BUCKETS;
    for (struct series *s = cm->buckets[h]; s; s = s->next)
        if (strcmp(s->key, key) == 0) {
            free(key);
            return s;
        }
    if (cm->nall >= CLUSTER_MAX_SERIES) {
        cm->dropped_series++;
        free(key);
        return NULL;
    }
    struct series *s = calloc(1, sizeof *s);
    if (!s)
        goto fail;
    s->key = key;
    key = NULL;
    s->name = strdup(name);
    s->labels = strdup(labels);
    if (!s->name || !s->labels)
        goto fail;
    for (int t = 0; t < NTIERS; t++) {
        if (!(s->v[t] = malloc(sizeof(double) * (size_t)tiers[t].cap)))
            goto fail;
        for (int i = 0; i < tiers[t].cap; i++)
            s->v[t][i] = NAN;
    }
    struct series **grown = realloc(cm->all, sizeof *grown * (cm->nall + 1));
    if (!grown)
        goto fail;
    cm->all = grown;
    cm->all[cm->nall++] = s;
    s->next = cm->buckets[h];
    cm->buckets[h] = s;
    return s;
fail:
    free(key);
    if (s) {
        free(s->key);
        free(s->name);
        free(s->labels);
        for (int t = 0; t < NTIERS; t++)
            free(s->v[t]);
        free(s);
    }
    return NULL;
}

/* Advances the tiers due at the next tick; their new slot starts empty (NaN) in every series. */
void cluster_metrics_tick(struct cluster_metrics *cm, double now)
{
    pthread_mutex_lock(&cm->lock);
    cm->ticks++;
    for (int t = 0; t < NTIERS; t++) {
        if (cm->ticks % tiers[t].every != 0)
            continue;
        cm->head[t] = cm->count[t] == 0 ? 0 : (cm->head[t] + 1) % tiers[t].cap;
        if (cm->count[t] < tiers[t].cap)
            cm->count[t]++;
        cm->ts[t][cm->head[t]] = now;
        for (size_t i = 0; i < cm->nall; i++)
            cm->all[i]->v[t][cm->head[t]] = NAN;
    }
    pthread_mutex_unlock(&cm->lock);
}

static void series_add(struct cluster_metrics *cm, struct series *s, double v)
{
    for (int t = 0; t < NTIERS; t++) {
        if (cm->ticks < 0 || cm->count[t] == 0 || (cm->ticks % tiers[t].every) != 0)
            continue;
        double *slot = &s->v[t][cm->head[t]];
        *slot = isnan(*slot) ? v : *slot + v;
    }
}

/* ---- the exposition format --------------------------------------------------------------- */

/* Appends "k":"v" (JSON-escaped) to out. */
static void json_pair(char *out, size_t cap, const char *k, const char *v)
{
    size_t n = strlen(out);
    json_object *js = json_object_new_string(v);
    snprintf(out + n, cap - n, "%s\"%s\":%s", n > 1 ? "," : "", k,
             json_object_to_json_string_ext(js, JSON_C_TO_STRING_PLAIN));
    json_object_put(js);
}

/* Parses one sample line: name, the labels ({...} content, unescaped into pairs) and value.
 * Keeps it when its family is in `keeps`: labels reduced into a JSON object text. */
static void ingest_line(struct cluster_metrics *cm, const char *target, const char *line,
                        size_t len)
{
    char name[160];
    size_t i = 0, n = 0;
    while (i < len && line[i] != '{' && line[i] != ' ' && n + 1 < sizeof name)
        name[n++] = line[i++];
    name[n] = '\0';
    const struct keep *k = NULL;
    for (size_t j = 0; j < sizeof keeps / sizeof keeps[0]; j++)
        if (strcmp(keeps[j].name, name) == 0)
            k = &keeps[j];
    if (!k)
        return;
    /* labels */
    char kv[3][256] = {{0}};
    int only_ok = k->only_label == NULL;
    if (i < len && line[i] == '{') {
        i++;
        while (i < len && line[i] != '}') {
            char lname[64], lval[256];
            size_t a = 0, b = 0;
            while (i < len && line[i] != '=' && line[i] != '}' && a + 1 < sizeof lname)
                lname[a++] = line[i++];
            lname[a] = '\0';
            if (i >= len || line[i] != '=' || i + 1 >= len || line[i + 1] != '"')
                return;
            i += 2;
            while (i < len && line[i] != '"') {
                char c = line[i++];
                if (c == '\\' && i < len) {
                    c = line[i++];
                    if (c == 'n')
                        c = '\n';
                }
                if (b + 1 < sizeof lval)
                    lval[b++] = c;
            }
            lval[b] = '\0';
            if (i >= len)
                return;
            i++; /* closing quote */
            if (i < len && line[i] == ',')
                i++;
            for (int j = 0; j < 3 && k->labels[j]; j++)
                if (strcmp(k->labels[j], lname) == 0)
                    snprintf(kv[j], sizeof kv[j], "%s", lval);
            if (k->only_label && strcmp(k->only_label, lname) == 0 &&
                strcmp(k->only_value, lval) == 0)
                only_ok = 1;
        }
        if (i >= len)
            return;
        i++;
    }
    if (!only_ok)
        return;
    while (i < len && line[i] == ' ')
        i++;
    char num[64];
    size_t m = 0;
    while (i < len && line[i] != ' ' && m + 1 < sizeof num)
        num[m++] = line[i++];
    num[m] = '\0';
    char *end;
    double v = strtod(num, &end);
    if (m == 0 || *end != '\0' || isnan(v))
        return;
    char labels[1024] = "{";
    for (int j = 0; j < 3 && k->labels[j]; j++)
        json_pair(labels, sizeof labels - 1, k->labels[j], kv[j]);
    memcpy(labels + strlen(labels), "}", 2); /* the byte json_pair left for it */
    struct series *s = series_get(cm, target, name, labels);
    if (s)
        series_add(cm, s, v);
}

void cluster_metrics_ingest(struct cluster_metrics *cm, const char *target, const char *text)
{
    pthread_mutex_lock(&cm->lock);
    for (const char *p = text; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > 0 && *p != '#')
            ingest_line(cm, target, p, len);
        p = e ? e + 1 : NULL;
    }
    pthread_mutex_unlock(&cm->lock);
}

/* ---- scraping ---------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct target *t = opaque;
    size_t n = size * nmemb;
    if (t->len + n + 1 > MAX_BODY) {
        t->too_big = 1;
        return 0;
    }
    char *grown = realloc(t->body, t->len + n + 1);
    if (!grown)
        return 0;
    t->body = grown;
    memcpy(t->body + t->len, data, n);
    t->len += n;
    t->body[t->len] = '\0';
    return n;
}

static void fetch(struct cluster_metrics *cm, struct target *t)
{
    t->len = 0;
    t->too_big = 0;
    if (t->body)
        t->body[0] = '\0';
    if (!t->curl && !(t->curl = curl_easy_init())) {
        t->up = 0;
        snprintf(t->error, sizeof t->error, "out of memory");
        return;
    }
    struct curl_slist *h = NULL;
    if (cm->token_header)
        h = curl_slist_append(NULL, cm->token_header);
    curl_easy_setopt(t->curl, CURLOPT_URL, t->url);
    curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->curl, CURLOPT_CONNECTTIMEOUT_MS, 500L);
    curl_easy_setopt(t->curl, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(t->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(t->curl, CURLOPT_FOLLOWLOCATION, 0L);
    CURLcode rc = curl_easy_perform(t->curl);
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        t->up = 0;
        snprintf(t->error, sizeof t->error, "%s",
                 t->too_big ? "answer too large" : curl_easy_strerror(rc));
    } else if (status != 200) {
        t->up = 0;
        snprintf(t->error, sizeof t->error, "HTTP %ld%s", status,
                 status == 401 ? " (METRICS_TOKEN differs)" : "");
    } else {
        t->up = 1;
        t->error[0] = '\0';
    }
}

static double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void scrape_once(struct cluster_metrics *cm)
{
    for (int i = 0; i < cm->ntargets; i++)
        fetch(cm, &cm->targets[i]);
    char *self = metrics_render();
    /* /ready's probes only while someone watches (a read in the last minute): an idle
     * ingress costs its dependencies nothing */
    pthread_mutex_lock(&cm->lock);
    int watched = now_wall() - cm->last_read < 60.0, fresh = watched && !cm->have_deps;
    if (!watched)
        cm->have_deps = 0; /* stale: not shown until probed again */
    pthread_mutex_unlock(&cm->lock);
    int pg = 0, rd = 0, kf = 0;
    int deps = cm->app && watched && (fresh || cm->scrapes % 5 == 0);
    cm->scrapes++;
    if (deps)
        ingress_ready_checks(cm->app, &pg, &rd, &kf);
    cluster_metrics_tick(cm, now_wall());
    cluster_metrics_ingest(cm, "ingress", "up 1\n");
    if (self)
        cluster_metrics_ingest(cm, "ingress", self);
    for (int i = 0; i < cm->ntargets; i++) {
        struct target *t = &cm->targets[i];
        cluster_metrics_ingest(cm, t->name, t->up ? "up 1\n" : "up 0\n");
        if (t->up && t->body)
            cluster_metrics_ingest(cm, t->name, t->body);
    }
    pthread_mutex_lock(&cm->lock);
    for (int i = 0; i < cm->ntargets; i++)
        memcpy(cm->targets[i].shown_error, cm->targets[i].error, sizeof cm->targets[i].error);
    if (deps) {
        cm->dep_pg = pg, cm->dep_rd = rd, cm->dep_kf = kf;
        cm->have_deps = 1;
    }
    pthread_mutex_unlock(&cm->lock);
    free(self);
}

static void *scrape_main(void *opaque)
{
    struct cluster_metrics *cm = opaque;
    pthread_mutex_lock(&cm->lock);
    while (!cm->stop) {
        pthread_mutex_unlock(&cm->lock);
        scrape_once(cm);
        pthread_mutex_lock(&cm->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long long ns = (long long)until.tv_nsec + (long long)cm->scrape_ms * 1000000LL;
        until.tv_sec += (time_t)(ns / 1000000000LL);
        until.tv_nsec = (long)(ns % 1000000000LL);
        while (!cm->stop && pthread_cond_timedwait(&cm->wake, &cm->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&cm->lock);
    return NULL;
}

/* "name=host:port" or "name=http(s)://..." into t. */
static int parse_target(struct target *t, const char *item, char *err, size_t errlen)
{
    const char *eq = strchr(item, '=');
    size_t nlen = eq ? (size_t)(eq - item) : 0;
    if (!eq || nlen == 0 || nlen >= sizeof t->name || !eq[1]) {
        snprintf(err, errlen, "INGRESS_METRICS_TARGETS: \"%s\" is not name=host:port", item);
        return -EINVAL;
    }
    for (size_t i = 0; i < nlen; i++) {
        char c = item[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            snprintf(err, errlen, "INGRESS_METRICS_TARGETS: bad name in \"%s\"", item);
            return -EINVAL;
        }
    }
    memcpy(t->name, item, nlen);
    t->name[nlen] = '\0';
    const char *addr = eq + 1;
    int n;
    if (strncmp(addr, "http://", 7) == 0 || strncmp(addr, "https://", 8) == 0)
        n = snprintf(t->url, sizeof t->url, "%s", addr);
    else
        n = snprintf(t->url, sizeof t->url, "http://%s/metrics", addr);
    if (n < 0 || (size_t)n >= sizeof t->url) {
        snprintf(err, errlen, "INGRESS_METRICS_TARGETS: address too long for %s", t->name);
        return -EINVAL;
    }
    return 0;
}

int cluster_metrics_new(struct cluster_metrics **out, struct ingress *app, const char *targets,
                        long scrape_ms, const char *token, char *err, size_t errlen)
{
    int rc = -ENOMEM;
    char *list = NULL;
    struct cluster_metrics *cm = calloc(1, sizeof *cm);
    *out = NULL;
    if (!cm)
        goto out;
    pthread_mutex_init(&cm->lock, NULL);
    pthread_cond_init(&cm->wake, NULL);
    cm->app = app;
    cm->ticks = -1;
    cm->scrape_ms = scrape_ms > 0 ? scrape_ms : 1000;
    for (int t = 0; t < NTIERS; t++)
        if (!(cm->ts[t] = calloc((size_t)tiers[t].cap, sizeof(double))))
            goto out;
    if (token && *token) {
        size_t n = strlen(token) + 32;
        if (!(cm->token_header = malloc(n)))
            goto out;
        snprintf(cm->token_header, n, "Authorization: Bearer %s", token);
    }
    if (!(list = strdup(targets ? targets : "")))
        goto out;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t l = strlen(tok);
        while (l > 0 && tok[l - 1] == ' ')
            tok[--l] = '\0';
        if (!*tok)
            continue;
        if (cm->ntargets >= MAX_TARGETS) {
            rc = -EINVAL;
            snprintf(err, errlen, "INGRESS_METRICS_TARGETS: more than %d targets", MAX_TARGETS);
            goto out;
        }
        if ((rc = parse_target(&cm->targets[cm->ntargets], tok, err, errlen)) < 0)
            goto out;
        if (strcmp(cm->targets[cm->ntargets].name, "ingress") == 0) {
            rc = -EINVAL;
            snprintf(err, errlen, "INGRESS_METRICS_TARGETS: \"ingress\" is this process's name");
            goto out;
        }
        cm->ntargets++;
    }
    *out = cm;
    cm = NULL;
    rc = 0;
out:
    free(list);
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    cluster_metrics_stop(cm);
    return rc;
}

int cluster_metrics_start(struct cluster_metrics **out, struct ingress *app, const char *targets,
                          long scrape_ms, const char *token, char *err, size_t errlen)
{
    struct cluster_metrics *cm;
    int rc = cluster_metrics_new(&cm, app, targets, scrape_ms, token, err, errlen);
    *out = NULL;
    if (rc != 0)
        return rc;
    if (pthread_create(&cm->thread, NULL, scrape_main, cm) != 0) {
        snprintf(err, errlen, "cannot start the metrics scraping thread");
        cluster_metrics_stop(cm);
        return -EAGAIN;
    }
    cm->started = 1;
    *out = cm;
    return 0;
}

void cluster_metrics_stop(struct cluster_metrics *cm)
{
    if (!cm)
        return;
    if (cm->started) {
        pthread_mutex_lock(&cm->lock);
        cm->stop = 1;
        pthread_cond_signal(&cm->wake);
        pthread_mutex_unlock(&cm->lock);
        pthread_join(cm->thread, NULL);
    }
    for (int i = 0; i < cm->ntargets; i++) {
        if (cm->targets[i].curl)
            curl_easy_cleanup(cm->targets[i].curl);
        free(cm->targets[i].body);
    }
    for (size_t i = 0; i < cm->nall; i++) {
        struct series *s = cm->all[i];
        free(s->key);
        free(s->name);
        free(s->labels);
        for (int t = 0; t < NTIERS; t++)
            free(s->v[t]);
        free(s);
    }
    free(cm->all);
    for (int t = 0; t < NTIERS; t++)
        free(cm->ts[t]);
    free(cm->token_header);
    pthread_mutex_destroy(&cm->lock);
    pthread_cond_destroy(&cm->wake);
    free(cm);
}

/* ---- GET /api/admin/metrics/cluster -------------------------------------------------------- */

static json_object *num_or_null(double v)
{
    return isnan(v) || isinf(v) ? NULL : json_object_new_double(v);
}

json_object *cluster_metrics_json(struct cluster_metrics *cm, const char *window)
{
    int t = -1;
    for (int i = 0; i < NTIERS; i++)
        if (strcmp(window, tiers[i].name) == 0)
            t = i;
    if (t < 0)
        return NULL;
    json_object *o = json_object_new_object(), *ts = json_object_new_array();
    json_object *series = json_object_new_array(), *targets = json_object_new_array();
    pthread_mutex_lock(&cm->lock);
    cm->last_read = now_wall();
    int count = cm->count[t], cap = tiers[t].cap;
    int first = count < cap ? 0 : (cm->head[t] + 1) % cap;
    for (int k = 0; k < count; k++)
        json_object_array_add(ts, json_object_new_double(cm->ts[t][(first + k) % cap]));
    for (size_t i = 0; i < cm->nall; i++) {
        struct series *s = cm->all[i];
        json_object *so = json_object_new_object(), *v = json_object_new_array();
        const char *sep = strchr(s->key, '\x1f');
        json_object_object_add(so, "target",
                               json_object_new_string_len(s->key, sep ? (int)(sep - s->key) : 0));
        json_object_object_add(so, "name", json_object_new_string(s->name));
        json_object *labels = json_tokener_parse(s->labels);
        json_object_object_add(so, "labels", labels ? labels : json_object_new_object());
        for (int k = 0; k < count; k++)
            json_object_array_add(v, num_or_null(s->v[t][(first + k) % cap]));
        json_object_object_add(so, "v", v);
        json_object_array_add(series, so);
    }
    json_object *self = json_object_new_object();
    json_object_object_add(self, "name", json_object_new_string("ingress"));
    json_object_object_add(self, "url", json_object_new_string("(this process)"));
    json_object_object_add(self, "up", json_object_new_boolean(1));
    json_object_array_add(targets, self);
    for (int i = 0; i < cm->ntargets; i++) {
        /* whether it answered is the "up" series; the error of its last scrape is here */
        struct target *tg = &cm->targets[i];
        json_object *to = json_object_new_object();
        json_object_object_add(to, "name", json_object_new_string(tg->name));
        json_object_object_add(to, "url", json_object_new_string(tg->url));
        json_object_object_add(to, "up", json_object_new_boolean(tg->shown_error[0] == '\0'));
        if (tg->shown_error[0])
            json_object_object_add(to, "error", json_object_new_string(tg->shown_error));
        json_object_array_add(targets, to);
    }
    json_object *deps = json_object_new_object();
    if (cm->have_deps) {
        json_object_object_add(deps, "postgres",
                               json_object_new_string(cm->dep_pg ? "ok" : "down"));
        json_object_object_add(deps, "redis", json_object_new_string(cm->dep_rd ? "ok" : "down"));
        json_object_object_add(deps, "kafka", json_object_new_string(cm->dep_kf ? "ok" : "down"));
    }
    json_object_object_add(o, "dropped_series", json_object_new_int(cm->dropped_series));
    pthread_mutex_unlock(&cm->lock);
    json_object_object_add(o, "window", json_object_new_string(tiers[t].name));
    json_object_object_add(o, "step_s",
                           json_object_new_double((double)cm->scrape_ms / 1000.0 * tiers[t].every));
    json_object_object_add(o, "t", ts);
    json_object_object_add(o, "targets", targets);
    json_object_object_add(o, "dependencies", deps);
    json_object_object_add(o, "series", series);
    return o;
}

void routes_cluster_metrics(struct req *r)
{
    struct cluster_metrics *cm = r->app->cluster;
    if (req_admin(r) != 0)
        return;
    if (!r->claims.operator) {
        reply_error(r, 403, "forbidden", "this needs a platform operator token");
        return;
    }
    if (strcmp(r->ri->request_method, "GET") != 0) {
        reply_method_not_allowed(r, "GET");
        return;
    }
    char w[16] = "5m";
    req_query(r, "window", w, sizeof w);
    if (!cm) {
        reply_error(r, 503, "unavailable", "metrics gathering is off");
        return;
    }
    json_object *o = cluster_metrics_json(cm, w);
    if (!o) {
        reply_error(r, 400, "invalid_request", "window must be 5m, 1h or 24h");
        return;
    }
    reply_json(r, 200, o);
    json_object_put(o);
}
