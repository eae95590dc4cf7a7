/* migrate.h — the schema migration runner as a library.
 *
 * The SQL files of migrations/ (NNNN_name.sql, applied in version order) are embedded into the
 * binary at build time. migrate_run() connects to database_url and:
 *   - takes a session-level pg_advisory_lock, so concurrent runs serialize: the second one
 *     finds everything applied, applies nothing and succeeds;
 *   - creates schema_migrations(version, name, checksum, applied_at) when missing;
 *   - refuses (MIGRATE_ERR_FUTURE) a database that has a version newer than this binary knows;
 *   - verifies the checksum (SHA-256 of the file) of every applied migration
 *     (MIGRATE_ERR_CHECKSUM when a migration file was changed after it was applied);
 *   - applies each pending migration in its own transaction, recording it in
 *     schema_migrations in that same transaction.
 * Used by agenthub-migrate and by `agenthubctl migrate`.
 *
 * A migration file must not BEGIN/COMMIT itself (the runner wraps it in a transaction) and so
 * cannot use statements that refuse to run inside one (CREATE INDEX CONCURRENTLY, VACUUM).
 */
#ifndef AGENTHUB_MIGRATE_H
#define AGENTHUB_MIGRATE_H

#include <stddef.h>

enum migrate_status {
    MIGRATE_OK = 0,
    MIGRATE_ERR_CONNECT = -1,  /* cannot connect to the database */
    MIGRATE_ERR_SQL = -2,      /* a migration or bookkeeping statement failed */
    MIGRATE_ERR_FUTURE = -3,   /* the database has a version this binary does not know */
    MIGRATE_ERR_CHECKSUM = -4, /* an applied migration differs from the embedded one */
};

/* One embedded migration (borrowed, static storage). */
struct migrate_info {
    int version;
    const char *name; /* file name, e.g. "0001_seed_schema.sql" */
    const char *sql;
    size_t len;
};

/* Applies what is pending. *applied (may be NULL) receives how many migrations this call
 * applied (0 when the database was up to date). Returns 0 or a negative migrate_status with
 * the reason in err. The database URL (it may hold a password) never appears in err. */
int migrate_run(const char *database_url, int *applied, char *err, size_t errlen);

/* Like migrate_run; calls cb (may be NULL) once per migration applied, in order. */
typedef void (*migrate_applied_cb)(void *opaque, const struct migrate_info *m);
int migrate_run_cb(const char *database_url, int *applied, migrate_applied_cb cb, void *opaque,
                   char *err, size_t errlen);

/* The embedded migrations, sorted by version. Returns the count; *list is static. */
size_t migrate_list(const struct migrate_info **list);

const char *migrate_status_str(int status);

#endif
