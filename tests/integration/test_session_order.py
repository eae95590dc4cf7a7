"""Per-session order across agents and processes (common/session_order.h), through the real
processes: two agent processes, the router, the ingress, the stand-in LLM and ERP.

A session's first question goes to AgentDebt, whose ERP call is made slow; its second, sent
right after the first was accepted, goes to another agent (AgentAnalysis, RAG) or is answered
by the router (UNCLEAR). The second must be answered after the first, with the first's answer
in its history; a question of another session must not wait; and a first question that stays
unfinished past SESSION_ORDER_WAIT_MS no longer holds its session.
"""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_case as pc  # noqa: E402
import pipeline_harness as ph  # noqa: E402
from pipeline_case import first  # noqa: E402

MST = "0123456789"
SLOW_MS = 3000


def _dedicated_agents(env=None):
    """Two agent processes, each serving its own agents (agenthub-agent --agent NAME): a
    session's questions to AgentDebt and to AgentAnalysis are answered by different processes,
    so only session_order.h can keep their order (one process keeps it on its own, stage.h)."""
    def ready(pl):
        plan = {"agent-0": ["AgentDebt"], "agent-1": ["AgentAnalysis", "AgentShipment"]}
        for i, (name, agents) in enumerate(sorted(plan.items())):
            args = [os.path.join(ph.BIN, "agenthub-agent")]
            for a in agents:
                args += ["--agent", a]
            e = dict(env or {})
            e["METRICS_LISTEN"] = "127.0.0.1:%d" % ph.free_port()
            pl.spawn(name, args, e)
        for name in plan:
            assert pl.wait_log(name, "partitions assigned", 60), pl.log(name)
        time.sleep(1.0)
    return ready


class OrderCase(pc.PipelineCase):
    def answer_times(self, job_ids):
        """{job_id: the assistant message's timestamp as epoch seconds}."""
        out = {}
        for j in job_ids:
            rows = self.pl.sql("SELECT extract(epoch FROM timestamp) FROM messages "
                               "WHERE job_id = %s AND role = 'assistant'", j)
            self.assertEqual(len(rows), 1, (j, rows))
            out[j] = float(rows[0][0])
        return out

    def final_meta(self, job_id):
        ev = self.pl.events(job_id, timeout=90)
        f = first(ev, "final")
        self.assertIsNotNone(f, ev)
        return f["metadata"]


class SessionOrder(OrderCase):
    @classmethod
    def setUpClass(cls):
        cls.start_pipeline("order", agents=0, ready=_dedicated_agents())

    def setUp(self):
        self.pl.erp_fail("slow", ms=SLOW_MS)

    def tearDown(self):
        self.pl.erp_fail("ok")

    def test_second_question_to_another_agent_waits_for_the_first(self):
        r1 = self.pl.chat("What is the debt for MST %s?" % MST)            # AgentDebt, slow ERP
        r2 = self.pl.chat("What is the return policy for goods?",         # AgentAnalysis
                          session_id=r1["session_id"])
        m2 = self.final_meta(r2["job_id"])
        m1 = self.final_meta(r1["job_id"])
        self.assertEqual(m1["agent"], "AgentDebt", m1)
        self.assertEqual(m2["agent"], "AgentAnalysis", m2)
        t = self.answer_times([r1["job_id"], r2["job_id"]])
        self.assertLess(t[r1["job_id"]], t[r2["job_id"]], "the second was answered first")
        # the first question and its answer are in the second's history
        self.assertGreaterEqual(m2["history_messages"], 2, m2)
        self.assertNotIn("session_order", m2)

    def test_unclear_answer_waits_too(self):
        r1 = self.pl.chat("What is the debt for MST %s?" % MST)
        r2 = self.pl.chat("hello there", session_id=r1["session_id"])     # the router answers
        self.assertEqual(self.final_meta(r2["job_id"])["agent"], "SupervisorAgent")
        t = self.answer_times([r1["job_id"], r2["job_id"]])
        self.assertLess(t[r1["job_id"]], t[r2["job_id"]], "the UNCLEAR answer overtook")

    def test_other_sessions_do_not_wait(self):
        r1 = self.pl.chat("What is the debt for MST %s?" % MST)
        t0 = time.time()
        r2 = self.pl.chat("What is the return policy for goods?")         # a new session
        self.final_meta(r2["job_id"])
        took = time.time() - t0
        self.final_meta(r1["job_id"])
        t = self.answer_times([r1["job_id"], r2["job_id"]])
        self.assertLess(t[r2["job_id"]], t[r1["job_id"]], "another session waited")
        self.assertLess(took, SLOW_MS / 1000.0, took)

    def test_many_sessions_back_to_back_keep_order(self):
        """8 sessions, 4 questions each sent back to back (each after the previous one's 202),
        over both agent processes and three agents: every session's answers are stored in the
        order of its questions, and each answer's history holds all the earlier turns."""
        self.pl.erp_fail("ok")
        questions = ["What is the debt for MST %s?" % MST, "What is the return policy for goods?",
                     "Where is my shipment VN123456789?", "hello there"]
        sessions = {}
        errors = []

        def run(k):
            try:
                sid, jobs = None, []
                for q in questions:
                    r = self.pl.chat(q, session_id=sid)
                    sid = r["session_id"]
                    jobs.append(r["job_id"])
                sessions[k] = jobs
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(errors, [])
        for k, jobs in sessions.items():
            for j in jobs:
                self.assertEqual(self.pl.wait_job(j, timeout=90)["status"], "done", j)
            t = self.answer_times(jobs)
            order = sorted(jobs, key=lambda j: t[j])
            self.assertEqual(order, jobs, "session %d answered out of order" % k)
            for i, j in enumerate(jobs):
                rows = self.pl.sql("SELECT metadata->>'history_messages' FROM messages "
                                   "WHERE job_id = %s AND role = 'assistant' "
                                   "AND metadata ? 'history_messages'", j)
                if rows:  # the router's UNCLEAR answers have no history
                    self.assertGreaterEqual(int(rows[0][0]), 2 * i, (k, i, rows))


class SessionOrderBound(OrderCase):
    """A first question that stays unfinished past SESSION_ORDER_WAIT_MS no longer holds its
    session: the second goes on, and says so."""

    @classmethod
    def setUpClass(cls):
        env = {"SESSION_ORDER_WAIT_MS": "1000"}
        cls.start_pipeline("order-bound", agents=0, router_env=env, ready=_dedicated_agents(env))

    def test_stuck_predecessor_is_waited_for_only_up_to_the_bound(self):
        self.pl.erp_fail("slow", ms=6000)
        try:
            r1 = self.pl.chat("What is the debt for MST %s?" % MST)
            t0 = time.time()
            r2 = self.pl.chat("What is the return policy for goods?", session_id=r1["session_id"])
            m2 = self.final_meta(r2["job_id"])
            took = time.time() - t0
        finally:
            self.pl.erp_fail("ok")
        self.assertEqual(m2.get("session_order"), "timeout", m2)
        self.assertLess(took, 5.0, took)
        self.assertEqual(self.pl.wait_job(r1["job_id"], timeout=60)["status"], "done")


if __name__ == "__main__":
    unittest.main()
