"""Issue 17 items 4 and 5, attacked through a running pipeline (ingress + router + agent +
Kafka + PostgreSQL + Redis + ChromaDB): what a tool backend really receives when the model's
arguments try to change a request's structure, what the SSRF guard lets through, what a proxy
in the stages' environment sees (tool and LLM calls), and which collection a RAG tool reads
for tenants whose ids are prefixes of one another.

The model is a scripted OpenAI-compatible stand-in (FakeLLM below): for each tool offered it
has a script for, it answers with that tool call and those exact arguments (so an argument
outside the input schema can be sent, which the stand-in LLM never does); after the tool
results it answers with them, and records them. Backends are Recorders on 127.0.0.1 that keep
exactly what they receive. The stages' environment carries http_proxy / HTTPS_PROXY /
ALL_PROXY pointing at a forwarding Recorder, so a transfer that honours them is seen there.

Allow-list: TOOL_ALLOWED_HOSTS=127.0.0.1:<backend port>. A binary whose TOOL_ALLOWED_HOSTS takes
hosts only (before issue 17) can reach the backend only with the bare host "127.0.0.1", which
is what it gets: the cases then show what that whole-host entry lets through.
"""
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402
import pipeline_harness as H  # noqa: E402

SMUGGLE_JSON = '","admin":true,"x":"'


