/* rcache.h — Redis client on hiredis: cache, counters, job event streams.
 *
 * Keys follow the seed's namespacing: agenthub:{tenant}:cache:{resource}:{id}, plus
 * agenthub:{tenant}:llm for the LLM config. Thread-safe (a small pool of connections); a
 * connection that fails is reconnected on the next call. Every call returns a typed status
 * so callers can tell a miss (RC_MISS) from Redis being down (RC_ERR_DOWN).
 */
#ifndef AGENTHUB_RCACHE_H
#define AGENTHUB_RCACHE_H

#include <hiredis/hiredis.h>
#include <stddef.h>

enum rc_status {
    RC_OK = 0,
    RC_MISS = 1,
    RC_ERR_DOWN = -1,  /* cannot connect / connection lost / timeout */
    RC_ERR_REPLY = -2, /* Redis answered with an error */
};

/* TTLs from the seed. */
#define RC_TTL_LLM 3600
#define RC_TTL_AGENT 3600
#define RC_TTL_TOOL 3600
#define RC_TTL_PERMISSIONS 1800

struct rcache;

/* url: redis://[[user]:password@]host[:port][/db][?connect_timeout_ms=N&timeout_ms=N]
 * (defaults 6379, db 0, 1000 ms, 2000 ms). Only the URL is checked here; connections are made
 * on first use, so a process may start before Redis does. The password is never logged. */
int rcache_open(struct rcache **out, const char *url, char *err, size_t errlen);
void rcache_close(struct rcache *r); /* NULL-safe */

/* "agenthub:{tenant}:cache:{resource}" or, with id, "...:{resource}:{id}". Returns length, or
 * -1 if it does not fit. */
int rcache_key(char *buf, size_t cap, const char *tenant, const char *resource, const char *id);

int rcache_get(struct rcache *r, const char *key, char **val, size_t *len); /* *val malloc'd */
int rcache_setex(struct rcache *r, const char *key, const char *val, size_t len, int ttl_s);
int rcache_del(struct rcache *r, const char *key);
/* Deletes every key matching a glob pattern (SCAN, never KEYS). */
int rcache_del_pattern(struct rcache *r, const char *pattern);
/* Any command; *reply is the caller's (freeReplyObject). */
int rcache_command(struct rcache *r, redisReply **reply, const char *fmt, ...);
int rcache_commandv(struct rcache *r, redisReply **reply, int argc, const char **argv,
                    const size_t *argvlen);
/* One command of a pipeline: argv as for rcache_commandv; status and reply are set by
 * rcache_pipeline (reply is the caller's, NULL unless status is RC_OK or RC_ERR_REPLY). */
struct rcache_cmd {
    int argc;
    const char **argv;
    const size_t *argvlen; /* may be NULL: strlen of each argv */
    int status;
    redisReply *reply;
};
/* Sends n commands on one connection and then reads their n replies: one round trip instead
 * of n. Returns RC_OK when every command got a reply (each one's own status may still be
 * RC_ERR_REPLY), or RC_ERR_DOWN when the connection failed (the commands without a reply have
 * status RC_ERR_DOWN; those sent may have run). */
int rcache_pipeline(struct rcache *r, struct rcache_cmd *cmds, int n);
int rcache_ping(struct rcache *r);
const char *rc_status_str(int status);

#endif
