/* routes_usage.c — usage, prices and per-tenant limits (issue 14; README "Usage, cost and
 * budgets").
 *
 *   GET  /api/admin/usage?tenant_id=&from=&to=&group_by=day,model,agent,tenant
 *        the operator: any tenant or all; a tenant admin: its own tenant only (403 otherwise)
 *   GET  /api/{tenant_id}/usage?from=&to=&group_by=   a tenant's users: their tenant's usage
 *   GET  /api/admin/prices                 everyone with an admin token (the platform catalog)
 *   PUT  /api/admin/prices                 {model, input_usd_per_mtok, output_usd_per_mtok}
 *   DELETE /api/admin/prices?model=        operator only
 *   GET  /api/admin/tenants/{id}/limits    operator, or that tenant's admin: limits and spend
 *   PUT  /api/admin/tenants/{id}/limits    operator only (a tenant must not lift its own cap);
 *        PUT replaces every limit, PATCH changes the members it names
 *
 * Usage rows are sums over usage_calls (one row per provider attempt), so they always add up
 * to the per-call records; totals are the sums of the rows. from/to: dates or RFC 3339 times
 * with a zone (rfc3339.h), from inclusive and before to, to exclusive; default: this month so
 * far. */
#include "ingress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envelope.h"
#include "json_field.h"
#include "rfc3339.h"
#include "json_number.h"
#include "limits_mirror.h"
#include "usage.h"

static int is_op(const struct req *r)
{
    return r->claims.operator!= 0;
}

/* ---- usage ---------------------------------------------------------------------------------- */

