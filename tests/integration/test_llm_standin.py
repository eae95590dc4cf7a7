"""agenthub-standin-llm over HTTP: the three wire formats, per-request headers for timing and
faults, deterministic answers (routing incl. Vietnamese and MULTI_INTENT, tool calls from
schema patterns, summaries of tool results), embeddings, and many slow streams at once.

Runs the binary from $AGENTHUB_BIN (tests/run.sh sets it) on a free loopback port.
"""
import http.client
import json
import os
import select
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline_harness import free_port  # noqa: E402

BIN = os.path.join(os.environ.get("AGENTHUB_BIN", "build/bin"), "agenthub-standin-llm")

ROUTING_SYSTEM = (
    "You are the supervisor. Pick the agent for the user's message.\n"
    "- AgentDebt: customer debt, invoices, payments, công nợ, hóa đơn\n"
    "- AgentShipment: shipment tracking, delivery, vận đơn, giao hàng\n"
    "- AgentOCR: scan documents, extract text from images\n"
    'Answer with JSON {"agent": "<name>"}; UNCLEAR if none fits; MULTI_INTENT with parts.'
)


class StandinTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        env = dict(os.environ, STANDIN_LLM_LISTEN="127.0.0.1:%d" % cls.port, LOG_LEVEL="warn")
        cls.proc = subprocess.Popen([BIN], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", cls.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        else:
            raise RuntimeError("stand-in did not start")

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=10)
        cls.proc.stderr.close()

    def post(self, path, body, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        try:
            conn.request("POST", path, json.dumps(body), h)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        return resp, data

    def chat(self, messages, headers=None, **extra):
        body = {"model": "gpt-4o-mini", "messages": messages}
        body.update(extra)
        resp, data = self.post("/v1/chat/completions", body, headers)
        return resp, data

    def sse(self, data):
        events = []
        for block in data.decode().split("\n\n"):
            ev = {"event": None, "data": None}
            for line in block.splitlines():
                if line.startswith("event: "):
                    ev["event"] = line[7:]
                elif line.startswith("data: "):
                    ev["data"] = line[6:]
            if ev["data"] is not None:
                events.append(ev)
        return events

    # ---- answers ----

    def route(self, message):
        resp, data = self.chat([{"role": "system", "content": ROUTING_SYSTEM},
                                {"role": "user", "content": message}],
                               response_format={"type": "json_object"})
        self.assertEqual(resp.status, 200)
        return json.loads(json.loads(data)["choices"][0]["message"]["content"])

    def test_routing(self):
        self.assertEqual(self.route("How much debt do I still owe?")["agent"], "AgentDebt")
        self.assertEqual(self.route("Tôi muốn kiểm tra công nợ")["agent"], "AgentDebt")
        self.assertEqual(self.route("Đơn hàng của tôi đang giao hàng tới đâu?")["agent"],
                         "AgentShipment")
        self.assertEqual(self.route("Please scan this document")["agent"], "AgentOCR")
        self.assertEqual(self.route("Tell me a joke about cats")["agent"], "UNCLEAR")
        multi = self.route("Kiểm tra công nợ và theo dõi vận đơn giúp tôi")
        self.assertEqual(multi["agent"], "MULTI_INTENT")
        self.assertEqual([p["agent"] for p in multi["parts"]], ["AgentDebt", "AgentShipment"])
        self.assertTrue(all(p["message"] for p in multi["parts"]))

    def test_echo_is_marked(self):
        resp, data = self.chat([{"role": "user", "content": "hello stand-in"}])
        text = json.loads(data)["choices"][0]["message"]["content"]
        self.assertTrue(text.startswith("[stand-in]"))
        self.assertIn("hello stand-in", text)

    def test_attached_documents(self):
        """An agent's page blocks (tools/doc_context.h) in the system prompt: the total is read
        from the "Total" line (not "Subtotal"), with its document and page; other questions
        get the start of the first page."""
        system = ("You are AgentOCR.\n\nAttached documents. Answer from their text.\n"
                  "\n[document \"inv.pdf\" id=abc page 1]\nINVOICE 9\n- Item: 3 units\n"
                  "\n[document \"inv.pdf\" id=abc page 2]\nSubtotal: 10.00 USD\n"
                  "Total: 12.50 USD\n")
        resp, data = self.chat([{"role": "system", "content": system},
                                {"role": "user", "content": "What is the total of the invoice?"}])
        text = json.loads(data)["choices"][0]["message"]["content"]
        self.assertEqual(text, '[stand-in] The total of the attached invoice is 12.50 USD '
                               '[document "inv.pdf" page 2].')
        resp, data = self.chat([{"role": "system", "content": system},
                                {"role": "user", "content": "Summarise it"}])
        text = json.loads(data)["choices"][0]["message"]["content"]
        self.assertTrue(text.startswith("[stand-in] The attached document reads: INVOICE 9"), text)
        self.assertTrue(text.endswith('[document "inv.pdf" page 1].'), text)

    def test_gemini_tool_call_from_pattern_then_summary(self):
        tools = [{"functionDeclarations": [{
            "name": "order_status",
            "description": "Order status",
            "parameters": {"type": "object", "required": ["order_id"], "properties": {
                "order_id": {"type": "string", "pattern": "^ORD-[0-9]{6}$"}}}}, {
            "name": "kb_search",
            "description": "Search the knowledge base",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                           "required": ["query"]}}]}]
        body = {"contents": [{"role": "user", "parts": [{"text": "Status of ORD-123456 please"}]}],
                "tools": tools}
        resp, data = self.post("/v1beta/models/gemini-2.0-flash:generateContent", body,
                               {"x-goog-api-key": "k"})
        self.assertEqual(resp.status, 200)
        parts = json.loads(data)["candidates"][0]["content"]["parts"]
        calls = [p["functionCall"] for p in parts if "functionCall" in p]
        # the entity-matching tool wins over the catch-all search tool
        self.assertEqual(calls, [{"name": "order_status", "args": {"order_id": "ORD-123456"}}])
        # no entity: the RAG-style tool gets the whole message as its query
        body["contents"][0]["parts"][0]["text"] = "How do refunds work?"
        resp, data = self.post("/v1beta/models/gemini-2.0-flash:generateContent", body)
        parts = json.loads(data)["candidates"][0]["content"]["parts"]
        self.assertEqual(parts[0]["functionCall"],
                         {"name": "kb_search", "args": {"query": "How do refunds work?"}})
        # with the result: a summary holding its values
        body["contents"] += [
            {"role": "model", "parts": [{"functionCall": parts[0]["functionCall"]}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "kb_search", "response": {
                "documents": ["Refunds take 5 business days"]}}}]}]
        resp, data = self.post("/v1beta/models/gemini-2.0-flash:generateContent", body)
        text = json.loads(data)["candidates"][0]["content"]["parts"][0]["text"]
        self.assertTrue(text.startswith("[stand-in]"))
        self.assertIn("Refunds take 5 business days", text)

    def test_anthropic_stream_tool_use(self):
        body = {"model": "claude-sonnet-4", "max_tokens": 100, "stream": True,
                "messages": [{"role": "user", "content": "Track VN123456789 for me"}],
                "tools": [{"name": "track", "input_schema": {"type": "object", "properties": {
                    "tracking_number": {"type": "string"}}, "required": ["tracking_number"]}}]}
        resp, data = self.post("/v1/messages", body, {"x-api-key": "k",
                                                       "anthropic-version": "2023-06-01"})
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.getheader("Content-Type"), "text/event-stream")
        events = self.sse(data)
        names = [e["event"] for e in events]
        self.assertEqual(names[0], "message_start")
        self.assertEqual(names[-1], "message_stop")
        partial = "".join(json.loads(e["data"])["delta"]["partial_json"] for e in events
                          if e["event"] == "content_block_delta")
        self.assertEqual(json.loads(partial), {"tracking_number": "VN123456789"})
        delta = [json.loads(e["data"]) for e in events if e["event"] == "message_delta"][0]
        self.assertEqual(delta["delta"]["stop_reason"], "tool_use")

    def test_openai_stream_usage_and_done(self):
        resp, data = self.chat([{"role": "user", "content": "one two three"}],
                               stream=True, stream_options={"include_usage": True})
        events = self.sse(data)
        self.assertEqual(events[-1]["data"], "[DONE]")
        chunks = [json.loads(e["data"]) for e in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                       if c["choices"])
        self.assertIn("one two three", text)
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertGreater(chunks[-1]["usage"]["completion_tokens"], 0)

    def test_embeddings(self):
        resp, data = self.post("/v1/embeddings", {"model": "text-embedding-3-small",
                                                  "input": ["a b", "c d"]})
        d = json.loads(data)["data"]
        self.assertEqual([x["index"] for x in d], [0, 1])
        self.assertEqual(len(d[0]["embedding"]), 384)
        norm = sum(v * v for v in d[0]["embedding"])
        self.assertAlmostEqual(norm, 1.0, places=4)
        resp, data = self.post("/v1beta/models/text-embedding-004:embedContent",
                               {"content": {"parts": [{"text": "a b"}]}})
        self.assertEqual(json.loads(data)["embedding"]["values"], d[0]["embedding"])

    # ---- faults and timing by header ----

    def test_auth_faults(self):
        for key in ("bad-key", "revoked-key"):
            resp, data = self.chat([{"role": "user", "content": "x"}],
                                   {"Authorization": "Bearer " + key})
            self.assertEqual(resp.status, 401)
            self.assertEqual(json.loads(data)["error"]["code"], "invalid_api_key")
            resp, data = self.post("/v1/messages", {"model": "c", "max_tokens": 5, "messages": [
                {"role": "user", "content": "x"}]}, {"x-api-key": key})
            self.assertEqual(resp.status, 401)
            self.assertEqual(json.loads(data)["error"]["type"], "authentication_error")
        resp, _ = self.chat([{"role": "user", "content": "x"}], {"Authorization": "Bearer ok"})
        self.assertEqual(resp.status, 200)

    def test_429_then_ok(self):
        h = {"X-Standin-Fault": "429", "X-Standin-Fault-Count": "1",
             "X-Standin-Retry-After": "3", "X-Standin-Fault-Key": "py-429-%d" % os.getpid()}
        resp, data = self.chat([{"role": "user", "content": "x"}], h)
        self.assertEqual(resp.status, 429)
        self.assertEqual(resp.getheader("Retry-After"), "3")
        self.assertEqual(json.loads(data)["error"]["code"], "rate_limit_exceeded")
        resp, _ = self.chat([{"role": "user", "content": "x"}], h)
        self.assertEqual(resp.status, 200)

    def test_500_malformed_context(self):
        resp, _ = self.chat([{"role": "user", "content": "x"}], {"X-Standin-Fault": "500"})
        self.assertEqual(resp.status, 500)
        resp, data = self.chat([{"role": "user", "content": "x y z"}],
                               {"X-Standin-Fault": "malformed"})
        self.assertEqual(resp.status, 200)
        with self.assertRaises(ValueError):
            json.loads(data)
        resp, data = self.chat([{"role": "user", "content": "x"}], {"X-Standin-Fault": "context"})
        self.assertEqual(resp.status, 400)
        self.assertEqual(json.loads(data)["error"]["code"], "context_length_exceeded")

    def test_hang_and_cut(self):
        with self.assertRaises(socket.timeout):
            self.post("/v1/chat/completions", {
                "model": "m", "messages": [{"role": "user", "content": "x"}]},
                {"X-Standin-Fault": "hang"}, timeout=0.5)
        with self.assertRaises(http.client.IncompleteRead):
            self.chat([{"role": "user", "content": "a b c d e f g h"}],
                      {"X-Standin-Fault": "cut"}, stream=True)

    def test_ttft_and_tps(self):
        t0 = time.monotonic()
        resp, data = self.chat([{"role": "user", "content": "a b c d"}],
                               {"X-Standin-Ttft-Ms": "300", "X-Standin-Tps": "50"}, stream=True)
        took = time.monotonic() - t0
        n = len(self.sse(data))
        # 300 ms to the first event, then 20 ms apart
        self.assertGreaterEqual(took, 0.3 + (n - 2) * 0.02 * 0.8)

    def test_many_slow_streams_at_once(self):
        n = 400
        req = json.dumps({"model": "m@ttft=800", "stream": True,
                          "messages": [{"role": "user", "content": "hold"}]}).encode()
        head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                "\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(req)).encode()
        socks = []
        t0 = time.monotonic()
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(head + req)
            socks.append(s)
        done, bufs = 0, {s: b"" for s in socks}
        pending = set(socks)
        while pending and time.monotonic() - t0 < 30:
            r, _, _ = select.select(list(pending)[:1000], [], [], 1)
            for s in r:
                chunk = s.recv(65536)
                if chunk:
                    bufs[s] += chunk
                else:
                    pending.discard(s)
                    done += 1
        for s in socks:
            s.close()
        self.assertEqual(done, n)
        self.assertTrue(all(b"data: [DONE]" in b for b in bufs.values()))
        # all held together: far less than n x 800 ms
        self.assertLess(time.monotonic() - t0, 20)


if __name__ == "__main__":
    unittest.main()
