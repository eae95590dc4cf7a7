/* startfacts.c — see startfacts.h. A sorted array of the pass's jobs, searched by job id. */
#include "startfacts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passmemo.h"

struct fact {
    char job_id[37];
    char tenant_id[65];
    char status[16];
    unsigned long long answered; /* parts 0..63 with a saved answer */
    int answered_high;           /* a part >= 64 has one: those parts are not known here */
    int pred_known;
    char pred[40];
};

static _Thread_local struct fact *facts;
static _Thread_local size_t nfacts, capfacts;
static _Thread_local unsigned long facts_pass;

void startfacts_clear(void)
{
    free(facts);
    facts = NULL;
    nfacts = capfacts = 0;
    facts_pass = 0;
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
    struct fact key;
    snprintf(key.job_id, sizeof key.job_id, "%s", env->job_id);
    snprintf(key.tenant_id, sizeof key.tenant_id, "%s", env->tenant_id);
    return bsearch(&key, facts, nfacts, sizeof *facts, by_job);
}

/* "{"a","b"}": ids and tenant ids hold no quote or backslash (envelope_decode), and quoting
 * keeps a tenant called NULL a string. */
static char *array_literal(const struct envelope *const *envs, size_t n, int tenant)
{
    size_t cap = 3 + n * (tenant ? sizeof envs[0]->tenant_id : sizeof envs[0]->job_id) + n * 3;
    char *s = malloc(cap), *p = s;
    if (!s)
        return NULL;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += snprintf(p, cap - (size_t)(p - s), "%s\"%s\"", i ? "," : "",
                      tenant ? envs[i]->tenant_id : envs[i]->job_id);
    snprintf(p, cap - (size_t)(p - s), "}");
    return s;
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

int startfacts_load(struct pgpool *db, const struct envelope *const *envs, size_t n,
                    int with_pred)
{
    unsigned long pass = passmemo_pass();
    nfacts = 0;
    facts_pass = 0;
    if (!pass || !n)
        return 0;
    if (capfacts < n) {
        struct fact *f = realloc(facts, n * sizeof *f);
        if (!f)
            return -ENOMEM;
        facts = f;
        capfacts = n;
    }
    char *ids = array_literal(envs, n, 0), *tenants = array_literal(envs, n, 1);
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
    return 0;
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
