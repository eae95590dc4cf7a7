/* agenthub-standin-llm — a stand-in LLM provider for tests, benchmarks and the offline demo.
 *
 * Speaks the real wire formats at their real paths, streaming and not:
 *   POST /v1/chat/completions, /v1/embeddings                       (OpenAI, OpenRouter, compat)
 *   POST /v1/messages                                                (Anthropic)
 *   POST /v1beta/models/{m}:generateContent | :streamGenerateContent?alt=sse | :embedContent
 *        | :batchEmbedContents                                       (Gemini)
 *   GET  /health
 * Answers are deterministic (see answer.c): routing JSON, tool calls from entities in the
 * user message, a summary of tool results, or an echo — all marked as the stand-in's.
 *
 * One thread, epoll, non-blocking sockets, keep-alive, chunked SSE: it holds thousands of
 * slow streaming connections. Timing and faults per request, from (last wins):
 *   env      STANDIN_LLM_TTFT_MS, STANDIN_LLM_TPS, STANDIN_LLM_FAULT
 *   model    "<name>@ttft=2000,tps=20,fault=429,n=2,ra=1,key=t1" (the part after '@')
 *   headers  X-Standin-Ttft-Ms, X-Standin-Tps, X-Standin-Fault, X-Standin-Fault-Count,
 *            X-Standin-Retry-After, X-Standin-Fault-Key
 * fault: 429 (with Retry-After: ra s), 500, hang (never answers), malformed (broken JSON),
 * cut (the stream or body stops half-way), 401, context (a context-length error). n: the
 * fault hits only the first n requests with the same key (default: the whole model string),
 * then requests succeed. API keys "bad-key" and "revoked-key" get 401; any other key (or
 * none) is accepted.
 */
#include "answer.h"

#include "config.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST (8u << 20)

static struct config_common g_common;
static char *g_listen;
static long g_ttft_ms, g_tps;
static char *g_fault;

static const struct config_entry g_table[] = {
    CONFIG_COMMON_ENTRIES(&g_common),
    {"STANDIN_LLM_LISTEN", CONFIG_STRING, "127.0.0.1:18091", 0, 0, 0, "host:port to listen on",
     &g_listen},
    {"STANDIN_LLM_TTFT_MS", CONFIG_INT, "0", 0, 3600000, 0, "time to first token (ms)", &g_ttft_ms},
    {"STANDIN_LLM_TPS", CONFIG_INT, "0", 0, 1000000, 0, "tokens per second; 0: all at once",
     &g_tps},
    {"STANDIN_LLM_FAULT", CONFIG_STRING, "", 0, 0, 0,
     "fault for every request: 429, 500, hang, malformed, cut, 401, context", &g_fault},
};

