#!/usr/bin/env bash
# tests/bench/run.sh — `make bench`: every benchmark section, one after another.
#
# Each section is a function below (bench_<name>) that prints `<section>.<figure> <value>`
# lines and writes var/bench/<section>.json. Sections run with the binaries in $AGENTHUB_BIN
# (default build/bin). A section script that finds no stack env brings up its own stack
# (compose/local/stack) on its own port base and takes it down. Any tests/bench/bench_*.py
# without a function of its own is run as well.
#
#   tests/bench/run.sh [SECTION...]     e.g. tests/bench/run.sh ingress
#
# Speed goals live here as figures, never as timed assertions in tests.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=/usr/bin/python3
export AGENTHUB_BIN=${AGENTHUB_BIN:-$ROOT/build/bin}
mkdir -p var/bench
# The harnesses' process folders go to a TMPDIR of the run's own, removed at the end.
export TMPDIR
TMPDIR=$(mktemp -d /tmp/agenthub-bench.XXXXXX)
trap 'rm -rf "$TMPDIR"' EXIT

status=0

# The broker sections (ingress, pipeline) run on each broker in BENCH_BROKERS (default "dev
# kafka": the dev broker, then a one-node real Apache Kafka), one after the other in this run,
# each on a stack of its own; `compare` then prints their figures side by side with ratios.
BENCH_BROKERS=${BENCH_BROKERS:-dev kafka}

# ---- ingress: accepted chat submissions/s (p50/p99) and SSE streams held by one process ----
# (and the same accept path against the seed's stack, tests/bench/seed_peer/, alternately with
# the other paused, and p50/p99 at a fixed offered load, tests/bench/openloop.c)
# (SSE streams do not touch the broker: they are measured on the first broker only.)
bench_ingress() {
  local b first=1
  for b in $BENCH_BROKERS; do
    echo "-- broker $b"
    if [ $first -eq 1 ]; then
      AGENTHUB_KAFKA=$b AGENTHUB_KAFKA_JVM_OPTS= "$PY" tests/bench/bench_ingress.py || { echo "bench ingress ($b): FAILED"; status=1; }
    else
      AGENTHUB_KAFKA=$b AGENTHUB_KAFKA_JVM_OPTS= BENCH_SSE_STREAMS=0 "$PY" tests/bench/bench_ingress.py || { echo "bench ingress ($b): FAILED"; status=1; }
    fi
    first=0
  done
}

# ---- pipeline: overhead p50/p99 (submit -> final minus the stand-in), jobs in flight in one
# agent process with a 2 s LLM (goal >= 10000, RSS <= 500 MB, CPU ms per job), throughput with 1 and 2 agent processes ----
bench_pipeline() {
  local b
  for b in $BENCH_BROKERS; do
    echo "-- broker $b"
    AGENTHUB_KAFKA=$b AGENTHUB_KAFKA_JVM_OPTS= "$PY" tests/bench/bench_pipeline.py || { echo "bench pipeline ($b): FAILED"; status=1; }
  done
}

# ---- faults: the Kafka fault suite (tests/integration/test_faults_kafka.py) at a larger size
# (BENCH_FAULT_JOBS, default 4000, at BENCH_FAULT_RATE 25/s) on a three-node cluster of its
# own: its counts (accepted, refused, done, error, lost, duplicated, out of order). ----
bench_faults() {
  local env out rc
  env=(AGENTHUB_VAR="$ROOT/var/bench-faults" AGENTHUB_PORT_BASE="${BENCH_FAULTS_PORT_BASE:-28400}"
       AGENTHUB_KAFKA=kafka AGENTHUB_KAFKA_NODES=3)
  env "${env[@]}" compose/local/stack down >/dev/null 2>&1
  rm -rf "$ROOT/var/bench-faults"
  if ! out=$(env "${env[@]}" compose/local/stack up 2>var/bench/faults-stack.log); then
    echo "bench faults: FAILED (stack up; var/bench/faults-stack.log)"; status=1; return
  fi
  ( eval "$out"; export "${env[@]}"
    FAULT_JOBS=${BENCH_FAULT_JOBS:-4000} FAULT_RATE=${BENCH_FAULT_RATE:-25} \
      "$PY" -m unittest tests/integration/test_faults_kafka.py >var/bench/faults.log 2>&1 )
  rc=$?
  env "${env[@]}" compose/local/stack down >/dev/null 2>&1
  grep -h '^kafka faults:' var/bench/faults.log | sed 's/^kafka faults: /faults.summary /'
  [ $rc -eq 0 ] || { echo "bench faults: FAILED (var/bench/faults.log)"; status=1; }
}

