/* startfacts.h — what one intake pass reads, in one round trip, of the jobs it starts.
 *
 * Each job's start used to ask PostgreSQL, one job after the other on the stage's loop
 * thread: is the job finished already, is its answer for this part saved (idempotency), and
 * which earlier job of its session is still unfinished (session_order.h); then, as its answer
 * began, its history (history.h). An agent's prefetch handler (stage.h) now asks that of every
 * job of the pass in two statements, and pipeline_job_state(), session_order_wait() and the
 * agent's history take the answers from here while the pass lasts (passmemo_pass()). Outside that
 * pass, or for a job the statement did not cover, they ask PostgreSQL as before; a failed statement
 * only means that.
 *
 * The answers are at most one pass old. A job that ends after the statement read it as
 * unfinished NOTIFYs its end later, so a job told to wait for it still hears of it
 * (session_order's recheck always asks PostgreSQL). Thread-local, like passmemo. */
#ifndef AGENTHUB_STARTFACTS_H
#define AGENTHUB_STARTFACTS_H

#include <stddef.h>

#include "envelope.h"
#include "pgpool.h"

/* Reads the facts of envs' jobs for the open pass (with_pred: also the session's earlier
 * unfinished job). 0, or a negative pg_status (then nothing is known). Outside a pass it
 * does nothing and returns 0.
 * With history_limit >= 0 a second statement (history_read()) moves the jobs that will begin
 * their answer in this pass to 'running' and reads their history: the jobs not finished,
 * with no saved answer, with no earlier unfinished job to wait for (with_pred), and for which
 * wants_history (if given) says 1. If it fails, each job reads its own. */
int startfacts_load(struct pgpool *db, const struct envelope *const *envs, size_t n, int with_pred,
                    long history_limit, int (*wants_history)(const struct envelope *env));
/* 1 when this pass read env's history (and moved the job to 'running'): its rows are
 * *first .. *first + *rows - 1 of *res (columns: job index, role, content), oldest first,
 * valid while the pass lasts; 0 otherwise. */
int startfacts_history(const struct envelope *env, PGresult **res, int *first, int *rows);
/* 1 and the job's status ("" when it has no jobs row) and whether part's answer is saved,
 * when this pass knows them; 0 otherwise. */
int startfacts_job_state(const struct envelope *env, int part, char *status, size_t cap,
                         int *has_answer);
/* 1 and pred (the latest earlier unfinished job of the session), 0 when this pass knows there
 * is none, -1 when it does not know. */
int startfacts_session_pred(const struct envelope *env, char pred[40]);
/* Forgets everything (tests; the next pass forgets on its own). */
void startfacts_clear(void);

#endif
