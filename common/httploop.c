/* httploop.c — see httploop.h.
 *
 * libcurl's multi_socket interface on an epoll set: only the sockets that are ready are
 * touched, so one thread holds thousands of slow transfers (an LLM stream sends a few tokens
 * a second for tens of seconds) without walking every handle on each wake-up, which is what
 * curl_multi_perform() + curl_multi_poll() would do. An eventfd in the same epoll set
 * implements httploop_wakeup().
 *
 * Transfers are spread over up to SHARDS_MAX multi handles ("shards"), filled one after the
 * other, SHARD_FILL transfers each. Debian 12's libcurl (7.88) walks a multi handle's whole
 * connection cache on every curl_multi_remove_handle() of a transfer that left its connection
 * there (Curl_conncache_foreach(..., close_connect_only)), and prunes that cache by walking it
 * too, so with N transfers on one multi handle each finished transfer costs O(N): quadratic
 * with 10,000 LLM calls in flight. With shards each walk covers one shard's connections. Below
 * SHARD_FILL transfers only the first shard is used, so connection reuse is as before. Every
 * shard's sockets share the one epoll set; an event's data names its shard and fd.
 *
 * Transfers are found by their easy handle in a small hash table (CURLOPT_PRIVATE stays the
 * caller's). Timers live in a binary min-heap ordered by (due, id); a second hash table maps
 * ids to timers so httploop_timer_cancel() is O(log n).
 *
 * Callbacks never run from inside libcurl: completions are collected with
 * curl_multi_info_read() after curl_multi_socket_action() returns, so a callback may add,
 * cancel or free transfers and timers freely. httploop_cancel() runs the callback before it
 * returns; it must not be called from inside a libcurl callback (write/header functions).
 */
#include "httploop.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* An intrusive hash table node, embedded first in struct xfer and struct timer. */
struct hnode {
    uintptr_t key;
    struct hnode *next;
};

struct htable {
    struct hnode **b;
    size_t nb; /* power of two */
    size_t n;
};

struct shard;

struct xfer {
    struct hnode h; /* key: the CURL * */
    CURL *easy;
    struct shard *sh;
    httploop_done_cb cb;
    void *opaque;
};

struct timer {
    struct hnode h; /* key: the id */
    long id;
    long long due_ms;
    size_t heap_idx;
    httploop_timer_cb cb;
    void *opaque;
};

/* A caller's fd in the epoll set (httploop_watch_fd); few, so a small array. */
struct watch {
    int fd;
    httploop_fd_cb cb;
    void *opaque;
};

enum { SHARDS_MAX = 64, SHARD_FILL = 256 };

/* One libcurl multi handle and its transfers' count; created on first use. */
struct shard {
    struct httploop *l;
    CURLM *multi;
    uint32_t tag;          /* index + 1: an epoll event's upper 32 bits (0: evfd or a watch) */
    long long curl_due_ms; /* -1: libcurl wants no timeout */
    int running;           /* libcurl's count */
    size_t n;              /* our transfers on it */
};

struct httploop {
    struct shard shards[SHARDS_MAX];
    int nshards; /* created so far */
    int epfd;
    int evfd;
    struct htable xfers;
    struct htable timers;
    struct timer **heap;
    size_t nheap, capheap;
    long next_timer_id;
    struct watch *watches;
    size_t nwatches, capwatches;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- hash table ---------------------------------------------------------------------- */

static size_t hslot(const struct htable *t, uintptr_t key)
{
    uint64_t x = (uint64_t)key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (t->nb - 1);
}

static int hgrow(struct htable *t)
{
    size_t nb = t->nb ? t->nb * 2 : 64;
    struct hnode **b = calloc(nb, sizeof(*b));
    if (!b)
        return -ENOMEM;
    struct htable nt = {.b = b, .nb = nb, .n = t->n};
    for (size_t i = 0; i < t->nb; i++) {
        struct hnode *e = t->b[i];
        while (e) {
            struct hnode *next = e->next;
            size_t s = hslot(&nt, e->key);
            e->next = b[s];
            b[s] = e;
            e = next;
        }
    }
    free(t->b);
    *t = nt;
    return 0;
}

static int hput(struct htable *t, struct hnode *e)
{
    if (!t->nb || (t->n + 1) * 4 > t->nb * 3) { /* load factor 0.75 */
        int rc = hgrow(t);
        if (rc)
            return rc;
    }
    size_t s = hslot(t, e->key);
    e->next = t->b[s];
    t->b[s] = e;
    t->n++;
    return 0;
}

static struct hnode *hget(const struct htable *t, uintptr_t key)
{
    if (!t->nb)
        return NULL;
    for (struct hnode *e = t->b[hslot(t, key)]; e; e = e->next)
        if (e->key == key)
            return e;
    return NULL;
}

static struct hnode *hdel(struct htable *t, uintptr_t key)
{
    if (!t->nb)
        return NULL;
    struct hnode **pp = &t->b[hslot(t, key)];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->key == key) {
            struct hnode *e = *pp;
            *pp = e->next;
            t->n--;
            return e;
        }
    }
    return NULL;
}

