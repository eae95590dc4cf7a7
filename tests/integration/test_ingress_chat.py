"""Chat submission, jobs, SSE, long-poll, sessions and tenant isolation through the real
ingress. The router and agents are not running: stages are simulated by appending events to
the job's Redis stream (XADD) and updating the jobs row with psql."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402


class IngressCase(unittest.TestCase):
    """One ingress process per class (cls.ing, started with cls.ingress_env), one tenant
    (cls.t, named from cls.tenant_prefix) and a token of cls.user for it (cls.tok). When the
    class is done the process is stopped and its log checked for sanitizer reports."""
    ingress_env = {}
    tenant_prefix = "t"
    user = "user-1"

    @classmethod
    def setUpClass(cls):
        why = S.stack_env_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.ing = S.Ingress(cls.ingress_env)
        cls.t = S.unique(cls.tenant_prefix)
        cls.ing.ensure_tenant(cls.t)
        cls.tok = cls.ing.token(tenant=cls.t, sub=cls.user)

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "ing"):
            cls.ing.stop_and_check(unittest.TestCase())


class IngressWakeupTest(IngressCase):
    """Streams are woken by the agenthub.chat.events consumer, not by polling: with the Redis
    poll interval at 60 s, an event still reaches the stream within seconds once its
    chat.event is on Kafka."""

    ingress_env = {"INGRESS_SSE_POLL_MS": "60000"}
    tenant_prefix = "tw"
    user = "wendy"

    @classmethod
    def setUpClass(cls):
        if not shutil.which("kcat"):
            raise unittest.SkipTest("kcat not installed")
        super().setUpClass()

    def test_kafka_event_wakes_stream(self):
        # the consumer joins its group asynchronously: wait until it has partitions
        deadline = time.time() + 30
        while time.time() < deadline and "partitions assigned" not in self.ing.logs():
            time.sleep(0.2)
        st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.t, {"message": "wake"},
                                       token=self.tok)
        self.assertEqual(st, 202)
        job = resp["job_id"]

        def later():
            time.sleep(1.5)
            S.xadd(self.t, job, "final", {"response": "woken"})
            env = {"version": 1, "type": "chat.event", "job_id": job, "tenant_id": self.t,
                   "user_id": "wendy", "session_id": resp["session_id"],
                   "message_id": resp["message_id"],
                   "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                   "created_at": "2026-01-01T00:00:00Z", "attempt": 0,
                   "payload": {"event": "final", "data": {"response": "woken"}}}
            subprocess.run(["kcat", "-P", "-b", os.environ["KAFKA_BROKERS"], "-t",
                            "agenthub.chat.events", "-k", resp["session_id"]],
                           input=json.dumps(env), text=True, timeout=30, check=True)
        th = threading.Thread(target=later)
        th.start()
        t0 = time.time()
        events, raw = self.ing.sse(self.t, job, self.tok, max_time=40)
        th.join()
        self.assertEqual([e["event"] for e in events], ["queued", "final"], raw)
        self.assertLess(time.time() - t0, 30, "woken by polling, not by the Kafka consumer")


    def test_chat_request_envelope_on_kafka(self):
        from cryptography.fernet import Fernet, InvalidToken
        st, resp, _ = self.ing.request(
            "POST", "/api/%s/chat" % self.t, {"message": "envelope please"}, token=self.tok,
            headers={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                     "Idempotency-Key": S.unique("k")})
        self.assertEqual(st, 202)
        out = subprocess.run(["kcat", "-C", "-b", os.environ["KAFKA_BROKERS"], "-t",
                              "agenthub.chat.requests", "-o", "beginning", "-e", "-q",
                              "-f", "%k\t%h\t%s\n"],
                             capture_output=True, text=True, timeout=60)
        found = None
        for line in out.stdout.splitlines():
            parts = line.split("\t", 2)
            if len(parts) == 3 and resp["job_id"] in parts[2]:
                found = parts
        self.assertIsNotNone(found, out.stderr[-500:])
        key, headers, value = found
        env = json.loads(value)
        self.assertEqual(key, resp["session_id"])
        self.assertEqual((env["version"], env["type"]), (1, "chat.request"))
        for k in ("job_id", "session_id", "message_id"):
            self.assertEqual(env[k], resp[k])
        self.assertEqual((env["tenant_id"], env["user_id"]), (self.t, "wendy"))
        # the caller's trace continues: same trace id, new span
        self.assertTrue(env["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-"))
        self.assertNotIn("00f067aa0ba902b7", env["traceparent"])
        self.assertIn("traceparent=" + env["traceparent"], headers)
        self.assertEqual(env["payload"]["message"], "envelope please")
        self.assertIn("idempotency_key", env["payload"])
        # wrapped with the user-token-wrap purpose key (common/fernet.h), not FERNET_KEY itself
        raw = base64.urlsafe_b64decode(self.ing.fernet_key.encode())
        wrap = base64.urlsafe_b64encode(hmac.new(
            raw, b"agenthub fernet purpose key v1:user-token-wrap", hashlib.sha256).digest())
        token = Fernet(wrap).decrypt(env["payload"]["user_token"].encode()).decode()
        self.assertEqual(token, self.tok)
        self.assertNotIn(self.tok, value)
        with self.assertRaises(InvalidToken):
            Fernet(self.ing.fernet_key.encode()).decrypt(env["payload"]["user_token"].encode())


class IngressChatTest(IngressCase):
    ingress_env = {"INGRESS_SSE_HEARTBEAT_S": "1"}
    tenant_prefix = "ta"
    user = "alice"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ta, cls.tok_a = cls.t, cls.tok
        cls.tb = S.unique("tb")
        cls.ing.ensure_tenant(cls.tb)
        cls.tok_a2 = cls.ing.token(tenant=cls.ta, sub="amy")
        cls.tok_b = cls.ing.token(tenant=cls.tb, sub="bob")

    def chat(self, tenant, token, body, headers=None, query=""):
        return self.ing.request("POST", "/api/%s/chat%s" % (tenant, query), body, token=token,
                                headers=headers)

    def submit(self, tenant=None, token=None, message="hello", **extra):
        tenant = tenant or self.ta
        token = token or self.tok_a
        body = {"message": message}
        body.update(extra)
        st, resp, _ = self.chat(tenant, token, body)
        self.assertEqual(st, 202, resp)
        return resp

    def finish_job(self, tenant, job_id, response="the answer", agent="AgentDebt"):
        S.psql("UPDATE jobs SET status = 'done', response = :'b', agent = :'c', "
               "metadata = '{\"agent\": \"AgentDebt\", \"tokens\": 12}'::jsonb, "
               "updated_at = now() WHERE job_id = :'a'", job_id, response, agent)
        S.xadd(tenant, job_id, "final", {"response": response, "agent": agent})

    def test_a_tenant_that_does_not_exist_is_404_on_every_route(self):
        """A valid token naming a tenant without a row: the chat said 404 no such tenant, but
        the session list answered 200 [] and /v1/models listed "agenthub"."""
        t = S.unique("nosuch")
        tok = self.ing.token(tenant=t, sub="u1")
        for method, path, body in (("POST", "/api/%s/chat" % t, {"message": "hi"}),
                                   ("GET", "/api/%s/sessions" % t, None),
                                   ("GET", "/api/%s/usage" % t, None),
                                   ("GET", "/api/%s/documents" % t, None),
                                   ("GET", "/v1/models", None)):
            st, resp, _ = self.ing.request(method, path, body, token=tok)
            self.assertEqual(st, 404, (method, path, resp))
            err = resp["error"]
            self.assertIn("no such tenant", err.get("message", ""), (path, resp))

    # ---- POST /chat ---------------------------------------------------------------------
    def test_chat_accepted_shape_and_rows(self):
        resp = self.submit(message="What is my debt?")
        for k in ("job_id", "session_id", "message_id", "events_url", "result_url"):
            self.assertIn(k, resp)
        self.assertEqual(resp["status"], "queued")
        self.assertEqual(resp["events_url"], "/api/%s/jobs/%s/events" % (self.ta, resp["job_id"]))
        self.assertEqual(resp["result_url"], "/api/%s/jobs/%s" % (self.ta, resp["job_id"]))
        rows = S.psql("SELECT status, session_id, user_message_id, user_id FROM jobs "
                      "WHERE job_id = :'a'", resp["job_id"])
        self.assertEqual(rows, [["queued", resp["session_id"], resp["message_id"], "alice"]])
        rows = S.psql("SELECT role, content FROM messages WHERE message_id = :'a'",
                      resp["message_id"])
        self.assertEqual(rows, [["user", "What is my debt?"]])
        # the queued event is in the job's stream
        st, job, _ = self.ing.request("GET", resp["result_url"], token=self.tok_a)
        self.assertEqual(st, 200)
        self.assertEqual(job["status"], "queued")
        self.assertEqual([e["event"] for e in job["events"]], ["queued"])

    def test_chat_into_existing_session(self):
        first = self.submit()
        second = self.submit(session_id=first["session_id"], message="and more")
        self.assertEqual(second["session_id"], first["session_id"])
        self.assertNotEqual(second["job_id"], first["job_id"])
        st, msgs, _ = self.ing.request("GET", "/api/%s/sessions/%s/messages" %
                                       (self.ta, first["session_id"]), token=self.tok_a)
        self.assertEqual(st, 200)
        self.assertEqual([m["content"] for m in msgs["messages"]], ["hello", "and more"])

    def test_chat_validation(self):
        cases = [
            ({}, 400), ({"message": ""}, 400), ({"message": 5}, 400),
            ({"message": "   "}, 400), ({"message": "\n\t \r\n"}, 400),
            ({"message": "x" * 32001}, 400), ({"message": "hi", "session_id": "nope"}, 400),
            ({"message": "hi", "session_id": 7}, 400),
            ({"message": "hi", "user_id": "mallory"}, 403),
            ({"message": "hi", "session_id": str(uuid.uuid4())}, 404),
        ]
        for body, want in cases:
            st, resp, _ = self.chat(self.ta, self.tok_a, body)
            self.assertEqual(st, want, "%s -> %s" % (str(body)[:60], resp))
            self.assertIn("code", resp["error"])
            self.assertIn("message", resp["error"])
        # a misspelt member is named: "sesion_id" would silently start a new conversation
        st, resp, _ = self.chat(self.ta, self.tok_a, {"message": "hi", "sesion_id": str(uuid.uuid4())})
        self.assertEqual(st, 400, resp)
        self.assertIn('unknown member "sesion_id"', resp["error"]["message"])
        self.assertIn("session_id", resp["error"]["message"])  # and says what the body takes
        # exactly 32000 characters (multi-byte) is fine
        self.submit(message="é" * 32000)
        # user_id equal to sub is fine
        self.submit(user_id="alice")
        for raw in [b"not json", b"[1,2]", b"{\"message\":\"a\"} trailing", b""]:
            st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.ta, token=self.tok_a,
                                           raw_body=raw)
            self.assertEqual(st, 400, raw)
        # what json-c takes unless told to be strict, and JSON does not: each was a new job
        for raw, where in ((b'{"message":"a",}', "at byte 15"), (b"{'message':'a'}", "at byte"),
                           (b'{"message":"a","session_id":Null}', "at byte 29"),
                           (b'{"message":"a","attachments":[NaN]}', "NaN"),
                           (b'{"message":"a","metadata":{"n":1.}}', "written as JSON"),
                           # json-c clamps it: the job would keep 18446744073709551615
                           (b'{"message":"a","metadata":{"order":100000000000000000000}}',
                            "integer at byte 35 is beyond 64 bits")):
            st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.ta, token=self.tok_a,
                                           raw_body=raw)
            self.assertEqual((st, resp["error"]["code"]), (400, "invalid_json"), (raw, resp))
            self.assertIn("body is not valid JSON: ", resp["error"]["message"])
            self.assertIn(where, resp["error"]["message"])
        st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.ta, token=self.tok_a,
                                       raw_body=b"[1,2]")
        self.assertEqual(resp["error"]["message"], "body must be a JSON object, not array")
        st, resp, _ = self.ing.request("GET", "/api/%s/chat" % self.ta, token=self.tok_a)
        self.assertEqual(st, 405)

    def test_unknown_tenant_is_404(self):
        ghost = S.unique("ghost")
        tok = self.ing.token(tenant=ghost)
        st, resp, _ = self.chat(ghost, tok, {"message": "hi"})
        self.assertEqual(st, 404, resp)

    def test_disabled_tenant_takes_no_chats(self):
        t = S.unique("td")
        self.ing.ensure_tenant(t)
        tok = self.ing.token(tenant=t, sub="dora")
        self.assertEqual(self.chat(t, tok, {"message": "hi"})[0], 202)
        st, _, _ = self.ing.request("PATCH", "/api/admin/tenants/" + t, {"is_active": False},
                                    token=self.ing.admin_token())
        self.assertEqual(st, 200)
        st, body, _ = self.chat(t, tok, {"message": "hi"})
        self.assertEqual((st, body["error"]["code"]), (403, "tenant_disabled"))
        # issue 17: an inactive tenant is refused everywhere, its history included
        st, body, _ = self.ing.request("GET", "/api/%s/sessions" % t, token=tok)
        self.assertEqual((st, body["error"]["code"]), (403, "tenant_inactive"))

    def test_body_limit(self):
        big = {"message": "a", "pad": "x" * (1024 * 1024 + 10)}
        st, resp, _ = self.chat(self.ta, self.tok_a, big)
        self.assertEqual(st, 413)
        self.assertEqual(resp["error"]["code"], "payload_too_large")

    def test_idempotency_key(self):
        key = S.unique("idem")
        h = {"Idempotency-Key": key}
        st1, r1, _ = self.chat(self.ta, self.tok_a, {"message": "pay my bill"}, headers=h)
        st2, r2, h2 = self.chat(self.ta, self.tok_a, {"message": "pay my bill"}, headers=h)
        self.assertEqual(st1, 202)
        self.assertEqual(st2, 202)
        self.assertEqual(h2.get("idempotent-replayed"), "true")
        for k in ("job_id", "session_id", "message_id", "events_url", "result_url"):
            self.assertEqual(r1[k], r2[k])
        n = S.psql("SELECT count(*) FROM jobs WHERE tenant_id = :'a' AND idempotency_key = :'b'",
                   self.ta, key)
        self.assertEqual(n, [["1"]])
        n = S.psql("SELECT count(*) FROM messages WHERE session_id = :'a'", r1["session_id"])
        self.assertEqual(n, [["1"]])
        # one queued event only: the replay published nothing
        st, job, _ = self.ing.request("GET", r1["result_url"], token=self.tok_a)
        self.assertEqual(len(job["events"]), 1)
        # same key, different body: refused
        st3, r3, _ = self.chat(self.ta, self.tok_a, {"message": "something else"}, headers=h)
        self.assertEqual(st3, 422, r3)
        # same key in another tenant is independent
        st4, r4, _ = self.chat(self.tb, self.tok_b, {"message": "pay my bill"}, headers=h)
        self.assertEqual(st4, 202)
        self.assertNotEqual(r4["job_id"], r1["job_id"])
        # older than 24 h: a new job
        S.psql("UPDATE jobs SET created_at = now() - interval '25 hours' WHERE job_id = :'a'",
               r1["job_id"])
        st5, r5, _ = self.chat(self.ta, self.tok_a, {"message": "pay my bill"}, headers=h)
        self.assertEqual(st5, 202)
        self.assertNotEqual(r5["job_id"], r1["job_id"])

    def test_idempotency_concurrent(self):
        key = S.unique("idem")
        results = []

        def go():
            results.append(self.chat(self.ta, self.tok_a, {"message": "race"},
                                     headers={"Idempotency-Key": key}))
        ts = [threading.Thread(target=go) for _ in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        ids = {r[1]["job_id"] for r in results if r[0] == 202}
        self.assertEqual(len(ids), 1, results)
        self.assertEqual(S.psql("SELECT count(*) FROM jobs WHERE idempotency_key = :'a'", key),
                         [["1"]])

    # ---- jobs: long-poll and ?wait on chat -------------------------------------------------
    def test_long_poll_returns_when_done(self):
        resp = self.submit()
        job_id = resp["job_id"]
        t = threading.Timer(1.0, self.finish_job, args=(self.ta, job_id))
        t.start()
        t0 = time.time()
        st, job, _ = self.ing.request("GET", "/api/%s/jobs/%s?wait=20" % (self.ta, job_id),
                                      token=self.tok_a)
        t.join()
        self.assertEqual(st, 200)
        self.assertEqual(job["status"], "done")
        self.assertEqual(job["response"], "the answer")
        self.assertLess(time.time() - t0, 15)
        self.assertEqual([e["event"] for e in job["events"]], ["queued", "final"])

    def test_long_poll_times_out_with_current_state(self):
        resp = self.submit()
        st, job, _ = self.ing.request("GET", "/api/%s/jobs/%s?wait=1" % (self.ta, resp["job_id"]),
                                      token=self.tok_a)
        self.assertEqual(st, 200)
        self.assertEqual(job["status"], "queued")
        for bad in ("-1", "abc", "100000"):
            st, _, _ = self.ing.request("GET", "/api/%s/jobs/%s?wait=%s" %
                                        (self.ta, resp["job_id"], bad), token=self.tok_a)
            self.assertEqual(st, 400, bad)

    def test_chat_wait_sync_shape(self):
        results = {}

        def post():
            results["r"] = self.chat(self.ta, self.tok_a, {"message": "sync please"},
                                     query="?wait=20")
        th = threading.Thread(target=post)
        th.start()
        job_id = None
        deadline = time.time() + 10
        while time.time() < deadline and not job_id:
            rows = S.psql("SELECT j.job_id FROM jobs j JOIN messages m ON m.message_id = "
                          "j.user_message_id WHERE m.content = 'sync please' AND j.tenant_id = "
                          ":'a' AND j.status = 'queued'", self.ta)
            if rows:
                job_id = rows[0][0]
            time.sleep(0.1)
        self.assertIsNotNone(job_id)
        self.finish_job(self.ta, job_id, response="synchronous answer")
        th.join(30)
        st, body, _ = results["r"]
        self.assertEqual(st, 200, body)
        self.assertEqual(body["response"], "synchronous answer")
        self.assertEqual(body["agent"], "AgentDebt")
        self.assertEqual(body["metadata"]["tokens"], 12)
        for k in ("session_id", "message_id"):
            self.assertIn(k, body)

    def test_chat_wait_times_out_to_202(self):
        st, body, _ = self.chat(self.ta, self.tok_a, {"message": "slow"}, query="?wait=1")
        self.assertEqual(st, 202)
        self.assertEqual(body["status"], "queued")

    # ---- SSE -----------------------------------------------------------------------------
    def test_sse_events_in_order_and_closes_after_final(self):
        resp = self.submit()
        job = resp["job_id"]
        S.xadd(self.ta, job, "routed", {"agent": "AgentDebt"})
        S.xadd(self.ta, job, "tool_call", {"name": "get_debt", "n": 1})
        S.xadd(self.ta, job, "delta", {"text": "Your debt"})
        S.xadd(self.ta, job, "final", {"response": "Your debt is 5"})
        t0 = time.time()
        events, raw = self.ing.sse(self.ta, job, self.tok_a, max_time=15)
        self.assertLess(time.time() - t0, 12, "stream did not close after final")
        self.assertEqual([e["event"] for e in events],
                         ["queued", "routed", "tool_call", "delta", "final"], raw)
        ids = [e["id"] for e in events]
        self.assertEqual(len(set(ids)), len(ids))
        self.assertEqual(events[2]["data"], {"name": "get_debt", "n": 1})

    def test_sse_live_events_and_resume(self):
        resp = self.submit()
        job = resp["job_id"]

        def stages():
            time.sleep(0.7)
            S.xadd(self.ta, job, "routed", {"agent": "AgentDebt"})
            time.sleep(0.5)
            S.xadd(self.ta, job, "delta", {"text": "a"})
        th = threading.Thread(target=stages)
        th.start()
        # first connection: ends by client timeout before any final
        first, _ = self.ing.sse(self.ta, job, self.tok_a, max_time=5)
        th.join()
        self.assertEqual([e["event"] for e in first], ["queued", "routed", "delta"])
        # events that happen while disconnected
        S.xadd(self.ta, job, "delta", {"text": "b"})
        S.xadd(self.ta, job, "error", {"code": "agent_failed", "message": "boom"})
        second, raw = self.ing.sse(self.ta, job, self.tok_a, last_event_id=first[-1]["id"],
                                   max_time=10)
        self.assertEqual([e["event"] for e in second], ["delta", "error"], raw)
        self.assertEqual(second[0]["data"], {"text": "b"})
        all_ids = [e["id"] for e in first + second]
        self.assertEqual(len(set(all_ids)), len(all_ids), "duplicates across resume")
        # resume from the middle
        third, _ = self.ing.sse(self.ta, job, self.tok_a, last_event_id=first[0]["id"],
                                max_time=10)
        self.assertEqual([e["event"] for e in third], ["routed", "delta", "delta", "error"])

    def test_sse_heartbeat_and_stream_headers(self):
        resp = self.submit()
        events, raw = self.ing.sse(self.ta, resp["job_id"], self.tok_a, max_time=3)
        self.assertEqual([e["event"] for e in events], ["queued"])
        self.assertIn(": keepalive", raw)
        st, body, h = self.ing.request("HEAD", "/api/%s/jobs/%s/events" % (self.ta, "x"),
                                       token=self.tok_a)
        self.assertEqual(st, 404)
        # a stream of a job that does not exist never opens
        st, body, h = self.ing.request("GET", "/api/%s/jobs/%s/events" % (self.ta, uuid.uuid4()),
                                       token=self.tok_a)
        self.assertEqual(st, 404)
        # the web UI's query token works on event streams only, and only a short-lived one
        # (JWT_QUERY_TOKEN_MAX_S, issue 17)
        short = self.ing.token(tenant=self.ta, sub=self.user, exp_in=120)
        out = subprocess.run(["curl", "-sS", "-N", "--max-time", "2",
                              "http://127.0.0.1:%d/api/%s/jobs/%s/events?access_token=%s" %
                              (self.ing.port, self.ta, resp["job_id"], short)],
                             capture_output=True, text=True, timeout=20)
        self.assertEqual([e["event"] for e in S.parse_sse(out.stdout)], ["queued"], out.stdout)
        st, _, _ = self.ing.request("GET", "/api/%s/sessions?access_token=%s" %
                                    (self.ta, self.tok_a))
        self.assertEqual(st, 401)

    def test_sse_bad_last_event_id(self):
        resp = self.submit()
        st, body, _ = self.ing.request("GET", "/api/%s/jobs/%s/events" % (self.ta, resp["job_id"]),
                                       token=self.tok_a, headers={"Last-Event-ID": "abc"})
        self.assertEqual(st, 400)

    # ---- sessions ----------------------------------------------------------------------------
    def test_session_made_without_a_body(self):
        """Every field of a new session is optional: `curl -X POST` (no body, no
        Content-Length) answered 400 "a JSON object body is required"."""
        import socket
        with socket.create_connection(("127.0.0.1", self.ing.port), timeout=10) as c:
            c.sendall(("POST /api/%s/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                       "%s\r\nConnection: close\r\n\r\n" % (self.ta, self.tok_a)).encode())
            head = c.recv(65536).decode(errors="replace")
        self.assertTrue(head.startswith("HTTP/1.1 201"), head[:300])

    def test_sessions_crud(self):
        st, s, _ = self.ing.request("POST", "/api/%s/sessions" % self.ta, {"title": "T1"},
                                    token=self.tok_a)
        self.assertEqual(st, 201, s)
        sid = s["session_id"]
        st, lst, _ = self.ing.request("GET", "/api/%s/sessions" % self.ta, token=self.tok_a)
        self.assertIn(sid, [x["session_id"] for x in lst["sessions"]])
        st, one, _ = self.ing.request("GET", "/api/%s/sessions/%s" % (self.ta, sid),
                                      token=self.tok_a)
        self.assertEqual((st, one["title"], one["message_count"]), (200, "T1", 0))
        self.submit(session_id=sid, message="in T1")
        st, msgs, _ = self.ing.request("GET", "/api/%s/sessions/%s/messages" % (self.ta, sid),
                                       token=self.tok_a)
        self.assertEqual([m["content"] for m in msgs["messages"]], ["in T1"])
        self.assertNotIn("next_offset", msgs)
        # pages say when more follow: two messages read one at a time
        self.submit(session_id=sid, message="in T1 again")
        base = "/api/%s/sessions/%s/messages?limit=1" % (self.ta, sid)
        st, m1, _ = self.ing.request("GET", base, token=self.tok_a)
        st2, m2, _ = self.ing.request("GET", base + "&offset=1", token=self.tok_a)
        self.assertEqual(([m["content"] for m in m1["messages"]], m1.get("next_offset")),
                         (["in T1"], 1), m1)
        self.assertEqual(([m["content"] for m in m2["messages"]], "next_offset" in m2),
                         (["in T1 again"], False), m2)
        st, l1, _ = self.ing.request("GET", "/api/%s/sessions?limit=1" % self.ta,
                                     token=self.tok_a)
        st, lall, _ = self.ing.request("GET", "/api/%s/sessions?limit=500" % self.ta,
                                       token=self.tok_a)
        self.assertEqual((len(l1["sessions"]), l1["limit"]), (1, 1), l1)
        self.assertEqual("next_offset" in l1, len(lall["sessions"]) > 1,
                         (l1, len(lall["sessions"])))
        st, _, _ = self.ing.request("DELETE", "/api/%s/sessions/%s" % (self.ta, sid),
                                    token=self.tok_a)
        self.assertEqual(st, 204)
        st, _, _ = self.ing.request("GET", "/api/%s/sessions/%s" % (self.ta, sid),
                                    token=self.tok_a)
        self.assertEqual(st, 404)
        st, _, _ = self.ing.request("DELETE", "/api/%s/sessions/%s" % (self.ta, sid),
                                    token=self.tok_a)
        self.assertEqual(st, 404)
        # a deleted session takes no new messages
        st, _, _ = self.chat(self.ta, self.tok_a, {"message": "x", "session_id": sid})
        self.assertEqual(st, 404)
        st, _, _ = self.ing.request("GET", "/api/%s/sessions/not-a-uuid" % self.ta,
                                    token=self.tok_a)
        self.assertEqual(st, 404)
        st, _, _ = self.ing.request("GET", "/api/%s/sessions?limit=0" % self.ta,
                                    token=self.tok_a)
        self.assertEqual(st, 400)

    # ---- isolation ------------------------------------------------------------------------
    def test_tenant_and_user_isolation_route_by_route(self):
        a = self.submit(message="secret of tenant A")
        sid, job = a["session_id"], a["job_id"]
        S.xadd(self.ta, job, "final", {"response": "A's secret"})
        # tenant B's user, on B's own URL, naming A's ids: 404 everywhere
        for method, path, body in [
                ("GET", "/api/%s/sessions/%s" % (self.tb, sid), None),
                ("GET", "/api/%s/sessions/%s/messages" % (self.tb, sid), None),
                ("DELETE", "/api/%s/sessions/%s" % (self.tb, sid), None),
                ("GET", "/api/%s/jobs/%s" % (self.tb, job), None),
                ("GET", "/api/%s/jobs/%s?wait=1" % (self.tb, job), None),
                ("GET", "/api/%s/jobs/%s/events" % (self.tb, job), None),
                ("POST", "/api/%s/chat" % self.tb, {"message": "x", "session_id": sid})]:
            st, resp, _ = self.ing.request(method, path, body, token=self.tok_b)
            self.assertEqual(st, 404, "%s %s -> %s" % (method, path, resp))
            self.assertNotIn("secret", json.dumps(resp))
        # tenant B's token on A's URLs: 403
        for method, path in [("GET", "/api/%s/sessions/%s" % (self.ta, sid)),
                             ("GET", "/api/%s/jobs/%s/events" % (self.ta, job)),
                             ("GET", "/api/%s/sessions" % self.ta)]:
            st, _, _ = self.ing.request(method, path, token=self.tok_b)
            self.assertEqual(st, 403, path)
        # B's session list never shows A's session
        st, lst, _ = self.ing.request("GET", "/api/%s/sessions" % self.tb, token=self.tok_b)
        self.assertNotIn(sid, [x["session_id"] for x in lst["sessions"]])
        # another user of the same tenant: 404 as well
        for method, path in [("GET", "/api/%s/sessions/%s" % (self.ta, sid)),
                             ("GET", "/api/%s/sessions/%s/messages" % (self.ta, sid)),
                             ("GET", "/api/%s/jobs/%s" % (self.ta, job)),
                             ("GET", "/api/%s/jobs/%s/events" % (self.ta, job)),
                             ("DELETE", "/api/%s/sessions/%s" % (self.ta, sid))]:
            st, _, _ = self.ing.request(method, path, token=self.tok_a2)
            self.assertEqual(st, 404, "other user " + path)
        st, _, _ = self.chat(self.ta, self.tok_a2, {"message": "x", "session_id": sid})
        self.assertEqual(st, 404)
        st, lst, _ = self.ing.request("GET", "/api/%s/sessions" % self.ta, token=self.tok_a2)
        self.assertNotIn(sid, [x["session_id"] for x in lst["sessions"]])
        # and the owner still sees everything
        st, _, _ = self.ing.request("GET", "/api/%s/sessions/%s" % (self.ta, sid),
                                    token=self.tok_a)
        self.assertEqual(st, 200)
        # the same route by route with tenant B's API key (issue 12): 404 on B's URLs naming
        # A's ids, 403 on A's URLs; and the OpenAI-compatible routes show nothing of A
        key_b = self.ing.api_key(self.tb)
        for method, path, body in [
                ("GET", "/api/%s/sessions/%s" % (self.tb, sid), None),
                ("GET", "/api/%s/sessions/%s/messages" % (self.tb, sid), None),
                ("DELETE", "/api/%s/sessions/%s" % (self.tb, sid), None),
                ("GET", "/api/%s/jobs/%s" % (self.tb, job), None),
                ("GET", "/api/%s/jobs/%s?wait=1" % (self.tb, job), None),
                ("GET", "/api/%s/jobs/%s/events" % (self.tb, job), None),
                ("POST", "/api/%s/chat" % self.tb, {"message": "x", "session_id": sid})]:
            st, resp, _ = self.ing.request(method, path, body, token=key_b)
            self.assertEqual(st, 404, "key: %s %s -> %s" % (method, path, resp))
            self.assertNotIn("secret", json.dumps(resp))
        for method, path in [("GET", "/api/%s/sessions/%s" % (self.ta, sid)),
                             ("GET", "/api/%s/sessions/%s/messages" % (self.ta, sid)),
                             ("GET", "/api/%s/jobs/%s" % (self.ta, job)),
                             ("GET", "/api/%s/jobs/%s/events" % (self.ta, job)),
                             ("GET", "/api/%s/sessions" % self.ta),
                             ("POST", "/api/%s/chat" % self.ta)]:
            st, _, _ = self.ing.request(method, path, {"message": "x"} if method == "POST"
                                        else None, token=key_b)
            self.assertEqual(st, 403, "key: " + path)
        for cred in (key_b, self.tok_b):
            st, models, _ = self.ing.request("GET", "/v1/models", token=cred)
            self.assertEqual(st, 200, models)
            self.assertEqual([m["id"] for m in models["data"]], ["agenthub"])
            # A's session named in the OpenAI route's session header: 404, and no job
            st, resp, _ = self.ing.request(
                "POST", "/v1/chat/completions",
                {"model": "agenthub", "messages": [{"role": "user", "content": "x"}]},
                token=cred, headers={"X-AgentHub-Session": sid})
            self.assertEqual(st, 404, resp)
            self.assertEqual(resp["error"]["type"], "not_found_error")
            self.assertNotIn("secret", json.dumps(resp))
        self.assertEqual(S.psql("SELECT count(*) FROM messages WHERE session_id = :'a'", sid),
                         [["1"]])
        # a key of A reaches A's URLs but is a user of its own: not alice's session or job
        key_a = self.ing.api_key(self.ta)
        for path in ("/api/%s/sessions/%s" % (self.ta, sid), "/api/%s/jobs/%s" % (self.ta, job)):
            st, _, _ = self.ing.request("GET", path, token=key_a)
            self.assertEqual(st, 404, "A's key: " + path)
        st, _, _ = self.ing.request("GET", "/api/%s/sessions" % self.ta, token=key_a)
        self.assertEqual(st, 200)

    # ---- cross-cutting -----------------------------------------------------------------------
    def test_request_id_cors_health_ready_metrics(self):
        st, _, h = self.ing.request("GET", "/health", headers={"X-Request-Id": "abc-123"})
        self.assertEqual((st, h["x-request-id"]), (200, "abc-123"))
        st, _, h = self.ing.request("GET", "/health", headers={"X-Request-Id": "bad/id*{}"})
        self.assertNotEqual(h["x-request-id"], "bad/id*{}")
        self.assertTrue(h["x-request-id"])
        st, _, h = self.ing.request("GET", "/api/x/nothing")
        self.assertIn("x-request-id", h)
        self.assertTrue(self.ing.logs().count("abc-123") >= 1)
        st, _, h = self.ing.request("OPTIONS", "/api/%s/chat" % self.ta,
                                    headers={"Origin": "https://app.example",
                                             "Access-Control-Request-Method": "POST"})
        self.assertEqual(st, 204)
        self.assertEqual(h["access-control-allow-origin"], "https://app.example")
        st, _, h = self.ing.request("GET", "/health", headers={"Origin": "https://evil.example"})
        self.assertNotIn("access-control-allow-origin", h)
        st, body, _ = self.ing.request("GET", "/ready")
        self.assertEqual(st, 200, body)
        self.assertEqual(body["checks"], {"postgres": "ok", "redis": "ok", "kafka": "ok"})
        self.submit()
        st, text, h = self.ing.request("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertIn('ingress_http_requests_total{route="chat",status="202"}', text)
        self.assertIn("ingress_jobs_accepted_total", text)
        self.assertIn("ingress_http_request_duration_seconds_bucket", text)
        self.assertIn("ingress_sse_streams_open", text)
        st, body, _ = self.ing.request("GET", "/nope/nope")
        self.assertEqual(st, 404)
        self.assertEqual(set(body["error"]), {"code", "message"})

    def test_header_limit(self):
        st, body, h = self.ing.request("GET", "/health", headers={"X-Big": "a" * 20000})
        self.assertIn(st, (400, 413, 431))
        self.assertEqual(set(body["error"]), {"code", "message"})
        self.assertIn("x-request-id", h)
        st, _, _ = self.ing.request("GET", "/health")
        self.assertEqual(st, 200)
        st, body, _ = self.ing.request("GET", "/api/%s/sessions/%s%s" %
                                       (self.ta, uuid.uuid4(), "/x" * 600), token=self.tok_a)
        self.assertEqual(st, 414)
        self.assertEqual(body["error"]["code"], "uri_too_long")

    def test_web_ui_served(self):
        for path in ("/", "/admin", "/monitor"):
            st, body, h = self.ing.request("GET", path)
            self.assertEqual(st, 200, path)
            self.assertTrue(h["content-type"].startswith("text/html"))
        st, _, _ = self.ing.request("GET", "/web/..%2f..%2fMakefile")
        self.assertEqual(st, 404)
        # pages are never stored; widget.js (on every page of a customer's site) is cached
        # and revalidated: its ETag answers 304 with no body (it was no-store: fetched whole
        # on every page view)
        st, _, h = self.ing.request("GET", "/")
        self.assertEqual(h["cache-control"], "no-store")
        st, js, h = self.ing.request("GET", "/web/widget.js")
        self.assertEqual(st, 200)
        self.assertEqual(h["cache-control"], "no-cache")
        etag = h["etag"]
        self.assertRegex(etag, r'^"[0-9a-f]{16}"$')
        st, body, h2 = self.ing.request("GET", "/web/widget.js",
                                        headers={"If-None-Match": etag})
        self.assertEqual((st, h2["etag"]), (304, etag))
        self.assertFalse(body)
        self.assertNotIn("content-length", h2)
        st, body, _ = self.ing.request("GET", "/web/widget.js",
                                       headers={"If-None-Match": '"0000000000000000"'})
        self.assertEqual((st, len(body) > 1000), (200, True))


class IngressGroupCommitTest(IngressCase):
    """Concurrent submissions share one transaction (ingress/accept.c): a burst mixing
    requests that must fail (a deleted session, another user's session, a disabled tenant, an
    unknown tenant, a repeated Idempotency-Key) with good ones still accepts every good one,
    and each request gets its own answer and only its own rows."""

    # one batch in flight: the burst queues behind it and the next batches are large
    ingress_env = {"INGRESS_ACCEPT_INFLIGHT": "1"}
    tenant_prefix = "tg"
    user = "gina"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.td = S.unique("tgd")
        cls.ing.ensure_tenant(cls.td)
        cls.tok2 = cls.ing.token(tenant=cls.t, sub="gus")
        cls.tok_d = cls.ing.token(tenant=cls.td, sub="dan")
        cls.ghost = S.unique("ghost")
        cls.tok_ghost = cls.ing.token(tenant=cls.ghost, sub="gil")

    def chat(self, tenant, token, body, headers=None):
        return self.ing.request("POST", "/api/%s/chat" % tenant, body, token=token,
                                headers=headers)

    def batch_metrics(self):
        st, text, _ = self.ing.request("GET", "/metrics")
        self.assertEqual(st, 200)
        got = {}
        for line in text.splitlines():
            for k in ("ingress_accept_batch_size_sum", "ingress_accept_batch_size_count"):
                if line.startswith(k + " "):
                    got[k] = float(line.split()[-1])
        return got.get("ingress_accept_batch_size_sum", 0), got.get(
            "ingress_accept_batch_size_count", 0)

    def test_burst_with_failing_rows(self):
        st, mine, _ = self.chat(self.t, self.tok, {"message": "first"})
        self.assertEqual(st, 202, mine)
        st, gone, _ = self.chat(self.t, self.tok, {"message": "soon deleted"})
        self.assertEqual(st, 202, gone)
        st, _, _ = self.ing.request("DELETE", "/api/%s/sessions/%s" % (self.t, gone["session_id"]),
                                    token=self.tok)
        self.assertEqual(st, 204)
        st, theirs, _ = self.chat(self.t, self.tok2, {"message": "gus's own"})
        self.assertEqual(st, 202, theirs)
        self.assertEqual(self.chat(self.td, self.tok_d, {"message": "hi"})[0], 202)
        S.psql("UPDATE tenants SET is_active = false WHERE tenant_id = :'a'", self.td)
        key = S.unique("idem")
        sum0, count0 = self.batch_metrics()

        # (name, tenant, token, body, headers, expected status)
        cases = []
        for i in range(12):
            cases.append(("new-%d" % i, self.t, self.tok, {"message": "new %d" % i}, None, 202))
        for i in range(8):
            cases.append(("same-%d" % i, self.t, self.tok,
                          {"message": "more %d" % i, "session_id": mine["session_id"]}, None,
                          202))
        for i in range(3):
            cases.append(("deleted-%d" % i, self.t, self.tok,
                          {"message": "into a deleted session", "session_id": gone["session_id"]},
                          None, 404))
            cases.append(("other-user-%d" % i, self.t, self.tok,
                          {"message": "into gus's session", "session_id": theirs["session_id"]},
                          None, 404))
            cases.append(("disabled-%d" % i, self.td, self.tok_d, {"message": "hi"}, None, 403))
            cases.append(("ghost-%d" % i, self.ghost, self.tok_ghost, {"message": "hi"}, None,
                          404))
        for i in range(4):
            cases.append(("idem-%d" % i, self.t, self.tok, {"message": "once"},
                          {"Idempotency-Key": key}, 202))
        results = {}
        barrier = threading.Barrier(len(cases))

        def go(case):
            name, tenant, token, body, headers, _ = case
            barrier.wait()
            results[name] = self.chat(tenant, token, body, headers)
        ts = [threading.Thread(target=go, args=(c,)) for c in cases]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

        for name, _, _, body, _, want in cases:
            st, resp, _ = results[name]
            self.assertEqual(st, want, "%s: %s" % (name, resp))
            if want != 202:
                self.assertIn("code", resp["error"])
                continue
            # its own rows: the job, its user message with its text, in its session
            rows = S.psql("SELECT j.session_id, m.content, j.user_id FROM jobs j "
                          "JOIN messages m ON m.message_id = j.user_message_id "
                          "WHERE j.job_id = :'a' AND m.session_id = j.session_id",
                          resp["job_id"])
            self.assertEqual(rows, [[resp["session_id"], body["message"], "gina"]], name)
            if "session_id" in body:
                self.assertEqual(resp["session_id"], body["session_id"], name)
        new_sessions = {results["new-%d" % i][1]["session_id"] for i in range(12)}
        self.assertEqual(len(new_sessions), 12)
        self.assertNotIn(mine["session_id"], new_sessions)
        idem_jobs = {results["idem-%d" % i][1]["job_id"] for i in range(4)}
        self.assertEqual(len(idem_jobs), 1, results)
        self.assertEqual(S.psql("SELECT count(*) FROM jobs WHERE idempotency_key = :'a'", key),
                         [["1"]])
        # nothing was written for the refused ones
        for sid, n in ((mine["session_id"], 9), (gone["session_id"], 1),
                       (theirs["session_id"], 1)):
            self.assertEqual(S.psql("SELECT count(*) FROM messages WHERE session_id = :'a'", sid),
                             [[str(n)]], sid)
        self.assertEqual(S.psql("SELECT count(*) FROM jobs WHERE tenant_id = :'a'", self.td),
                         [["1"]])
        # and the burst did share transactions
        sum1, count1 = self.batch_metrics()
        self.assertGreater(sum1 - sum0, count1 - count0, "no batch held more than one request")
        # every accepted job has its queued event
        some = results["new-0"][1]
        st, job, _ = self.ing.request("GET", some["result_url"], token=self.tok)
        self.assertEqual([e["event"] for e in job["events"]], ["queued"])


class IngressShareAtTest(IngressCase):
    """INGRESS_ACCEPT_SHARE_AT (ingress/accept.h): while a batch is in flight, the next starts
    beside it only once that many requests are pending. Set beyond any burst here, so no batch
    ever starts beside another: a lone request must still go at once, and a burst must still
    all go (each pending request is taken when the batches before it end), in shared
    transactions."""

    ingress_env = {"INGRESS_ACCEPT_INFLIGHT": "4", "INGRESS_ACCEPT_SHARE_AT": "1000"}
    tenant_prefix = "tsa"
    user = "sam"

    batch_metrics = IngressGroupCommitTest.batch_metrics

    def test_lone_requests_go_at_once(self):
        sum0, count0 = self.batch_metrics()
        for i in range(5):
            t0 = time.time()
            st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.t,
                                           {"message": "alone %d" % i}, token=self.tok)
            self.assertEqual(st, 202, resp)
            # nothing in flight: not held for the 1,000 that never come (the publish timeout
            # would be the only other way out)
            self.assertLess(time.time() - t0, 2.0)
        sum1, count1 = self.batch_metrics()
        self.assertEqual((sum1 - sum0, count1 - count0), (5, 5))

    def test_burst_all_accepted_in_shared_batches(self):
        sum0, count0 = self.batch_metrics()
        n = 40
        results = {}
        barrier = threading.Barrier(n)

        def go(i):
            barrier.wait()
            results[i] = self.ing.request("POST", "/api/%s/chat" % self.t,
                                          {"message": "burst %d" % i}, token=self.tok)
        ts = [threading.Thread(target=go, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(len(results), n, "a request never came back")
        for i in range(n):
            st, resp, _ = results[i]
            self.assertEqual(st, 202, resp)
            rows = S.psql("SELECT m.content FROM jobs j JOIN messages m "
                          "ON m.message_id = j.user_message_id WHERE j.job_id = :'a'",
                          resp["job_id"])
            self.assertEqual(rows, [["burst %d" % i]])
        self.assertEqual(len({results[i][1]["job_id"] for i in range(n)}), n)
        sum1, count1 = self.batch_metrics()
        self.assertEqual(sum1 - sum0, n)
        # the burst shared transactions (how many depends on the client threads' timing)
        self.assertLess(count1 - count0, n, (sum1 - sum0, count1 - count0))


class IngressTwoInstancesTest(unittest.TestCase):
    """Two ingress processes behind one (imagined) load balancer, sharing the keys, the
    database, Redis and the broker: a job accepted by one is streamed, resumed and long-polled
    on the other, with no event lost or repeated across the switch."""

    @classmethod
    def setUpClass(cls):
        why = S.stack_env_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.a = S.Ingress({"INGRESS_SSE_HEARTBEAT_S": "1"})
        cls.b = S.Ingress({"INGRESS_SSE_HEARTBEAT_S": "1", "INGRESS_SSE_POLL_MS": "200",
                           "JWT_PUBLIC_KEY_FILE": cls.a.keyfile, "FERNET_KEY": cls.a.fernet_key})
        cls.t = S.unique("t2i")
        cls.a.ensure_tenant(cls.t)
        cls.tok = cls.a.token(tenant=cls.t, sub="ivy")

    @classmethod
    def tearDownClass(cls):
        for ing in ("a", "b"):
            if hasattr(cls, ing):
                getattr(cls, ing).stop_and_check(unittest.TestCase())

    def test_accepted_on_one_streamed_and_polled_on_the_other(self):
        self.assertNotEqual(self.a.port, self.b.port)
        st, resp, _ = self.a.request("POST", "/api/%s/chat" % self.t, {"message": "hi"},
                                     token=self.tok)
        self.assertEqual(st, 202, resp)
        job = resp["job_id"]
        S.xadd(self.t, job, "routed", {"agent": "AgentDebt"})
        first, raw = self.a.sse(self.t, job, self.tok, max_time=3)
        self.assertEqual([e["event"] for e in first], ["queued", "routed"], raw)
        # The client reconnects to the other instance; the job finishes meanwhile.
        S.psql("UPDATE jobs SET status = 'done', response = 'two', agent = 'AgentDebt', "
               "updated_at = now() WHERE job_id = :'a'", job)
        S.xadd(self.t, job, "delta", {"text": "two"})
        S.xadd(self.t, job, "final", {"response": "two", "agent": "AgentDebt"})
        second, raw = self.b.sse(self.t, job, self.tok, last_event_id=first[-1]["id"],
                                 max_time=10)
        self.assertEqual([e["event"] for e in second], ["delta", "final"], raw)
        ids = [e["id"] for e in first + second]
        self.assertEqual(len(ids), len(set(ids)), "an event came twice across the switch")
        st, got, _ = self.b.request("GET", "/api/%s/jobs/%s?wait=5" % (self.t, job),
                                    token=self.tok)
        self.assertEqual(st, 200, got)
        self.assertEqual((got["status"], got["response"]), ("done", "two"))
        self.assertEqual([e["event"] for e in got["events"]], ["queued", "routed", "delta", "final"])
        # A stream opened on the second instance before the job ends is woken by it too.
        st, resp, _ = self.b.request("POST", "/api/%s/chat" % self.t, {"message": "again"},
                                     token=self.tok)
        self.assertEqual(st, 202, resp)
        job2 = resp["job_id"]

        def finish():
            time.sleep(1.0)
            S.psql("UPDATE jobs SET status = 'done', response = 'late', updated_at = now() "
                   "WHERE job_id = :'a'", job2)
            S.xadd(self.t, job2, "final", {"response": "late"})
        th = threading.Thread(target=finish)
        th.start()
        st, got, _ = self.a.request("GET", "/api/%s/jobs/%s?wait=10" % (self.t, job2),
                                    token=self.tok)
        th.join()
        self.assertEqual((st, got["status"], got["response"]), (200, "done", "late"))


class IngressStreamCapTest(IngressCase):
    """INGRESS_MAX_STREAMS: open streams and long-polls never take every worker thread. At the
    cap an SSE request gets 503 busy with Retry-After, a long-poll answers at once with the
    current state, and chat submissions and /health are still served; a stream that ends frees
    its place."""

    ingress_env = {"INGRESS_THREADS": "16", "INGRESS_MAX_STREAMS": "2",
                   "INGRESS_SSE_POLL_MS": "200"}
    tenant_prefix = "tcap"
    user = "cap"

    def submit(self):
        st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.t, {"message": "x"},
                                       token=self.tok)
        self.assertEqual(st, 202, resp)
        return resp["job_id"]

    def metric(self, name):
        _, text, _ = self.ing.request("GET", "/metrics")
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def test_cap(self):
        jobs = [self.submit() for _ in range(3)]
        streams = [subprocess.Popen(
            ["curl", "-sS", "-N", "--max-time", "30", "-H", "Authorization: Bearer " + self.tok,
             "http://127.0.0.1:%d/api/%s/jobs/%s/events" % (self.ing.port, self.t, j)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for j in jobs[:2]]
        try:
            end = time.time() + 10
            while self.metric("ingress_sse_streams_open") != 2 and time.time() < end:
                time.sleep(0.1)
            self.assertEqual(self.metric("ingress_sse_streams_open"), 2)
            # a third stream: refused, with a hint when to come back
            st, body, h = self.ing.request("GET", "/api/%s/jobs/%s/events" % (self.t, jobs[2]),
                                           token=self.tok)
            self.assertEqual(st, 503, body)
            self.assertEqual(body["error"]["code"], "busy")
            self.assertEqual(h.get("retry-after"), "5")
            # a long-poll answers at once with the current state instead of waiting 20 s
            t0 = time.time()
            st, job, _ = self.ing.request("GET", "/api/%s/jobs/%s?wait=20" % (self.t, jobs[2]),
                                          token=self.tok)
            self.assertEqual((st, job["status"]), (200, "queued"))
            self.assertLess(time.time() - t0, 5)
            # the API is still served
            self.submit()
            self.assertEqual(self.ing.request("GET", "/health")[0], 200)
            self.assertEqual(self.metric("ingress_streams_refused_total"), 2)
            # one stream ends (its job is done): its place is free again
            S.psql("UPDATE jobs SET status = 'done', response = 'r', updated_at = now() "
                   "WHERE job_id = :'a'", jobs[0])
            S.xadd(self.t, jobs[0], "final", {"response": "r"})
            out, _ = streams[0].communicate(timeout=20)
            self.assertIn(b"event: final", out)
            end = time.time() + 10
            while self.metric("ingress_sse_streams_open") != 1 and time.time() < end:
                time.sleep(0.1)
            events, raw = self.ing.sse(self.t, jobs[2], self.tok, max_time=2)
            self.assertEqual([e["event"] for e in events], ["queued"], raw)
        finally:
            for p in streams:
                p.kill()
                p.communicate()


if __name__ == "__main__":
    unittest.main()
