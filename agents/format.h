/* format.h — the agent's output formats (seed: OutputFormatter; output_formats.format_type):
 *   text      plain text: Markdown emphasis, headings and code fences removed
 *   markdown  the model's answer as is
 *   json      {"answer": "...", "data": <the last tool result or null>} as text
 *   table     the answer, then the last tool result as a Markdown table
 * Pure functions; unit-tested.
 */
#ifndef AGENTHUB_FORMAT_H
#define AGENTHUB_FORMAT_H

#include <json-c/json.h>

/* What the system prompt tells the model about the format ("en" or "vi" answers). */
const char *format_instructions(const char *format_type);
/* The formatted answer; data (borrowed, may be NULL) is the last successful tool result.
 * An unknown or NULL format_type is treated as markdown. malloc'd, NULL on OOM. */
char *format_output(const char *format_type, const char *content, json_object *data);

#endif
