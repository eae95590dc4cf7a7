"""The web console in a real browser against the real pipeline: the chat widget
(tests/browser/widget.spec.mjs) and the monitoring dashboard (tests/browser/dashboard.spec.mjs),
driven by playwright-core (web/node_modules) in Debian's Chromium.

Brings up the pipeline (pipeline_harness: stand-in ERP and LLM, ingress, router, an agent), with
the ingress serving a web root that is build/web plus the demo's token file (as `make run`
writes it: compose/local/demo), INGRESS_CORS_ORIGINS listing one second origin and
INGRESS_METRICS_TARGETS the router and the agent. A second ingress on the same pipeline has
INGRESS_MAX_STREAMS=1 with that one stream held (a document batch's event stream: no docworker
runs, so it stays open), so the widget's stream is refused with 503 and it falls back to
long-poll; a third has INGRESS_SSE_MAX_S=1, so the widget's streams are dropped and resumed
(its page is for a tenant whose stand-in model streams 5 words/s: an answer outlasts a stream). Two python http.server pages on other loopback ports embed the widget with one
script tag: one origin allowed, one not. Screenshots go to var/screenshots/ (widget-*.png,
dashboard-*.png). Also checks GET /api/admin/metrics/cluster directly (who may read it, its
shape, the router's and agent's series).
"""
import base64
import functools
import http.client
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_harness as H  # noqa: E402

