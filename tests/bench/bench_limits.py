#!/usr/bin/python3
"""bench_limits.py — what the per-tenant request limits and the budget check (issue 14) cost
the ingress's chat accept path: accepted chats/s and p50/p99 with INGRESS_LIMITS off and on,
side by side in one run, and their ratio (goal: on >= 0.90 x off).

Two ingress processes on the same stack, one with INGRESS_LIMITS=false and one with the
checks on and the bench tenant given limits it never reaches (requests per minute and per
user, a token and a money budget), so every accepted chat runs the whole Redis script. The
runs alternate off, on, off, on (BENCH_LIMITS_ROUNDS rounds) with wrk (tests/bench/
ingress_chat.lua) at BENCH_LIMITS_CONNECTIONS (64) for BENCH_CHAT_SECONDS (10) each; the
figures are the medians. Uses the stack env when exported, else brings up its own stack like
bench_ingress.py. Prints `limits.<figure> <value>` lines and writes var/bench/limits.json.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import bench_ingress as B  # noqa: E402
import ingress_support as S  # noqa: E402


def own_stack_up():
    if not S.stack_env_missing() or os.environ.get("DATABASE_URL"):
        return False
    os.environ.setdefault("AGENTHUB_VAR", os.path.join(ROOT, "var", "bench-limits"))
    os.environ.setdefault("AGENTHUB_PORT_BASE", os.environ.get("BENCH_PORT_BASE", "26400"))
    out = subprocess.run([os.path.join(ROOT, "compose", "local", "stack"), "up"],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("stack up failed:\n" + out.stderr[-2000:])
    for line in out.stdout.splitlines():
        if line.startswith("export "):
            k, _, v = line[7:].partition("=")
            os.environ[k] = v.strip("'\"")
    return True


def main():
    if not shutil.which("wrk"):
        print("bench_limits: wrk not installed (compose/local/deps.sh)", file=sys.stderr)
        return 1
    own = own_stack_up()
    conns = int(os.environ.get("BENCH_LIMITS_CONNECTIONS", "64"))
    seconds = float(os.environ.get("BENCH_CHAT_SECONDS", "10"))
    rounds = int(os.environ.get("BENCH_LIMITS_ROUNDS", "2"))
    base = {"INGRESS_THREADS": str(conns + 64), "LOG_LEVEL": "warn"}
    off = S.Ingress(dict(base, INGRESS_LIMITS="false"))
    on = S.Ingress(dict(base, INGRESS_LIMITS="true"))
    res = {"connections": conns, "seconds": seconds, "rounds": rounds}
    try:
        tenant = S.unique("benchlim")
        off.ensure_tenant(tenant)
        token = off.token(tenant=tenant, sub="bench-user")
        token_on = on.token(tenant=tenant, sub="bench-user")
        big = str(10 ** 12)
        subprocess.run(["redis-cli", "-u", os.environ["REDIS_URL"], "HSET",
                        "agenthub:{%s}:limits" % tenant, "rpm", big, "user_rpm", big,
                        "budget_tokens", big, "budget_micros", big, "soft_pct", "80"],
                       check=True, capture_output=True)
        B.warm_up(off, tenant, token, 3, conns)
        B.warm_up(on, tenant, token_on, 3, conns)
        figs = {"off": [], "on": []}
        for _ in range(rounds):
            figs["off"].append(B.run_wrk(off, tenant, token, seconds, conns))
            figs["on"].append(B.run_wrk(on, tenant, token_on, seconds, conns))
        for k in ("off", "on"):
            res["%s_accepted_per_s" % k] = round(
                statistics.median(f["accepted_per_s"] for f in figs[k]), 1)
            res["%s_p50_ms" % k] = round(statistics.median(f["p50_ms"] for f in figs[k]), 2)
            res["%s_p99_ms" % k] = round(statistics.median(f["p99_ms"] for f in figs[k]), 2)
            res["%s_errors" % k] = sum(f["errors"] for f in figs[k])
        res["on_off_ratio"] = round(res["on_accepted_per_s"] / res["off_accepted_per_s"], 3) \
            if res["off_accepted_per_s"] else 0
        res["goal_ratio"] = 0.9
    finally:
        off.stop()
        on.stop()
        if own:
            subprocess.run([os.path.join(ROOT, "compose", "local", "stack"), "down"],
                           capture_output=True, timeout=300)
    print("%-28s %12s %12s" % ("limits", "off", "on"))
    for f in ("accepted_per_s", "p50_ms", "p99_ms", "errors"):
        print("limits.%-21s %12s %12s" % (f, res["off_" + f], res["on_" + f]))
    print("limits.on_off_ratio %s (goal >= %s)" % (res["on_off_ratio"], res["goal_ratio"]))
    os.makedirs(os.path.join(ROOT, "var", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "var", "bench", "limits.json"), "w") as f:
        json.dump(res, f, indent=2)
    return 0 if res["off_errors"] == 0 and res["on_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
