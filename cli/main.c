/* agenthubctl — operator tool: keys, tokens, Fernet secrets, migrations.
 *
 *   agenthubctl COMMAND [ARGS]     agenthubctl --help     agenthubctl COMMAND --help
 *
 * Commands register themselves (see commands.h); this file dispatches and holds the helpers.
 * Exit status: 0 ok, 1 runtime failure, 2 bad usage. `agenthubctl --print-config` shows the
 * environment settings the commands read (DATABASE_URL for migrate, FERNET_KEY for fernet),
 * secrets masked.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "pgpool.h"

static struct cli_command *cli_commands;

void cli_register(struct cli_command *cmd)
{
    /* Insert sorted by name, so the help lists commands alphabetically. */
    struct cli_command **p = &cli_commands;
    while (*p && strcmp((*p)->name, cmd->name) < 0)
        p = &(*p)->next;
    cmd->next = *p;
    *p = cmd;
}

static const struct cli_command *cli_find(const char *name)
{
    const struct cli_command *c;
    for (c = cli_commands; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static void cli_print_usage(FILE *f)
{
    const struct cli_command *c;
    fprintf(f, "usage: agenthubctl COMMAND [ARGS]\n\ncommands:\n");
    for (c = cli_commands; c; c = c->next)
        fprintf(f, "  %s\n      %s\n", c->usage, c->summary);
    fprintf(f,
            "\n'agenthubctl COMMAND --help' describes one command. Exit status: 0 ok, 1 failure, "
            "2 bad usage.\n"
            "'agenthubctl --print-config' shows the environment settings (secrets masked).\n");
}

int cli_usage_error(const char *name, const char *fmt, ...)
{
    const struct cli_command *c = cli_find(name);
    va_list ap;
    fprintf(stderr, "agenthubctl %s: ", name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: agenthubctl %s\n", c ? c->usage : name);
    return CLI_EXIT_USAGE;
}

int cli_fail(const char *name, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "agenthubctl %s: ", name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_FAIL;
}

int cli_help(const char *name, const char *details)
{
    const struct cli_command *c = cli_find(name);
    printf("usage: agenthubctl %s\n\n%s\n", c ? c->usage : name, c ? c->summary : "");
    if (details) /* a details text may or may not end its last line */
        printf("\n%s%s", details, *details && details[strlen(details) - 1] == '\n' ? "" : "\n");
    return CLI_EXIT_OK;
}

int cli_tenant_check(const char *name, struct pgpool *db, const char *tenant)
{
    PGresult *res = NULL;
    char err[256];
    const char *p[] = {tenant};
    int st =
        pgpool_exec(db, &res, "SELECT 1 FROM tenants WHERE tenant_id = $1", 1, p, err, sizeof err);
    int found = st == PG_OK && PQntuples(res) == 1;
    PQclear(res);
    if (found)
        return 0;
    return st == PG_OK ? cli_fail(name, "no such tenant: %s", tenant)
                       : cli_fail(name, "database: %s", err);
}

void cli_getopt_reset(void)
{
    optind = 0; /* glibc: 0 re-initializes getopt completely */
    opterr = 0; /* commands print their own messages */
}

int cli_read_all(int fd, size_t max, char **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap), *nb;
    ssize_t r;

    *out = NULL;
    if (!buf)
        return -1;
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max) {
                free(buf);
                errno = EFBIG;
                return -1;
            }
            nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            free(buf);
            errno = EFBIG;
            return -1;
        }
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

int cli_parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;
    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* The shared settings as every binary prints them; errors in them also exit 2. */
static int cli_print_config(void)
{
    struct config_common cc = {0};
    const struct config_entry table[] = {CONFIG_COMMON_ENTRIES(&cc)};
    size_t n = sizeof(table) / sizeof(table[0]);
    int errs = config_load(table, n, stderr);
    config_print(table, n, stdout);
    config_free(table, n);
    return errs ? CLI_EXIT_USAGE : CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    const struct cli_command *c;

    if (argc < 2) {
        cli_print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc > 2 && (c = cli_find(argv[2])) != NULL) {
            char *hargv[] = {argv[2], "--help", NULL};
            return c->run(2, hargv);
        }
        cli_print_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--print-config") == 0)
        return cli_print_config();
    c = cli_find(argv[1]);
    if (!c) {
        fprintf(stderr, "agenthubctl: unknown command \"%s\"\n\n", argv[1]);
        cli_print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    return c->run(argc - 1, argv + 1);
}
