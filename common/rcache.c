/* rcache.c — Redis client on hiredis (see rcache.h).
 *
 * URL: redis://[[user]:password@]host[:port][/db][?connect_timeout_ms=N&timeout_ms=N]
 * (defaults: port 6379, db 0, connect 1000 ms, command 2000 ms). The password is kept only to
 * send AUTH and is never logged nor put in an error message.
 *
 * A small pool (RCACHE_POOL_SIZE) of blocking redisContexts, each with connect and command
 * timeouts (redisSetTimeout). A context that fails (I/O error, timeout, protocol error) is
 * dropped; the next call that picks the slot connects again. While Redis is down, a failed
 * connect holds further connects off for RCACHE_RETRY_MS so that every caller does not pay a
 * connect timeout: those calls return RC_ERR_DOWN at once. Commands that block on the server
 * (BLPOP, XREAD BLOCK) are bounded by the command timeout like every other command.
 */
#include "rcache.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "passmemo.h"

#define RCACHE_POOL_SIZE 8
#define RCACHE_RETRY_MS 200
#define RCACHE_SCAN_COUNT "500"

struct rcache {
    char host[256];
    int port;
    int db;
    char *user;     /* NULL: default user */
    char *password; /* NULL: no AUTH */
    int connect_timeout_ms, timeout_ms;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    redisContext *ctx[RCACHE_POOL_SIZE];
    unsigned char busy[RCACHE_POOL_SIZE];
    int nfree;
    long long retry_after_ms; /* monotonic ms before which no new connect is tried */
};

const char *rc_status_str(int status)
{
    switch (status) {
    case RC_OK:
        return "ok";
    case RC_MISS:
        return "miss";
    case RC_ERR_DOWN:
        return "redis unavailable";
    case RC_ERR_REPLY:
        return "redis error reply";
    default:
        return "unknown";
    }
}

int rcache_key(char *buf, size_t cap, const char *tenant, const char *resource, const char *id)
{
    if (!buf || cap == 0 || !tenant || !*tenant || !resource || !*resource)
        return -1;
    int n = id ? snprintf(buf, cap, "agenthub:%s:cache:%s:%s", tenant, resource, id)
               : snprintf(buf, cap, "agenthub:%s:cache:%s", tenant, resource);
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return -1;
    }
    return n;
}

static long long rcache_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rcache_set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

static int rcache_hexval(char h)
{
    if (h >= '0' && h <= '9')
        return h - '0';
    h = (char)(h | 32);
    return h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
}

/* Decodes %XX escapes of a URL userinfo part in place. Returns -1 on a bad escape. */
static int rcache_unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r != '%') {
            *w++ = *r;
            continue;
        }
        int hi = rcache_hexval(r[1]), lo = hi < 0 ? -1 : rcache_hexval(r[2]);
        if (hi < 0 || lo < 0)
            return -1;
        *w++ = (char)(hi * 16 + lo);
        r += 2;
    }
    *w = '\0';
    return 0;
}

