/* agenthub-standin-erp — stand-in ERP + logistics business APIs for the demo and tests.
 *
 * Deterministic data (the same answer every time, no database):
 *   GET  /api/debt/{mst}              customer debt by tax code (MST: 10 digits, or 10-3 for a
 * branch); 404 {"error":{...}} for an unknown MST GET  /api/shipments/{tracking}    shipment
 * status, ETA, location, history GET  /api/orders/{order_id}       order lines and totals POST
 * /api/analysis/report         {"metric", "period"} -> figures GET  /health Test hooks: GET
 * /_last_request?path=/api/... the method, Authorization, X-API-Version and X-Api-Key headers and
 * body of the last request to that exact path (tests assert that the user's JWT arrived);
 * {"seen":false} if none GET
 * /_fail?mode=ok|down|500|slow|oversize|badshape|latin1[&ms=N] fault injection for every /api/
 *                     request (latin1: answers in ISO-8859-1, as an old ERP would)
 * until reset: down = 503, 500 = 500, slow = sleep ms (default 3000) first, oversize = a 2 MiB JSON
 * answer, badshape = total_debt as a string (output-schema violations) GET
 * /_redirect?to=URL[&code=302] answers a redirect to URL (redirect-guard tests) Settings:
 * ERP_LISTEN (default 127.0.0.1:18090), LOG_LEVEL.
 */
#include <civetweb.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static char *g_listen;
static char *g_log_level;

static const struct config_entry erp_config[] = {
    {"ERP_LISTEN", CONFIG_STRING, "127.0.0.1:18090", 0, 0, 0, "host:port to listen on", &g_listen},
    {"LOG_LEVEL", CONFIG_STRING, "info", 0, 0, 0, "debug, info, warn, error", &g_log_level},
};
#define ERP_NCONFIG (sizeof(erp_config) / sizeof(erp_config[0]))

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* ---- shared state: fault mode and last request per path ------------------------------- */

enum fail_mode {
    FAIL_OK,
    FAIL_DOWN,
    FAIL_500,
    FAIL_SLOW,
    FAIL_OVERSIZE,
    FAIL_BADSHAPE,
    FAIL_LATIN1
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static enum fail_mode g_mode = FAIL_OK;
static long g_slow_ms = 3000;
static json_object *g_last; /* path -> {method, authorization, body} */

static void record(const struct mg_connection *conn, const char *path, const char *body)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *auth = mg_get_header(conn, "Authorization");
    json_object *o = json_object_new_object();
    json_object_object_add(o, "seen", json_object_new_boolean(1));
    json_object_object_add(o, "method", json_object_new_string(ri->request_method));
    json_object_object_add(o, "authorization", auth ? json_object_new_string(auth) : NULL);
    json_object_object_add(o, "query",
                           ri->query_string ? json_object_new_string(ri->query_string) : NULL);
    json_object_object_add(o, "body", body ? json_object_new_string(body) : NULL);
    const char *xv = mg_get_header(conn, "X-API-Version");
    json_object_object_add(o, "x_api_version", xv ? json_object_new_string(xv) : NULL);
    const char *xk = mg_get_header(conn, "X-Api-Key"); /* tool config secrets (issue 17) */
    json_object_object_add(o, "x_api_key", xk ? json_object_new_string(xk) : NULL);
    pthread_mutex_lock(&g_mu);
    json_object_object_add(g_last, path, o);
    pthread_mutex_unlock(&g_mu);
}

/* UTF-8 text as ISO-8859-1 (what an old ERP sends): code points above U+00FF become '?'.
 * In place: the result is never longer. */
static size_t to_latin1(char *t)
{
    const unsigned char *in = (const unsigned char *)t;
    size_t o = 0;
    for (size_t i = 0; in[i];) {
        unsigned cp = in[i], n = 1;
        if (cp >= 0xC0 && cp < 0xE0 && in[i + 1])
            cp = ((cp & 0x1F) << 6) | (in[i + 1] & 0x3F), n = 2;
        else if (cp >= 0xE0 && cp < 0xF0 && in[i + 1] && in[i + 2])
            cp = 0x1000, n = 3;
        else if (cp >= 0xF0 && in[i + 1] && in[i + 2] && in[i + 3])
            cp = 0x10000, n = 4;
        t[o++] = (char)(cp < 0x100 ? cp : '?');
        i += n;
    }
    t[o] = '\0';
    return o;
}

