/* agenthub-migrate — applies the embedded SQL migrations to DATABASE_URL, idempotently.
 *
 * Prints one line per migration it applied ("applied 0001_seed_schema.sql") and a summary.
 * Exit status: 0 success (also when nothing was pending), 1 a migration or the database
 * failed (a newer schema, a changed migration, SQL error, unreachable server), 2 bad config.
 * Safe to run from several processes at once: they serialize on an advisory lock.
 */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "migrate.h"

static struct config_common g_common;

static const struct config_entry g_config[] = {
    CONFIG_COMMON_ENTRIES(&g_common),
};

static void migrate_main_applied(void *opaque, const struct migrate_info *m)
{
    (void)opaque;
    printf("applied %s\n", m->name);
    fflush(stdout);
    log_kv(LOG_INFO, NULL, "migration applied", "name", m->name, (char *)NULL);
}

int main(int argc, char **argv)
{
    size_t n = sizeof g_config / sizeof g_config[0];
    config_main(argc, argv, "agenthub-migrate", g_config, n);

    enum log_level level = LOG_INFO;
    if (log_level_parse(g_common.log_level, &level) != 0) {
        fprintf(stderr, "agenthub-migrate: LOG_LEVEL must be debug, info, warn or error\n");
        config_free(g_config, n);
        return 2;
    }
    log_init("migrate", level);

    const struct migrate_info *list = NULL;
    size_t known = migrate_list(&list);
    int applied = 0, status = 0;
    char err[1024];
    int rc = migrate_run_cb(g_common.database_url, &applied, migrate_main_applied, NULL, err,
                            sizeof err);
    if (rc != MIGRATE_OK) {
        log_kv(LOG_ERROR, NULL, "migration failed", "reason", migrate_status_str(rc), "error", err,
               (char *)NULL);
        fprintf(stderr, "agenthub-migrate: %s\n", err);
        status = 1;
    } else if (applied == 0) {
        printf("nothing to apply: schema is at version %d\n", known ? list[known - 1].version : 0);
    } else {
        printf("%d migration%s applied: schema is at version %d\n", applied,
               applied == 1 ? "" : "s", list[known - 1].version);
    }
    config_free(g_config, n);
    return status;
}
