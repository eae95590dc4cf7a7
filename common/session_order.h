/* session_order.h — two questions of one session are answered in the order they were
 * accepted, whichever agents and processes answer them.
 *
 * The mechanism:
 *   1. The router numbers each job in its session (jobs.session_seq), in the order it takes
 *      the session's requests: one partition of agenthub.chat.requests per session and one
 *      request of a session at a time (stage.h), which is the order the ingress accepted them.
 *   2. A stage about to answer a job (an agent, or the router for UNCLEAR) first waits until
 *      every earlier job of the session is terminal (done or error): then its answer comes
 *      after theirs, and the agent's history holds their answers.
 *   3. The wait is woken by the earlier job becoming terminal: a trigger on jobs NOTIFYs
 *      agenthub_job_terminal with its job_id, and each process LISTENs on one connection of
 *      its own whose socket its event loop watches (httploop_watch_fd). Nothing polls.
 *   4. Bounded: an earlier job that is still not terminal after max_wait_ms (stuck, or lost
 *      with a process) no longer holds the session: the job goes on, and says so
 *      (SESSION_ORDER_TIMEOUT; the agent records metadata.session_order = "timeout"). An
 *      earlier job that failed is terminal: it does not hold anything up.
 *   Sessions are independent: a job waits only for jobs of its own session.
 *   A job without a session_seq (accepted before this mechanism, or a router that could not
 *   number it) does not wait.
 */
#ifndef AGENTHUB_SESSION_ORDER_H
#define AGENTHUB_SESSION_ORDER_H

#include <stddef.h>

#include "envelope.h"
#include "httploop.h"
#include "pgpool.h"

enum session_order_outcome {
    SESSION_ORDER_READY = 0,   /* every earlier job of the session is terminal */
    SESSION_ORDER_TIMEOUT = 1, /* max_wait_ms passed first */
};

struct session_order;

/* Opens the LISTEN connection (dsn) and watches it on loop. max_wait_ms > 0. Returns 0, or
 * negative with err filled (the database cannot be reached). */
int session_order_new(struct session_order **out, const char *dsn, struct httploop *loop,
                      struct pgpool *db, long max_wait_ms, char *err, size_t errlen);
/* Cancels every wait (their callbacks are not called) and closes. NULL-safe. */
void session_order_free(struct session_order *so);

/* Router: the job's place in its session (kept if it has one already). Returns 1 numbered
 * (*seq set), 0 the job row is gone, or a negative pg_status. */
int session_order_assign(struct pgpool *db, const struct envelope *env, long *seq, char *err,
                         size_t errlen);

/* Calls cb(opaque, outcome) exactly once: at once (inside this call) when no earlier job of
 * env's session is unfinished, else from the loop when the last one becomes terminal or after
 * max_wait_ms. A database failure counts as ready (the order is then not guaranteed, which is
 * logged). *wait_id (may be NULL) identifies a pending wait for session_order_cancel(), 0 when
 * cb already ran. env must stay valid until cb runs. */
typedef void (*session_order_cb)(void *opaque, int outcome);
void session_order_wait(struct session_order *so, const struct envelope *env, session_order_cb cb,
                        void *opaque, long *wait_id);
/* Drops a pending wait without calling its callback (the job is released). */
void session_order_cancel(struct session_order *so, long wait_id);

/* Waits pending now (tests, metrics). */
size_t session_order_pending(const struct session_order *so);

#endif
