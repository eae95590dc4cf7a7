"""Broker outage: with Kafka stopped, POST /chat answers 503 within a bound and leaves no user
message and no jobs row behind; /ready reports kafka down; after the broker is back,
submissions succeed again without restarting the ingress."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402

STACK = os.path.join(S.ROOT, "compose", "local", "stack")


def stack(*args):
    return subprocess.run([STACK] + list(args), capture_output=True, text=True, timeout=120)


class IngressBrokerOutageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = S.stack_env_missing()
        if why:
            raise unittest.SkipTest(why)
        if not os.environ.get("AGENTHUB_VAR") or not os.path.exists(STACK):
            raise unittest.SkipTest("needs compose/local/stack and AGENTHUB_VAR")
        # /ready probes on every call here (no INGRESS_READY_CACHE_MS window): these tests
        # watch a dependency go and come back within a second
        cls.ing = S.Ingress({"INGRESS_PUBLISH_TIMEOUT_MS": "2000", "INGRESS_READY_CACHE_MS": "0"})
        cls.tenant = S.unique("tk")
        cls.ing.ensure_tenant(cls.tenant)
        cls.tok = cls.ing.token(tenant=cls.tenant, sub="kim")

    @classmethod
    def tearDownClass(cls):
        stack("start", "kafka")
        if hasattr(cls, "ing"):
            cls.ing.stop_and_check(unittest.TestCase())

    def rows_for(self, text):
        msgs = S.psql("SELECT count(*) FROM messages WHERE tenant_id = :'a' AND content = :'b'",
                      self.tenant, text)[0][0]
        jobs = S.psql("SELECT count(*) FROM jobs j JOIN messages m ON m.message_id = "
                      "j.user_message_id WHERE j.tenant_id = :'a' AND m.content = :'b'",
                      self.tenant, text)[0][0]
        return int(msgs), int(jobs)

    def test_outage_and_recovery(self):
        st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.tenant,
                                       {"message": "before outage"}, token=self.tok)
        self.assertEqual(st, 202, resp)
        sessions_before = S.psql("SELECT count(*) FROM sessions WHERE tenant_id = :'a'",
                                 self.tenant)[0][0]

        r = stack("stop", "kafka")
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            for i in range(2):
                text = "during outage %d" % i
                t0 = time.time()
                st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.tenant,
                                               {"message": text}, token=self.tok, timeout=60)
                elapsed = time.time() - t0
                self.assertEqual(st, 503, resp)
                self.assertEqual(resp["error"]["code"], "unavailable")
                self.assertLess(elapsed, 10.0, "503 took %.1f s" % elapsed)
                self.assertEqual(self.rows_for(text), (0, 0))
            # a session created for the failed request was rolled back as well
            self.assertEqual(S.psql("SELECT count(*) FROM sessions WHERE tenant_id = :'a'",
                                    self.tenant)[0][0], sessions_before)
            # into an existing session: nothing added to it either
            st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.tenant,
                                           {"message": "outage in session",
                                            "session_id": resp_session(self)},
                                           token=self.tok, timeout=60)
            self.assertEqual(st, 503)
            self.assertEqual(self.rows_for("outage in session"), (0, 0))
            st, body, _ = self.ing.request("GET", "/ready", timeout=30)
            self.assertEqual(st, 503)
            self.assertEqual(body["checks"]["kafka"], "down")
            self.assertEqual(body["checks"]["postgres"], "ok")
        finally:
            r = stack("start", "kafka")
            self.assertEqual(r.returncode, 0, r.stderr)

        deadline = time.time() + 90
        st = None
        n = 0
        while time.time() < deadline:
            n += 1
            st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.tenant,
                                           {"message": "after outage %d" % n}, token=self.tok,
                                           timeout=60)
            if st == 202:
                break
            self.assertEqual(st, 503, resp)
            time.sleep(1)
        self.assertEqual(st, 202, "no recovery after the broker came back")
        self.assertEqual(self.rows_for("after outage %d" % n), (1, 1))
        self.assertEqual(self.ing.proc.poll(), None, "the ingress must not have exited")
        st, body, _ = self.ing.request("GET", "/ready", timeout=30)
        self.assertEqual(st, 200, body)


class IngressDependencyOutageTest(unittest.TestCase):
    """PostgreSQL down: 503 (never 500, never a hang), /ready says so, and the same process
    serves again once it is back. Redis down: chat submissions still succeed (the queued event
    is best effort), /ready says redis is down."""

    @classmethod
    def setUpClass(cls):
        why = S.stack_env_missing()
        if why:
            raise unittest.SkipTest(why)
        if not os.environ.get("AGENTHUB_VAR") or not os.path.exists(STACK):
            raise unittest.SkipTest("needs compose/local/stack and AGENTHUB_VAR")
        cls.ing = S.Ingress({"INGRESS_READY_CACHE_MS": "0"})  # see above
        cls.tenant = S.unique("to")
        cls.ing.ensure_tenant(cls.tenant)
        cls.tok = cls.ing.token(tenant=cls.tenant, sub="olga")

    @classmethod
    def tearDownClass(cls):
        stack("start", "postgres")
        stack("start", "redis")
        if hasattr(cls, "ing"):
            cls.ing.stop_and_check(unittest.TestCase())

    def chat(self, text):
        return self.ing.request("POST", "/api/%s/chat" % self.tenant, {"message": text},
                                token=self.tok, timeout=60)

    def test_postgres_outage(self):
        self.assertEqual(self.chat("before")[0], 202)
        r = stack("stop", "postgres")
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            t0 = time.time()
            st, body, _ = self.chat("during")
            self.assertEqual(st, 503, body)
            self.assertEqual(body["error"]["code"], "unavailable")
            self.assertLess(time.time() - t0, 15)
            st, body, _ = self.ing.request("GET", "/api/%s/sessions" % self.tenant,
                                           token=self.tok, timeout=60)
            self.assertEqual(st, 503, body)
            st, body, _ = self.ing.request("GET", "/ready", timeout=30)
            self.assertEqual((st, body["checks"]["postgres"]), (503, "down"))
        finally:
            r = stack("start", "postgres")
            self.assertEqual(r.returncode, 0, r.stderr)
        deadline = time.time() + 60
        st = None
        while time.time() < deadline:
            st, body, _ = self.chat("after")
            if st == 202:
                break
            time.sleep(1)
        self.assertEqual(st, 202)
        self.assertEqual(self.ing.request("GET", "/ready", timeout=30)[0], 200)

    def test_redis_outage(self):
        r = stack("stop", "redis")
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            st, body, _ = self.chat("redis is down")
            self.assertEqual(st, 202, body)
            st, body, _ = self.ing.request("GET", "/ready", timeout=30)
            self.assertEqual((st, body["checks"]["redis"]), (503, "down"))
            # the job itself is still readable from PostgreSQL
            st, job, _ = self.ing.request("GET", "/api/%s/jobs/%s" % (self.tenant,
                                                                      body_job(self)),
                                          token=self.tok, timeout=30)
            self.assertEqual(st, 200)
        finally:
            r = stack("start", "redis")
            self.assertEqual(r.returncode, 0, r.stderr)
        deadline = time.time() + 30
        while time.time() < deadline and self.ing.request("GET", "/ready")[0] != 200:
            time.sleep(0.5)
        self.assertEqual(self.ing.request("GET", "/ready")[0], 200)


def body_job(test):
    return S.psql("SELECT job_id FROM jobs WHERE tenant_id = :'a' ORDER BY created_at DESC "
                  "LIMIT 1", test.tenant)[0][0]


def resp_session(test):
    rows = S.psql("SELECT session_id FROM sessions WHERE tenant_id = :'a' LIMIT 1", test.tenant)
    return rows[0][0]


if __name__ == "__main__":
    unittest.main()
