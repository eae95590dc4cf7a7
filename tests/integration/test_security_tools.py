"""Issue 17 (tools side): attacks on tool configuration and the SSRF guard through the real
binaries. The guard's ranges, template smuggling, the token audience rule and purpose keys are
also attacked at the C level (tests/unit/test_ssrf.c, test_template.c, test_fernet.c,
tests/integration/test_tools_http.c, test_tools_rag.c)."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402

BIN = os.environ.get("AGENTHUB_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))


class ToolAllowListOnSaveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = S.stack_env_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.ing = S.Ingress()
        cls.admin = cls.ing.admin_token()

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "ing"):
            cls.ing.stop_and_check(unittest.TestCase())

    def create(self, allowed):
        body = {"name": S.unique("sec_tool").replace("-", "_"), "base_type": "HTTP_GET",
                "description": "x",
                "config": {"endpoint": "http://127.0.0.1:1/x/{id}", "allowed_hosts": allowed},
                "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}}}
        st, resp, _ = self.ing.request("POST", "/api/admin/tools", body, token=self.admin)
        return st, resp

    def test_per_tool_allowlist_validated_on_save(self):
        # a bare host would open every port of it; wildcards covering everything; empties
        for bad in ("127.0.0.1", "*", "*:80", "*.com:443", "", "a:1,,b:2", "h:0", "h:99999",
                    "::1:80"):
            st, resp = self.create(bad)
            self.assertEqual(st, 400, "allowed_hosts %r accepted: %s" % (bad, resp))
        st, resp = self.create("127.0.0.1:18090,[::1]:8080,*.corp.example:443")
        self.assertEqual(st, 201, resp)
        # an array is stored as the list the agent reads
        st, resp = self.create(["erp.internal:8443", "10.0.0.5:8080"])
        self.assertEqual(st, 201, resp)
        self.assertEqual(resp["config"]["allowed_hosts"], "erp.internal:8443,10.0.0.5:8080")


class AgentStartTest(unittest.TestCase):
    def test_host_only_allowlist_entry_refused_at_start(self):
        """TOOL_ALLOWED_HOSTS=127.0.0.1 used to exempt every port of loopback (Redis,
        PostgreSQL, the ingress...). Entries are host:port now and a bare host stops the agent
        before it serves anything."""
        env = dict(os.environ, TOOL_ALLOWED_HOSTS="127.0.0.1", LOG_LEVEL="info")
        try:
            p = subprocess.run([os.path.join(BIN, "agenthub-agent")], env=env, timeout=15,
                               capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            self.fail("the agent started with a host-only TOOL_ALLOWED_HOSTS entry")
        self.assertEqual(p.returncode, 2, p.stderr[-2000:])
        self.assertIn("host:port", p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
