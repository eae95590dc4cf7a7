/* csprng.h — random bytes from the kernel CSPRNG (getrandom(2)).
 *
 * The one place that reads getrandom: Fernet keys and IVs, UUIDs and trace ids all come
 * from here. */
#ifndef AGENTHUB_CSPRNG_H
#define AGENTHUB_CSPRNG_H

#include <stddef.h>

/* Fills buf with len random bytes, retrying on EINTR and short reads. 0, or -1 if the kernel
 * refused (errno set). */
int csprng_fill(void *buf, size_t len);

#endif
