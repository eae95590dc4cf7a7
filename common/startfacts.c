/* startfacts.c — see startfacts.h. A sorted array of the pass's jobs, searched by job id. */
#include "startfacts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "passmemo.h"

struct fact {
    char job_id[37];
    char tenant_id[65];
    char status[16];
    unsigned long long answered; /* parts 0..63 with a saved answer */
    int answered_high;           /* a part >= 64 has one: those parts are not known here */
    int pred_known;
    char pred[40];
    int hist_known;            /* its history was read with the pass's (history.h) */
    int hist_first, hist_rows; /* its rows in hist_res */
};

static _Thread_local struct fact *facts;
static _Thread_local size_t nfacts, capfacts;
static _Thread_local unsigned long facts_pass;
static _Thread_local PGresult *hist_res;

void startfacts_clear(void)
{
    free(facts);
    facts = NULL;
    nfacts = capfacts = 0;
    facts_pass = 0;
    PQclear(hist_res);
    hist_res = NULL;
}

static int by_job(const void *a, const void *b)
{
    const struct fact *x = a, *y = b;
    int c = strcmp(x->job_id, y->job_id);
    return c ? c : strcmp(x->tenant_id, y->tenant_id);
}

static const struct fact *find(const struct envelope *env)
{
    if (!nfacts || facts_pass == 0 || facts_pass != passmemo_pass())
        return NULL;
    struct fact key = {0};
    snprintf(key.job_id, sizeof key.job_id, "%s", env->job_id);
    snprintf(key.tenant_id, sizeof key.tenant_id, "%s", env->tenant_id);
    return bsearch(&key, facts, nfacts, sizeof *facts, by_job);
}

static void parse_parts(struct fact *f, const char *list)
{
    for (const char *p = list; *p;) {
        char *end;
        long part = strtol(p, &end, 10);
        if (end == p)
            break;
        if (part >= 0 && part < 64)
            f->answered |= 1ULL << part;
        else
            f->answered_high = 1;
        p = *end == ',' ? end + 1 : end;
    }
}

/* Reads the history of the pass's jobs that will begin their answer in it: not finished, no
 * saved answer, no earlier unfinished job of the session to wait for. */
static void load_history(struct pgpool *db, const struct envelope *const *envs, size_t n,
                         int with_pred, long limit, int (*wants)(const struct envelope *))
{
    const struct envelope **elig = malloc(n * sizeof *elig);
    struct fact **of = malloc(n * sizeof *of);
    size_t m = 0;
    for (size_t i = 0; elig && of && i < n; i++) {
        struct fact *f = (struct fact *)find(envs[i]);
        if (!f || f->hist_known || f->answered || f->answered_high ||
            strcmp(f->status, "done") == 0 || strcmp(f->status, "error") == 0 ||
            (with_pred && f->pred[0]) || (wants && !wants(envs[i])))
            continue;
        f->hist_known = 1; /* once: a job twice in the pass is read once */
        f->hist_first = f->hist_rows = 0;
        elig[m] = envs[i];
        of[m++] = f;
    }
    char err[256];
    if (m && history_read(db, elig, m, limit, &hist_res, err, sizeof err) == PG_OK) {
        int rows = PQntuples(hist_res);
        for (int r = 0; r < rows; r++) {
            long ord = atol(PQgetvalue(hist_res, r, 0));
            if (ord < 1 || (size_t)ord > m)
                continue;
            struct fact *f = of[ord - 1];
            if (f->hist_rows++ == 0)
                f->hist_first = r;
        }
    } else {
        for (size_t i = 0; i < m; i++)
            of[i]->hist_known = 0; /* each job reads its own */
    }
    free(elig);
    free(of);
}

