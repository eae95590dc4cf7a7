/* json_number.c — numbers in JSON as people write them (json_number.h). */
#include "json_number.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Drops a fraction's trailing zeros in place, keeping one digit after the point; text with an
 * exponent or without a point is left as it is. */
static void trim_fraction(char *t)
{
    char *dot = strchr(t, '.');
    if (!dot || strpbrk(t, "eE"))
        return;
    size_t n = strlen(t);
    while (n > (size_t)(dot - t) + 2 && t[n - 1] == '0')
        t[--n] = '\0';
}

/* text (n bytes, in a buffer of cap) with ".0" after it when it has no point or exponent,
 * then its fraction's trailing zeros dropped; made a double with that text. */
static json_object *number_with_text(double v, char *text, size_t n, size_t cap)
{
    if (!strpbrk(text, ".eE") && n + 3 <= cap)
        memcpy(text + n, ".0", 3); /* still a double to whoever parses it */
    trim_fraction(text);
    return json_object_new_double_s(v, text);
}

json_object *json_decimal(double v, int decimals)
{
    if (!isfinite(v))
        return NULL;
    if (decimals < 0)
        decimals = 0;
    if (decimals > 15)
        decimals = 15;
    char text[400]; /* DBL_MAX with 15 decimals fits */
    int n = snprintf(text, sizeof text, "%.*f", decimals, v);
    if (n < 0 || (size_t)n >= sizeof text)
        return json_object_new_double(v);
    if (text[0] == '-' && strspn(text + 1, "0.") == (size_t)n - 1)
        memmove(text, text + 1, (size_t)n--); /* zero after rounding: not "-0.0" */
    return number_with_text(strtod(text, NULL), text, (size_t)n, sizeof text);
}

int json_decimal_fits(double v, int decimals)
{
    if (!isfinite(v) || decimals < 0 || decimals > 15)
        return 0;
    double scale = pow(10.0, decimals), r = round(v * scale) / scale;
    return fabs(r - v) <= 1e-9 * fmax(1.0, fabs(v));
}

json_object *json_number_text(const char *text)
{
    if (!text || !*text)
        return NULL;
    char *end;
    double v = strtod(text, &end);
    if (*end != '\0' || end == text || !isfinite(v))
        return NULL;
    char buf[128];
    size_t n = strlen(text);
    if (n + 3 > sizeof buf) /* numeric can be long: the value, written by json-c */
        return json_object_new_double(v);
    memcpy(buf, text, n + 1);
    return number_with_text(v, buf, n, sizeof buf);
}

int json_number_form_ok(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return 0;
    if (*s == '.') {
        if (!(*++s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

int json_number_text_ok(json_object *o)
{
    if (!json_object_is_type(o, json_type_double))
        return 1;
    /* The text json_object_new_double_s() keeps (the tokener makes every double so) is its
     * userdata, as json-c documents; without one, json-c writes a finite double as JSON. */
    const char *written = json_object_get_userdata(o);
    return !written || json_number_form_ok(written);
}

int json_number_fix_text(json_object *o)
{
    if (json_number_text_ok(o))
        return 0;
    double v = json_object_get_double(o);
    if (!isfinite(v))
        return 0;
    char text[40];
    int prec = 1;
    for (; prec < 17; prec++) { /* %.17g always reads back as v */
        snprintf(text, sizeof text - 2, "%.*g", prec, v);
        if (strtod(text, NULL) == v)
            break;
    }
    double mag = fabs(v);
    if (mag >= 1 && mag < 1e17 && prec < (int)log10(mag) + 1) /* 100000.0, not 1e+05 */
        prec = (int)log10(mag) + 1;
    snprintf(text, sizeof text - 2, "%.*g", prec, v);
    if (!strpbrk(text, ".eE"))
        memcpy(text + strlen(text), ".0", 3); /* still a double to whoever reads it; room kept */
    char *keep = strdup(text);
    if (!keep)
        return -1;
    json_object_set_serializer(o, json_object_userdata_to_json_string, keep,
                               json_object_free_userdata);
    return 1;
}
