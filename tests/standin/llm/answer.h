/* answer.h — the stand-in LLM's deterministic answers and the three wire formats.
 *
 * A request is reduced to what matters (system text, last user text, tools, tool results
 * after that user text), an answer is chosen (routing JSON, tool calls, a summary of tool
 * results, or an echo), and rendered as one body or as a list of SSE events. */
#ifndef STANDIN_ANSWER_H
#define STANDIN_ANSWER_H

#include <stddef.h>

/* A growable byte buffer, NUL-terminated once anything was added (used by both files). */
struct sbuf {
    char *p;
    size_t len, cap;
};
/* Appends n bytes of s. 0, or -1 when out of memory (b is unchanged then). */
int sbuf_add(struct sbuf *b, const char *s, size_t n);

enum wire { WIRE_OPENAI, WIRE_ANTHROPIC, WIRE_GEMINI };

struct rendered {
    int status;    /* HTTP status */
    char *body;    /* non-stream body (or error body) */
    char **events; /* stream: SSE event texts, each complete with its blank line */
    size_t nevents;
    const char *ctype;          /* content type */
    long retry_after_s;         /* > 0: a Retry-After header */
    long in_tokens, out_tokens; /* the usage this answer reports (chat answers) */
};

struct req_opts {
    int stream;
    int include_usage;
    int malformed; /* corrupt the answer */
};

/* Builds the answer to a chat request body. model is the request's model (for the echo). */
int answer_chat(enum wire w, const char *body, size_t len, const char *model,
                const struct req_opts *o, struct rendered *out);
/* /v1/embeddings (OpenAI) or :embedContent / :batchEmbedContents (Gemini). */
int answer_embed(enum wire w, const char *body, size_t len, const char *model, int batch,
                 struct rendered *out);
/* An error answer in the wire's format. kind: "auth", "rate", "server", "context", "bad". */
void answer_error(enum wire w, const char *kind, struct rendered *out);
void rendered_free(struct rendered *r);

/* Exposed for the stand-in's own unit test. */
char *answer_text_for(const char *system, const char *user); /* routing or echo, malloc'd */

#endif
