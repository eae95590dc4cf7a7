/* passmemo.h — what one intake pass of a stage has already read.
 *
 * A stage takes up to 256 messages in one pass of its loop, and each job's start asks Redis
 * and PostgreSQL the same questions: is the tenant active, which agents may it use, the agent's
 * config and tools, the tenant's LLM config. Each is a synchronous round trip on the loop's one
 * thread. Between passmemo_begin() and passmemo_end() (stage_run brackets its intake with
 * them) an answer is read once and then served from here: rcache_get() and
 * pipeline_tenant_active() consult it. A write through rcache (SET, DEL, a pattern delete)
 * forgets everything. An answer is at most one pass old, which is no staler than a job that
 * started a moment earlier.
 *
 * Thread-local: only the thread that began the pass sees it, so other threads of the process
 * (the ingress's request threads) read Redis as before. */
#ifndef AGENTHUB_PASSMEMO_H
#define AGENTHUB_PASSMEMO_H

#include <stddef.h>

void passmemo_begin(void);
void passmemo_end(void);
/* The open pass's number on this thread (never 0), or 0 outside a pass: what is remembered
 * elsewhere for one pass (startfacts.h) is tagged with it. */
unsigned long passmemo_pass(void);
/* 1 and the remembered answer: *status (the caller's code, e.g. RC_OK or RC_MISS) and *val, a
 * malloc'd NUL-terminated copy (NULL when none was remembered, or no memory: then 0); 0 when
 * not remembered or no pass is open. */
int passmemo_get(const char *key, int *status, char **val, size_t *len);
/* Remembers an answer (val may be NULL). Ignored outside a pass or when the memo is full. */
void passmemo_put(const char *key, int status, const char *val, size_t len);
/* A write happened: forget every answer; the pass stays open. */
void passmemo_forget(void);

#endif
