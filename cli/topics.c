/* agenthubctl topics — creates AgentHub's built-in topics with kafka_topics.h's settings (the
 * one source for the local Kafka cluster and the compose deployment), or prints them.
 *
 *   agenthubctl topics [--list] [--timeout-ms N] [--partitions N] [TOPIC...]
 *
 * With TOPIC names, creates those instead (an agent's topic by hand, a test's topic: the local
 * cluster, like production, creates no topic on first use), with the settings of their row of
 * the table or --partitions.
 *
 * The brokers come from KAFKA_BROKERS (every KAFKA_<X> passes to librdkafka, as in the
 * services); TOPIC_PARTITIONS, TOPIC_REPLICATION and TOPIC_MIN_ISR override the table. A topic
 * that exists already is left as it is. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "kafka.h"
#include "kafka_topics.h"

static int topics_print(void)
{
    char err[256];
    struct kafka_topic_settings ts;
    const char *names[8];
    size_t n = 0;
    for (size_t i = 0; i < KAFKA_TOPICS_BUILTIN_COUNT && n < 7; i++)
        names[n++] = KAFKA_TOPICS_BUILTIN[i];
    names[n++] = KAFKA_TOPIC_AGENT_PREFIX "<Name>";
    printf("%-28s %10s %11s %7s %14s\n", "topic", "partitions", "replication", "min.isr",
           "retention.ms");
    for (size_t i = 0; i < n; i++) {
        if (kafka_topic_settings_for(names[i], &ts, err, sizeof err) != 0)
            return cli_fail("topics", "%s", err);
        printf("%-28s %10d %11d %7d %14lld\n", names[i], ts.partitions, ts.replication, ts.min_isr,
               ts.retention_ms);
    }
    return CLI_EXIT_OK;
}

static int topics_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"list", no_argument, NULL, 'l'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"partitions", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct kafka_producer *p = NULL;
    char err[512] = "";
    long timeout_ms = 30000, partitions = 0;
    int c, list_only = 0, rc = CLI_EXIT_FAIL;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            list_only = 1;
            break;
        case 't':
            if (cli_parse_long(optarg, 1, 600000, &timeout_ms) != 0)
                return cli_usage_error("topics", "--timeout-ms takes 1..600000");
            break;
        case 'p':
            if (cli_parse_long(optarg, 1, 10000, &partitions) != 0)
                return cli_usage_error("topics", "--partitions takes 1..10000");
            break;
        case 'h':
            return cli_help("topics", "  --list          print the settings and exit\n"
                                      "  --timeout-ms N  per topic (default 30000)\n"
                                      "  --partitions N  for the TOPICs named (default: the "
                                      "table's)\n"
                                      "  TOPIC...        create these instead of the built-ins\n"
                                      "Brokers: KAFKA_BROKERS. Overrides: TOPIC_PARTITIONS, "
                                      "TOPIC_REPLICATION, TOPIC_MIN_ISR.\n");
        default:
            return cli_usage_error("topics", "unknown option \"%s\"", argv[optind - 1]);
        }
    }
    if (list_only && optind < argc)
        return cli_usage_error("topics", "--list takes no TOPIC");
    if (list_only)
        return topics_print();
    const char *brokers = getenv("KAFKA_BROKERS");
    if (!brokers || !*brokers)
        return cli_fail("topics", "KAFKA_BROKERS is not set");
    if (kafka_producer_new(&p, brokers, err, sizeof err) != 0)
        return cli_fail("topics", "%s", err);
    int named = optind < argc;
    size_t n = named ? (size_t)(argc - optind) : KAFKA_TOPICS_BUILTIN_COUNT;
    for (size_t i = 0; i < n; i++) {
        const char *t = named ? argv[optind + (int)i] : KAFKA_TOPICS_BUILTIN[i];
        if (kafka_topic_ensure(p, t, named ? (int)partitions : 0, (int)timeout_ms, err,
                               sizeof err) != 0) {
            cli_fail("topics", "%s", err);
            goto out;
        }
        printf("topic %s ready\n", t);
    }
    rc = CLI_EXIT_OK;
out:
    kafka_producer_free(p);
    return rc;
}

CLI_COMMAND(topics, "topics [--list] [--timeout-ms N] [--partitions N] [TOPIC...]",
            "create the built-in Kafka topics (or the TOPICs named) with their settings, or "
            "--list them",
            topics_run)
