/* csprng.c — random bytes from getrandom(2) (see csprng.h). */
#include "csprng.h"

#include <errno.h>
#include <sys/random.h>
#include <sys/types.h>

int csprng_fill(void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(p + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}
