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

struct route_part {
    char agent[101];
    char *message; /* malloc'd */
};

struct route_decision {
    enum route_kind kind;
    char intent[64];
    struct route_part parts[ROUTE_MAX_PARTS]; /* ROUTE_AGENT: parts[0]; ROUTE_MULTI: nparts */
    size_t nparts;
};

/* The system prompt for agents (a JSON array of {"name","description"}). malloc'd. */
char *route_prompt(json_object *agents);
/* Parses the LLM's answer. Anything invalid -- not JSON, no "agent", an agent not in the list,
 * MULTI_INTENT without a valid part -- is UNCLEAR. A MULTI_INTENT with a single valid part is
 * routed like a normal answer. user_message is the part message when a part has none. */
void route_parse(const char *answer, json_object *agents, const char *user_message,
                 struct route_decision *out);
void route_decision_cleanup(struct route_decision *d);
/* The clarifying answer in the user's language ("en" or "vi"), listing what the agents can
 * help with. malloc'd. */
char *route_clarify(json_object *agents, const char *language);
/* "AgentDebt" -> "debt_query" (when the LLM gave no intent). */
void route_default_intent(const char *agent, char *buf, size_t cap);

#endif
