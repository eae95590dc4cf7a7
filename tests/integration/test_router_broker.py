"""The router with the broker gone while a request is being classified: the routed message is
never acknowledged, so within ROUTER_PRODUCE_TIMEOUT_MS the job ends with an `error`
(broker_unavailable) instead of hanging, the router keeps running, and once the broker is back
chats are routed and answered again. Stops and starts the stack's dev broker
(compose/local/stack), like test_ingress_broker."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_case as pc  # noqa: E402

STACK = os.path.join(pc.ph.ROOT, "compose", "local", "stack")
PRODUCE_TIMEOUT_MS = 1500


def stack(*args):
    return subprocess.run([STACK] + list(args), capture_output=True, text=True, timeout=120)


def _ready(pl):
    assert pl.wait_log("agent-0", "partitions assigned", 60)
    # Classification takes 4 s: time to take the broker away while the router holds the job.
    pl.add_tenant("slowroute", "standin-1@ttft=4000")


class RouterBrokerOutage(pc.PipelineCase):
    @classmethod
    def setUpClass(cls):
        if not os.environ.get("AGENTHUB_VAR") or not os.path.exists(STACK):
            raise unittest.SkipTest("needs compose/local/stack and AGENTHUB_VAR")
        cls.start_pipeline("routerbroker", agents=1, ready=_ready,
                           router_env={"ROUTER_PRODUCE_TIMEOUT_MS": str(PRODUCE_TIMEOUT_MS)})

    @classmethod
    def tearDownClass(cls):
        stack("start", "kafka")
        super().tearDownClass()

    def job_row(self, job):
        rows = self.pl.sql("SELECT status, coalesce(error->>'code', '') FROM jobs "
                           "WHERE job_id = %s", job)
        return tuple(rows[0]) if rows else (None, None)

    def test_routed_publish_unacknowledged_fails_job_in_bound_then_recovers(self):
        r = self.pl.chat("What is the debt for MST 0123456789?", tenant="slowroute")
        job = r["job_id"]
        time.sleep(0.8)  # the router has it (lag is milliseconds) and waits for the LLM
        down = stack("stop", "kafka")
        self.assertEqual(down.returncode, 0, down.stderr)
        t0 = time.time()
        status = (None, None)
        while time.time() - t0 < 30:
            status = self.job_row(job)
            if status[0] in ("done", "error"):
                break
            time.sleep(0.1)
        waited = time.time() - t0
        self.assertEqual(status, ("error", "broker_unavailable"))
        # The LLM answer (<= 4 s), the topic check that finds no broker (2 s), message.timeout.ms
        # (1.5 s; librdkafka fails a message whose topic has no metadata up to a few seconds
        # later): far below librdkafka's default of 300 s, which is what an unbounded wait
        # would look like.
        self.assertLess(waited, 20.0)
        self.assertIsNone(self.pl.procs["router"].poll(), "the router exited")
        self.assertEqual(self.pl.sql("SELECT count(*) FROM messages WHERE job_id = %s "
                                     "AND role = 'assistant'", job)[0][0], "0")

        up = stack("start", "kafka")
        self.assertEqual(up.returncode, 0, up.stderr)
        # Back: a new chat is routed and answered, without restarting anything.
        end = time.time() + 120
        final = None
        while time.time() < end and final is None:
            try:
                r2 = self.pl.chat("What is the debt for MST 0123456789?")
            except AssertionError:  # 503 while the ingress reconnects
                time.sleep(1)
                continue
            j = self.pl.wait_job(r2["job_id"], timeout=max(1, end - time.time()))
            if j.get("status") == "done":
                final = j
        self.assertIsNotNone(final, "no chat answered after the broker came back")
        self.assertEqual(final.get("agent"), "AgentDebt")


if __name__ == "__main__":
    unittest.main()
