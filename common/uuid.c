/* uuid.c — v4 UUIDs from the kernel CSPRNG (see uuid.h). */
#include "uuid.h"

#include <stdio.h>

#include "csprng.h"

int uuid_v4(char out[UUID_STR_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    size_t i, o = 0;

    if (csprng_fill(b, sizeof(b)) != 0) {
        out[0] = '\0';
        return -1;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
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
