"""The delivery fault suite on a real three-node Apache Kafka cluster (KRaft, replication 3,
min.insync.replicas 2), under a steady load of chat jobs over many sessions (six questions
each, sent back to back), the three demo agents and two agent processes. During the load it

  - SIGKILLs the partition leader of agenthub.chat.requests and later the leader of an agent
    topic, and brings each back;
  - stops one broker for longer than the producers' message timeout;
  - SIGKILLs the router and an agent process and restarts them;
  - stops two of the three brokers for a moment (below min.insync.replicas: the cluster must
    refuse writes, and the ingress must say so with 503 + Retry-After, in bounded time).

It asserts that no accepted job is lost (each ends done or error, with a reason), no job has two
terminal events or two assistant messages, every refusal was a 503 with Retry-After that came
in bounded time, each session's answers were stored in the order its questions were accepted,
and each follow-up's history held the earlier turns; it prints the counts.

Needs the stack of tests/run.sh with AGENTHUB_KAFKA=kafka and AGENTHUB_KAFKA_NODES=3 (the
runner brings that cluster up for this file); elsewhere it is skipped, and says why.
FAULT_JOBS (default 2000) and FAULT_RATE (jobs/s, default 20) size the load; the fault
timeline scales with its length.
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_case as pc  # noqa: E402
from pipeline_harness import BIN, ROOT  # noqa: E402

JOBS = int(os.environ.get("FAULT_JOBS", "2000"))
RATE = float(os.environ.get("FAULT_RATE", "20"))
PER_SESSION = 6         # questions per session, sent back to back
SESSIONS = max(10, -(-JOBS // PER_SESSION))
PUBLISH_TIMEOUT_MS = 5000
SUBMIT_BOUND_S = 20.0   # no submission may take longer (publish timeout 5 s + margin)
DRAIN_S = 240           # after the load, every accepted job must be terminal within this
MST = "0123456789"
QUESTIONS = [
    "What is the debt for MST %s?" % MST,                       # AgentDebt (HTTP tool)
    "Where is my shipment VN123456789?",                         # AgentShipment (HTTP tool)
    "What is the return policy for goods?",                      # AgentAnalysis (RAG)
    "Công nợ của MST %s là bao nhiêu?" % MST,                    # AgentDebt, Vietnamese
]
STACK = os.path.join(ROOT, "compose", "local", "stack")


def real_cluster():
    return (os.environ.get("AGENTHUB_KAFKA") == "kafka" and
            len(os.environ.get("KAFKA_BROKERS", "").split(",")) >= 3)


def stack(*args):
    r = subprocess.run([STACK] + list(args), capture_output=True, text=True, timeout=180)
    if r.returncode != 0:
        raise RuntimeError("stack %s: %s" % (" ".join(args), r.stderr[-2000:]))
    return r.stdout.strip()


def leader(topic, partition=0):
    r = subprocess.run(["kcat", "-b", os.environ["KAFKA_BROKERS"], "-L", "-J", "-t", topic,
                        "-m", "5"], capture_output=True, text=True, timeout=30)
    md = json.loads(r.stdout)
    for t in md["topics"]:
        for p in t["partitions"]:
            if p["partition"] == partition and p["leader"] >= 0:
                return p["leader"]
    raise RuntimeError("no leader for %s[%d]" % (topic, partition))


class Load:
    """Submits JOBS chats over SESSIONS sessions at RATE/s from a few threads: each thread
    takes a session and sends its PER_SESSION questions back to back (each right after the
    previous one's 202). Records what each submission got, and each session's accepted jobs in
    the order they were accepted."""

    def __init__(self, pl, tenant="demo"):
        self.pl, self.tenant = pl, tenant
        self.accepted = []          # (job_id, session_id)
        self.refused = []           # (status, code, retry_after, seconds)
        self.hung = []              # seconds, for submissions past SUBMIT_BOUND_S
        self.other = []             # anything else: (status, body)
        self.session_jobs = {}      # session_id -> [job_id, ...] in accept order
        self.lock = threading.Lock()
        self.next = 0               # submission tickets (pacing)
        self.next_session = 0
        self.start = None
        self.scale = JOBS / RATE / 100.0   # the fault timeline is written for a 100 s load

    def _submit(self, conn, s, k, session_id):
        """One question; returns (ok_connection, job_id or None, session_id)."""
        body = {"message": QUESTIONS[(s + k) % len(QUESTIONS)]}
        if session_id:
            body["session_id"] = session_id
        t0 = time.time()
        try:
            conn.request("POST", "/api/%s/chat" % self.tenant, json.dumps(body),
                         {"Authorization": "Bearer " + self.pl.tokens[self.tenant],
                          "Content-Type": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
            dt = time.time() - t0
        except (OSError, http.client.HTTPException):
            dt = time.time() - t0
            with self.lock:
                (self.hung if dt >= SUBMIT_BOUND_S else self.other).append(
                    dt if dt >= SUBMIT_BOUND_S else ("conn", "%.1fs" % dt))
            return False, None, session_id
        with self.lock:
            if dt >= SUBMIT_BOUND_S:
                self.hung.append(dt)
            if resp.status == 202:
                r = json.loads(raw)
                self.accepted.append((r["job_id"], r["session_id"]))
                self.session_jobs.setdefault(r["session_id"], []).append(r["job_id"])
                return True, r["job_id"], r["session_id"]
            if resp.status == 503:
                code = json.loads(raw or b"{}").get("error", {}).get("code")
                self.refused.append((resp.status, code, resp.getheader("Retry-After"), dt))
            else:
                self.other.append((resp.status, raw[:200]))
        return True, None, session_id

    def _worker(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.pl.ports["ingress"],
                                          timeout=SUBMIT_BOUND_S + 10)
        while True:
            with self.lock:
                s = self.next_session
                if s >= SESSIONS or self.next >= JOBS:
                    break
                self.next_session += 1
            session_id = None
            for k in range(PER_SESSION):
                with self.lock:
                    n = self.next
                    if n >= JOBS:
                        break
                    self.next += 1
                delay = self.start + n / RATE - time.time()
                if delay > 0:
                    time.sleep(delay)
                ok, _, session_id = self._submit(conn, s, k, session_id)
                if not ok:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.pl.ports["ingress"],
                                                      timeout=SUBMIT_BOUND_S + 10)
        conn.close()

    def run_in_background(self):
        self.start = time.time()
        self.threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(12)]
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join()


@unittest.skipUnless(real_cluster(), "needs AGENTHUB_KAFKA=kafka with 3 nodes (tests/run.sh)")
class KafkaClusterFaults(pc.PipelineCase):
    @classmethod
    def setUpClass(cls):
        env = {"INGRESS_PUBLISH_TIMEOUT_MS": str(PUBLISH_TIMEOUT_MS),
               "ROUTER_PRODUCE_TIMEOUT_MS": str(PUBLISH_TIMEOUT_MS),
               # a real broker answers a fetch as soon as data is there
               "KAFKA_FETCH_WAIT_MAX_MS": "100"}
        cls.start_pipeline("kafka-faults", agents=2, agent_env=env, router_env=env)

    def restart(self, name, args, env):
        p = self.pl.procs[name]
        if p.poll() is None:
            p.kill()
            p.wait()
        self.pl.spawn(name, args, env)

    def faults(self, load, log):
        """The fault timeline, in seconds from the load's start (the load runs JOBS / RATE s,
        ~100 s by default). Restarted nodes come back in the background (a JVM takes a few
        seconds); the next broker fault waits until the previous node has rejoined, so that
        only the two-node phase ever takes the cluster below min.insync.replicas."""
        starting = []

        def at(t):
            while time.time() < load.start + t * load.scale:
                time.sleep(0.1)

        def start_node(n):
            p = subprocess.Popen([STACK, "start", "kafka", str(n)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            starting.append((n, p))

        def rejoined():
            while starting:
                n, p = starting.pop()
                _, err = p.communicate(timeout=180)
                if p.returncode != 0:
                    raise RuntimeError("node %d did not come back: %s" % (n, err[-1000:]))
                log("node %d back" % n)

        env_r = dict(self.pl.router_env, METRICS_LISTEN="127.0.0.1:%d" %
                     self.pl.ports["router_metrics"])
        env_a = dict(self.pl.agent_env, METRICS_LISTEN="127.0.0.1:%d" %
                     self.pl.ports["agent_metrics_1"])
        at(5)
        n = leader("agenthub.chat.requests")
        log("SIGKILL node %d, leader of agenthub.chat.requests[0]" % n)
        stack("kill", "kafka", str(n))
        at(13)
        start_node(n)
        rejoined()
        at(30)
        n = leader("agenthub.agent.AgentDebt")
        log("SIGKILL node %d, leader of agenthub.agent.AgentDebt[0]" % n)
        stack("kill", "kafka", str(n))
        at(38)
        start_node(n)
        at(44)
        log("SIGKILL router")
        self.pl.procs["router"].kill()
        self.pl.procs["router"].wait()
        at(46)
        self.pl.spawn("router", [os.path.join(BIN, "agenthub-router")], env_r)
        log("router restarted")
        at(49)
        log("SIGKILL agent-1")
        self.pl.procs["agent-1"].kill()
        self.pl.procs["agent-1"].wait()
        at(51)
        self.pl.spawn("agent-1", [os.path.join(BIN, "agenthub-agent")], env_a)
        log("agent-1 restarted")
        rejoined()
        at(55)
        n = 1 + (leader("agenthub.chat.requests") % 3)      # a broker that is not that leader
        down_s = 2.0 * PUBLISH_TIMEOUT_MS / 1000
        log("stopping node %d for %.0f s (producers' message timeout %d ms)" %
            (n, down_s, PUBLISH_TIMEOUT_MS))
        stack("stop", "kafka", str(n))
        time.sleep(down_s)
        start_node(n)
        rejoined()
        at(82)
        log("SIGKILL nodes 2 and 3: below min.insync.replicas for 6 s")
        stack("kill", "kafka", "2")
        stack("kill", "kafka", "3")
        time.sleep(6)
        start_node(2)
        start_node(3)
        rejoined()
        log("all faults done")

    def test_cluster_faults_under_load_lose_nothing(self):
        lines = []

        def log(msg):
            line = "[fault %6.1fs] %s" % (time.time() - load.start, msg)
            lines.append(line)
            print(line, file=sys.stderr, flush=True)

        load = Load(self.pl)
        load.run_in_background()
        try:
            self.faults(load, log)
        finally:
            load.join()
        log("load done: %d submitted" % JOBS)
        ids = [j for j, _ in load.accepted]
        self.assertGreater(len(ids), JOBS // 2, (len(ids), load.other[:5], load.refused[:5]))

        # ---- every accepted job ends, once -------------------------------------------------
        with tempfile.NamedTemporaryFile("w", suffix=".ids", delete=False) as f:
            f.write("\n".join(ids) + "\n")
            idfile = f.name
        try:
            end = time.time() + DRAIN_S
            while True:
                rows = self.job_rows(idfile)
                open_ = [r for r in rows if r[1] not in ("done", "error")]
                if (not open_ and len(rows) == len(ids)) or time.time() > end:
                    break
                time.sleep(2)
            dup_msgs = self.pl.sql(
                "SELECT job_id, part, count(*) FROM messages WHERE role = 'assistant' "
                "AND tenant_id = 'demo' GROUP BY 1, 2 HAVING count(*) > 1")
        finally:
            os.unlink(idfile)
        status = {r[0]: r for r in rows}
        out_of_order, history_short, order_timeouts = self.check_order(load, status)
        done = [j for j in ids if j in status and status[j][1] == "done"]
        errors = [status[j] for j in ids if j in status and status[j][1] == "error"]
        lost = [j for j in ids if j not in status or status[j][1] not in ("done", "error")]
        codes = {}
        for r in errors:
            codes[r[2] or "(none)"] = codes.get(r[2] or "(none)", 0) + 1
        terminal = self.terminal_event_counts(ids)
        dup_terminal = [j for j, n in terminal.items() if n > 1]
        no_terminal = [j for j, n in terminal.items() if n == 0 and j not in lost]
        refused_bad = [r for r in load.refused if r[2] is None or r[3] >= SUBMIT_BOUND_S]
        summary = ("kafka faults: submitted %d, accepted %d, refused %d (503 with Retry-After: %d, "
                   "slowest %.1f s), other %d, hung %d; done %d, error %d %s; lost %d, "
                   "duplicated terminal events %d, duplicated assistant messages %d; "
                   "%d sessions, out of order %d, follow-ups missing history %d, "
                   "order waits that timed out %d"
                   % (JOBS, len(ids), len(load.refused), len(load.refused) - len(refused_bad),
                      max([r[3] for r in load.refused] or [0]), len(load.other), len(load.hung),
                      len(done), len(errors), json.dumps(codes), len(lost), len(dup_terminal),
                      len(dup_msgs), len(load.session_jobs), len(out_of_order),
                      len(history_short), order_timeouts))
        print("\n" + "\n".join(lines) + "\n" + summary, file=sys.stderr, flush=True)
        logdir = os.path.join(ROOT, "var", "test-logs")  # make bench may run before make test
        os.makedirs(logdir, exist_ok=True)
        with open(os.path.join(logdir, "kafka-faults-summary.txt"), "w") as f:
            f.write("\n".join(lines) + "\n" + summary + "\n")

        self.assertEqual(lost, [], summary)
        self.assertEqual(dup_terminal, [], summary)
        self.assertEqual(no_terminal, [], summary)
        self.assertEqual(dup_msgs, [], summary)
        self.assertEqual(load.hung, [], summary)
        self.assertEqual(refused_bad, [], summary)
        self.assertEqual(load.other, [], summary)
        self.assertEqual(out_of_order, [], summary)
        self.assertEqual(history_short, [], summary)
        for r in errors:
            self.assertTrue(r[2], "an error job without a reason: %r" % (r,))

    def job_rows(self, idfile):
        r = subprocess.run(
            ["psql", os.environ["DATABASE_URL"], "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
             "-c", "CREATE TEMP TABLE ids (job_id uuid)",
             "-c", "\\copy ids FROM '%s'" % idfile,
             "-c", "SELECT j.job_id, j.status, j.error->>'code', "
                   "extract(epoch FROM m.timestamp), m.metadata->>'history_messages', "
                   "m.metadata->>'session_order' FROM jobs j JOIN ids USING (job_id) "
                   "LEFT JOIN messages m ON m.job_id = j.job_id AND m.role = 'assistant'"],
            capture_output=True, text=True, timeout=60, check=True)
        return [line.split("\t") for line in r.stdout.splitlines() if "\t" in line]

    def check_order(self, load, status):
        """Per session, in accept order: the answers were stored in that order, and each
        answer's history held every earlier turn of the session (its user message, and its
        answer when it had one), up to AGENT_HISTORY_MESSAGES (10)."""
        out_of_order, history_short, timeouts = [], [], 0
        for sid, jobs in load.session_jobs.items():
            last_ts, earlier = None, 0
            for j in jobs:
                r = status.get(j)
                if not r:
                    continue
                ts = float(r[3]) if len(r) > 3 and r[3] else None
                if ts is not None:
                    if last_ts is not None and ts < last_ts:
                        out_of_order.append((sid, j))
                    last_ts = ts
                    hist = r[4] if len(r) > 4 else ""
                    if hist and int(hist) < min(earlier, 10):
                        history_short.append((sid, j, hist, earlier))
                    if len(r) > 5 and r[5] == "timeout":
                        timeouts += 1
                earlier += 1 + (1 if ts is not None else 0)
        return out_of_order, history_short, timeouts

    def terminal_event_counts(self, ids):
        """final + error entries in each job's Redis stream, 200 jobs per script call."""
        script = ("local out = {} for i, k in ipairs(KEYS) do local n = 0 "
                  "for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do "
                  "local f = e[2] for j = 1, #f, 2 do if f[j] == 'event' and "
                  "(f[j + 1] == 'final' or f[j + 1] == 'error') then n = n + 1 end end end "
                  "out[i] = n end return out")
        counts = {}
        for i in range(0, len(ids), 200):
            chunk = ids[i:i + 200]
            keys = ["agenthub:demo:job:%s:events" % j for j in chunk]
            r = subprocess.run(["redis-cli", "-u", os.environ["REDIS_URL"], "EVAL", script,
                                str(len(keys))] + keys, capture_output=True, text=True,
                               timeout=60, check=True)
            vals = r.stdout.split()
            self.assertEqual(len(vals), len(chunk), r.stdout[:200])
            counts.update(zip(chunk, (int(v) for v in vals)))
        return counts


if __name__ == "__main__":
    unittest.main()
