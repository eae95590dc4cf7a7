"""test_harness_ports.py — the pipeline harness never mistakes another listener for the ingress.

A CI run once failed every submission of the Kafka fault suite with civetweb's own 404: the
ingress had lost its port to a pipeline stage's metrics listener (which also answers /health
with 200), exited, and the harness took the stage's /health for the ingress's. These tests put
a listener on the ingress's port, or two of a pipeline's listeners on one port, and check that
the pipeline comes up on fresh ports and answers chat requests.
"""
import http.server
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_harness as ph  # noqa: E402

RAG_QUESTION = "What is the return policy for goods?"


class StageLikeHealth(http.server.BaseHTTPRequestHandler):
    """Answers /health the way a stage's metrics listener does."""

    def do_GET(self):
        body = b'{"status":"ok","stage":"AgentDebt","in_flight":0,"done":0}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@unittest.skipIf(ph.stack_missing(), ph.stack_missing() or "")
class HarnessPorts(unittest.TestCase):
    def test_free_port_never_hands_out_a_port_twice(self):
        ports = [ph.free_port() for _ in range(500)]
        self.assertEqual(len(ports), len(set(ports)))

    def chat_works(self, pl):
        st, body = pl.request("POST", "/api/demo/chat", {"message": RAG_QUESTION},
                              token=pl.tokens["demo"])
        self.assertEqual(st, 202, body)
        self.assertIn("job_id", body)

    def test_ingress_port_taken_by_a_stage_like_listener(self):
        pl = ph.Pipeline("ports-taken", agents=1)
        taken = pl.ports["ingress"]
        srv = http.server.HTTPServer(("127.0.0.1", taken), StageLikeHealth)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            pl.start()
            try:
                self.assertNotEqual(pl.ports["ingress"], taken)
                self.assertIn("cannot start the HTTP server", pl.log("ingress"))
                self.chat_works(pl)
            finally:
                pl.stop()
        finally:
            srv.shutdown()
            srv.server_close()

    def test_two_listeners_given_one_port(self):
        pl = ph.Pipeline("ports-shared", agents=1)
        pl.ports["agent_metrics_0"] = pl.ports["ingress"]
        pl.start()
        try:
            self.assertNotEqual(pl.ports["agent_metrics_0"], pl.ports["ingress"])
            self.chat_works(pl)
        finally:
            pl.stop()


if __name__ == "__main__":
    unittest.main()