static void usage_query(struct req *r, const char *tenant /* NULL: all */, int allow_tenant_group)
{
    char from[40] = "", to[40] = "", group[64] = "day", err[256];
    req_query(r, "from", from, sizeof from);
    req_query(r, "to", to, sizeof to);
    req_query(r, "group_by", group, sizeof group);
    /* PostgreSQL would take "tomorrow" or a time without a zone (read in the server's) */
    if ((from[0] && !rfc3339_date_or_datetime_valid(from)) ||
        (to[0] && !rfc3339_date_or_datetime_valid(to))) {
        reply_error(r, 400, "invalid_request",
                    "from and to are dates (2026-12-01) or times with a zone "
                    "(2026-12-01T08:00:00Z), UTC days");
        return;
    }
    /* The answer names the window it covers: by default from the start of this month (UTC)
     * to the time of the answer. */
    char now_s[40];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(now_s, sizeof now_s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!from[0])
        strftime(from, sizeof from, "%Y-%m-01T00:00:00Z", &tm);
    int g_day = 0, g_model = 0, g_agent = 0, g_tenant = 0, g_purpose = 0;
    char gb[64];
    snprintf(gb, sizeof gb, "%s", group);
    for (char *save = NULL, *t = strtok_r(gb, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "day") == 0)
            g_day = 1;
        else if (strcmp(t, "model") == 0)
            g_model = 1;
        else if (strcmp(t, "agent") == 0)
            g_agent = 1;
        else if (strcmp(t, "purpose") == 0)
            g_purpose = 1;
        else if (strcmp(t, "tenant") == 0 && allow_tenant_group)
            g_tenant = 1;
        else if (strcmp(t, "none") != 0) {
            reply_error(r, 400, "invalid_request",
                        allow_tenant_group
                            ? "group_by is a comma list of day, model, agent, purpose, tenant, none"
                            : "group_by is a comma list of day, model, agent, purpose, none");
            return;
        }
    }
    if (from[0] && to[0]) { /* an empty range is a mistake, not "no usage" */
        PGresult *cmp = NULL;
        const char *cp[] = {from, to};
        int st = pgpool_exec(r->app->db, &cmp, "SELECT $1::timestamptz < $2::timestamptz", 2, cp,
                             err, sizeof err);
        int ordered = st == PG_OK && PQntuples(cmp) == 1 && PQgetvalue(cmp, 0, 0)[0] == 't';
        PQclear(cmp);
        if (st == PG_ERR_INVALID) { /* the right shape, no such day: 2026-02-30 */
            reply_error(r, 400, "invalid_request", "from or to is not a real date or time");
            return;
        }
        if (st == PG_OK && !ordered) {
            reply_error(r, 400, "invalid_request", "from must be before to");
            return;
        }
    }
    const char *p[] = {tenant,
                       from,
                       to[0] ? to : NULL,
                       g_day ? "t" : "f",
                       g_model ? "t" : "f",
                       g_agent ? "t" : "f",
                       g_tenant ? "t" : "f",
                       g_purpose ? "t" : "f"};
    PGresult *res = NULL;
    int st = pgpool_exec(
        r->app->db, &res,
        "WITH w AS (SELECT $2::timestamptz AS f, coalesce($3::timestamptz, now() + interval "
        "'1 day') AS t) "
        "SELECT CASE WHEN $4::bool THEN to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END "
        "AS day, CASE WHEN $5::bool THEN model END AS model, CASE WHEN $6::bool THEN agent END "
        "AS agent, CASE WHEN $7::bool THEN tenant_id END AS tenant_id, CASE WHEN $8::bool THEN "
        "purpose END AS purpose, count(*)::bigint AS calls, sum(input_tokens)::bigint AS "
        "input_tokens, sum(output_tokens)::bigint AS output_tokens, sum(cost_usd)::text AS "
        "cost_usd "
        "FROM usage_calls, w WHERE ($1::text IS NULL OR tenant_id = $1) AND created_at >= w.f "
        "AND created_at < w.t GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
        8, p, err, sizeof err);
    if (st != PG_OK) {
        if (st == PG_ERR_INVALID) {
            reply_error(r, 400, "invalid_request", "from and to must be ISO dates or times");
            return;
        }
        reply_db_error(r, st, "usage");
        return;
    }
    json_object *rows = json_object_new_array();
    long long calls = 0, in = 0, out = 0;
    double cost = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        json_object *o = json_object_new_object();
        static const char *names[] = {"day", "model", "agent", "tenant_id", "purpose"};
        for (int c = 0; c < 5; c++)
            if (!PQgetisnull(res, i, c))
                json_object_object_add(o, names[c], json_object_new_string(PQgetvalue(res, i, c)));
        long long c1 = atoll(PQgetvalue(res, i, 5)), c2 = atoll(PQgetvalue(res, i, 6)),
                  c3 = atoll(PQgetvalue(res, i, 7));
        double c4 = atof(PQgetvalue(res, i, 8));
        calls += c1;
        in += c2;
        out += c3;
        cost += c4;
        json_object_object_add(o, "calls", json_object_new_int64(c1));
        json_object_object_add(o, "input_tokens", json_object_new_int64(c2));
        json_object_object_add(o, "output_tokens", json_object_new_int64(c3));
        json_object_object_add(o, "total_tokens", json_object_new_int64(c2 + c3));
        json_object_object_add(o, "cost_usd", json_number_text(PQgetvalue(res, i, 8)));
        json_object_array_add(rows, o);
    }
    PQclear(res);
    json_object *o = json_object_new_object();
    if (tenant)
        json_object_object_add(o, "tenant_id", json_object_new_string(tenant));
    json_object_object_add(o, "from", json_object_new_string(from));
    json_object_object_add(o, "to", json_object_new_string(to[0] ? to : now_s));
    json_object_object_add(o, "group_by", json_object_new_string(group));
    json_object_object_add(o, "rows", rows);
    json_object *tot = json_object_new_object();
    json_object_object_add(tot, "calls", json_object_new_int64(calls));
    json_object_object_add(tot, "input_tokens", json_object_new_int64(in));
    json_object_object_add(tot, "output_tokens", json_object_new_int64(out));
    json_object_object_add(tot, "total_tokens", json_object_new_int64(in + out));
    json_object_object_add(tot, "cost_usd", json_decimal(cost, 8)); /* cost_usd's scale */
    json_object_object_add(o, "totals", tot);
    reply_json(r, 200, o);
    json_object_put(o);
}

void routes_usage_tenant(struct req *r, const char *tenant)
{
    snprintf(r->route, sizeof r->route, "usage");
    if (strcmp(r->ri->request_method, "GET") != 0) {
        reply_method_not_allowed(r, "GET");
        return;
    }
    if (req_auth_tenant(r, tenant) != 0)
        return;
    usage_query(r, tenant, 0);
}