static void send_json(struct mg_connection *conn, int status, json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    size_t n = strlen(s);
    pthread_mutex_lock(&g_mu);
    int latin1 = g_mode == FAIL_LATIN1;
    pthread_mutex_unlock(&g_mu);
    char *l1 = latin1 ? strdup(s) : NULL;
    if (l1) {
        n = to_latin1(l1);
        s = l1;
    }
    const char *reason = status == 200   ? "OK"
                         : status == 400 ? "Bad Request"
                         : status == 404 ? "Not Found"
                         : status == 405 ? "Method Not Allowed"
                         : status == 503 ? "Service Unavailable"
                                         : "Internal Server Error";
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/json%s\r\nContent-Length: %zu\r\n"
              "Connection: close\r\n\r\n",
              status, reason, l1 ? "; charset=ISO-8859-1" : "", n);
    mg_write(conn, s, n);
    free(l1);
}

/* send_json, then frees o; returns status (a handler's return value). */
static int send_owned(struct mg_connection *conn, int status, json_object *o)
{
    send_json(conn, status, o);
    json_object_put(o);
    return status;
}

static void send_error(struct mg_connection *conn, int status, const char *code, const char *msg)
{
    json_object *o = json_object_new_object(), *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_string(code));
    json_object_object_add(e, "message", json_object_new_string(msg));
    json_object_object_add(o, "error", e);
    send_owned(conn, status, o);
}

/* Reads the request body (at most 64 KiB). malloc'd, NUL-terminated. */
static char *read_body(struct mg_connection *conn)
{
    size_t cap = 65536, len = 0;
    char *b = malloc(cap + 1);
    if (!b)
        return NULL;
    int r;
    while (len < cap && (r = mg_read(conn, b + len, cap - len)) > 0)
        len += (size_t)r;
    b[len] = 0;
    return b;
}

/* Applies the fault mode; 1 when it already answered. */
static int apply_fault(struct mg_connection *conn, enum fail_mode *mode_out)
{
    pthread_mutex_lock(&g_mu);
    enum fail_mode m = g_mode;
    long ms = g_slow_ms;
    pthread_mutex_unlock(&g_mu);
    *mode_out = m;
    if (m == FAIL_DOWN) {
        send_error(conn, 503, "unavailable", "ERP is down for maintenance");
        return 1;
    }
    if (m == FAIL_500) {
        send_error(conn, 500, "internal", "internal error");
        return 1;
    }
    if (m == FAIL_SLOW) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (m == FAIL_OVERSIZE) {
        size_t n = (size_t)2 * 1024 * 1024;
        mg_printf(conn,
                  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                  "Connection: close\r\n\r\n",
                  n + 10);
        mg_write(conn, "{\"pad\":\"", 8);
        char chunk[4096];
        memset(chunk, 'x', sizeof chunk);
        for (size_t w = 0; w < n; w += sizeof chunk)
            mg_write(conn, chunk, n - w < sizeof chunk ? n - w : sizeof chunk);
        mg_write(conn, "\"}", 2);
        return 1;
    }
    return 0;
}

/* ---- data ---------------------------------------------------------------------------- */

struct customer {
    const char *mst, *name;
    long long total_debt, overdue_amount, credit_limit;
    int overdue_days;
    const char *last_payment_date, *status;
};

static const struct customer CUSTOMERS[] = {
    {"0123456789", "Công ty TNHH Thương mại Minh Phát", 125000000, 45000000, 500000000, 45,
     "2024-05-10", "overdue"},
    {"0312345678", "Công ty Cổ phần Vận tải Sài Gòn Xanh", 0, 0, 300000000, 0, "2024-06-01",
     "current"},
    {"0109876543", "Hanoi Fresh Foods JSC", 78500000, 0, 200000000, 0, "2024-06-12", "current"},
    {"0401234567", "Đà Nẵng Steel Co., Ltd", 342000000, 342000000, 250000000, 92, "2024-02-28",
     "overdue"},
    {"0123456789-001", "Minh Phát — Chi nhánh Hà Nội", 15000000, 0, 50000000, 0, "2024-06-05",
     "current"},
};

