/* traceparent.c — W3C Trace Context traceparent (see traceparent.h).
 *
 * The rules of https://www.w3.org/TR/trace-context/#traceparent-header: lowercase hex only;
 * version "ff" is invalid; version 00 is exactly 55 characters; a higher version may carry
 * more fields after a '-', which are ignored; trace-id and parent-id must not be all zeros.
 */
#include "traceparent.h"

#include <string.h>

#include "csprng.h"

static const char tp_hex[] = "0123456789abcdef";

static int tp_lowerhex(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int tp_allzero(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (s[i] != '0')
            return 0;
    return 1;
}

static int tp_hexval(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

int traceparent_parse(const char *s, struct traceparent *out)
{
    size_t len;
    if (!s || !out)
        return -1;
    len = strlen(s);
    if (len < 55)
        return -1;
    if (!tp_lowerhex(s, 2) || s[2] != '-' || !tp_lowerhex(s + 3, 32) || s[35] != '-' ||
        !tp_lowerhex(s + 36, 16) || s[52] != '-' || !tp_lowerhex(s + 53, 2))
        return -1;
    if (s[0] == 'f' && s[1] == 'f')
        return -1;
    if (s[0] == '0' && s[1] == '0') {
        if (len != 55)
            return -1;
    } else if (len > 55 && s[55] != '-') {
        return -1; /* future versions: more fields may follow, after a dash */
    }
    if (tp_allzero(s + 3, 32) || tp_allzero(s + 36, 16))
        return -1;
    memcpy(out->trace_id, s + 3, 32);
    out->trace_id[32] = '\0';
    memcpy(out->parent_id, s + 36, 16);
    out->parent_id[16] = '\0';
    out->flags = (unsigned char)(tp_hexval(s[53]) << 4 | tp_hexval(s[54]));
    return 0;
}

void traceparent_format(const struct traceparent *tp, char out[TRACEPARENT_LEN])
{
    memcpy(out, "00-", 3);
    memcpy(out + 3, tp->trace_id, 32);
    out[35] = '-';
    memcpy(out + 36, tp->parent_id, 16);
    out[52] = '-';
    out[53] = tp_hex[tp->flags >> 4];
    out[54] = tp_hex[tp->flags & 15];
    out[55] = '\0';
}

/* Random lowercase hex of n/2 bytes, never all zeros. 0 or -1. */
static int tp_random_hex(char *out, size_t n)
{
    unsigned char b[16];
    size_t i;
    do {
        if (csprng_fill(b, n / 2) != 0)
            return -1;
        for (i = 0; i < n / 2; i++) {
            out[2 * i] = tp_hex[b[i] >> 4];
            out[2 * i + 1] = tp_hex[b[i] & 15];
        }
        out[n] = '\0';
    } while (tp_allzero(out, n));
    return 0;
}

int traceparent_new(struct traceparent *out)
{
    if (tp_random_hex(out->trace_id, 32) != 0 || tp_random_hex(out->parent_id, 16) != 0)
        return -1;
    out->flags = 0x01;
    return 0;
}

int traceparent_child(const struct traceparent *parent, struct traceparent *out)
{
    struct traceparent tmp = *parent; /* parent and out may be the same object */
    if (tp_random_hex(tmp.parent_id, 16) != 0)
        return -1;
    *out = tmp;
    return 0;
}
