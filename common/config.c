/* config.c — see config.h. */
#include "config.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The next password inside a connection string at or after s: the userinfo's after
 * "scheme://user:" (before the '@'), or the value of a "password=" (a URI's query parameter or
 * a libpq keyword string; sslpassword too). Returns its start and sets *len, or NULL. */
static const char *next_password(const char *s, size_t *len)
{
    const char *best = NULL;
    const char *scheme = strstr(s, "://");
    if (scheme) {
        const char *auth = scheme + 3;
        size_t span = strcspn(auth, "/?#@");
        const char *colon = memchr(auth, ':', span);
        if (auth[span] == '@' && colon) {
            best = colon + 1;
            *len = (size_t)(auth + span - best);
        }
    }
    const char *kw = strstr(s, "password=");
    if (kw && (!best || kw + 9 < best)) {
        best = kw + 9;
        *len = strcspn(best, "& \t");
    }
    return best;
}

/* v with every password replaced by "***", into out. */
static void redact(const char *v, char *out, size_t cap)
{
    size_t o = 0, len;
    const char *pw;
    while (*v && (pw = next_password(v, &len)) != NULL) {
        o += (size_t)snprintf(out + (o < cap ? o : cap), o < cap ? cap - o : 0, "%.*s***",
                              (int)(pw - v), v);
        v = pw + len;
    }
    snprintf(out + (o < cap ? o : cap), o < cap ? cap - o : 0, "%s", v);
}

/* Registers the passwords inside v with the log's secret masking. */
static void add_password_secrets(const char *v)
{
    size_t len;
    const char *pw;
    while (*v && (pw = next_password(v, &len)) != NULL) {
        char *copy = strndup(pw, len);
        log_add_secret(copy);
        free(copy);
        v = pw + len;
    }
}

static int parse_bool(const char *s, int *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int load_one(const struct config_entry *e, FILE *errs)
{
    const char *v = getenv(e->name);
    if (v && !*v && e->type != CONFIG_STRING)
        v = NULL;
    if (!v)
        v = e->def;
    if (!v) {
        if (e->flags & CONFIG_REQUIRED) {
            fprintf(errs, "config: %s is required (%s)\n", e->name, e->help);
            return 1;
        }
        if (e->type == CONFIG_STRING) {
            free(*(char **)e->target);
            *(char **)e->target = NULL;
        }
        return 0;
    }
    switch (e->type) {
    case CONFIG_STRING: {
        if ((e->flags & CONFIG_REQUIRED) && !*v) {
            fprintf(errs, "config: %s is required (%s)\n", e->name, e->help);
            return 1;
        }
        char *copy = strdup(v);
        if (!copy) {
            fprintf(errs, "config: %s: out of memory\n", e->name);
            return 1;
        }
        free(*(char **)e->target); /* a reload replaces the previous value */
        *(char **)e->target = copy;
        if (e->flags & CONFIG_SECRET)
            log_add_secret(copy);
        else
            add_password_secrets(copy);
        return 0;
    }
    case CONFIG_INT: {
        char *end = NULL;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || end == v || *end) {
            fprintf(errs, "config: %s: '%s' is not a whole number\n", e->name,
                    (e->flags & CONFIG_SECRET) ? "***" : v);
            return 1;
        }
        if ((e->min || e->max) && (n < e->min || n > e->max)) {
            fprintf(errs, "config: %s: %ld is outside %ld..%ld\n", e->name, n, e->min, e->max);
            return 1;
        }
        *(long *)e->target = n;
        return 0;
    }
    case CONFIG_BOOL:
        if (parse_bool(v, (int *)e->target) < 0) {
            fprintf(errs, "config: %s: '%s' is not a boolean (true/false)\n", e->name, v);
            return 1;
        }
        return 0;
    }
    return 1;
}

int config_load(const struct config_entry *table, size_t n, FILE *errs)
{
    int nerr = 0;
    for (size_t i = 0; i < n; i++)
        nerr += load_one(&table[i], errs);
    return nerr;
}

void config_free(const struct config_entry *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].type == CONFIG_STRING) {
            free(*(char **)table[i].target);
            *(char **)table[i].target = NULL;
        }
    }
}

void config_print(const struct config_entry *table, size_t n, FILE *out)
{
    for (size_t i = 0; i < n; i++) {
        const struct config_entry *e = &table[i];
        switch (e->type) {
        case CONFIG_STRING: {
            const char *s = *(char **)e->target;
            if (e->flags & CONFIG_SECRET) {
                fprintf(out, "%s=%s\n", e->name, (s && *s) ? "***" : "(unset)");
            } else {
                /* A URL's password is masked, the rest shown (host, port, database). */
                size_t cap = 2 * (s ? strlen(s) : 0) + 8; /* "***" may be longer */
                char *shown = malloc(cap);
                if (shown)
                    redact(s ? s : "", shown, cap);
                fprintf(out, "%s=%s\n", e->name, shown ? shown : "***");
                free(shown);
            }
            break;
        }
        case CONFIG_INT:
            fprintf(out, "%s=%ld\n", e->name, *(long *)e->target);
            break;
        case CONFIG_BOOL:
            fprintf(out, "%s=%s\n", e->name, *(int *)e->target ? "true" : "false");
            break;
        }
    }
}

static void print_help(const char *program, const char *args, const struct config_entry *table,
                       size_t n)
{
    printf("usage: %s [--print-config] [--help]%s%s\n\nSettings (environment):\n", program,
           *args ? " " : "", args);
    for (size_t i = 0; i < n; i++) {
        const struct config_entry *e = &table[i];
        printf("  %-28s %s", e->name, e->help);
        if (e->flags & CONFIG_REQUIRED)
            printf(" (required)");
        else if (e->def && *e->def && !(e->flags & CONFIG_SECRET))
            printf(" (default: %s)", e->def);
        if (e->type == CONFIG_INT && (e->min || e->max))
            printf(" [%ld..%ld]", e->min, e->max);
        printf("\n");
    }
}

int config_main(int argc, char **argv, const char *program, const struct config_entry *table,
                size_t n)
{
    return config_main_args(argc, argv, program, "", table, n);
}

int config_main_args(int argc, char **argv, const char *program, const char *args,
                     const struct config_entry *table, size_t n)
{
    int print = 0, i = 1;
    while (i < argc && strcmp(argv[i], "--print-config") == 0)
        i++; /* the binary's own arguments start after these */
    /* --help and --print-config count anywhere, also after the binary's own arguments */
    for (int j = 1; j < argc; j++) {
        if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
            print_help(program, args, table, n);
            exit(0);
        }
        if (strcmp(argv[j], "--print-config") == 0)
            print = 1;
    }
    int nerr = config_load(table, n, stderr);
    if (nerr) {
        fprintf(stderr, "%s: %d configuration error%s; see --help\n", program, nerr,
                nerr == 1 ? "" : "s");
        exit(2);
    }
    if (print) {
        config_print(table, n, stdout);
        exit(0);
    }
    return i;
}
