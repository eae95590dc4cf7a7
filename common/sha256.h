/* sha256.h — SHA-256 of a buffer as 64 lowercase hex digits (OpenSSL's EVP). */
#ifndef AGENTHUB_SHA256_H
#define AGENTHUB_SHA256_H

#include <stddef.h>

/* out: 64 hex digits and a NUL. */
void sha256_hex(const void *data, size_t len, char out[65]);

#endif
