"""Issue 17, item 3 (ingress and stages): no request can stop the service for everyone.

One case per attack, each against the real processes on the local stack:
  - one user opens SSE streams until the cap: other users and tenants still get streams;
  - a Last-Event-ID beyond the end of a finished job's (or document batch's) stream does not
    hold it open;
  - idle and slowloris connections do not starve /health and authenticated requests;
  - one tenant's uploads cannot take the ingress's memory, threads or database pool, also
    while the broker is down;
  - an inactive tenant is refused on uploads, sessions and job reads, and its jobs and batches
    accepted before the deactivation end tenant_inactive in the router, agent and docworker;
  - a flood of /ready does not multiply the dependency probes;
  - /metrics with METRICS_TOKEN refuses requests without it (ingress and stages).
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402
import pipeline_case as pc  # noqa: E402
import pipeline_harness as ph  # noqa: E402
import test_documents as TD  # noqa: E402  (Docworker, multipart)
from test_ingress_chat import IngressCase  # noqa: E402

STACK = os.path.join(S.ROOT, "compose", "local", "stack")


def open_stream(port, path, token, headers=None, timeout=10):
    """Starts a GET of an event stream; returns (status, connection, response). The caller
    closes the connection (that is the client going away)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {"Authorization": "Bearer " + token, "Accept": "text/event-stream"}
    h.update(headers or {})
    c.request("GET", path, headers=h)
    r = c.getresponse()
    return r.status, c, r


def metric(ing, name, token=None):
    h = {"Authorization": "Bearer " + token} if token else None
    _, text, _ = ing.request("GET", "/metrics", headers=h)
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def stack_cmd(*args):
    return subprocess.run([STACK] + list(args), capture_output=True, text=True, timeout=180)


# ---- held streams ---------------------------------------------------------------------------
class StreamShareTest(IngressCase):
    """INGRESS_MAX_STREAMS_PER_USER / _PER_TENANT: one caller cannot hold every stream."""

    ingress_env = {"INGRESS_THREADS": "64", "INGRESS_MAX_STREAMS": "40",
                   "INGRESS_MAX_STREAMS_PER_USER": "3", "INGRESS_MAX_STREAMS_PER_TENANT": "5",
                   "INGRESS_SSE_POLL_MS": "200", "INGRESS_SSE_HEARTBEAT_S": "1"}
    tenant_prefix = "tshare"
    user = "mallory"

    def submit(self, tenant, token):
        st, resp, _ = self.ing.request("POST", "/api/%s/chat" % tenant, {"message": "x"},
                                       token=token)
        self.assertEqual(st, 202, resp)
        return resp["job_id"]

    def stream(self, tenant, token, job):
        return open_stream(self.ing.port, "/api/%s/jobs/%s/events" % (tenant, job), token)

    def test_sse_exhaustion_by_one_user(self):
        other_t = S.unique("tshare-b")
        self.ing.ensure_tenant(other_t)
        mallory, alice = self.tok, self.ing.token(tenant=self.t, sub="alice")
        bob = self.ing.token(tenant=self.t, sub="bob")
        carol = self.ing.token(tenant=other_t, sub="carol")
        jobs = {name: self.submit(t, tok) for name, t, tok in (
            ("mallory", self.t, mallory), ("alice", self.t, alice), ("bob", self.t, bob),
            ("carol", other_t, carol))}
        held = []
        try:
            # mallory takes her share: 3 streams
            for _ in range(3):
                st, c, r = self.stream(self.t, mallory, jobs["mallory"])
                self.assertEqual(st, 200)
                held.append(c)
            # ... and no more: a clear refusal with a hint when to come back
            st, c, r = self.stream(self.t, mallory, jobs["mallory"])
            if st != 429:
                held.append(c)
            self.assertEqual(st, 429, "a fourth stream for one user was not refused")
            body = json.loads(r.read())
            c.close()
            self.assertEqual(body["error"]["code"], "too_many_streams")
            self.assertEqual(r.getheader("Retry-After"), "5")
            # her long-poll answers at once with the current state
            t0 = time.time()
            st, job, _ = self.ing.request("GET", "/api/%s/jobs/%s?wait=20" %
                                          (self.t, jobs["mallory"]), token=mallory)
            self.assertEqual((st, job["status"]), (200, "queued"))
            self.assertLess(time.time() - t0, 5)
            # another user of the same tenant still gets streams
            for _ in range(2):
                st, c, _ = self.stream(self.t, alice, jobs["alice"])
                self.assertEqual(st, 200)
                held.append(c)
            # the tenant is now at its cap (5): its next user is refused, another tenant is not
            st, c, r = self.stream(self.t, bob, jobs["bob"])
            if st != 429:
                held.append(c)
            self.assertEqual(st, 429, "a sixth stream for one tenant was not refused")
            body = json.loads(r.read())
            c.close()
            self.assertEqual(body["error"]["code"], "too_many_streams")
            st, c, _ = self.stream(other_t, carol, jobs["carol"])
            self.assertEqual(st, 200)
            held.append(c)
            self.assertEqual(self.ing.request("GET", "/health")[0], 200)
            self.assertGreaterEqual(metric(self.ing, 'ingress_streams_refused_caller_total'
                                                     '{scope="user"}'), 1)
            self.assertGreaterEqual(metric(self.ing, 'ingress_streams_refused_caller_total'
                                                     '{scope="tenant"}'), 1)
        finally:
            for c in held:
                c.close()
        # clients gone: every count is given back (no leak), mallory gets streams again
        end = time.time() + 15
        while metric(self.ing, "ingress_sse_streams_open") != 0 and time.time() < end:
            time.sleep(0.2)
        self.assertEqual(metric(self.ing, "ingress_sse_streams_open"), 0)
        for _ in range(3):
            st, c, _ = self.stream(self.t, mallory, jobs["mallory"])
            self.assertEqual(st, 200)
            held.append(c)
        for c in held:
            c.close()


