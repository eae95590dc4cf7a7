/* commands.h — agenthubctl subcommands and the helpers they share.
 *
 * Each subcommand lives in its own cli/<name>.c and registers itself with one line at file
 * scope; main.c never needs editing:
 *
 *     static int kb_run(int argc, char **argv);
 *     CLI_COMMAND(kb, "kb add --tenant T FILE...", "Add documents to a knowledge base", kb_run);
 *
 * run() gets the arguments after "agenthubctl", so argv[0] is the command name and getopt
 * can be used as in a main() (call cli_getopt_reset() first). It returns an exit status:
 * CLI_EXIT_OK, CLI_EXIT_FAIL for a runtime failure (message on stderr), CLI_EXIT_USAGE for bad
 * usage (cli_usage_error prints the message and the command's usage). `agenthubctl CMD
 * --help` prints the usage line itself when run() sees -h/--help and calls cli_help().
 * Secrets (keys, tokens, the database URL) are never printed, except the generated key or
 * token that is the output a command exists for.
 */
#ifndef AGENTHUB_CLI_COMMANDS_H
#define AGENTHUB_CLI_COMMANDS_H

#include <stddef.h>

enum cli_exit { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

struct cli_command {
    const char *name;    /* the word after agenthubctl */
    const char *usage;   /* arguments, e.g. "fernet encrypt|decrypt [--ttl S]" */
    const char *summary; /* one line for the command list */
    int (*run)(int argc, char **argv);
    struct cli_command *next; /* registry link, filled by cli_register */
};

/* Adds cmd to the registry (called from the constructors CLI_COMMAND generates). */
void cli_register(struct cli_command *cmd);

#define CLI_COMMAND(id, usage_text, summary_text, fn)                                              \
    static struct cli_command cli_cmd_##id = {#id, usage_text, summary_text, fn, NULL};            \
    __attribute__((constructor)) static void cli_cmd_register_##id(void)                           \
    {                                                                                              \
        cli_register(&cli_cmd_##id);                                                               \
    }

/* Prints "agenthubctl NAME: message" and "usage: agenthubctl USAGE" on stderr; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "agenthubctl NAME: message" on stderr; returns CLI_EXIT_FAIL. */
int cli_fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the command's usage on stdout; returns CLI_EXIT_OK. */
int cli_help(const char *name, const char *details);
/* Resets getopt state so a command can parse its own argv. */
void cli_getopt_reset(void);
/* Reads all of fd into a malloc'd NUL-terminated buffer (at most max bytes). 0, or -1 with
 * errno set (EFBIG when larger than max). */
int cli_read_all(int fd, size_t max, char **out, size_t *len);
/* Parses a decimal long in [min, max]. 0 or -1. */
int cli_parse_long(const char *s, long min, long max, long *out);
struct pgpool;
/* 0 when the tenant has a row; otherwise prints "no such tenant" (or the database's error)
 * for command name and returns CLI_EXIT_FAIL. */
int cli_tenant_check(const char *name, struct pgpool *db, const char *tenant);

#endif