class Recorder:
    """An HTTP server on 127.0.0.1 keeping every request: method, target, path, query,
    headers (list of pairs, as received) and body. redirects maps a path to a Location;
    forward=True makes it a forwarding proxy (absolute-form targets are fetched and answered)."""

    def __init__(self, forward=False):
        self.requests = []
        self.redirects = {}
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                u = urllib.parse.urlsplit(self.path)
                with rec.lock:
                    rec.requests.append({"method": self.command, "target": self.path,
                                         "path": u.path, "query": u.query,
                                         "headers": list(self.headers.items()),
                                         "raw_headers": bytes(self.headers.as_bytes()),
                                         "body": body})
                status, hdrs, out = 200, {"Content-Type": "application/json"}, b'{"ok":true}'
                if forward and self.path.startswith("http"):
                    status, hdrs, out = rec.forward(self.command, self.path, self.headers, body)
                elif u.path in rec.redirects:
                    status, hdrs, out = 302, {"Location": rec.redirects[u.path]}, b""
                self.send_response(status)
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    @staticmethod
    def forward(method, url, headers, body):
        host = urllib.parse.urlsplit(url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            return 502, {}, b"loopback only"
        req = urllib.request.Request(url, data=body if method != "GET" else None, method=method)
        for k, v in headers.items():
            if k.lower() not in ("host", "proxy-connection", "content-length", "connection"):
                req.add_header(k, v)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=60) as r:
                return r.status, {"Content-Type": r.headers.get("Content-Type", "")}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {"Content-Type": e.headers.get("Content-Type", "")}, e.read()

    def seen(self, path_prefix=""):
        with self.lock:
            return [r for r in self.requests
                    if urllib.parse.urlsplit(r["target"]).path.startswith(path_prefix)]

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class FakeLLM:
    """A scripted OpenAI-compatible chat model (streamed or not). script maps a tool name to
    the arguments (a dict, or a str of the arguments' text; sent as they are) it calls that tool with; the routing prompt gets
    the first agent it lists; after tool results it answers with them. tool_results keeps
    (tool name, content) of every tool result it was sent."""

    def __init__(self):
        self.script = {}
        self.tool_results = []
        self.lock = threading.Lock()
        self.seq = 0
        llm = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                req = json.loads(self.rfile.read(n) or b"{}")
                if self.path.endswith("/embeddings"):
                    self.reply(req, None, None, raw={"data": [], "model": "fake"})
                    return
                calls, text = llm.answer(req)
                self.reply(req, calls, text)

            def reply(self, req, calls, text, raw=None):
                if raw is None and req.get("stream"):
                    ev = []
                    delta = {"role": "assistant"}
                    if calls:
                        delta["tool_calls"] = [dict(c, index=i) for i, c in enumerate(calls)]
                    else:
                        delta["content"] = text
                    ev.append({"id": "f", "object": "chat.completion.chunk", "model": "fake",
                               "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                    ev.append({"id": "f", "object": "chat.completion.chunk", "model": "fake",
                               "choices": [{"index": 0, "delta": {}, "finish_reason":
                                            "tool_calls" if calls else "stop"}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                         "total_tokens": 2}})
                    out = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in ev)
                    out += b"data: [DONE]\n\n"
                    ctype = "text/event-stream"
                else:
                    msg = {"role": "assistant", "content": text}
                    if calls:
                        msg["tool_calls"] = calls
                    out = json.dumps(raw or {
                        "id": "f", "object": "chat.completion", "model": "fake",
                        "choices": [{"index": 0, "message": msg,
                                     "finish_reason": "tool_calls" if calls else "stop"}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                  "total_tokens": 2}}).encode()
                    ctype = "application/json"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        self.base = "http://127.0.0.1:%d/v1" % self.port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def answer(self, req):
        msgs = req.get("messages") or []
        tools = req.get("tools") or []
        if not tools:
            system = " ".join(m.get("content") or "" for m in msgs
                              if m.get("role") == "system" and isinstance(m.get("content"), str))
            m = re.search(r"^\s*[-*] (Atk[A-Za-z0-9_]+):", system, re.M)
            if m:
                return None, json.dumps({"agent": m.group(1)})
            return None, "[fake] no tools"
        names = {}
        for m in msgs:
            for c in m.get("tool_calls") or []:
                names[c.get("id")] = c.get("function", {}).get("name")
        last = msgs[-1] if msgs else {}
        if last.get("role") == "tool":
            done = []
            for m in reversed(msgs):
                if m.get("role") != "tool":
                    break
                done.append((names.get(m.get("tool_call_id")), m.get("content")))
            with self.lock:
                self.tool_results.extend(done)
            return None, "[fake] tools returned: " + json.dumps(done)[:2000]
        calls = []
        for t in tools:
            name = t.get("function", {}).get("name")
            if name in self.script:
                with self.lock:
                    self.seq += 1
                    cid = "call_fake_%d" % self.seq
                args = self.script[name]  # a str is sent as it is: JSON a model may write
                calls.append({"id": cid, "type": "function",
                              "function": {"name": name,
                                           "arguments": args if isinstance(args, str)
                                           else json.dumps(args)}})
        return (calls, None) if calls else (None, "[fake] nothing scripted")

    def results_for(self, tool):
        with self.lock:
            return [c for n, c in self.tool_results if n == tool]

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def host_port_allowlists():
    """True when the agent's TOOL_ALLOWED_HOSTS takes host:port entries (issue 17)."""
    r = subprocess.run([os.path.join(H.BIN, "agenthub-agent"), "--help"], capture_output=True,
                       text=True, timeout=30)
    line = [ln for ln in (r.stdout + r.stderr).splitlines() if "TOOL_ALLOWED_HOSTS" in ln]
    return bool(line) and "host:port" in " ".join(line)