class FinishedStreamTest(IngressCase):
    """A Last-Event-ID beyond the end of a finished job's or batch's stream ends it at once."""

    ingress_env = {"INGRESS_SSE_POLL_MS": "200"}
    tenant_prefix = "tfin"
    user = "fin"

    def timed_sse(self, path, last_event_id):
        t0 = time.time()
        out = subprocess.run(["curl", "-sS", "-N", "--max-time", "8",
                              "-H", "Authorization: Bearer " + self.tok,
                              "-H", "Last-Event-ID: " + last_event_id,
                              "http://127.0.0.1:%d%s" % (self.ing.port, path)],
                             capture_output=True, text=True, timeout=20)
        return time.time() - t0, S.parse_sse(out.stdout), out.stdout

    def test_last_event_id_beyond_end_of_finished_job(self):
        st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.t, {"message": "x"},
                                       token=self.tok)
        self.assertEqual(st, 202, resp)
        job = resp["job_id"]
        S.xadd(self.t, job, "running", {"stage": "agent"})
        final_id = S.xadd(self.t, job, "final", {"response": "r"})
        S.psql("UPDATE jobs SET status = 'done', response = 'r', updated_at = now() "
               "WHERE job_id = :'a'", job)
        path = "/api/%s/jobs/%s/events" % (self.t, job)
        # the id of the last event: nothing after it, the stream ends at once
        dt, events, raw = self.timed_sse(path, final_id)
        self.assertLess(dt, 1.5, raw)
        self.assertNotIn("running", [e["event"] for e in events], raw)
        # an id the stream never had, in the future: the same
        dt, events, raw = self.timed_sse(path, "99999999999999-0")
        self.assertLess(dt, 1.5, raw)
        # an earlier id still replays what comes after it
        first_id = S.redis_cli("XRANGE", S.events_key(self.t, job), "-", "+",
                               "COUNT", "1").split("\n")[0].strip()
        dt, events, raw = self.timed_sse(path, first_id)
        self.assertLess(dt, 1.5, raw)
        self.assertEqual([e["event"] for e in events][-1:], ["final"], raw)

    def test_a_finished_job_whose_stream_is_gone_ends_with_the_live_events_shape(self):
        """The stream expired (24 h): the outcome comes from PostgreSQL, shaped as the live
        final and error events are (it was the job row, where message_id is the question's)."""
        for outcome in ("done", "error"):
            st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.t, {"message": "x"},
                                           token=self.tok)
            self.assertEqual(st, 202, resp)
            job, question = resp["job_id"], resp["message_id"]
            answer = str(uuid.uuid4())
            if outcome == "done":
                S.psql("INSERT INTO messages (message_id, session_id, tenant_id, role, content) "
                       "VALUES (:'a', :'b', :'c', 'assistant', 'the answer')",
                       answer, resp["session_id"], self.t)
                S.psql("UPDATE jobs SET status = 'done', response = 'the answer', agent = "
                       "'AgentDebt', assistant_message_id = :'b', updated_at = now() "
                       "WHERE job_id = :'a'", job, answer)
            else:
                S.psql("UPDATE jobs SET status = 'error', error = '{\"code\": \"llm_failed\", "
                       "\"message\": \"the model did not answer\"}', updated_at = now() "
                       "WHERE job_id = :'a'", job)
            S.redis_cli("DEL", S.events_key(self.t, job))
            dt, events, raw = self.timed_sse("/api/%s/jobs/%s/events" % (self.t, job), "0")
            self.assertLess(dt, 1.5, raw)
            last = events[-1]
            if outcome == "done":
                self.assertEqual(last["event"], "final", raw)
                self.assertEqual((last["data"]["message_id"], last["data"]["response"],
                                  last["data"]["agent"], last["data"]["session_id"]),
                                 (answer, "the answer", "AgentDebt", resp["session_id"]), raw)
                self.assertNotEqual(last["data"]["message_id"], question)
            else:
                self.assertEqual(last["event"], "error", raw)
                self.assertEqual((last["data"]["code"], last["data"]["message"]),
                                 ("llm_failed", "the model did not answer"), raw)
            self.assertNotIn("status", last["data"], raw)  # not the job row

    def test_last_event_id_beyond_end_of_finished_batch(self):
        batch = str(uuid.uuid4())
        S.psql("INSERT INTO document_batches (batch_id, tenant_id, user_id, status, total, "
               "succeeded, failed) VALUES (:'a', :'b', :'c', 'done', 1, 1, 0)",
               batch, self.t, self.user)
        S.xadd(self.t, batch, "queued", {"batch_id": batch, "status": "queued", "total": 1})
        last = S.xadd(self.t, batch, "batch_done", {"batch_id": batch, "status": "done"})
        path = "/api/%s/documents/%s/events" % (self.t, batch)
        for lei in (last, "99999999999999-0"):
            dt, events, raw = self.timed_sse(path, lei)
            self.assertLess(dt, 1.5, raw)
            self.assertEqual([e["event"] for e in events], ["batch_done"], raw)


