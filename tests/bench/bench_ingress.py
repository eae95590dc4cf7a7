#!/usr/bin/python3
"""bench_ingress.py — ingress figures: accepted chat submissions/s with p50/p99 latency, and
how many concurrent SSE streams one ingress process holds, with its RSS.

Uses the stack env (DATABASE_URL, REDIS_URL, KAFKA_BROKERS) when exported; otherwise brings up
its own stack (compose/local/stack, AGENTHUB_VAR=var/bench-ingress, emptied first so every run
starts from the same fresh database; AGENTHUB_PORT_BASE=$BENCH_PORT_BASE or 26400) and takes it
down at the end.

Chat submissions are driven by wrk (C, keep-alive connections, tests/bench/ingress_chat.lua)
at each connection count of BENCH_CHAT_CONNECTIONS; only 202 answers count as accepted, every
other status is counted and printed as an error. The headline figures (chat_accepted_per_s,
chat_p50_ms, chat_p99_ms, chat_goal_ratio against the 5,000/s goal) are those of the largest
connection count. Without wrk the old Python client (BENCH_CHAT_CLIENTS threads) is used.

Before the measured runs, BENCH_CHAT_WARMUP_S (5) of load at the largest connection count and
an ANALYZE bring the fresh stack to a running system's state (see warm_up).

The seed's stack as a peer (tests/bench/seed_peer/app.py, FastAPI + PyJWT + asyncpg +
confluent-kafka under uvicorn with 2 workers, on the same PostgreSQL and broker): at each count
of BENCH_PEER_CONNECTIONS (256,1024) the ingress and the peer are driven by the same wrk script,
BENCH_PEER_ROUNDS (2) times each, alternating (A B A B), each measured while the other is
stopped (SIGSTOP) and only once the measured one has drained what the last run left queued;
`ingress.vs_peer_at_<n>` prints both and the ratio (goal >= 10). Then an open-loop run
(tests/bench/openloop.c: BENCH_OPENLOOP_RATE (2000) requests/s for BENCH_OPENLOOP_S (10) over
up to BENCH_OPENLOOP_CONNS (256) connections, latency from each request's scheduled send time)
prints `ingress.openloop_at_<rate>_per_s` p50/p99 (goal p99 < 20 ms) and the ingress's and
PostgreSQL's CPU per chat at that load; BENCH_OPENLOOP_ROUNDS (1) repeats it, and
BENCH_OPENLOOP_TIMELINE=1 adds one `ingress.openloop_second` line (count, p50, p99, max) per
second of the schedule, to tell a burst from a steady tail. RLIMIT_NOFILE is raised
to its hard limit for the 1,024-connection runs.

Knobs (environment): BENCH_CHAT_SECONDS (10), BENCH_CHAT_CONNECTIONS (16,64,256,1024),
BENCH_WRK_THREADS (2), BENCH_CHAT_CLIENTS (16, Python fallback only), BENCH_SSE_STREAMS (5000,
0 skips the SSE part), BENCH_SSE_HOLD_S (20), BENCH_INGRESS_ENV (extra ingress env,
"K=V,K=V"), AGENTHUB_BIN (build/bin).
Prints `ingress.<figure> <value>` lines and writes var/bench/ingress.json.
"""
import json
import os
import selectors
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import ingress_support as S  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def threads_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def pct(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    i = min(len(sorted_vals) - 1, int(round(p / 100.0 * (len(sorted_vals) - 1))))
    return sorted_vals[i]


def bench_chat(ing, tenant, token, seconds, clients):
    import http.client
    lat = []
    codes = {}
    lock = threading.Lock()
    stop_at = time.time() + seconds
    body = json.dumps({"message": "benchmark message"}).encode()
    hdrs = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", ing.port, timeout=30)
        mine, mycodes = [], {}
        while time.time() < stop_at:
            t0 = time.perf_counter()
            try:
                c.request("POST", "/api/%s/chat" % tenant, body=body, headers=hdrs)
                r = c.getresponse()
                r.read()
                st = r.status
            except (OSError, http.client.HTTPException):
                st = -1
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", ing.port, timeout=30)
            dt = time.perf_counter() - t0
            mycodes[st] = mycodes.get(st, 0) + 1
            if st == 202:
                mine.append(dt)
        c.close()
        with lock:
            lat.extend(mine)
            for k, v in mycodes.items():
                codes[k] = codes.get(k, 0) + v

    t0 = time.time()
    ts = [threading.Thread(target=worker) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.time() - t0
    lat.sort()
    return {
        "chat_clients": clients,
        "chat_seconds": round(elapsed, 2),
        "chat_accepted": len(lat),
        "chat_accepted_per_s": round(len(lat) / elapsed, 1),
        "chat_p50_ms": round(pct(lat, 50) * 1000, 2),
        "chat_p99_ms": round(pct(lat, 99) * 1000, 2),
        "chat_status_counts": {str(k): v for k, v in codes.items()},
    }


CHAT_GOAL_PER_S = 5000.0


def run_wrk(ing, tenant, token, seconds, conns, port=None):
    threads = max(1, min(conns, int(os.environ.get("BENCH_WRK_THREADS", "2"))))
    env = dict(os.environ, BENCH_TENANT=tenant, BENCH_TOKEN=token)
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % max(1, int(round(seconds))),
           "--timeout", "10s", "-s", os.path.join(HERE, "ingress_chat.lua"),
           "http://127.0.0.1:%d" % (port or ing.port)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120)
    res = None
    for line in out.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            res = json.loads(line[len("WRK_RESULT "):])
    if out.returncode != 0 or res is None:
        raise RuntimeError("wrk failed (%d): %s %s" % (out.returncode, out.stdout[-1000:],
                                                      out.stderr[-1000:]))
    secs = res["duration_us"] / 1e6
    errors = res["requests"] - res["accepted"] + sum(res["socket_errors"].values())
    rate = res["accepted"] / secs if secs > 0 else 0.0
    fig = {
        "connections": conns,
        "seconds": round(secs, 2),
        "accepted": res["accepted"],
        "accepted_per_s": round(rate, 1),
        "p50_ms": round(res["p50_us"] / 1000.0, 2),
        "p99_ms": round(res["p99_us"] / 1000.0, 2),
        "goal_ratio": round(rate / CHAT_GOAL_PER_S, 3),
        "errors": errors,
        "status_counts": res["statuses"],
        "socket_errors": res["socket_errors"],
    }
    if errors:
        print("bench_ingress: %d errors at %d connections: statuses %s, socket %s, e.g. %s"
              % (errors, conns, res["statuses"], res["socket_errors"],
                 res["non202_samples"][:3]), file=sys.stderr)
    return fig


def warm_up(ing, tenant, token, seconds, conns):
    """A running system's state before measuring: connections made, statements prepared, and
    the tables analyzed as autovacuum does on its own within a minute (the bench's stack is
    fresh, and a 30 s run from empty tables never sees an autoanalyze)."""
    if seconds > 0:
        run_wrk(ing, tenant, token, seconds, conns)
    subprocess.run(["psql", os.environ["DATABASE_URL"], "-q", "-c", "ANALYZE"],
                   capture_output=True, timeout=300)


def bench_chat_wrk(ing, tenant, token, seconds, conn_list):
    warm = float(os.environ.get("BENCH_CHAT_WARMUP_S", "5"))
    warm_up(ing, tenant, token, warm, max(conn_list))
    curve = [run_wrk(ing, tenant, token, seconds, c) for c in conn_list]
    head = curve[-1]
    return {
        "chat_client": "wrk",
        "chat_warmup_s": warm,
        "chat_connections": head["connections"],
        "chat_seconds": head["seconds"],
        "chat_accepted": head["accepted"],
        "chat_accepted_per_s": head["accepted_per_s"],
        "chat_p50_ms": head["p50_ms"],
        "chat_p99_ms": head["p99_ms"],
        "chat_goal_per_s": CHAT_GOAL_PER_S,
        "chat_goal_ratio": head["goal_ratio"],
        "chat_errors": sum(c["errors"] for c in curve),
        "chat_curve": curve,
    }


# ---- the seed's stack as a peer (tests/bench/seed_peer/app.py) --------------------------------

PEER_GOAL_RATIO = 10.0
OPENLOOP_GOAL_P99_MS = 20.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SeedPeer:
    """The seed's accept path (FastAPI + PyJWT + asyncpg + confluent-kafka, uvicorn with 2
    workers) on the same PostgreSQL and broker. Its own process group, so SIGSTOP pauses the
    uvicorn supervisor and both workers at once."""

    def __init__(self, public_pem, workers=2):
        self.dir = os.path.join(os.environ.get("TMPDIR", "/tmp"), "seed-peer-%d" % os.getpid())
        os.makedirs(self.dir, exist_ok=True)
        keyfile = os.path.join(self.dir, "public.pem")
        with open(keyfile, "wb") as f:
            f.write(public_pem)
        self.port = int(os.environ.get("BENCH_PEER_PORT", "0")) or free_port()
        env = dict(os.environ, SEED_PEER_DATABASE_URL=os.environ["DATABASE_URL"],
                   SEED_PEER_KAFKA_BROKERS=os.environ["KAFKA_BROKERS"],
                   SEED_PEER_JWT_PUBLIC_KEY_FILE=keyfile)
        self.log = open(os.path.join(self.dir, "peer.log"), "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-m", "uvicorn", "app:app", "--app-dir",
             os.path.join(HERE, "seed_peer"), "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(workers), "--log-level", "warning", "--no-access-log",
             "--backlog", "4096"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("seed peer exited: " + self.logs()[-2000:])
            try:
                import http.client
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("POST", "/api/x/chat", body=b"{}")
                st = c.getresponse().status
                c.close()
                if st == 401:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError("seed peer did not come up: " + self.logs()[-2000:])

    def logs(self):
        with open(os.path.join(self.dir, "peer.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self):
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def cpu_s(pid):
    """utime + stime of one process, in seconds (0 when it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid):
    out = []
    for t in os.listdir("/proc/%d/task" % pid) if os.path.isdir("/proc/%d/task" % pid) else []:
        try:
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def pg_pids():
    """PostgreSQL's processes (every backend and background process of the server)."""
    out = subprocess.run(["psql", os.environ["DATABASE_URL"], "-X", "-A", "-t", "-c",
                          "SELECT pid FROM pg_stat_activity"], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split() if x.strip().isdigit()]


def cpu_snapshot(server_pids):
    """CPU seconds so far of the server's processes and of PostgreSQL's, per pid."""
    return {"server": {p: cpu_s(p) for p in server_pids}, "pg": {p: cpu_s(p) for p in pg_pids()}}


def cpu_used(before, after):
    """CPU seconds between two snapshots (a process absent from `before` counts from 0)."""
    return {k: sum(v - before[k].get(p, 0.0) for p, v in after[k].items()) for k in after}


def drained(port, timeout=120):
    """Waits until the server at port answers a cheap request (401) within 50 ms: a closed-loop
    run leaves up to its connection count of requests queued in a slow server, and the next run
    must not start behind them."""
    import http.client
    deadline = time.time() + timeout
    while time.time() < deadline:
        t0 = time.time()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("POST", "/api/drain/chat", body=b"{}")
            c.getresponse().read()
            c.close()
            if time.time() - t0 < 0.05:
                return
        except OSError:
            pass
        time.sleep(0.5)


def pause(ing, peer, measured):
    """Only `measured` ("agenthub" or "peer") runs; the other is stopped (SIGSTOP)."""
    if measured == "agenthub":
        peer.signal(signal.SIGSTOP)
        os.kill(ing.proc.pid, signal.SIGCONT)
    else:
        # Not stopped in the middle of an accept batch's transaction.
        drained(ing.port)
        os.kill(ing.proc.pid, signal.SIGSTOP)
        peer.signal(signal.SIGCONT)
    drained(ing.port if measured == "agenthub" else peer.port)


def span(vals, fmt="%.0f"):
    lo, hi = min(vals), max(vals)
    return (fmt % lo) if fmt % lo == fmt % hi else (fmt + "-" + fmt) % (lo, hi)


def bench_vs_peer(ing, tenant, token, seconds, conn_list, rounds):
    """AgentHub and the seed peer at each connection count, alternating (A B A B ...), each
    measured while the other is paused. Returns the figures and prints one summary line per
    connection count."""
    peer = SeedPeer(ing.pub1)
    out = []
    try:
        pause(ing, peer, "peer")
        run_wrk(ing, tenant, token, 3, 64, port=peer.port)  # its warm-up
        for c in conn_list:
            runs = {"agenthub": [], "peer": []}
            for _ in range(rounds):
                for who in ("agenthub", "peer"):
                    pause(ing, peer, who)
                    pids = ([ing.proc.pid] if who == "agenthub"
                            else [peer.proc.pid] + children(peer.proc.pid))
                    before = cpu_snapshot(pids)
                    r = run_wrk(ing, tenant, token, seconds, c,
                                port=peer.port if who == "peer" else None)
                    used = cpu_used(before, cpu_snapshot(pids))
                    # CPU per accepted chat does not depend on what else the machine runs.
                    for k in ("server", "pg"):
                        r["%s_cpu_ms_per_accept" % k] = round(
                            used[k] * 1000.0 / r["accepted"], 3) if r["accepted"] else 0.0
                    runs[who].append(r)
            pause(ing, peer, "agenthub")
            ratios = [a["accepted_per_s"] / p["accepted_per_s"] if p["accepted_per_s"] else 0.0
                      for a, p in zip(runs["agenthub"], runs["peer"])]
            fig = {"connections": c, "rounds": rounds,
                   "agenthub": [{k: r[k] for k in ("accepted_per_s", "p50_ms", "p99_ms", "errors",
                                                  "server_cpu_ms_per_accept", "pg_cpu_ms_per_accept")}
                                for r in runs["agenthub"]],
                   "peer": [{k: r[k] for k in ("accepted_per_s", "p50_ms", "p99_ms", "errors",
                                                  "server_cpu_ms_per_accept", "pg_cpu_ms_per_accept")}
                            for r in runs["peer"]],
                   "ratio_min": round(min(ratios), 2), "ratio_max": round(max(ratios), 2),
                   "goal_ratio": PEER_GOAL_RATIO}
            out.append(fig)
            a, p = runs["agenthub"], runs["peer"]
            print("ingress.vs_peer_at_%d agenthub %s/s p50 %s ms p99 %s ms | peer %s/s p50 %s ms "
                  "p99 %s ms | ratio %s (goal >= %.0f)"
                  % (c, span([r["accepted_per_s"] for r in a]), span([r["p50_ms"] for r in a], "%.1f"),
                     span([r["p99_ms"] for r in a], "%.1f"), span([r["accepted_per_s"] for r in p]),
                     span([r["p50_ms"] for r in p], "%.1f"), span([r["p99_ms"] for r in p], "%.1f"),
                     span(ratios, "%.1f"), PEER_GOAL_RATIO), flush=True)
            cpu = lambda rs: [r["server_cpu_ms_per_accept"] + r["pg_cpu_ms_per_accept"] for r in rs]
            cpu_ratios = [p / a if a else 0.0 for a, p in zip(cpu(a), cpu(p))]
            fig["cpu_ratio_min"] = round(min(cpu_ratios), 2)
            fig["cpu_ratio_max"] = round(max(cpu_ratios), 2)
            print("ingress.vs_peer_cpu_at_%d CPU ms per accepted chat (server + PostgreSQL): "
                  "agenthub %s (%s + %s) | peer %s (%s + %s) | peer/agenthub %s"
                  % (c, span(cpu(a), "%.3f"), span([r["server_cpu_ms_per_accept"] for r in a], "%.3f"),
                     span([r["pg_cpu_ms_per_accept"] for r in a], "%.3f"), span(cpu(p), "%.3f"),
                     span([r["server_cpu_ms_per_accept"] for r in p], "%.3f"),
                     span([r["pg_cpu_ms_per_accept"] for r in p], "%.3f"),
                     span(cpu_ratios, "%.1f")), flush=True)
    finally:
        os.kill(ing.proc.pid, signal.SIGCONT)
        peer.stop()
    return out


def bench_openloop(ing, tenant, token, rate, seconds, conns):
    """p50/p99 at a fixed offered load (tests/bench/openloop.c, latency from each request's
    scheduled send time)."""
    binary = os.path.join(ROOT, "var", "bench", "openloop")
    src = os.path.join(HERE, "openloop.c")
    if not os.path.exists(binary) or os.path.getmtime(binary) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(binary), exist_ok=True)
        subprocess.run(["cc", "-O2", "-o", binary, src], check=True)
    env = dict(os.environ, OPENLOOP_TOKEN=token,
               OPENLOOP_TIMELINE=os.environ.get("BENCH_OPENLOOP_TIMELINE", "0"))
    before = cpu_snapshot([ing.proc.pid])
    out = subprocess.run([binary, "127.0.0.1", str(ing.port), "/api/%s/chat" % tenant, str(rate),
                          str(seconds), str(conns)], env=env, capture_output=True, text=True,
                         timeout=seconds + 120)
    used = cpu_used(before, cpu_snapshot([ing.proc.pid]))
    res = None
    for line in out.stdout.splitlines():
        if line.startswith("OPENLOOP_RESULT "):
            res = json.loads(line[len("OPENLOOP_RESULT "):])
        elif line.startswith("OPENLOOP_SECOND "):
            print("ingress.openloop_second " + line[len("OPENLOOP_SECOND "):], flush=True)
    if out.returncode != 0 or res is None:
        raise RuntimeError("openloop failed: %s %s" % (out.stdout[-500:], out.stderr[-500:]))
    fig = {"openloop_rate_per_s": rate, "openloop_seconds": seconds,
           "openloop_accepted": res["accepted"], "openloop_errors": res["errors"],
           "openloop_unfinished": res["unfinished"],
           "openloop_p50_ms": round(res["p50_us"] / 1000.0, 2),
           "openloop_p99_ms": round(res["p99_us"] / 1000.0, 2),
           "openloop_max_ms": round(res["max_us"] / 1000.0, 2),
           "openloop_goal_p99_ms": OPENLOOP_GOAL_P99_MS}
    # CPU per accepted chat at this load (batches are smaller than in the closed-loop runs)
    for k in ("server", "pg"):
        fig["openloop_%s_cpu_ms_per_accept" % k] = (
            round(used[k] * 1000.0 / res["accepted"], 3) if res["accepted"] else 0.0)
    print("ingress.openloop_at_%d_per_s p50 %.2f ms p99 %.2f ms (goal p99 < %.0f ms), accepted %d, "
          "errors %d; CPU ms per chat: ingress %.3f, PostgreSQL %.3f"
          % (rate, fig["openloop_p50_ms"], fig["openloop_p99_ms"], OPENLOOP_GOAL_P99_MS,
             res["accepted"], res["errors"], fig["openloop_server_cpu_ms_per_accept"],
             fig["openloop_pg_cpu_ms_per_accept"]), flush=True)
    return fig


def bench_sse(ing, tenant, token, job_ids, want, hold_s):
    """Opens `want` streams spread over job_ids; returns figures."""
    sel = selectors.DefaultSelector()
    socks = {}
    opened = 0
    failed = 0
    rss0 = rss_kb(ing.proc.pid)
    t_open = time.time()
    for i in range(want):
        job = job_ids[i % len(job_ids)]
        s = socket.socket()
        s.setblocking(True)
        s.settimeout(10)
        try:
            s.connect(("127.0.0.1", ing.port))
            req = ("GET /api/%s/jobs/%s/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s"
                   "\r\nAccept: text/event-stream\r\n\r\n" % (tenant, job, token))
            s.sendall(req.encode())
        except OSError:
            failed += 1
            s.close()
            continue
        s.setblocking(False)
        socks[s] = {"buf": b"", "ok": False, "final": False, "job": job}
        sel.register(s, selectors.EVENT_READ)
        opened += 1

    def pump(timeout, until):
        deadline = time.time() + timeout
        while time.time() < deadline and not until():
            for key, _ in sel.select(0.2):
                s = key.fileobj
                st = socks[s]
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    st["closed"] = True
                    continue
                st["buf"] = (st["buf"] + data)[-4096:]
                if not st["ok"] and b" 200 " in st["buf"] and b"retry:" in st["buf"]:
                    st["ok"] = True
                if b"event: final" in st["buf"]:
                    st["final"] = True

    pump(120, lambda: all(v["ok"] or v.get("closed") for v in socks.values()))
    established = sum(1 for v in socks.values() if v["ok"])
    t_est = time.time() - t_open
    st, text, _ = ing.request("GET", "/metrics")
    gauge = 0
    for line in (text or "").splitlines():
        if line.startswith("ingress_sse_streams_open"):
            gauge = int(float(line.split()[-1]))
    rss1 = rss_kb(ing.proc.pid)
    threads = threads_of(ing.proc.pid)
    # hold: heartbeats keep them open, none should drop
    pump(hold_s, lambda: False)
    alive = sum(1 for v in socks.values() if v["ok"] and not v.get("closed"))
    rss_hold = rss_kb(ing.proc.pid)
    # fan-out: one final per job, time until every stream saw it
    t_fin = time.time()
    for job in job_ids:
        S.xadd(tenant, job, "final", {"response": "done"})
    pump(60, lambda: all(v["final"] for v in socks.values() if v["ok"]))
    fanout = time.time() - t_fin
    finals = sum(1 for v in socks.values() if v["final"])
    for s in list(socks):
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
    return {
        "sse_requested": want,
        "sse_established": established,
        "sse_connect_failures": failed + (opened - established),
        "sse_establish_s": round(t_est, 2),
        "sse_gauge_open": gauge,
        "sse_alive_after_hold": alive,
        "sse_hold_s": hold_s,
        "sse_final_delivered": finals,
        "sse_final_fanout_s": round(fanout, 2),
        "ingress_threads": threads,
        "rss_idle_mb": round(rss0 / 1024, 1),
        "rss_streams_mb": round(max(rss1, rss_hold) / 1024, 1),
        "rss_per_stream_kb": round((max(rss1, rss_hold) - rss0) / max(1, established), 1),
    }


def main():
    # 1,024 connections for wrk and as many for the ingress and the peer (inherited).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    own_stack = False
    env_out = None
    if S.stack_env_missing() and not os.environ.get("DATABASE_URL"):
        if not os.environ.get("AGENTHUB_VAR"):
            # Its own data directory, emptied first: every run measures the same fresh database
            # (the tables otherwise grow by a few hundred thousand chats per run).
            os.environ["AGENTHUB_VAR"] = os.path.join(ROOT, "var", "bench-ingress")
            os.environ.setdefault("AGENTHUB_PORT_BASE", os.environ.get("BENCH_PORT_BASE", "26400"))
            subprocess.run([os.path.join(ROOT, "compose", "local", "stack"), "down"],
                           capture_output=True, timeout=300)
            shutil.rmtree(os.environ["AGENTHUB_VAR"], ignore_errors=True)
        os.environ.setdefault("AGENTHUB_PORT_BASE", os.environ.get("BENCH_PORT_BASE", "26400"))
        out = subprocess.run([os.path.join(ROOT, "compose", "local", "stack"), "up"],
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            print("bench_ingress: stack up failed:\n" + out.stderr[-2000:], file=sys.stderr)
            return 1
        own_stack = True
        env_out = out.stdout
        for line in out.stdout.splitlines():
            if line.startswith("export "):
                k, _, v = line[7:].partition("=")
                os.environ[k] = v.strip("'\"")
    why = S.stack_env_missing()
    if why:
        print("bench_ingress: " + why, file=sys.stderr)
        return 1
    want = int(os.environ.get("BENCH_SSE_STREAMS", "5000"))
    conn_list = [int(x) for x in
                 os.environ.get("BENCH_CHAT_CONNECTIONS", "16,64,256,1024").split(",") if x.strip()]
    # One bench user holds every stream: the fair-share caps (per user, per tenant) are a
    # policy, not what this measures, so they are lifted to the total here.
    extra = {"INGRESS_THREADS": str(max(want, max(conn_list)) + 200), "LOG_LEVEL": "warn",
             "INGRESS_SSE_HEARTBEAT_S": "5", "INGRESS_MAX_STREAMS_PER_USER": "0",
             "INGRESS_MAX_STREAMS_PER_TENANT": str(max(want, max(conn_list)) + 200)}
    for kv in os.environ.get("BENCH_INGRESS_ENV", "").split(","):
        if "=" in kv:
            k, _, v = kv.partition("=")
            extra[k.strip()] = v.strip()
    ing = S.Ingress(extra)
    broker = os.environ.get("AGENTHUB_KAFKA", "dev")
    results = {"broker": broker}
    try:
        tenant = S.unique("bench")
        ing.ensure_tenant(tenant)
        token = ing.token(tenant=tenant, sub="bench-user")
        seconds = float(os.environ.get("BENCH_CHAT_SECONDS", "10"))
        if shutil.which("wrk"):
            results.update(bench_chat_wrk(ing, tenant, token, seconds, conn_list))
            peer_conns = [int(x) for x in os.environ.get("BENCH_PEER_CONNECTIONS", "256,1024")
                          .split(",") if x.strip()]
            missing = subprocess.run(
                ["/usr/bin/python3", "-c", "import fastapi, uvicorn, asyncpg, confluent_kafka"],
                capture_output=True).returncode != 0
            if peer_conns and missing:
                print("bench_ingress: the seed peer needs python3-fastapi, python3-uvicorn, "
                      "python3-asyncpg and python3-confluent-kafka (compose/local/deps.sh); "
                      "skipped", file=sys.stderr)
            elif peer_conns:
                results["vs_peer"] = bench_vs_peer(
                    ing, tenant, token, seconds, peer_conns,
                    int(os.environ.get("BENCH_PEER_ROUNDS", "2")))
            rate = float(os.environ.get("BENCH_OPENLOOP_RATE", "2000"))
            if rate > 0:
                for _ in range(int(os.environ.get("BENCH_OPENLOOP_ROUNDS", "1"))):
                    results.update(bench_openloop(
                        ing, tenant, token, rate, float(os.environ.get("BENCH_OPENLOOP_S", "10")),
                        int(os.environ.get("BENCH_OPENLOOP_CONNS", "256"))))
        else:
            print("bench_ingress: wrk not installed (compose/local/deps.sh); using the Python "
                  "client, which is itself the bottleneck", file=sys.stderr)
            results.update(bench_chat(ing, tenant, token, seconds,
                                      int(os.environ.get("BENCH_CHAT_CLIENTS", "16"))))
        if want > 0:
            jobs = []
            for i in range(50):
                st, r, _ = ing.request("POST", "/api/%s/chat" % tenant,
                                       {"message": "sse %d" % i}, token=token)
                if st == 202:
                    jobs.append(r["job_id"])
            results.update(bench_sse(ing, tenant, token, jobs, want,
                                     int(os.environ.get("BENCH_SSE_HOLD_S", "20"))))
    finally:
        ing.stop()
        if own_stack:
            subprocess.run([os.path.join(ROOT, "compose", "local", "stack"), "down"],
                           capture_output=True, timeout=300)
    for k, v in results.items():
        print("ingress.%s %s" % (k, json.dumps(v) if isinstance(v, (dict, list)) else v))
    os.makedirs(os.path.join(ROOT, "var", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "var", "bench", "ingress-%s.json" % broker), "w") as f:
        json.dump(results, f, indent=2)
    _ = env_out
    return 0


if __name__ == "__main__":
    sys.exit(main())
