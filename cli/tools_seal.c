/* tools_seal.c — `agenthubctl tools-seal`: seals the tool config secrets stored in clear.
 *
 *   agenthubctl tools-seal [--dry-run]
 *
 * Rows written before tool secrets were sealed (an older deployment, or SQL such as the demo
 * seed) may still hold header values (or api_key, token, password, secret) in clear; SQL
 * cannot make Fernet tokens, so a migration cannot seal them. This command does, with the
 * tool-secret purpose key derived from FERNET_KEY (tools/tool_secret.h), and then drops the
 * tool caches in Redis (REDIS_URL, when set). The admin API seals a row the same way on its
 * next write; the agent still uses a clear value meanwhile (warned once per tool).
 * Each row is updated only if it did not change since it was read. Prints one line per
 * sealed tool (id and name, never a value) and a total. --dry-run lists without writing.
 * Environment: DATABASE_URL, FERNET_KEY (both required), REDIS_URL (optional).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "fernet.h"
#include "pgpool.h"
#include "rcache.h"
#include "tool.h"
#include "tool_secret.h"

static int tools_seal_run(int argc, char **argv);

static struct cli_command cli_cmd_tools_seal = {
    "tools-seal", "tools-seal [--dry-run]",
    "Seal tool config secrets stored in clear (older rows) with the tool-secret key",
    tools_seal_run, NULL};
__attribute__((constructor)) static void cli_cmd_register_tools_seal(void)
{
    cli_register(&cli_cmd_tools_seal);
}

static int tools_seal_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    int dry = 0, c, rc = CLI_EXIT_FAIL, nsealed = 0, nfail = 0;
    char key[FERNET_KEY_B64_LEN] = "", err[256];
    struct pgpool *db = NULL;
    struct rcache *r = NULL;
    PGresult *res = NULL;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "nh", opts, NULL)) != -1) {
        if (c == 'n')
            dry = 1;
        else if (c == 'h')
            return cli_help("tools-seal", "Environment: DATABASE_URL, FERNET_KEY, REDIS_URL.");
        else
            return cli_usage_error("tools-seal", "unknown option");
    }
    if (optind != argc)
        return cli_usage_error("tools-seal", "no arguments expected");
    const char *dsn = getenv("DATABASE_URL"), *fk = getenv("FERNET_KEY");
    if (!dsn || !*dsn)
        return cli_fail("tools-seal", "DATABASE_URL is not set");
    if (!fk || !*fk)
        return cli_fail("tools-seal", "FERNET_KEY is not set: secrets cannot be sealed");
    if (fernet_purpose_key(fk, FERNET_PURPOSE_TOOL_SECRET, key) != FERNET_OK)
        return cli_fail("tools-seal", "FERNET_KEY is not a valid Fernet key");
    if (pgpool_open(&db, dsn, 1, err, sizeof err) != 0) {
        rc = cli_fail("tools-seal", "database: %s", err);
        goto out;
    }
    if (pgpool_exec(db, &res,
                    "SELECT tool_id::text, name, config::text FROM tool_configs "
                    "ORDER BY name",
                    0, NULL, err, sizeof err) != PG_OK) {
        rc = cli_fail("tools-seal", "database: %s", err);
        goto out;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0), *name = PQgetvalue(res, i, 1);
        const char *text = PQgetvalue(res, i, 2);
        json_object *cfg = json_tokener_parse(text);
        int n = 0;
        if (!cfg || !tool_secret_config_has_clear(cfg)) {
            json_object_put(cfg);
            continue;
        }
        if (tool_secret_seal_config(cfg, NULL, key, &n, err, sizeof err) != TOOL_SECRET_OK) {
            fprintf(stderr, "agenthubctl tools-seal: tool %s (%s): %s\n", id, name, err);
            nfail++;
            json_object_put(cfg);
            continue;
        }
        if (!dry) {
            PGresult *u = NULL;
            const char *p[] = {id, json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN),
                               text};
            int st = pgpool_exec(db, &u,
                                 "UPDATE tool_configs SET config = $2::jsonb, updated_at = now() "
                                 "WHERE tool_id = $1::uuid AND config = $3::jsonb "
                                 "RETURNING tool_id",
                                 3, p, err, sizeof err);
            int done = st == PG_OK && PQntuples(u) == 1;
            PQclear(u);
            if (!done) {
                fprintf(stderr, "agenthubctl tools-seal: tool %s (%s): %s\n", id, name,
                        st == PG_OK ? "changed meanwhile, run again" : err);
                nfail++;
                json_object_put(cfg);
                continue;
            }
        }
        printf("%s %s %s: %d value%s\n", dry ? "would seal" : "sealed", id, name, n,
               n == 1 ? "" : "s");
        nsealed++;
        json_object_put(cfg);
    }
    const char *ru = getenv("REDIS_URL");
    if (!dry && nsealed && ru && *ru) {
        if (rcache_open(&r, ru, err, sizeof err) != 0 || tools_cache_invalidate(r, NULL) < 0)
            fprintf(stderr,
                    "agenthubctl tools-seal: the tool caches were not dropped (%s); "
                    "they expire within an hour\n",
                    r ? "redis" : err);
    }
    printf("%d tool%s %s, %d failed\n", nsealed, nsealed == 1 ? "" : "s",
           dry ? "to seal" : "sealed", nfail);
    rc = nfail ? CLI_EXIT_FAIL : CLI_EXIT_OK;
out:
    explicit_bzero(key, sizeof key);
    PQclear(res);
    rcache_close(r);
    pgpool_close(db);
    return rc;
}