static int rcache_parse_int(const char *s, size_t len, long min, long max, int *out)
{
    char buf[24];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* Parses url into r. Error messages never quote the URL (it may hold a password). */
static int rcache_parse_url(struct rcache *r, const char *url, char *err, size_t errlen)
{
    int rc = -1;
    char *copy = NULL;
    if (strncasecmp(url, "redis://", 8) != 0) {
        rcache_set_err(err, errlen,
                       "REDIS_URL must start with redis:// (rediss:// is not "
                       "supported)");
        goto out;
    }
    copy = strdup(url + 8);
    if (!copy) {
        rcache_set_err(err, errlen, "out of memory");
        goto out;
    }
    char *rest = copy;

    /* query string */
    char *query = strchr(rest, '?');
    if (query)
        *query++ = '\0';
    /* userinfo: the last '@' before the path */
    char *slash = strchr(rest, '/');
    if (slash)
        *slash = '\0';
    char *at = strrchr(rest, '@');
    char *hostport = rest;
    if (at) {
        *at = '\0';
        hostport = at + 1;
        char *colon = strchr(rest, ':');
        char *user = rest, *pass = NULL;
        if (colon) {
            *colon = '\0';
            pass = colon + 1;
        } else {
            pass = rest; /* redis://secret@host: the password alone */
            user = NULL;
        }
        if ((user && rcache_unescape(user) != 0) || (pass && rcache_unescape(pass) != 0)) {
            rcache_set_err(err, errlen, "REDIS_URL: bad %-escape in the credentials");
            goto out;
        }
        if (user && *user && !(r->user = strdup(user)))
            goto nomem;
        if (pass && *pass) {
            if (!(r->password = strdup(pass)))
                goto nomem;
            log_add_secret(r->password);
        }
    }
    /* host[:port], host may be [v6] */
    char *portstr = NULL;
    if (hostport[0] == '[') {
        char *close = strchr(hostport, ']');
        if (!close) {
            rcache_set_err(err, errlen, "REDIS_URL: unterminated [ in the host");
            goto out;
        }
        *close = '\0';
        if (close[1] == ':')
            portstr = close + 2;
        else if (close[1]) {
            rcache_set_err(err, errlen, "REDIS_URL: garbage after the host");
            goto out;
        }
        hostport++;
    } else {
        char *colon = strrchr(hostport, ':');
        if (colon) {
            *colon = '\0';
            portstr = colon + 1;
        }
    }
    if (!*hostport || strlen(hostport) >= sizeof r->host) {
        rcache_set_err(err, errlen, "REDIS_URL: missing or too long host");
        goto out;
    }
    snprintf(r->host, sizeof r->host, "%s", hostport);
    r->port = 6379;
    if (portstr && rcache_parse_int(portstr, strlen(portstr), 1, 65535, &r->port) != 0) {
        rcache_set_err(err, errlen, "REDIS_URL: port must be 1..65535");
        goto out;
    }
    r->db = 0;
    if (slash && slash[1] &&
        rcache_parse_int(slash + 1, strlen(slash + 1), 0, 100000, &r->db) != 0) {
        rcache_set_err(err, errlen, "REDIS_URL: the path must be a database number");
        goto out;
    }
    r->connect_timeout_ms = 1000;
    r->timeout_ms = 2000;
    for (char *q = query; q && *q;) {
        char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        int *target = NULL;
        if (eq && (size_t)(eq - q) == 18 && !strncmp(q, "connect_timeout_ms", 18))
            target = &r->connect_timeout_ms;
        else if (eq && (size_t)(eq - q) == 10 && !strncmp(q, "timeout_ms", 10))
            target = &r->timeout_ms;
        if (!target || rcache_parse_int(eq + 1, len - (size_t)(eq + 1 - q), 1, 600000, target)) {
            rcache_set_err(err, errlen,
                           "REDIS_URL: unknown or bad query parameter (connect_timeout_ms, "
                           "timeout_ms: 1..600000)");
            goto out;
        }
        q = amp ? amp + 1 : NULL;
    }
    rc = 0;
    goto out;
nomem:
    rcache_set_err(err, errlen, "out of memory");
out:
    free(copy);
    return rc;
}

int rcache_open(struct rcache **out, const char *url, char *err, size_t errlen)
{
    if (!out || !url) {
        rcache_set_err(err, errlen, "rcache_open: invalid arguments");
        return RC_ERR_REPLY;
    }
    *out = NULL;
    struct rcache *r = calloc(1, sizeof *r);
    if (!r) {
        rcache_set_err(err, errlen, "out of memory");
        return RC_ERR_DOWN;
    }
    if (rcache_parse_url(r, url, err, errlen) != 0) {
        free(r->user);
        free(r->password);
        free(r);
        return RC_ERR_REPLY;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->nfree = RCACHE_POOL_SIZE;
    /* Connections are made on first use: a process may start before Redis does. */
    *out = r;
    return RC_OK;
}

void rcache_close(struct rcache *r)
{
    if (!r)
        return;
    for (int i = 0; i < RCACHE_POOL_SIZE; i++)
        if (r->ctx[i])
            redisFree(r->ctx[i]);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->user);
    if (r->password) {
        memset(r->password, 0, strlen(r->password));
        free(r->password);
    }
    free(r);
}

static struct timeval rcache_tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};
    return tv;
}