/* ---- prices --------------------------------------------------------------------------------- */

static void prices(struct req *r)
{
    const char *m = r->ri->request_method;
    char err[256];
    PGresult *res = NULL;
    if (strcmp(m, "GET") == 0) {
        int st = pgpool_exec(r->app->db, &res,
                             "SELECT model, input_usd_per_mtok::float8 AS input_usd_per_mtok, "
                             "output_usd_per_mtok::float8 AS output_usd_per_mtok FROM "
                             "model_prices ORDER BY model",
                             0, NULL, err, sizeof err);
        if (st != PG_OK) {
            reply_db_error(r, st, "prices");
            return;
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "items", pg_rows_json(res));
        PQclear(res);
        reply_json(r, 200, o);
        json_object_put(o);
        return;
    }
    if (!is_op(r)) {
        reply_error(r, 403, "forbidden", "this needs a platform operator token");
        return;
    }
    if (strcmp(m, "DELETE") == 0) {
        char model[201] = "";
        if (req_query(r, "model", model, sizeof model) != 0 || !model[0]) {
            reply_error(r, 400, "invalid_request", "model is required");
            return;
        }
        snprintf(r->audit_resource, sizeof r->audit_resource, "%.79s", model);
        const char *p[] = {model};
        int st = pgpool_exec(r->app->db, &res, "DELETE FROM model_prices WHERE model = $1", 1, p,
                             err, sizeof err);
        if (st != PG_OK) {
            reply_db_error(r, st, "prices");
            return;
        }
        int n = atoi(PQcmdTuples(res));
        PQclear(res);
        usage_prices_invalidate();
        if (n == 0)
            reply_error(r, 404, "not_found", "no such price");
        else
            reply_raw(r, 204, NULL, "", 0, NULL);
        return;
    }
    if (strcmp(m, "PUT") != 0 && strcmp(m, "POST") != 0) {
        reply_method_not_allowed(r, "GET, PUT, POST, DELETE");
        return;
    }
    json_object *b = req_json_body(r);
    if (!b)
        return;
    static const char *const members[] = {"model", "input_usd_per_mtok", "output_usd_per_mtok"};
    if (body_members_known(r, b, members, sizeof members / sizeof *members) != 0) {
        json_object_put(b);
        return;
    }
    const char *model = json_field_str(b, "model");
    json_object *vi = NULL, *vo = NULL;
    json_object_object_get_ex(b, "input_usd_per_mtok", &vi);
    json_object_object_get_ex(b, "output_usd_per_mtok", &vo);
    int num_ok =
        vi && vo &&
        (json_object_is_type(vi, json_type_double) || json_object_is_type(vi, json_type_int)) &&
        (json_object_is_type(vo, json_type_double) || json_object_is_type(vo, json_type_int)) &&
        json_object_get_double(vi) >= 0 && json_object_get_double(vo) >= 0 &&
        json_object_get_double(vi) < 1e6 && json_object_get_double(vo) < 1e6;
    if (!model || !*model || strlen(model) > 200 || !num_ok) {
        json_object_put(b);
        reply_error(r, 400, "invalid_request",
                    "expected {model (1..200 characters), input_usd_per_mtok, "
                    "output_usd_per_mtok (numbers >= 0)}");
        return;
    }
    if (!json_decimal_fits(json_object_get_double(vi), 6) ||
        !json_decimal_fits(json_object_get_double(vo), 6)) { /* numeric(12, 6) would round */
        json_object_put(b);
        reply_error(r, 400, "invalid_request",
                    "input_usd_per_mtok and output_usd_per_mtok have at most 6 decimal places");
        return;
    }
    char in[40], out[40];
    snprintf(in, sizeof in, "%.6f", json_object_get_double(vi));
    snprintf(out, sizeof out, "%.6f", json_object_get_double(vo));
    snprintf(r->audit_resource, sizeof r->audit_resource, "%.79s", model);
    const char *p[] = {model, in, out};
    int st = pgpool_exec(r->app->db, &res,
                         "INSERT INTO model_prices (model, input_usd_per_mtok, "
                         "output_usd_per_mtok) VALUES ($1, $2, $3) ON CONFLICT (model) DO UPDATE "
                         "SET input_usd_per_mtok = EXCLUDED.input_usd_per_mtok, "
                         "output_usd_per_mtok = EXCLUDED.output_usd_per_mtok, updated_at = now() "
                         "RETURNING model, input_usd_per_mtok::float8 AS input_usd_per_mtok, "
                         "output_usd_per_mtok::float8 AS output_usd_per_mtok",
                         3, p, err, sizeof err);
    json_object_put(b);
    if (st != PG_OK) {
        reply_db_error(r, st, "prices");
        return;
    }
    usage_prices_invalidate();
    json_object *o = pg_row_json(res, 0);
    PQclear(res);
    reply_json(r, 200, o);
    json_object_put(o);
}

