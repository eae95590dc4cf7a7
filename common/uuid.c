/* uuid.c — v4 and v7 UUIDs from the kernel CSPRNG (see uuid.h). */
#include "uuid.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "csprng.h"

static void uuid_format(const unsigned char b[16], char out[UUID_STR_LEN])
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

int uuid_v4(char out[UUID_STR_LEN])
{
    unsigned char b[16];

    if (csprng_fill(b, sizeof(b)) != 0) {
        out[0] = '\0';
        return -1;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    uuid_format(b, out);
    return 0;
}

int uuid_v7(char out[UUID_STR_LEN])
{
    unsigned char b[16];
    struct timespec ts;

    if (csprng_fill(b + 6, sizeof(b) - 6) != 0 || clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        out[0] = '\0';
        return -1;
    }
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i)); /* big-endian 48-bit timestamp */
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x70);   /* version 7 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* RFC 9562 variant */
    uuid_format(b, out);
    return 0;
}

static int uuid_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int uuid_valid(const char *s)
{
    int i;
    if (!s)
        return 0;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!uuid_is_hex(s[i])) {
            return 0; /* also stops at a NUL before 36 characters */
        }
    }
    return s[36] == '\0';
}
