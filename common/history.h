/* history.h — a job's earlier turns of its session, read as its answer begins.
 *
 * One statement for one job or for every job of an intake pass (startfacts.h): it moves each
 * job to 'running' (from queued or routed only) and returns, per job, its session's last
 * `limit` user and assistant messages before it, oldest first. "Before" means user messages
 * before the job's own user message, and answers of jobs created before this job: an answer
 * can be written after this job's user message when two messages of a session are sent back
 * to back, and it belongs before the new question (per-session ordering makes this job wait
 * for it). */
#ifndef AGENTHUB_HISTORY_H
#define AGENTHUB_HISTORY_H

#include <stddef.h>

#include "envelope.h"
#include "pgpool.h"

/* Rows (job: 1-based index into envs, role, content), by job, then oldest first. limit 0:
 * only the move to 'running'. PG_OK with *out to PQclear(), or a negative pg_status with err
 * filled. */
int history_read(struct pgpool *db, const struct envelope *const *envs, size_t n, long limit,
                 PGresult **out, char *err, size_t errlen);

#endif
