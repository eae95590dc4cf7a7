"""Faults in the chat pipeline, through the real processes: an agent process killed mid-job,
poison messages on the topics, a failing LLM provider, a tool endpoint that is down."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_case as pc  # noqa: E402
from pipeline_case import first, kinds  # noqa: E402

MST = "0123456789"
BOUND_S = 45  # an LLM fault must end the job within this (timeouts 3 s, 1 retry)


def _ready(pl):
    for i in range(2):
        assert pl.wait_log("agent-%d" % i, "partitions assigned", 60)
    pl.add_tenant("slow", "standin-1@ttft=2500")
    pl.add_tenant("llm429", "standin-1@fault=429,ra=1")
    pl.add_tenant("llm500", "standin-1@fault=500")
    pl.add_tenant("llmbad", "standin-1@fault=malformed")
    pl.add_tenant("llmhang", "standin-1@fault=hang")
    pl.add_tenant("llmflaky", "standin-1@fault=429,n=1,ra=1,key=flaky")


class PipelineFaults(pc.PipelineCase):
    @classmethod
    def setUpClass(cls):
        bounded = {"LLM_TIMEOUT_MS": "3000", "LLM_MAX_RETRIES": "1"}
        cls.start_pipeline("faults", agents=2, agent_env=bounded, router_env=bounded,
                           tools=("kcat",), ready=_ready)

    def kcat(self, *args, input=None):
        return subprocess.run(["kcat", "-b", os.environ["KAFKA_BROKERS"]] + list(args),
                              input=input, capture_output=True, timeout=60)

    def test_agent_killed_mid_job_completes_elsewhere_once(self):
        r = self.pl.chat("What is the debt for MST %s?" % MST, tenant="slow")
        job = r["job_id"]
        victim = None
        end = time.time() + 30
        while victim is None and time.time() < end:
            for i in range(2):
                if job in self.pl.log("agent-%d" % i):
                    victim = i
            time.sleep(0.05)
        self.assertIsNotNone(victim, "no agent process started the job")
        survivor = 1 - victim
        self.pl.procs["agent-%d" % victim].send_signal(signal.SIGKILL)
        self.pl.procs["agent-%d" % victim].wait()
        j = self.pl.wait_job(job, tenant="slow", timeout=90)
        self.assertEqual(j["status"], "done", j)
        self.assertIn(job, self.pl.log("agent-%d" % survivor))
        n = self.pl.sql("SELECT count(*) FROM messages WHERE job_id = %s AND role = 'assistant'",
                        job)
        self.assertEqual(n[0][0], "1")
        ev = self.pl.events(job, tenant="slow")
        self.assertEqual(kinds(ev).count("final"), 1)
        # the pipeline keeps working with one agent process
        r2 = self.pl.chat("What is the debt for MST %s?" % MST)
        self.assertEqual(self.pl.wait_job(r2["job_id"])["status"], "done")

    def test_poison_messages_go_to_dlq_and_partitions_keep_flowing(self):
        marker = "garbage-%d{not json" % int(time.time() * 1000)
        for topic in ("agenthub.agent.AgentDebt", "agenthub.chat.requests"):
            for p in range(4):
                r = self.kcat("-P", "-t", topic, "-p", str(p), "-k", "poison",
                              input=(marker + "-" + topic).encode())
                self.assertEqual(r.returncode, 0, r.stderr)
        # every partition now holds poison ahead of the next job, whichever partition it takes
        found = {}
        end = time.time() + 60
        while time.time() < end and len(found) < 8:
            r = self.kcat("-C", "-t", "agenthub.dlq", "-o", "beginning", "-e", "-J")
            for line in r.stdout.decode("utf-8", "replace").splitlines():
                try:
                    m = json.loads(line)
                except ValueError:
                    continue
                if not (m.get("payload") or "").startswith(marker):
                    continue
                h = m.get("headers") or []
                hd = dict(zip(h[0::2], h[1::2]))
                found[(m["payload"], m.get("offset"), hd.get("x-source-partition"))] = hd
            time.sleep(0.5)
        self.assertEqual(len(found), 8, found)
        for hd in found.values():
            self.assertTrue(hd.get("x-error"), hd)
            self.assertIn(hd.get("x-source-topic"),
                          ("agenthub.agent.AgentDebt", "agenthub.chat.requests"))
        r = self.pl.chat("What is the debt for MST %s?" % MST)
        j = self.pl.wait_job(r["job_id"], timeout=60)
        self.assertEqual(j["status"], "done", j)

    def assert_llm_error(self, tenant):
        t0 = time.time()
        r = self.pl.chat("What is the debt for MST %s?" % MST, tenant=tenant)
        ev = self.pl.events(r["job_id"], tenant=tenant, timeout=BOUND_S + 15)
        elapsed = time.time() - t0
        self.assertEqual(kinds(ev)[-1], "error", (tenant, ev))
        err = first(ev, "error")
        self.assertEqual(err["code"], "llm_error", err)
        self.assertLess(elapsed, BOUND_S, tenant)
        self.assertEqual(self.pl.job(r["job_id"], tenant=tenant)["status"], "error")
        return err

    def test_llm_rate_limited(self):
        self.assert_llm_error("llm429")

    def test_llm_server_error(self):
        self.assert_llm_error("llm500")

    def test_llm_garbage(self):
        self.assert_llm_error("llmbad")

    def test_llm_hang(self):
        err = self.assert_llm_error("llmhang")
        self.assertIn("tim", err["message"].lower())

    def test_llm_transient_429_recovers(self):
        r = self.pl.chat("What is the debt for MST %s?" % MST, tenant="llmflaky")
        j = self.pl.wait_job(r["job_id"], tenant="llmflaky", timeout=BOUND_S)
        self.assertEqual(j["status"], "done", j)

    def test_tool_endpoint_down_answer_says_so(self):
        self.pl.erp_fail("down")
        try:
            r = self.pl.chat("What is the debt for MST %s?" % MST)
            ev = self.pl.events(r["job_id"])
        finally:
            self.pl.erp_fail("ok")
        res = first(ev, "tool_result")
        self.assertIsNotNone(res, ev)
        self.assertFalse(res["ok"])
        self.assertTrue(res["error"])
        final = first(ev, "final")
        self.assertIsNotNone(final, ev)
        self.assertIn("unavailable", final["response"].lower())

    def test_redelivery_after_answer_saved_completes_job_from_it(self):
        # The state a crash leaves between saving the answer and ending the job: the routed
        # message comes again, the job ends with the saved answer, nothing is answered twice.
        import uuid
        sid = self.pl.sql("INSERT INTO sessions (tenant_id, user_id) VALUES ('demo', 'demo-user') "
                          "RETURNING session_id")[0][0]
        job = str(uuid.uuid4())
        self.pl.sql("INSERT INTO jobs (job_id, tenant_id, session_id, user_id, status) VALUES "
                    "(%s, 'demo', %s, 'demo-user', 'running')", job, sid)
        self.pl.sql("INSERT INTO messages (session_id, tenant_id, role, content, metadata, job_id, "
                    "part) VALUES (%s, 'demo', 'assistant', 'saved answer', "
                    "'{\"agent\": \"AgentDebt\"}', %s, 0)", sid, job)
        env = {"version": 1, "type": "chat.routed", "job_id": job, "tenant_id": "demo",
               "user_id": "demo-user", "session_id": sid, "message_id": str(uuid.uuid4()),
               "traceparent": "00-%s-%s-01" % (uuid.uuid4().hex, uuid.uuid4().hex[:16]),
               "created_at": "2026-01-01T00:00:00Z", "attempt": 1,
               "payload": {"message": "What is the debt for MST %s?" % MST, "language": "en",
                           "agent": "AgentDebt", "intent": "debt_query",
                           "part": {"index": 0, "count": 1}}}
        r = self.kcat("-P", "-t", "agenthub.agent.AgentDebt", "-k", sid,
                      input=json.dumps(env).encode())
        self.assertEqual(r.returncode, 0, r.stderr)
        j = self.pl.wait_job(job, timeout=60)
        self.assertEqual(j["status"], "done", j)
        self.assertEqual(j["response"], "saved answer")
        n = self.pl.sql("SELECT count(*) FROM messages WHERE job_id = %s AND role = 'assistant'",
                        job)
        self.assertEqual(n[0][0], "1")
        ev = self.pl.events(job)
        self.assertEqual(kinds(ev), ["final"])

    def test_zz_sigterm_drains_in_flight_jobs(self):
        # Runs last: it stops the agent processes. A job in flight when SIGTERM arrives
        # finishes (within STAGE_DRAIN_TIMEOUT_MS) before the process exits cleanly.
        live = [n for n, p in self.pl.procs.items() if n.startswith("agent") and p.poll() is None]
        self.assertTrue(live)
        r = self.pl.chat("What is the debt for MST %s?" % MST, tenant="slow")
        job = r["job_id"]
        owner = None
        end = time.time() + 30
        while owner is None and time.time() < end:
            for n in live:
                if job in self.pl.log(n):
                    owner = n
            time.sleep(0.05)
        self.assertIsNotNone(owner)
        p = self.pl.procs[owner]
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=30), 0)
        self.assertIn("draining", self.pl.log(owner))
        j = self.pl.job(job, tenant="slow")
        self.assertEqual(j["status"], "done", j)
        n = self.pl.sql("SELECT count(*) FROM messages WHERE job_id = %s AND role = 'assistant'",
                        job)
        self.assertEqual(n[0][0], "1")


if __name__ == "__main__":
    unittest.main()
