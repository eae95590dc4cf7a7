/* fuzz_check.h — the fuzz targets' one check. A target defines FUZZ_TARGET (its name) first.
 * A broken invariant prints "<target>: <what>" and aborts: tests/run.sh puts that line at the
 * top of a failure's report, before the input's Base64. */
#ifndef AGENTHUB_FUZZ_CHECK_H
#define AGENTHUB_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static void fuzz_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "%s: %s\n", FUZZ_TARGET, what);
        abort();
    }
}

#endif
