#!/usr/bin/env python3
"""Token streaming (issue 16, goal 3): what the pipeline adds between a token leaving the LLM
and the same text arriving on the client's SSE stream.

The real pipeline (tests/integration/pipeline_harness.py: ingress, router, one agent, the
stand-in LLM) answers BENCH_TOKENS_JOBS (10) chats one after another. The stand-in streams at
BENCH_TOKENS_TPS (50) tokens/s with stamp=1: the message is "debt" followed by
BENCH_TOKENS_PER_JOB (40) "@T@" words, the stand-in echoes it, and each "@T@" leaves it as
"t<wall clock in µs>" at the moment its event is written (tests/standin/llm/main.c). The
client reads the job's SSE stream and, for every stamp in a `delta` event, takes its own wall
clock at the event's arrival minus the stamp (one machine, one clock). Prints the added
latency p50/p99/max over all tokens with the goal (p99 < 5 ms), and tokens per delta event
(how much the agent coalesced). Figures go to var/bench/tokens.json.
"""
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import pipeline_harness as ph  # noqa: E402

GOAL_P99_MS = 5.0
STAMP = re.compile(r"t(\d{16})")


def pct(vals, p):
    i = min(len(vals) - 1, int(round(p / 100.0 * (len(vals) - 1))))
    return vals[i]


def main():
    own_stack = False
    if ph.stack_missing() and not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("AGENTHUB_VAR", os.path.join(ROOT, "var", "bench-tokens"))
        os.environ.setdefault("AGENTHUB_PORT_BASE", os.environ.get("BENCH_PORT_BASE", "26600"))
        out = subprocess.run([os.path.join(ROOT, "compose", "local", "stack"), "up"],
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            print("bench_tokens: stack up failed:\n" + out.stderr[-2000:], file=sys.stderr)
            return 1
        own_stack = True
        for line in out.stdout.splitlines():
            if line.startswith("export "):
                k, _, v = line[7:].partition("=")
                os.environ[k] = v.strip("'\"")
    why = ph.stack_missing()
    if why:
        print("bench_tokens: " + why, file=sys.stderr)
        return 1
    jobs = int(os.environ.get("BENCH_TOKENS_JOBS", "10"))
    per_job = int(os.environ.get("BENCH_TOKENS_PER_JOB", "40"))
    tps = int(os.environ.get("BENCH_TOKENS_TPS", "50"))
    p = ph.Pipeline("tokens", llm_model="standin-1@tps=%d,stamp=1" % tps)
    lat, per_event, errors = [], [], 0
    try:
        p.start()
        p.chat("warm up")  # caches, connections, the consumers' first fetch
        time.sleep(2)
        for _ in range(jobs):
            try:
                r = p.chat("debt " + " ".join(["@T@"] * per_job))
            except AssertionError:
                errors += 1
                continue
            for t, ev, data in p.events(r["job_id"], timeout=60, timed=True):
                if ev != "delta" or not isinstance(data, dict):
                    continue
                stamps = STAMP.findall(data.get("text", ""))
                if stamps:
                    per_event.append(len(stamps))
                for s in stamps:
                    lat.append((t * 1e6 - int(s)) / 1000.0)
    finally:
        p.stop()
        if own_stack:
            subprocess.run([os.path.join(ROOT, "compose", "local", "stack"), "down"],
                           capture_output=True, timeout=300)
    lat.sort()
    res = {"jobs": jobs, "tokens_per_job": per_job, "tps": tps, "tokens_seen": len(lat),
           "chat_errors": errors, "load_average_1m": os.getloadavg()[0]}
    if lat:
        res.update({"added_p50_ms": round(pct(lat, 50), 2), "added_p99_ms": round(pct(lat, 99), 2),
                    "added_max_ms": round(lat[-1], 2),
                    "tokens_per_delta_event": round(sum(per_event) / len(per_event), 2)})
    for k, v in res.items():
        print("tokens.%s %s%s" % (k, v, "   (goal < %.0f)" % GOAL_P99_MS
                                  if k == "added_p99_ms" else ""))
    os.makedirs(os.path.join(ROOT, "var", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "var", "bench", "tokens.json"), "w") as f:
        json.dump(res, f, indent=2)
    return 0 if lat else 1


if __name__ == "__main__":
    sys.exit(main())
