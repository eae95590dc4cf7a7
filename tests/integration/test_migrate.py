"""agenthub-migrate against the local stack's PostgreSQL.

Each test runs on a database of its own, created empty (CREATE DATABASE as the agenthub role,
which has CREATEDB) and dropped afterwards. Uses psql (postgresql-client) for inspection;
/usr/bin/python3 has no psycopg.

Env: DATABASE_URL (the stack's), AGENTHUB_BIN (the flavour under test).
"""

import os
import subprocess
import unittest
import urllib.parse
import uuid

BIN = os.environ.get("AGENTHUB_BIN", "")
BASE_URL = os.environ.get("DATABASE_URL", "")
MIGRATE = os.path.join(BIN, "agenthub-migrate")
MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "migrations")

SEED_TABLES = [
    "tenants", "tenant_llm_configs", "llm_models", "sessions", "messages", "agent_configs",
    "tool_configs", "base_tools", "agent_tools", "output_formats", "tenant_agent_permissions",
    "tenant_tool_permissions", "checkpoints",
]
DESIGN_TABLES = ["jobs", "document_batches", "documents", "usage", "knowledge_documents"]
# The seed's "Key Indexes for Performance": name -> (table, fragments of pg_indexes.indexdef)
SEED_INDEXES = {
    "idx_sessions_tenant_user": ("sessions", ["(tenant_id, user_id, created_at DESC)"]),
    "idx_tenant_agent_perms": ("tenant_agent_permissions",
                               ["(tenant_id, agent_id)", "WHERE (enabled = true)"]),
    "idx_tenant_tool_perms": ("tenant_tool_permissions",
                              ["(tenant_id, tool_id)", "WHERE (enabled = true)"]),
    "idx_agent_tools_priority": ("agent_tools", ["(agent_id, priority)"]),
    "idx_messages_session_time": ("messages", ['(session_id, "timestamp")']),
}
TENANT_OWNED = [
    "tenant_llm_configs", "sessions", "messages", "tenant_agent_permissions",
    "tenant_tool_permissions", "checkpoints", "jobs", "document_batches", "documents", "usage",
    "knowledge_documents",
]


def url_for(dbname):
    parts = urllib.parse.urlsplit(BASE_URL)
    return urllib.parse.urlunsplit(parts._replace(path="/" + dbname))


def psql(url, sql, check=True):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError("psql failed: %s\n%s" % (sql, r.stderr))
    return r


def query(url, sql):
    return [line.split("|") for line in psql(url, sql).stdout.splitlines() if line]


def migration_count():
    return len([f for f in os.listdir(MIGRATIONS_DIR) if f.endswith(".sql") and f[:4].isdigit()])