static volatile sig_atomic_t g_stop;
static void on_signal(int s)
{
    (void)s;
    g_stop = 1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- fault counters ---------------------------------------------------------------------- */

struct counter {
    char *key;
    long n;
};
static struct counter *g_counters;
static size_t g_ncounters;

static long counter_bump(const char *key)
{
    for (size_t i = 0; i < g_ncounters; i++)
        if (strcmp(g_counters[i].key, key) == 0)
            return ++g_counters[i].n;
    if (g_ncounters >= 65536)
        return 1;
    struct counter *c = realloc(g_counters, (g_ncounters + 1) * sizeof(*c));
    if (!c)
        return 1;
    g_counters = c;
    g_counters[g_ncounters].key = strdup(key);
    g_counters[g_ncounters].n = 1;
    return g_counters[g_ncounters++].n;
}

/* Usage reported per model string (GET /stats): what tests compare the accounting with. */
struct mstat {
    char *model;
    long long requests, in, out;
};
static struct mstat *g_stats;
static size_t g_nstats;

static void stats_add(const char *model, long in, long out)
{
    struct mstat *m = NULL;
    for (size_t i = 0; i < g_nstats; i++)
        if (strcmp(g_stats[i].model, model) == 0)
            m = &g_stats[i];
    if (!m) {
        if (g_nstats >= 4096)
            return;
        struct mstat *n = realloc(g_stats, (g_nstats + 1) * sizeof(*n));
        if (!n)
            return;
        g_stats = n;
        m = &g_stats[g_nstats];
        memset(m, 0, sizeof(*m));
        if (!(m->model = strdup(model)))
            return;
        g_nstats++;
    }
    m->requests++;
    m->in += in;
    m->out += out;
}

static char *stats_json(void)
{
    json_object *o = json_object_new_object(), *ms = json_object_new_object();
    for (size_t i = 0; i < g_nstats; i++) {
        json_object *m = json_object_new_object();
        json_object_object_add(m, "requests", json_object_new_int64(g_stats[i].requests));
        json_object_object_add(m, "input_tokens", json_object_new_int64(g_stats[i].in));
        json_object_object_add(m, "output_tokens", json_object_new_int64(g_stats[i].out));
        json_object_object_add(ms, g_stats[i].model, m);
    }
    json_object_object_add(o, "models", ms);
    char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return s;
}

/* ---- connections ------------------------------------------------------------------------- */

enum cstate { C_READ, C_WAIT, C_STREAM, C_HANG };

struct conn {
    int fd;
    enum cstate st;
    struct sbuf in, out;
    size_t out_off;
    struct rendered r;
    size_t next_ev;
    size_t stop_ev; /* events to send (cut: fewer than r.nevents) */
    long long due;
    long gap_ms;
    int keepalive;
    int cut;
    int stamp; /* stamp=1: "@T@" in a streamed event becomes the send time (send_event) */
    int close_after;
    int want_out;
    int continued;              /* 100 Continue sent for the request being read */
    struct conn *sprev, *snext; /* scheduled list */
    int scheduled;
    struct conn *aprev, *anext; /* every connection (freed at exit) */
};

static int g_ep;
static struct conn *g_sched;
static struct conn *g_all;
static long g_nconns, g_peak;

static void sched_add(struct conn *c)
{
    if (c->scheduled)
        return;
    c->scheduled = 1;
    c->sprev = NULL;
    c->snext = g_sched;
    if (g_sched)
        g_sched->sprev = c;
    g_sched = c;
}

static void sched_del(struct conn *c)
{
    if (!c->scheduled)
        return;
    if (c->sprev)
        c->sprev->snext = c->snext;
    else
        g_sched = c->snext;
    if (c->snext)
        c->snext->sprev = c->sprev;
    c->scheduled = 0;
}

static void conn_close(struct conn *c)
{
    sched_del(c);
    if (c->aprev)
        c->aprev->anext = c->anext;
    else
        g_all = c->anext;
    if (c->anext)
        c->anext->aprev = c->aprev;
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in.p);
    free(c->out.p);
    rendered_free(&c->r);
    free(c);
    g_nconns--;
}

static void set_events(struct conn *c, int want_out)
{
    if (c->want_out == want_out)
        return;
    c->want_out = want_out;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is buffered; returns -1 if the connection is gone. */
static int flush(struct conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t w = write(c->fd, c->out.p + c->out_off, c->out.len - c->out_off);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_events(c, 1);
                return 0;
            }
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->out_off += (size_t)w;
    }
    c->out.len = c->out_off = 0;
    set_events(c, 0);
    if (c->close_after)
        return -1;
    return 0;
}

static void out_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct conn *c, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        sbuf_add(&c->out, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    default:
        return "Internal Server Error";
    }
}

static void respond_whole(struct conn *c)
{
    const char *body = c->r.body ? c->r.body : "";
    size_t bl = strlen(body);
    size_t send = c->cut ? bl / 2 : bl;
    out_printf(c, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n", c->r.status,
               reason(c->r.status), c->r.ctype ? c->r.ctype : "application/json", bl);
    if (c->r.retry_after_s > 0)
        out_printf(c, "Retry-After: %ld\r\n", c->r.retry_after_s);
    out_printf(c, "Connection: %s\r\n\r\n", c->keepalive && !c->cut ? "keep-alive" : "close");
    sbuf_add(&c->out, body, send);
    if (c->cut || !c->keepalive)
        c->close_after = 1;
    rendered_free(&c->r);
    c->st = C_READ;
}

/* With stamp=1 every "@T@" in an event is replaced, as it is sent, by "t" and the wall clock
 * (CLOCK_REALTIME) in microseconds, 16 digits: a client on the same machine that finds the
 * text in its stream knows how long the pipeline took to bring it (tests/bench/bench_tokens.py).
 * The answer echoes the user's message, so a message of "@T@" words streams one stamp per
 * token. */
