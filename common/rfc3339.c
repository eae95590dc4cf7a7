/* rfc3339.c — see rfc3339.h. */
#include "rfc3339.h"

#include <string.h>

static int digit(char c)
{
    return c >= '0' && c <= '9';
}

/* s against a shape of 'd' (a digit), 'T' (T or t) and literal characters; the length of the
 * shape matched, or 0. Month and day ranges are left to the database. */
static size_t shape(const char *s, const char *pattern)
{
    size_t i = 0;
    for (; pattern[i]; i++) {
        char p = pattern[i], c = s[i];
        int ok = p == 'd' ? digit(c) : p == 'T' ? (c == 'T' || c == 't') : c == p;
        if (!ok)
            return 0;
    }
    return i;
}

int rfc3339_datetime_valid(const char *s)
{
    size_t n = s ? shape(s, "dddd-dd-ddTdd:dd:dd") : 0;
    if (!n)
        return 0;
    s += n;
    if (*s == '.') {
        if (!digit(*++s))
            return 0;
        while (digit(*s))
            s++;
    }
    if ((*s == 'Z' || *s == 'z') && s[1] == '\0')
        return 1;
    return (*s == '+' || *s == '-') && shape(s + 1, "dd:dd") && s[6] == '\0';
}

int rfc3339_date_or_datetime_valid(const char *s)
{
    if (s && shape(s, "dddd-dd-dd") && s[10] == '\0')
        return 1;
    return rfc3339_datetime_valid(s);
}