/* ---- timer heap ---------------------------------------------------------------------- */

static int tless(const struct timer *a, const struct timer *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->id < b->id);
}

static void hswap(struct httploop *l, size_t i, size_t j)
{
    struct timer *t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
    l->heap[i]->heap_idx = i;
    l->heap[j]->heap_idx = j;
}

static void sift_up(struct httploop *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!tless(l->heap[i], l->heap[p]))
            break;
        hswap(l, i, p);
        i = p;
    }
}

static void sift_down(struct httploop *l, size_t i)
{
    for (;;) {
        size_t a = 2 * i + 1, b = a + 1, m = i;
        if (a < l->nheap && tless(l->heap[a], l->heap[m]))
            m = a;
        if (b < l->nheap && tless(l->heap[b], l->heap[m]))
            m = b;
        if (m == i)
            break;
        hswap(l, i, m);
        i = m;
    }
}

static void heap_remove(struct httploop *l, struct timer *t)
{
    size_t i = t->heap_idx;
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->heap_idx = i;
        sift_down(l, i);
        sift_up(l, i);
    }
}

/* ---- libcurl callbacks ----------------------------------------------------------------- */

static uint64_t evdata(uint32_t tag, int fd)
{
    return (uint64_t)tag << 32 | (uint32_t)fd;
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct shard *sh = userp;
    struct httploop *l = sh->l;
    (void)easy;
    (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, s, NULL); /* may fail if curl closed it: fine */
        return 0;
    }
    struct epoll_event ev = {0};
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev.events |= EPOLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev.events |= EPOLLOUT;
    ev.data.u64 = evdata(sh->tag, s);
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, s, &ev) != 0) {
        if (errno == ENOENT)
            epoll_ctl(l->epfd, EPOLL_CTL_ADD, s, &ev);
    }
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct shard *sh = userp;
    (void)multi;
    sh->curl_due_ms = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    return 0;
}

static int shard_open(struct httploop *l, struct shard *sh)
{
    sh->multi = curl_multi_init();
    if (!sh->multi)
        return -ENOMEM;
    sh->l = l;
    sh->tag = (uint32_t)(sh - l->shards) + 1;
    sh->curl_due_ms = -1;
    curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
    curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
    return 0;
}

/* The first shard with room, opening the next one when all open ones are full; when all
 * SHARDS_MAX are full, the least loaded. NULL only if a new multi handle cannot be made. */
static struct shard *shard_pick(struct httploop *l)
{
    struct shard *least = NULL;
    for (int i = 0; i < l->nshards; i++) {
        struct shard *sh = &l->shards[i];
        if (sh->n < SHARD_FILL)
            return sh;
        if (!least || sh->n < least->n)
            least = sh;
    }
    if (l->nshards < SHARDS_MAX && shard_open(l, &l->shards[l->nshards]) == 0)
        return &l->shards[l->nshards++];
    return least;
}

/* ---- API ------------------------------------------------------------------------------- */

int httploop_new(struct httploop **out)
{
    int rc = -ENOMEM;
    struct httploop *l = calloc(1, sizeof(*l));
    *out = NULL;
    if (!l)
        goto out;
    l->epfd = -1;
    l->evfd = -1;
    l->next_timer_id = 1;
    if (shard_open(l, &l->shards[0]) != 0)
        goto out;
    l->nshards = 1;
    rc = -EIO;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        goto out;
    l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->evfd < 0)
        goto out;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = evdata(0, l->evfd)};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev) != 0)
        goto out;
    *out = l;
    l = NULL;
    rc = 0;
out:
    if (l) {
        if (l->shards[0].multi)
            curl_multi_cleanup(l->shards[0].multi);
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->evfd >= 0)
            close(l->evfd);
        free(l);
    }
    return rc;
}

