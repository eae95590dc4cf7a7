/* jobevents.h — job state and the per-job event stream that clients read over SSE/long-poll.
 *
 * Source of truth for a job's events is a Redis stream per job,
 *   agenthub:{tenant}:job:{job_id}:events   (XADD, auto ids; TTL 24 h, refreshed on write)
 * whose entry ids are the SSE `id:` (so Last-Event-ID resumes with XRANGE (id +), from any
 * ingress instance. Each entry has fields `event` (queued|routed|tool_call|tool_result|delta|
 * final|error) and `data` (JSON text). After writing, the event is also published on
 * KAFKA_TOPIC_CHAT_EVENTS (a chat.event envelope, key session_id) so ingress instances wake
 * their waiting streams at once instead of polling — except `delta` events, which are woken
 * through JOBEVENTS_WAKE_CHANNEL only (with a Kafka message per token chunk, a third of the
 * agent's CPU samples were in librdkafka).
 *
 * Durable state lives in PostgreSQL's `jobs` table (status, agent, response, metadata, error);
 * see migrations/. `final` and `error` are terminal: exactly one of them ends a job.
 */
#ifndef AGENTHUB_JOBEVENTS_H
#define AGENTHUB_JOBEVENTS_H

#include <json-c/json.h>

#include "envelope.h"
#include "kafka.h"
#include "rcache.h"

#define JOBEVENTS_TTL_S (24 * 3600)
/* Every event written is also announced on this Redis pub/sub channel (the message is the
 * job's stream key), in the same script as the XADD: no extra round trip. An ingress that
 * subscribes wakes its streams within a Redis hop, without waiting for the Kafka copy. */
#define JOBEVENTS_WAKE_CHANNEL "agenthub:jobevents:wake"

/* Appends one event for job `env`. data is borrowed. The Kafka publish is asynchronous
 * (producer may be NULL to skip it; never for `delta`). out_id (may be NULL, cap >= 32) receives
 * the stream id. Returns 0 or an rc_status. */
int jobevents_emit(struct rcache *r, struct kafka_producer *p, const struct envelope *env,
                   const char *event, json_object *data, char *out_id, size_t idcap);

/* Appends the same event to each of n jobs (envs[i], data[i] borrowed) in one Redis round
 * trip; Redis only, no Kafka copy. status[i] receives each one's rc_status. Returns RC_OK, or
 * RC_ERR_DOWN when the connection failed (those without a reply have RC_ERR_DOWN). */
int jobevents_emit_many(struct rcache *r, const struct envelope *const *envs, const char *event,
                        json_object *const *data, int n, int *status);

/* Reads events after `after_id` ("0" for all), at most `max`. Returns a JSON array of
 * {"id","event","data"} objects in *out (caller json_object_put), or an rc_status. */
int jobevents_read(struct rcache *r, const char *tenant_id, const char *job_id,
                   const char *after_id, int max, json_object **out);

#endif