/* A fresh, authenticated context on the right database, or NULL. */
static redisContext *rcache_connect(struct rcache *r)
{
    redisContext *c = redisConnectWithTimeout(r->host, r->port, rcache_tv(r->connect_timeout_ms));
    if (!c || c->err)
        goto fail;
    if (redisSetTimeout(c, rcache_tv(r->timeout_ms)) != REDIS_OK)
        goto fail;
    if (r->password) {
        redisReply *rep = r->user ? redisCommand(c, "AUTH %s %s", r->user, r->password)
                                  : redisCommand(c, "AUTH %s", r->password);
        int ok = rep && rep->type != REDIS_REPLY_ERROR;
        if (rep && rep->type == REDIS_REPLY_ERROR)
            log_warn(NULL, "redis AUTH refused");
        if (rep)
            freeReplyObject(rep);
        if (!ok)
            goto fail;
    }
    if (r->db != 0) {
        redisReply *rep = redisCommand(c, "SELECT %d", r->db);
        int ok = rep && rep->type != REDIS_REPLY_ERROR;
        if (rep)
            freeReplyObject(rep);
        if (!ok)
            goto fail;
    }
    return c;
fail:
    if (c)
        redisFree(c);
    return NULL;
}

static int rcache_idle_readable(redisContext *c)
{
    if (c->err)
        return 1;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) != 0; /* data, EOF, or an error on the socket */
}

