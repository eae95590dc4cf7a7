/* usage.c — the LLM call recorder (see usage.h). */
#include "usage.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits_mirror.h"
#include "llm.h"
#include "log.h"
#include "metrics.h"
#include "strbuf.h"
#include "uuid.h"

#define USAGE_BATCH 256
#define USAGE_BUFFER_MAX 20000
#define USAGE_PRICE_TTL_S 30
#define USAGE_LABELS_MAX 50
#define USAGE_SPENT_TTL_S (40 * 86400)

struct usage_rec {
    char tenant[65];
    char job_id[37];
    int part, seq, attempt;
    char purpose[12];
    char call_key[37];
    char agent[101];
    char provider[24];
    char model[200];
    long in, out, latency_ms;
    double cost;
    char outcome[24];
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started, stopping;
    struct pgpool *db;
    struct rcache *rc;
    struct usage_rec *buf;
    size_t n, cap;
    /* the price table */
    struct usage_price *prices;
    size_t nprices;
    time_t prices_at;
    /* bounded label values */
    char tenants[USAGE_LABELS_MAX][65];
    int ntenants;
    char models[USAGE_LABELS_MAX][65];
    int nmodels;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static pthread_mutex_t flush_mu = PTHREAD_MUTEX_INITIALIZER; /* one flush at a time */

/* ---- pure parts ----------------------------------------------------------------------------- */

double usage_cost(long in, long out, const struct usage_price *p)
{
    if (!p)
        return 0;
    double c = ((double)(in > 0 ? in : 0) * p->in_per_mtok +
                (double)(out > 0 ? out : 0) * p->out_per_mtok) /
               1e6;
    return c > 0 ? c : 0;
}

const struct usage_price *usage_price_match(const struct usage_price *p, size_t n,
                                            const char *model)
{
    if (!model)
        return NULL;
    size_t ml = strcspn(model, "@");
    const struct usage_price *best = NULL;
    size_t bestlen = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pl = strlen(p[i].model);
        if (pl == 0 || pl > ml || strncmp(model, p[i].model, pl) != 0)
            continue;
        if (pl == ml)
            return &p[i];
        if (pl > bestlen) {
            best = &p[i];
            bestlen = pl;
        }
    }
    return best;
}

void usage_period(time_t t, char out[8], long *reset_in_s)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 8, "%04u-%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u);
    struct tm next = {0};
    next.tm_year = tm.tm_mon == 11 ? tm.tm_year + 1 : tm.tm_year;
    next.tm_mon = tm.tm_mon == 11 ? 0 : tm.tm_mon + 1;
    next.tm_mday = 1;
    if (reset_in_s)
        *reset_in_s = (long)(timegm(&next) - t);
}

int usage_limits_key(char *out, size_t n, const char *tenant)
{
    return snprintf(out, n, "agenthub:{%s}:limits", tenant);
}

int usage_spent_key(char *out, size_t n, const char *tenant, const char *period)
{
    return snprintf(out, n, "agenthub:{%s}:usage:spent:%s", tenant, period);
}

long long usage_micros(double usd)
{
    if (!(usd > 0))
        return 0;
    return (long long)floor(usd * 1e6 + 0.5);
}

/* ---- labels --------------------------------------------------------------------------------- */

/* The value itself while the set has room for it, else "other"; called under g.mu. */
static const char *bounded(char (*set)[65], int *nset, int max, const char *v, char *buf,
                           size_t cap)
{
    for (int i = 0; i < *nset; i++)
        if (strcmp(set[i], v) == 0) {
            snprintf(buf, cap, "%s", v);
            return buf;
        }
    if (*nset < max && strlen(v) < sizeof set[0]) {
        snprintf(set[*nset], sizeof set[0], "%s", v);
        (*nset)++;
        snprintf(buf, cap, "%s", v);
        return buf;
    }
    snprintf(buf, cap, "other");
    return buf;
}

static int metric_tenants_max(void)
{
    const char *e = getenv("USAGE_METRIC_TENANTS");
    int n = e ? atoi(e) : USAGE_LABELS_MAX;
    return n < 0 ? 0 : (n > USAGE_LABELS_MAX ? USAGE_LABELS_MAX : n);
}

