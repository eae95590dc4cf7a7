/* uuid.h — random (v4) and time-ordered (v7) UUIDs from the OS CSPRNG, and syntax checks. */
#ifndef AGENTHUB_UUID_H
#define AGENTHUB_UUID_H

#define UUID_STR_LEN 37 /* 36 characters + NUL */

/* Writes a lowercase v4 UUID into out. Returns 0, or -1 if the OS gives no randomness. */
int uuid_v4(char out[UUID_STR_LEN]);
/* Writes a lowercase v7 UUID (RFC 9562): 48 bits of Unix time in ms, then 74 random bits. Ids
 * made one after another sort by time, so a btree index on them takes each new one at its
 * right edge instead of on a random leaf. Returns 0, or -1 if the OS gives no randomness. */
int uuid_v7(char out[UUID_STR_LEN]);
/* 1 if s is a UUID in 8-4-4-4-12 hex form (any version, either case), else 0. */
int uuid_valid(const char *s);

#endif
