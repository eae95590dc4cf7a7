/* sse_floor.c — the floor of an SSE fan-out on this machine, for tests/bench/bench_sse.py.
 *
 *   sse_floor PORT N WRITERS
 *
 * Listens on 127.0.0.1:PORT and accepts N connections. Each sends an HTTP request; each gets
 * an SSE response head and a "retry:" line, like the ingress's, and then nothing but what the
 * fan-outs write. Then it prints "READY <N>" and, for each line of stdin, writes one event
 * ("event: delta", the line as its data, as big as the ingress's delta event) to every
 * socket: WRITERS threads, each sending to every WRITERS-th socket, one blocking `send` per
 * socket and nothing else. Just before the first send it prints its CLOCK_MONOTONIC time,
 * which is what sse_emit prints for the ingress; once all sends returned, "SENT <ms>" on
 * stderr.
 *
 * No Redis read, no parsing, no bookkeeping, no epoll: what is left is the kernel's cost of
 * the sends (on loopback, the receiving socket's TCP input runs on the sender's core), which
 * every server on this machine pays. The bench prints the ingress's fan-out beside it.
 * Built by bench_sse.py with cc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WRITERS_MAX 64

static int *fds;
static int nfds;
static int writers;
static char event[8192];
static size_t event_len;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *write_share(void *arg)
{
    long k = (long)arg;
    for (int i = (int)k; i < nfds; i += writers)
        if (send(fds[i], event, event_len, MSG_NOSIGNAL) != (ssize_t)event_len)
            perror("sse_floor: send");
    return NULL;
}

/* Reads one request head and answers it as the ingress answers a job's event stream. */
static int answer(int c)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\n\r\nretry: 1000\n\n";
    char buf[4096];
    size_t got = 0;
    while (got < sizeof buf && !memmem(buf, got, "\r\n\r\n", 4)) {
        ssize_t r = recv(c, buf + got, sizeof buf - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as the ingress's */
    return send(c, head, sizeof head - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof head - 1) ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: sse_floor PORT N WRITERS\n");
        return 2;
    }
    int port = atoi(argv[1]);
    nfds = atoi(argv[2]);
    writers = atoi(argv[3]);
    if (port <= 0 || nfds <= 0 || writers < 1 || writers > WRITERS_MAX) {
        fprintf(stderr, "sse_floor: bad arguments\n");
        return 2;
    }
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_ANY); /* the clients come from 127.0.0.x */
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, 4096) != 0) {
        perror("sse_floor: listen");
        return 1;
    }
    fds = calloc((size_t)nfds, sizeof *fds);
    if (!fds)
        return 1;
    for (int i = 0; i < nfds; i++) {
        int c = accept(l, NULL, NULL);
        if (c < 0) {
            perror("sse_floor: accept");
            return 1;
        }
        if (answer(c) != 0) {
            fprintf(stderr, "sse_floor: a client went away during its request\n");
            return 1;
        }
        fds[i] = c;
    }
    printf("READY %d\n", nfds);
    fflush(stdout);
    char line[4096];
    long id = 0;
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        /* about the size of the ingress's delta: an id, the event, data with the job's fields */
        int n = snprintf(event, sizeof event,
                         "id: 1765000000000-%ld\nevent: delta\ndata: {\"job_id\":"
                         "\"00000000-0000-4000-8000-000000000000\",\"seq\":%ld,"
                         "\"type\":\"delta\",\"text\":\"%s\"}\n\n",
                         id, id, line);
        id++;
        if (n < 0 || (size_t)n >= sizeof event)
            continue;
        event_len = (size_t)n;
        pthread_t th[WRITERS_MAX];
        double t0 = mono();
        printf("%.9f\n", t0);
        fflush(stdout);
        for (long k = 1; k < writers; k++)
            if (pthread_create(&th[k], NULL, write_share, (void *)k) != 0)
                return 1;
        write_share((void *)0);
        for (long k = 1; k < writers; k++)
            pthread_join(th[k], NULL);
        fprintf(stderr, "SENT %.1f\n", (mono() - t0) * 1000.0);
    }
    return 0;
}
