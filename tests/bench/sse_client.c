/* sse_client.c — many SSE streams from one process, for tests/bench/bench_sse.py.
 *
 *   sse_client PORT N FIRST_SRC REQUEST_FILE MARK WAIT_S
 *
 * Opens N connections to 127.0.0.1:PORT (source addresses 127.0.0.FIRST_SRC, +1, ... in turn,
 * so the ephemeral ports of one address do not run out), at most 256 of them still in their
 * request at once, and sends each the request in REQUEST_FILE. A stream is established once its
 * "200" status line and the "retry:" line arrived. Then it prints "READY <established>
 * <failed>" and keeps reading every stream. The first time a stream's bytes contain MARK (e.g.
 * "event: final") its CLOCK_MONOTONIC time is noted, and so is the time the kernel queued the
 * bytes of that read on the socket (SO_TIMESTAMPNS: when the ingress's send put them there,
 * before this process got a core to read them), on the same clock. A round ends when every
 * established stream saw MARK, or WAIT_S seconds after "GO" was read on stdin; it prints
 * "MARKED <n>", one "<read> <arrived>" line per stream (seconds), and "ROUND_END".
 *
 * One round (MARK from the command line) and the process prints "KEEPALIVES <n>" (": keepalive"
 * comments seen) and exits. For more, stdin says "MARK <text>" before each round: every
 * stream's mark is cleared, <text> is looked for, and "ARMED" answers; after the round the
 * process waits for the next MARK, until "QUIT" or end of file.
 * Built by bench_sse.py with cc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    int state; /* 0 connecting/sent, 1 established, 2 failed/closed */
    int sent;
    double marked;
    double arrived; /* the kernel's receive time of the read that had the mark */
    char tail[64];  /* the last bytes seen, for marks split across reads */
    size_t tlen;
    char head[512];
    size_t hlen;
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double realtime_minus_mono;

/* The kernel's receive timestamp of what one recvmsg read (CLOCK_REALTIME), on the monotonic
 * clock; 0 when the message carries none. */
static double kernel_arrival(struct msghdr *m)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cm), sizeof ts);
            return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - realtime_minus_mono;
        }
    return 0;
}

static char mark[512];
static size_t mark_len;
static long keepalives;