class FinishedStreamThreadTest(FinishedStreamTest):
    """The same on civetweb's thread per stream (INGRESS_SSE_LOOP=false, ingress/sse.c)."""

    ingress_env = {"INGRESS_SSE_POLL_MS": "200", "INGRESS_SSE_LOOP": "false"}
    tenant_prefix = "tfint"


# ---- slow and idle connections --------------------------------------------------------------
class SlowClientsTest(IngressCase):
    """INGRESS_REQUEST_TIMEOUT_MS bounds the request head, INGRESS_IDLE_DEFER_S keeps
    connections that send nothing off the worker threads: with 16 threads, 48 idle and 16
    slowloris connections, /health and an authenticated request are answered within seconds,
    and the server closes the attackers' sockets."""

    ingress_env = {"INGRESS_THREADS": "16", "LOG_LEVEL": "info"}
    tenant_prefix = "tslow"
    user = "slow"

    def test_idle_and_slowloris_connections_do_not_starve_the_ingress(self):
        idle = [socket.create_connection(("127.0.0.1", self.ing.port)) for _ in range(48)]
        slow = []
        for _ in range(16):
            s = socket.create_connection(("127.0.0.1", self.ing.port))
            s.sendall(b"G")
            slow.append(s)
        stop = threading.Event()

        def drip():  # one byte a second: a request head that never ends
            while not stop.is_set():
                for s in slow:
                    try:
                        s.send(b"E")
                    except OSError:
                        pass
                stop.wait(1.0)
        th = threading.Thread(target=drip, daemon=True)
        th.start()
        try:
            time.sleep(0.5)
            t0 = time.time()
            st, _, _ = self.ing.request("GET", "/health", timeout=12)
            self.assertEqual(st, 200)
            st, body, _ = self.ing.request("GET", "/api/%s/sessions" % self.t, token=self.tok,
                                           timeout=12)
            self.assertEqual(st, 200, body)
            self.assertLess(time.time() - t0, 10)

            def closed(s, wait):
                s.settimeout(wait)
                try:
                    while True:
                        if s.recv(4096) == b"":
                            return True
                except socket.timeout:
                    return False
                except OSError:
                    return True
            # the slowloris heads hit the header bound (5 s)
            end = time.time() + 12
            self.assertTrue(all(closed(s, max(0.1, end - time.time())) for s in slow),
                            "a slowloris connection was not closed")
            # the idle ones wait in the kernel (30 s), then get the same bound
            end = time.time() + 45
            self.assertTrue(all(closed(s, max(0.1, end - time.time())) for s in idle),
                            "an idle connection was not closed")
        finally:
            stop.set()
            th.join()
            for s in idle + slow:
                s.close()


