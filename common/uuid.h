/* uuid.h — random (v4) UUIDs from the OS CSPRNG, and syntax checks. */
#ifndef AGENTHUB_UUID_H
#define AGENTHUB_UUID_H

#define UUID_STR_LEN 37 /* 36 characters + NUL */

/* Writes a lowercase v4 UUID into out. Returns 0, or -1 if the OS gives no randomness. */
int uuid_v4(char out[UUID_STR_LEN]);
/* 1 if s is a UUID in 8-4-4-4-12 hex form (any version, either case), else 0. */
int uuid_valid(const char *s);

#endif
