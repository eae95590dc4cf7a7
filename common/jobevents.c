/* jobevents.c — per-job event streams in Redis, mirrored to Kafka (see jobevents.h).
 *
 * The append and its TTL refresh are one atomic server-side script, so a stream never exists
 * without its TTL even if the connection drops between the two:
 *   XADD key MAXLEN ~ 10000 * event <event> data <json>;  EXPIRE key 86400
 * Reads use XRANGE key (<after> + COUNT max: the "(" makes the start exclusive (Redis >= 6.2),
 * so a client resuming with Last-Event-ID gets neither a duplicate nor a gap.
 *
 * The Kafka chat.event is a wake-up call for waiting ingress streams; the Redis stream is the
 * record. `delta` events get no Kafka copy: they are many (one per read of a token stream),
 * the PUBLISH in the script already wakes the ingress, and its poll covers a lost wake-up;
 * a stream's final/error (and everything before it) still goes to Kafka. A failed produce is logged
 * and does not fail the emit: readers still find the event on their next read.
 */
#include "jobevents.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "uuid.h"

#define JOBEVENTS_MAXLEN "10000"
#define JOBEVENTS_KEY_MAX 256

static const char *const jobevents_script =
    "local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', "
    "'event', ARGV[2], 'data', ARGV[3]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[4]) "
    "redis.call('PUBLISH', '" JOBEVENTS_WAKE_CHANNEL "', KEYS[1]) "
    "return id";

/* Only well-formed ids make a key: a tenant id with ':' or '*' could reach another's keys. */
static int jobevents_key(char *buf, size_t cap, const char *tenant, const char *job)
{
    if (!tenant || !job || !tenant_id_valid(tenant) || !uuid_valid(job))
        return -1;
    int n = snprintf(buf, cap, "agenthub:%s:job:%s:events", tenant, job);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int jobevents_event_valid(const char *ev)
{
    static const char *const names[] = {"queued", "routed", "tool_call", "tool_result",
                                        "delta",  "final",  "error"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(ev, names[i]) == 0)
            return 1;
    return 0;
}

/* A stream id: "<ms>" or "<ms>-<seq>", digits only. */
static int jobevents_id_valid(const char *id)
{
    size_t n = strlen(id), i = 0, digits = 0;
    if (n == 0 || n > 41)
        return 0;
    while (i < n && isdigit((unsigned char)id[i]))
        i++, digits++;
    if (digits == 0 || digits > 20)
        return 0;
    if (i == n)
        return 1;
    if (id[i++] != '-')
        return 0;
    digits = 0;
    while (i < n && isdigit((unsigned char)id[i]))
        i++, digits++;
    return digits > 0 && digits <= 20 && i == n;
}

static void jobevents_publish(struct kafka_producer *p, const struct envelope *env,
                              const char *event, json_object *data, const char *id)
{
    struct envelope ev;
    char *buf = NULL;
    struct log_ctx lctx = {.tenant_id = env->tenant_id, .job_id = env->job_id};
    if (envelope_init(&ev, "chat.event", env) != 0) {
        log_warn(&lctx, "chat.event not published: cannot build the envelope");
        return;
    }
    json_object_object_add(ev.payload, "event", json_object_new_string(event));
    json_object_object_add(ev.payload, "id", json_object_new_string(id));
    json_object_object_add(ev.payload, "data", data ? json_object_get(data) : NULL);
    buf = envelope_encode(&ev);
    if (!buf) {
        log_warn(&lctx, "chat.event not published: out of memory");
        goto out;
    }
    struct kafka_header hdr = {"traceparent", ev.traceparent};
    if (kafka_produce(p, KAFKA_TOPIC_CHAT_EVENTS, env->session_id, buf, strlen(buf), &hdr, 1, NULL,
                      NULL) != 0)
        log_warn(&lctx, "chat.event not published (event %s stays readable in Redis)", event);
out:
    free(buf);
    envelope_cleanup(&ev);
}

/* The EVAL of one event: argv points into the struct (key, ttl) and at data's text, which
 * stays valid while data is unchanged. */
struct jobevents_eval {
    char key[JOBEVENTS_KEY_MAX];
    char ttl[16];
    const char *argv[8];
};

static int jobevents_eval_init(struct jobevents_eval *e, const struct envelope *env,
                               const char *event, json_object *data)
{
    if (!env || !event || !jobevents_event_valid(event) ||
        jobevents_key(e->key, sizeof e->key, env->tenant_id, env->job_id) != 0)
        return -1;
    snprintf(e->ttl, sizeof e->ttl, "%d", JOBEVENTS_TTL_S);
    const char *text = data ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN) : "null";
    const char *argv[] = {"EVAL", jobevents_script, "1", e->key, JOBEVENTS_MAXLEN, event, text,
                          e->ttl};
    memcpy(e->argv, argv, sizeof argv);
    return 0;
}