static char *stamp_event(const char *ev)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char stamp[24];
    snprintf(stamp, sizeof stamp, "t%016lld",
             (long long)ts.tv_sec * 1000000LL + (long long)ts.tv_nsec / 1000);
    size_t n = 0;
    for (const char *p = ev; (p = strstr(p, "@T@")) != NULL; p += 3)
        n++;
    char *out = malloc(strlen(ev) + n * strlen(stamp) + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = ev;;) {
        const char *q = strstr(p, "@T@");
        size_t l = q ? (size_t)(q - p) : strlen(p);
        memcpy(o, p, l);
        o += l;
        if (!q)
            break;
        memcpy(o, stamp, strlen(stamp));
        o += strlen(stamp);
        p = q + 3;
    }
    *o = '\0';
    return out;
}

static void send_event(struct conn *c, const char *ev)
{
    char *stamped = c->stamp && strstr(ev, "@T@") ? stamp_event(ev) : NULL;
    if (stamped)
        ev = stamped;
    size_t n = strlen(ev);
    out_printf(c, "%zx\r\n", n);
    sbuf_add(&c->out, ev, n);
    sbuf_add(&c->out, "\r\n", 2);
    free(stamped);
}

static int process(struct conn *c);

/* Sends what is due; returns -1 if the connection must close. */
static int tick(struct conn *c, long long now)
{
    if (c->st == C_WAIT && now >= c->due) {
        sched_del(c);
        respond_whole(c);
        if (flush(c) < 0)
            return -1;
        return process(c); /* a pipelined request may wait in the buffer */
    }
    if (c->st == C_STREAM) {
        while (c->next_ev < c->stop_ev && now >= c->due) {
            send_event(c, c->r.events[c->next_ev++]);
            c->due += c->gap_ms;
            if (c->gap_ms > 0 && c->due < now - 1000)
                c->due = now; /* fell behind (a stall): do not burst */
        }
        if (c->next_ev >= c->stop_ev) {
            sched_del(c);
            if (c->cut) {
                c->close_after = 1; /* no terminating chunk: the client sees a cut stream */
            } else {
                sbuf_add(&c->out, "0\r\n\r\n", 5);
                if (!c->keepalive)
                    c->close_after = 1;
            }
            rendered_free(&c->r);
            c->st = C_READ;
            if (flush(c) < 0)
                return -1;
            return process(c);
        }
        return flush(c);
    }
    return 0;
}

/* ---- requests ---------------------------------------------------------------------------- */

struct opts {
    long ttft, tps, n, ra, stamp;
    char fault[32];
    char key[256];
};

static void opt_set(struct opts *o, const char *k, size_t kl, const char *v, size_t vl)
{
    char val[256];
    size_t l = vl < sizeof(val) - 1 ? vl : sizeof(val) - 1;
    memcpy(val, v, l);
    val[l] = '\0';
#define IS(name) (kl == strlen(name) && strncasecmp(k, name, kl) == 0)
    if (IS("ttft") || IS("x-standin-ttft-ms"))
        o->ttft = atol(val);
    else if (IS("tps") || IS("x-standin-tps"))
        o->tps = atol(val);
    else if (IS("fault") || IS("x-standin-fault"))
        snprintf(o->fault, sizeof(o->fault), "%.31s", val);
    else if (IS("n") || IS("x-standin-fault-count"))
        o->n = atol(val);
    else if (IS("ra") || IS("x-standin-retry-after"))
        o->ra = atol(val);
    else if (IS("stamp") || IS("x-standin-stamp"))
        o->stamp = atol(val);
    else if (IS("key") || IS("x-standin-fault-key"))
        snprintf(o->key, sizeof(o->key), "%s", val);
#undef IS
}

static void opts_from_model(struct opts *o, const char *model)
{
    const char *at = strchr(model, '@');
    if (!at)
        return;
    const char *p = at + 1;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq)
            opt_set(o, p, (size_t)(eq - p), eq + 1, len - (size_t)(eq - p) - 1);
        p += len + (end ? 1 : 0);
    }
}