# ---- uploads --------------------------------------------------------------------------------
class UploadShareTest(IngressCase):
    """DOCUMENTS_TENANT_INFLIGHT_*: one tenant's parallel uploads cannot take the ingress; the
    pool (INGRESS_PG_POOL=2) is not held while the broker does not answer."""

    ingress_env = {"INGRESS_THREADS": "32", "INGRESS_PG_POOL": "2",
                   "INGRESS_PUBLISH_TIMEOUT_MS": "3000",
                   "DOCUMENTS_TENANT_INFLIGHT_BYTES": str(4 * 1024 * 1024),
                   "DOCUMENTS_TENANT_INFLIGHT_UPLOADS": "8", "DOCUMENTS_MAX_FILE_BYTES": "2000000"}
    tenant_prefix = "tup"
    user = "uploader"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t2 = S.unique("tup-b")
        cls.ing.ensure_tenant(cls.t2)
        cls.tok2 = cls.ing.token(tenant=cls.t2, sub="other")

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("AGENTHUB_VAR") and os.path.exists(STACK):
            stack_cmd("start", "kafka")
        super().tearDownClass()

    def small_upload(self, tenant, token, text=b"hello"):
        raw, ct = TD.multipart([("a.txt", "text/plain", text)])
        return self.ing.request("POST", "/api/%s/documents" % tenant, raw_body=raw,
                                headers={"Content-Type": ct}, token=token, timeout=30)

    def test_upload_exhaustion_by_one_tenant(self):
        # tenant A starts uploads of 1 MiB each and sends their bodies slowly
        pending = []
        try:
            for _ in range(4):
                s = socket.create_connection(("127.0.0.1", self.ing.port))
                s.sendall(("POST /api/%s/documents HTTP/1.1\r\nHost: x\r\n"
                           "Authorization: Bearer %s\r\nContent-Type: multipart/form-data; "
                           "boundary=zz\r\nContent-Length: %d\r\n\r\n--zz\r\n" %
                           (self.t, self.tok, 1024 * 1024)).encode())
                pending.append(s)
            time.sleep(0.5)
            # its fifth is refused at once (4 MiB in progress), with a hint when to come back
            t0 = time.time()
            st, body, h = self.small_upload(self.t, self.tok)
            self.assertLess(time.time() - t0, 3)
            self.assertEqual(st, 429, body)
            self.assertEqual(body["error"]["code"], "too_many_uploads")
            self.assertEqual(h.get("retry-after"), "5")
            # another tenant uploads and chats as usual
            st, body, _ = self.small_upload(self.t2, self.tok2)
            self.assertEqual(st, 202, body)
            st, body, _ = self.ing.request("POST", "/api/%s/chat" % self.t2, {"message": "hi"},
                                           token=self.tok2)
            self.assertEqual(st, 202, body)
        finally:
            for s in pending:
                s.close()
        # the slow uploads gone, their share is given back
        end = time.time() + 15
        while True:
            st, body, _ = self.small_upload(self.t, self.tok)
            if st == 202 or time.time() > end:
                break
            time.sleep(0.5)
        self.assertEqual(st, 202, body)

    def test_zz_pool_not_held_while_broker_down(self):
        if not os.environ.get("AGENTHUB_VAR") or not os.path.exists(STACK):
            self.skipTest("needs compose/local/stack and AGENTHUB_VAR")
        count = lambda: S.psql("SELECT count(*) FROM document_batches WHERE tenant_id = :'a'",
                               self.t)[0][0]
        before = count()
        r = stack_cmd("stop", "kafka")
        self.assertEqual(r.returncode, 0, r.stderr)
        results = []
        try:
            def up():
                raw, ct = TD.multipart([("a.txt", "text/plain", b"one"),
                                        ("b.txt", "text/plain", b"two")])
                results.append(self.ing.request("POST", "/api/%s/documents" % self.t,
                                                raw_body=raw, headers={"Content-Type": ct},
                                                token=self.tok, timeout=60)[0])
            ups = [threading.Thread(target=up) for _ in range(8)]
            for t in ups:
                t.start()
            time.sleep(1.0)
            # the uploads wait for the broker; another tenant's API requests do not wait
            for _ in range(3):
                t0 = time.time()
                st, body, _ = self.ing.request("GET", "/api/%s/sessions" % self.t2,
                                               token=self.tok2, timeout=20)
                self.assertEqual(st, 200, body)
                self.assertLess(time.time() - t0, 1.0, "the pool was held by the uploads")
            # a chat gets a clear 503 in bounded time
            t0 = time.time()
            st, body, _ = self.ing.request("POST", "/api/%s/chat" % self.t2, {"message": "hi"},
                                           token=self.tok2, timeout=30)
            self.assertEqual((st, body["error"]["code"]), (503, "unavailable"), body)
            self.assertLess(time.time() - t0, 10)
            for t in ups:
                t.join(60)
            self.assertEqual(results, [503] * 8)
            # nothing half-accepted is left behind
            self.assertEqual(count(), before)
        finally:
            r = stack_cmd("start", "kafka")
            self.assertEqual(r.returncode, 0, r.stderr)


