"""The OpenAI-compatible API (/v1/models, /v1/chat/completions) and tenant API keys, through the
whole pipeline (ingress, router, agents, stand-in LLM) — issue 12.

Raw HTTP checks the shapes, the refusals, the routing by model, the history, the streaming
timing, the keys' life cycle and the isolation between tenants; OpenAISdkTest drives the same
endpoints with the official `openai` packages for Python (PyPI) and Node.js (npm), pinned and
installed by compose/local/openai-sdks (make test runs it; the test runs it too, so a missing
install fails here rather than skipping).
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import pipeline_harness as ph  # noqa: E402
from pipeline_case import PipelineCase  # noqa: E402

ROOT = ph.ROOT
BIN = ph.BIN
CTL = os.path.join(BIN, "agenthubctl")
# The slow tenant's stand-in timing: first token after TTFT_MS, then TPS words per second.
TTFT_MS, TPS = 300, 8


def ready(pl):
    pl.add_tenant("oaislow", "standin@ttft=%d,tps=%d" % (TTFT_MS, TPS),
                  agents=("AgentDebt", "AgentAnalysis"))


class OpenAICase(PipelineCase):
    @classmethod
    def setUpClass(cls):
        cls.start_pipeline("openai", ready=ready)
        cls.keys = {t: cls.ctl_key(t, "k-" + t) for t in ("demo", "acme", "oaislow")}

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()  # stops everything; router and agents checked there
        if cls.pl:
            # the ingress processes too (this suite's C code is mostly theirs)
            reports = cls.pl.sanitizer_reports([n for n in cls.pl.procs
                                                if n.startswith("ingress")])
            assert not reports, "\n".join(reports)

    @classmethod
    def ctl_key(cls, tenant, name, *extra):
        r = cls.pl.run([CTL, "api-keys", "create", "--tenant", tenant, "--name", name] +
                       list(extra))
        key = r.stdout.strip()
        assert key.startswith("ahk_") and "\n" not in key, r
        return key

    # ---- HTTP helpers --------------------------------------------------------------------
    def req(self, method, path, body=None, cred=None, headers=None, timeout=60, port=None):
        conn = http.client.HTTPConnection("127.0.0.1", port or self.pl.ports["ingress"],
                                          timeout=timeout)
        h = {"Content-Type": "application/json"}
        if cred:
            h["Authorization"] = "Bearer " + cred
        h.update(headers or {})
        conn.request(method, path, json.dumps(body) if body is not None else None, h)
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode("utf-8", "replace")
        return resp.status, data, {k.lower(): v for k, v in resp.getheaders()}

    def complete(self, body, cred=None, headers=None, **kw):
        return self.req("POST", "/v1/chat/completions", body, cred or self.pl.tokens["demo"],
                        headers, **kw)

    def stream(self, body, cred=None, headers=None):
        """The SSE lines of a streamed completion: [(arrival time, payload)], payload a dict or
        "[DONE]"; and the response headers."""
        conn = http.client.HTTPConnection("127.0.0.1", self.pl.ports["ingress"], timeout=60)
        h = {"Content-Type": "application/json",
             "Authorization": "Bearer " + (cred or self.pl.tokens["demo"])}
        h.update(headers or {})
        body = dict(body, stream=True)
        t0 = time.time()
        conn.request("POST", "/v1/chat/completions", json.dumps(body), h)
        resp = conn.getresponse()
        if resp.status != 200:
            self.fail("stream: %d %r" % (resp.status, resp.read()[:500]))
        self.assertTrue(resp.getheader("Content-Type").startswith("text/event-stream"))
        out = []
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.decode().rstrip("\r\n")
            if line.startswith("data: "):
                p = line[6:]
                out.append((time.time() - t0, p if p == "[DONE]" else json.loads(p)))
                if p == "[DONE]":
                    break
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        conn.close()
        return out, hdrs

    @staticmethod
    def user(text):
        return {"role": "user", "content": text}


class OpenAIApiTest(OpenAICase):
    # ---- models --------------------------------------------------------------------------
    def test_models_are_the_callers_tenants_only(self):
        st, body, _ = self.req("GET", "/v1/models", cred=self.pl.tokens["demo"])
        self.assertEqual(st, 200, body)
        self.assertEqual(body["object"], "list")
        ids = [m["id"] for m in body["data"]]
        self.assertEqual(ids, ["agenthub", "agenthub/AgentAnalysis", "agenthub/AgentDebt",
                               "agenthub/AgentOCR", "agenthub/AgentShipment"])
        self.assertTrue(all(m["object"] == "model" for m in body["data"]))
        # acme: AgentShipment is disabled for it; its API key sees acme's list only
        st, body, _ = self.req("GET", "/v1/models", cred=self.keys["acme"])
        self.assertEqual(st, 200, body)
        self.assertEqual([m["id"] for m in body["data"]],
                         ["agenthub", "agenthub/AgentAnalysis", "agenthub/AgentDebt"])
        st, body, _ = self.req("GET", "/v1/models/agenthub/AgentShipment", cred=self.keys["acme"])
        self.assertEqual(st, 404)
        self.assertEqual(body["error"]["code"], "model_not_found")
        st, body, _ = self.req("GET", "/v1/models/agenthub/AgentDebt", cred=self.keys["acme"])
        self.assertEqual((st, body["id"]), (200, "agenthub/AgentDebt"))
        # a chat to a model of another tenant's: 404 as well, and no job is made
        n0 = self.pl.sql("SELECT count(*) FROM jobs WHERE tenant_id = 'acme'")[0][0]
        st, body, _ = self.complete({"model": "agenthub/AgentShipment",
                                     "messages": [self.user("hi")]}, cred=self.keys["acme"])
        self.assertEqual((st, body["error"]["type"]), (404, "not_found_error"))
        self.assertEqual(self.pl.sql("SELECT count(*) FROM jobs WHERE tenant_id = 'acme'")[0][0],
                         n0)

    # ---- non-streaming -------------------------------------------------------------------
    def test_completion_shape_usage_and_persistence(self):
        st, body, h = self.complete({"model": "agenthub", "temperature": 0.2, "max_tokens": 50,
                                     "messages": [{"role": "system", "content": "be brief"},
                                                  self.user("What is the debt of customer with "
                                                            "tax code 0101234567?")]})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["object"], "chat.completion")
        self.assertEqual(body["model"], "agenthub")
        ch = body["choices"][0]
        self.assertEqual((ch["index"], ch["message"]["role"], ch["finish_reason"]),
                         (0, "assistant", "stop"))
        self.assertTrue(ch["message"]["content"])
        x = body["agenthub"]
        self.assertEqual(x["agent"], "AgentDebt")
        self.assertEqual(body["id"], "chatcmpl-" + x["job_id"])
        self.assertEqual(h["x-agenthub-session"], x["session_id"])
        self.assertTrue(x["tool_calls"], x)
        # usage is the job's real token counts
        row = self.pl.sql("SELECT metadata->'tokens'->>'input', metadata->'tokens'->>'output', "
                          "tenant_id, user_id, status FROM jobs WHERE job_id = %s", x["job_id"])[0]
        u = body["usage"]
        self.assertEqual((u["prompt_tokens"], u["completion_tokens"]), (int(row[0]), int(row[1])))
        self.assertGreater(u["prompt_tokens"], 0)
        self.assertEqual(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"])
        self.assertEqual((row[2], row[3], row[4]), ("demo", "demo-user", "done"))
        # the same persistence as /api/{tenant}/chat: the session holds question and answer
        msgs = self.pl.sql("SELECT role, content FROM messages WHERE session_id = %s "
                           "ORDER BY timestamp", x["session_id"])
        self.assertEqual([m[0] for m in msgs], ["user", "assistant"])
        self.assertIn("0101234567", msgs[0][1])
        # and the job is readable on the tenant's own API
        st, job = self.pl.request("GET", "/api/demo/jobs/%s" % x["job_id"])
        self.assertEqual((st, job["status"]), (200, "done"))

    def test_agent_model_goes_straight_to_the_agent(self):
        st, body, _ = self.complete({"model": "agenthub/AgentAnalysis",
                                     "messages": [self.user("hello there")]})
        self.assertEqual(st, 200, body)
        x = body["agenthub"]
        self.assertEqual(x["agent"], "AgentAnalysis")
        ev = self.pl.events(x["job_id"])
        routed = [d for e, d in ev if e == "routed"][0]
        self.assertEqual((routed["agent"], routed["routed_by"]), ("AgentAnalysis", "requested"))
        # through the supervisor the same words would not have gone there: a greeting is UNCLEAR
        st, body, _ = self.complete({"model": "agenthub", "messages": [self.user("hello there")]})
        self.assertEqual(st, 200, body)
        self.assertNotEqual(body["agenthub"]["agent"], "AgentAnalysis")

    def test_stateless_history_and_server_session(self):
        msgs = [self.user("My name is Quynh."),
                {"role": "assistant", "content": "Nice to meet you, Quynh."},
                self.user("hello again")]
        st, body, _ = self.complete({"model": "agenthub/AgentAnalysis", "messages": msgs})
        self.assertEqual(st, 200, body)
        x = body["agenthub"]
        self.assertEqual(x["metadata"]["history_messages"], 2)
        # stateless: a fresh session per request, holding only this turn
        st, body2, _ = self.complete({"model": "agenthub/AgentAnalysis", "messages": msgs})
        self.assertNotEqual(body2["agenthub"]["session_id"], x["session_id"])
        self.assertEqual(self.pl.sql("SELECT count(*) FROM messages WHERE session_id = %s",
                                     x["session_id"])[0][0], "2")
        # X-AgentHub-Session: new, then the same session: the server keeps the history
        st, b1, h1 = self.complete({"model": "agenthub/AgentAnalysis",
                                    "messages": [self.user("first turn")]},
                                   headers={"X-AgentHub-Session": "new"})
        sid = h1["x-agenthub-session"]
        self.assertEqual(b1["agenthub"]["metadata"]["history_messages"], 0)
        st, b2, h2 = self.complete({"model": "agenthub/AgentAnalysis",
                                    "messages": [self.user("ignored"), self.user("second turn")]},
                                   headers={"X-AgentHub-Session": sid})
        self.assertEqual(st, 200, b2)
        self.assertEqual((h2["x-agenthub-session"], b2["agenthub"]["session_id"]), (sid, sid))
        self.assertEqual(b2["agenthub"]["metadata"]["history_messages"], 2)
        # another tenant's session id: 404
        st, b3, _ = self.complete({"model": "agenthub", "messages": [self.user("x")]},
                                  cred=self.keys["acme"], headers={"X-AgentHub-Session": sid})
        self.assertEqual(st, 404, b3)

    # ---- refusals ------------------------------------------------------------------------
    def test_refusals_in_openai_error_shape(self):
        ok = [self.user("hi")]
        cases = [
            ({"model": "agenthub", "messages": ok, "n": 2}, 400, "n"),
            ({"model": "agenthub", "messages": ok,
              "tools": [{"type": "function", "function": {"name": "f"}}]}, 400, "tools"),
            ({"model": "agenthub", "messages": ok, "functions": [{"name": "f"}]}, 400,
             "functions"),
            ({"model": "agenthub", "messages": []}, 400, "messages"),
            ({"model": "agenthub"}, 400, "messages"),
            ({"messages": ok}, 400, "model"),
            ({"model": "agenthub", "messages": [{"role": "tool", "content": "x",
                                                  "tool_call_id": "1"}, self.user("x")]},
             400, "messages[0]"),
            ({"model": "agenthub", "messages": [self.user("x"),
                                                {"role": "assistant", "content": "y"}]},
             400, "messages[1]"),
            ({"model": "agenthub", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]},
             400, "messages[0]"),
            ({"model": "agenthub", "messages": ok, "response_format": {"type": "json_object"}},
             400, "response_format"),
            ({"model": "agenthub", "messages": ok, "logprobs": True}, 400, "logprobs"),
            ({"model": "agenthub", "messages": ok, "stream_options": {"include_usage": True}},
             400, "stream_options"),
            ({"model": "agenthub", "messages": ok, "frobnicate": 1}, 400, "frobnicate"),
            # a blank question is refused as POST /chat refuses it (it made a job answering "")
            ({"model": "agenthub", "messages": [self.user(" \n\t ")]}, 400, "messages[0]"),
            ({"model": "agenthub", "messages": [self.user("hi"), {"role": "assistant",
              "content": "yes"}, self.user("   ")]}, 400, "messages[2]"),
            ({"model": "gpt-4o", "messages": ok}, 404, "model"),
            ({"model": "agenthub/NoSuchAgent", "messages": ok}, 404, "model"),
        ]
        for body, status, param in cases:
            st, resp, _ = self.complete(body)
            self.assertEqual(st, status, (body, resp))
            e = resp["error"]
            self.assertEqual(set(e), {"message", "type", "param", "code"}, resp)
            self.assertEqual(e["param"], param, (body, resp))
            self.assertEqual(e["type"], "invalid_request_error" if status == 400
                             else "not_found_error")
        # credentials: none, a bad JWT, a malformed or unknown key -> 401 in OpenAI's shape
        for cred in (None, "eyJnot.a.jwt", "ahk_0123456789abcdef_" + "A" * 43, "ahk_short"):
            st, resp, _ = self.req("POST", "/v1/chat/completions",
                                   {"model": "agenthub", "messages": ok}, cred=cred)
            self.assertEqual((st, resp["error"]["type"]), (401, "authentication_error"), cred)
        # accepted-but-ignored fields and text parts work
        st, resp, _ = self.complete({"model": "agenthub/AgentDebt", "temperature": 1.5,
                                     "top_p": 0.5, "max_tokens": 5, "stop": ["x"], "seed": 1,
                                     "user": "u", "n": 1, "tools": [], "tool_choice": "none",
                                     "messages": [{"role": "user", "content": [
                                         {"type": "text", "text": "hello"},
                                         {"type": "text", "text": "world"}]}]})
        self.assertEqual(st, 200, resp)
        self.assertIn("hello\nworld", resp["choices"][0]["message"]["content"])

    # ---- streaming -----------------------------------------------------------------------
    def test_stream_chunks_usage_and_first_chunk_timing(self):
        """The answer streams as it is generated: the stand-in (tenant oaislow) sends the first
        word after TTFT_MS and then TPS words a second, so a ~20-word answer takes ~2.5 s; the
        first content chunk must arrive well before the last."""
        text = "please tell me something about the weather and the sea and the mountains today"
        out, h = self.stream({"model": "agenthub/AgentDebt", "messages": [self.user(text)],
                              "stream_options": {"include_usage": True}},
                             cred=self.keys["oaislow"])
        self.assertEqual(out[-1][1], "[DONE]")
        chunks = [p for _, p in out[:-1]]
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        self.assertEqual(len({c["id"] for c in chunks}), 1)
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        content = [(t, p["choices"][0]["delta"]["content"]) for t, p in out[:-1]
                   if p["choices"] and p["choices"][0]["delta"].get("content")]
        self.assertGreaterEqual(len(content), 3, out)
        finish = [(t, p) for t, p in out[:-1] if p["choices"] and
                  p["choices"][0]["finish_reason"]]
        self.assertEqual(len(finish), 1)
        self.assertEqual(finish[0][1]["choices"][0]["finish_reason"], "stop")
        usage = out[-2][1]
        self.assertEqual(usage["choices"], [])
        self.assertGreater(usage["usage"]["completion_tokens"], 5)
        full = "".join(c for _, c in content)
        self.assertIn("You said", full)
        words = usage["usage"]["completion_tokens"]
        generation_s = (words - 1) / TPS
        t_first, t_end = content[0][0], finish[0][0]
        # the first chunk came while the answer was still being generated: at least half of
        # the stand-in's generation time passed between it and the end
        self.assertLess(t_first, t_end - generation_s / 2,
                        "first chunk %.2fs, end %.2fs, generation %.2fs" %
                        (t_first, t_end, generation_s))
        self.assertGreater(t_end - t_first, generation_s / 2)
        x = finish[0][1]["agenthub"]
        self.assertEqual(h["x-agenthub-session"], x["session_id"])
        row = self.pl.sql("SELECT response, metadata->'tokens'->>'output' FROM jobs "
                          "WHERE job_id = %s", x["job_id"])[0]
        self.assertEqual(full, row[0])
        self.assertEqual(words, int(row[1]))
        # without include_usage: no usage chunk
        out, _ = self.stream({"model": "agenthub", "messages": [self.user("hello")]})
        self.assertTrue(all("usage" not in p for _, p in out[:-1]))
        self.assertTrue(out[-2][1]["choices"][0]["finish_reason"])

    # ---- API keys --------------------------------------------------------------------------
    def test_api_key_on_tenant_routes_and_isolation(self):
        ka, kb = self.keys["demo"], self.keys["acme"]
        st, a, _ = self.complete({"model": "agenthub/AgentAnalysis",
                                  "messages": [self.user("secret of tenant demo")]}, cred=ka)
        self.assertEqual(st, 200, a)
        job, sid = a["agenthub"]["job_id"], a["agenthub"]["session_id"]
        # the key works on /api/{tenant}/* like a JWT: the key's own jobs and sessions
        st, j, _ = self.req("GET", "/api/demo/jobs/%s" % job, cred=ka)
        self.assertEqual((st, j["status"]), (200, "done"))
        st, s, _ = self.req("GET", "/api/demo/sessions/%s/messages" % sid, cred=ka)
        self.assertEqual(st, 200)
        st, c, _ = self.req("POST", "/api/demo/chat?wait=20", {"message": "hi"}, cred=ka)
        self.assertEqual(st, 200, c)
        # B's key on A's URLs: 403; on its own URLs naming A's ids: 404
        for path in ("/api/demo/jobs/%s" % job, "/api/demo/sessions/%s" % sid,
                     "/api/demo/sessions", "/api/demo/jobs/%s/events" % job):
            st, resp, _ = self.req("GET", path, cred=kb)
            self.assertEqual(st, 403, path)
        for method, path in (("GET", "/api/acme/jobs/%s" % job),
                             ("GET", "/api/acme/sessions/%s" % sid),
                             ("GET", "/api/acme/sessions/%s/messages" % sid),
                             ("GET", "/api/acme/jobs/%s/events" % job),
                             ("DELETE", "/api/acme/sessions/%s" % sid)):
            st, resp, _ = self.req(method, path, cred=kb)
            self.assertEqual(st, 404, path)
            self.assertNotIn("secret", json.dumps(resp))
        st, lst, _ = self.req("GET", "/api/acme/sessions", cred=kb)
        self.assertNotIn(sid, json.dumps(lst))
        # a key is a user of its own: the tenant's JWT user does not see the key's jobs
        st, _, _ = self.req("GET", "/api/demo/jobs/%s" % job, cred=self.pl.tokens["demo"])
        self.assertEqual(st, 404)
        # a key in the URL is never accepted (event streams take ?access_token=)
        st, _, _ = self.req("GET", "/api/demo/jobs/%s/events?access_token=%s" % (job, ka))
        self.assertEqual(st, 401)
        # a user key is no admin
        st, _, _ = self.req("GET", "/api/admin/tenants/demo/api-keys", cred=ka)
        self.assertEqual(st, 403)

    def test_api_key_lifecycle_revocation_and_secrecy(self):
        admin = self.pl.token("demo", "demo-admin", roles="admin")
        st, made, _ = self.req("POST", "/api/admin/tenants/demo/api-keys",
                               {"name": "ci server", "expires_in_s": 3600}, cred=admin)
        self.assertEqual(st, 201, made)
        key, kid = made["key"], made["key_id"]
        self.assertTrue(key.startswith("ahk_%s_" % kid))
        self.assertEqual(made["roles"], ["user"])
        self.assertTrue(made["expires_at"])
        self.assertEqual(made["created_by"], "demo-admin")
        # stored hashed, never in clear
        row = self.pl.sql("SELECT key_hash FROM api_keys WHERE key_id = %s", kid)[0][0]
        import hashlib
        self.assertEqual(row, hashlib.sha256(key.encode()).hexdigest())
        self.assertEqual(self.pl.sql("SELECT count(*) FROM api_keys WHERE key_hash = %s OR "
                                     "name = %s", key, key)[0][0], "0")
        # listed without key or hash
        st, lst, _ = self.req("GET", "/api/admin/tenants/demo/api-keys", cred=admin)
        self.assertEqual(st, 200)
        mine = [k for k in lst["items"] if k["key_id"] == kid][0]
        self.assertNotIn("key", mine)
        self.assertNotIn(key, json.dumps(lst))
        self.assertNotIn(row, json.dumps(lst))
        # another tenant's admin neither lists nor revokes demo's keys
        other = self.pl.token("acme", "acme-admin", roles="admin")
        st, _, _ = self.req("GET", "/api/admin/tenants/demo/api-keys", cred=other)
        self.assertEqual(st, 403)
        st, _, _ = self.req("DELETE", "/api/admin/tenants/demo/api-keys/%s" % kid, cred=other)
        self.assertEqual(st, 403)
        st, _, _ = self.req("DELETE", "/api/admin/tenants/acme/api-keys/%s" % kid, cred=other)
        self.assertEqual(st, 404)
        # the key works, and last_used_at is recorded
        st, body, _ = self.req("GET", "/v1/models", cred=key)
        self.assertEqual(st, 200, body)
        self.assertEqual(self.pl.sql("SELECT last_used_at IS NOT NULL FROM api_keys "
                                     "WHERE key_id = %s", kid)[0][0], "t")
        # a second ingress process knows the key too (cached there now)
        port2 = ph.free_port()
        self.pl.spawn("ingress2", [os.path.join(BIN, "agenthub-ingress")],
                      {"INGRESS_LISTEN": "127.0.0.1:%d" % port2})
        self.assertTrue(ph.wait_ingress(port2), self.pl.log("ingress2"))
        st, _, _ = self.req("GET", "/v1/models", cred=key, port=port2)
        self.assertEqual(st, 200)
        # revoked on the first process: refused there at once, on the second within
        # INGRESS_API_KEY_CACHE_MS (2 s by default)
        st, _, _ = self.req("DELETE", "/api/admin/tenants/demo/api-keys/%s" % kid, cred=admin)
        self.assertEqual(st, 204)
        t0 = time.time()
        st, _, _ = self.req("GET", "/v1/models", cred=key)
        self.assertEqual(st, 401)
        while time.time() - t0 < 10:
            st, _, _ = self.req("GET", "/v1/models", cred=key, port=port2)
            if st == 401:
                break
            time.sleep(0.1)
        self.assertEqual(st, 401)
        self.assertLess(time.time() - t0, 3.5)
        # the admin write is audited (with the key id, never the key)
        audit = self.pl.sql("SELECT method, status FROM admin_audit WHERE route LIKE "
                            "'%%api-keys%%' AND resource_id = %s AND status < 400 ORDER BY audit_id", kid)
        self.assertEqual(audit, [["POST", "201"], ["DELETE", "204"]])
        # no log holds a key
        for name in list(self.pl.procs):
            text = self.pl.log(name)
            self.assertNotIn(key, text, name)
            for k in self.keys.values():
                self.assertNotIn(k, text, name)

    def test_api_key_expiry_and_roles_are_checked(self):
        """PostgreSQL alone took "tomorrow", "2030-01-01" and "infinity" (a key that never
        expires, answered expires_at null) for expires_at, and [] or ["admin"] for roles."""
        admin = self.pl.token("demo", "demo-admin", roles="admin")
        path = "/api/admin/tenants/demo/api-keys"
        for bad in ({"expires_at": "tomorrow"}, {"expires_at": "infinity"},
                    {"expires_at": "2030-01-01"}, {"expires_at": "Jan 1 2030"},
                    {"expires_at": "2030-01-01T00:00:00"}, {"expires_at": 1924992000},
                    {"roles": []}, {"roles": ["admin"]}, {"roles": ["user", "root"]},
                    {"expires_in": 3600}):  # a misspelt member: a key that never expired
            st, body, _ = self.req("POST", path, dict(bad, name="bad key"), cred=admin)
            self.assertEqual(st, 400, (bad, body))
            self.assertIn(next(iter(bad)), body["error"]["message"])
        for good, roles in (({"expires_at": "2030-01-01T00:00:00Z"}, ["user"]),
                            ({"expires_at": "2030-01-01T07:00:00.5+07:00"}, ["user"]),
                            ({"roles": ["admin", "user"]}, ["user", "admin"])):
            st, made, _ = self.req("POST", path, dict(good, name="good key"), cred=admin)
            self.assertEqual(st, 201, (good, made))
            self.assertEqual(made["roles"], roles)
            if "expires_at" in good:
                self.assertTrue(made["expires_at"].startswith("2030-01-01T00:00:00"), made)
            self.req("DELETE", "%s/%s" % (path, made["key_id"]), cred=admin)

    def test_ctl_list_and_revoke(self):
        key = self.ctl_key("acme", "ctl-key", "--admin", "--expires-in", "600")
        kid = key.split("_")[1]
        out = self.pl.run([CTL, "api-keys", "list", "--tenant", "acme"]).stdout
        items = [json.loads(line) for line in out.splitlines()]
        mine = [i for i in items if i["key_id"] == kid][0]
        self.assertEqual(mine["roles"], ["user", "admin"])
        self.assertNotIn(key, out)
        # an admin key manages its tenant
        st, lst, _ = self.req("GET", "/api/admin/tenants/acme/api-keys", cred=key)
        self.assertEqual(st, 200, lst)
        st, _, _ = self.req("GET", "/api/admin/tenants/demo/api-keys", cred=key)
        self.assertEqual(st, 403)
        self.pl.run([CTL, "api-keys", "revoke", "--tenant", "acme", kid])
        # the CLI's writes are audited too, with the system user who ran it
        import pwd
        me = pwd.getpwuid(os.getuid()).pw_name
        self.assertEqual(self.pl.sql("SELECT actor_kind, actor_sub, method, route, status FROM "
                                     "admin_audit WHERE resource_id = %s ORDER BY audit_id", kid),
                         [["cli", me, "CLI", "agenthubctl api-keys create", "201"],
                          ["cli", me, "CLI", "agenthubctl api-keys revoke", "204"]])
        time.sleep(2.3)  # INGRESS_API_KEY_CACHE_MS: the revoking process was not this one
        st, _, _ = self.req("GET", "/v1/models", cred=key)
        self.assertEqual(st, 401)
        r = self.pl.run([CTL, "api-keys", "revoke", "--tenant", "demo", kid], check=False)
        self.assertEqual(r.returncode, 1)
        # listing the keys of a tenant that does not exist says so (it printed nothing, exit 0)
        r = self.pl.run([CTL, "api-keys", "list", "--tenant", "no-such-tenant-x"], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such tenant", r.stderr)

    def test_expired_key_and_inactive_tenant(self):
        key = self.ctl_key("demo", "short", "--expires-in", "1")
        st, _, _ = self.req("GET", "/v1/models", cred=key)
        self.assertEqual(st, 200)
        time.sleep(1.5)
        st, body, _ = self.req("GET", "/v1/models", cred=key)
        self.assertEqual((st, body["error"]["type"]), (401, "authentication_error"))
        # a deactivated tenant's key (and token) is refused on /v1 (INGRESS_TENANT_CACHE_MS)
        self.pl.add_tenant("oaioff", "standin-1")
        self.pl.sql("UPDATE tenants SET is_active = true WHERE tenant_id = 'oaioff'")  # rerun
        key = self.ctl_key("oaioff", "off")
        st, _, _ = self.req("GET", "/v1/models", cred=key)
        self.assertEqual(st, 200)
        self.pl.sql("UPDATE tenants SET is_active = false WHERE tenant_id = 'oaioff'")
        time.sleep(1.3)
        for cred in (key, self.pl.tokens["oaioff"]):
            st, body, _ = self.complete({"model": "agenthub", "messages": [self.user("x")]},
                                        cred=cred)
            self.assertEqual((st, body["error"]["code"], body["error"]["type"]),
                             (403, "tenant_inactive", "permission_error"))


def sdk_paths():
    r = subprocess.run([os.path.join(ROOT, "compose", "local", "openai-sdks")],
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise AssertionError("openai-sdks: " + r.stderr[-2000:])
    return dict(line.split("=", 1) for line in r.stdout.split())


PY_DRIVER = r'''
import json, sys, time
import openai
base, jwt_tok, key, other_key = sys.argv[1:5]
out = {"version": openai.__version__}
def run(cred, tag):
    c = openai.OpenAI(base_url=base, api_key=cred, max_retries=0, timeout=60)
    out[tag + ".models"] = [m.id for m in c.models.list()]
    r = c.chat.completions.create(model="agenthub/AgentAnalysis",
                                  messages=[{"role": "user", "content": "hello from python"}])
    out[tag + ".once"] = {"content": r.choices[0].message.content,
                          "finish": r.choices[0].finish_reason,
                          "usage": [r.usage.prompt_tokens, r.usage.completion_tokens,
                                    r.usage.total_tokens],
                          "ext": (r.model_extra or {}).get("agenthub")}
    t0 = time.time(); times = []; parts = []; usage = None; finish = None
    s = c.chat.completions.create(model="agenthub/AgentAnalysis", stream=True,
                                  stream_options={"include_usage": True},
                                  messages=[{"role": "user", "content": "stream this answer to me please now"}])
    for ch in s:
        if ch.usage:
            usage = [ch.usage.prompt_tokens, ch.usage.completion_tokens]
        if ch.choices and ch.choices[0].delta.content:
            parts.append(ch.choices[0].delta.content); times.append(time.time() - t0)
        if ch.choices and ch.choices[0].finish_reason:
            finish = [ch.choices[0].finish_reason, time.time() - t0]
    out[tag + ".stream"] = {"text": "".join(parts), "times": times, "usage": usage,
                            "finish": finish}
run(jwt_tok, "jwt")
run(key, "key")
c = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
r = c.chat.completions.create(model="agenthub/AgentAnalysis", messages=[
    {"role": "system", "content": "you are helpful"},
    {"role": "user", "content": "My name is Quynh."},
    {"role": "assistant", "content": "Hello Quynh."},
    {"role": "user", "content": "hello again"}])
out["multiturn"] = (r.model_extra or {})["agenthub"]["metadata"]["history_messages"]
# Idempotency-Key through the SDK's extra_headers: a retry gets the first request's answer
import uuid
key_h = {"Idempotency-Key": "py-" + str(uuid.uuid4())}
question = "idempotent question " + key_h["Idempotency-Key"]
ask = lambda q: c.chat.completions.create(model="agenthub/AgentAnalysis", extra_headers=key_h,
                                          messages=[{"role": "user", "content": q}])
first, again = ask(question), ask(question)
try:
    ask(question + " changed"); conflict = None
except openai.APIStatusError as e:
    conflict = [type(e).__name__, e.status_code,
                (e.body or {}).get("code") if isinstance(e.body, dict) else None]
out["idem"] = {"question": question, "ids": [first.id, again.id],
               "texts": [first.choices[0].message.content, again.choices[0].message.content],
               "conflict": conflict}
errs = {}
for name, fn in [
    ("auth", lambda: openai.OpenAI(base_url=base, api_key="ahk_0123456789abcdef_" + "A" * 43,
                                   max_retries=0).models.list()),
    ("model", lambda: c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])),
    ("n", lambda: c.chat.completions.create(model="agenthub", n=2, messages=[{"role": "user", "content": "x"}])),
    ("tools", lambda: c.chat.completions.create(model="agenthub", messages=[{"role": "user", "content": "x"}],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])),
    ("other", lambda: openai.OpenAI(base_url=base, api_key=other_key, max_retries=0).models.retrieve("agenthub/AgentShipment")),
]:
    try:
        fn(); errs[name] = None
    except openai.APIStatusError as e:
        errs[name] = [type(e).__name__, e.status_code, (e.body or {}).get("code") if isinstance(e.body, dict) else None]
out["errors"] = errs
print(json.dumps(out))
'''

NODE_DRIVER = r'''
const mod = require("openai");
const OpenAI = mod.OpenAI || mod.default || mod;
const [base, jwtTok, key, otherKey] = process.argv.slice(2);
const out = {};
async function run(cred, tag) {
  const c = new OpenAI({ baseURL: base, apiKey: cred, maxRetries: 0, timeout: 60000 });
  const models = [];
  for await (const m of c.models.list()) models.push(m.id);
  out[tag + ".models"] = models;
  const r = await c.chat.completions.create({ model: "agenthub/AgentAnalysis",
    messages: [{ role: "user", content: "hello from node" }] });
  out[tag + ".once"] = { content: r.choices[0].message.content, finish: r.choices[0].finish_reason,
    usage: [r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens], ext: r.agenthub };
  const t0 = Date.now(); const times = []; const parts = []; let usage = null; let finish = null;
  const s = await c.chat.completions.create({ model: "agenthub/AgentAnalysis", stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: "user", content: "stream this answer to me please now" }] });
  for await (const ch of s) {
    if (ch.usage) usage = [ch.usage.prompt_tokens, ch.usage.completion_tokens];
    if (ch.choices.length && ch.choices[0].delta.content) {
      parts.push(ch.choices[0].delta.content); times.push((Date.now() - t0) / 1000);
    }
    if (ch.choices.length && ch.choices[0].finish_reason)
      finish = [ch.choices[0].finish_reason, (Date.now() - t0) / 1000];
  }
  out[tag + ".stream"] = { text: parts.join(""), times, usage, finish };
}
(async () => {
  out.version = OpenAI.VERSION || null;
  await run(jwtTok, "jwt");
  await run(key, "key");
  const c = new OpenAI({ baseURL: base, apiKey: key, maxRetries: 0 });
  const r = await c.chat.completions.create({ model: "agenthub/AgentAnalysis", messages: [
    { role: "system", content: "you are helpful" },
    { role: "user", content: "My name is Quynh." },
    { role: "assistant", content: "Hello Quynh." },
    { role: "user", content: "hello again" }] });
  out.multiturn = r.agenthub.metadata.history_messages;
  // Idempotency-Key as a request option's header: a retry gets the first request's answer
  const idemKey = "node-" + require("crypto").randomUUID();
  const question = "idempotent question " + idemKey;
  const ask = (q) => c.chat.completions.create({ model: "agenthub/AgentAnalysis",
    messages: [{ role: "user", content: q }] }, { headers: { "Idempotency-Key": idemKey } });
  const first = await ask(question), again = await ask(question);
  let conflict = null;
  try { await ask(question + " changed"); }
  catch (e) {
    const cls = Object.keys(mod).find((k) => typeof mod[k] === "function" && e.constructor === mod[k]) ||
                e.constructor.name;
    conflict = [cls, e.status, e.code || (e.error && e.error.code) || null];
  }
  out.idem = { question, ids: [first.id, again.id],
               texts: [first.choices[0].message.content, again.choices[0].message.content], conflict };
  const errs = {};
  const cases = [
    ["auth", () => new OpenAI({ baseURL: base, apiKey: "ahk_0123456789abcdef_" + "A".repeat(43), maxRetries: 0 }).models.list()],
    ["model", () => c.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] })],
    ["n", () => c.chat.completions.create({ model: "agenthub", n: 2, messages: [{ role: "user", content: "x" }] })],
    ["tools", () => c.chat.completions.create({ model: "agenthub", messages: [{ role: "user", content: "x" }],
      tools: [{ type: "function", function: { name: "f", parameters: {} } }] })],
    ["other", () => new OpenAI({ baseURL: base, apiKey: otherKey, maxRetries: 0 }).models.retrieve("agenthub/AgentShipment")],
  ];
  for (const [name, fn] of cases) {
    try { await fn(); errs[name] = null; }
    catch (e) {
      const cls = Object.keys(mod).find((k) => typeof mod[k] === "function" && e.constructor === mod[k]) ||
                  e.constructor.name;
      errs[name] = [cls, e.status, e.code || (e.error && e.error.code) || null];
    }
  }
  out.errors = errs;
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
'''


class OpenAISdkTest(OpenAICase):
    """The official SDKs against AgentHub: tenant oaislow (stand-in at TPS words a second),
    with a JWT and with an API key, non-streaming and streaming, models, errors, multi-turn."""

    @classmethod
    def setUpClass(cls):
        cls.sdks = sdk_paths()  # installs them (pinned) when missing
        super().setUpClass()

    def check(self, out, sdk):
        base_models = ["agenthub", "agenthub/AgentAnalysis", "agenthub/AgentDebt"]
        for tag in ("jwt", "key"):
            self.assertEqual(out[tag + ".models"], base_models, (sdk, tag))
            once = out[tag + ".once"]
            self.assertIn("You said", once["content"], (sdk, once))
            self.assertEqual(once["finish"], "stop")
            self.assertGreater(once["usage"][0], 0)
            self.assertEqual(once["usage"][2], once["usage"][0] + once["usage"][1])
            self.assertEqual(once["ext"]["agent"], "AgentAnalysis")
            st = out[tag + ".stream"]
            self.assertIn("You said", st["text"], (sdk, st))
            self.assertEqual(st["finish"][0], "stop")
            self.assertGreater(st["usage"][1], 3)
            generation_s = (st["usage"][1] - 1) / TPS
            # the first chunk reached the SDK while the answer was still being generated
            self.assertGreater(len(st["times"]), 2, (sdk, st))
            self.assertLess(st["times"][0], st["finish"][1] - generation_s / 2, (sdk, st))
        self.assertEqual(out["multiturn"], 2, sdk)
        idem = out["idem"]
        self.assertEqual(idem["ids"][0], idem["ids"][1], (sdk, idem))  # one job answered both
        self.assertEqual(idem["texts"][0], idem["texts"][1], (sdk, idem))
        self.assertEqual(idem["conflict"], ["UnprocessableEntityError", 422,
                                            "idempotency_conflict"], (sdk, idem))
        asked = self.pl.sql("SELECT count(*) FROM messages WHERE role = 'user' AND content = %s;",
                            idem["question"])
        self.assertEqual(asked, [["1"]], (sdk, "the retry made a second job"))
        e = out["errors"]
        self.assertEqual(e["auth"][:2], ["AuthenticationError", 401], (sdk, e))
        self.assertEqual(e["model"][:2], ["NotFoundError", 404], (sdk, e))
        self.assertEqual(e["n"][:2], ["BadRequestError", 400], (sdk, e))
        self.assertEqual(e["tools"][:2], ["BadRequestError", 400], (sdk, e))
        self.assertEqual(e["other"][:2], ["NotFoundError", 404], (sdk, e))

    def args(self):
        return [self.pl.base + "/v1", self.pl.tokens["oaislow"], self.keys["oaislow"],
                self.keys["acme"]]

    def test_python_sdk(self):
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(PY_DRIVER)
        try:
            r = subprocess.run([self.sdks["python"], f.name] + self.args(), capture_output=True,
                               text=True, timeout=300)
        finally:
            os.unlink(f.name)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        out = json.loads(r.stdout)
        self.assertEqual(out["version"], "3.60.0")
        self.check(out, "python")

    def test_node_sdk(self):
        with tempfile.NamedTemporaryFile("w", suffix=".cjs", delete=False) as f:
            f.write(NODE_DRIVER)
        try:
            env = dict(os.environ, NODE_PATH=self.sdks["node"])
            r = subprocess.run(["node", f.name] + self.args(), capture_output=True, text=True,
                               timeout=300, env=env)
        finally:
            os.unlink(f.name)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        out = json.loads(r.stdout)
        self.check(out, "node")


if __name__ == "__main__":
    unittest.main()
