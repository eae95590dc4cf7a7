/* agent.h — the domain-agent stage (agenthub-agent): shared state of main.c and job.c. */
#ifndef AGENTHUB_AGENT_H
#define AGENTHUB_AGENT_H

#include "httploop.h"
#include "llm.h"
#include "pipeline.h"
#include "stage.h"
#include "tool_token.h"

struct session_order;

struct agent_svc {
    struct pipeline pl;
    struct httploop *loop;
    struct llm_client *llm;
    struct stage *stage;
    const char *fernet_key;
    const char *tool_secret_key; /* FERNET_PURPOSE_TOOL_SECRET key; NULL without FERNET_KEY */
    const char *chroma_url;
    const char *allowed_hosts;
    struct tool_token_key *tool_key; /* TOOL_TOKEN_KEY_FILE, or NULL (tool_token.h) */
    long max_tool_iterations;
    long attachment_max_chars; /* AGENT_ATTACHMENT_MAX_CHARS: attached document text per job */
    long history_messages;
    long user_token_ttl_s;
    long llm_timeout_ms;         /* > 0: overrides the tenant config's */
    long llm_max_retries;        /* >= 0: overrides the tenant config's */
    struct session_order *order; /* NULL: no waiting (SESSION_ORDER_WAIT_MS 0) */
};

/* stage handlers */
void agent_job_start(void *opaque, struct stage_job *job);
int agent_job_validate(void *opaque, const struct envelope *env, char *err, size_t errlen);
/* Reads, in one round trip, what the pass's job starts ask of each job (startfacts.h). */
void agent_jobs_prefetch(void *opaque, const struct envelope *const *envs, size_t n);

#endif
