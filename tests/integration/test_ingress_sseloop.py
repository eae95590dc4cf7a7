"""Issue 16: job event streams held by the ingress's own event loop (ingress/sseloop.c).

Behaviour, not timing (speed is tests/bench/bench_sse.py):
  - a stream of an unfinished job is taken over by the loop (ingress_sse_loop_streams) and
    resumes after Last-Event-ID with what follows it, then live events, and ends after final;
  - an idle stream gets ": keepalive" comments;
  - many streams of one job (and of a second job) each get every event exactly once, in order;
  - a client that goes away frees its stream and its hold (the per-user cap is free again);
  - a client that reads nothing is dropped once it is INGRESS_SSE_BUFFER_KB behind, and the
    other streams of its job go on;
  - INGRESS_SSE_MAX_S ends a loop stream;
  - with INGRESS_SSE_LOOP=false the thread path serves the same stream;
  - an event is not held back behind an earlier one the client has not acknowledged yet
    (TCP_NODELAY: Nagle's algorithm and a client's delayed ACK would hold it ~40 ms), on the
    loop and on the thread path.
"""
import os
import json
import selectors
import socket
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_support as S  # noqa: E402
from test_ingress_chat import IngressCase  # noqa: E402


def metric(ing, name):
    _, text, _ = ing.request("GET", "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def wait_for(pred, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


class RawStream:
    """One GET of an event stream on a plain socket (HTTP/1.1, chunked)."""

    def __init__(self, port, tenant, job, token, last_event_id=None, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        extra = "Last-Event-ID: %s\r\n" % last_event_id if last_event_id else ""
        self.sock.sendall(("GET /api/%s/jobs/%s/events HTTP/1.1\r\nHost: x\r\n"
                           "Authorization: Bearer %s\r\n%sAccept: text/event-stream\r\n\r\n"
                           % (tenant, job, token, extra)).encode())
        self.sock.setblocking(False)
        self.raw = b""
        self.closed = False

    def pump(self):
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    self.closed = True
                    return
                self.raw += d
        except BlockingIOError:
            return
        except OSError:
            self.closed = True

    def status(self):
        line = self.raw.split(b"\r\n", 1)[0]
        parts = line.split()
        return int(parts[1]) if len(parts) > 1 else None

    def body(self):
        """The de-chunked body so far."""
        head, sep, rest = self.raw.partition(b"\r\n\r\n")
        if not sep:
            return ""
        out = b""
        while rest:
            size_line, sep, rest = rest.partition(b"\r\n")
            if not sep:
                break
            n = int(size_line, 16)
            if n == 0 or len(rest) < n + 2:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        return out.decode(errors="replace")

    def ended(self):
        return b"\r\n0\r\n\r\n" in self.raw

    def events(self):
        return S.parse_sse(self.body())

    def close(self):
        self.sock.close()


class Resp:
    """A plain Redis connection, so that an event's XADD and its wake-up are not timed with
    a redis-cli process start."""

    def __init__(self):
        u = urllib.parse.urlparse(os.environ["REDIS_URL"])
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), 5)
        self.f = self.sock.makefile("rb")
        if u.path and u.path.strip("/"):
            self.call("SELECT", u.path.strip("/"))

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        line = self.f.readline()
        if line[:1] == b"$":
            n = int(line[1:])
            return self.f.read(n + 2)[:-2].decode() if n >= 0 else None
        if line[:1] == b"-":
            raise RuntimeError(line.decode())
        return line[1:].strip().decode()

    def emit(self, tenant, job, event, data):
        """What a stage's jobevents_emit does: XADD, then the wake-up on the channel."""
        key = S.events_key(tenant, job)
        self.call("XADD", key, "*", "event", event, "data", json.dumps(data))
        self.call("PUBLISH", "agenthub:jobevents:wake", key)

    def close(self):
        self.f.close()
        self.sock.close()


def arrival_delays(test, s, tenant, job, rounds=5):
    """Per round: the client stops acknowledging at once (TCP_QUICKACK 0: delayed ACKs), one
    delta is emitted and read, then a second one straight away. Returns the seconds from each
    emit to its arrival, as (first, second) pairs. Without TCP_NODELAY the second waits for
    the client's delayed ACK of the first."""
    r = Resp()
    out = []
    try:
        for i in range(rounds):
            time.sleep(0.3)  # whatever was unacknowledged is acknowledged by now
            s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
            n = len(s.events())
            t0 = time.monotonic()
            r.emit(tenant, job, "delta", {"n": 2 * i})
            test.assertTrue(pump_all([s], lambda: len(s.events()) >= n + 1, 5.0))
            t1 = time.monotonic()
            r.emit(tenant, job, "delta", {"n": 2 * i + 1})
            test.assertTrue(pump_all([s], lambda: len(s.events()) >= n + 2, 5.0))
            t2 = time.monotonic()
            out.append((t1 - t0, t2 - t1))
    finally:
        r.close()
    return out