static const char *hdr(const char *head, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = strstr(head, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *e = strstr(v, "\r\n");
            *len = e ? (size_t)(e - v) : strlen(v);
            return v;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

static void simple(struct conn *c, int status, const char *ctype, const char *body)
{
    c->r.status = status;
    c->r.ctype = ctype;
    c->r.body = strdup(body);
    respond_whole(c);
}

/* Handles one complete request at the start of c->in; returns -1 to close. */
static int handle(struct conn *c, const char *head, size_t headlen, const char *body, size_t blen)
{
    char method[8] = "", path[2048] = "";
    sscanf(head, "%7s %2047s", method, path);
    size_t vl;
    const char *v = hdr(head, "Connection", &vl);
    c->keepalive = !(v && vl >= 5 && strncasecmp(v, "close", 5) == 0);
    c->cut = 0;

    if (strcmp(method, "GET") == 0 && strcmp(path, "/health") == 0) {
        simple(c, 200, "application/json", "{\"status\":\"ok\",\"by\":\"stand-in\"}");
        return 0;
    }
    if (strcmp(method, "GET") == 0 && strcmp(path, "/stats") == 0) {
        char *js = stats_json();
        simple(c, 200, "application/json", js ? js : "{}");
        free(js);
        return 0;
    }
    if (strcmp(method, "POST") != 0) {
        simple(c, 404, "application/json", "{\"error\":{\"message\":\"not found\"}}");
        return 0;
    }
    enum wire w;
    int embed = 0, batch = 0, stream = 0, include_usage = 0;
    char model[512] = "standin";
    char *q = strchr(path, '?');
    int alt_sse = q && strstr(q, "alt=sse");
    if (q)
        *q = '\0';
    size_t pl = strlen(path);
#define ENDS(s) (pl >= strlen(s) && strcmp(path + pl - strlen(s), s) == 0)
    char *gm = strstr(path, "/models/");
    if (ENDS("/chat/completions")) {
        w = WIRE_OPENAI;
    } else if (ENDS("/embeddings")) {
        w = WIRE_OPENAI;
        embed = 1;
    } else if (ENDS("/v1/messages")) {
        w = WIRE_ANTHROPIC;
    } else if (gm && strchr(gm + 8, ':')) {
        w = WIRE_GEMINI;
        char *colon = strrchr(gm + 8, ':');
        snprintf(model, sizeof(model), "%.*s", (int)(colon - (gm + 8)), gm + 8);
        const char *verb = colon + 1;
        if (strcmp(verb, "streamGenerateContent") == 0)
            stream = 1;
        else if (strcmp(verb, "embedContent") == 0)
            embed = 1;
        else if (strcmp(verb, "batchEmbedContents") == 0)
            embed = batch = 1;
        else if (strcmp(verb, "generateContent") != 0) {
            simple(c, 404, "application/json", "{\"error\":{\"message\":\"unknown method\"}}");
            return 0;
        }
        (void)alt_sse;
    } else {
        simple(c, 404, "application/json", "{\"error\":{\"message\":\"not found\"}}");
        return 0;
    }
#undef ENDS
    if (w != WIRE_GEMINI || embed) {
        json_tokener *tok = json_tokener_new();
        json_object *root = json_tokener_parse_ex(tok, body, (int)blen);
        json_tokener_free(tok);
        json_object *x;
        if (root && json_object_object_get_ex(root, "model", &x) &&
            json_object_is_type(x, json_type_string) && w != WIRE_GEMINI)
            snprintf(model, sizeof(model), "%s", json_object_get_string(x));
        if (root && json_object_object_get_ex(root, "stream", &x))
            stream = json_object_get_boolean(x);
        if (root && json_object_object_get_ex(root, "stream_options", &x)) {
            json_object *y;
            if (json_object_object_get_ex(x, "include_usage", &y))
                include_usage = json_object_get_boolean(y);
        }
        json_object_put(root);
    }

    /* Options: env, then model suffix, then headers. */
    struct opts o = {.ttft = g_ttft_ms, .tps = g_tps, .n = -1, .ra = 1};
    snprintf(o.fault, sizeof(o.fault), "%s", g_fault ? g_fault : "");
    opts_from_model(&o, model);
    const char *hn[] = {"X-Standin-Ttft-Ms",     "X-Standin-Tps",         "X-Standin-Fault",
                        "X-Standin-Fault-Count", "X-Standin-Retry-After", "X-Standin-Fault-Key",
                        "X-Standin-Stamp"};
    for (size_t i = 0; i < sizeof(hn) / sizeof(hn[0]); i++) {
        const char *hv = hdr(head, hn[i], &vl);
        if (hv)
            opt_set(&o, hn[i], strlen(hn[i]), hv, vl);
    }
    if (o.fault[0]) {
        const char *key = o.key[0] ? o.key : model;
        if (o.n >= 0 && counter_bump(key) > o.n)
            o.fault[0] = '\0'; /* the first n requests only */
    }

    /* API key */
    const char *key = NULL;
    size_t kl = 0;
    if ((key = hdr(head, "x-api-key", &kl)) == NULL &&
        (key = hdr(head, "x-goog-api-key", &kl)) == NULL) {
        key = hdr(head, "Authorization", &kl);
        if (key && kl > 7 && strncasecmp(key, "Bearer ", 7) == 0) {
            key += 7;
            kl -= 7;
        }
    }
    int badkey = key && ((kl == 7 && strncmp(key, "bad-key", 7) == 0) ||
                         (kl == 11 && strncmp(key, "revoked-key", 11) == 0));
    (void)headlen;

    if (badkey || strcmp(o.fault, "401") == 0) {
        answer_error(w, "auth", &c->r);
    } else if (strcmp(o.fault, "429") == 0) {
        answer_error(w, "rate", &c->r);
        c->r.retry_after_s = o.ra > 0 ? o.ra : 1;
    } else if (strcmp(o.fault, "500") == 0) {
        answer_error(w, "server", &c->r);
    } else if (strcmp(o.fault, "context") == 0) {
        answer_error(w, "context", &c->r);
    } else if (strcmp(o.fault, "hang") == 0) {
        c->st = C_HANG;
        return 0;
    } else if (embed) {
        answer_embed(w, body, blen, model, batch, &c->r);
    } else {
        struct req_opts ro = {.stream = stream,
                              .include_usage = include_usage,
                              .malformed = strcmp(o.fault, "malformed") == 0};
        answer_chat(w, body, blen, model, &ro, &c->r);
        c->cut = strcmp(o.fault, "cut") == 0;
        if (c->r.status == 200 && !ro.malformed && !c->cut)
            stats_add(model, c->r.in_tokens, c->r.out_tokens);
    }

    long long now = now_ms();
    if (c->r.status == 200 && c->r.nevents > 0) {
        out_printf(c,
                   "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: "
                   "no-cache\r\nTransfer-Encoding: chunked\r\nConnection: %s\r\n\r\n",
                   c->keepalive ? "keep-alive" : "close");
        c->st = C_STREAM;
        c->next_ev = 0;
        c->stop_ev = c->cut ? c->r.nevents / 2 : c->r.nevents;
        c->gap_ms = o.tps > 0 ? 1000 / o.tps : 0;
        c->stamp = o.stamp > 0;
        c->due = now + o.ttft;
        sched_add(c);
        return flush(c);
    }
    if (c->r.status == 200 && o.ttft + (o.tps > 0 ? 1 : 0) > 0) {
        /* A whole answer takes the time to first token plus its tokens at the set rate. */
        long toks = c->r.body ? (long)strlen(c->r.body) / 24 : 0;
        c->st = C_WAIT;
        c->due = now + o.ttft + (o.tps > 0 ? toks * 1000 / o.tps : 0);
        sched_add(c);
        return 0;
    }
    respond_whole(c);
    return flush(c);
}

/* Parses as many complete requests as are buffered while the connection is idle. */
static int process(struct conn *c)
{
    while (c->st == C_READ && c->in.len > 0) {
        char *end = c->in.p ? strstr(c->in.p, "\r\n\r\n") : NULL;
        if (!end)
            return c->in.len > 65536 ? -1 : 0;
        size_t headlen = (size_t)(end - c->in.p) + 4;
        size_t vl;
        const char *cl = hdr(c->in.p, "Content-Length", &vl);
        const char *te = hdr(c->in.p, "Transfer-Encoding", &vl);
        if (te) {
            c->close_after = 1;
            simple(c, 411, "application/json", "{\"error\":{\"message\":\"send Content-Length\"}}");
            return flush(c);
        }
        size_t blen = cl ? (size_t)strtoul(cl, NULL, 10) : 0;
        if (blen > MAX_REQUEST) {
            c->close_after = 1;
            simple(c, 413, "application/json", "{\"error\":{\"message\":\"too large\"}}");
            return flush(c);
        }
        if (c->in.len < headlen + blen) {
            const char *ex = hdr(c->in.p, "Expect", &vl);
            if (ex && vl >= 12 && strncasecmp(ex, "100-continue", 12) == 0 && !c->continued) {
                c->continued = 1;
                sbuf_add(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                return flush(c);
            }
            return 0;
        }
        c->continued = 0;
        /* Copy the request out: the handler may append to c->out but never to c->in. */
        char *req = malloc(headlen + blen + 1);
        if (!req)
            return -1;
        memcpy(req, c->in.p, headlen + blen);
        req[headlen + blen] = '\0';
        req[headlen - 2] = '\0'; /* headers end at the first of the blank line's CRLF */
        size_t rest = c->in.len - headlen - blen;
        memmove(c->in.p, c->in.p + headlen + blen, rest);
        c->in.len = rest;
        c->in.p[rest] = '\0';
        int rc = handle(c, req, headlen, req + headlen, blen);
        free(req);
        if (rc < 0 || flush(c) < 0)
            return -1;
    }
    return 0;
}

static void on_readable(struct conn *c)
{
    char tmp[65536];
    for (;;) {
        ssize_t r = read(c->fd, tmp, sizeof(tmp));
        if (r == 0) {
            conn_close(c);
            return;
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            conn_close(c);
            return;
        }
        if (c->in.len + (size_t)r > MAX_REQUEST + 65536 || sbuf_add(&c->in, tmp, (size_t)r) != 0) {
            conn_close(c);
            return;
        }
    }
    if (process(c) < 0)
        conn_close(c);
}

static int listen_on(const char *spec)
{
    char host[256];
    int port = 0;
    const char *colon = strrchr(spec, ':');
    if (!colon)
        return -1;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    port = atoi(colon + 1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
        listen(fd, 4096)) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    config_main(argc, argv, "agenthub-standin-llm", g_table, sizeof(g_table) / sizeof(g_table[0]));
    enum log_level lvl = LOG_INFO;
    log_level_parse(g_common.log_level, &lvl);
    log_init("standin-llm", lvl);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int lfd = listen_on(g_listen);
    if (lfd < 0) {
        log_error(NULL, "cannot listen on %s: %s", g_listen, strerror(errno));
        return 1;
    }
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &lev);
    log_kv(LOG_INFO, NULL, "stand-in LLM listening", "listen", g_listen, (char *)NULL);

    struct epoll_event evs[1024];
    while (!g_stop) {
        long long now = now_ms();
        long wait = 1000;
        for (struct conn *c = g_sched; c; c = c->snext)
            if (c->due - now < wait)
                wait = c->due <= now ? 0 : (long)(c->due - now);
        int n = epoll_wait(g_ep, evs, 1024, (int)wait);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct conn *nc = calloc(1, sizeof(*nc));
                    if (!nc) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    nc->anext = g_all;
                    if (g_all)
                        g_all->aprev = nc;
                    g_all = nc;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev);
                    if (++g_nconns > g_peak)
                        g_peak = g_nconns;
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                if (flush(c) < 0) {
                    conn_close(c);
                    continue;
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
        }
        now = now_ms();
        struct conn *c = g_sched;
        while (c) {
            struct conn *next = c->snext;
            if (c->due <= now && tick(c, now) < 0)
                conn_close(c); /* tick touches only c: next is still valid */
            c = next;
        }
    }
    char peak[32];
    snprintf(peak, sizeof(peak), "%ld", g_peak);
    log_kv(LOG_INFO, NULL, "stand-in LLM stopping", "peak_connections", peak, (char *)NULL);
    while (g_all)
        conn_close(g_all);
    for (size_t i = 0; i < g_ncounters; i++)
        free(g_counters[i].key);
    free(g_counters);
    close(lfd);
    close(g_ep);
    config_free(g_table, sizeof(g_table) / sizeof(g_table[0]));
    return 0;
}