void httploop_free(struct httploop *l)
{
    if (!l)
        return;
    /* Cancel every transfer; a callback may start new ones, so loop until none is left. */
    for (int round = 0; l->xfers.n > 0 && round < 16; round++) {
        for (size_t i = 0; i < l->xfers.nb && l->xfers.n > 0; i++) {
            while (l->xfers.b[i]) {
                struct xfer *x = (struct xfer *)l->xfers.b[i];
                httploop_cancel(l, x->easy);
            }
        }
    }
    for (size_t i = 0; i < l->nheap; i++)
        free(l->heap[i]);
    free(l->heap);
    free(l->timers.b);
    free(l->xfers.b);
    free(l->watches);
    for (int i = 0; i < l->nshards; i++)
        curl_multi_cleanup(l->shards[i].multi);
    close(l->epfd);
    close(l->evfd);
    free(l);
}

int httploop_add(struct httploop *l, CURL *easy, httploop_done_cb cb, void *opaque)
{
    if (!l || !easy || !cb)
        return -EINVAL;
    if (hget(&l->xfers, (uintptr_t)easy))
        return -EEXIST;
    struct shard *sh = shard_pick(l);
    if (!sh)
        return -ENOMEM;
    struct xfer *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    x->h.key = (uintptr_t)easy;
    x->easy = easy;
    x->sh = sh;
    x->cb = cb;
    x->opaque = opaque;
    if (hput(&l->xfers, &x->h) != 0) {
        free(x);
        return -ENOMEM;
    }
    if (curl_multi_add_handle(sh->multi, easy) != CURLM_OK) {
        hdel(&l->xfers, (uintptr_t)easy);
        free(x);
        return -EIO;
    }
    sh->n++;
    return 0;
}

void httploop_cancel(struct httploop *l, CURL *easy)
{
    if (!l || !easy)
        return;
    struct xfer *x = (struct xfer *)hdel(&l->xfers, (uintptr_t)easy);
    if (!x)
        return;
    curl_multi_remove_handle(x->sh->multi, easy);
    x->sh->n--;
    httploop_done_cb cb = x->cb;
    void *opaque = x->opaque;
    free(x);
    cb(opaque, easy, CURLE_ABORTED_BY_CALLBACK);
}

long httploop_timer(struct httploop *l, long delay_ms, httploop_timer_cb cb, void *opaque)
{
    if (!l || !cb)
        return -EINVAL;
    if (delay_ms < 0)
        delay_ms = 0;
    if (l->nheap == l->capheap) {
        size_t cap = l->capheap ? l->capheap * 2 : 64;
        struct timer **h = realloc(l->heap, cap * sizeof(*h));
        if (!h)
            return -ENOMEM;
        l->heap = h;
        l->capheap = cap;
    }
    struct timer *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->id = l->next_timer_id++;
    t->h.key = (uintptr_t)t->id;
    t->due_ms = now_ms() + delay_ms;
    t->cb = cb;
    t->opaque = opaque;
    if (hput(&l->timers, &t->h) != 0) {
        free(t);
        return -ENOMEM;
    }
    t->heap_idx = l->nheap;
    l->heap[l->nheap++] = t;
    sift_up(l, t->heap_idx);
    return t->id;
}

void httploop_timer_cancel(struct httploop *l, long id)
{
    if (!l || id <= 0)
        return;
    struct timer *t = (struct timer *)hdel(&l->timers, (uintptr_t)id);
    if (!t)
        return;
    heap_remove(l, t);
    free(t);
}

/* Hands one shard's finished transfers to their callbacks. */
static void dispatch_shard_done(struct httploop *l, struct shard *sh)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(sh->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode res = m->data.result;
        struct xfer *x = (struct xfer *)hdel(&l->xfers, (uintptr_t)easy);
        if (!x)
            continue;
        curl_multi_remove_handle(sh->multi, easy);
        sh->n--;
        httploop_done_cb cb = x->cb;
        void *opaque = x->opaque;
        free(x);
        cb(opaque, easy, res); /* may add/cancel others: m is not used after this */
    }
}

/* Hands finished transfers to their callbacks. A callback may open a shard: nshards is read
 * on each turn. */
static void dispatch_done(struct httploop *l)
{
    for (int i = 0; i < l->nshards; i++)
        dispatch_shard_done(l, &l->shards[i]);
}