struct shipment {
    const char *tracking, *status, *eta, *location, *carrier, *origin, *destination;
};

static const struct shipment SHIPMENTS[] = {
    {"VN123456789", "in_transit", "2024-06-20", "Đà Nẵng sorting center", "VNPost Express",
     "Hồ Chí Minh", "Hà Nội"},
    {"VN987654321", "delivered", "2024-06-10", "Hà Nội", "Giao Hàng Nhanh", "Hải Phòng", "Hà Nội"},
    {"SG2024000123", "delayed", "2024-06-25", "Cát Lái port, Hồ Chí Minh", "Saigon Logistics",
     "Singapore", "Hồ Chí Minh"},
};

struct order {
    const char *id, *mst, *status, *date;
};

static const struct order ORDERS[] = {
    {"ORD-1001", "0123456789", "shipped", "2024-06-01"},
    {"ORD-1002", "0109876543", "processing", "2024-06-14"},
    {"ORD-1003", "0401234567", "cancelled", "2024-05-20"},
};

static const struct customer *find_customer(const char *mst)
{
    for (size_t i = 0; i < sizeof CUSTOMERS / sizeof CUSTOMERS[0]; i++)
        if (strcmp(CUSTOMERS[i].mst, mst) == 0)
            return &CUSTOMERS[i];
    return NULL;
}

/* The decoded path before dot-segment cleaning, so tests see what the client sent. */
static const char *raw_uri(const struct mg_request_info *ri)
{
    return ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
}

/* The path after prefix, or NULL; refuses empty and nested segments. */
static const char *tail(const char *uri, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(uri, prefix, n) != 0)
        return NULL;
    const char *t = uri + n;
    if (!*t || strchr(t, '/') || strlen(t) > 64)
        return NULL;
    return t;
}

/* The start of a GET /api/<things>/<id> handler: records the request and applies the fault
 * mode. 1 when the fault already answered; else 0 with *id the path after prefix (NULL if it
 * is not a single segment). */
static int lookup_begin(struct mg_connection *conn, const char *prefix, const char **id,
                        enum fail_mode *m)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    record(conn, raw_uri(ri), NULL);
    *id = NULL;
    if (apply_fault(conn, m))
        return 1;
    *id = tail(raw_uri(ri), prefix);
    return 0;
}

static int h_debt(struct mg_connection *conn, void *cb)
{
    (void)cb;
    const char *mst;
    enum fail_mode m;
    if (lookup_begin(conn, "/api/debt/", &mst, &m))
        return 200;
    if (strcmp(mg_get_request_info(conn)->request_method, "GET") != 0) {
        send_error(conn, 405, "method_not_allowed", "use GET");
        return 405;
    }
    const struct customer *c = mst ? find_customer(mst) : NULL;
    if (!c) {
        send_error(conn, 404, "not_found", "no customer with this MST");
        return 404;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "mst", json_object_new_string(c->mst));
    json_object_object_add(o, "customer_name", json_object_new_string(c->name));
    if (m == FAIL_BADSHAPE)
        json_object_object_add(o, "total_debt", json_object_new_string("a lot"));
    else
        json_object_object_add(o, "total_debt", json_object_new_int64(c->total_debt));
    json_object_object_add(o, "currency", json_object_new_string("VND"));
    json_object_object_add(o, "overdue_days", json_object_new_int(c->overdue_days));
    json_object_object_add(o, "overdue_amount", json_object_new_int64(c->overdue_amount));
    json_object_object_add(o, "credit_limit", json_object_new_int64(c->credit_limit));
    json_object_object_add(o, "last_payment_date", json_object_new_string(c->last_payment_date));
    json_object_object_add(o, "status", json_object_new_string(c->status));
    return send_owned(conn, 200, o);
}