/* ---- limits and budgets --------------------------------------------------------------------- */

/* What the API answers, and what limits_mirror_write reads (budget_micros and ver are taken
 * out of the reply). */
#define LIMITS_COLUMNS "tenant_id, budget_usd::float8 AS budget_usd, " LIMITS_MIRROR_COLUMNS

static void limits_reply(struct req *r, const char *tenant, PGresult *row)
{
    json_object *o = row && PQntuples(row) > 0 ? pg_row_json(row, 0) : json_object_new_object();
    json_object_object_del(o, "budget_micros");
    json_object_object_del(o, "ver");
    if (!row || PQntuples(row) == 0) { /* no row: no limits, the same members as with one */
        json_object_object_add(o, "tenant_id", json_object_new_string(tenant));
        static const char *const none[] = {"requests_per_minute", "user_requests_per_minute",
                                           "budget_tokens", "budget_usd"};
        for (size_t i = 0; i < sizeof none / sizeof *none; i++)
            json_object_object_add(o, none[i], NULL);
        json_object_object_add(o, "soft_threshold_pct", json_object_new_int(80));
    }
    char period[8], spent[160], resets[32];
    long reset = 0;
    usage_period(time(NULL), period, &reset);
    time_t t = time(NULL) + reset;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(resets, sizeof resets, "%Y-%m-%dT%H:%M:%SZ", &tm);
    usage_spent_key(spent, sizeof spent, tenant, period);
    long long st = 0, sm = 0;
    redisReply *rep = NULL;
    if (rcache_command(r->app->rc, &rep, "HMGET %s tokens micros", spent) == RC_OK && rep &&
        rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        if (rep->element[0]->type == REDIS_REPLY_STRING)
            st = atoll(rep->element[0]->str);
        if (rep->element[1]->type == REDIS_REPLY_STRING)
            sm = atoll(rep->element[1]->str);
    }
    if (rep)
        freeReplyObject(rep);
    json_object *b = json_object_new_object();
    json_object_object_add(b, "period", json_object_new_string(period));
    json_object_object_add(b, "resets_at", json_object_new_string(resets));
    json_object_object_add(b, "spent_tokens", json_object_new_int64(st));
    json_object_object_add(b, "spent_usd", json_decimal((double)sm / 1e6, 6));
    const char *state = "ok";
    if (row && PQntuples(row) > 0) {
        int ct = PQfnumber(row, "budget_tokens"), cm = PQfnumber(row, "budget_micros"),
            cs = PQfnumber(row, "soft_threshold_pct");
        long long bt = PQgetisnull(row, 0, ct) ? -1 : atoll(PQgetvalue(row, 0, ct));
        long long bm = PQgetisnull(row, 0, cm) ? -1 : atoll(PQgetvalue(row, 0, cm));
        double soft = atof(PQgetvalue(row, 0, cs)) / 100.0;
        if ((bt >= 0 && st >= bt) || (bm >= 0 && sm >= bm))
            state = "exceeded";
        else if ((bt >= 0 && (double)st >= soft * (double)bt) ||
                 (bm >= 0 && (double)sm >= soft * (double)bm))
            state = "soft_threshold";
    }
    json_object_object_add(b, "state", json_object_new_string(state));
    json_object_object_add(o, "budget_status", b);
    reply_json(r, 200, o);
    json_object_put(o);
}

