/* openloop.c — an open-loop HTTP load generator for the accept bench (bench_ingress.py).
 *
 * wrk is closed-loop: a slow answer delays the next request, so its latencies hide the queueing a
 * real client population sees (coordinated omission). This client sends POSTs on a fixed
 * schedule, RATE per second for SECONDS, whatever the server does, over up to CONNS keep-alive
 * connections; a request whose time comes while every connection is busy waits in a queue, and
 * each latency is measured from the request's scheduled send time, not from when it was written.
 *
 *   openloop HOST PORT PATH RATE SECONDS CONNS     (env OPENLOOP_TOKEN, OPENLOOP_BODY)
 *
 * Prints one line: OPENLOOP_RESULT {"scheduled":..,"completed":..,"accepted":..,"errors":..,
 * "p50_us":..,"p90_us":..,"p99_us":..,"max_us":..,"late_at_end":..} (latencies over 202s).
 * With OPENLOOP_TIMELINE=1 it first prints one OPENLOOP_SECOND {"s":..,"n":..,"p50_us":..,
 * "p99_us":..,"max_us":..} line per second of the schedule, to show when a tail happened.
 * Single thread, epoll, a timerfd on the schedule.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd, busy;
    int64_t sched_ns; /* the in-flight request's scheduled time */
    char buf[8192];
    size_t len;
};

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile of n sorted values (0 when there are none). */
static uint32_t pct(const uint32_t *sorted, size_t n, double p)
{
    return n ? sorted[(size_t)((double)(n - 1) * p / 100.0 + 0.5)] : 0;
}

/* One OPENLOOP_SECOND line per second of the schedule: count, p50, p99 and max of the
 * requests scheduled in it. */
static void print_timeline(const uint32_t *lat, const uint32_t *lat_sec, long nlat, uint32_t secs)
{
    uint32_t *one = calloc((size_t)nlat + 1, sizeof *one);
    if (!one)
        return;
    for (uint32_t s = 0; s < secs; s++) {
        size_t n = 0;
        for (long i = 0; i < nlat; i++)
            if (lat_sec[i] == s)
                one[n++] = lat[i];
        qsort(one, n, sizeof *one, cmp_u32);
        printf("OPENLOOP_SECOND {\"s\":%u,\"n\":%zu,\"p50_us\":%u,\"p99_us\":%u,\"max_us\":%u}\n",
               s, n, pct(one, n, 50), pct(one, n, 99), n ? one[n - 1] : 0);
    }
    free(one);
}

static struct sockaddr_in addr;
static int ep;

static int conn_open(struct conn *c, int idx)
{
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)idx};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->busy = 0;
    c->len = 0;
    return 0;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->busy = 0;
    c->len = 0;
}

