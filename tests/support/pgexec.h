/* pgexec.h — one statement for a C integration test's setup and checks.
 *
 * Header-only (static inline), like stack.h: every test program is built from one .c file.
 * Include it as "tests/support/pgexec.h". */
#ifndef AGENTHUB_TESTS_PGEXEC_H
#define AGENTHUB_TESTS_PGEXEC_H

#include <stdio.h>

#include "pgpool.h"

/* Runs sql; the first row's first column into out (when out and a row). 0, or -1 with the
 * error on stderr. */
static inline int pgexec_first(struct pgpool *db, const char *sql, int n, const char *const *params,
                               char *out, size_t cap)
{
    PGresult *res = NULL;
    char err[256];
    int st = pgpool_exec(db, &res, sql, n, params, err, sizeof(err));
    if (st != PG_OK) {
        fprintf(stderr, "sql failed: %s\n", err);
        return -1;
    }
    if (out && PQntuples(res) > 0)
        snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

#endif
