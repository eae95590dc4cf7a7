"""`make run` (compose/local/demo) end to end: it brings everything up on the running stack,
says loudly that the stand-in LLM is in use, prints the URL, tokens and a curl line, answers
one question through ingress, router and agent, and on exit stops what it started while the
stack it found running stays up."""
import os
import shutil
import socket
import subprocess
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_harness as ph  # noqa: E402


def run_demo(demo_dir, **extra):
    """compose/local/demo with DEMO_EXIT_AFTER_START=1, no real provider's key, free ports."""
    env = dict(os.environ)
    for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        env.pop(k, None)
    env.update({"AGENTHUB_DEMO_DIR": demo_dir, "DEMO_INGRESS_PORT": str(ph.free_port()),
                "DEMO_ERP_PORT": str(ph.free_port()),
                "DEMO_LLM_PORT": str(ph.free_port()), "DEMO_EXIT_AFTER_START": "1",
                "DEMO_METRICS_PORT": str(ph.free_port()),
                "AGENTHUB_BIN": ph.BIN}, **extra)
    r = subprocess.run([os.path.join(ph.ROOT, "compose", "local", "demo")], env=env,
                       capture_output=True, text=True, timeout=600)
    return env, r


def tail(r):
    """What a failed demo said last: its smoke report is on stdout, the stack's on stderr."""
    return r.stdout[-8000:] + "\n--- stderr:\n" + r.stderr[-3000:]


class DemoScript(unittest.TestCase):
    def test_demo_starts_answers_and_stops(self):
        why = ph.stack_missing()
        if why:
            self.skipTest(why)
        if not os.environ.get("AGENTHUB_VAR"):
            self.skipTest("AGENTHUB_VAR is not set (run through tests/run.sh)")
        demo_dir = os.path.join(os.environ["AGENTHUB_VAR"], "demo")
        env, r = run_demo(demo_dir)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, tail(r))
        self.assertIn("STAND-IN LLM", out)
        self.assertIn("http://127.0.0.1:%s" % env["DEMO_INGRESS_PORT"], out)
        self.assertIn("curl -s -X POST", out)
        self.assertIn('"response"', out)
        self.assertIn("[stand-in]", out)
        self.assertIn("smoke: dashboard data gathered from every stage", out)
        for f in ("token-demo", "token-acme", "jwt_private.pem", "fernet.env", "token-operator",
                  "token-demo-admin", "operator/jwt_private.pem", "tool-token/jwt_private.pem",
                  "web/demo-token.json"):
            self.assertTrue(os.path.exists(os.path.join(demo_dir, f)), f)
            if f.startswith(("token", "web/")) or "private" in f or f == "fernet.env":
                self.assertEqual(os.stat(os.path.join(demo_dir, f)).st_mode & 0o777, 0o600, f)
        # issue 17: the tenant users are plain users; the operator has its own token
        import base64
        import json

        def claims(name):
            with open(os.path.join(demo_dir, name)) as f:
                part = f.read().strip().split(".")[1]
            return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        self.assertEqual(claims("token-demo")["roles"], ["user"])
        self.assertEqual(claims("token-acme")["roles"], ["user"])
        self.assertEqual(claims("token-operator").get("token_use"), "operator")
        self.assertNotIn("tenant_id", claims("token-operator"))
        self.assertIn("token-operator", out)
        # the secrets are not printed
        with open(os.path.join(demo_dir, "fernet.env")) as f:
            key = f.read().strip().split("=", 1)[1]
        self.assertNotIn(key, out)
        # the stack it found running is still up
        st = subprocess.run([os.path.join(ph.ROOT, "compose", "local", "stack"), "status"],
                            env=os.environ, capture_output=True, text=True)
        self.assertEqual(st.returncode, 0, st.stdout + st.stderr)
        # and the services it started are gone
        for port in (env["DEMO_INGRESS_PORT"], env["DEMO_ERP_PORT"], env["DEMO_LLM_PORT"]):
            self.assertFalse(ph.wait_port(int(port), timeout=0.5), port)

    def test_demo_stops_when_another_program_holds_its_port(self):
        """Something else listening on 8080 answered the demo's readiness probe: it said
        "AgentHub is running" at a URL another program served. It stops instead, first, and
        names the setting that moves the port."""
        why = ph.stack_missing()
        if why:
            self.skipTest(why)
        if not os.environ.get("AGENTHUB_VAR"):
            self.skipTest("AGENTHUB_VAR is not set (run through tests/run.sh)")
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            other.listen()
            port = other.getsockname()[1]
            env, r = run_demo(os.path.join(os.environ["AGENTHUB_VAR"], "demo"),
                              DEMO_INGRESS_PORT=str(port))
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0, out[-2000:])
        self.assertIn("port %d (the ingress) is in use by another program" % port, out)
        self.assertIn("DEMO_INGRESS_PORT=", out)
        self.assertNotIn("AgentHub is running", out)
        for p in (env["DEMO_ERP_PORT"], env["DEMO_LLM_PORT"]):
            self.assertFalse(ph.wait_port(int(p), timeout=0.5), p)

    def test_demo_on_a_fresh_clone_starts_its_own_stack(self):
        """`make run` on a fresh clone: var/ does not exist yet. The demo made it with its
        secrets' umask (0700), and PostgreSQL, run as the postgres user, could not enter
        var/local: the stack stopped at once. Here the same layout is made in a folder of its
        own, with a stack of its own (dev broker) on ports of its own."""
        why = ph.stack_missing()
        if why:
            self.skipTest(why)
        if not os.environ.get("AGENTHUB_VAR"):
            self.skipTest("AGENTHUB_VAR is not set (run through tests/run.sh)")
        clone = os.path.join(os.environ["AGENTHUB_VAR"], "fresh-" + uuid.uuid4().hex[:8])
        os.mkdir(clone, 0o755)
        os.chmod(clone, 0o755)
        var = os.path.join(clone, "var")
        base = ph.free_stack_base(30000, 32000)
        stack_env = dict(os.environ, AGENTHUB_VAR=os.path.join(var, "local"),
                         AGENTHUB_PORT_BASE=str(base), AGENTHUB_KAFKA="dev")
        try:
            env, r = run_demo(os.path.join(var, "demo"), AGENTHUB_VAR=stack_env["AGENTHUB_VAR"],
                              AGENTHUB_PORT_BASE=str(base), AGENTHUB_KAFKA="dev")
            out = r.stdout + r.stderr
            self.assertEqual(r.returncode, 0, tail(r))
            self.assertIn("[stand-in]", out)
            self.assertIn("postgres: ready", out)
            # var/ as any other folder of the checkout; the secrets' folder owner-only
            self.assertEqual(os.stat(var).st_mode & 0o777, 0o755)
            self.assertEqual(os.stat(os.path.join(var, "demo")).st_mode & 0o777, 0o700)
            # the stack the demo started is stopped with it
            st = subprocess.run([os.path.join(ph.ROOT, "compose", "local", "stack"), "status"],
                                env=stack_env, capture_output=True, text=True)
            self.assertNotEqual(st.returncode, 0, st.stdout)
        finally:
            subprocess.run([os.path.join(ph.ROOT, "compose", "local", "stack"), "down"],
                           env=stack_env, capture_output=True, timeout=180)
            shutil.rmtree(clone, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
