/* rfc3339.h — the shapes of RFC 3339 dates and times an API accepts.
 *
 * PostgreSQL's timestamptz input takes far more ("tomorrow", "infinity", "Jan 1 2030", a time
 * without a zone read in the server's zone): an API that hands a client's text to it would
 * accept those silently. These check the text first.
 */
#ifndef AGENTHUB_RFC3339_H
#define AGENTHUB_RFC3339_H

/* 1 for "2030-01-31T12:00:00Z": a date, 'T' (or 't'), a time with optional fractions of a
 * second, then 'Z' (or 'z') or an offset "+07:00" / "-05:30". 0 otherwise. */
int rfc3339_datetime_valid(const char *s);
/* 1 for "2030-01-31" (a full-date: a day, no time), or for what rfc3339_datetime_valid takes. */
int rfc3339_date_or_datetime_valid(const char *s);

#endif