/* Member k of b: absent or null (*out NULL), or a number >= 0 written into buf: an integer,
 * or (integer 0) a number of at most 4 decimal places, as budget_usd is stored. 0, or -1
 * answered with a 400 that names k. */
static int opt_num(struct req *r, json_object *b, const char *k, int integer, char *buf, size_t cap,
                   const char **out)
{
    json_object *v = NULL;
    char msg[160];
    *out = NULL;
    if (!json_object_object_get_ex(b, k, &v) || !v)
        return 0;
    int num = json_object_is_type(v, json_type_int) ||
              (!integer && json_object_is_type(v, json_type_double));
    double d = num ? json_object_get_double(v) : -1;
    if (d < 0 || d > 9e15) {
        snprintf(msg, sizeof msg, "%s must be %s >= 0, or null for no limit", k,
                 integer ? "an integer" : "a number");
        reply_error(r, 400, "invalid_request", msg);
        return -1;
    }
    if (!integer && !json_decimal_fits(d, 4)) { /* 0.00004 was stored as 0: "exceeded" */
        snprintf(msg, sizeof msg, "%s has at most 4 decimal places (USD 0.0001)", k);
        reply_error(r, 400, "invalid_request", msg);
        return -1;
    }
    if (integer)
        snprintf(buf, cap, "%lld", (long long)json_object_get_int64(v));
    else
        snprintf(buf, cap, "%.4f", d);
    *out = buf;
    return 0;
}

