/* logline.h — what the log writes for one line, with its masking applied (tests that check a
 * secret never reaches a log line).
 *
 * Header-only (static inline), like stack.h. Include it as "tests/support/logline.h". */
#ifndef AGENTHUB_TESTS_LOGLINE_H
#define AGENTHUB_TESTS_LOGLINE_H

#include <stdio.h>
#include <string.h>

#include "log.h"

/* Logs text as one error line and puts what the log wrote into out (NUL-terminated). 0, or -1
 * when nothing could be captured. */
static inline int logline_capture(const char *text, char *out, size_t cap)
{
    FILE *tmp = tmpfile();
    if (!tmp || cap == 0)
        return -1;
    log_set_fd(fileno(tmp));
    log_msg(LOG_ERROR, NULL, "%s", text);
    log_set_fd(2);
    rewind(tmp);
    size_t n = fread(out, 1, cap - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return n > 0 ? 0 : -1;
}

#endif
