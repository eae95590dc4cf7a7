"""Issue 17, item 4: secrets in tool configs (an API key in a header) are stored sealed with the
tool-secret purpose key, never returned or cached in clear, masked in the console, and opened by
the agent only for the request. One case per attack, through the real binaries: the admin API
(a tenant admin of demo), PostgreSQL, Redis and the stand-in ERP, which records the X-Api-Key
it received. The seal/mask/open helpers are unit-tested in tests/unit/test_tool_secret.c."""
import base64
import os
import subprocess
import sys
import unittest
import uuid

from cryptography.fernet import Fernet

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402
from pipeline_harness import BIN, Pipeline, stack_missing  # noqa: E402

SECRET = "sk-secret-123"
MST = "0123456789"
MST2 = "0109876543"
MASK = {"$secret": "********", "set": True}
SCHEMA = {"type": "object", "properties": {"mst": {"type": "string",
          "pattern": "^[0-9]{10}(-[0-9]{3})?$", "description": "customer tax code (MST)"}},
          "required": ["mst"], "additionalProperties": False}


def first(events, kind):
    for e, d in events:
        if e == kind:
            return d
    return None


def redis_strings():
    """Every string value under agenthub:* (the caches and job state), as one text."""
    url = os.environ["REDIS_URL"]
    keys = subprocess.run(["redis-cli", "-u", url, "--scan", "--pattern", "agenthub:*"],
                          capture_output=True, text=True).stdout.split()
    out = {}
    for k in keys:
        t = subprocess.run(["redis-cli", "-u", url, "type", k], capture_output=True,
                           text=True).stdout.strip()
        if t == "string":
            v = subprocess.run(["redis-cli", "-u", url, "--raw", "get", k],
                               capture_output=True, text=True).stdout
        elif t == "stream":
            v = subprocess.run(["redis-cli", "-u", url, "--raw", "xrange", k, "-", "+"],
                               capture_output=True, text=True).stdout
        elif t == "hash":
            v = subprocess.run(["redis-cli", "-u", url, "--raw", "hgetall", k],
                               capture_output=True, text=True).stdout
        elif t == "list":
            v = subprocess.run(["redis-cli", "-u", url, "--raw", "lrange", k, "0", "-1"],
                               capture_output=True, text=True).stdout
        else:
            v = ""
        out[k] = v
    return out


class ToolSecretsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = stack_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.pl = Pipeline("toolsecrets").start()
        cls.admin = cls.pl.token("demo", "ops", roles="admin")
        cls.tool = cls.create_tool()

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "pl"):
            # the shared database as the seed left it: AgentDebt with the seed's tool
            cls.pl.sql("DELETE FROM agent_tools WHERE tool_id IN (SELECT tool_id FROM "
                       "tool_configs WHERE name LIKE 'secret\\_%%');"
                       "DELETE FROM tenant_tool_permissions WHERE tool_id IN (SELECT tool_id "
                       "FROM tool_configs WHERE name LIKE 'secret\\_%%');"
                       "DELETE FROM tool_configs WHERE name LIKE 'secret\\_%%';"
                       "INSERT INTO agent_tools (agent_id, tool_id, priority) SELECT a.agent_id, "
                       "t.tool_id, 1 FROM agent_configs a, tool_configs t WHERE a.name = "
                       "'AgentDebt' AND t.name = 'get_customer_debt' ON CONFLICT DO NOTHING;"
                       "UPDATE tool_configs SET config = config - 'headers' WHERE name = "
                       "'get_shipment_status';")
            cls.pl.flush_cache()
            cls.pl.stop()
            reports = cls.pl.sanitizer_reports(names=list(cls.pl.procs))
            assert not reports, reports
            # no process ever logged a secret (the ERP's own log aside: it is the backend)
            for name in cls.pl.procs:
                if name != "erp":
                    for s in (SECRET, "sk-legacy-456"):
                        assert s not in cls.pl.log(name), "%s logged a tool secret" % name

    @classmethod
    def create_tool(cls):
        """demo's own debt tool with an API key header, in AgentDebt's place of the seed's."""
        name = "secret_debt_" + uuid.uuid4().hex[:8]
        st, t = cls.pl.request("POST", "/api/admin/tools", {
            "name": name, "base_type": "HTTP_GET",
            "description": "Retrieve a customer's debt by tax code MST",
            "config": {"endpoint": cls.pl.erp + "/api/debt/{mst}", "method": "GET",
                       "timeout_ms": 5000,
                       "headers": {"X-Api-Key": SECRET, "X-API-Version": "v9"}},
            "input_schema": SCHEMA}, token=cls.admin)
        assert st == 201, (st, t)
        cls.created = t
        tid = t["tool_id"]
        cls.pl.sql("DELETE FROM agent_tools WHERE agent_id = (SELECT agent_id FROM agent_configs "
                   "WHERE name = 'AgentDebt');"
                   "INSERT INTO agent_tools (agent_id, tool_id, priority) SELECT agent_id, %s, 1 "
                   "FROM agent_configs WHERE name = 'AgentDebt';"
                   "INSERT INTO tenant_tool_permissions (tenant_id, tool_id) VALUES ('demo', %s) "
                   "ON CONFLICT DO NOTHING;", tid, tid)
        cls.pl.flush_cache()
        return t

    def debt_chat(self, mst):
        r = self.pl.chat("What is the debt for MST %s?" % mst)
        ev = self.pl.events(r["job_id"], timeout=120)
        call = first(ev, "tool_call")
        self.assertIsNotNone(call, ev)
        self.assertEqual(call["tool"], self.tool["name"], ev)
        return ev

    def assert_masked(self, text_or_obj, where):
        text = repr(text_or_obj)
        self.assertNotIn(SECRET, text, "%s holds the secret in clear" % where)
        self.assertNotIn("gAAAAA", text, "%s holds a Fernet token" % where)

    # ---- attacks ------------------------------------------------------------------------------
    def test_admin_read_returns_neither_secret_nor_token(self):
        tid = self.tool["tool_id"]
        self.assert_masked(self.created, "the POST answer")
        st, one = self.pl.request("GET", "/api/admin/tools/" + tid, token=self.admin)
        self.assertEqual(st, 200, one)
        self.assert_masked(one, "GET /api/admin/tools/{id}")
        self.assertEqual(one["config"]["headers"]["X-Api-Key"], MASK)
        self.assertEqual(one["config"]["headers"]["X-API-Version"], MASK)
        st, lst = self.pl.request("GET", "/api/admin/tools", token=self.admin)
        self.assertEqual(st, 200, lst)
        mine = [t for t in lst["items"] if t["tool_id"] == tid]
        self.assertEqual(len(mine), 1)
        self.assert_masked(lst, "GET /api/admin/tools")
        self.assertEqual(mine[0]["config"]["headers"]["X-Api-Key"], MASK)

    def test_database_row_holds_no_clear_secret(self):
        rows = self.pl.sql("SELECT config::text FROM tool_configs WHERE tool_id = %s",
                           self.tool["tool_id"])
        self.assertEqual(len(rows), 1)
        cfg = rows[0][0]
        self.assertNotIn(SECRET, cfg)
        self.assertIn('"$secret": "gAAAAA', cfg)  # sealed, a Fernet token

    def test_cache_holds_no_clear_secret_and_backend_gets_it(self):
        self.pl.flush_cache()
        ev = self.debt_chat(MST)
        # the agent cached the tool (agenthub:demo:cache:tool:{id}): sealed only
        values = redis_strings()
        cached = [k for k in values if ":cache:tool:" + self.tool["tool_id"] in k]
        self.assertTrue(cached, "the tool was not cached: %s" % sorted(values))
        for k, v in values.items():
            self.assertNotIn(SECRET, v, "Redis key %s holds the secret in clear" % k)
        self.assertIn('"$secret":"gAAAAA', values[cached[0]])
        # and the backend got the clear value, opened just for the request
        res = first(ev, "tool_result")
        self.assertTrue(res and res["ok"], ev)
        last = self.pl.erp_last("/api/debt/" + MST)
        self.assertEqual(last.get("x_api_key"), SECRET, last)
        self.assertEqual(last.get("x_api_version"), "v9", last)

    def test_put_of_masked_config_keeps_secret(self):
        tid = self.tool["tool_id"]
        st, one = self.pl.request("GET", "/api/admin/tools/" + tid, token=self.admin)
        self.assertEqual(st, 200, one)
        self.assertEqual(one["config"]["headers"]["X-Api-Key"], MASK)
        one["description"] = "Customer debt by MST (edited in the console)"
        st, put = self.pl.request("PUT", "/api/admin/tools/" + tid, one, token=self.admin)
        self.assertEqual(st, 200, put)
        self.assert_masked(put, "the PUT answer")
        rows = self.pl.sql("SELECT config::text FROM tool_configs WHERE tool_id = %s", tid)
        self.assertNotIn("********", rows[0][0], "the mask was stored over the secret")
        self.debt_chat(MST2)
        last = self.pl.erp_last("/api/debt/" + MST2)
        self.assertEqual(last.get("x_api_key"), SECRET, last)
        # a mask for a header that has no stored value is refused, not stored
        one["config"]["headers"]["X-Other"] = MASK
        st, r = self.pl.request("PUT", "/api/admin/tools/" + tid, one, token=self.admin)
        self.assertEqual(st, 400, r)

    def test_masked_secret_never_follows_the_tool_to_a_new_host(self):
        """Keeping the mask while pointing the tool elsewhere would send the stored key
        there (like an LLM key and its base_url): refused unless the secret is supplied."""
        tid = self.tool["tool_id"]
        st, one = self.pl.request("GET", "/api/admin/tools/" + tid, token=self.admin)
        self.assertEqual(st, 200, one)
        evil = dict(one)
        evil["config"] = dict(one["config"], endpoint="http://127.0.0.2:%d/api/debt/{mst}"
                              % self.pl.ports["erp"])
        st, r = self.pl.request("PUT", "/api/admin/tools/" + tid, evil, token=self.admin)
        self.assertEqual(st, 409, r)
        self.assertEqual(r["error"]["code"], "secret_endpoint_changed")
        rows = self.pl.sql("SELECT config->>'endpoint' FROM tool_configs WHERE tool_id = %s", tid)
        self.assertEqual(rows[0][0], self.pl.erp + "/api/debt/{mst}")

    def test_unreadable_secret_fails_the_call_never_sends_sealed_text(self):
        name = "secret_bad_" + uuid.uuid4().hex[:8]
        st, t = self.pl.request("POST", "/api/admin/tools", {
            "name": name, "base_type": "HTTP_GET", "description": "debt by MST",
            "config": {"endpoint": self.pl.erp + "/api/debt/{mst}", "method": "GET",
                       "headers": {"X-Api-Key": "placeholder"}},
            "input_schema": SCHEMA}, token=self.admin)
        self.assertEqual(st, 201, t)
        # sealed with another deployment's key (what a FERNET_KEY change leaves behind)
        bogus = Fernet(base64.urlsafe_b64encode(os.urandom(32))).encrypt(b"sk-other").decode()
        self.pl.sql("UPDATE tool_configs SET config = jsonb_set(config, '{headers}', "
                    "jsonb_build_object('X-Api-Key', jsonb_build_object('$secret', %s::text))) "
                    "WHERE tool_id = %s;"
                    "DELETE FROM agent_tools WHERE agent_id = (SELECT agent_id FROM "
                    "agent_configs WHERE name = 'AgentDebt');"
                    "INSERT INTO agent_tools (agent_id, tool_id, priority) SELECT agent_id, %s, 1 "
                    "FROM agent_configs WHERE name = 'AgentDebt';"
                    "INSERT INTO tenant_tool_permissions (tenant_id, tool_id) VALUES ('demo', %s) "
                    "ON CONFLICT DO NOTHING;", bogus, t["tool_id"], t["tool_id"], t["tool_id"])
        self.pl.flush_cache()
        try:
            mst = "0123456789-001"
            r = self.pl.chat("What is the debt for MST %s?" % mst)
            ev = self.pl.events(r["job_id"], timeout=120)
            res = first(ev, "tool_result")
            self.assertIsNotNone(res, ev)
            self.assertFalse(res["ok"], res)
            self.assertIn("tool_secret_unreadable", repr(res))
            last = self.pl.erp_last("/api/debt/" + mst)
            self.assertFalse(last.get("seen"), "the ERP got a request: %s" % last)
        finally:
            self.pl.sql("DELETE FROM agent_tools WHERE agent_id = (SELECT agent_id FROM "
                        "agent_configs WHERE name = 'AgentDebt');"
                        "INSERT INTO agent_tools (agent_id, tool_id, priority) SELECT agent_id, "
                        "%s, 1 FROM agent_configs WHERE name = 'AgentDebt';",
                        self.tool["tool_id"])
            self.pl.flush_cache()

    def test_legacy_clear_row_masked_and_sealed_by_tools_seal(self):
        """A row from before sealing (SQL can't seal: the demo seed, older deployments) is
        masked on read, still served (warned), never cached, and sealed by tools-seal."""
        legacy = "sk-legacy-456"
        rows = self.pl.sql("UPDATE tool_configs SET config = jsonb_set(config, '{headers}', "
                           "jsonb_build_object('X-Api-Key', %s::text)) WHERE name = "
                           "'get_shipment_status' RETURNING tool_id", legacy)
        tid = rows[0][0]
        self.pl.flush_cache()
        st, one = self.pl.request("GET", "/api/admin/tools/" + tid, token=self.admin)
        self.assertEqual(st, 200, one)
        self.assertNotIn(legacy, repr(one))
        self.assertEqual(one["config"]["headers"]["X-Api-Key"], MASK)
        r = self.pl.chat("Where is my shipment VN123456789?")
        ev = self.pl.events(r["job_id"], timeout=120)
        self.assertTrue(first(ev, "tool_result") and first(ev, "tool_result")["ok"], ev)
        self.assertEqual(self.pl.erp_last("/api/shipments/VN123456789").get("x_api_key"),
                         legacy)
        for k, v in redis_strings().items():
            self.assertNotIn(legacy, v, "Redis key %s holds the legacy secret in clear" % k)
        out = self.pl.run([os.path.join(BIN, "agenthubctl"),
                           "tools-seal"], check=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("sealed " + tid, out.stdout)
        self.assertNotIn(legacy, out.stdout + out.stderr)
        cfg = self.pl.sql("SELECT config::text FROM tool_configs WHERE tool_id = %s", tid)[0][0]
        self.assertNotIn(legacy, cfg)
        self.assertIn('"$secret": "gAAAAA', cfg)


class NoFernetKeyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = S.stack_env_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.ing = S.Ingress(extra_env={"FERNET_KEY": ""})
        cls.tenant = S.unique("nokey")
        S.psql("INSERT INTO tenants (tenant_id, name) VALUES (:'a', :'a') "
               "ON CONFLICT DO NOTHING", cls.tenant)

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "ing"):
            cls.ing.stop_and_check(unittest.TestCase())

    def test_secret_refused_without_fernet_key_not_stored_in_clear(self):
        name = "nokey_" + uuid.uuid4().hex[:8]
        st, resp, _ = self.ing.request("POST", "/api/admin/tools", {
            "name": name, "base_type": "HTTP_GET", "description": "x",
            "config": {"endpoint": "http://127.0.0.1:1/x/{id}",
                       "headers": {"X-Api-Key": SECRET}},
            "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}}},
            token=self.ing.tenant_admin_token(self.tenant))
        self.assertEqual(st, 503, resp)
        self.assertNotIn(SECRET, repr(resp))
        rows = S.psql("SELECT count(*) FROM tool_configs WHERE name = :'a'", name)
        self.assertEqual(rows, [["0"]])


if __name__ == "__main__":
    unittest.main()
