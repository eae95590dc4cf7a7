/* config.h — settings from the environment, one table per binary.
 *
 * A binary declares a table of struct config_entry (env name, type, default, bounds, secret
 * flag, help, target). config_main() loads it: every invalid or missing value is reported
 * (all of them, not just the first), then the process exits with status 2. `--print-config`
 * prints the effective settings with secrets masked and exits 0; `--help` lists the table.
 *
 * Secrets that load successfully are registered with log_add_secret() so they can never
 * reach a log line.
 */
#ifndef AGENTHUB_CONFIG_H
#define AGENTHUB_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum config_type {
    CONFIG_STRING, /* target: char ** (NULL or heap; replaced by a heap copy, see config_free) */
    CONFIG_INT,    /* target: long *  (min..max checked) */
    CONFIG_BOOL,   /* target: int *   (1/0, true/false, yes/no, on/off) */
};

enum config_flags {
    CONFIG_REQUIRED = 1 << 0, /* no default: must be set */
    CONFIG_SECRET = 1 << 1,   /* masked in --print-config and logs */
};

struct config_entry {
    const char *name; /* environment variable */
    enum config_type type;
    const char *def; /* default as text, or NULL */
    long min, max;   /* CONFIG_INT bounds (inclusive); ignored when min == max == 0 */
    int flags;
    const char *help;
    void *target;
};

/* Loads every entry. Writes one line per error to errs; returns the number of errors. */
int config_load(const struct config_entry *table, size_t n, FILE *errs);
/* Frees the CONFIG_STRING targets and sets them to NULL. */
void config_free(const struct config_entry *table, size_t n);
/* Prints NAME=value lines; secrets print as "***" (or "(unset)"). In every other string, a
 * password inside a URL ("scheme://user:PASSWORD@host") or after "password=" prints as "***";
 * config_load() registers those passwords with log_add_secret() too. */
void config_print(const struct config_entry *table, size_t n, FILE *out);
/* The usual start of a main(): handles --print-config / --help, loads, exits 2 on errors.
 * Returns the index of the first argument it did not consume. */
int config_main(int argc, char **argv, const char *program, const struct config_entry *table,
                size_t n);
/* The same for a binary with arguments of its own (args: their usage, e.g. "[--agent NAME]...",
 * shown by --help). --help and --print-config are taken wherever they stand. */
int config_main_args(int argc, char **argv, const char *program, const char *args,
                     const struct config_entry *table, size_t n);

/* The settings every binary shares (DESIGN.md). Add them to a table with CONFIG_COMMON(&g). */
struct config_common {
    char *database_url;
    char *redis_url;
    char *kafka_brokers;
    char *chroma_url;
    char *fernet_key;
    char *log_level;
    /* Topic settings for the topics a binary creates (kafka_topics.h reads them; 0 = the
     * table's value). Listed here so that --help shows them and a bad value stops the start. */
    long topic_partitions;
    long topic_replication;
    long topic_min_isr;
};

#define CONFIG_COMMON_ENTRIES(c)                                                                    \
    {"DATABASE_URL",                                                                                \
     CONFIG_STRING,                                                                                 \
     "postgresql://agenthub@127.0.0.1:15432/agenthub",                                              \
     0,                                                                                             \
     0,                                                                                             \
     0,                                                                                             \
     "PostgreSQL connection URI (its password is masked like any URL's)",                           \
     &(c)->database_url},                                                                           \
        {"REDIS_URL",                                                                               \
         CONFIG_STRING,                                                                             \
         "redis://127.0.0.1:15479/0",                                                               \
         0,                                                                                         \
         0,                                                                                         \
         0,                                                                                         \
         "redis://host:port/db",                                                                    \
         &(c)->redis_url},                                                                          \
        {"KAFKA_BROKERS",                                                                           \
         CONFIG_STRING,                                                                             \
         "127.0.0.1:15492",                                                                         \
         0,                                                                                         \
         0,                                                                                         \
         0,                                                                                         \
         "Kafka bootstrap list; KAFKA_* extras pass to librdkafka",                                 \
         &(c)->kafka_brokers},                                                                      \
        {"CHROMA_URL",        CONFIG_STRING,   "http://127.0.0.1:15480", 0, 0, 0,                   \
         "ChromaDB base URL", &(c)->chroma_url},                                                    \
        {"FERNET_KEY",                                                                              \
         CONFIG_STRING,                                                                             \
         "",                                                                                        \
         0,                                                                                         \
         0,                                                                                         \
         CONFIG_SECRET,                                                                             \
         "urlsafe-base64 32-byte key: tenants' stored provider keys (and, derived, wrapped "        \
         "tokens)",                                                                                 \
         &(c)->fernet_key},                                                                         \
        {"LOG_LEVEL", CONFIG_STRING, "info", 0, 0, 0, "debug, info, warn, error", &(c)->log_level}, \
        {"TOPIC_PARTITIONS",                                                                        \
         CONFIG_INT,                                                                                \
         "0",                                                                                       \
         0,                                                                                         \
         10000,                                                                                     \
         0,                                                                                         \
         "partitions of the topics this binary creates (0: common/kafka_topics.h's, 12)",           \
         &(c)->topic_partitions},                                                                   \
        {"TOPIC_REPLICATION",                                                                       \
         CONFIG_INT,                                                                                \
         "0",                                                                                       \
         0,                                                                                         \
         16,                                                                                        \
         0,                                                                                         \
         "replication factor of the topics this binary creates (0: 1)",                             \
         &(c)->topic_replication},                                                                  \
    {                                                                                               \
        "TOPIC_MIN_ISR", CONFIG_INT, "0", 0, 16, 0,                                                 \
            "min.insync.replicas of those topics (0: 2 when replicated 3+ times, else 1)",          \
            &(c)->topic_min_isr                                                                     \
    }

#endif
