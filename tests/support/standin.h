/* standin.h — starting and stopping helper processes (the stand-in servers) from C tests and
 * benchmarks.
 *
 * Header-only on purpose: every tests/unit, tests/integration and tests/bench program is built
 * from one .c file, so these are static inline functions each program compiles in (and an
 * unused one costs nothing and warns nothing). Include it as "tests/support/standin.h". */
#ifndef AGENTHUB_TESTS_STANDIN_H
#define AGENTHUB_TESTS_STANDIN_H

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* This program's path with its last `up` components cut off, into out ("" if unknown).
 * <build>/tests/unit/test_x with up = 3 is <build>. */
static inline void standin_exe_up(char *out, size_t cap, int up)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
    for (int i = 0; i < up; i++) {
        char *s = strrchr(self, '/');
        if (s)
            *s = 0;
    }
    if (snprintf(out, cap, "%s", self) < 0 && cap > 0)
        out[0] = 0;
}

/* The bin/ of the build this test binary belongs to (<build>/tests/<kind>/test_x). */
static inline void standin_build_bin_dir(char *out, size_t cap)
{
    char build[PATH_MAX];
    standin_exe_up(build, sizeof build, 3);
    if (snprintf(out, cap, "%.*s/bin", (int)(cap > 8 ? cap - 8 : 0), build) < 0 && cap > 0)
        out[0] = 0;
}

/* $AGENTHUB_BIN (the flavour under test, set by tests/run.sh), else this build's bin/. */
static inline void standin_bin_dir(char *out, size_t cap)
{
    const char *b = getenv("AGENTHUB_BIN");
    if (b && *b)
        snprintf(out, cap, "%s", b);
    else
        standin_build_bin_dir(out, cap);
}

/* A loopback TCP port that was free a moment ago. */
static inline int standin_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

/* Forks and execs bin with listen_var=listen and LOG_LEVEL=warn in its environment. The child's
 * pid (-1 if fork failed); a child that cannot exec exits 127. */
static inline pid_t standin_spawn(const char *bin, const char *listen_var, const char *listen)
{
    pid_t pid = fork();
    if (pid == 0) {
        setenv(listen_var, listen, 1);
        setenv("LOG_LEVEL", "warn", 1);
        execl(bin, bin, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits until 127.0.0.1:port accepts a connection, trying `tries` times 20 ms apart. 0 or -1. */
static inline int standin_wait_port(int port, int tries)
{
    for (int i = 0; i < tries; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return 0;
        usleep(20000);
    }
    return -1;
}

/* Starts the LLM stand-in at bin on a free loopback port (into *port) and waits until it
 * answers (`tries` x 20 ms). 0, or -1 (the child, if any, is left in *pid for standin_stop). */
static inline int standin_llm_start(const char *bin, pid_t *pid, int *port, int tries)
{
    char listen[64];
    *port = standin_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", *port);
    *pid = standin_spawn(bin, "STANDIN_LLM_LISTEN", listen);
    if (*pid < 0)
        return -1;
    return standin_wait_port(*port, tries);
}

/* SIGTERM and reap; pid <= 0 is ignored. */
static inline void standin_stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

#endif
