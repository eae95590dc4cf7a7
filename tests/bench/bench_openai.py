#!/usr/bin/python3
"""bench_openai.py — `make bench` section "openai": chats answered per second through
POST /v1/chat/completions (non-streaming: submit and wait for the answer) beside
POST /api/{tenant}/chat's, in one run, on one pipeline (ingress, router, agent, the instant
stand-in LLM), with the ratio; and /api/{tenant}/chat's plain acceptance (202, no wait) for
reference.

  v1_per_s          /v1/chat/completions, model "agenthub" (the supervisor), 200 answers/s
  chat_wait_per_s   /api/{tenant}/chat?wait=30: the same job path, its synchronous answer
  v1_vs_chat_ratio  v1_per_s / chat_wait_per_s (the OpenAI layer's cost; ~1 means none)
  chat_accept_per_s /api/{tenant}/chat: accepted (202) per second, no wait
  v1_key_per_s      /v1/chat/completions with a tenant API key instead of the JWT

Both waiting figures hold a connection per chat until its answer, so they measure the whole
pipeline's throughput at BENCH_OPENAI_CONNECTIONS (32) in flight, not the ingress alone.
Uses the stack env when exported, else its own stack (var/bench-openai, port base
$BENCH_OPENAI_PORT_BASE or 26600). Knobs: BENCH_OPENAI_SECONDS (10), BENCH_OPENAI_CONNECTIONS
(32), BENCH_OPENAI_WARMUP_S (3). Prints `openai.<figure> <value>` and writes
var/bench/openai.json. Needs wrk.
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import pipeline_harness as ph  # noqa: E402

MESSAGE = "what is my debt balance"  # routes to AgentDebt; no tax code, so no tool call


def wrk(port, path, body, token, ok, seconds, conns):
    env = dict(os.environ, BENCH_PATH=path, BENCH_BODY=json.dumps(body), BENCH_TOKEN=token,
               BENCH_OK=str(ok))
    cmd = ["wrk", "-t2", "-c%d" % conns, "-d%ds" % max(1, int(round(seconds))), "--timeout",
           "30s", "-s", os.path.join(HERE, "openai_chat.lua"), "http://127.0.0.1:%d" % port]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120)
    res = None
    for line in out.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            res = json.loads(line[len("WRK_RESULT "):])
    if out.returncode != 0 or res is None:
        raise RuntimeError("wrk failed: %s %s" % (out.stdout[-1000:], out.stderr[-1000:]))
    secs = res["duration_us"] / 1e6
    errors = res["requests"] - res["ok"] + sum(res["socket_errors"].values())
    if errors:
        print("bench_openai: %s: %d errors: %s %s e.g. %s" % (path, errors, res["statuses"],
                                                            res["socket_errors"],
                                                            res["samples"][:2]),
              file=sys.stderr)
    return {"per_s": round(res["ok"] / secs, 1) if secs else 0.0,
            "p50_ms": round(res["p50_us"] / 1000.0, 1), "p99_ms": round(res["p99_us"] / 1000.0, 1),
            "errors": errors}


def own_stack():
    os.environ["AGENTHUB_VAR"] = os.path.join(ROOT, "var", "bench-openai")
    os.environ["AGENTHUB_PORT_BASE"] = os.environ.get("BENCH_OPENAI_PORT_BASE", "26600")
    stack = os.path.join(ROOT, "compose", "local", "stack")
    subprocess.run([stack, "down"], capture_output=True, timeout=300)
    shutil.rmtree(os.environ["AGENTHUB_VAR"], ignore_errors=True)
    out = subprocess.run([stack, "up"], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("stack up failed: " + out.stderr[-2000:])
    for line in out.stdout.splitlines():
        if line.startswith("export "):
            k, _, v = line[7:].partition("=")
            os.environ[k] = v.strip("'\"")


def main():
    if not shutil.which("wrk"):
        print("bench_openai: wrk not installed (compose/local/deps.sh)", file=sys.stderr)
        return 1
    mine = False
    if ph.stack_missing():
        own_stack()
        mine = True
    seconds = float(os.environ.get("BENCH_OPENAI_SECONDS", "10"))
    conns = int(os.environ.get("BENCH_OPENAI_CONNECTIONS", "32"))
    warm = float(os.environ.get("BENCH_OPENAI_WARMUP_S", "3"))
    pl = ph.Pipeline("bench-openai", agents=1)
    res = {"broker": os.environ.get("AGENTHUB_KAFKA", "dev"), "connections": conns,
           "seconds": seconds}
    try:
        pl.start()
        pl.add_tenant("benchoai", "standin-1", agents=("AgentDebt",), tools=())
        token = pl.tokens["benchoai"]
        key = pl.run([os.path.join(ph.BIN, "agenthubctl"), "api-keys", "create", "--tenant",
                      "benchoai", "--name", "bench"]).stdout.strip()
        port = pl.ports["ingress"]
        v1 = {"model": "agenthub", "messages": [{"role": "user", "content": MESSAGE}]}
        chat = {"message": MESSAGE}
        if warm > 0:
            wrk(port, "/v1/chat/completions", v1, token, 200, warm, conns)
            wrk(port, "/api/benchoai/chat?wait=30", chat, token, 200, warm, conns)
        r = wrk(port, "/api/benchoai/chat?wait=30", chat, token, 200, seconds, conns)
        res.update({"chat_wait_per_s": r["per_s"], "chat_wait_p50_ms": r["p50_ms"],
                    "chat_wait_p99_ms": r["p99_ms"], "chat_wait_errors": r["errors"]})
        r = wrk(port, "/v1/chat/completions", v1, token, 200, seconds, conns)
        res.update({"v1_per_s": r["per_s"], "v1_p50_ms": r["p50_ms"], "v1_p99_ms": r["p99_ms"],
                    "v1_errors": r["errors"]})
        r = wrk(port, "/v1/chat/completions", v1, key, 200, seconds, conns)
        res.update({"v1_key_per_s": r["per_s"], "v1_key_errors": r["errors"]})
        r = wrk(port, "/api/benchoai/chat", chat, token, 202, seconds, conns)
        res.update({"chat_accept_per_s": r["per_s"], "chat_accept_errors": r["errors"]})
        res["v1_vs_chat_ratio"] = (round(res["v1_per_s"] / res["chat_wait_per_s"], 3)
                                   if res["chat_wait_per_s"] else None)
    finally:
        pl.stop()
        if mine:
            subprocess.run([os.path.join(ROOT, "compose", "local", "stack"), "down"],
                           capture_output=True, timeout=300)
    for k, v in res.items():
        print("openai.%s %s" % (k, v))
    os.makedirs(os.path.join(ROOT, "var", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "var", "bench", "openai.json"), "w") as f:
        json.dump(res, f, indent=2)
    return 0 if not any(res.get(k) for k in ("v1_errors", "chat_wait_errors")) else 1


if __name__ == "__main__":
    sys.exit(main())
