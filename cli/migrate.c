/* agenthubctl migrate — applies the embedded SQL migrations to DATABASE_URL (common/migrate.h).
 * The URL comes from the environment only (a password on the command line would show in ps)
 * and is never printed. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "migrate.h"

static void migrate_cmd_applied(void *opaque, const struct migrate_info *m)
{
    (void)opaque;
    printf("applied %s\n", m->name);
    fflush(stdout);
}

static int migrate_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"list", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const struct migrate_info *list = NULL;
    const char *url;
    char err[512] = "";
    int c, applied = 0, list_only = 0, st;
    size_t i, n;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            list_only = 1;
            break;
        case 'h':
            return cli_help("migrate", "  --list   print the embedded migrations and exit\n"
                                       "The database comes from DATABASE_URL.\n");
        default:
            return cli_usage_error("migrate", "unknown option \"%s\"", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("migrate", "unexpected argument \"%s\"", argv[optind]);
    if (list_only) {
        n = migrate_list(&list);
        for (i = 0; i < n; i++)
            printf("%04d %s\n", list[i].version, list[i].name);
        return CLI_EXIT_OK;
    }
    url = getenv("DATABASE_URL");
    if (!url || !*url)
        return cli_fail("migrate", "DATABASE_URL is not set");
    st = migrate_run_cb(url, &applied, migrate_cmd_applied, NULL, err, sizeof(err));
    if (st != MIGRATE_OK)
        return cli_fail("migrate", "%s: %s", migrate_status_str(st), err);
    printf("%d migration(s) applied; the database is up to date\n", applied);
    return CLI_EXIT_OK;
}

CLI_COMMAND(migrate, "migrate [--list]", "apply pending SQL migrations to DATABASE_URL",
            migrate_cmd_run)