/* Borrows a connected context: returns the slot index, or -1 (Redis down). */
static int rcache_take(struct rcache *r)
{
    int slot = -1;
    pthread_mutex_lock(&r->mu);
    while (r->nfree == 0)
        pthread_cond_wait(&r->cv, &r->mu); /* bounded: holders' commands time out */
    for (int i = 0; i < RCACHE_POOL_SIZE; i++) {
        if (r->busy[i])
            continue;
        if (slot < 0 || (!r->ctx[slot] && r->ctx[i]))
            slot = i;
        if (r->ctx[slot])
            break;
    }
    r->busy[slot] = 1;
    r->nfree--;
    redisContext *stale = r->ctx[slot];
    pthread_mutex_unlock(&r->mu);

    /* The slot is ours now. An idle connection has nothing to read; readable means the
     * server closed it (restart, timeout): replace it now instead of failing a command. */
    if (stale) {
        if (!rcache_idle_readable(stale))
            return slot;
        log_warn(NULL, "redis connection lost while idle; reconnecting");
        redisFree(stale);
        pthread_mutex_lock(&r->mu);
        r->ctx[slot] = NULL;
        pthread_mutex_unlock(&r->mu);
    }
    pthread_mutex_lock(&r->mu);
    int held_off = rcache_now_ms() < r->retry_after_ms;
    pthread_mutex_unlock(&r->mu);
    redisContext *c = held_off ? NULL : rcache_connect(r);
    pthread_mutex_lock(&r->mu);
    r->ctx[slot] = c;
    if (!c) {
        if (!held_off) {
            r->retry_after_ms = rcache_now_ms() + RCACHE_RETRY_MS;
            log_debug(NULL, "redis %s:%d unreachable", r->host, r->port);
        }
        r->busy[slot] = 0;
        r->nfree++;
        pthread_cond_signal(&r->cv);
        slot = -1;
    } else {
        r->retry_after_ms = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return slot;
}

/* Gives the slot back; a failed context is dropped so the next user reconnects. */
static void rcache_give(struct rcache *r, int slot, int failed)
{
    redisContext *dead = NULL;
    pthread_mutex_lock(&r->mu);
    if (failed) {
        dead = r->ctx[slot];
        r->ctx[slot] = NULL;
    }
    r->busy[slot] = 0;
    r->nfree++;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (dead) {
        log_warn(NULL, "redis connection lost (%s); reconnecting on next use",
                 dead->err ? dead->errstr : "protocol error");
        redisFree(dead);
    }
}

/* Classifies a reply: NULL -> down (context unusable), error reply -> RC_ERR_REPLY. */
static int rcache_reply_status(redisReply *rep)
{
    if (!rep)
        return RC_ERR_DOWN;
    if (rep->type == REDIS_REPLY_ERROR)
        return RC_ERR_REPLY;
    return RC_OK;
}

/* Ends a command on slot: its status, the slot back (dropped when Redis is down), and the reply
 * into *reply if the caller wants it, else freed. */
static int rcache_hand_over(struct rcache *r, int slot, redisReply *rep, redisReply **reply)
{
    int st = rcache_reply_status(rep);
    rcache_give(r, slot, st == RC_ERR_DOWN);
    if (reply && rep)
        *reply = rep;
    else if (rep)
        freeReplyObject(rep);
    return st;
}

int rcache_commandv(struct rcache *r, redisReply **reply, int argc, const char **argv,
                    const size_t *argvlen)
{
    if (reply)
        *reply = NULL;
    if (!r || argc <= 0 || !argv)
        return RC_ERR_REPLY;
    int slot = rcache_take(r);
    if (slot < 0)
        return RC_ERR_DOWN;
    redisReply *rep = redisCommandArgv(r->ctx[slot], argc, argv, argvlen);
    return rcache_hand_over(r, slot, rep, reply);
}

int rcache_pipeline(struct rcache *r, struct rcache_cmd *cmds, int n)
{
    for (int i = 0; i < n; i++) {
        cmds[i].status = RC_ERR_DOWN;
        cmds[i].reply = NULL;
    }
    if (!r || n < 0 || (n > 0 && !cmds))
        return RC_ERR_REPLY;
    for (int i = 0; i < n; i++)
        if (cmds[i].argc <= 0 || !cmds[i].argv)
            return RC_ERR_REPLY;
    if (n == 0)
        return RC_OK;
    int slot = rcache_take(r);
    if (slot < 0)
        return RC_ERR_DOWN;
    redisContext *c = r->ctx[slot];
    int st = RC_OK;
    for (int i = 0; i < n && st == RC_OK; i++)
        if (redisAppendCommandArgv(c, cmds[i].argc, cmds[i].argv, cmds[i].argvlen) != REDIS_OK)
            st = RC_ERR_DOWN; /* out of memory: the context, with its half buffer, is dropped */
    for (int i = 0; i < n && st == RC_OK; i++) {
        void *rep = NULL;
        if (redisGetReply(c, &rep) != REDIS_OK || !rep) {
            st = RC_ERR_DOWN;
            break;
        }
        cmds[i].reply = rep;
        cmds[i].status = rcache_reply_status(rep);
    }
    rcache_give(r, slot, st == RC_ERR_DOWN);
    return st;
}

int rcache_command(struct rcache *r, redisReply **reply, const char *fmt, ...)
{
    if (reply)
        *reply = NULL;
    if (!r || !fmt)
        return RC_ERR_REPLY;
    int slot = rcache_take(r);
    if (slot < 0)
        return RC_ERR_DOWN;
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r->ctx[slot], fmt, ap);
    va_end(ap);
    return rcache_hand_over(r, slot, rep, reply);
}

int rcache_get(struct rcache *r, const char *key, char **val, size_t *len)
{
    if (val)
        *val = NULL;
    if (len)
        *len = 0;
    if (!key || !val)
        return RC_ERR_REPLY;
    int st;
    if (passmemo_get(key, &st, val, len))
        return st;
    const char *argv[] = {"GET", key};
    redisReply *rep = NULL;
    st = rcache_commandv(r, &rep, 2, argv, NULL);
    if (st != RC_OK)
        goto out;
    if (rep->type == REDIS_REPLY_NIL) {
        st = RC_MISS;
    } else if (rep->type == REDIS_REPLY_STRING) {
        *val = malloc(rep->len + 1);
        if (!*val) {
            st = RC_ERR_REPLY;
            goto out;
        }
        memcpy(*val, rep->str, rep->len);
        (*val)[rep->len] = '\0';
        if (len)
            *len = rep->len;
    } else {
        st = RC_ERR_REPLY;
    }
    if (st == RC_OK || st == RC_MISS)
        passmemo_put(key, st, *val, *val ? rep->len : 0);
out:
    if (rep)
        freeReplyObject(rep);
    return st;
}