const char *usage_tenant_label(const char *tenant, char *buf, size_t cap)
{
    pthread_mutex_lock(&g.mu);
    const char *r = bounded(g.tenants, &g.ntenants, metric_tenants_max(), tenant, buf, cap);
    pthread_mutex_unlock(&g.mu);
    return r;
}

static const char *model_label(const char *model, char *buf, size_t cap)
{
    char m[65];
    snprintf(m, sizeof m, "%.*s", (int)strcspn(model, "@"), model);
    pthread_mutex_lock(&g.mu);
    const char *r = bounded(g.models, &g.nmodels, USAGE_LABELS_MAX, m, buf, cap);
    pthread_mutex_unlock(&g.mu);
    return r;
}

/* ---- prices --------------------------------------------------------------------------------- */

static int load_prices(void)
{
    PGresult *res = NULL;
    char err[256];
    if (pgpool_exec(g.db, &res,
                    "SELECT model, input_usd_per_mtok::float8, output_usd_per_mtok::float8 "
                    "FROM model_prices",
                    0, NULL, err, sizeof err) != 0) {
        log_kv(LOG_WARN, NULL, "usage: price table not read", "error", err, (char *)NULL);
        return -1;
    }
    int rows = PQntuples(res);
    struct usage_price *p = calloc(rows > 0 ? (size_t)rows : 1, sizeof *p);
    if (!p) {
        PQclear(res);
        return -ENOMEM;
    }
    for (int i = 0; i < rows; i++) {
        snprintf(p[i].model, sizeof p[i].model, "%s", PQgetvalue(res, i, 0));
        p[i].in_per_mtok = atof(PQgetvalue(res, i, 1));
        p[i].out_per_mtok = atof(PQgetvalue(res, i, 2));
    }
    PQclear(res);
    pthread_mutex_lock(&g.mu);
    free(g.prices);
    g.prices = p;
    g.nprices = (size_t)rows;
    g.prices_at = time(NULL);
    pthread_mutex_unlock(&g.mu);
    return 0;
}

static double cost_locked(const char *model, long in, long out)
{
    return usage_cost(in, out, usage_price_match(g.prices, g.nprices, model));
}

double usage_cost_of(const char *model, long in, long out)
{
    pthread_mutex_lock(&g.mu);
    double c = cost_locked(model, in, out);
    pthread_mutex_unlock(&g.mu);
    return c;
}

void usage_prices_invalidate(void)
{
    pthread_mutex_lock(&g.mu);
    g.prices_at = 0;
    pthread_mutex_unlock(&g.mu);
}

/* ---- the hook ------------------------------------------------------------------------------- */

static void usage_hook(void *opaque, const struct llm_usage_record *u)
{
    (void)opaque;
    if (!u->tenant_id || !*u->tenant_id)
        return;
    struct usage_rec r;
    memset(&r, 0, sizeof r);
    snprintf(r.tenant, sizeof r.tenant, "%s", u->tenant_id);
    if (u->tag && uuid_valid(u->tag->job_id)) {
        snprintf(r.job_id, sizeof r.job_id, "%s", u->tag->job_id);
        r.part = u->tag->part;
        r.seq = u->tag->seq;
        snprintf(r.agent, sizeof r.agent, "%s", u->tag->agent);
    } else {
        /* Outside a job there is no redelivery to guard against: each call is its own key. */
        snprintf(r.job_id, sizeof r.job_id, "00000000-0000-0000-0000-000000000000");
        if (uuid_v4(r.call_key) != 0)
            snprintf(r.call_key, sizeof r.call_key, "%ld", (long)random());
    }
    snprintf(r.purpose, sizeof r.purpose, "%s", u->purpose ? u->purpose : "agent");
    r.attempt = u->attempt;
    snprintf(r.provider, sizeof r.provider, "%s", u->provider ? u->provider : "");
    snprintf(r.model, sizeof r.model, "%s", u->model ? u->model : "unknown");
    r.in = u->input_tokens;
    r.out = u->output_tokens;
    r.latency_ms = u->latency_ms;
    snprintf(r.outcome, sizeof r.outcome, "%s", u->outcome ? u->outcome : "ok");
    pthread_mutex_lock(&g.mu);
    r.cost = cost_locked(r.model, r.in, r.out);
    if (g.n == g.cap && g.cap < USAGE_BUFFER_MAX) {
        size_t nc = g.cap ? g.cap * 2 : 64;
        struct usage_rec *nb = realloc(g.buf, nc * sizeof *nb);
        if (nb) {
            g.buf = nb;
            g.cap = nc;
        }
    }
    int dropped = 0;
    if (g.n < g.cap)
        g.buf[g.n++] = r;
    else
        dropped = 1;
    if (g.n >= USAGE_BATCH)
        pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
    if (dropped)
        metrics_inc(metrics_counter("usage_records_dropped_total",
                                    "LLM call records dropped (buffer full, database down)", ""),
                    1);
}

