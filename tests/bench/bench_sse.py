#!/usr/bin/env python3
"""SSE streams held by one ingress process (issue 16, goal 1), before and after the SSE loop.

For each mode it starts one agenthub-ingress, submits one chat (no router runs, so the job
stays queued), and opens BENCH_SSE_STREAMS streams of that job from C clients
(tests/bench/sse_client.c, built here with cc; each process holds at most 9,900, source
addresses 127.0.0.x so ephemeral ports do not run out). Then:
  - streams held, the ingress's RSS, threads and descriptors;
  - heartbeat cost: the ingress's CPU (utime+stime) over BENCH_SSE_IDLE_S (30) idle seconds,
    as % of one core, with INGRESS_SSE_HEARTBEAT_S=BENCH_SSE_HEARTBEAT_S (5), and its context
    switches per second;
  - fan-out: events for the job, written the way the stages write them
    (tests/bench/sse_emit.c calls jobevents_emit: XADD to the job's Redis stream, then its
    chat.event on agenthub.chat.events, linger 0, producer already connected); the time from
    just before the XADD to each stream's receipt of the event (CLOCK_MONOTONIC, on one
    machine), p50/p99/max. First BENCH_SSE_ROUNDS - 1 (4) `delta` events, one at a time, each
    once every stream has the one before (fanout_delta_p50_ms / _p99_ms: one figure per
    event, so one run shows the spread), then one `final`, which also ends every stream
    (fanout_p50_ms / _p99_ms / _max_ms; the ingress's and the clients' CPU are for it).
    Each is timed twice per stream: when its client read it (the figures above), and when the
    kernel queued it on the client's socket, i.e. when the ingress's send delivered it
    (SO_TIMESTAMPNS; fanout_arrival_p50_ms / _p99_ms, fanout_delta_arrival_p99_ms). The
    clients share the machine's cores with the ingress, so the first also holds their wait for
    a core; the second is the fan-out as a client on its own machine would see it, except
    that the clients' reads still take the cores from the sends. So BENCH_SSE_PAUSED_ROUNDS
    (2) more deltas follow with the clients stopped (SIGSTOP) until a second after the emit:
    fanout_delta_paused_arrival_p99_ms is when the sends delivered the event with the cores to
    the server alone (on loopback the clients' TCP input still runs on the sender's core).

Modes: `before` = INGRESS_SSE_LOOP=false (a civetweb thread per stream) at
BENCH_SSE_BEFORE_STREAMS (5000), `after` = the SSE loop at BENCH_SSE_STREAMS (20000, or what
the descriptor limit leaves: the ingress needs one descriptor per stream plus ~100 of its own),
`floor` = no ingress: tests/bench/sse_floor.c holds as many streams as `after` did and writes
the same delta events (plain and paused) with nothing but one `send` per socket from
INGRESS_SSE_WRITERS (the number of cores) threads, to the same clients. That is the least any
server pays for the fan-out on this machine; `floor.ratio_delta_p99` is the median of
`after`'s deltas' p99 over the median of the floor's, `floor.ratio_paused_p99` the same of the
paused arrivals. BENCH_SSE_MODES picks ("before after floor"). Figures go to
var/bench/sse.json.
"""
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import ingress_support as S  # noqa: E402

PER_CLIENT = 9900
PAUSE_S = 1.0  # clients stopped this long in a paused fan-out
GOALS = {"streams": 20000, "rss_mb": 1024, "fanout_p99_ms": 100, "heartbeat_cpu_pct": 5}


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])  # utime, stime


def cpu_split(pid):
    """(utime, stime) in ticks."""
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]), int(parts[12])


def ctx_switches(pid):
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, int(round(p / 100.0 * (len(sorted_vals) - 1))))
    return sorted_vals[i]