int rcache_setex(struct rcache *r, const char *key, const char *val, size_t len, int ttl_s)
{
    if (!key || (!val && len))
        return RC_ERR_REPLY;
    passmemo_forget();
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", ttl_s);
    const char *argv[] = {"SET", key, val ? val : "", "EX", ttl};
    size_t lens[] = {3, strlen(key), len, 2, strlen(ttl)};
    return rcache_commandv(r, NULL, ttl_s > 0 ? 5 : 3, argv, lens);
}

int rcache_del(struct rcache *r, const char *key)
{
    if (!key)
        return RC_ERR_REPLY;
    passmemo_forget();
    const char *argv[] = {"DEL", key};
    return rcache_commandv(r, NULL, 2, argv, NULL);
}

int rcache_del_pattern(struct rcache *r, const char *pattern)
{
    if (!r || !pattern || !*pattern)
        return RC_ERR_REPLY;
    passmemo_forget();
    /* One connection for the whole SCAN so the cursor stays meaningful. */
    int slot = rcache_take(r);
    if (slot < 0)
        return RC_ERR_DOWN;
    redisContext *c = r->ctx[slot];
    int st = RC_OK;
    char cursor[32] = "0";
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", RCACHE_SCAN_COUNT};
        redisReply *rep = redisCommandArgv(c, 6, argv, NULL);
        st = rcache_reply_status(rep);
        if (st == RC_OK &&
            (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
             rep->element[0]->type != REDIS_REPLY_STRING ||
             rep->element[1]->type != REDIS_REPLY_ARRAY || rep->element[0]->len >= sizeof cursor))
            st = RC_ERR_REPLY;
        if (st != RC_OK) {
            if (rep)
                freeReplyObject(rep);
            break;
        }
        memcpy(cursor, rep->element[0]->str, rep->element[0]->len);
        cursor[rep->element[0]->len] = '\0';
        redisReply *keys = rep->element[1];
        if (keys->elements > 0) {
            size_t n = keys->elements + 1;
            const char **dargv = malloc(n * sizeof *dargv);
            size_t *dlen = malloc(n * sizeof *dlen);
            if (!dargv || !dlen) {
                free(dargv);
                free(dlen);
                freeReplyObject(rep);
                st = RC_ERR_REPLY;
                break;
            }
            dargv[0] = "UNLINK";
            dlen[0] = 6;
            for (size_t i = 0; i < keys->elements; i++) {
                dargv[i + 1] = keys->element[i]->str ? keys->element[i]->str : "";
                dlen[i + 1] = keys->element[i]->str ? keys->element[i]->len : 0;
            }
            redisReply *drep = redisCommandArgv(c, (int)n, dargv, dlen);
            st = rcache_reply_status(drep);
            if (drep)
                freeReplyObject(drep);
            free(dargv);
            free(dlen);
        }
        freeReplyObject(rep);
    } while (st == RC_OK && strcmp(cursor, "0") != 0);
    rcache_give(r, slot, st == RC_ERR_DOWN);
    return st;
}

int rcache_ping(struct rcache *r)
{
    redisReply *rep = NULL;
    const char *argv[] = {"PING"};
    int st = rcache_commandv(r, &rep, 1, argv, NULL);
    if (st == RC_OK &&
        !(rep->type == REDIS_REPLY_STATUS && rep->str && strcasecmp(rep->str, "PONG") == 0))
        st = RC_ERR_REPLY;
    if (rep)
        freeReplyObject(rep);
    return st;
}
