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


class AdminPanelInBrowser(unittest.TestCase):
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