/* A complete response in c->buf: its length (headers + Content-Length body), else 0. */
static size_t response_len(struct conn *c, int *status)
{
    c->buf[c->len < sizeof c->buf ? c->len : sizeof c->buf - 1] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end)
        return 0;
    size_t hdr = (size_t)(end - c->buf) + 4;
    long clen = 0;
    for (char *p = c->buf; p && p < end; p = strstr(p, "\r\n")) {
        p += (p == c->buf) ? 0 : 2;
        if (!strncasecmp(p, "Content-Length:", 15))
            clen = strtol(p + 15, NULL, 10);
        if (p == c->buf)
            p++;
    }
    if (c->len < hdr + (size_t)clen)
        return 0;
    *status = (int)strtol(c->buf + 9, NULL, 10);
    return hdr + (size_t)clen;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: openloop HOST PORT PATH RATE SECONDS CONNS\n");
        return 2;
    }
    double rate = atof(argv[4]), seconds = atof(argv[5]);
    int nconn = atoi(argv[6]);
    const char *token = getenv("OPENLOOP_TOKEN"), *body = getenv("OPENLOOP_BODY");
    if (!body)
        body = "{\"message\":\"open-loop message\"}";
    if (rate <= 0 || seconds <= 0 || nconn < 1) {
        fprintf(stderr, "openloop: bad arguments\n");
        return 2;
    }
    char req[4096];
    int reqlen = snprintf(req, sizeof req,
                          "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                          "Authorization: Bearer %s\r\nContent-Length: %zu\r\n\r\n%s",
                          argv[3], argv[1], argv[2], token ? token : "", strlen(body), body);
    if (reqlen <= 0 || reqlen >= (int)sizeof req) {
        fprintf(stderr, "openloop: request too long\n");
        return 2;
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "openloop: HOST must be an IPv4 address\n");
        return 2;
    }
    ep = epoll_create1(0);
    struct conn *conns = calloc((size_t)nconn, sizeof *conns);
    long total = (long)(rate * seconds);
    uint32_t *lat = calloc((size_t)total + 1, sizeof *lat);
    uint32_t *lat_sec = calloc((size_t)total + 1, sizeof *lat_sec); /* each one's second */
    int64_t *queue = calloc((size_t)total + 1, sizeof *queue); /* scheduled times not yet sent */
    if (!conns || !lat || !lat_sec || !queue)
        return 1;
    for (int i = 0; i < nconn; i++)
        conns[i].fd = -1;
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event tev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

    const int64_t interval = (int64_t)(1e9 / rate);
    const int64_t t0 = now_ns() + 1000000;
    const int64_t hard_end = t0 + (int64_t)(seconds * 1e9) + 30000000000LL;
    long scheduled = 0, qhead = 0, completed = 0, accepted = 0, errors = 0, nlat = 0;
    for (;;) {
        int64_t now = now_ns();
        while (scheduled < total && t0 + scheduled * interval <= now)
            queue[scheduled] = t0 + scheduled * interval, scheduled++;
        /* Hand the queued requests to idle connections (opening them as needed). */
        for (int i = 0; i < nconn && qhead < scheduled; i++) {
            struct conn *c = &conns[i];
            if (c->busy)
                continue;
            if (c->fd < 0 && conn_open(c, i) != 0) {
                errors++, completed++, qhead++;
                continue;
            }
            if (send(c->fd, req, (size_t)reqlen, MSG_NOSIGNAL) != reqlen) {
                conn_close(c);
                errors++, completed++, qhead++;
                continue;
            }
            c->busy = 1;
            c->sched_ns = queue[qhead++];
        }
        if (completed >= total || now > hard_end)
            break;
        if (scheduled < total) {
            int64_t next = t0 + scheduled * interval;
            struct itimerspec its = {
                .it_value = {.tv_sec = next / 1000000000LL, .tv_nsec = next % 1000000000LL}};
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        }
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 1000);
        for (int k = 0; k < n; k++) {
            if (evs[k].data.u32 == UINT32_MAX) {
                uint64_t x;
                if (read(tfd, &x, sizeof x) < 0 && errno != EAGAIN)
                    return 1;
                continue;
            }
            struct conn *c = &conns[evs[k].data.u32];
            ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
            if (r <= 0) {
                if (c->busy)
                    errors++, completed++;
                conn_close(c);
                continue;
            }
            c->len += (size_t)r;
            int status = 0;
            size_t used = response_len(c, &status);
            if (!used) {
                if (c->len >= sizeof c->buf - 1) { /* too large for us: count and drop */
                    errors++, completed++;
                    conn_close(c);
                }
                continue;
            }
            int64_t done = now_ns();
            completed++;
            if (status == 202) {
                accepted++;
                int64_t us = (done - c->sched_ns) / 1000;
                lat_sec[nlat] = (uint32_t)((c->sched_ns - t0) / 1000000000LL);
                lat[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
            } else {
                errors++;
            }
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            c->busy = 0;
        }
    }
    const char *tl = getenv("OPENLOOP_TIMELINE");
    if (tl && *tl == '1')
        print_timeline(lat, lat_sec, nlat, (uint32_t)(seconds + 0.999));
    qsort(lat, (size_t)nlat, sizeof *lat, cmp_u32);
    printf("OPENLOOP_RESULT {\"rate\":%.0f,\"seconds\":%.1f,\"scheduled\":%ld,\"completed\":%ld,"
           "\"accepted\":%ld,\"errors\":%ld,\"p50_us\":%u,\"p90_us\":%u,\"p99_us\":%u,"
           "\"max_us\":%u,\"unfinished\":%ld}\n",
           rate, seconds, total, completed, accepted, errors, pct(lat, (size_t)nlat, 50),
           pct(lat, (size_t)nlat, 90), pct(lat, (size_t)nlat, 99), nlat ? lat[nlat - 1] : 0,
           total - completed);
    for (int i = 0; i < nconn; i++)
        conn_close(&conns[i]);
    free(conns);
    free(lat);
    free(lat_sec);
    free(queue);
    close(tfd);
    close(ep);
    return 0;
}
