/* reply.h — what the agent makes of a model's answer when it is not a clean one (pure,
 * unit-tested in tests/unit/test_reply.c; used by agents/job.c).
 *
 * Tool calls: each call of a round is checked before anything runs. A call without a name, to
 * a tool that was not offered, with arguments that are not a JSON object, or with arguments
 * that fail the tool's input schema is not run: the model gets a tool message
 *   {"error": "...", "status": "invalid_call", "available_tools": ["name", ...]}
 * for it and another round (within max_tool_iterations; the last round offers no tools, so
 * the model must answer in text). Such a call is the model's mistake, not an outage: the
 * answer gets no "service unavailable" note.
 *
 * Final answers: an empty (or blank) answer, an answer cut at the token limit
 * (finish_reason "length"), and tool calls after the tools were used up each get a fallback
 * text (reply_text); the answer's metadata names it ("fallback").
 */
#ifndef AGENTHUB_REPLY_H
#define AGENTHUB_REPLY_H

#include <json-c/json.h>
#include <stddef.h>

#include "llm.h"
#include "tool.h"

enum reply_call {
    REPLY_CALL_OK = 0,
    REPLY_CALL_NO_NAME,      /* the call names no tool */
    REPLY_CALL_UNKNOWN_TOOL, /* a tool that was not offered */
    REPLY_CALL_BAD_JSON,     /* arguments not a JSON object (cut at the limit, prose, array) */
    REPLY_CALL_SCHEMA,       /* arguments fail the tool's input schema */
};

/* Checks one call against the tools offered. On anything but REPLY_CALL_OK, msg holds the
 * error for the model and the user (names the tool, never a URL or secret), as valid text
 * (utf8.h) cut between characters. */
enum reply_call reply_check_call(const struct tool_def *tools, size_t ntools, const char *name,
                                 const char *arguments, char *msg, size_t cap);
/* The tool message for an invalid call (JSON text, see above). malloc'd, NULL on OOM. */
char *reply_invalid_result(const struct tool_def *tools, size_t ntools, const char *msg);

enum reply_fallback {
    REPLY_ANSWER = 0,      /* a normal answer */
    REPLY_EMPTY,           /* no text at all (nor a usable tool call) */
    REPLY_TRUNCATED,       /* finish_reason "length" with some text */
    REPLY_TOOLS_EXHAUSTED, /* tool calls again when no more rounds (or no tools) were left */
};

/* How to treat resp as the final answer (it is final: tool calls can no longer run). */
enum reply_fallback reply_classify(const struct llm_response *resp);
/* The text to save and send: the content, the content with a note (truncated), or a fallback
 * sentence (empty; exhausted without text) in the language ("en" or "vi"). malloc'd. */
char *reply_text(enum reply_fallback f, const char *content, const char *language);
/* "answer", "empty_answer", "truncated", "tool_rounds_exhausted". */
const char *reply_fallback_name(enum reply_fallback f);

#endif