ROOT = H.ROOT
CHROMIUM = os.environ.get("AGENTHUB_CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
QUESTION = "What is the debt for MST 0123456789?"
FOLLOWUP = "And the debt for MST 0123456789 once more, please?"
XSS = "Show me the xss-probe for my debt"

HOST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>A site that embeds AgentHub</title>
<style>* { color: rgb(255, 0, 0) !important; font-family: serif !important; }
textarea, button { display: none !important; }</style>
<script>window.getAgentHubToken = function () {
  return fetch("/token.txt").then(function (r) { return r.text(); }); };</script>
</head><body><h1>Host site</h1><p>Its own styles are loud; the widget keeps its own.</p>
%s
</body></html>
"""


def usable():
    why = H.stack_missing()
    if why:
        return why
    if not os.access(CHROMIUM, os.X_OK):
        return "no chromium at " + CHROMIUM
    if not NODE:
        return "node is not installed"
    if not os.path.isdir(os.path.join(ROOT, "web", "node_modules", "playwright-core")):
        return "web/node_modules is missing (compose/local/web-build)"
    if not os.path.isfile(os.path.join(ROOT, "build", "web", "widget.js")):
        return "build/web is not built (make web)"
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class PageServer:
    """A python http.server on another loopback port: another origin than the ingress."""

    def __init__(self, directory):
        handler = functools.partial(_Quiet, directory=directory)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def run_spec(name, cfg, timeout=600):
    env = dict(os.environ)
    env["AGENTHUB_SPEC_CONFIG"] = json.dumps(cfg)
    env.setdefault("TMPDIR", tempfile.gettempdir())
    p = subprocess.run([NODE, os.path.join(ROOT, "tests", "browser", name)], env=env,
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


class WebConsoleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = usable()
        if why:
            raise unittest.SkipTest(why)
        cls.tmp = tempfile.mkdtemp(prefix="agenthub-webconsole-")
        # the operator's key pair (the dashboard's credential)
        opdir = os.path.join(cls.tmp, "operator")
        subprocess.run([os.path.join(H.BIN, "agenthubctl"), "keygen", "--out", opdir, "--force"],
                       check=True, capture_output=True)
        cls.op_token = subprocess.run(
            [os.path.join(H.BIN, "agenthubctl"), "token", "--operator", "--key",
             os.path.join(opdir, "jwt_private.pem"), "--sub", "web-test-operator", "--ttl",
             "3600"], check=True, capture_output=True, text=True).stdout.strip()
        cls.webroot = os.path.join(cls.tmp, "web")
        shutil.copytree(os.path.join(ROOT, "build", "web"), cls.webroot)
        cls.pages = [os.path.join(cls.tmp, d) for d in ("allowed", "foreign")]
        for d in cls.pages:
            os.makedirs(d)
        cls.allowed = PageServer(cls.pages[0])
        cls.foreign = PageServer(cls.pages[1])
        cls.busy_port = H.free_port()
        common = {"INGRESS_WEB_ROOT": cls.webroot,
                  "OPERATOR_PUBLIC_KEY_FILE": os.path.join(opdir, "jwt_public.pem"),
                  "INGRESS_CORS_ORIGINS": cls.allowed.origin}
        ienv = dict(common)
        cls.p = H.Pipeline("webconsole", llm_env={"STANDIN_LLM_TPS": "20"},
                           ingress_env=ienv)
        # the pipeline picks its own metrics ports; the targets are known only once they are
        ienv["INGRESS_METRICS_TARGETS"] = "router=127.0.0.1:%d,agent-0=127.0.0.1:%d" % (
            cls.p.ports["router_metrics"], cls.p.ports["agent_metrics_0"])
        try:
            cls.p.start()
        except Exception:
            cls.p.stop()
            raise
        cls.base = cls.p.base
        tok = cls.p.tokens["demo"]
        with open(os.path.join(cls.webroot, "demo-token.json"), "w") as f:
            json.dump({"tenant": "demo", "token": tok, "operator_token": cls.op_token}, f)
        for d in cls.pages:
            with open(os.path.join(d, "token.txt"), "w") as f:
                f.write(tok)
            tag = ('<script src="%s/web/widget.js" data-ingress="%s" data-tenant="demo" '
                   'data-token-provider="getAgentHubToken"></script>' % (cls.base, cls.base))
            with open(os.path.join(d, "host.html"), "w") as f:
                f.write(HOST_PAGE % tag)
            tag = ('<script src="%s/web/widget.js" data-ingress="%s" data-tenant="demo" '
                   'data-token="%s"></script>' % (cls.base, cls.base, tok))
            with open(os.path.join(d, "host-token.html"), "w") as f:
                f.write(HOST_PAGE % tag)
        # the busy ingress: one held request at most, and it is taken
        benv = dict(common)
        benv.update({"INGRESS_LISTEN": "127.0.0.1:%d" % cls.busy_port,
                     "INGRESS_MAX_STREAMS": "1"})
        cls.p.spawn("ingress-busy", [os.path.join(H.BIN, "agenthub-ingress")], benv)
        assert H.wait_ingress(cls.busy_port), cls.p.log("ingress-busy")
        cls.busy_base = "http://127.0.0.1:%d" % cls.busy_port
        cls.blocker = cls.hold_one_stream()
        # the short ingress: every stream ends after a second (the widget resumes it); its page
        # is for a tenant whose model answers at 5 words/s, so every answer outlasts a stream
        cls.p.add_tenant("webslow", "standin-1@tps=5")
        short_root = os.path.join(cls.tmp, "web-short")
        shutil.copytree(os.path.join(ROOT, "build", "web"), short_root)
        with open(os.path.join(short_root, "demo-token.json"), "w") as f:
            json.dump({"tenant": "webslow", "token": cls.p.tokens["webslow"]}, f)
        cls.short_port = H.free_port()
        senv = dict(common)
        senv.update({"INGRESS_WEB_ROOT": short_root,"INGRESS_LISTEN": "127.0.0.1:%d" % cls.short_port,
                     "INGRESS_SSE_MAX_S": "1"})
        cls.p.spawn("ingress-short", [os.path.join(H.BIN, "agenthub-ingress")], senv)
        assert H.wait_ingress(cls.short_port), cls.p.log("ingress-short")
        cls.short_base = "http://127.0.0.1:%d" % cls.short_port

    @classmethod
    def hold_one_stream(cls):
        png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()
        body = json.dumps({"documents": [{"filename": "held.png", "content_type": "image/png",
                                          "content_base64": png}]})
        c = http.client.HTTPConnection("127.0.0.1", cls.busy_port, timeout=30)
        c.request("POST", "/api/demo/documents", body,
                  {"Authorization": "Bearer " + cls.p.tokens["demo"],
                   "Content-Type": "application/json"})
        r = c.getresponse()
        batch = json.loads(r.read())
        c.close()
        assert r.status == 202, (r.status, batch)
        c = http.client.HTTPConnection("127.0.0.1", cls.busy_port, timeout=600)
        c.request("GET", "/api/demo/documents/%s/events" % batch["batch_id"],
                  headers={"Authorization": "Bearer " + cls.p.tokens["demo"]})
        r = c.getresponse()
        assert r.status == 200, r.status
        return c, r

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "blocker"):
            cls.blocker[0].close()
        reports = []
        if hasattr(cls, "p"):
            cls.p.stop()
            # sanitizer builds: every process of this suite, the ingress's scraper included
            reports = cls.p.sanitizer_reports([n for n in cls.p.procs
                                               if n.startswith(("ingress", "router", "agent"))])
        for s in ("allowed", "foreign"):
            if hasattr(cls, s):
                getattr(cls, s).stop()
        if hasattr(cls, "tmp"):
            shutil.rmtree(cls.tmp, ignore_errors=True)
        assert not reports, "\n".join(reports)

    # ---- helpers ----------------------------------------------------------------------------
    def get(self, base, path, token=None):
        req = urllib.request.Request(base + path)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def metric(self, base, name):
        st, text = self.get(base, "/metrics")
        self.assertEqual(st, 200)
        total = 0.0
        for line in text.decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.split()[-1])
        return total

    # ---- the tests ----------------------------------------------------------------------------
    def test_0_dashboard_arithmetic(self):
        rc, out = run_spec("figures.spec.mjs", {})
        self.assertEqual(rc, 0, out)

    def test_1_busy_ingress_refuses_a_second_stream(self):
        """The premise of the long-poll flow: the busy ingress answers 503 to another stream."""
        job = self.p.chat("hello", tenant="demo")["job_id"]
        st, body = self.get(self.busy_base, "/api/demo/jobs/%s/events" % job,
                            self.p.tokens["demo"])
        self.assertEqual(st, 503, body)

    def long_session(self):
        """A session of the page's demo user with 60 messages: long turn N / answer N."""
        req = urllib.request.Request(self.base + "/api/demo/sessions", data=b"{}", method="POST",
                                     headers={"Authorization": "Bearer " + self.p.tokens["demo"],
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            sid = json.loads(r.read())["session_id"]
        self.p.sql("INSERT INTO messages (session_id, tenant_id, role, content, timestamp) "
                   "SELECT %s, 'demo', CASE WHEN i % 2 = 0 THEN 'user' ELSE 'assistant' END, "
                   "CASE WHEN i % 2 = 0 THEN 'long turn ' ELSE 'answer ' END || (i / 2), "
                   "now() - interval '1 hour' + i * interval '1 second' "
                   "FROM generate_series(0, 59) i", sid)
        return sid

    def test_2_widget(self):
        refused = self.metric(self.busy_base, "ingress_streams_refused_total")
        rc, out = run_spec("widget.spec.mjs", {
            "base": self.base, "tenant": "demo", "question": QUESTION, "followup": FOLLOWUP,
            "xss": XSS, "busyBase": self.busy_base, "shortBase": self.short_base,
            "longSession": self.long_session(),
            "shortTenant": "webslow",
            "hostAllowed": self.allowed.origin + "/host.html",
            "hostToken": self.allowed.origin + "/host-token.html",
            "hostForeign": self.foreign.origin + "/host.html"})
        sys.stderr.write(out)
        self.assertEqual(rc, 0, "widget.spec.mjs failed:\n" + out[-6000:] +
                         "\ningress log tail:\n" + self.p.log("ingress")[-3000:])
        self.assertIn("checks passed", out)
        # the busy flow really met a refused stream
        self.assertGreater(self.metric(self.busy_base, "ingress_streams_refused_total"), refused)
        # tokens never reach a log
        for name in ("ingress", "ingress-busy", "ingress-short"):
            self.assertNotIn(self.p.tokens["demo"], self.p.log(name))

    def test_3_dashboard(self):
        stop = threading.Event()

        def load():
            i = 0
            while not stop.is_set():
                try:
                    self.p.chat("What is the debt for MST 01234567%02d?" % (i % 100))
                except Exception:  # noqa: BLE001 — load only; the spec judges
                    pass
                i += 1
                stop.wait(0.4)

        th = threading.Thread(target=load, daemon=True)
        th.start()
        try:
            time.sleep(3)
            rc, out = run_spec("dashboard.spec.mjs", {"base": self.base, "waitS": 8})
        finally:
            stop.set()
            th.join(30)
        sys.stderr.write(out)
        self.assertEqual(rc, 0, "dashboard.spec.mjs failed:\n" + out[-6000:])

    def test_4_cluster_metrics_api(self):
        path = "/api/admin/metrics/cluster"
        st, _ = self.get(self.base, path)
        self.assertEqual(st, 401)
        st, body = self.get(self.base, path, self.p.tokens["demo"])
        self.assertEqual(st, 403, body)
        admin = self.p.token("demo", "demo-admin", roles="user,admin")
        st, body = self.get(self.base, path, admin)
        self.assertEqual(st, 403, body)
        st, body = self.get(self.base, path + "?window=7d", self.op_token)
        self.assertEqual(st, 400, body)
        self.p.wait_job(self.p.chat(QUESTION)["job_id"])
        time.sleep(2.5)
        for w, step in (("5m", 1), ("1h", 10), ("24h", 300)):
            st, body = self.get(self.base, path + "?window=" + w, self.op_token)
            self.assertEqual(st, 200, body)
            j = json.loads(body)
            self.assertEqual((j["window"], j["step_s"]), (w, step))
            for s in j["series"]:
                self.assertEqual(len(s["v"]), len(j["t"]), s["name"])
        self.assertGreaterEqual(len(j["t"]), 1)
        st, body = self.get(self.base, path + "?window=5m", self.op_token)
        j = json.loads(body)
        self.assertGreaterEqual(len(j["t"]), 3)
        self.assertEqual(j["t"], sorted(j["t"]))
        names = {(s["target"], s["name"]) for s in j["series"]}
        for want in (("ingress", "ingress_jobs_accepted_total"),
                     ("router", "agenthub_stage_jobs_in_flight"),
                     ("agent-0", "agenthub_stage_job_seconds_bucket"),
                     ("agent-0", "llm_call_seconds_bucket"),
                     ("agent-0", "tool_call_seconds_bucket"),
                     ("router", "agenthub_stage_consumer_lag_seconds"),
                     ("router", "up"), ("agent-0", "up")):
            self.assertIn(want, names)
        up = {s["target"]: s["v"][-1] for s in j["series"] if s["name"] == "up"}
        self.assertEqual(up, {"ingress": 1, "router": 1, "agent-0": 1})
        # /ready's checks are probed while someone reads: within a scrape or two of this
        deadline = time.time() + 15
        while not j["dependencies"] and time.time() < deadline:
            time.sleep(0.5)
            j = json.loads(self.get(self.base, path + "?window=5m", self.op_token)[1])
        self.assertEqual(j["dependencies"], {"postgres": "ok", "redis": "ok", "kafka": "ok"})
        self.assertEqual([t["name"] for t in j["targets"]], ["ingress", "router", "agent-0"])
        # the histogram's route filter: only POST /chat's latency is kept
        acc = [s for s in j["series"] if s["name"] == "ingress_jobs_accepted_total"]
        self.assertEqual(len(acc), 1)
        self.assertGreaterEqual(acc[0]["v"][-1], 1)
        lat = [s for s in j["series"]
               if s["name"] == "ingress_http_request_duration_seconds_bucket"]
        self.assertTrue(lat and all(set(s["labels"]) == {"le"} for s in lat), lat[:2])


if __name__ == "__main__":
    unittest.main()
