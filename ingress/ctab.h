/* ctab.h — counters by key (tenant, tenant+user) with a cap, for fair-sharing what a request
 * holds while it runs (open streams, upload bytes).
 *
 * A fixed array of lock stripes, each a mutex and a short chain of {key, count}; an entry
 * exists only while its count is above zero, so the table holds no more entries than there
 * are requests holding something, and nothing is left at exit once every request ended.
 */
#ifndef AGENTHUB_INGRESS_CTAB_H
#define AGENTHUB_INGRESS_CTAB_H

#include <stddef.h>

struct ctab;

/* 0, or -ENOMEM. */
int ctab_new(struct ctab **out);
/* NULL-safe; frees any entries left. */
void ctab_free(struct ctab *t);

/* Adds n to key's count if the result stays <= cap (cap < 0: no cap). Returns 1 when added,
 * 0 at the cap (nothing added), -ENOMEM. */
int ctab_take(struct ctab *t, const char *key, long n, long cap);
/* Takes back n that ctab_take added; the entry goes when its count reaches 0. */
void ctab_put(struct ctab *t, const char *key, long n);
/* key's count now (0 when absent). */
long ctab_get(struct ctab *t, const char *key);

#endif
