/* passmemo.c — see passmemo.h. A small array searched linearly: a pass sees a few tenants. */
#include "passmemo.h"

#include <stdlib.h>
#include <string.h>

enum { MEMO_MAX = 128 };

struct memo_entry {
    char *key;
    char *val; /* NULL: no value (a miss) */
    size_t len;
    int status;
};

static _Thread_local struct memo_entry memo[MEMO_MAX];
static _Thread_local int nmemo;
static _Thread_local int open_pass;
static _Thread_local unsigned long pass_no; /* passes begun on this thread */

void passmemo_forget(void)
{
    for (int i = 0; i < nmemo; i++) {
        free(memo[i].key);
        free(memo[i].val);
    }
    nmemo = 0;
}

void passmemo_begin(void)
{
    passmemo_forget();
    open_pass = 1;
    pass_no++;
}

unsigned long passmemo_pass(void)
{
    return open_pass ? pass_no : 0;
}

void passmemo_end(void)
{
    passmemo_forget();
    open_pass = 0;
}

int passmemo_get(const char *key, int *status, char **val, size_t *len)
{
    if (!open_pass || !key)
        return 0;
    for (int i = 0; i < nmemo; i++) {
        if (strcmp(memo[i].key, key) != 0)
            continue;
        char *copy = NULL;
        if (memo[i].val) {
            copy = malloc(memo[i].len + 1);
            if (!copy)
                return 0;
            memcpy(copy, memo[i].val, memo[i].len + 1);
        }
        *status = memo[i].status;
        if (val)
            *val = copy;
        else
            free(copy);
        if (len)
            *len = memo[i].len;
        return 1;
    }
    return 0;
}

void passmemo_put(const char *key, int status, const char *val, size_t len)
{
    if (!open_pass || !key || nmemo == MEMO_MAX)
        return;
    struct memo_entry e = {.key = strdup(key), .len = val ? len : 0, .status = status};
    if (!e.key)
        return;
    if (val) {
        e.val = malloc(len + 1);
        if (!e.val) {
            free(e.key);
            return;
        }
        memcpy(e.val, val, len);
        e.val[len] = '\0';
    }
    memo[nmemo++] = e;
}