# ---- inactive tenants -----------------------------------------------------------------------
class InactiveTenantIngressTest(IngressCase):
    ingress_env = {"INGRESS_TENANT_CACHE_MS": "500"}
    tenant_prefix = "tinact"
    user = "ina"

    def test_inactive_tenant_refused_on_uploads_sessions_and_job_reads(self):
        st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.t, {"message": "x"},
                                       token=self.tok)
        self.assertEqual(st, 202, resp)
        job, sess = resp["job_id"], resp["session_id"]
        self.assertEqual(self.ing.request("GET", "/api/%s/sessions" % self.t,
                                          token=self.tok)[0], 200)
        admins = [self.ing.tenant_admin_token(self.t),
                  self.ing.api_key(self.t, roles=("user", "admin"))]
        S.psql("UPDATE tenants SET is_active = FALSE WHERE tenant_id = :'a'", self.t)
        time.sleep(0.8)  # INGRESS_TENANT_CACHE_MS
        raw, ct = TD.multipart([("a.txt", "text/plain", b"hello")])
        routes = [
            ("POST", "/api/%s/documents" % self.t, None, raw, {"Content-Type": ct}),
            ("GET", "/api/%s/documents" % self.t, None, None, None),
            ("GET", "/api/%s/documents/%s" % (self.t, uuid.uuid4()), None, None, None),
            ("GET", "/api/%s/sessions" % self.t, None, None, None),
            ("POST", "/api/%s/sessions" % self.t, {"title": "t"}, None, None),
            ("GET", "/api/%s/sessions/%s" % (self.t, sess), None, None, None),
            ("GET", "/api/%s/sessions/%s/messages" % (self.t, sess), None, None, None),
            ("DELETE", "/api/%s/sessions/%s" % (self.t, sess), None, None, None),
            ("GET", "/api/%s/jobs/%s" % (self.t, job), None, None, None),
            ("GET", "/api/%s/jobs/%s/events" % (self.t, job), None, None, None),
        ]
        for method, path, body, rawb, hdrs in routes:
            st, resp, _ = self.ing.request(method, path, body, token=self.tok, raw_body=rawb,
                                           headers=hdrs, timeout=10)
            self.assertEqual((st, (resp or {}).get("error", {}).get("code")),
                             (403, "tenant_inactive"), "%s %s" % (method, path))
        # its admins are locked out of the admin routes too (they made keys and changed the
        # LLM config of a deactivated tenant)
        for tok in admins:
            for method, path, body in [
                    ("GET", "/api/admin/whoami", None),
                    ("POST", "/api/admin/tenants/%s/api-keys" % self.t, {"name": "k"}),
                    ("PUT", "/api/admin/tenants/%s/llm-config" % self.t, {"model_id": "x"}),
                    ("GET", "/api/admin/tenants/%s" % self.t, None)]:
                st, resp, _ = self.ing.request(method, path, body, token=tok, timeout=10)
                self.assertEqual((st, (resp or {}).get("error", {}).get("code")),
                                 (403, "tenant_inactive"), "%s %s" % (method, path))
        self.assertEqual(S.psql("SELECT count(*) FROM api_keys WHERE tenant_id = :'a'",
                                self.t)[0][0], "1")
        # nothing was written for the refused upload or session
        self.assertEqual(S.psql("SELECT count(*) FROM document_batches WHERE tenant_id = :'a'",
                                self.t)[0][0], "0")
        self.assertEqual(S.psql("SELECT count(*) FROM sessions WHERE tenant_id = :'a' AND "
                                "deleted_at IS NULL", self.t)[0][0], "1")
        # active again: served again within the cache bound
        S.psql("UPDATE tenants SET is_active = TRUE WHERE tenant_id = :'a'", self.t)
        time.sleep(0.8)
        self.assertEqual(self.ing.request("GET", "/api/%s/jobs/%s" % (self.t, job),
                                          token=self.tok)[0], 200)
        for tok in admins:
            self.assertEqual(self.ing.request("GET", "/api/admin/whoami", token=tok)[0], 200)

    def test_inactive_tenant_batch_ends_in_the_docworker(self):
        if not os.path.exists(os.path.join(S.BIN, "agenthub-docworker")):
            self.skipTest("no agenthub-docworker")
        t = S.unique("tinact-doc")
        self.ing.ensure_tenant(t)
        tok = self.ing.token(tenant=t, sub="docs")
        raw, ct = TD.multipart([("a.txt", "text/plain", b"some text to keep")])
        st, resp, _ = self.ing.request("POST", "/api/%s/documents" % t, raw_body=raw,
                                       headers={"Content-Type": ct}, token=tok, timeout=30)
        self.assertEqual(st, 202, resp)
        batch = resp["batch_id"]
        # deactivated after acceptance, before a docworker read it
        S.psql("UPDATE tenants SET is_active = FALSE WHERE tenant_id = :'a'", t)
        worker = TD.Docworker(self.ing.env)
        try:
            end = time.time() + 60
            row = None
            while time.time() < end:
                row = S.psql("SELECT status FROM document_batches WHERE batch_id = :'a'", batch)
                if row and row[0][0] in ("done", "error"):
                    break
                time.sleep(0.3)
            self.assertEqual(row[0][0], "error", worker.logs()[-3000:])
            docs = S.psql("SELECT status, error, text IS NULL FROM documents WHERE "
                          "batch_id = :'a'", batch)
            self.assertEqual(len(docs), 1)
            self.assertEqual(docs[0][0], "error")
            self.assertTrue(docs[0][1].startswith("tenant_inactive"), docs)
            self.assertEqual(docs[0][2], "t")
        finally:
            rc = worker.stop()
            text = worker.logs()
        self.assertEqual(rc, 0)
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            self.assertNotIn(marker, text)


