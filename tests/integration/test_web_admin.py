"""test_web_admin.py — the admin panel (/admin) in a real browser (issue 13, parts 1 and 5).

Brings up the real pipeline (pipeline_harness: stand-in ERP and LLM, ingress, router, one
agent process, migrations and the demo seed) plus the docworker, with a platform operator key,
then runs tests/browser/admin.spec.mjs: Debian's Chromium driven by playwright-core (from
web/node_modules, `make web`). The spec clicks through the panel's flows (tenant, tool, agent,
permissions, LLM config, API keys, knowledge search preview, the new agent's answer and its
tool call in the conversation view, caches and audit, LLM models, a tenant admin's batch OCR
with live progress, form validation and API errors as worded) and prints one line per check.
Screenshots of each page go to var/screenshots/admin-*.png.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import pipeline_harness as H  # noqa: E402

ROOT = H.ROOT
CHROMIUM = os.environ.get("AGENTHUB_CHROMIUM", "/usr/bin/chromium")
SPEC = os.path.join(ROOT, "tests", "browser", "admin.spec.mjs")
SHOTS = os.path.join(ROOT, "var", "screenshots")

KB_TEXT = """Returns and refunds for damaged parcels

A parcel that arrives damaged can be returned within 30 days of delivery. The refund window
for damaged parcels is 30 days; the refund is paid to the original card within 5 business
days after the returned parcel is inspected at the Hanoi depot.
"""


def why_not():
    why = H.stack_missing()
    if why:
        return why
    if not os.access(CHROMIUM, os.X_OK):
        return "no chromium at " + CHROMIUM
    if not shutil.which("node"):
        return "no node"
    if not os.path.isdir(os.path.join(ROOT, "web", "node_modules", "playwright-core")):
        return "web/node_modules/playwright-core is missing (make web)"
    if not os.path.exists(os.path.join(ROOT, "build", "web", "admin.js")):
        return "build/web/admin.js is missing (make web)"
    if not os.access(os.path.join(H.BIN, "agenthub-docworker"), os.X_OK):
        return "no agenthub-docworker in " + H.BIN
    return None


class AdminPanel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = why_not()
        if why:
            raise unittest.SkipTest(why)
        cls.p = H.Pipeline("webadmin")
        opdir = os.path.join(cls.p.dir, "operator")
        os.makedirs(opdir)
        subprocess.run([os.path.join(H.BIN, "agenthubctl"), "keygen", "--out", opdir, "--force"],
                       check=True, capture_output=True, text=True)
        cls.op_private = os.path.join(opdir, "jwt_private.pem")
        cls.saved_env = {k: os.environ.get(k) for k in ("OPERATOR_PUBLIC_KEY_FILE",
                                                         "INGRESS_WEB_ROOT")}
        os.environ["OPERATOR_PUBLIC_KEY_FILE"] = os.path.join(opdir, "jwt_public.pem")
        os.environ["INGRESS_WEB_ROOT"] = os.path.join(ROOT, "build", "web")
        try:
            cls.p.start()
            cls.p.spawn("docworker", [os.path.join(H.BIN, "agenthub-docworker")])
            assert cls.p.wait_log("docworker", "docworker started", 60), cls.p.log("docworker")
        except BaseException:
            cls.p.stop()
            cls.restore_env()
            raise

    @classmethod
    def restore_env(cls):
        for k, v in cls.saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "p"):
            cls.p.stop()
            cls.restore_env()
            problems = cls.p.sanitizer_reports(["ingress", "router", "agent-0", "docworker"])
            assert not problems, "\n".join(problems)
            shutil.rmtree(cls.p.dir, ignore_errors=True)

    def operator_token(self):
        r = self.p.run([os.path.join(H.BIN, "agenthubctl"), "token", "--operator", "--key",
                        self.op_private, "--sub", "web-operator", "--ttl", "3600"])
        return r.stdout.strip()

    # ---- the admin endpoints the panel added, over plain HTTP ---------------------------------
    def admin(self, method, path, body=None, token=None):
        return self.p.request(method, path, body, token=token or self.operator_token())

    def test_whoami_names_the_role(self):
        st, r = self.admin("GET", "/api/admin/whoami")
        self.assertEqual((st, r["kind"], r["sub"], r["tenant_id"]),
                         (200, "operator", "web-operator", None))
        tok = self.p.token("demo", "demo-boss", roles="user,admin")
        st, r = self.admin("GET", "/api/admin/whoami", token=tok)
        self.assertEqual((st, r["kind"], r["tenant_id"]), (200, "tenant_admin", "demo"))
        st, r = self.admin("GET", "/api/admin/whoami", token=self.p.tokens["demo"])
        self.assertEqual(st, 403, r)

    def test_tool_test_runs_the_tool_code_path(self):
        """POST /api/admin/tools/{id}/test: the SSRF guard, the input schema, tenant access."""
        name = "webtest_" + uuid.uuid4().hex[:8]
        tool = {"name": name, "base_type": "HTTP_GET", "description": "debt by MST",
                "config": {"endpoint": "http://10.11.12.13:8080/api/debt/{mst}"},
                "input_schema": {"type": "object", "required": ["mst"], "properties": {
                    "mst": {"type": "string", "pattern": "^[0-9]{10}$"}}}}
        st, t = self.admin("POST", "/api/admin/tools", tool)
        self.assertEqual(st, 201, t)
        path = "/api/admin/tools/%s/test" % t["tool_id"]
        # a private address in neither allow-list (the tool's, TOOL_ALLOWED_HOSTS): refused
        st, r = self.admin("POST", path, {"tenant_id": "demo", "arguments": {"mst": "0123456789"}})
        self.assertEqual(st, 200, r)
        self.assertFalse(r["ok"], r)
        self.assertIn("endpoint refused", r["error"])
        # the stand-in ERP is in TOOL_ALLOWED_HOSTS (the ingress's, as the agents')
        st, t = self.admin("PATCH", "/api/admin/tools/" + t["tool_id"],
                           {"config": {"endpoint": self.p.erp + "/api/debt/{mst}"}})
        self.assertEqual(st, 200, t)
        st, r = self.admin("POST", path, {"tenant_id": "demo", "arguments": {"mst": "0123456789"}})
        self.assertEqual(st, 200, r)
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["result"]["mst"], "0123456789")
        # arguments outside the schema never reach the backend
        st, r = self.admin("POST", path, {"tenant_id": "demo", "arguments": {"mst": "12"}})
        self.assertEqual(st, 200, r)
        self.assertFalse(r["ok"])
        self.assertIn("invalid arguments", r["error"])
        st, r = self.admin("POST", path, {"tenant_id": "demo", "arguments": "mst=1"})
        self.assertEqual((st, r["error"]["code"]), (400, "invalid_request"), r)
        # a tenant admin tests only for its own tenant; an unknown tool is 404
        acme_admin = self.p.token("acme", "acme-boss", roles="user,admin")
        st, r = self.admin("POST", path, {"tenant_id": "demo", "arguments": {}}, token=acme_admin)
        self.assertEqual(st, 403, r)
        # ... and only a tool its tenant may use: acme is not permitted get_customer_debt
        debt = self.p.sql("SELECT tool_id FROM tool_configs WHERE name = 'get_customer_debt'")[0][0]
        st, r = self.admin("POST", "/api/admin/tools/%s/test" % debt,
                           {"arguments": {"mst": "0123456789"}}, token=acme_admin)
        self.assertEqual((st, r["error"]["message"]),
                         (403, "the tenant is not permitted this tool"), r)
        demo_admin = self.p.token("demo", "demo-boss", roles="user,admin")
        st, r = self.admin("POST", "/api/admin/tools/%s/test" % debt,
                           {"arguments": {"mst": "0123456789"}}, token=demo_admin)
        self.assertEqual((st, r["tenant_id"], r["ok"]), (200, "demo", True), r)
        st, r = self.admin("POST", "/api/admin/tools/%s/test" % uuid.uuid4(),
                           {"tenant_id": "demo", "arguments": {}})
        self.assertEqual(st, 404, r)
        st, r = self.admin("POST", path, {"tenant_id": "nosuch" + uuid.uuid4().hex[:6]})
        self.assertEqual(st, 404, r)

    def test_knowledge_search_preview(self):
        """POST /api/admin/knowledge/search: what the RAG tool gets, for the caller's tenant."""
        if not self.p.kb_loaded:
            self.skipTest("the demo knowledge base was not loaded")
        st, r = self.admin("POST", "/api/admin/knowledge/search",
                           {"tenant_id": "demo", "query": "How many days to return goods?",
                            "top_k": 3})
        self.assertEqual(st, 200, r)
        self.assertTrue(r["ok"], r)
        hits = r["result"]["results"]
        self.assertTrue(0 < len(hits) <= 3, hits)
        for h in hits:
            self.assertTrue(h["text"] and h["source"] and isinstance(h["score"], float), h)
        self.assertIn("return-policy.md", [h["source"] for h in hits])
        for body, code in (({"tenant_id": "demo", "query": ""}, 400),
                           ({"tenant_id": "demo", "query": "x", "top_k": 0}, 400),
                           ({"tenant_id": "demo", "query": "x" * 2001}, 400),
                           ({"tenant_id": "bad tenant", "query": "x"}, 400)):
            st, r = self.admin("POST", "/api/admin/knowledge/search", body)
            self.assertEqual(st, code, (body, r))
        acme_admin = self.p.token("acme", "acme-boss", roles="user,admin")
        st, r = self.admin("POST", "/api/admin/knowledge/search",
                           {"tenant_id": "demo", "query": "returns"}, token=acme_admin)
        self.assertEqual(st, 403, r)
        # a tenant admin's own tenant by default: a new tenant has no knowledge, so no hit of
        # demo's (acme may hold knowledge other suites of the shared stack gave it)
        fresh = "kbempty_" + uuid.uuid4().hex[:8]
        st, r = self.admin("POST", "/api/admin/tenants", {"tenant_id": fresh, "name": fresh})
        self.assertEqual(st, 201, r)
        fresh_admin = self.p.token(fresh, "fresh-boss", roles="user,admin")
        st, r = self.admin("POST", "/api/admin/knowledge/search", {"query": "return goods"},
                           token=fresh_admin)
        self.assertEqual((st, r["tenant_id"], r["result"]["results"]), (200, fresh, []), r)

    def test_conversations_for_admins(self):
        """GET /api/admin/conversations[/{id}]: any user's sessions of the admin's tenant, the
        messages with metadata and tool events; nothing of another tenant."""
        j = self.p.chat("What is the debt for MST 0123456789?")
        done = self.p.wait_job(j["job_id"])
        self.assertEqual(done["status"], "done", done)
        demo_admin = self.p.token("demo", "demo-boss", roles="user,admin")
        st, r = self.admin("GET", "/api/admin/conversations?user_id=demo-user", token=demo_admin)
        self.assertEqual(st, 200, r)
        self.assertIn(j["session_id"], [s["session_id"] for s in r["items"]])
        self.assertTrue(all(s["user_id"] == "demo-user" for s in r["items"]))
        # the list pages, newest first, and says when more follow
        st, c1 = self.admin("GET", "/api/admin/conversations?tenant_id=demo&limit=1")
        st2, c2 = self.admin("GET", "/api/admin/conversations?tenant_id=demo&limit=1&offset=1")
        self.assertEqual((st, st2, len(c1["items"]), c1.get("next_offset")), (200, 200, 1, 1), c1)
        self.assertNotEqual(c1["items"][0]["session_id"], c2["items"][0]["session_id"])
        st, c = self.admin("GET", "/api/admin/conversations/%s?tenant_id=demo" % j["session_id"])
        self.assertEqual(st, 200, c)
        roles = [m["role"] for m in c["messages"]]
        self.assertEqual(roles, ["user", "assistant"], c)
        self.assertEqual(c["messages_omitted"], 0, c)
        # a long session: the newest 1,000 messages, oldest first, and how many came before
        self.p.sql("INSERT INTO messages (tenant_id, session_id, role, content, timestamp) "
                   "SELECT 'demo', %s, CASE WHEN i % 2 = 0 THEN 'user' ELSE 'assistant' END, "
                   "'filler ' || i, now() + i * interval '1 ms' FROM generate_series(1, 1004) i;",
                   j["session_id"])
        st, long_ = self.admin("GET", "/api/admin/conversations/%s?tenant_id=demo"
                               % j["session_id"])
        self.assertEqual(st, 200, long_)
        texts = [m["content"] for m in long_["messages"]]
        self.assertEqual((len(texts), long_["messages_omitted"]), (1000, 6))
        self.assertEqual((texts[0], texts[-1]), ("filler 5", "filler 1004"))
        self.assertNotIn("order_total", long_["messages"][0])
        a = c["messages"][1]
        self.assertEqual((a["metadata"]["agent"], a["job_status"]), ("AgentDebt", "done"), a)
        calls = [e for e in a["events"] if e["event"] == "tool_call"]
        results = [e for e in a["events"] if e["event"] == "tool_result"]
        self.assertEqual(calls[0]["data"]["tool"], "get_customer_debt", a["events"])
        self.assertEqual(calls[0]["data"]["arguments"]["mst"], "0123456789")
        self.assertTrue(results[0]["data"]["ok"], results)
        self.assertFalse([e for e in a["events"] if e["event"] == "delta"])
        acme_admin = self.p.token("acme", "acme-boss", roles="user,admin")
        st, r = self.admin("GET", "/api/admin/conversations/%s?tenant_id=demo" % j["session_id"],
                           token=acme_admin)
        self.assertEqual(st, 403, r)
        st, r = self.admin("GET", "/api/admin/conversations/%s" % j["session_id"],
                           token=acme_admin)
        self.assertEqual(st, 404, r)
        st, r = self.admin("GET", "/api/admin/conversations?tenant_id=demo",
                           token=self.p.tokens["demo"])
        self.assertEqual(st, 403, r)
        st, r = self.admin("GET", "/api/admin/conversations")
        self.assertEqual(st, 400, r)

    def test_admin_panel_flows(self):
        tenant = "webt" + uuid.uuid4().hex[:8]
        work = tempfile.mkdtemp(prefix="webadmin-")
        try:
            kb = os.path.join(work, "refunds-%s.md" % tenant)
            with open(kb, "w") as f:
                f.write(KB_TEXT)
            fx = os.path.join(ROOT, "tests", "fixtures", "ocr")
            docs = [os.path.join(fx, n) for n in ("invoice.png", "receipt.jpg", "shipment.png")]
            env = dict(os.environ)
            env.update({
                "ADMIN_URL": self.p.base,
                "OPERATOR_TOKEN": self.operator_token(),
                "TENANT_ADMIN_TOKEN": self.p.token("demo", "demo-web-admin", roles="user,admin"),
                "ADMIN_TENANT": "demo",
                "NEW_TENANT": tenant,
                "NEW_USER_TOKEN": self.p.token(tenant, tenant + "-user"),
                "ERP_URL": self.p.erp,
                "LLM_MODEL": self.p.llm_model,
                "LLM_BASE_URL": self.p.llm_base(),
                "KB_FILE": kb,
                "DOC_FILES": ",".join(docs),
                "SHOTS": SHOTS,
                "CHROMIUM": CHROMIUM,
                # Chromium's profile and temporary files stay under the suite's TMPDIR
                "HOME": work,
            })
            try:
                os.remove(os.path.join(SHOTS, "admin-failure.png"))
            except OSError:
                pass
            t0 = time.time()
            r = subprocess.run(["node", SPEC], env=env, capture_output=True, text=True,
                               timeout=600, cwd=ROOT)
            sys.stderr.write(r.stdout)
            sys.stderr.write("(browser flow took %.1f s)\n" % (time.time() - t0))
            if r.returncode != 0:
                sys.stderr.write(r.stderr[-4000:])
                sys.stderr.write("\n--- ingress log tail ---\n" + self.p.log("ingress")[-3000:])
            self.assertEqual(r.returncode, 0, "browser checks failed (see the lines above)")
            self.assertIn(" passed, 0 failed", r.stdout)
            for page in ("login", "tenants", "tools", "agents", "permissions", "llm-config",
                         "api-keys", "knowledge", "conversations", "system", "llm-models",
                         "documents"):
                self.assertTrue(os.path.exists(os.path.join(SHOTS, "admin-%s.png" % page)), page)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