/* Runs the timers that were due when this pass began, not ones their callbacks add. A timer
 * added now is due at >= now (monotonic clock) and has a larger id than every older timer, so
 * with the heap ordered by (due, id) the first new one at the top means no old one is due. */
static void run_timers(struct httploop *l)
{
    long long now = now_ms();
    long last_id = l->next_timer_id - 1;
    /* heap_remove takes t out of heap[0] (its heap_idx is 0), which the analyzer does not
     * follow: it sees the freed t at the top again. */
    /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
    while (l->nheap > 0 && l->heap[0]->due_ms <= now && l->heap[0]->id <= last_id) {
        struct timer *t = l->heap[0];
        hdel(&l->timers, t->h.key);
        heap_remove(l, t);
        httploop_timer_cb cb = t->cb;
        void *opaque = t->opaque;
        free(t);
        cb(opaque);
    }
}

static struct watch *watch_find(struct httploop *l, int fd)
{
    for (size_t i = 0; i < l->nwatches; i++)
        if (l->watches[i].fd == fd)
            return &l->watches[i];
    return NULL;
}

int httploop_watch_fd(struct httploop *l, int fd, httploop_fd_cb cb, void *opaque)
{
    if (!l || fd < 0 || !cb || fd == l->evfd)
        return -EINVAL;
    if (watch_find(l, fd))
        return -EEXIST;
    if (l->nwatches == l->capwatches) {
        size_t cap = l->capwatches ? l->capwatches * 2 : 4;
        struct watch *w = realloc(l->watches, cap * sizeof(*w));
        if (!w)
            return -ENOMEM;
        l->watches = w;
        l->capwatches = cap;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = evdata(0, fd)};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return -EIO;
    l->watches[l->nwatches++] = (struct watch){.fd = fd, .cb = cb, .opaque = opaque};
    return 0;
}

void httploop_unwatch_fd(struct httploop *l, int fd)
{
    if (!l)
        return;
    struct watch *w = watch_find(l, fd);
    if (!w)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    *w = l->watches[--l->nwatches];
}

int httploop_run(struct httploop *l, int timeout_ms)
{
    if (!l)
        return 0;
    long long now = now_ms();
    long long wait = timeout_ms < 0 ? 3600000 : timeout_ms;
    for (int i = 0; i < l->nshards; i++) {
        long long due = l->shards[i].curl_due_ms;
        if (due >= 0 && due - now < wait)
            wait = due <= now ? 0 : due - now;
    }
    if (l->nheap > 0) {
        long long d = l->heap[0]->due_ms - now;
        if (d < wait)
            wait = d < 0 ? 0 : d;
    }

    struct epoll_event evs[256];
    int n = epoll_wait(l->epfd, evs, 256, (int)wait);
    for (int i = 0; i < n; i++) {
        uint32_t tag = (uint32_t)(evs[i].data.u64 >> 32);
        int fd = (int)(uint32_t)evs[i].data.u64;
        if (tag == 0 && fd == l->evfd) {
            uint64_t v;
            while (read(l->evfd, &v, sizeof(v)) > 0)
                ;
            continue;
        }
        if (tag == 0) {
            struct watch *w = watch_find(l, fd);
            if (w)
                w->cb(w->opaque, fd); /* may unwatch: w is not used after this */
            continue;
        }
        if (tag > (uint32_t)l->nshards)
            continue;
        struct shard *sh = &l->shards[tag - 1];
        int flags = 0;
        if (evs[i].events & EPOLLIN)
            flags |= CURL_CSELECT_IN;
        if (evs[i].events & EPOLLOUT)
            flags |= CURL_CSELECT_OUT;
        if (evs[i].events & (EPOLLERR | EPOLLHUP))
            flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(sh->multi, fd, flags, &sh->running);
    }
    now = now_ms();
    for (int i = 0; i < l->nshards; i++) {
        struct shard *sh = &l->shards[i];
        if (sh->curl_due_ms >= 0 && sh->curl_due_ms <= now) {
            sh->curl_due_ms = -1;
            curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &sh->running);
        }
    }
    dispatch_done(l);
    run_timers(l);
    dispatch_done(l);
    return (int)l->xfers.n;
}

int httploop_active(const struct httploop *l)
{
    return l ? (int)(l->xfers.n + l->nheap) : 0;
}

void httploop_wakeup(struct httploop *l)
{
    if (!l)
        return;
    uint64_t one = 1;
    ssize_t w = write(l->evfd, &one, sizeof(one));
    (void)w;
}
