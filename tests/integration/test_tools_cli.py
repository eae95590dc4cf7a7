"""The stand-in ERP binary and `agenthubctl kb` as a user runs them.

Binaries come from $AGENTHUB_BIN (tests/run.sh sets it), else build/bin. The kb tests need the
stack's ChromaDB (CHROMA_URL) and are skipped without it.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402
from pipeline_harness import free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("AGENTHUB_BIN") or os.path.join(ROOT, "build", "bin")
KB = os.path.join(ROOT, "compose", "local", "demo-kb")


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class StandinErpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # free_port() only suggests a port: another process may take it first (the ERP then
        # exits: try another). civetweb answers before /health is registered: a 404 that is
        # not JSON means "not yet".
        for _ in range(3):
            cls.port = free_port()
            cls.base = "http://127.0.0.1:%d" % cls.port
            env = dict(os.environ, ERP_LISTEN="127.0.0.1:%d" % cls.port, LOG_LEVEL="info")
            cls.proc = subprocess.Popen([os.path.join(BIN, "agenthub-standin-erp")], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(100):
                if cls.proc.poll() is not None:
                    break
                try:
                    st, body = http("GET", cls.base + "/health")
                    if st == 200 and isinstance(body, dict):
                        return
                except (OSError, ValueError):
                    pass
                time.sleep(0.05)
            cls.tearDownClass()
        raise RuntimeError("stand-in ERP did not start")

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.kill()
            cls.proc.wait()
        cls.proc.stderr.close()

    def tearDown(self):
        if self.proc.poll() is None:
            http("GET", self.base + "/_fail?mode=ok")

    def test_debt_known_and_unknown(self):
        st, body = http("GET", self.base + "/api/debt/0123456789")
        self.assertEqual(st, 200)
        self.assertEqual(body["mst"], "0123456789")
        self.assertEqual(body["currency"], "VND")
        self.assertIsInstance(body["total_debt"], int)
        self.assertGreater(body["overdue_days"], 0)
        st, body = http("GET", self.base + "/api/debt/0123456789-001")
        self.assertEqual(st, 200)
        st, body = http("GET", self.base + "/api/debt/9999999999")
        self.assertEqual(st, 404)
        self.assertEqual(body["error"]["code"], "not_found")

    def test_shipments_orders(self):
        st, body = http("GET", self.base + "/api/shipments/VN123456789")
        self.assertEqual((st, body["status"]), (200, "in_transit"))
        self.assertIn("eta", body)
        self.assertIn("location", body)
        st, body = http("GET", self.base + "/api/orders/ORD-1001")
        self.assertEqual(st, 200)
        self.assertEqual(body["total"],
                         sum(l["quantity"] * l["unit_price"] for l in body["lines"]))
        self.assertEqual(http("GET", self.base + "/api/orders/NOPE")[0], 404)

    def test_report_is_deterministic(self):
        req = {"metric": "revenue", "period": "2024-Q1"}
        st1, a = http("POST", self.base + "/api/analysis/report", req)
        st2, b = http("POST", self.base + "/api/analysis/report", req)
        self.assertEqual((st1, st2), (200, 200))
        self.assertEqual(a, b)
        self.assertEqual(sum(r["value"] for r in a["breakdown"]), a["value"])
        _, c = http("POST", self.base + "/api/analysis/report",
                    {"metric": "revenue", "period": "2024-Q2"})
        self.assertNotEqual(a["value"], c["value"])
        st, body = http("POST", self.base + "/api/analysis/report", {"metric": "vibes"})
        self.assertEqual(st, 400)
        self.assertEqual(body["error"]["code"], "unknown_metric")
        st, _ = http("POST", self.base + "/api/analysis/report", None)
        self.assertEqual(st, 400)

    def test_last_request_records_authorization(self):
        _, seen = http("GET", self.base + "/_last_request?path=/api/shipments/VN987654321")
        self.assertFalse(seen["seen"])
        http("GET", self.base + "/api/shipments/VN987654321",
             headers={"Authorization": "Bearer abc.def.ghi"})
        _, seen = http("GET", self.base + "/_last_request?path=/api/shipments/VN987654321")
        self.assertTrue(seen["seen"])
        self.assertEqual(seen["authorization"], "Bearer abc.def.ghi")
        self.assertEqual(seen["method"], "GET")

    def test_fault_modes(self):
        self.assertEqual(http("GET", self.base + "/_fail?mode=down")[0], 200)
        self.assertEqual(http("GET", self.base + "/api/debt/0123456789")[0], 503)
        http("GET", self.base + "/_fail?mode=500")
        self.assertEqual(http("GET", self.base + "/api/debt/0123456789")[0], 500)
        http("GET", self.base + "/_fail?mode=badshape")
        st, body = http("GET", self.base + "/api/debt/0123456789")
        self.assertEqual(st, 200)
        self.assertIsInstance(body["total_debt"], str)
        self.assertEqual(http("GET", self.base + "/_fail?mode=bogus")[0], 400)
        http("GET", self.base + "/_fail?mode=ok")
        self.assertEqual(http("GET", self.base + "/api/debt/0123456789")[0], 200)

    def test_zz_sigterm_exits_cleanly(self):
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=10), 0)
        err = self.proc.stderr.read().decode()
        for line in err.splitlines():
            json.loads(line)  # JSON lines only
        self.assertIn("stopping", err)

    def test_print_config(self):
        r = subprocess.run([os.path.join(BIN, "agenthub-standin-erp"), "--print-config"],
                           capture_output=True, text=True, timeout=10,
                           env=dict(os.environ, ERP_LISTEN="127.0.0.1:1"))
        self.assertEqual(r.returncode, 0)
        self.assertIn("ERP_LISTEN=127.0.0.1:1", r.stdout)


@unittest.skipUnless(os.environ.get("CHROMA_URL"), "needs the stack's ChromaDB (CHROMA_URL)")
class KbCliTest(unittest.TestCase):
    tenant = "clitest-%d" % os.getpid()

    @classmethod
    def setUpClass(cls):
        if os.environ.get("DATABASE_URL"):
            S.psql("INSERT INTO tenants (tenant_id, name) VALUES (:'a', 'kb cli') "
                   "ON CONFLICT DO NOTHING", cls.tenant)

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("DATABASE_URL"):
            S.psql("DELETE FROM tenants WHERE tenant_id = :'a'", cls.tenant)
        url = "%s/api/v2/tenants/default_tenant/databases/default_database/collections/agenthub_%s" % (
            os.environ["CHROMA_URL"].rstrip("/"), cls.tenant)
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10)
        except urllib.error.HTTPError:
            pass

    def ctl(self, *args):
        # --local: no tenant LLM config is needed (and none exists for this test tenant)
        return subprocess.run([os.path.join(BIN, "agenthubctl")] + list(args),
                              capture_output=True, text=True, timeout=120)

    def test_add_then_search_cites_source(self):
        files = [os.path.join(KB, f) for f in ("payment-policy.md", "shipping-policy.md",
                                               "chinh-sach-van-chuyen.md")]
        r = self.ctl("kb", "add", "--tenant", self.tenant, "--local", *files)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"payment-policy\.md: [1-9][0-9]* chunks")
        self.assertRegex(r.stdout, r"chinh-sach-van-chuyen\.md: [1-9][0-9]* chunks")
        r = self.ctl("kb", "search", "--tenant", self.tenant, "--local", "--top-k", "2",
                     "Which carriers ship our orders and how is a tracking number looked up")
        self.assertEqual(r.returncode, 0, r.stderr)
        res = json.loads(r.stdout)["results"]
        self.assertEqual(len(res), 2)
        self.assertEqual(res[0]["source"], "shipping-policy.md")
        self.assertTrue(res[0]["id"].startswith("shipping-policy.md#"))
        self.assertGreaterEqual(res[0]["score"], res[1]["score"])

    def test_source_override_and_replace(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("Forklift certification is renewed every two years.")
            path = f.name
        try:
            r = self.ctl("kb", "add", "--tenant", self.tenant, "--local", "--source",
                         "forklift-rules", path)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("forklift-rules: 1 chunks", r.stdout)
            r = self.ctl("kb", "search", "--tenant", self.tenant, "--local", "--top-k", "1",
                         "forklift certification renewal")
            self.assertEqual(json.loads(r.stdout)["results"][0]["id"], "forklift-rules#0")
        finally:
            os.unlink(path)

    @unittest.skipUnless(os.environ.get("DATABASE_URL"), "needs the stack's PostgreSQL")
    def test_added_documents_are_listed_and_removed_by_the_admin_api(self):
        """kb add wrote ChromaDB only: GET /api/admin/knowledge listed nothing of the demo's
        knowledge base and DELETE answered 404 for a document the agent answered from. The
        API's listing and removal are the same statements; here the rows they read."""
        r = self.ctl("kb", "add", "--tenant", self.tenant, "--local",
                     os.path.join(KB, "payment-policy.md"))
        self.assertEqual(r.returncode, 0, r.stderr)
        ing = S.Ingress()
        try:
            op = ing.operator_token()
            path = "/api/admin/knowledge?tenant_id=" + self.tenant
            st, body, _ = ing.request("GET", path, token=op)
            self.assertEqual(st, 200, body)
            docs = {d["doc_id"]: d for d in body["items"]}
            self.assertIn("payment-policy.md", docs, body)
            self.assertGreater(docs["payment-policy.md"]["chunk_count"], 0)
            st, body, _ = ing.request("DELETE", "/api/admin/knowledge/%s/payment-policy.md"
                                      % self.tenant, token=op)
            self.assertEqual(st, 204, body)
            r = self.ctl("kb", "search", "--tenant", self.tenant, "--local", "--top-k", "5",
                         "late payment interest")
            self.assertNotIn("payment-policy.md", r.stdout)
        finally:
            ing.stop_and_check(self)
        r = self.ctl("kb", "add", "--tenant", "no-such-tenant-%d" % os.getpid(), "--local",
                     os.path.join(KB, "payment-policy.md"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such tenant", r.stderr)

    def test_usage_errors(self):
        self.assertEqual(self.ctl("kb").returncode, 2)
        self.assertEqual(self.ctl("kb", "frobnicate").returncode, 2)
        self.assertEqual(self.ctl("kb", "add", os.path.join(KB, "payment-policy.md")).returncode, 2)
        self.assertEqual(self.ctl("kb", "add", "--tenant", "bad/tenant", "x").returncode, 2)
        self.assertEqual(self.ctl("kb", "add", "--tenant", self.tenant).returncode, 2)
        r = self.ctl("kb", "add", "--tenant", self.tenant, "--local", "/nonexistent/file.md")
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/file.md", r.stderr)
        self.assertEqual(self.ctl("kb", "--help").returncode, 0)

    def test_search_empty_kb(self):
        r = self.ctl("kb", "search", "--tenant", self.tenant + "-none", "--local", "anything")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"results": []})


if __name__ == "__main__":
    unittest.main()
