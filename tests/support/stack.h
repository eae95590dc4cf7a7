/* stack.h — driving the local stack (compose/local/stack) from C integration tests, for the
 * fault tests that stop and start a service under a live client.
 *
 * Header-only (static inline) because every test program is built from one .c file. Include
 * it as "tests/support/stack.h". The command can be overridden with AGENTHUB_STACK (default
 * compose/local/stack, run from the repository root: the cwd under tests/run.sh). */
#ifndef AGENTHUB_TESTS_STACK_H
#define AGENTHUB_TESTS_STACK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline const char *stack_cmd(void)
{
    const char *s = getenv("AGENTHUB_STACK");
    return s && *s ? s : "compose/local/stack";
}

/* `stack VERB SERVICE` (e.g. "stop", "postgres"), output discarded; system()'s status. */
static inline int stack_run(const char *verb, const char *service)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s %s %s >/dev/null 2>&1", stack_cmd(), verb, service);
    return system(cmd);
}

/* Whether the stack command can be run (an executable, or a command line with arguments). */
static inline int stack_available(void)
{
    const char *s = stack_cmd();
    return access(s, X_OK) == 0 || strchr(s, ' ') != NULL;
}

#endif