static int h_shipment(struct mg_connection *conn, void *cb)
{
    (void)cb;
    const char *t;
    enum fail_mode m;
    if (lookup_begin(conn, "/api/shipments/", &t, &m))
        return 200;
    const struct shipment *s = NULL;
    for (size_t i = 0; t && i < sizeof SHIPMENTS / sizeof SHIPMENTS[0]; i++)
        if (strcmp(SHIPMENTS[i].tracking, t) == 0)
            s = &SHIPMENTS[i];
    if (!s) {
        send_error(conn, 404, "not_found", "no shipment with this tracking number");
        return 404;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "tracking_number", json_object_new_string(s->tracking));
    json_object_object_add(o, "status", json_object_new_string(s->status));
    json_object_object_add(o, "eta", json_object_new_string(s->eta));
    json_object_object_add(o, "location", json_object_new_string(s->location));
    json_object_object_add(o, "carrier", json_object_new_string(s->carrier));
    json_object_object_add(o, "origin", json_object_new_string(s->origin));
    json_object_object_add(o, "destination", json_object_new_string(s->destination));
    json_object *h = json_object_new_array();
    json_object *e1 = json_object_new_object();
    json_object_object_add(e1, "time", json_object_new_string("2024-06-08T08:00:00+07:00"));
    json_object_object_add(e1, "event", json_object_new_string("picked_up"));
    json_object_object_add(e1, "location", json_object_new_string(s->origin));
    json_object_array_add(h, e1);
    json_object *e2 = json_object_new_object();
    json_object_object_add(e2, "time", json_object_new_string("2024-06-09T14:30:00+07:00"));
    json_object_object_add(e2, "event", json_object_new_string(s->status));
    json_object_object_add(e2, "location", json_object_new_string(s->location));
    json_object_array_add(h, e2);
    json_object_object_add(o, "history", h);
    return send_owned(conn, 200, o);
}

static int h_order(struct mg_connection *conn, void *cb)
{
    (void)cb;
    const char *t;
    enum fail_mode m;
    if (lookup_begin(conn, "/api/orders/", &t, &m))
        return 200;
    const struct order *od = NULL;
    for (size_t i = 0; t && i < sizeof ORDERS / sizeof ORDERS[0]; i++)
        if (strcmp(ORDERS[i].id, t) == 0)
            od = &ORDERS[i];
    if (!od) {
        send_error(conn, 404, "not_found", "no order with this id");
        return 404;
    }
    const struct customer *c = find_customer(od->mst);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "order_id", json_object_new_string(od->id));
    json_object_object_add(o, "mst", json_object_new_string(od->mst));
    json_object_object_add(o, "customer_name", json_object_new_string(c ? c->name : ""));
    json_object_object_add(o, "status", json_object_new_string(od->status));
    json_object_object_add(o, "order_date", json_object_new_string(od->date));
    json_object *lines = json_object_new_array();
    long long total = 0;
    for (int i = 0; i < 2; i++) {
        json_object *l = json_object_new_object();
        long long qty = 10LL * (i + 1), price = 250000LL + 125000LL * i;
        json_object_object_add(l, "sku",
                               json_object_new_string(i ? "SKU-CEMENT-50" : "SKU-STEEL-12"));
        json_object_object_add(l, "quantity", json_object_new_int64(qty));
        json_object_object_add(l, "unit_price", json_object_new_int64(price));
        json_object_array_add(lines, l);
        total += qty * price;
    }
    json_object_object_add(o, "lines", lines);
    json_object_object_add(o, "total", json_object_new_int64(total));
    json_object_object_add(o, "currency", json_object_new_string("VND"));
    return send_owned(conn, 200, o);
}