int startfacts_load(struct pgpool *db, const struct envelope *const *envs, size_t n, int with_pred,
                    long history_limit, int (*wants_history)(const struct envelope *))
{
    unsigned long pass = passmemo_pass();
    nfacts = 0;
    facts_pass = 0;
    PQclear(hist_res);
    hist_res = NULL;
    if (!pass || !n)
        return 0;
    if (capfacts < n) {
        struct fact *f = realloc(facts, n * sizeof *f);
        if (!f)
            return -ENOMEM;
        facts = f;
        capfacts = n;
    }
    const char **col = malloc(n * sizeof *col);
    char *ids = NULL, *tenants = NULL;
    if (col) {
        for (size_t i = 0; i < n; i++)
            col[i] = envs[i]->job_id;
        ids = pg_text_array(col, n);
        for (size_t i = 0; i < n; i++)
            col[i] = envs[i]->tenant_id;
        tenants = pg_text_array(col, n);
        free(col);
    }
    PGresult *res = NULL;
    char err[256];
    int rc = -ENOMEM;
    if (ids && tenants) {
        const char *params[] = {ids, tenants, with_pred ? "true" : "false"};
        rc = pgpool_exec(
            db, &res,
            "SELECT q.job_id::text, q.tenant_id, COALESCE(j.status, ''), "
            "(SELECT string_agg(m.part::text, ',') FROM messages m WHERE m.tenant_id = "
            "q.tenant_id AND m.job_id = q.job_id AND m.role = 'assistant'), "
            "CASE WHEN $3::bool THEN (SELECT e.job_id::text FROM jobs e WHERE e.tenant_id = "
            "j.tenant_id AND e.session_id = j.session_id AND e.session_seq < j.session_seq "
            "AND e.status NOT IN ('done', 'error') ORDER BY e.session_seq DESC LIMIT 1) END "
            "FROM unnest($1::uuid[], $2::text[]) AS q(job_id, tenant_id) "
            "LEFT JOIN jobs j ON j.job_id = q.job_id AND j.tenant_id = q.tenant_id",
            3, params, err, sizeof err);
    }
    free(ids);
    free(tenants);
    if (rc != PG_OK)
        return rc;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && nfacts < capfacts; i++) {
        struct fact *f = &facts[nfacts++];
        memset(f, 0, sizeof *f);
        snprintf(f->job_id, sizeof f->job_id, "%s", PQgetvalue(res, i, 0));
        snprintf(f->tenant_id, sizeof f->tenant_id, "%s", PQgetvalue(res, i, 1));
        snprintf(f->status, sizeof f->status, "%s", PQgetvalue(res, i, 2));
        parse_parts(f, PQgetvalue(res, i, 3));
        f->pred_known = with_pred;
        if (with_pred && !PQgetisnull(res, i, 4))
            snprintf(f->pred, sizeof f->pred, "%s", PQgetvalue(res, i, 4));
    }
    PQclear(res);
    qsort(facts, nfacts, sizeof *facts, by_job);
    facts_pass = pass;
    if (history_limit >= 0)
        load_history(db, envs, n, with_pred, history_limit, wants_history);
    return 0;
}

int startfacts_history(const struct envelope *env, PGresult **res, int *first, int *rows)
{
    const struct fact *f = find(env);
    if (!f || !f->hist_known || !hist_res)
        return 0;
    *res = hist_res;
    *first = f->hist_first;
    *rows = f->hist_rows;
    return 1;
}

int startfacts_job_state(const struct envelope *env, int part, char *status, size_t cap,
                         int *has_answer)
{
    const struct fact *f = find(env);
    if (!f || part < 0 || (part >= 64 && f->answered_high))
        return 0;
    snprintf(status, cap, "%s", f->status);
    *has_answer = part < 64 && (f->answered >> part) & 1;
    return 1;
}

int startfacts_session_pred(const struct envelope *env, char pred[40])
{
    const struct fact *f = find(env);
    if (!f || !f->pred_known)
        return -1;
    if (!f->pred[0])
        return 0;
    memcpy(pred, f->pred, 40);
    return 1;
}