void routes_usage_limits(struct req *r, const char *tenant)
{
    const char *m = r->ri->request_method;
    char err[256];
    PGresult *res = NULL;
    snprintf(r->audit_tenant, sizeof r->audit_tenant, "%s", tenant);
    if (strcmp(m, "GET") == 0) {
        const char *p[] = {tenant};
        int st = pgpool_exec(r->app->db, &res,
                             "SELECT " LIMITS_COLUMNS " FROM tenant_limits WHERE tenant_id = $1", 1,
                             p, err, sizeof err);
        if (st != PG_OK) {
            reply_db_error(r, st, "limits");
            return;
        }
        if (PQntuples(res) == 0 && req_tenant_exists(r, tenant) != 0) {
            PQclear(res);
            return;
        }
        limits_reply(r, tenant, res);
        PQclear(res);
        return;
    }
    if (strcmp(m, "PUT") != 0 && strcmp(m, "PATCH") != 0 && strcmp(m, "POST") != 0) {
        reply_method_not_allowed(r, "GET, PUT, PATCH, POST");
        return;
    }
    if (!is_op(r)) {
        reply_error(r, 403, "forbidden", "limits and budgets are set by the platform operator");
        return;
    }
    json_object *b = req_json_body(r);
    if (!b)
        return;
    /* A misspelt member would otherwise read as "absent": no limit, silently. */
    static const char *const known[] = {"requests_per_minute", "user_requests_per_minute",
                                        "budget_tokens", "budget_usd", "soft_threshold_pct"};
    enum { NKNOWN = sizeof known / sizeof *known };
    char given[NKNOWN + 1];
    for (size_t i = 0; i < NKNOWN; i++)
        given[i] = json_object_object_get_ex(b, known[i], NULL) ? 't' : 'f';
    given[NKNOWN] = '\0';
    if (body_members_known(r, b, known, NKNOWN) != 0) {
        json_object_put(b);
        return;
    }
    char b1[32], b2[32], b3[32], b4[40], b5[32];
    const char *rpm, *urpm, *bt, *busd, *soft;
    int bad = opt_num(r, b, "requests_per_minute", 1, b1, sizeof b1, &rpm) ||
              opt_num(r, b, "user_requests_per_minute", 1, b2, sizeof b2, &urpm) ||
              opt_num(r, b, "budget_tokens", 1, b3, sizeof b3, &bt) ||
              opt_num(r, b, "budget_usd", 0, b4, sizeof b4, &busd) ||
              opt_num(r, b, "soft_threshold_pct", 1, b5, sizeof b5, &soft);
    json_object_put(b);
    if (bad)
        return;
    /* PUT (and POST) replace the whole row: what is absent or null is no limit (the soft
     * threshold: 80). PATCH changes the members it names and keeps the others. */
    if (strcmp(m, "PATCH") != 0)
        memset(given, 't', NKNOWN);
    const char *p[] = {tenant, rpm, urpm, bt, busd, soft ? soft : "80", given};
    int st = pgpool_exec(
        r->app->db, &res,
        "INSERT INTO tenant_limits (tenant_id, requests_per_minute, "
        "user_requests_per_minute, budget_tokens, budget_usd, soft_threshold_pct, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp()) "
        "ON CONFLICT (tenant_id) DO UPDATE SET "
        "requests_per_minute = CASE WHEN substr($7, 1, 1) = 't' "
        "THEN EXCLUDED.requests_per_minute"
        " ELSE tenant_limits.requests_per_minute END, "
        "user_requests_per_minute = CASE WHEN substr($7, 2, 1) = 't' "
        "THEN EXCLUDED.user_requests_per_minute"
        " ELSE tenant_limits.user_requests_per_minute END, "
        "budget_tokens = CASE WHEN substr($7, 3, 1) = 't' "
        "THEN EXCLUDED.budget_tokens"
        " ELSE tenant_limits.budget_tokens END, "
        "budget_usd = CASE WHEN substr($7, 4, 1) = 't' "
        "THEN EXCLUDED.budget_usd"
        " ELSE tenant_limits.budget_usd END, "
        "soft_threshold_pct = CASE WHEN substr($7, 5, 1) = 't' "
        "THEN EXCLUDED.soft_threshold_pct"
        " ELSE tenant_limits.soft_threshold_pct END, "
        "updated_at = " LIMITS_MIRROR_TOUCH " RETURNING " LIMITS_COLUMNS,
        7, p, err, sizeof err);
    if (st != PG_OK) {
        if (st == PG_ERR_FOREIGN_KEY)
            reply_error(r, 404, "not_found", "no such tenant");
        else if (st == PG_ERR_INVALID || st == PG_ERR_QUERY)
            reply_error(r, 400, "invalid_request", "a limit is out of range");
        else
            reply_db_error(r, st, "limits");
        return;
    }
    if (limits_mirror_write(r->app->rc, tenant, res, 0) < 0) {
        PQclear(res);
        /* Saved, but the ingress would not see it: say so rather than pretend. */
        reply_error(r, 503, "unavailable",
                    "the limits were saved but Redis is unreachable; write them again");
        return;
    }
    limits_mirror_seed_spend(r->app->rc, r->app->db, tenant); /* after a Redis loss */
    limits_reply(r, tenant, res);
    PQclear(res);
}

void routes_usage_admin(struct req *r)
{
    const char *what = r->segs[2];
    if (strcmp(what, "prices") == 0 && r->nsegs == 3) {
        snprintf(r->route, sizeof r->route, "admin.prices");
        prices(r);
        return;
    }
    if (strcmp(what, "usage") == 0 && r->nsegs == 3) {
        snprintf(r->route, sizeof r->route, "admin.usage");
        if (strcmp(r->ri->request_method, "GET") != 0) {
            reply_method_not_allowed(r, "GET");
            return;
        }
        char tenant[72] = "";
        int has = req_query(r, "tenant_id", tenant, sizeof tenant) == 0 && tenant[0];
        if (has && !tenant_id_valid(tenant)) {
            reply_error(r, 400, "invalid_request", "tenant_id must match [A-Za-z0-9_-]{1,64}");
            return;
        }
        if (!is_op(r)) {
            if (has && strcmp(tenant, r->claims.tenant_id) != 0) {
                reply_error(r, 403, "forbidden", "a tenant admin sees only its own tenant");
                return;
            }
            snprintf(tenant, sizeof tenant, "%s", r->claims.tenant_id);
            has = 1;
        }
        if (has && req_tenant_exists(r, tenant) != 0)
            return; /* not an empty usage: a misspelt tenant */
        usage_query(r, has ? tenant : NULL, is_op(r));
        return;
    }
    reply_error(r, 404, "not_found", "no such route");
}