# ---- compare: the broker sections' figures of this run side by side (kafka / dev ratio) ----
bench_compare() {
  "$PY" - $BENCH_BROKERS <<'EOPY'
import json, os, sys
brokers = sys.argv[1:]
for section in ("ingress", "pipeline"):
    runs = {}
    for b in brokers:
        try:
            with open(os.path.join("var", "bench", "%s-%s.json" % (section, b))) as f:
                runs[b] = json.load(f)
        except (OSError, ValueError):
            pass
    if len(runs) < 2:
        continue
    for r in runs.values():   # the ingress curve, one figure per connection count
        for c in r.pop("chat_curve", None) or []:
            r["chat_accepted_per_s_at_%d" % c["connections"]] = c["accepted_per_s"]
            r["chat_p99_ms_at_%d" % c["connections"]] = c["p99_ms"]
    a, b = brokers[0], brokers[1]
    keys = [k for k, v in runs[a].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and isinstance(runs[b].get(k), (int, float))]
    print("%-44s %12s %12s %8s" % (section, a, b, "%s/%s" % (b, a)))
    for k in keys:
        x, y = runs[a][k], runs[b][k]
        ratio = "%.2f" % (y / x) if x else "-"
        print("compare.%s.%-34s %12s %12s %8s" % (section, k, x, y, ratio))
EOPY
}

# ---- llm: streaming LLM calls one process holds against a slow stand-in (2 s to first token,
# goal >= 2000 open streams), calls/s, CPU per call, peak RSS. tests/bench/bench_llm.c is built
# here against the flavour's libraries (BENCH_LLM_* env tunes it, see the file). ----
bench_llm() {
  local build=${AGENTHUB_BIN%/bin} bin=var/bench/bench_llm
  if ! cc -O2 -g -std=c11 -D_GNU_SOURCE -I. -Icommon -Illm -Itools -I/usr/include/postgresql \
       -o "$bin" tests/bench/bench_llm.c "$build/lib/libllm.a" "$build/lib/libcommon.a" \
       -lrdkafka -lpq -lhiredis -lcurl -ljson-c -ljwt -lssl -lcrypto -lm -ldl -pthread; then
    echo "bench llm: FAILED (build)"; status=1; return
  fi
  "$bin" var/bench/llm.json || { echo "bench llm: FAILED"; status=1; }
}

# ---- sse (bench_sse.py) and tokens (bench_tokens.py) run as the generic sections below:
# streams held by one ingress, RSS, heartbeat CPU and the fan-out of one event, thread path
# (before) vs the SSE loop (after), beside the floor (a bare sender's sends to the same
# clients); the latency the pipeline adds to a streamed token (issue 16). `tests/bench/run.sh sse tokens` runs just them.

sections=("$@")
if [ ${#sections[@]} -eq 0 ]; then
  sections=(ingress pipeline llm compare faults)
  for f in tests/bench/bench_*.py; do
    n=$(basename "$f" .py); n=${n#bench_}
    case " ${sections[*]} " in *" $n "*) ;; *) sections+=("$n") ;; esac
  done
fi

for s in "${sections[@]}"; do
  echo "== bench $s"
  if declare -F "bench_$s" >/dev/null; then
    "bench_$s"
  elif [ -f "tests/bench/bench_$s.py" ]; then
    "$PY" "tests/bench/bench_$s.py" || { echo "bench $s: FAILED"; status=1; }
  else
    echo "bench $s: no such section"; status=1
  fi
done
exit $status