class ToolAttackTest(unittest.TestCase):
    pl = None

    @classmethod
    def setUpClass(cls):
        why = H.stack_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.backend = Recorder()       # the one allowed backend
        cls.other = Recorder()         # a loopback port nobody allowed
        cls.proxy = Recorder(forward=True)
        cls.llm = FakeLLM()
        allow = "127.0.0.1:%d" % cls.backend.port
        if not host_port_allowlists():
            allow += ",127.0.0.1"      # hosts-only allow-list: the only way to reach it
        proxy = {"http_proxy": cls.proxy.url, "HTTP_PROXY": cls.proxy.url,
                 "https_proxy": cls.proxy.url, "HTTPS_PROXY": cls.proxy.url,
                 "ALL_PROXY": cls.proxy.url, "all_proxy": cls.proxy.url,
                 "no_proxy": "", "NO_PROXY": ""}
        aenv = dict(proxy, TOOL_ALLOWED_HOSTS=allow)
        cls.pl = H.Pipeline("toolattack", agent_env=aenv, router_env=proxy)
        try:
            cls.pl.start()
        except BaseException:
            cls.pl.stop()
            raise
        cls.pl.sql("INSERT INTO llm_models (provider, model_name, base_url) VALUES "
                   "('openai_compatible', 'fake-scripted', %s) ON CONFLICT ON CONSTRAINT "
                   "llm_models_provider_name_url_key DO NOTHING;", cls.llm.base)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        if cls.pl:
            cls.pl.stop()
            reports = cls.pl.sanitizer_reports()
            for x in (cls.backend, cls.other, cls.proxy, cls.llm):
                x.stop()
            if reports:
                raise AssertionError("sanitizer reports:\n" + "\n".join(reports))

    # ---- fixtures ---------------------------------------------------------------------------
    def tenant(self, tenant_id=None):
        """A tenant on the scripted model, with one agent of its own; returns (tenant, agent)."""
        type(self).n += 1
        tenant_id = tenant_id or "ta%d_%d" % (os.getpid(), self.n)
        agent = "Atk%d_%d" % (os.getpid(), self.n)
        self.pl.sql(
            "INSERT INTO tenants (tenant_id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING;"
            "INSERT INTO tenant_llm_configs (tenant_id, model_id, rate_limit_rpm, "
            "embedding_provider) SELECT %s, model_id, 0, 'local' FROM llm_models WHERE "
            "model_name = 'fake-scripted' AND base_url = %s ON CONFLICT (tenant_id) DO UPDATE "
            "SET model_id = EXCLUDED.model_id;"
            "INSERT INTO agent_configs (name, description, prompt_template) VALUES "
            "(%s, 'attack agent', 'You call the tools you are given.');"
            "INSERT INTO tenant_agent_permissions (tenant_id, agent_id) SELECT %s, agent_id "
            "FROM agent_configs WHERE name = %s;",
            tenant_id, tenant_id, tenant_id, self.llm.base, agent, tenant_id, agent)
        self.pl.tokens[tenant_id] = self.pl.token(tenant_id, tenant_id + "-user")
        return tenant_id, agent

    def tool(self, tenant, agent, base_type, config, schema, args, priority=1):
        """A tool of base_type on the agent, permitted to the tenant; the model calls it with
        args. Returns its name. (An agent gets its 5 best tools by priority.)"""
        type(self).n += 1
        name = "atk_tool_%d_%d" % (os.getpid(), self.n)
        self.pl.sql(
            "INSERT INTO tool_configs (name, base_tool_id, description, config, input_schema) "
            "SELECT %s, base_tool_id, 'attack tool', %s::jsonb, %s::jsonb FROM base_tools "
            "WHERE type = %s;"
            "INSERT INTO agent_tools (agent_id, tool_id, priority) SELECT a.agent_id, "
            "t.tool_id, %s::int FROM agent_configs a, tool_configs t WHERE a.name = %s AND "
            "t.name = %s;"
            "INSERT INTO tenant_tool_permissions (tenant_id, tool_id) SELECT %s, tool_id FROM "
            "tool_configs WHERE name = %s;",
            name, json.dumps(config), json.dumps(schema), base_type, int(priority), agent, name,
            tenant, name)
        self.llm.script[name] = args
        return name

    def run_chat(self, tenant, message="run the tool"):
        job = self.pl.chat(message, tenant=tenant)
        j = self.pl.wait_job(job["job_id"], tenant=tenant, timeout=60)
        self.assertIn(j.get("status"), ("done", "error"), j)
        return j

    @staticmethod
    def str_schema(*names):
        return {"type": "object", "properties": {n: {"type": "string"} for n in names},
                "required": list(names)}

    def backend_requests(self, prefix):
        reqs = self.backend.seen(prefix)
        self.assertTrue(reqs, "the backend never received %s (agent log:\n%s)" %
                        (prefix, self.pl.log("agent-0")[-3000:]))
        return reqs

    # ---- item 4: structure smuggling -------------------------------------------------------
    def test_json_body_smuggling(self):
        t, a = self.tenant()
        value = "alice" + SMUGGLE_JSON
        self.tool(t, a, "HTTP_POST",
                  {"endpoint": self.backend.url + "/smuggle/body", "method": "POST",
                   "body_template": '{"name": "{name}", "fixed": 1}'},
                  self.str_schema("name"), {"name": value})
        # a bare placeholder (a value slot): a string that reads as JSON stays one string
        # (before issue 17 it became an array here: the model chose the body's structure)
        bare = '[1,2]'
        self.tool(t, a, "HTTP_POST",
                  {"endpoint": self.backend.url + "/smuggle/bare", "method": "POST",
                   "body_template": '{"qty": {qty}, "fixed": 1}'},
                  self.str_schema("qty"), {"qty": bare})
        self.run_chat(t)
        req = self.backend_requests("/smuggle/body")[-1]
        body = json.loads(req["body"])
        self.assertEqual(body, {"name": value, "fixed": 1}, req["body"])
        req = self.backend_requests("/smuggle/bare")[-1]
        body = json.loads(req["body"])
        self.assertEqual(body, {"qty": bare, "fixed": 1}, req["body"])

    def test_query_and_path_smuggling(self):
        t, a = self.tenant()
        ident = "a/../../admin?role=admin#x"
        term = "v&role=admin#frag?x=1"
        # the model also sends an undeclared "role": the query holds the declared ones only
        args = {"id": ident, "term": term, "role": "admin"}
        self.tool(t, a, "HTTP_GET",
                  {"endpoint": self.backend.url + "/smuggle/q/{id}/end", "method": "GET",
                   "query": {"q": "{term}"}},
                  self.str_schema("id", "term"), args)
        # no query config: the arguments the endpoint did not use become the query
        self.tool(t, a, "HTTP_GET",
                  {"endpoint": self.backend.url + "/smuggle/auto/{id}/end", "method": "GET"},
                  self.str_schema("id", "term"), args)
        self.run_chat(t)
        for prefix, name in (("/smuggle/q/", "q"), ("/smuggle/auto/", "term")):
            req = self.backend_requests(prefix)[-1]
            self.assertNotIn("#", req["target"])
            # one path segment between the prefix and /end, holding the value
            m = re.fullmatch(re.escape(prefix) + r"([^/]+)/end", req["path"])
            self.assertTrue(m, req["target"])
            self.assertEqual(urllib.parse.unquote(m.group(1)), ident)
            self.assertEqual(urllib.parse.parse_qs(req["query"], keep_blank_values=True),
                             {name: [term]}, req["target"])

    def test_header_injection(self):
        t, a = self.tenant()
        evil = "x\r\nX-Injected: 1\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        self.tool(t, a, "HTTP_POST",
                  {"endpoint": self.backend.url + "/smuggle/hdr/{p}", "method": "POST",
                   "headers": {"X-Fixed": "1"}, "query": {"q": "{p}"},
                   "body_template": '{"v": "{p}"}'},
                  self.str_schema("p"), {"p": evil})
        self.run_chat(t)
        reqs = self.backend_requests("/smuggle/hdr/")
        self.assertEqual(len(self.backend.seen("/smuggled")), 0)
        for r in reqs:
            names = [k.lower() for k, _ in r["headers"]]
            self.assertNotIn("x-injected", names, r["raw_headers"])
            self.assertEqual(names.count("x-fixed"), 1, r["raw_headers"])
            self.assertEqual(json.loads(r["body"]), {"v": evil})

    def test_argument_outside_schema_not_sent(self):
        t, a = self.tenant()
        extra = {"id": "A100", "debug": True, "token": "s3cret-extra", "role": "admin"}
        get = self.tool(t, a, "HTTP_GET",
                        {"endpoint": self.backend.url + "/extra/get/{id}", "method": "GET"},
                        self.str_schema("id"), extra)
        post = self.tool(t, a, "HTTP_POST",
                         {"endpoint": self.backend.url + "/extra/post", "method": "POST"},
                         self.str_schema("id"), extra)
        self.assertTrue(get and post)
        self.run_chat(t)
        g = self.backend_requests("/extra/get/")[-1]
        self.assertEqual(g["path"], "/extra/get/A100")
        for k in ("debug", "token", "role"):
            self.assertNotIn(k, urllib.parse.parse_qs(g["query"]), g["target"])
        p = self.backend_requests("/extra/post")[-1]
        self.assertEqual(json.loads(p["body"]), {"id": "A100"}, p["body"])
        for r in (g, p):
            self.assertNotIn(b"s3cret-extra", r["raw_headers"] + r["body"] +
                             r["target"].encode())

    def test_numbers_json_lacks_reach_backend_as_json(self):
        """A model may write 1. or 2.e3: json-c reads both and kept the text, so the backend's
        body, the job's tool_call events and the stored entities got no JSON. They get JSON's
        numbers (1.0, 2000.0), with the values the model meant. An integer beyond 64 bits,
        which json-c would clamp to another value, goes back to the model instead."""
        t, a = self.tenant()
        schema = {"type": "object", "required": ["amount", "n"],
                  "properties": {"amount": {"type": "number"}, "n": {"type": "number"}}}
        raw = '{"amount": 1., "n": 2.e3}'
        self.tool(t, a, "HTTP_POST",
                  {"endpoint": self.backend.url + "/numbers/auto", "method": "POST"},
                  schema, raw)
        self.tool(t, a, "HTTP_POST",
                  {"endpoint": self.backend.url + "/numbers/tpl", "method": "POST",
                   "body_template": '{"a": {amount}, "fixed": 1}'}, schema, raw)
        # an integer beyond 64 bits, which json-c clamps: the model is told, the tool not run
        big = self.tool(t, a, "HTTP_POST",
                        {"endpoint": self.backend.url + "/numbers/big", "method": "POST"},
                        {"type": "object", "properties": {"id": {"type": "integer"}}},
                        '{"id": 100000000000000000000}')
        job = self.pl.chat("pay it", tenant=t)
        ev = self.pl.events(job["job_id"], tenant=t)  # json.loads of every event's data
        self.assertEqual(ev[-1][0], "final", ev)
        calls = [d for e, d in ev if e == "tool_call" and d["tool"] != big]
        self.assertEqual(len(calls), 2, ev)
        for c in calls:
            self.assertEqual(c["arguments"], {"amount": 1.0, "n": 2000.0}, c)
        for path, want in (("/numbers/auto", {"amount": 1.0, "n": 2000.0}),
                           ("/numbers/tpl", {"a": 1.0, "fixed": 1})):
            body = self.backend_requests(path)[-1]["body"]
            self.assertEqual(json.loads(body), want, body)
            self.assertNotRegex(body.decode(), r"\d\.(?!\d)", body)
        j = self.pl.wait_job(job["job_id"], tenant=t)
        self.assertEqual(j.get("status"), "done", j)
        self.assertEqual(self.backend.seen("/numbers/big"), [])
        told = self.llm.results_for(big)
        self.assertTrue(told and "beyond 64 bits" in told[-1], told)

    # ---- item 5: the SSRF guard ------------------------------------------------------------
    def assert_refused(self, tool, path):
        self.assertEqual(self.other.seen(path), [], "a request reached the unlisted port")
        results = self.llm.results_for(tool)
        self.assertTrue(results, "the model never got %s's result" % tool)

    def test_redirect_to_unlisted_port_refused(self):
        t, a = self.tenant()
        self.backend.redirects["/ssrf/redir"] = self.other.url + "/ssrf/landed-redirect"
        tool = self.tool(t, a, "HTTP_GET",
                         {"endpoint": self.backend.url + "/ssrf/redir", "method": "GET"},
                         {"type": "object", "properties": {}}, {})
        self.run_chat(t)
        self.backend_requests("/ssrf/redir")
        self.assert_refused(tool, "/ssrf/landed-redirect")

    def test_host_allowlist_does_not_open_other_port(self):
        t, a = self.tenant()
        tool = self.tool(t, a, "HTTP_GET",
                         {"endpoint": self.other.url + "/ssrf/other-port", "method": "GET"},
                         {"type": "object", "properties": {}}, {})
        self.run_chat(t)
        self.assert_refused(tool, "/ssrf/other-port")

    def test_nat64_6to4_mapped_loopback_refused(self):
        t, a = self.tenant()
        tools = {}
        for label, host in (("nat64", "[64:ff9b::7f00:1]"), ("6to4", "[2002:7f00:1::]"),
                            ("mapped", "[::ffff:127.0.0.1]"), ("mappedhex", "[::ffff:7f00:1]")):
            tools[label] = self.tool(
                t, a, "HTTP_GET",
                {"endpoint": "http://%s:%d/ssrf/v6-%s" % (host, self.other.port, label),
                 "method": "GET", "timeout_ms": 3000},
                {"type": "object", "properties": {}}, {})
        self.run_chat(t)
        self.assertEqual(self.other.seen("/ssrf/v6-"), [])
        log = self.pl.log("agent-0")
        for label, tool in tools.items():
            self.assertTrue(self.llm.results_for(tool), "no result for %s" % label)
            refused = [ln for ln in log.splitlines()
                       if "refused by the SSRF guard" in ln and tool in ln]
            self.assertTrue(refused, "%s: not refused by the guard (a connect was tried)" %
                            label)

    def test_proxy_environment_not_used_by_tools(self):
        t, a = self.tenant()
        self.tool(t, a, "HTTP_GET",
                  {"endpoint": self.backend.url + "/proxy/tool", "method": "GET"},
                  {"type": "object", "properties": {}}, {})
        self.run_chat(t)
        self.backend_requests("/proxy/tool")
        through = [r["target"] for r in self.proxy.seen() if "/proxy/tool" in r["target"]]
        self.assertEqual(through, [], "the tool request went through the environment's proxy")

    def test_proxy_environment_not_used_by_llm_calls(self):
        """The tenant's provider key would go to whatever proxy the process inherited: the
        router's and the agent's LLM calls ignore http_proxy/HTTPS_PROXY/ALL_PROXY (LLM_PROXY
        is the explicit setting)."""
        t, a = self.tenant()
        self.run_chat(t, "hello there")
        through = [r["target"] for r in self.proxy.seen()
                   if str(self.llm.port) in r["target"]]
        self.assertEqual(through, [], "LLM calls went through the environment's proxy")

    def test_ocr_image_url_unlisted_port_refused(self):
        t, a = self.tenant()
        tool = self.tool(t, a, "OCR", {"timeout_ms": 3000},
                         {"type": "object", "properties": {"image_url": {"type": "string"}},
                          "required": ["image_url"]},
                         {"image_url": self.other.url + "/ocr/img.png"})
        self.run_chat(t)
        self.assert_refused(tool, "/ocr/")

    # ---- item 4: cross-tenant tool resources -----------------------------------------------
    def test_rag_collection_cross_tenant(self):
        base = "rk%d" % os.getpid()
        t, a = self.tenant(base)
        d = tempfile.mkdtemp(prefix="agenthub-rag-")
        marks = {}
        for tid in (base, base + "_x", base + "-x", base + "_x_y"):
            if tid != base:
                self.tenant(tid)
            marks[tid] = "zebracorn%s" % re.sub(r"[^a-z0-9]", "q", tid)
            path = os.path.join(d, "kb-%s.md" % tid)
            with open(path, "w") as f:
                f.write("Warehouse policy zebracorn %s: the secret code of tenant %s is "
                        "%s.\n" % (marks[tid], tid, marks[tid]))
            r = self.pl.run([os.path.join(H.BIN, "agenthubctl"), "kb", "add", "--tenant", tid,
                             "--local", path], check=False)
            self.assertEqual(r.returncode, 0, r.stderr)
        query = "zebracorn secret code warehouse policy " + " ".join(marks.values())
        tools = []
        # (an agent gets at most 5 tools: the tenant's own first, then 4 reaching out)
        for coll in ("x", "agenthub_%s_x" % base, "agenthub_%s-x" % base,
                     "agenthub_%s_x_y" % base):
            tools.append(self.tool(t, a, "RAG", {"collection_name": coll, "top_k": 5,
                                                 "similarity_threshold": -1},
                                   {"type": "object", "properties": {"query": {"type": "string"}},
                                    "required": ["query"]}, {"query": query}))
        own = self.tool(t, a, "RAG", {"top_k": 5, "similarity_threshold": -1},
                        {"type": "object", "properties": {"query": {"type": "string"}},
                         "required": ["query"]}, {"query": query}, priority=0)
        job = self.run_chat(t)
        # a config the agent refuses may leave the tool out entirely: nothing read either
        for tool in tools:
            for res in self.llm.results_for(tool):
                for tid, mark in marks.items():
                    if tid != base:
                        self.assertNotIn(mark, res, "%s read %s's documents" % (tool, tid))
        got = self.llm.results_for(own)
        self.assertTrue(got and marks[base] in got[0], "the tenant's own knowledge: %s (job %s)"
                        % (got, json.dumps(job)[:1500]))