/* ---- the flush ------------------------------------------------------------------------------ */

#define USAGE_INSERT_SQL                                                                           \
    "INSERT INTO usage_calls (tenant_id, job_id, part, purpose, seq, attempt, call_key, agent, "   \
    "  provider, model, input_tokens, output_tokens, cost_usd, latency_ms, outcome) "              \
    "SELECT * FROM unnest($1::text[], $2::uuid[], $3::int[], $4::text[], $5::int[], $6::int[], "   \
    "  $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], "            \
    "  $13::numeric[], $14::int[], $15::text[]) "                                                  \
    "ON CONFLICT DO NOTHING "                                                                      \
    "RETURNING tenant_id, model, input_tokens, output_tokens, cost_usd::float8"

static void arr_num(struct strbuf *b, const char *v, int first)
{
    if (!first)
        strbuf_add(b, ",", 1);
    strbuf_add(b, v, strlen(v));
}

/* Adds inserted tokens and cost to the month counters; notes threshold crossings. */
static void budget_add(const char *tenant, long long tokens, long long micros)
{
    if (!g.rc || (tokens <= 0 && micros <= 0))
        return;
    char period[8], spent[160], limits[160], tk[32], mk[32], ttl[24];
    usage_period(time(NULL), period, NULL);
    usage_spent_key(spent, sizeof spent, tenant, period);
    usage_limits_key(limits, sizeof limits, tenant);
    snprintf(tk, sizeof tk, "%lld", tokens);
    snprintf(mk, sizeof mk, "%lld", micros);
    snprintf(ttl, sizeof ttl, "%d", USAGE_SPENT_TTL_S);
    const char *a0[] = {"HINCRBY", spent, "tokens", tk};
    const char *a1[] = {"HINCRBY", spent, "micros", mk};
    const char *a2[] = {"EXPIRE", spent, ttl};
    const char *a3[] = {"HMGET", limits, "budget_tokens", "budget_micros", "soft_pct"};
    struct rcache_cmd c[4] = {{4, a0, NULL, 0, NULL},
                              {4, a1, NULL, 0, NULL},
                              {3, a2, NULL, 0, NULL},
                              {5, a3, NULL, 0, NULL}};
    if (rcache_pipeline(g.rc, c, 4) != RC_OK) {
        log_kv(LOG_WARN, &(struct log_ctx){.tenant_id = tenant},
               "usage: budget counters not updated (Redis down)", (char *)NULL);
        goto out;
    }
    if (!c[0].reply || !c[1].reply || c[0].reply->type != REDIS_REPLY_INTEGER ||
        c[1].reply->type != REDIS_REPLY_INTEGER || !c[3].reply ||
        c[3].reply->type != REDIS_REPLY_ARRAY || c[3].reply->elements != 3)
        goto out;
    long long st = c[0].reply->integer, sm = c[1].reply->integer;
    redisReply **el = c[3].reply->element;
    long long bt = el[0]->type == REDIS_REPLY_STRING ? atoll(el[0]->str) : -1;
    long long bm = el[1]->type == REDIS_REPLY_STRING ? atoll(el[1]->str) : -1;
    long soft = el[2]->type == REDIS_REPLY_STRING ? atol(el[2]->str) : 80;
    if (bt < 0 && bm < 0)
        goto out;
    for (int hard = 0; hard < 2; hard++) {
        double frac = hard ? 1.0 : (double)soft / 100.0;
        int crossed = (bt >= 0 && (double)st >= frac * (double)bt) ||
                      (bm >= 0 && (double)sm >= frac * (double)bm);
        if (!crossed)
            continue;
        char flag[180];
        snprintf(flag, sizeof flag, "agenthub:{%s}:usage:%s:%s", tenant, hard ? "hard" : "soft",
                 period);
        redisReply *rep = NULL;
        if (rcache_command(g.rc, &rep, "SET %s 1 NX EX %d", flag, USAGE_SPENT_TTL_S) != RC_OK ||
            !rep || rep->type != REDIS_REPLY_STATUS) {
            if (rep)
                freeReplyObject(rep);
            continue; /* already announced this month */
        }
        freeReplyObject(rep);
        const char *kind = hard ? "hard" : "soft";
        char stb[32], smb[32], err[200], lbuf[80], esc[160], labels[240];
        snprintf(stb, sizeof stb, "%lld", st);
        snprintf(smb, sizeof smb, "%.6f", (double)sm / 1e6);
        log_kv(hard ? LOG_WARN : LOG_INFO, &(struct log_ctx){.tenant_id = tenant},
               hard ? "budget exhausted: new chats are refused until the period resets"
                    : "budget soft threshold crossed",
               "event", hard ? "budget_hard_limit" : "budget_soft_threshold", "period", period,
               "spent_tokens", stb, "spent_usd", smb, (char *)NULL);
        const char *p[] = {tenant, period, kind, stb, smb};
        pgpool_exec(g.db, NULL,
                    "INSERT INTO budget_events (tenant_id, period, kind, spent_tokens, spent_usd) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    5, p, err, sizeof err);
        metrics_label_escape(esc, sizeof esc, usage_tenant_label(tenant, lbuf, sizeof lbuf));
        snprintf(labels, sizeof labels, "tenant=\"%s\",kind=\"%s\"", esc, kind);
        metrics_inc(metrics_counter(
                        "budget_threshold_events_total",
                        "budget thresholds crossed (soft: warning, hard: chats refused)", labels),
                    1);
    }
out:
    for (int i = 0; i < 4; i++)
        if (c[i].reply)
            freeReplyObject(c[i].reply);
}

static void count_metrics(const char *tenant, const char *model, long long in, long long out,
                          double cost)
{
    char tb[80], mb[80], te[160], me[160], labels[400];
    metrics_label_escape(te, sizeof te, usage_tenant_label(tenant, tb, sizeof tb));
    metrics_label_escape(me, sizeof me, model_label(model, mb, sizeof mb));
    const char *th = "LLM tokens recorded, by tenant (bounded: see README) and model";
    snprintf(labels, sizeof labels, "tenant=\"%s\",model=\"%s\",direction=\"input\"", te, me);
    metrics_inc(metrics_counter("usage_tokens_total", th, labels), (double)in);
    snprintf(labels, sizeof labels, "tenant=\"%s\",model=\"%s\",direction=\"output\"", te, me);
    metrics_inc(metrics_counter("usage_tokens_total", th, labels), (double)out);
    snprintf(labels, sizeof labels, "tenant=\"%s\",model=\"%s\"", te, me);
    metrics_inc(metrics_counter("usage_cost_usd_total",
                                "LLM cost recorded in US dollars, by tenant and model", labels),
                cost);
}

static void flush_recs(struct usage_rec *r, size_t n)
{
    struct strbuf a[15];
    memset(a, 0, sizeof a);
    for (int k = 0; k < 15; k++)
        strbuf_add(&a[k], "{", 1);
    char num[64];
    for (size_t i = 0; i < n; i++) {
        int f = i == 0;
        strbuf_add_pg_array_elem(&a[0], r[i].tenant, f);
        strbuf_add_pg_array_elem(&a[1], r[i].job_id, f);
        snprintf(num, sizeof num, "%d", r[i].part);
        arr_num(&a[2], num, f);
        strbuf_add_pg_array_elem(&a[3], r[i].purpose, f);
        snprintf(num, sizeof num, "%d", r[i].seq);
        arr_num(&a[4], num, f);
        snprintf(num, sizeof num, "%d", r[i].attempt);
        arr_num(&a[5], num, f);
        strbuf_add_pg_array_elem(&a[6], r[i].call_key, f);
        strbuf_add_pg_array_elem(&a[7], r[i].agent, f);
        strbuf_add_pg_array_elem(&a[8], r[i].provider, f);
        strbuf_add_pg_array_elem(&a[9], r[i].model, f);
        snprintf(num, sizeof num, "%ld", r[i].in);
        arr_num(&a[10], num, f);
        snprintf(num, sizeof num, "%ld", r[i].out);
        arr_num(&a[11], num, f);
        snprintf(num, sizeof num, "%.8f", r[i].cost);
        arr_num(&a[12], num, f);
        snprintf(num, sizeof num, "%ld",
                 r[i].latency_ms > 2000000000L ? 2000000000L : r[i].latency_ms);
        arr_num(&a[13], num, f);
        strbuf_add_pg_array_elem(&a[14], r[i].outcome, f);
    }
    int oom = 0;
    const char *params[15];
    for (int k = 0; k < 15; k++) {
        strbuf_add(&a[k], "}", 1);
        oom |= a[k].oom;
        params[k] = a[k].p;
    }
    PGresult *res = NULL;
    char err[256] = "";
    if (oom) {
        log_kv(LOG_ERROR, NULL, "usage: out of memory, call records lost", (char *)NULL);
        goto out;
    }
    if (pgpool_exec(g.db, &res, USAGE_INSERT_SQL, 15, params, err, sizeof err) != 0) {
        char nb[24];
        snprintf(nb, sizeof nb, "%zu", n);
        log_kv(LOG_ERROR, NULL, "usage: call records not written", "records", nb, "error", err,
               (char *)NULL);
        metrics_inc(metrics_counter("usage_records_dropped_total",
                                    "LLM call records dropped (buffer full, database down)", ""),
                    (double)n);
        goto out;
    }
    /* Per tenant sums of what went in (the batch is small: a linear scan is fine). */
    int rows = PQntuples(res);
    char *done = calloc(rows > 0 ? (size_t)rows : 1, 1);
    for (int i = 0; i < rows; i++) {
        const char *t = PQgetvalue(res, i, 0);
        long long in = atoll(PQgetvalue(res, i, 2)), out = atoll(PQgetvalue(res, i, 3));
        double cost = atof(PQgetvalue(res, i, 4));
        count_metrics(t, PQgetvalue(res, i, 1), in, out, cost);
        if (!done)
            continue;
        if (done[i])
            continue;
        long long tok = 0;
        double usd = 0;
        for (int k = i; k < rows; k++) {
            if (done[k] || strcmp(PQgetvalue(res, k, 0), t) != 0)
                continue;
            done[k] = 1;
            tok += atoll(PQgetvalue(res, k, 2)) + atoll(PQgetvalue(res, k, 3));
            usd += atof(PQgetvalue(res, k, 4));
        }
        budget_add(t, tok, usage_micros(usd));
    }
    free(done);
out:
    if (res)
        PQclear(res);
    for (int k = 0; k < 15; k++)
        free(a[k].p);
}

void usage_flush(void)
{
    if (!g.db)
        return;
    pthread_mutex_lock(&flush_mu);
    pthread_mutex_lock(&g.mu);
    int stale = time(NULL) - g.prices_at >= USAGE_PRICE_TTL_S;
    pthread_mutex_unlock(&g.mu);
    if (stale)
        load_prices();
    for (;;) {
        pthread_mutex_lock(&g.mu);
        size_t n = g.n < USAGE_BATCH ? g.n : USAGE_BATCH;
        struct usage_rec *batch = n ? malloc(n * sizeof *batch) : NULL;
        if (batch) {
            memcpy(batch, g.buf, n * sizeof *batch);
            memmove(g.buf, g.buf + n, (g.n - n) * sizeof *batch);
            g.n -= n;
        }
        pthread_mutex_unlock(&g.mu);
        if (!batch)
            break;
        flush_recs(batch, n);
        free(batch);
    }
    pthread_mutex_unlock(&flush_mu);
}

/* Seconds between reconciliations (USAGE_RECONCILE_S, default 60; tests shorten it). */
static long reconcile_every_s(void)
{
    const char *e = getenv("USAGE_RECONCILE_S");
    long v = e ? atol(e) : 60;
    return v > 0 && v <= 86400 ? v : 60;
}

/* After a Redis loss the ingress would see no limits: every USAGE_RECONCILE_S (60) each recording
 * process writes back from tenant_limits the limits of the tenants whose Redis mirror is
 * missing or older than the row (limits_mirror.h: a stale write never wins), and seeds their
 * month's spend from usage_calls where Redis has none (HSETNX: a counter already there wins,
 * so calls recorded between the loss and this run are all that is missed). One query and one
 * Redis pipeline for all tenants; more only for those behind. */
static void reconcile(void)
{
    PGresult *res = NULL;
    char err[256];
    char(*keys)[160] = NULL;
    const char **hget = NULL;
    struct rcache_cmd *cmds = NULL;
    if (!g.rc)
        return;
    if (pgpool_exec(g.db, &res,
                    "SELECT tenant_id, " LIMITS_MIRROR_COLUMNS " FROM tenant_limits LIMIT 100000",
                    0, NULL, err, sizeof err) != 0)
        return;
    int n = PQntuples(res), col_ver = PQfnumber(res, "ver");
    if (n == 0 || col_ver < 0)
        goto out;
    keys = calloc((size_t)n, sizeof *keys);
    hget = calloc((size_t)n * 3, sizeof *hget);
    cmds = calloc((size_t)n, sizeof *cmds);
    if (!keys || !hget || !cmds)
        goto out;
    for (int i = 0; i < n; i++) {
        usage_limits_key(keys[i], sizeof keys[i], PQgetvalue(res, i, 0));
        hget[3 * i] = "HGET";
        hget[3 * i + 1] = keys[i];
        hget[3 * i + 2] = "ver";
        cmds[i] = (struct rcache_cmd){.argc = 3, .argv = hget + 3 * i};
    }
    if (rcache_pipeline(g.rc, cmds, n) != RC_OK)
        goto out;
    for (int i = 0; i < n; i++) {
        redisReply *r = cmds[i].reply;
        if (!r ||
            (r->type == REDIS_REPLY_STRING && atoll(r->str) >= atoll(PQgetvalue(res, i, col_ver))))
            continue; /* no answer, or as new as the row */
        const char *tenant = PQgetvalue(res, i, 0);
        limits_mirror_seed_spend(g.rc, g.db, tenant);
        if (limits_mirror_write(g.rc, tenant, res, i) == 1)
            log_kv(LOG_WARN, &(struct log_ctx){.tenant_id = tenant},
                   "usage: tenant limits restored into Redis from tenant_limits", (char *)NULL);
    }
out:
    for (int i = 0; cmds && i < n; i++)
        if (cmds[i].reply)
            freeReplyObject(cmds[i].reply);
    free(keys);
    free(hget);
    free(cmds);
    PQclear(res);
}

static void *flusher(void *arg)
{
    (void)arg;
    time_t last_reconcile = 0;
    long every = reconcile_every_s();
    pthread_mutex_lock(&g.mu);
    while (!g.stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += USAGE_FLUSH_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&g.cv, &g.mu, &ts);
        pthread_mutex_unlock(&g.mu);
        usage_flush();
        if (time(NULL) - last_reconcile >= every) {
            last_reconcile = time(NULL);
            reconcile();
        }
        pthread_mutex_lock(&g.mu);
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

int usage_start(struct pgpool *db, struct rcache *rc, char *err, size_t errlen)
{
    if (!db) {
        snprintf(err, errlen, "usage_start: no database");
        return -EINVAL;
    }
    if (g.started)
        return 0;
    g.db = db;
    g.rc = rc;
    g.stopping = 0;
    load_prices();
    if (pthread_create(&g.thread, NULL, flusher, NULL) != 0) {
        snprintf(err, errlen, "usage_start: cannot start the flusher thread");
        g.db = NULL;
        return -EAGAIN;
    }
    g.started = 1;
    llm_set_usage_hook(usage_hook, NULL);
    return 0;
}

void usage_stop(void)
{
    if (!g.started)
        return;
    llm_set_usage_hook(NULL, NULL);
    pthread_mutex_lock(&g.mu);
    g.stopping = 1;
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(g.thread, NULL);
    usage_flush();
    g.started = 0;
    pthread_mutex_lock(&g.mu);
    free(g.buf);
    g.buf = NULL;
    g.n = g.cap = 0;
    free(g.prices);
    g.prices = NULL;
    g.nprices = 0;
    pthread_mutex_unlock(&g.mu);
    g.db = NULL;
    g.rc = NULL;
}