def build_tools():
    """sse_client (plain C) and sse_emit (against the flavour's libcommon.a)."""
    outdir = os.path.join(ROOT, "var", "bench")
    os.makedirs(outdir, exist_ok=True)
    client, emit = os.path.join(outdir, "sse_client"), os.path.join(outdir, "sse_emit")
    floor = os.path.join(outdir, "sse_floor")
    subprocess.run(["cc", "-O2", "-std=c11", "-Wall", "-o", client,
                    os.path.join(ROOT, "tests", "bench", "sse_client.c")], check=True)
    subprocess.run(["cc", "-O2", "-std=c11", "-Wall", "-pthread", "-o", floor,
                    os.path.join(ROOT, "tests", "bench", "sse_floor.c")], check=True)
    build = os.path.dirname(os.environ.get("AGENTHUB_BIN", os.path.join(ROOT, "build", "bin")))
    subprocess.run(["cc", "-O2", "-g", "-std=c11", "-D_GNU_SOURCE", "-I" + ROOT,
                    "-I" + os.path.join(ROOT, "common"), "-I/usr/include/postgresql", "-o", emit,
                    os.path.join(ROOT, "tests", "bench", "sse_emit.c"),
                    os.path.join(build, "lib", "libcommon.a"), "-lrdkafka", "-lpq", "-lhiredis",
                    "-lcurl", "-ljson-c", "-ljwt", "-lssl", "-lcrypto", "-lm", "-ldl", "-pthread"]
                   + (["-fsanitize=address,undefined"] if "asan" in build else []), check=True)
    return client, emit, floor


def fan_out(clients, emitter, line, mark, paused=False):
    """One event to every stream: arms the clients for MARK, emits LINE, returns each
    stream's receipt (read by its client) and arrival (queued on the client's socket by the
    kernel) in ms after the emit, both sorted. PAUSED: the clients are stopped (SIGSTOP) from
    before the emit until PAUSE_S after it, so the sends have the cores to themselves, as
    when the clients are on other machines; then only the arrivals mean anything. (A stream
    written to is not sent a heartbeat for INGRESS_SSE_HEARTBEAT_S, more than PAUSE_S, so the
    last bytes a paused client finds are the event's and the arrival is the event's own.)"""
    for c in clients:
        c.stdin.write("MARK %s\n" % mark)
        c.stdin.flush()
    for c in clients:
        while c.stdout.readline().strip() not in ("ARMED", ""):
            pass
    if paused:
        for c in clients:
            os.kill(c.pid, signal.SIGSTOP)
    emitter.stdin.write(line)
    emitter.stdin.flush()
    t_emit = float(emitter.stdout.readline().split()[0])
    if paused:
        time.sleep(PAUSE_S)
        for c in clients:
            os.kill(c.pid, signal.SIGCONT)
    for c in clients:
        c.stdin.write("GO\n")
        c.stdin.flush()
    times, arrivals = [], []
    for c in clients:
        for out in iter(c.stdout.readline, ""):
            out = out.strip()
            if out == "ROUND_END":
                break
            if out.startswith("MARKED"):
                continue
            try:
                read_at, arrived_at = (float(v) for v in out.split())
            except ValueError:
                continue
            times.append((read_at - t_emit) * 1000.0)
            if arrived_at > 0:
                arrivals.append((arrived_at - t_emit) * 1000.0)
    times.sort()
    arrivals.sort()
    return times, arrivals