class ToolAllowListAdminTest(unittest.TestCase):
    """A per-tool allow-list opens the SSRF guard, so only the operator sets it, and it is
    validated when saved."""

    @classmethod
    def setUpClass(cls):
        why = S.stack_env_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.ing = S.Ingress()

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "ing"):
            cls.ing.stop_and_check(unittest.TestCase())

    def body(self, allowed=None):
        cfg = {"endpoint": "http://127.0.0.1:1/x/{id}"}
        if allowed is not None:
            cfg["allowed_hosts"] = allowed
        return {"name": S.unique("atk_tool").replace("-", "_"), "base_type": "HTTP_GET",
                "description": "x", "config": cfg,
                "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}}}

    def test_per_tool_allowlist_operator_only_and_validated(self):
        tenant = S.unique("atkt").replace("-", "_")
        S.psql("INSERT INTO tenants (tenant_id, name) VALUES (:'a', :'a')", tenant)
        tadmin = self.ing.tenant_admin_token(tenant, sub="mallory")
        op = self.ing.operator_token()
        st, resp, _ = self.ing.request("POST", "/api/admin/tools",
                                       self.body("127.0.0.1:6379"), token=tadmin)
        self.assertEqual(st, 403, "a tenant admin set allowed_hosts: %s %s" % (st, resp))
        # the tenant admin's own tool, without an allow-list, is fine; patching one in is not
        st, created, _ = self.ing.request("POST", "/api/admin/tools", self.body(), token=tadmin)
        self.assertEqual(st, 201, created)
        path = "/api/admin/tools/%s" % created["tool_id"]
        st, resp, _ = self.ing.request("PATCH", path, {"description": "y"}, token=tadmin)
        self.assertEqual(st, 200, resp)
        st, resp, _ = self.ing.request("PATCH", path,
                                       {"config": {"endpoint": "http://127.0.0.1:1/x/{id}",
                                                   "allowed_hosts": "127.0.0.1:5432"}},
                                       token=tadmin)
        self.assertEqual(st, 403, "a tenant admin patched allowed_hosts: %s %s" % (st, resp))
        for bad in ("127.0.0.1", "*", ""):
            st, resp, _ = self.ing.request("POST", "/api/admin/tools", self.body(bad), token=op)
            self.assertEqual(st, 400, "operator's allowed_hosts %r accepted: %s" % (bad, resp))
            st, resp, _ = self.ing.request("PATCH", path,
                                           {"config": {"endpoint": "http://127.0.0.1:1/x/{id}",
                                                       "allowed_hosts": bad}}, token=op)
            self.assertEqual(st, 400, "PATCH allowed_hosts %r accepted: %s" % (bad, resp))
        st, resp, _ = self.ing.request("POST", "/api/admin/tools", self.body("127.0.0.1:18090"),
                                       token=op)
        self.assertEqual(st, 201, resp)
        st, resp, _ = self.ing.request("PATCH", path,
                                       {"config": {"endpoint": "http://127.0.0.1:1/x/{id}",
                                                   "allowed_hosts": "127.0.0.1:18090"}},
                                       token=op)
        self.assertEqual(st, 200, resp)

class LLMProxySettingTest(unittest.TestCase):
    """LLM_PROXY is the one way to send the stages' LLM calls through a proxy."""

    def test_llm_proxy_setting_is_used(self):
        why = H.stack_missing()
        if why:
            raise unittest.SkipTest(why)
        px = Recorder(forward=True)
        pl = H.Pipeline("llmproxy", router_env={"LLM_PROXY": px.url},
                        agent_env={"LLM_PROXY": px.url})
        try:
            pl.start()
            j = pl.chat("hello, what is the debt policy?")
            self.assertEqual(pl.wait_job(j["job_id"]).get("status"), "done")
            through = [r["target"] for r in px.seen() if str(pl.ports["llm"]) in r["target"]]
            self.assertTrue(through, "LLM_PROXY was not used")
        finally:
            pl.stop()
            px.stop()


if __name__ == "__main__":
    unittest.main()