int jobevents_emit(struct rcache *r, struct kafka_producer *p, const struct envelope *env,
                   const char *event, json_object *data, char *out_id, size_t idcap)
{
    struct jobevents_eval e;
    redisReply *rep = NULL;
    if (out_id && idcap)
        out_id[0] = '\0';
    if (!r || jobevents_eval_init(&e, env, event, data) != 0)
        return RC_ERR_REPLY;

    int st = rcache_commandv(r, &rep, 8, e.argv, NULL);
    if (st != RC_OK)
        goto out;
    if (rep->type != REDIS_REPLY_STRING) {
        st = RC_ERR_REPLY;
        goto out;
    }
    if (out_id && idcap)
        snprintf(out_id, idcap, "%s", rep->str);
    if (p && strcmp(event, "delta") != 0)
        jobevents_publish(p, env, event, data, rep->str);
out:
    if (rep)
        freeReplyObject(rep);
    return st;
}

int jobevents_emit_many(struct rcache *r, const struct envelope *const *envs, const char *event,
                        json_object *const *data, int n, int *status)
{
    if (!r || n < 0 || (n > 0 && (!envs || !data || !status)))
        return RC_ERR_REPLY;
    if (n == 0)
        return RC_OK;
    struct jobevents_eval *e = malloc((size_t)n * sizeof *e);
    struct rcache_cmd *cmds = malloc((size_t)n * sizeof *cmds);
    int *slot = malloc((size_t)n * sizeof *slot);
    int st = RC_ERR_REPLY, m = 0;
    for (int i = 0; i < n; i++)
        status[i] = RC_ERR_REPLY;
    if (!e || !cmds || !slot)
        goto out;
    for (int i = 0; i < n; i++) {
        if (jobevents_eval_init(&e[m], envs[i], event, data[i]) != 0)
            continue;
        cmds[m] = (struct rcache_cmd){.argc = 8, .argv = e[m].argv};
        slot[m++] = i;
    }
    st = rcache_pipeline(r, cmds, m);
    for (int j = 0; j < m; j++) {
        int s = cmds[j].status;
        if (s == RC_OK && cmds[j].reply->type != REDIS_REPLY_STRING)
            s = RC_ERR_REPLY;
        status[slot[j]] = s;
        if (cmds[j].reply)
            freeReplyObject(cmds[j].reply);
    }
out:
    free(e);
    free(cmds);
    free(slot);
    return st;
}

/* One XRANGE entry [id, [field, value, ...]] as {"id","event","data"}; NULL if malformed. */
static json_object *jobevents_entry(const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    const redisReply *f = e->element[1];
    const char *event = NULL, *data = NULL;
    size_t datalen = 0;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(k->str, "event") == 0)
            event = v->str;
        else if (strcmp(k->str, "data") == 0)
            data = v->str, datalen = v->len;
    }
    if (!event)
        return NULL;
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    json_object_object_add(o, "id", json_object_new_string(e->element[0]->str));
    json_object_object_add(o, "event", json_object_new_string(event));
    json_object *d = NULL;
    if (data) {
        struct json_tokener *tok = json_tokener_new();
        if (tok) {
            /* Including the NUL hiredis puts after every string ends the input, so a bare
             * number or literal ("null", "42") parses instead of waiting for more. */
            d = json_tokener_parse_ex(tok, data, (int)datalen + 1);
            if (json_tokener_get_error(tok) != json_tokener_success) {
                json_object_put(d);
                d = json_object_new_string_len(data, (int)datalen); /* keep it as text */
            }
            json_tokener_free(tok);
        }
    }
    json_object_object_add(o, "data", d);
    return o;
}

int jobevents_read(struct rcache *r, const char *tenant_id, const char *job_id,
                   const char *after_id, int max, json_object **out)
{
    char key[JOBEVENTS_KEY_MAX], start[48], count[16];
    redisReply *rep = NULL;
    json_object *arr = NULL;
    int st = RC_ERR_REPLY;
    if (out)
        *out = NULL;
    if (!r || !tenant_id || !job_id || !out || max <= 0 ||
        jobevents_key(key, sizeof key, tenant_id, job_id) != 0)
        goto out;
    if (!after_id || !*after_id || strcmp(after_id, "0") == 0) {
        snprintf(start, sizeof start, "-");
    } else {
        if (!jobevents_id_valid(after_id))
            goto out; /* a forged Last-Event-ID is the caller's 400 */
        snprintf(start, sizeof start, "(%s", after_id);
    }
    snprintf(count, sizeof count, "%d", max);
    const char *argv[] = {"XRANGE", key, start, "+", "COUNT", count};
    st = rcache_commandv(r, &rep, 6, argv, NULL);
    if (st != RC_OK)
        goto out;
    if (rep->type != REDIS_REPLY_ARRAY) {
        st = RC_ERR_REPLY;
        goto out;
    }
    arr = json_object_new_array();
    if (!arr) {
        st = RC_ERR_REPLY;
        goto out;
    }
    for (size_t i = 0; i < rep->elements; i++) {
        json_object *o = jobevents_entry(rep->element[i]);
        if (o)
            json_object_array_add(arr, o);
    }
    *out = arr;
    arr = NULL;
    st = RC_OK;
out:
    json_object_put(arr);
    if (rep)
        freeReplyObject(rep);
    return st;
}
