/* apikeys.c — `agenthubctl api-keys`: a tenant's API keys, straight in DATABASE_URL (the
 * operator's tool; tenant admins use the admin API, ingress/routes_apikeys.c).
 *
 *   agenthubctl api-keys create --tenant T --name NAME [--admin] [--expires-in S]
 *   agenthubctl api-keys list --tenant T
 *   agenthubctl api-keys revoke --tenant T KEY_ID
 *
 * create prints the key once, on stdout, and nothing else there (its id and details go to
 * stderr), so `KEY=$(agenthubctl api-keys create ...)` captures just the key. list prints the
 * keys' ids, names, roles and times as JSON lines (never a key or its hash). revoke refuses
 * the key on every ingress within INGRESS_API_KEY_CACHE_MS (ingress/keyauth.h).
 */
#include <getopt.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apikey.h"
#include "commands.h"
#include "envelope.h"
#include "pgpool.h"

static int apikeys_run(int argc, char **argv);
/* CLI_COMMAND by hand: the command word has a dash, which an identifier cannot. */
static struct cli_command cli_cmd_api_keys = {
    "api-keys",
    "api-keys create --tenant T --name NAME [--admin] [--expires-in S] | "
    "api-keys list --tenant T | api-keys revoke --tenant T KEY_ID",
    "Create (shown once), list and revoke a tenant's API keys (DATABASE_URL)", apikeys_run, NULL};
__attribute__((constructor)) static void cli_cmd_register_api_keys(void)
{
    cli_register(&cli_cmd_api_keys);
}

static int open_db(struct pgpool **db)
{
    const char *dsn = getenv("DATABASE_URL");
    char err[256];
    if (!dsn || !*dsn)
        return cli_fail("api-keys", "DATABASE_URL is not set");
    if (pgpool_open(db, dsn, 1, err, sizeof err) != 0)
        return cli_fail("api-keys", "database: %s", err);
    return CLI_EXIT_OK;
}

/* Who runs agenthubctl: the audit row's actor_sub ("cli" rows, migration 0010). */
static const char *os_user(void)
{
    const struct passwd *pw = getpwuid(getuid());
    const char *u = pw && pw->pw_name ? pw->pw_name : getenv("USER");
    return u && *u ? u : "unknown";
}

static int create(struct pgpool *db, const char *tenant, const char *name, int admin,
                  const char *expires_in)
{
    char key[APIKEY_LEN + 1], id[APIKEY_ID_LEN + 1], hash[APIKEY_HASH_HEX], err[256];
    PGresult *res = NULL;
    int rc = CLI_EXIT_FAIL;
    if (apikey_generate(key, id) != 0)
        return cli_fail("api-keys", "the CSPRNG refused");
    apikey_hash(key, hash);
    const char *p[] = {id,         tenant,   name, hash, admin ? "{user,admin}" : "{user}",
                       expires_in, os_user()};
    int st = pgpool_exec(db, &res,
                         "WITH k AS (INSERT INTO api_keys (key_id, tenant_id, name, key_hash, "
                         "roles, created_by, expires_at) VALUES ($1, $2, $3, $4, $5::text[], "
                         "'agenthubctl:' || $7, now() + make_interval(secs => $6::bigint)) "
                         "RETURNING key_id, tenant_id), "
                         "a AS (INSERT INTO admin_audit (actor_kind, actor_sub, tenant_id, method, "
                         "route, resource_id, status) SELECT 'cli', $7, tenant_id, 'CLI', "
                         "'agenthubctl api-keys create', key_id, 201 FROM k) "
                         "SELECT key_id FROM k",
                         7, p, err, sizeof err);
    if (st == PG_ERR_FOREIGN_KEY) {
        cli_fail("api-keys", "no such tenant: %s", tenant);
        goto out;
    }
    if (st != PG_OK) {
        cli_fail("api-keys", "insert failed: %s", pg_status_str(st));
        goto out;
    }
    fprintf(stderr, "created API key %s for tenant %s (shown once, below)\n", id, tenant);
    printf("%s\n", key);
    rc = CLI_EXIT_OK;
out:
    OPENSSL_cleanse(key, sizeof key);
    PQclear(res);
    return rc;
}

