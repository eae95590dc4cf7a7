/* route.h — the supervisor's prompt and the parsing of its answer (pure, unit-tested).
 *
 * The prompt lists the tenant's agents as lines "- AgentName: description" and asks for strict
 * JSON: {"agent": "<AgentName>"} | {"agent": "UNCLEAR"} |
 * {"agent": "MULTI_INTENT", "parts": [{"agent": "<AgentName>", "message": "..."}, ...]}.
 */
#ifndef AGENTHUB_ROUTE_H
#define AGENTHUB_ROUTE_H

#include <json-c/json.h>
#include <stddef.h>

#define ROUTE_MAX_PARTS 5

enum route_kind { ROUTE_AGENT, ROUTE_UNCLEAR, ROUTE_MULTI };

/* How the decision was reached (route_parse). */
enum route_how {
    ROUTE_HOW_NONE = 0,    /* nothing usable: UNCLEAR */
    ROUTE_HOW_MODEL,       /* the model's JSON answer */
    ROUTE_HOW_ANSWER_NAME, /* fallback 1: the answer named one agent */
    ROUTE_HOW_KEYWORDS,    /* fallback 2: keyword routing on the user's message */
    ROUTE_HOW_REQUESTED,   /* the request named the agent (chat.request payload "agent") */
    ROUTE_HOW_ATTACHMENTS, /* the message carries documents: the tenant's document agent */
};

struct route_part {
    char agent[101];
    char *message; /* malloc'd */
};

struct route_decision {
    enum route_kind kind;
    char intent[64];
    struct route_part parts[ROUTE_MAX_PARTS]; /* ROUTE_AGENT: parts[0]; ROUTE_MULTI: nparts */
    size_t nparts;
    enum route_how how;
};
/* "model", "answer_name", "keywords", "requested", "attachments", "none". */
const char *route_how_name(enum route_how h);

/* The system prompt for agents (a JSON array of {"name","description"}). malloc'd. */
char *route_prompt(json_object *agents);
/* Parses the LLM's answer. A MULTI_INTENT with a single valid part is routed like a normal
 * answer. user_message is the part message when a part has none.
 *
 * When the answer is not a usable decision (not JSON, JSON without a string "agent", an agent
 * not in the list, MULTI_INTENT without a valid part -- small models answer prose or JSON of
 * their own shape), the fallbacks run in order:
 *   1. the answer names exactly one of the tenant's agents (e.g. "AgentDebt should handle
 *      this"): that agent (how = ROUTE_HOW_ANSWER_NAME);
 *   2. keyword routing: the words of user_message (ASCII-lowercased, 3+ bytes, a plural "s"
 *      dropped) against the words of each agent's name (without "Agent") and description;
 *      the single best score >= 1 wins (how = ROUTE_HOW_KEYWORDS), a tie routes nowhere;
 *   3. UNCLEAR (how = ROUTE_HOW_NONE).
 * An explicit {"agent": "UNCLEAR"} is taken as it is (how = ROUTE_HOW_MODEL): the model said
 * so. */
void route_parse(const char *answer, json_object *agents, const char *user_message,
                 struct route_decision *out);
void route_decision_cleanup(struct route_decision *d);
/* The request named its agent (POST /v1/chat/completions with model "agenthub/<Name>"): a
 * decision for that agent when it is one of `agents` (the tenant's enabled, permitted ones;
 * exact name), without asking the LLM. 0; 1 when the tenant may not use it (out->kind is
 * then ROUTE_UNCLEAR); -1 out of memory. */
int route_requested(const char *name, json_object *agents, const char *user_message,
                    struct route_decision *out);
/* The clarifying answer in the user's language ("en" or "vi"), listing what the agents can
 * help with. malloc'd. */
char *route_clarify(json_object *agents, const char *language);
/* "AgentDebt" -> "debt_query" (when the LLM gave no intent). */
void route_default_intent(const char *agent, char *buf, size_t cap);
/* Fallback 2 alone: the agent whose name and description share the most words with message,
 * or NULL (no word in common, or a tie). The pointer is into agents. */
const char *route_by_keywords(json_object *agents, const char *message);

#endif