/* Looks for MARK and ": keepalive" in tail+data. */
static void scan(struct conn *c, const char *d, size_t n, double now)
{
    char buf[64 + 65536];
    size_t len = c->tlen;
    memcpy(buf, c->tail, c->tlen);
    if (n > 65536)
        n = 65536;
    memcpy(buf + len, d, n);
    len += n;
    if (!c->marked && memmem(buf, len, mark, mark_len))
        c->marked = now;
    for (const char *p = buf + c->tlen > buf + 12 ? buf + c->tlen - 12 : buf;
         (p = memmem(p, (size_t)(buf + len - p), ": keepalive", 11)) != NULL; p += 11)
        keepalives++;
    size_t keep = len < 48 ? len : 48;
    memcpy(c->tail, buf + len - keep, keep);
    c->tlen = keep;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: sse_client PORT N FIRST_SRC REQUEST_FILE MARK WAIT_S\n");
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[2]), src = atoi(argv[3]);
    snprintf(mark, sizeof mark, "%s", argv[5]);
    mark_len = strlen(mark);
    double wait_s = atof(argv[6]);
    char req[8192];
    FILE *f = fopen(argv[4], "r");
    if (!f) {
        perror("request file");
        return 2;
    }
    size_t reqlen = fread(req, 1, sizeof req, f);
    fclose(f);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    realtime_minus_mono = (double)rt.tv_sec + (double)rt.tv_nsec / 1e9 - mono();
    struct conn *cs = calloc((size_t)n, sizeof *cs);
    int ep = epoll_create1(0);
    struct epoll_event evs[1024];
    int opened = 0, pending = 0, established = 0, failed = 0;
    double deadline = mono() + 300;
    char buf[65536];
    /* open, at most 256 in their request at once */
    while ((opened < n || pending > 0) && mono() < deadline) {
        while (opened < n && pending < 256) {
            struct conn *c = &cs[opened];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            int one = 1;
            if (c->fd >= 0)
                setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
            struct sockaddr_in a = {.sin_family = AF_INET};
            char ip[32];
            snprintf(ip, sizeof ip, "127.0.0.%d", src + opened % 8);
            inet_pton(AF_INET, ip, &a.sin_addr);
            if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
                if (c->fd >= 0)
                    close(c->fd);
                c->state = 2;
                failed++;
                opened++;
                continue;
            }
            a.sin_port = htons((unsigned short)port);
            inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
            if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
                close(c->fd);
                c->state = 2;
                failed++;
                opened++;
                continue;
            }
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)opened};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            opened++;
            pending++;
        }
        int k = epoll_wait(ep, evs, 1024, 200);
        for (int i = 0; i < k; i++) {
            struct conn *c = &cs[evs[i].data.u32];
            if (c->state == 1) {
                /* established while others still open: drain it (heartbeats), or the
                 * level-triggered event comes back at once and starves the opening ones */
                ssize_t r;
                while ((r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
                    scan(c, buf, (size_t)r, mono());
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    c->state = 2;
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                }
                continue;
            }
            if (c->state != 0)
                continue;
            if ((evs[i].events & EPOLLOUT) && !c->sent) {
                if (send(c->fd, req, reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen) {
                    c->state = 2;
                    failed++;
                    pending--;
                    close(c->fd);
                    continue;
                }
                c->sent = 1;
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[i].data.u32};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = recv(c->fd, buf, sizeof buf, 0);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN)
                        continue;
                    c->state = 2;
                    failed++;
                    pending--;
                    close(c->fd);
                    continue;
                }
                size_t m = (size_t)r < sizeof c->head - 1 - c->hlen ? (size_t)r
                                                                    : sizeof c->head - 1 - c->hlen;
                memcpy(c->head + c->hlen, buf, m);
                c->hlen += m;
                c->head[c->hlen] = 0;
                scan(c, buf, (size_t)r, mono());
                if (strstr(c->head, "retry:")) {
                    if (strncmp(c->head, "HTTP/1.1 200", 12) == 0) {
                        c->state = 1;
                        established++;
                    } else {
                        c->state = 2;
                        failed++;
                        close(c->fd);
                    }
                    pending--;
                } else if (c->hlen > 12 && strncmp(c->head, "HTTP/1.1 200", 12) != 0) {
                    c->state = 2;
                    failed++;
                    pending--;
                    close(c->fd);
                }
            }
        }
    }
    printf("READY %d %d\n", established, failed);
    fflush(stdout);
    /* read every stream; commands on stdin (see the top) */
    int go = 0, marked = 0, multi = 0, quit = 0;
    double end = 0;
    char cmd[512];
    size_t cmdlen = 0;
    struct epoll_event sev = {.events = EPOLLIN, .data.u32 = 0xffffffffu};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev);
    for (int i = 0; i < n; i++)
        if (cs[i].state == 1 && cs[i].marked)
            marked++;
    for (;;) {
        if (go && (marked >= established || mono() > end)) {
            printf("MARKED %d\n", marked);
            for (int i = 0; i < n; i++)
                if (cs[i].marked)
                    printf("%.6f %.6f\n", cs[i].marked, cs[i].arrived);
            printf("ROUND_END\n");
            fflush(stdout);
            go = 0;
            if (!multi || quit)
                break;
        }
        int k = epoll_wait(ep, evs, 1024, 200);
        double now = mono();
        for (int i = 0; i < k; i++) {
            if (evs[i].data.u32 == 0xffffffffu) {
                ssize_t r = read(0, cmd + cmdlen, sizeof cmd - 1 - cmdlen);
                if (r <= 0) { /* end of file: the round under way is the last */
                    epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
                    quit = 1;
                    if (!go) {
                        go = 1;
                        end = now + wait_s;
                    }
                    continue;
                }
                cmdlen += (size_t)r;
                cmd[cmdlen] = 0;
                char *nl;
                while ((nl = strchr(cmd, '\n')) != NULL) {
                    *nl = 0;
                    if (strncmp(cmd, "MARK ", 5) == 0) {
                        multi = 1;
                        snprintf(mark, sizeof mark, "%s", cmd + 5);
                        mark_len = strlen(mark);
                        for (int j = 0; j < n; j++)
                            cs[j].marked = cs[j].arrived = 0;
                        marked = 0;
                        printf("ARMED\n");
                        fflush(stdout);
                    } else if (strcmp(cmd, "GO") == 0) {
                        go = 1;
                        end = now + wait_s;
                    } else if (strcmp(cmd, "QUIT") == 0) {
                        quit = 1;
                    }
                    size_t used = (size_t)(nl + 1 - cmd);
                    memmove(cmd, nl + 1, cmdlen - used + 1);
                    cmdlen -= used;
                }
                if (cmdlen == sizeof cmd - 1)
                    cmdlen = 0; /* a line too long: dropped */
                continue;
            }
            struct conn *c = &cs[evs[i].data.u32];
            if (c->state != 1)
                continue;
            for (;;) {
                struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
                char ctl[CMSG_SPACE(sizeof(struct timespec))];
                struct msghdr m = {.msg_iov = &iov,
                                   .msg_iovlen = 1,
                                   .msg_control = ctl,
                                   .msg_controllen = sizeof ctl};
                ssize_t r = recvmsg(c->fd, &m, MSG_DONTWAIT);
                if (r > 0) {
                    int was = c->marked != 0;
                    scan(c, buf, (size_t)r, now);
                    if (!was && c->marked) {
                        marked++;
                        c->arrived = kernel_arrival(&m);
                    }
                    continue;
                }
                if (r < 0 && errno == EAGAIN)
                    break;
                c->state = 2;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                break;
            }
        }
        if (quit && !go && multi)
            break;
    }
    printf("KEEPALIVES %ld\n", keepalives);
    fflush(stdout);
    return 0;
}