/* FNV-1a: deterministic figures from (metric, period). */
static unsigned long long fnv(const char *a, const char *b)
{
    unsigned long long h = 1469598103934665603ULL;
    for (const char *p = a; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ '|') * 1099511628211ULL;
    for (const char *p = b; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

static int h_report(struct mg_connection *conn, void *cb)
{
    (void)cb;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char *body = read_body(conn);
    record(conn, raw_uri(ri), body);
    enum fail_mode m;
    json_object *in = NULL;
    int status = 200;
    if (apply_fault(conn, &m))
        goto out;
    if (strcmp(ri->request_method, "POST") != 0) {
        send_error(conn, 405, "method_not_allowed", "use POST");
        status = 405;
        goto out;
    }
    in = body ? json_tokener_parse(body) : NULL;
    json_object *jm = NULL, *jp = NULL;
    if (!json_object_is_type(in, json_type_object) ||
        !json_object_object_get_ex(in, "metric", &jm) ||
        !json_object_is_type(jm, json_type_string)) {
        send_error(conn, 400, "invalid_request", "body must be {\"metric\", \"period\"}");
        status = 400;
        goto out;
    }
    const char *metric = json_object_get_string(jm);
    const char *period = "2024-Q2";
    if (json_object_object_get_ex(in, "period", &jp) && json_object_is_type(jp, json_type_string))
        period = json_object_get_string(jp);
    static const char *const METRICS[] = {"revenue", "debt", "orders", "shipments", "overdue_debt"};
    int known = 0;
    for (size_t i = 0; i < sizeof METRICS / sizeof METRICS[0]; i++)
        known |= strcmp(metric, METRICS[i]) == 0;
    if (!known) {
        send_error(conn, 400, "unknown_metric",
                   "metric must be revenue, debt, orders, shipments or overdue_debt");
        status = 400;
        goto out;
    }
    unsigned long long h = fnv(metric, period);
    int money = strcmp(metric, "orders") != 0 && strcmp(metric, "shipments") != 0;
    long long value = money ? (long long)(1000 + h % 9000) * 1000000LL : (long long)(50 + h % 950);
    double change = ((double)((h >> 20) % 601) - 300.0) / 10.0; /* -30.0 .. +30.0 % */
    json_object *o = json_object_new_object();
    json_object_object_add(o, "metric", json_object_new_string(metric));
    json_object_object_add(o, "period", json_object_new_string(period));
    json_object_object_add(o, "value", json_object_new_int64(value));
    json_object_object_add(o, "unit", json_object_new_string(money ? "VND" : "count"));
    json_object_object_add(o, "change_pct", json_object_new_double(change));
    json_object *bd = json_object_new_array();
    static const char *const REGIONS[] = {"Hà Nội", "Hồ Chí Minh", "Đà Nẵng"};
    long long rest = value;
    for (int i = 0; i < 3; i++) {
        long long part = i < 2 ? value * (long long)(30 + (h >> (8 * i)) % 20) / 100 : rest;
        rest -= i < 2 ? part : 0;
        json_object *r = json_object_new_object();
        json_object_object_add(r, "region", json_object_new_string(REGIONS[i]));
        json_object_object_add(r, "value", json_object_new_int64(part));
        json_object_array_add(bd, r);
    }
    json_object_object_add(o, "breakdown", bd);
    send_owned(conn, 200, o);
out:
    json_object_put(in);
    free(body);
    return status;
}

static int h_health(struct mg_connection *conn, void *cb)
{
    (void)cb;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_string("ok"));
    return send_owned(conn, 200, o);
}

static int h_last(struct mg_connection *conn, void *cb)
{
    (void)cb;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char path[512] = "";
    if (!ri->query_string ||
        mg_get_var(ri->query_string, strlen(ri->query_string), "path", path, sizeof path) <= 0) {
        send_error(conn, 400, "invalid_request", "path parameter required");
        return 400;
    }
    json_object *o = NULL, *v;
    pthread_mutex_lock(&g_mu);
    if (json_object_object_get_ex(g_last, path, &v))
        json_object_deep_copy(v, &o, NULL);
    pthread_mutex_unlock(&g_mu);
    if (!o) {
        o = json_object_new_object();
        json_object_object_add(o, "seen", json_object_new_boolean(0));
    }
    return send_owned(conn, 200, o);
}

static int h_fail(struct mg_connection *conn, void *cb)
{
    (void)cb;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char mode[32] = "", ms[32] = "";
    if (ri->query_string) {
        mg_get_var(ri->query_string, strlen(ri->query_string), "mode", mode, sizeof mode);
        mg_get_var(ri->query_string, strlen(ri->query_string), "ms", ms, sizeof ms);
    }
    enum fail_mode m;
    if (strcmp(mode, "ok") == 0 || !*mode)
        m = FAIL_OK;
    else if (strcmp(mode, "down") == 0)
        m = FAIL_DOWN;
    else if (strcmp(mode, "500") == 0)
        m = FAIL_500;
    else if (strcmp(mode, "slow") == 0)
        m = FAIL_SLOW;
    else if (strcmp(mode, "oversize") == 0)
        m = FAIL_OVERSIZE;
    else if (strcmp(mode, "badshape") == 0)
        m = FAIL_BADSHAPE;
    else if (strcmp(mode, "latin1") == 0)
        m = FAIL_LATIN1;
    else {
        send_error(conn, 400, "invalid_request",
                   "mode: ok, down, 500, slow, oversize, badshape, latin1");
        return 400;
    }
    pthread_mutex_lock(&g_mu);
    g_mode = m;
    if (*ms)
        g_slow_ms = atol(ms) > 0 && atol(ms) < 60000 ? atol(ms) : 3000;
    pthread_mutex_unlock(&g_mu);
    log_info(NULL, "fault mode set to %s", *mode ? mode : "ok");
    json_object *o = json_object_new_object();
    json_object_object_add(o, "mode", json_object_new_string(*mode ? mode : "ok"));
    return send_owned(conn, 200, o);
}

static int h_redirect(struct mg_connection *conn, void *cb)
{
    (void)cb;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char to[1024] = "", code[8] = "";
    if (ri->query_string) {
        mg_get_var(ri->query_string, strlen(ri->query_string), "to", to, sizeof to);
        mg_get_var(ri->query_string, strlen(ri->query_string), "code", code, sizeof code);
    }
    if (!*to || strpbrk(to, "\r\n")) {
        send_error(conn, 400, "invalid_request", "to parameter required");
        return 400;
    }
    int c = atoi(code);
    if (c != 301 && c != 302 && c != 303 && c != 307 && c != 308)
        c = 302;
    mg_printf(conn,
              "HTTP/1.1 %d Redirect\r\nLocation: %s\r\nContent-Length: 0\r\n"
              "Connection: close\r\n\r\n",
              c, to);
    return c;
}

static int on_log(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    log_warn(NULL, "civetweb: %s", message);
    return 1;
}

int main(int argc, char **argv)
{
    config_main(argc, argv, "agenthub-standin-erp", erp_config, ERP_NCONFIG);
    enum log_level lv = LOG_INFO;
    if (log_level_parse(g_log_level, &lv) < 0) {
        fprintf(stderr, "agenthub-standin-erp: LOG_LEVEL must be debug, info, warn or error\n");
        return 2;
    }
    log_init("standin-erp", lv);
    g_last = json_object_new_object();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    mg_init_library(0);
    struct mg_callbacks cbs;
    memset(&cbs, 0, sizeof cbs);
    cbs.log_message = on_log;
    const char *opts[] = {"listening_ports",    g_listen, "num_threads", "8",
                          "request_timeout_ms", "30000",  NULL};
    struct mg_context *ctx = mg_start(&cbs, NULL, opts);
    if (!ctx) {
        log_error(NULL, "cannot listen on %s", g_listen);
        json_object_put(g_last);
        config_free(erp_config, ERP_NCONFIG);
        mg_exit_library();
        return 1;
    }
    mg_set_request_handler(ctx, "/api/debt", h_debt, NULL);
    mg_set_request_handler(ctx, "/api/shipments", h_shipment, NULL);
    mg_set_request_handler(ctx, "/api/orders", h_order, NULL);
    mg_set_request_handler(ctx, "/api/analysis/report", h_report, NULL);
    mg_set_request_handler(ctx, "/health", h_health, NULL);
    mg_set_request_handler(ctx, "/_last_request", h_last, NULL);
    mg_set_request_handler(ctx, "/_fail", h_fail, NULL);
    mg_set_request_handler(ctx, "/_redirect", h_redirect, NULL);
    log_kv(LOG_INFO, NULL, "stand-in ERP listening", "listen", g_listen, (char *)NULL);

    while (!g_stop)
        usleep(100 * 1000);
    log_info(NULL, "stopping");
    mg_stop(ctx);
    mg_exit_library();
    json_object_put(g_last);
    config_free(erp_config, ERP_NCONFIG);
    return 0;
}