def _stage_llm_calls(port, token=None):
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("llm_calls_total"))


class InactiveTenantStagesTest(pc.PipelineCase):
    """A tenant deactivated after the ingress accepted its job: the router (and the agent, when
    it happens after routing) end the job error / tenant_inactive, with no LLM call."""

    @classmethod
    def setUpClass(cls):
        cls.start_pipeline("inactive", agents=1)

    def restart(self, name, args, env):
        p = self.pl.procs[name]
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=40)
        return lambda: (self.pl.spawn(name, args, env),
                        self.assertTrue(self.pl.wait_log(name, "partitions assigned", 90,
                                                         count=2), self.pl.log(name)))

    def job_row(self, job, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            row = self.pl.sql("SELECT status, error->>'code' FROM jobs WHERE job_id = %s", job)
            if row and row[0][0] in ("done", "error"):
                return row[0]
            time.sleep(0.3)
        return row[0] if row else None

    def test_inactive_tenant_job_ends_in_the_router(self):
        t = "inr-" + uuid.uuid4().hex[:8]
        self.pl.add_tenant(t, self.pl.llm_model)
        start_router = self.restart(
            "router", [os.path.join(ph.BIN, "agenthub-router")],
            {"METRICS_LISTEN": "127.0.0.1:%d" % self.pl.ports["router_metrics"]})
        job = self.pl.chat("What is the debt for MST 0123456789?", tenant=t)["job_id"]
        self.pl.sql("UPDATE tenants SET is_active = FALSE WHERE tenant_id = %s", t)
        start_router()
        self.assertEqual(self.job_row(job), ["error", "tenant_inactive"])
        self.assertEqual(_stage_llm_calls(self.pl.ports["router_metrics"]), 0)

    def test_inactive_tenant_job_ends_in_the_agent(self):
        t = "ina-" + uuid.uuid4().hex[:8]
        self.pl.add_tenant(t, self.pl.llm_model)
        start_agent = self.restart(
            "agent-0", [os.path.join(ph.BIN, "agenthub-agent")] + self.pl.agent_args,
            {"METRICS_LISTEN": "127.0.0.1:%d" % self.pl.ports["agent_metrics_0"]})
        job = self.pl.chat("What is the debt for MST 0123456789?", tenant=t)["job_id"]
        end = time.time() + 60
        while time.time() < end:
            st = self.pl.sql("SELECT status FROM jobs WHERE job_id = %s", job)[0][0]
            if st != "queued":
                break
            time.sleep(0.2)
        self.assertEqual(st, "routed")
        self.pl.sql("UPDATE tenants SET is_active = FALSE WHERE tenant_id = %s", t)
        start_agent()
        self.assertEqual(self.job_row(job), ["error", "tenant_inactive"])
        self.assertEqual(_stage_llm_calls(self.pl.ports["agent_metrics_0"]), 0)
        self.assertEqual(self.pl.sql("SELECT count(*) FROM messages WHERE job_id = %s AND "
                                     "role = 'assistant'", job)[0][0], "0")


# ---- /ready and /metrics --------------------------------------------------------------------
def redis_pings():
    for line in S.redis_cli("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_ping:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


class ReadyAndMetricsTest(IngressCase):
    ingress_env = {"METRICS_TOKEN": "metrics-secret-for-tests"}
    tenant_prefix = "tready"

    def test_ready_flood_does_not_multiply_dependency_calls(self):
        self.assertEqual(self.ing.request("GET", "/ready")[0], 200)
        before = redis_pings()
        statuses = []

        def flood():
            for _ in range(10):
                statuses.append(self.ing.request("GET", "/ready")[0])
        ths = [threading.Thread(target=flood) for _ in range(8)]
        t0 = time.time()
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        elapsed = time.time() - t0
        probes = redis_pings() - before
        self.assertEqual(statuses, [200] * 80)
        # at most one probe per second (INGRESS_READY_CACHE_MS), not one per request
        self.assertLessEqual(probes, int(elapsed) + 2, "%d Redis PINGs for 80 /ready in %.1f s"
                             % (probes, elapsed))

    def test_metrics_token_required(self):
        st, body, h = self.ing.request("GET", "/metrics")
        self.assertEqual(st, 401, "an open /metrics")
        self.assertEqual(body["error"]["code"], "unauthorized")
        st, _, _ = self.ing.request("GET", "/metrics", headers={"Authorization": "Bearer nope"})
        self.assertEqual(st, 401)
        st, text, _ = self.ing.request("GET", "/metrics", headers={
            "Authorization": "Bearer metrics-secret-for-tests"})
        self.assertEqual(st, 200)
        self.assertIn("ingress_http_requests_total", text)
        # a stage's METRICS_LISTEN server (the router) does the same
        port = S.free_port()
        env = dict(self.ing.env)
        env.update({"METRICS_LISTEN": "127.0.0.1:%d" % port,
                    "METRICS_TOKEN": "stage-secret", "LOG_LEVEL": "info"})
        logf = open(os.path.join(self.ing.dir, "router.log"), "wb")
        p = subprocess.Popen([os.path.join(S.BIN, "agenthub-router")], env=env, stdout=logf,
                             stderr=subprocess.STDOUT)
        try:
            self.assertTrue(ph.wait_port(port, 30), "router metrics did not come up")
            url = "http://127.0.0.1:%d/metrics" % port
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(url, timeout=10)
            self.assertEqual(cm.exception.code, 401)
            self.assertGreaterEqual(_stage_llm_calls(port, "stage-secret"), 0)
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            logf.close()
        with open(os.path.join(self.ing.dir, "router.log"), "rb") as f:
            text = f.read().decode(errors="replace")
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            self.assertNotIn(marker, text)
        self.assertEqual(p.returncode, 0, text[-2000:])


if __name__ == "__main__":
    unittest.main()