def check_not_held(test, delays):
    """The second event of a round comes as fast as the first: held, it would take the client's
    delayed-ACK timer (>= 40 ms) longer in every round."""
    firsts = sorted(d[0] for d in delays)
    seconds = sorted(d[1] for d in delays)
    median_first, median_second = firsts[len(firsts) // 2], seconds[len(seconds) // 2]
    test.assertLess(median_second, median_first + 0.025, "second events held back: %r" % (delays,))


def pump_all(streams, until, timeout=20.0):
    sel = selectors.DefaultSelector()
    for s in streams:
        if not s.closed:
            sel.register(s.sock, selectors.EVENT_READ, s)
    end = time.time() + timeout
    try:
        while time.time() < end and not until():
            for key, _ in sel.select(0.2):
                s = key.data
                s.pump()
                if s.closed:
                    sel.unregister(s.sock)
    finally:
        sel.close()
    return until()


class SseLoopTest(IngressCase):
    ingress_env = {"INGRESS_SSE_HEARTBEAT_S": "1", "INGRESS_SSE_POLL_MS": "200",
                   "INGRESS_SSE_BUFFER_KB": "16", "INGRESS_MAX_STREAMS_PER_USER": "0",
                   "INGRESS_MAX_STREAMS_PER_TENANT": "0"}
    tenant_prefix = "tloop"
    user = "looper"

    def submit(self):
        st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.t, {"message": "x"},
                                       token=self.tok)
        self.assertEqual(st, 202, resp)
        return resp["job_id"]

    def settle(self):
        self.assertTrue(wait_for(lambda: metric(self.ing, "ingress_sse_loop_streams") == 0),
                        "loop streams left open")

    def test_resume_live_events_and_end(self):
        job = self.submit()
        first = S.xadd(self.t, job, "routed", {"agent": "A"})
        S.xadd(self.t, job, "delta", {"text": "one"})
        s = RawStream(self.ing.port, self.t, job, self.tok, last_event_id=first)
        try:
            self.assertTrue(pump_all([s], lambda: len(s.events()) >= 1))
            self.assertEqual(s.status(), 200)
            self.assertEqual(metric(self.ing, "ingress_sse_loop_streams"), 1)
            S.xadd(self.t, job, "delta", {"text": "two"})
            S.xadd(self.t, job, "final", {"response": "onetwo"})
            self.assertTrue(pump_all([s], lambda: s.ended() or s.closed))
            ev = s.events()
            self.assertEqual([e["event"] for e in ev], ["delta", "delta", "final"], s.body())
            self.assertEqual([e["data"].get("text") for e in ev[:2]], ["one", "two"])
            self.assertTrue(s.body().startswith("retry: 2000"))
            # every id is after the one resumed from, in order
            ids = [tuple(map(int, e["id"].split("-"))) for e in ev]
            self.assertEqual(ids, sorted(ids))
            self.assertGreater(ids[0], tuple(map(int, first.split("-"))))
            # after the last chunk the loop closes the socket
            self.assertTrue(pump_all([s], lambda: s.closed))
        finally:
            s.close()
        self.settle()

    def test_event_not_held_behind_an_unacknowledged_one(self):
        job = self.submit()
        s = RawStream(self.ing.port, self.t, job, self.tok)
        try:
            self.assertTrue(pump_all([s], lambda: len(s.events()) >= 1))
            self.assertEqual(metric(self.ing, "ingress_sse_loop_streams"), 1)
            check_not_held(self, arrival_delays(self, s, self.t, job))
        finally:
            s.close()
        self.settle()

    def test_idle_stream_gets_heartbeats(self):
        job = self.submit()
        s = RawStream(self.ing.port, self.t, job, self.tok)
        try:
            self.assertTrue(pump_all([s], lambda: s.body().count(": keepalive") >= 2),
                            s.raw[-300:])
            self.assertEqual([e["event"] for e in s.events()], ["queued"])
            self.assertFalse(s.closed)
        finally:
            s.close()
        self.settle()

    def test_many_streams_each_get_every_event_once(self):
        job_a, job_b = self.submit(), self.submit()
        streams = [RawStream(self.ing.port, self.t, job_a if i % 4 else job_b, self.tok)
                   for i in range(120)]
        try:
            self.assertTrue(pump_all(streams, lambda: all(len(s.events()) == 1
                                                          for s in streams)))
            self.assertEqual(metric(self.ing, "ingress_sse_loop_streams"), 120)
            for i in range(5):
                S.xadd(self.t, job_a, "delta", {"n": i})
            S.xadd(self.t, job_b, "delta", {"n": 100})
            S.xadd(self.t, job_a, "final", {"response": "a"})
            S.xadd(self.t, job_b, "final", {"response": "b"})
            self.assertTrue(pump_all(streams, lambda: all(s.ended() for s in streams)))
            for i, s in enumerate(streams):
                ev = s.events()
                if i % 4:
                    self.assertEqual([e["event"] for e in ev],
                                     ["queued"] + ["delta"] * 5 + ["final"], s.body())
                    self.assertEqual([e["data"]["n"] for e in ev[1:6]], list(range(5)))
                else:
                    self.assertEqual([e["event"] for e in ev], ["queued", "delta", "final"])
                ids = [e["id"] for e in ev]
                self.assertEqual(len(ids), len(set(ids)), "an event arrived twice")
        finally:
            for s in streams:
                s.close()
        self.settle()

    def test_wide_fanout_spread_over_writers(self):
        """300 streams of one job: past the size (256) from which the fan-out's writes are
        shared among the writer threads; each stream gets every event once, in order, and
        its last chunk with the final event."""
        job = self.submit()
        streams = [RawStream(self.ing.port, self.t, job, self.tok) for _ in range(300)]
        try:
            self.assertTrue(pump_all(streams, lambda: all(len(s.events()) == 1
                                                          for s in streams)))
            for i in range(3):
                S.xadd(self.t, job, "delta", {"n": i})
            self.assertTrue(pump_all(streams, lambda: all(len(s.events()) == 4
                                                          for s in streams)))
            S.xadd(self.t, job, "final", {"response": "wide"})
            self.assertTrue(pump_all(streams, lambda: all(s.ended() for s in streams)))
            for s in streams:
                ev = s.events()
                self.assertEqual([e["event"] for e in ev],
                                 ["queued", "delta", "delta", "delta", "final"], s.body())
                self.assertEqual([e["data"]["n"] for e in ev[1:4]], [0, 1, 2])
        finally:
            for s in streams:
                s.close()
        self.settle()

    def test_wide_fanout_two_cursors_then_closed(self):
        """300 streams of one job at two cursors (half from the start, half resuming after an
        event): each half gets exactly what follows its cursor, the halves meet at the same
        cursor and are written together from then on, and once the final event is written
        every socket is closed (end of file at the client). The job counts its streams per
        cursor instead of walking them: a miscount would leave one half unread."""
        job = self.submit()
        first = S.xadd(self.t, job, "routed", {"agent": "A"})
        fresh = [RawStream(self.ing.port, self.t, job, self.tok) for _ in range(150)]
        resumed = [RawStream(self.ing.port, self.t, job, self.tok, last_event_id=first)
                   for _ in range(150)]
        streams = fresh + resumed
        try:
            self.assertTrue(pump_all(fresh, lambda: all(len(s.events()) == 2 for s in fresh)))
            self.assertTrue(wait_for(
                lambda: metric(self.ing, "ingress_sse_loop_streams") == 300))
            S.xadd(self.t, job, "delta", {"n": 0})
            self.assertTrue(pump_all(streams, lambda: all(
                [e["event"] for e in s.events()][-1:] == ["delta"] for s in streams)))
            S.xadd(self.t, job, "delta", {"n": 1})
            S.xadd(self.t, job, "final", {"response": "two"})
            self.assertTrue(pump_all(streams, lambda: all(s.ended() and s.closed
                                                          for s in streams)),
                            "%d of 300 streams not ended and closed"
                            % sum(1 for s in streams if not (s.ended() and s.closed)))
            for s in fresh:
                self.assertEqual([e["event"] for e in s.events()],
                                 ["queued", "routed", "delta", "delta", "final"], s.body())
            for s in resumed:
                self.assertEqual([e["event"] for e in s.events()], ["delta", "delta", "final"],
                                 s.body())
                self.assertEqual([e["data"]["n"] for e in s.events()[:2]], [0, 1])
        finally:
            for s in streams:
                s.close()
        self.settle()

    def test_client_gone_frees_stream_and_hold(self):
        job = self.submit()
        streams = [RawStream(self.ing.port, self.t, job, self.tok) for _ in range(10)]
        self.assertTrue(pump_all(streams, lambda: all(s.events() for s in streams)))
        self.assertEqual(metric(self.ing, "ingress_sse_loop_streams"), 10)
        for s in streams:
            s.close()
        self.settle()
        self.assertEqual(metric(self.ing, "ingress_sse_streams_open"), 0)

    def test_slow_client_dropped_others_go_on(self):
        job = self.submit()
        slow = RawStream(self.ing.port, self.t, job, self.tok, rcvbuf=4096)
        fast = RawStream(self.ing.port, self.t, job, self.tok)
        try:
            self.assertTrue(pump_all([slow, fast], lambda: slow.events() and fast.events()))
            dropped0 = metric(self.ing, "ingress_sse_slow_dropped_total")
            big = "y" * 8000
            n = 0
            # the slow client reads nothing: its socket buffers fill, then its 16 KiB
            while metric(self.ing, "ingress_sse_slow_dropped_total") == dropped0 and n < 400:
                for _ in range(20):
                    S.xadd(self.t, job, "delta", {"n": n, "pad": big})
                    n += 1
                pump_all([fast], lambda: False, timeout=0.5)
            self.assertGreater(metric(self.ing, "ingress_sse_slow_dropped_total"), dropped0)
            S.xadd(self.t, job, "final", {"response": "done"})
            self.assertTrue(pump_all([fast], lambda: fast.ended(), timeout=30))
            ev = fast.events()
            self.assertEqual(ev[-1]["event"], "final")
            self.assertEqual([e["data"]["n"] for e in ev if e["event"] == "delta"],
                             list(range(n)))
            # the slow one was closed without its end (it never got the final)
            pump_all([slow], lambda: slow.closed, timeout=30)
            self.assertTrue(slow.closed)
            self.assertNotIn("event: final", slow.body())
        finally:
            slow.close()
            fast.close()
        self.settle()