static int list(struct pgpool *db, const char *tenant)
{
    PGresult *res = NULL;
    char err[256];
    const char *p[] = {tenant};
    int st =
        pgpool_exec(db, &res,
                    "SELECT json_build_object('key_id', key_id, 'name', name, 'roles', roles, "
                    "'created_at', created_at, 'expires_at', expires_at, 'revoked_at', revoked_at, "
                    "'last_used_at', last_used_at)::text FROM api_keys WHERE tenant_id = $1 "
                    "ORDER BY created_at DESC",
                    1, p, err, sizeof err);
    if (st != PG_OK)
        return cli_fail("api-keys", "list failed: %s", pg_status_str(st));
    int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        printf("%s\n", PQgetvalue(res, i, 0));
    PQclear(res);
    if (n == 0) /* none, or no such tenant (create says so too) */
        return cli_tenant_check("api-keys", db, tenant) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    return CLI_EXIT_OK;
}

static int key_revoke(struct pgpool *db, const char *tenant, const char *id)
{
    PGresult *res = NULL;
    char err[256];
    const char *p[] = {tenant, id, os_user()};
    int st = pgpool_exec(db, &res,
                         "WITH k AS (UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) "
                         "WHERE tenant_id = $1 AND key_id = $2 RETURNING key_id, tenant_id), "
                         "a AS (INSERT INTO admin_audit (actor_kind, actor_sub, tenant_id, method, "
                         "route, resource_id, status) SELECT 'cli', $3, tenant_id, 'CLI', "
                         "'agenthubctl api-keys revoke', key_id, 204 FROM k) "
                         "SELECT key_id FROM k",
                         3, p, err, sizeof err);
    if (st != PG_OK)
        return cli_fail("api-keys", "revoke failed: %s", pg_status_str(st));
    int n = PQntuples(res);
    PQclear(res);
    if (!n)
        return cli_fail("api-keys", "no such key for tenant %s", tenant);
    printf("revoked %s\n", id);
    return CLI_EXIT_OK;
}

static int apikeys_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tenant", required_argument, NULL, 't'}, {"name", required_argument, NULL, 'n'},
        {"admin", no_argument, NULL, 'a'},        {"expires-in", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *tenant = NULL, *name = NULL, *expires = NULL;
    int admin = 0, o, rc;
    long secs = 0;
    struct pgpool *db = NULL;
    cli_getopt_reset();
    while ((o = getopt_long(argc, argv, "t:n:ae:h", opts, NULL)) != -1) {
        switch (o) {
        case 't':
            tenant = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'a':
            admin = 1;
            break;
        case 'e':
            expires = optarg;
            if (cli_parse_long(optarg, 1, 315360000L, &secs) != 0)
                return cli_usage_error("api-keys", "--expires-in must be 1..315360000 seconds");
            break;
        case 'h':
            return cli_help("api-keys",
                            "  create  makes a key (printed once on stdout); --admin gives it the "
                            "admin role\n  list    the tenant's keys as JSON lines (no secrets)\n"
                            "  revoke  refuses the key from now on (every ingress within "
                            "INGRESS_API_KEY_CACHE_MS)\nThe database comes from DATABASE_URL.\n");
        default:
            return cli_usage_error("api-keys", "unknown option");
        }
    }
    if (optind >= argc)
        return cli_usage_error("api-keys", "create, list or revoke?");
    const char *verb = argv[optind];
    if (!tenant || !tenant_id_valid(tenant))
        return cli_usage_error("api-keys", "--tenant T is required ([A-Za-z0-9_-]{1,64})");
    if (strcmp(verb, "create") == 0) {
        if (!name || !*name || strlen(name) > 100)
            return cli_usage_error("api-keys", "--name NAME (1..100 characters) is required");
    } else if (strcmp(verb, "revoke") == 0) {
        if (optind + 1 >= argc)
            return cli_usage_error("api-keys", "revoke needs a KEY_ID");
    } else if (strcmp(verb, "list") != 0) {
        return cli_usage_error("api-keys", "unknown action '%s'", verb);
    }
    if ((rc = open_db(&db)) != CLI_EXIT_OK)
        return rc;
    if (strcmp(verb, "create") == 0)
        rc = create(db, tenant, name, admin, expires);
    else if (strcmp(verb, "list") == 0)
        rc = list(db, tenant);
    else
        rc = key_revoke(db, tenant, argv[optind + 1]);
    pgpool_close(db);
    return rc;
}
