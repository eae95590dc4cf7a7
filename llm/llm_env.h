/* llm_env.h — settings the LLM layer and the usage recorder read from the environment
 * themselves (llm/client.c, llm/openai.c, llm/usage.c), in every process that makes LLM calls
 * or records usage. Each such binary lists them in its config table with LLM_ENV_ENTRIES, so
 * that `--help` shows them and a bad value stops the start (exit 2) instead of being ignored;
 * the bounds and defaults here are the ones those modules apply.
 */
#ifndef AGENTHUB_LLM_ENV_H
#define AGENTHUB_LLM_ENV_H

#include "config.h"

struct llm_env_settings {
    long rate_window_s;
    int reuse_connections;
    long usage_metric_tenants;
    long usage_reconcile_s;
    char *public_url;
};

#define LLM_ENV_ENTRIES(s)                                                                         \
    {"LLM_RATE_WINDOW_S",                                                                          \
     CONFIG_INT,                                                                                   \
     "60",                                                                                         \
     1,                                                                                            \
     3600,                                                                                         \
     0,                                                                                            \
     "the window of a tenant's LLM requests-per-minute limit (seconds; tests shorten it)",         \
     &(s)->rate_window_s},                                                                         \
        {"LLM_REUSE_CONNECTIONS",                                                                  \
         CONFIG_BOOL,                                                                              \
         "true",                                                                                   \
         0,                                                                                        \
         0,                                                                                        \
         0,                                                                                        \
         "keep provider connections open between calls (false: a new TCP/TLS connection per "      \
         "call; README Benchmarks, agent CPU per job)",                                            \
         &(s)->reuse_connections},                                                                 \
        {"USAGE_METRIC_TENANTS",                                                                   \
         CONFIG_INT,                                                                               \
         "50",                                                                                     \
         0,                                                                                        \
         50,                                                                                       \
         0,                                                                                        \
         "tenants that get their own label on the usage metrics (the rest count as \"other\")",    \
         &(s)->usage_metric_tenants},                                                              \
        {"USAGE_RECONCILE_S",                                                                      \
         CONFIG_INT,                                                                               \
         "60",                                                                                     \
         1,                                                                                        \
         86400,                                                                                    \
         0,                                                                                        \
         "seconds between rewrites of lost Redis limit mirrors and month spends from PostgreSQL",  \
         &(s)->usage_reconcile_s},                                                                 \
    {                                                                                              \
        "AGENTHUB_PUBLIC_URL", CONFIG_STRING, "", 0, 0, 0,                                         \
            "this deployment's URL, sent to OpenRouter as HTTP-Referer (empty: "                   \
            "https://agenthub.local)",                                                             \
            &(s)->public_url                                                                       \
    }

#endif