class SseLoopMaxAgeTest(IngressCase):
    ingress_env = {"INGRESS_SSE_MAX_S": "1", "INGRESS_SSE_HEARTBEAT_S": "30"}
    tenant_prefix = "tlage"
    user = "ager"

    def test_max_age_ends_stream(self):
        st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.t, {"message": "x"},
                                       token=self.tok)
        self.assertEqual(st, 202)
        s = RawStream(self.ing.port, self.t, resp["job_id"], self.tok)
        try:
            self.assertTrue(pump_all([s], lambda: s.ended() or s.closed))
            self.assertTrue(s.ended(), s.raw[-200:])
            self.assertEqual([e["event"] for e in s.events()], ["queued"])
        finally:
            s.close()


class ThreadPathTest(IngressCase):
    ingress_env = {"INGRESS_SSE_LOOP": "false", "INGRESS_SSE_POLL_MS": "200"}
    tenant_prefix = "tthr"
    user = "threader"

    def open_stream(self):
        """A job's stream, once its queued event came, on a civetweb thread."""
        st, resp, _ = self.ing.request("POST", "/api/%s/chat" % self.t, {"message": "x"},
                                       token=self.tok)
        self.assertEqual(st, 202, resp)
        s = RawStream(self.ing.port, self.t, resp["job_id"], self.tok)
        self.assertTrue(pump_all([s], lambda: len(s.events()) == 1))
        self.assertIsNone(metric(self.ing, "ingress_sse_loop_streams"))
        return resp["job_id"], s

    def end_stream(self, job, s):
        S.xadd(self.t, job, "final", {"response": "r"})
        self.assertTrue(pump_all([s], lambda: s.ended()))

    def test_thread_path_serves_the_stream(self):
        job, s = self.open_stream()
        try:
            self.assertEqual(metric(self.ing, "ingress_sse_streams_open"), 1)
            self.end_stream(job, s)
            self.assertEqual([e["event"] for e in s.events()], ["queued", "final"])
        finally:
            s.close()
        self.assertTrue(wait_for(lambda: metric(self.ing, "ingress_sse_streams_open") == 0))

    def test_thread_path_event_not_held_behind_an_unacknowledged_one(self):
        job, s = self.open_stream()
        try:
            check_not_held(self, arrival_delays(self, s, self.t, job))
            self.end_stream(job, s)
        finally:
            s.close()
        self.assertTrue(wait_for(lambda: metric(self.ing, "ingress_sse_streams_open") == 0))


if __name__ == "__main__":
    unittest.main()