def open_clients(clients, client_bin, port, want, reqfile):
    """Starts sse_client processes (appended to CLIENTS) for WANT streams to PORT; returns
    (established, failed) once all of them are READY."""
    left, src = want, 10
    while left > 0:
        n = min(PER_CLIENT, left)
        clients.append(subprocess.Popen(
            [client_bin, str(port), str(n), str(src), reqfile, "event: final", "60"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        left -= n
        src += 8
    established = failed = 0
    for c in clients:
        line = c.stdout.readline().split()
        if len(line) == 3 and line[0] == "READY":
            established += int(line[1])
            failed += int(line[2])
    return established, failed


def delta_rounds(clients, emitter, line_of):
    """BENCH_SSE_ROUNDS - 1 delta fan-outs, one at a time, then BENCH_SSE_PAUSED_ROUNDS (2)
    with the clients paused (fan_out): EMITTER is given LINE_OF(mark). Returns the figures of
    each, in lists."""
    rounds = max(1, int(os.environ.get("BENCH_SSE_ROUNDS", "5")))
    paused_rounds = int(os.environ.get("BENCH_SSE_PAUSED_ROUNDS", "2"))
    d50, d99, dn, a99, p99 = [], [], [], [], []
    for k in range(rounds - 1 + paused_rounds):
        mark = "fanout-%d-%d" % (k, int(time.time() * 1000))
        paused = k >= rounds - 1
        times, arrivals = fan_out(clients, emitter, line_of(mark), mark, paused)
        if paused:
            p99.append(round(pct(arrivals, 99), 1) if len(arrivals) == len(times) else None)
        else:
            dn.append(len(times))
            d50.append(round(pct(times, 50), 1) if times else None)
            d99.append(round(pct(times, 99), 1) if times else None)
            a99.append(round(pct(arrivals, 99), 1) if arrivals else None)
        time.sleep(0.5)
    res = {}
    if dn:
        res.update({"fanout_delta_delivered": dn, "fanout_delta_p50_ms": d50,
                    "fanout_delta_p99_ms": d99, "fanout_delta_arrival_p99_ms": a99})
    if p99:
        res["fanout_delta_paused_arrival_p99_ms"] = p99
    return res


def raise_nofile():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_floor(want, client_bin, floor_bin):
    """The same clients and delta fan-outs as run_mode's, written by sse_floor instead of the
    ingress."""
    port = S.free_port()
    writers = os.environ.get("INGRESS_SSE_WRITERS", str(os.cpu_count() or 1))
    res = {"mode": "floor", "requested": want, "writers": int(writers)}
    floor = subprocess.Popen([floor_bin, str(port), str(want), writers], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, preexec_fn=raise_nofile)
    clients = []
    reqfile = tempfile.NamedTemporaryFile("w", delete=False, suffix=".req")
    reqfile.write("GET /floor HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
    reqfile.close()
    try:
        time.sleep(0.3)  # listening
        established, failed = open_clients(clients, client_bin, port, want, reqfile.name)
        res["streams_held"] = established
        res["streams_failed"] = failed
        if floor.stdout.readline().split()[:1] != ["READY"]:
            raise RuntimeError("sse_floor did not get its %d streams" % want)
        time.sleep(1)
        res.update(delta_rounds(clients, floor, lambda mark: mark + "\n"))
        res["load_average_1m"] = os.getloadavg()[0]
    finally:
        os.unlink(reqfile.name)
        for c in clients:
            c.kill()
            c.wait()
        floor.stdin.close()
        floor.kill()
        floor.wait()
    return res


def median(vals):
    vals = sorted(v for v in vals if v is not None)
    return vals[len(vals) // 2] if vals else None


def run_mode(mode, want, client_bin, emit_bin):
    idle_s = float(os.environ.get("BENCH_SSE_IDLE_S", "30"))
    heartbeat_s = os.environ.get("BENCH_SSE_HEARTBEAT_S", "5")
    env = {"LOG_LEVEL": "warn", "INGRESS_SSE_HEARTBEAT_S": heartbeat_s,
           "INGRESS_MAX_STREAMS": str(want + 100), "INGRESS_MAX_STREAMS_PER_USER": "0",
           "INGRESS_MAX_STREAMS_PER_TENANT": str(want + 100)}
    if mode == "before":
        env.update({"INGRESS_SSE_LOOP": "false", "INGRESS_THREADS": str(want + 200)})
    ing = S.Ingress(env)
    clients = []
    emitter = None
    res = {"mode": mode, "requested": want}
    try:
        tenant = S.unique("bsse")
        ing.ensure_tenant(tenant)
        token = ing.token(tenant=tenant, sub="bench-sse", exp_in=3600)
        st, r, _ = ing.request("POST", "/api/%s/chat" % tenant, {"message": "fan-out"},
                               token=token)
        if st != 202:
            raise RuntimeError("chat not accepted: %s %s" % (st, r))
        job = r["job_id"]
        deadline = time.time() + 60
        while time.time() < deadline and "partitions assigned" not in ing.logs():
            time.sleep(0.2)
        rss0 = proc_status(ing.proc.pid, "VmRSS")
        reqfile = tempfile.NamedTemporaryFile("w", delete=False, suffix=".req")
        reqfile.write("GET /api/%s/jobs/%s/events HTTP/1.1\r\nHost: bench\r\nAuthorization: "
                      "Bearer %s\r\nAccept: text/event-stream\r\n\r\n" % (tenant, job, token))
        reqfile.close()
        t_open = time.time()
        established, failed = open_clients(clients, client_bin, ing.port, want, reqfile.name)
        res["open_s"] = round(time.time() - t_open, 1)
        os.unlink(reqfile.name)
        res["streams_held"] = established
        res["streams_failed"] = failed
        time.sleep(1)
        res["rss_mb"] = round(proc_status(ing.proc.pid, "VmRSS") / 1024, 1)
        res["rss_idle_mb"] = round(rss0 / 1024, 1)
        res["rss_per_stream_kb"] = round((proc_status(ing.proc.pid, "VmRSS") - rss0) /
                                         max(1, established), 1)
        res["threads"] = proc_status(ing.proc.pid, "Threads")
        res["fds"] = len(os.listdir("/proc/%d/fd" % ing.proc.pid))
        # idle: heartbeats (and, on the thread path, every stream's own Redis poll)
        hz = os.sysconf("SC_CLK_TCK")
        c0, x0, t0 = cpu_ticks(ing.proc.pid), ctx_switches(ing.proc.pid), time.time()
        time.sleep(idle_s)
        c1, x1, t1 = cpu_ticks(ing.proc.pid), ctx_switches(ing.proc.pid), time.time()
        res["idle_s"] = round(t1 - t0, 1)
        res["heartbeat_s"] = int(heartbeat_s)
        res["heartbeat_cpu_pct"] = round(100.0 * (c1 - c0) / hz / (t1 - t0), 2)
        res["idle_ctx_switches_per_s"] = round((x1 - x0) / (t1 - t0))
        # fan-out of one final event, written as a stage writes it (jobevents_emit)
        emitter = subprocess.Popen([emit_bin], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        emitter.stdin.write("WARM\n")
        emitter.stdin.flush()
        emitter.stdout.readline()
        time.sleep(1)
        res.update(delta_rounds(clients, emitter, lambda mark: "%s %s %s delta %s\n" % (
            tenant, job, r["session_id"], json.dumps({"text": mark}))))
        # the final event, which also ends every stream; CPU is measured around it
        cpu_emit, split_emit = cpu_ticks(ing.proc.pid), cpu_split(ing.proc.pid)
        # the clients' CPU: what they used before it, and their whole lives once reaped
        clients_before = sum(cpu_ticks(c.pid) for c in clients)
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        times, arrivals = fan_out(clients, emitter, "%s %s %s final %s\n" % (
            tenant, job, r["session_id"], json.dumps({"response": "done"})), "event: final")
        keepalives = 0
        for c in clients:
            c.stdin.write("QUIT\n")
            c.stdin.flush()
            out, _ = c.communicate(timeout=180)
            for line in out.splitlines():
                if line.startswith("KEEPALIVES"):
                    keepalives += int(line.split()[1])
        # CPU the ingress spent from the emit to the last receipt: on a machine whose cores
        # are shared (load average far above 2), wall time is mostly waiting for a core.
        res["fanout_ingress_cpu_ms"] = round((cpu_ticks(ing.proc.pid) - cpu_emit) * 1000.0 / hz)
        split = cpu_split(ing.proc.pid)
        res["fanout_ingress_user_ms"] = round((split[0] - split_emit[0]) * 1000.0 / hz)
        res["fanout_ingress_sys_ms"] = round((split[1] - split_emit[1]) * 1000.0 / hz)
        # the sse_client processes share the same cores: their CPU from GO to their exit
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        res["fanout_clients_cpu_ms"] = round(
            (children1.ru_utime + children1.ru_stime - children0.ru_utime - children0.ru_stime)
            * 1000.0 - clients_before * 1000.0 / hz)
        res["load_average_1m"] = os.getloadavg()[0]
        times.sort()
        res["fanout_delivered"] = len(times)
        res["fanout_p50_ms"] = round(pct(times, 50), 1) if times else None
        res["fanout_p99_ms"] = round(pct(times, 99), 1) if times else None
        res["fanout_max_ms"] = round(times[-1], 1) if times else None
        res["fanout_min_ms"] = round(times[0], 1) if times else None
        res["fanout_arrival_p50_ms"] = round(pct(arrivals, 50), 1) if arrivals else None
        res["fanout_arrival_p99_ms"] = round(pct(arrivals, 99), 1) if arrivals else None
        res["keepalives_seen"] = keepalives
        # the loop's own view: the last write of one read to every stream (sum over reads)
        _, text, _ = ing.request("GET", "/metrics")
        for line in (text or "").splitlines():
            for name in ("ingress_sse_fanout_write_seconds_sum", "ingress_sse_read_seconds_sum",
                         "ingress_sse_fanout_write_seconds_count"):
                if line.startswith(name + " "):
                    res[name.replace("ingress_sse_", "loop_")] = round(float(line.split()[1]), 4)
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait()
        if emitter:
            emitter.stdin.close()
            emitter.wait(timeout=30)
        ing.stop()
    return res


def main():
    own_stack = False
    if S.stack_env_missing() and not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("AGENTHUB_VAR", os.path.join(ROOT, "var", "bench-sse"))
        os.environ.setdefault("AGENTHUB_PORT_BASE", os.environ.get("BENCH_PORT_BASE", "26500"))
        out = subprocess.run([os.path.join(ROOT, "compose", "local", "stack"), "up"],
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            print("bench_sse: stack up failed:\n" + out.stderr[-2000:], file=sys.stderr)
            return 1
        own_stack = True
        for line in out.stdout.splitlines():
            if line.startswith("export "):
                k, _, v = line[7:].partition("=")
                os.environ[k] = v.strip("'\"")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    want_after = int(os.environ.get("BENCH_SSE_STREAMS", "20000"))
    limit_note = None
    if want_after > hard - 150:
        limit_note = ("RLIMIT_NOFILE hard limit %d: the ingress holds at most %d streams "
                      "(one descriptor each plus its own)" % (hard, hard - 150))
        want_after = hard - 150
    want_before = int(os.environ.get("BENCH_SSE_BEFORE_STREAMS", "5000"))
    modes = os.environ.get("BENCH_SSE_MODES", "before after floor").split()
    results = {"goals": GOALS, "nofile_hard": hard}
    if limit_note:
        results["limit"] = limit_note
    try:
        client, emit, floor = build_tools()
        for m in modes:
            if m == "floor":
                held = results.get("after", {}).get("streams_held") or want_after
                results[m] = run_floor(held, client, floor)
            else:
                results[m] = run_mode(m, want_before if m == "before" else want_after,
                                      client, emit)
        if "after" in results and "floor" in results:
            for key, ratio in (("fanout_delta_p99_ms", "ratio_delta_p99"),
                               ("fanout_delta_paused_arrival_p99_ms", "ratio_paused_p99")):
                a = median(results["after"].get(key, []))
                f = median(results["floor"].get(key, []))
                if a and f:
                    results["floor"][ratio] = round(a / f, 2)
    finally:
        if own_stack:
            subprocess.run([os.path.join(ROOT, "compose", "local", "stack"), "down"],
                           capture_output=True, timeout=300)
    goal_of = {"streams_held": ">= %d" % GOALS["streams"], "rss_mb": "<= %d" % GOALS["rss_mb"],
               "fanout_p99_ms": "<= %d" % GOALS["fanout_p99_ms"],
               "fanout_delta_p99_ms": "<= %d each" % GOALS["fanout_p99_ms"],
               "fanout_arrival_p99_ms": "<= %d" % GOALS["fanout_p99_ms"],
               "fanout_delta_arrival_p99_ms": "<= %d each" % GOALS["fanout_p99_ms"],
               "fanout_delta_paused_arrival_p99_ms": "<= %d each" % GOALS["fanout_p99_ms"],
               "heartbeat_cpu_pct": "< %d" % GOALS["heartbeat_cpu_pct"]}
    if limit_note:
        print("sse.note %s" % limit_note)
    for m in modes:
        for k, v in results[m].items():
            if k == "mode":
                continue
            g = goal_of.get(k) if m != "floor" else None
            if k.startswith("ratio_"):
                v = "%s   (after's %s over the floor's, medians)" % (
                    v, "deltas' p99" if k == "ratio_delta_p99" else "paused arrival p99")
            print("sse.%s.%s %s%s" % (m, k, v, "   (goal %s)" % g if g else ""))
    os.makedirs(os.path.join(ROOT, "var", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "var", "bench", "sse.json"), "w") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
