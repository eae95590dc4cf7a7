/* sse.h — waking the handlers that wait on a job (SSE streams, long-polls).
 *
 * A hub maps job ids to waiting handlers. Two sources notify it by job id: a Redis
 * subscriber on JOBEVENTS_WAKE_CHANNEL (every event, deltas included, published in the same
 * script as its XADD) and one Kafka consumer per ingress process on agenthub.chat.events (its
 * own group id, offset latest, never commits; every event but deltas). Handlers also re-read
 * Redis every INGRESS_SSE_POLL_MS, so a lost or late wake-up only delays a stream, never
 * stalls it.
 *
 * A waiter registers before it first reads the job's state: a notification that arrives
 * between that read and the wait is kept (the waiter's `signaled` flag) and not lost.
 */
#ifndef AGENTHUB_INGRESS_SSE_H
#define AGENTHUB_INGRESS_SSE_H

#include "ingress.h"

struct sse_hub;
struct sse_waiter;

int sse_hub_new(struct sse_hub **out);
void sse_hub_free(struct sse_hub *h); /* NULL-safe; stops the consumer first */

/* NULL on allocation failure. */
struct sse_waiter *sse_hub_register(struct sse_hub *h, const char *job_id);
void sse_hub_unregister(struct sse_hub *h, struct sse_waiter *w);
/* Waits up to timeout_ms. 1 when notified (or shutting down), 0 on timeout. */
int sse_hub_wait(struct sse_hub *h, struct sse_waiter *w, int timeout_ms);
void sse_hub_notify(struct sse_hub *h, const char *job_id);
/* fn(ctx, job_id) is called on every notification as well (outside the hub's lock; the SSE
 * loop's sseloop_notify). Set it before the consumer starts. */
void sse_hub_set_listener(struct sse_hub *h, void (*fn)(void *ctx, const char *job_id), void *ctx);
/* Wakes every waiter; later waits return at once. */
void sse_hub_shutdown(struct sse_hub *h);
int sse_hub_is_shutdown(struct sse_hub *h);
long sse_hub_waiters(struct sse_hub *h);

/* Starts the thread that subscribes to JOBEVENTS_WAKE_CHANNEL (jobevents.h) on Redis and
 * notifies the hub of every job announced there; it reconnects by itself. */
int sse_hub_start_redis_wakeups(struct sse_hub *h, const char *redis_url);
/* Starts the agenthub.chat.events consumer thread. */
int sse_hub_start_consumer(struct sse_hub *h, const char *brokers, char *err, size_t errlen);

/* The end of one turn of a streaming loop (job, document and /v1 streams): the stream ends
 * once it is INGRESS_SSE_MAX_S old; a ": keepalive" comment goes out when nothing was written
 * for INGRESS_SSE_HEARTBEAT_S; then it sleeps until the hub wakes w (NULL: no waiter) or for
 * INGRESS_SSE_POLL_MS. Returns 1 when the stream must end (too old, the client is gone, the
 * process stops; *fail is set when a write failed), 0 to go on. */
int sse_stream_idle(struct req *r, struct sse_waiter *w, double start, double now,
                    double *last_write, int *fail);

/* Stream ids are "<ms>-<seq>"; "0" means from the start (a Last-Event-ID to resume from). */
int sse_id_valid(const char *s);

/* One event as SSE text: "id:", "event:", one "data:" line per line of data (a data line may
 * not hold a newline; a CR before one is dropped), then the blank line that ends the event.
 * Returns the malloc'd, NUL-terminated text and its length in *len, or NULL (out of
 * memory). */
char *sse_event_format(const char *id, const char *event, const char *data, size_t *len);

#endif
