/* ctab.c — striped counters by key (ctab.h). */
#include "ctab.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CTAB_STRIPES 64

struct ctab_entry {
    struct ctab_entry *next;
    long n;
    char key[];
};

struct ctab_stripe {
    pthread_mutex_t lock;
    struct ctab_entry *head;
};

struct ctab {
    struct ctab_stripe s[CTAB_STRIPES];
};

static struct ctab_stripe *stripe_of(struct ctab *t, const char *key)
{
    unsigned h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &t->s[h % CTAB_STRIPES];
}

int ctab_new(struct ctab **out)
{
    struct ctab *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t)
        return -ENOMEM;
    for (int i = 0; i < CTAB_STRIPES; i++)
        pthread_mutex_init(&t->s[i].lock, NULL);
    *out = t;
    return 0;
}

void ctab_free(struct ctab *t)
{
    if (!t)
        return;
    for (int i = 0; i < CTAB_STRIPES; i++) {
        struct ctab_entry *e = t->s[i].head;
        while (e) {
            struct ctab_entry *next = e->next;
            free(e);
            e = next;
        }
        pthread_mutex_destroy(&t->s[i].lock);
    }
    free(t);
}

int ctab_take(struct ctab *t, const char *key, long n, long cap)
{
    struct ctab_stripe *s = stripe_of(t, key);
    struct ctab_entry *e;
    int rc = 1;
    pthread_mutex_lock(&s->lock);
    for (e = s->head; e && strcmp(e->key, key) != 0; e = e->next)
        ;
    long cur = e ? e->n : 0;
    if (cap >= 0 && cur + n > cap) {
        rc = 0;
        goto out;
    }
    if (!e) {
        size_t kl = strlen(key) + 1;
        e = malloc(sizeof *e + kl);
        if (!e) {
            rc = -ENOMEM;
            goto out;
        }
        memcpy(e->key, key, kl);
        e->n = 0;
        e->next = s->head;
        s->head = e;
    }
    e->n += n;
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void ctab_put(struct ctab *t, const char *key, long n)
{
    struct ctab_stripe *s = stripe_of(t, key);
    pthread_mutex_lock(&s->lock);
    struct ctab_entry **pp = &s->head;
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    if (*pp) {
        struct ctab_entry *e = *pp;
        e->n -= n;
        if (e->n <= 0) {
            *pp = e->next;
            free(e);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

long ctab_get(struct ctab *t, const char *key)
{
    struct ctab_stripe *s = stripe_of(t, key);
    long n = 0;
    pthread_mutex_lock(&s->lock);
    for (struct ctab_entry *e = s->head; e; e = e->next)
        if (strcmp(e->key, key) == 0) {
            n = e->n;
            break;
        }
    pthread_mutex_unlock(&s->lock);
    return n;
}