@unittest.skipUnless(BASE_URL and os.access(MIGRATE, os.X_OK), "needs DATABASE_URL and AGENTHUB_BIN")
class MigrateTest(unittest.TestCase):
    def setUp(self):
        self.dbname = "mt_" + uuid.uuid4().hex[:12]
        psql(BASE_URL, "CREATE DATABASE %s" % self.dbname)
        self.url = url_for(self.dbname)

    def tearDown(self):
        psql(BASE_URL, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.dbname, check=False)

    def migrate(self, url=None, extra_env=None):
        env = dict(os.environ)
        env["DATABASE_URL"] = url or self.url
        env.update(extra_env or {})
        return subprocess.run([MIGRATE], capture_output=True, text=True, env=env, timeout=120)

    def applied_rows(self):
        return query(self.url, "SELECT version, name, checksum, applied_at FROM schema_migrations "
                               "ORDER BY version")

    def test_empty_database_gets_the_seed_schema(self):
        r = self.migrate()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("applied 0001_seed_schema.sql", r.stdout)
        n = migration_count()
        self.assertEqual(r.stdout.count("applied 0"), n)

        tables = {row[0] for row in query(
            self.url, "SELECT table_name FROM information_schema.tables "
                      "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")}
        for t in SEED_TABLES + DESIGN_TABLES + ["schema_migrations"]:
            self.assertIn(t, tables)

        indexes = {row[0]: (row[1], row[2]) for row in query(
            self.url, "SELECT indexname, tablename, indexdef FROM pg_indexes "
                      "WHERE schemaname = 'public'")}
        for name, (table, fragments) in SEED_INDEXES.items():
            self.assertIn(name, indexes)
            self.assertEqual(indexes[name][0], table)
            for frag in fragments:
                self.assertIn(frag, indexes[name][1], name)

        for t in TENANT_OWNED:
            rows = query(self.url, "SELECT is_nullable FROM information_schema.columns "
                                   "WHERE table_name = '%s' AND column_name = 'tenant_id'" % t)
            self.assertEqual(rows, [["NO"]], t)

        versions = [int(row[0]) for row in self.applied_rows()]
        self.assertEqual(versions, list(range(1, n + 1)))
        # The seed's four base tool types are there once.
        self.assertEqual(query(self.url, "SELECT type FROM base_tools ORDER BY type"),
                         [["HTTP_GET"], ["HTTP_POST"], ["OCR"], ["RAG"]])

    def test_second_run_changes_nothing(self):
        self.assertEqual(self.migrate().returncode, 0)
        before = self.applied_rows()
        schema_before = query(self.url, "SELECT indexname, indexdef FROM pg_indexes "
                                        "WHERE schemaname = 'public' ORDER BY 1")
        r = self.migrate()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("applied 0", r.stdout)
        self.assertIn("nothing to apply", r.stdout)
        self.assertEqual(self.applied_rows(), before)
        self.assertEqual(query(self.url, "SELECT indexname, indexdef FROM pg_indexes "
                                         "WHERE schemaname = 'public' ORDER BY 1"),
                         schema_before)

    def test_concurrent_runs_apply_each_migration_once(self):
        env = dict(os.environ, DATABASE_URL=self.url)
        procs = [subprocess.Popen([MIGRATE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env) for _ in range(3)]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs):
            self.assertEqual(p.returncode, 0, err)
        n = migration_count()
        # Between them they applied every migration exactly once.
        self.assertEqual(sum(out.count("applied 0") for out, _ in outs), n)
        rows = query(self.url, "SELECT version, count(*) FROM schema_migrations GROUP BY version "
                               "ORDER BY version")
        self.assertEqual(rows, [[str(v), "1"] for v in range(1, n + 1)])

    def test_future_version_is_refused(self):
        self.assertEqual(self.migrate().returncode, 0)
        psql(self.url, "INSERT INTO schema_migrations (version, name, checksum) "
                       "VALUES (9999, '9999_from_the_future.sql', 'x')")
        before = self.applied_rows()
        r = self.migrate()
        self.assertEqual(r.returncode, 1)
        self.assertIn("9999", r.stderr)
        self.assertEqual(self.applied_rows(), before)

    def test_changed_migration_is_refused(self):
        self.assertEqual(self.migrate().returncode, 0)
        psql(self.url, "UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 1")
        r = self.migrate()
        self.assertEqual(r.returncode, 1)
        self.assertIn("0001_seed_schema.sql", r.stderr)
        self.assertIn("changed", r.stderr)

    def test_failed_migration_is_rolled_back_whole(self):
        # A table in the way makes migration 0002 fail halfway; none of it may remain, and 0001
        # stays applied.
        psql(self.url, "CREATE TABLE document_batches (x int)")
        r = self.migrate()
        self.assertEqual(r.returncode, 1)
        self.assertIn("0002", r.stderr)
        self.assertEqual([row[0] for row in self.applied_rows()], ["1"])
        tables = {row[0] for row in query(
            self.url, "SELECT table_name FROM information_schema.tables "
                      "WHERE table_schema = 'public'")}
        self.assertNotIn("jobs", tables)  # created before the failing statement, rolled back
        self.assertIn("sessions", tables)
        psql(self.url, "DROP TABLE document_batches")
        r = self.migrate()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("applied 0002", r.stdout)

    def test_statement_timeout_in_the_url_does_not_cut_migrations_short(self):
        # Services put a short statement_timeout in DATABASE_URL; migrations ignore it.
        r = self.migrate(url=self.url + "?options=-c%20statement_timeout%3D1%20-c%20lock_timeout%3D1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.applied_rows()), migration_count())

    def test_unreachable_database_fails_without_leaking_the_password(self):
        r = self.migrate(url="postgresql://agenthub:hunter2secret@127.0.0.1:1/x?connect_timeout=3")
        self.assertEqual(r.returncode, 1)
        self.assertNotIn("hunter2secret", r.stderr + r.stdout)
        p = subprocess.run([MIGRATE, "--print-config"], capture_output=True, text=True,
                           env=dict(os.environ, DATABASE_URL="postgresql://u:hunter2secret@h/d"))
        self.assertEqual(p.returncode, 0)
        self.assertIn("DATABASE_URL", p.stdout)
        self.assertNotIn("hunter2secret", p.stdout + p.stderr)

    def test_schema_guards(self):
        """The constraints the services rely on for tenancy and idempotency."""
        self.assertEqual(self.migrate().returncode, 0)
        u = self.url
        psql(u, "INSERT INTO tenants (tenant_id, name) VALUES ('tenant-a', 'A'), ('tenant-b', 'B')")
        sid = str(uuid.uuid4())
        psql(u, "INSERT INTO sessions (session_id, tenant_id, user_id) VALUES ('%s', 'tenant-a', 'u1')"
             % sid)
        # A message cannot point at another tenant's session.
        r = psql(u, "INSERT INTO messages (session_id, tenant_id, role, content) "
                    "VALUES ('%s', 'tenant-b', 'user', 'hi')" % sid, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("foreign key", r.stderr)
        # Roles are an enumeration.
        r = psql(u, "INSERT INTO messages (session_id, tenant_id, role, content) "
                    "VALUES ('%s', 'tenant-a', 'wizard', 'hi')" % sid, check=False)
        self.assertNotEqual(r.returncode, 0)
        # One assistant message per (job, part), however often the job is delivered.
        job = str(uuid.uuid4())
        ins = ("INSERT INTO messages (session_id, tenant_id, role, content, job_id, part) "
               "VALUES ('%s', 'tenant-a', 'assistant', 'answer', '%s', 0) "
               "ON CONFLICT (tenant_id, job_id, part) DO NOTHING RETURNING message_id" % (sid, job))
        self.assertEqual(len(query(u, ins)), 1)
        self.assertEqual(len(query(u, ins)), 0)
        # An assistant message of a job must say which part it is.
        r = psql(u, "INSERT INTO messages (session_id, tenant_id, role, content, job_id) "
                    "VALUES ('%s', 'tenant-a', 'assistant', 'x', '%s')" % (sid, job), check=False)
        self.assertNotEqual(r.returncode, 0)
        # Jobs: one per (tenant, idempotency key); NULL keys never collide.
        jins = ("INSERT INTO jobs (job_id, tenant_id, session_id, user_id, idempotency_key) "
                "VALUES (gen_random_uuid(), 'tenant-a', '%s', 'u1', %s) "
                "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING job_id")
        self.assertEqual(len(query(u, jins % (sid, "'key-1'"))), 1)
        self.assertEqual(len(query(u, jins % (sid, "'key-1'"))), 0)
        self.assertEqual(len(query(u, jins % (sid, "NULL"))), 1)
        self.assertEqual(len(query(u, jins % (sid, "NULL"))), 1)
        r = psql(u, "UPDATE jobs SET status = 'exploded'", check=False)
        self.assertNotEqual(r.returncode, 0)
        r = psql(u, "UPDATE jobs SET parts_done = parts_total + 1", check=False)
        self.assertNotEqual(r.returncode, 0)
        # Deleting a tenant removes what it owned.
        psql(u, "DELETE FROM tenants WHERE tenant_id = 'tenant-a'")
        self.assertEqual(query(u, "SELECT count(*) FROM messages"), [["0"]])
        self.assertEqual(query(u, "SELECT count(*) FROM jobs"), [["0"]])


if __name__ == "__main__":
    unittest.main()
