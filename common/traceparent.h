/* traceparent.h — W3C Trace Context `traceparent` header: 00-<trace-id>-<parent-id>-<flags>. */
#ifndef AGENTHUB_TRACEPARENT_H
#define AGENTHUB_TRACEPARENT_H

#define TRACEPARENT_LEN 56 /* 55 characters + NUL */

struct traceparent {
    char trace_id[33];  /* 32 lowercase hex, not all zero */
    char parent_id[17]; /* 16 lowercase hex, not all zero */
    unsigned char flags;
};

/* Parses per the W3C spec (version 00; future versions parsed leniently). 0 or -1. */
int traceparent_parse(const char *s, struct traceparent *out);
void traceparent_format(const struct traceparent *tp, char out[TRACEPARENT_LEN]);
/* A new trace (random ids, sampled). */
int traceparent_new(struct traceparent *out);
/* Same trace, new random parent id: the span of this stage. */
int traceparent_child(const struct traceparent *parent, struct traceparent *out);

#endif
