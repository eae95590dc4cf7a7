/* kafka_topics.c — the topic settings table (kafka_topics.h). */
#include "kafka_topics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

#define DAY_MS (24LL * 3600 * 1000)

struct topic_row {
    const char *name; /* exact name, or a prefix when it ends in '.' */
    int partitions;
    int fixed_partitions; /* TOPIC_PARTITIONS does not apply */
    long long retention_ms;
};

static const struct topic_row topic_rows[] = {
    {KAFKA_TOPIC_CHAT_REQUESTS, 12, 0, 7 * DAY_MS}, {KAFKA_TOPIC_CHAT_EVENTS, 12, 0, 1 * DAY_MS},
    {KAFKA_TOPIC_DOCUMENTS, 12, 0, 7 * DAY_MS},     {KAFKA_TOPIC_DLQ, 3, 1, 30 * DAY_MS},
    {KAFKA_TOPIC_AGENT_PREFIX, 12, 0, 7 * DAY_MS},
};

const char *const KAFKA_TOPICS_BUILTIN[] = {KAFKA_TOPIC_CHAT_REQUESTS, KAFKA_TOPIC_CHAT_EVENTS,
                                            KAFKA_TOPIC_DOCUMENTS, KAFKA_TOPIC_DLQ};
const size_t KAFKA_TOPICS_BUILTIN_COUNT =
    sizeof KAFKA_TOPICS_BUILTIN / sizeof *KAFKA_TOPICS_BUILTIN;

/* An integer environment override in [lo, hi]: 1 if set and valid, 0 if unset (or "0", the
 * config tables' "the table's value"), -1 if bad. */
static int env_int(const char *name, long lo, long hi, int *out, char *err, size_t errlen)
{
    const char *v = getenv(name);
    if (!v || !*v || strcmp(v, "0") == 0)
        return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < lo || n > hi) {
        if (err && errlen)
            snprintf(err, errlen, "%s must be an integer from %ld to %ld", name, lo, hi);
        return -1;
    }
    *out = (int)n;
    return 1;
}

int kafka_topic_settings_for(const char *topic, struct kafka_topic_settings *out, char *err,
                             size_t errlen)
{
    const struct topic_row *row = &topic_rows[sizeof topic_rows / sizeof *topic_rows - 1];
    for (size_t i = 0; topic && i < sizeof topic_rows / sizeof *topic_rows; i++) {
        const struct topic_row *t = &topic_rows[i];
        size_t n = strlen(t->name);
        if (t->name[n - 1] == '.' ? strncmp(topic, t->name, n) == 0 : strcmp(topic, t->name) == 0) {
            row = t;
            break;
        }
    }
    out->partitions = row->partitions;
    out->retention_ms = row->retention_ms;
    out->replication = 1;
    if ((!row->fixed_partitions &&
         env_int("TOPIC_PARTITIONS", 1, 10000, &out->partitions, err, errlen) < 0) ||
        env_int("TOPIC_REPLICATION", 1, 16, &out->replication, err, errlen) < 0)
        return -EINVAL;
    out->min_isr = out->replication >= 3 ? 2 : 1;
    if (env_int("TOPIC_MIN_ISR", 1, out->replication, &out->min_isr, err, errlen) < 0)
        return -EINVAL;
    return 0;
}
