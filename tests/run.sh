#!/usr/bin/env bash
# tests/run.sh — runs every suite and closes with one line: "N passed, N failed, N skipped".
#
#   tests/run.sh --build build [--build-san build-asan] [--only unit|integration|fuzz]
#
# For each build flavour: the unit tests (cmocka binaries), then — with the local stack
# (PostgreSQL, Redis, Kafka, ChromaDB) brought up for the flavour and always torn down — the C
# integration tests and the Python integration tests (which spawn the real binaries of that
# flavour). Then a short libFuzzer run of each fuzz target.
#
# The flavours run side by side, each on a stack of its own (var/test-stack/<flavour>, port base
# AGENTHUB_TEST_PORT_BASE (25400) for the first flavour, +100 for the second): the integration
# suites mostly wait (timeouts, brokers, processes starting), so two at once take little longer
# than one. The suites named in CPU_HEAVY (a browser, a real model, OCR, latency assertions)
# take a lock, so only one of them runs at a time across the flavours. TEST_PARALLEL=0 runs the
# flavours one after the other. Each finished suite prints one line (or one block) at once; the
# flavour is its label's first part.
#
# Brokers: the plain build's integration suites (delivery and fault suites included) run on a
# real three-node Apache Kafka cluster (KRaft, replication 3, min.insync.replicas 2; fetched
# from Maven Central on first use, compose/local/kafka-fetch); the sanitizer build's on the dev
# broker (librdkafka's mock cluster), which is quick. TEST_KAFKA_PLAIN / TEST_KAFKA_SAN (kafka
# or dev) and TEST_KAFKA_NODES (3) change that.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

builds=()
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build|--build-san) builds+=("$2"); shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "usage: tests/run.sh --build DIR [--build-san DIR] [--only unit|integration|fuzz]" >&2; exit 2 ;;
  esac
done
[ ${#builds[@]} -gt 0 ] || builds=(build)

PY=/usr/bin/python3            # Debian's python: python3-jwt and python3-cryptography live there
passed=0 failed=0 skipped=0
failures=()
LOGDIR=$ROOT/var/test-logs
mkdir -p "$LOGDIR"
RUN_STAMP=$(mktemp "$LOGDIR/.run-start.XXXXXX")   # for the tidy check at the end

note_fail() { failures+=("$1"); }
# One suite's report in one write, so the lines of two flavours running at once never mix.
report() { printf '%s\n' "$1"; }

# Every suite gets a temporary folder of its own (TMPDIR: Python's tempfile, mkstemp, Chromium,
# the harnesses' process folders all use it). It is deleted when the suite passed; a failed
# suite's folder is kept as var/test-logs/<suite>.tmp for debugging. Nothing is left in /tmp.
suite_tmp_begin() { SUITE_TMP=$(mktemp -d /tmp/agenthub-suite.XXXXXX); }
suite_tmp_end() {
  local label=$1 nfailed=$2 keep
  keep="$LOGDIR/$(echo "$label" | tr '/ ' '__').tmp"
  rm -rf "$keep"
  if [ "$nfailed" -gt 0 ] && [ -n "$(ls -A "$SUITE_TMP" 2>/dev/null)" ]; then
    mv "$SUITE_TMP" "$keep" 2>/dev/null || rm -rf "$SUITE_TMP"
  else
    rm -rf "$SUITE_TMP"
  fi
}

# cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)".
run_cmocka() {
  local bin=$1 label=$2 out rc p f
  suite_tmp_begin
  out=$(TMPDIR=$SUITE_TMP with_cpu_lock "$label" "$bin" 2>&1); rc=$?
  echo "$out" > "$LOGDIR/$(echo "$label" | tr '/ ' '__').log"
  p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  p=${p:-0}; f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi     # crashed, sanitizer report, ...
  suite_tmp_end "$label" "$f"
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -gt 0 ]; then
    note_fail "$label"
    report "FAIL $label ($p passed, $f failed)
$(echo "$out" | tail -40 | sed 's/^/    /')"
  else
    report "ok   $label ($p passed)"
  fi
}

# unittest prints "Ran N tests" then "OK", "OK (skipped=S)" or "FAILED (failures=A, errors=B, skipped=S)".
run_pytest() {
  local file=$1 label=$2 out rc n a b s
  suite_tmp_begin
  out=$(cd "$ROOT" && TMPDIR=$SUITE_TMP with_cpu_lock "$label" timeout 900 "$PY" -m unittest -v "$file" 2>&1); rc=$?
  echo "$out" > "$LOGDIR/$(echo "$label" | tr '/ ' '__').log"
  n=$(echo "$out" | sed -n 's/^Ran \([0-9]*\) test.*/\1/p' | tail -1); n=${n:-0}
  a=$(echo "$out" | tail -3 | grep -o 'failures=[0-9]*' | cut -d= -f2); a=${a:-0}
  b=$(echo "$out" | tail -3 | grep -o 'errors=[0-9]*' | cut -d= -f2); b=${b:-0}
  s=$(echo "$out" | tail -3 | grep -o 'skipped=[0-9]*' | cut -d= -f2); s=${s:-0}
  if [ "$rc" -ne 0 ] && [ $((a + b)) -eq 0 ]; then b=1; fi
  suite_tmp_end "$label" $((a + b))
  passed=$((passed + n - a - b - s)); failed=$((failed + a + b)); skipped=$((skipped + s))
  if [ $((a + b)) -gt 0 ]; then
    note_fail "$label"
    report "FAIL $label ($((n - a - b - s)) passed, $((a + b)) failed)
$(echo "$out" | grep -E '^(FAIL|ERROR):|Error|assert' | head -30 | sed 's/^/    /')"
  else
    report "ok   $label ($((n - a - b - s)) passed, $s skipped)"
  fi
}

# Suites that use much CPU, or assert latencies that a busy machine would stretch: a browser, a
# real model, OCR, a second stack, the fault suites. One of them at a time across the flavours.
CPU_HEAVY=" $(echo test_real_model test_web_console test_web_admin test_web_eventsource \
  test_documents test_documents_pdf test_documents_chat test_security_documents \
  test_ingress_sseloop test_e2e_demo test_stack test_faults_kafka test_faults_pipeline) "
CPU_LOCK=$LOGDIR/.cpu-heavy.lock
with_cpu_lock() {   # $1 the suite's label, then the command
  local label=$1; shift
  case "$CPU_HEAVY" in
    *" ${label##*/} "*) flock "$CPU_LOCK" "$@" ;;
    *) "$@" ;;
  esac
}

stack_up=0
stack_kind=""
stack_down() {
  if [ $stack_up -eq 1 ]; then
    compose/local/stack down >/dev/null 2>&1
    stack_up=0
  fi
}

# $1: the broker for this flavour (kafka | dev).
bring_stack_up() {
  local kind=$1
  export AGENTHUB_KAFKA=$kind AGENTHUB_KAFKA_NODES=${TEST_KAFKA_NODES:-3}
  local envout
  if ! envout=$(compose/local/stack up 2>"$LOGDIR/stack-$flavour.log"); then
    report "FAIL $flavour/stack: compose/local/stack up failed
$(tail -20 "$LOGDIR/stack-$flavour.log" | sed 's/^/    /')"
    failed=$((failed + 1)); note_fail "$flavour/stack"
    return 1
  fi
  eval "$envout"
  stack_up=1 stack_kind=$kind
  report "stack: $flavour: $kind broker ($KAFKA_BROKERS)"
}

# Writes what a lane counted, for the closing line.
lane_counts() { echo "$passed $failed $skipped ${failures[*]}" >"$LOGDIR/.lane-$1"; }

# One flavour, in a subshell of its own: $1 the build folder, $2 its stack's port base. The test
# stack lives apart from a running demo, and from the other flavour's: its own folder and ports.
run_flavour() {
  B=$1
  case "$B" in *asan*) flavour=asan ;; *) flavour=plain ;; esac
  export AGENTHUB_VAR=$ROOT/var/test-stack/$flavour AGENTHUB_PORT_BASE=$2
  trap 'stack_down; lane_counts "$flavour"' EXIT
  trap 'exit 130' INT TERM
  if [ -z "$only" ] || [ "$only" = unit ]; then
    for t in "$B"/tests/unit/test_*; do
      [ -x "$t" ] || continue
      run_cmocka "$t" "$flavour/unit/$(basename "$t")"
    done
  fi
  if [ -z "$only" ] || [ "$only" = integration ]; then
    if [ "$flavour" = asan ]; then kind=${TEST_KAFKA_SAN:-dev}; else kind=${TEST_KAFKA_PLAIN:-kafka}; fi
    bring_stack_up "$kind" || return 0
    export AGENTHUB_BIN=$ROOT/$B/bin
    for t in "$B"/tests/integration/test_*; do
      [ -x "$t" ] || continue
      run_cmocka "$t" "$flavour/integration/$(basename "$t")"
    done
    for t in tests/integration/test_*.py; do
      [ -f "$t" ] || continue
      run_pytest "$t" "$flavour/integration/$(basename "$t" .py)"
    done
  fi
}

# A short libFuzzer run of each target, CPU-bound: under the lock, beside the flavours.
run_fuzz() {
  trap 'lane_counts fuzz' EXIT
  trap 'exit 130' INT TERM
  if flock "$CPU_LOCK" make -s fuzz >"$LOGDIR/fuzz-build.log" 2>&1; then
    for f in build-fuzz/fuzz_*; do
      [ -x "$f" ] || continue
      name=$(basename "$f")
      corpus=tests/fuzz/corpus/${name#fuzz_}
      mkdir -p "var/fuzz/$name"
      if flock "$CPU_LOCK" "$f" -max_total_time="${FUZZ_SECONDS:-20}" -rss_limit_mb=2048 \
           -artifact_prefix="$LOGDIR/$name-" "var/fuzz/$name" \
           $( [ -d "$corpus" ] && echo "$corpus" ) >"$LOGDIR/$name.log" 2>&1; then
        passed=$((passed + 1)); report "ok   fuzz/$name"
      else
        # The search is random: what failed, and the input that did it (Base64, for
        # "base64 -d > x; $f x"), come first, before the trace a cut-short log may lose.
        failed=$((failed + 1)); note_fail "fuzz/$name"
        report "FAIL fuzz/$name
$(grep -a -E "^$name: |^SUMMARY: |^Base64: |^artifact_prefix|Test unit written to" \
    "$LOGDIR/$name.log" | cut -c1-4000 | sed 's/^/    /')
$(tail -12 "$LOGDIR/$name.log" | sed 's/^/    /')"
      fi
    done
  else
    failed=$((failed + 1)); note_fail fuzz-build
    report "FAIL fuzz build
$(tail -20 "$LOGDIR/fuzz-build.log")"
  fi
}

lanes=()
lane_pids=()
rm -f "$LOGDIR"/.lane-*
start_lane() {   # $1 name, then the function and its arguments
  local name=$1; shift
  lanes+=("$name")
  if [ "${TEST_PARALLEL:-1}" = 0 ]; then
    ( "$@" )
  else
    ( "$@" ) &
    lane_pids+=($!)
  fi
}
trap 'kill "${lane_pids[@]}" 2>/dev/null; wait; exit 130' INT TERM

base=${AGENTHUB_TEST_PORT_BASE:-25400}
for B in "${builds[@]}"; do
  case "$B" in *asan*) start_lane asan run_flavour "$B" "$base" ;; *) start_lane plain run_flavour "$B" "$base" ;; esac
  base=$((base + 100))
done
if { [ -z "$only" ] || [ "$only" = fuzz ]; } && command -v clang >/dev/null 2>&1; then
  start_lane fuzz run_fuzz
fi
wait

for name in "${lanes[@]}"; do
  if ! read -r p f s names <"$LOGDIR/.lane-$name" 2>/dev/null; then
    failed=$((failed + 1)); failures+=("$name (the lane reported no counts)"); continue
  fi
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  [ -n "$names" ] && failures+=($names)
done
rm -f "$LOGDIR"/.lane-*

# Tidy: what the suites made in /tmp (the prefixes the tests and their tools use) is gone.
left=$(find /tmp -maxdepth 1 -newer "$RUN_STAMP" \( -name 'agenthub-*' -o -name 'ingress-test-*' \
        -o -name 'docworker-test-*' -o -name 'chromium-test-*' -o -name 'probe-pages-*' \
        -o -name 'keygen-*' -o -name 'demo-secrets-*' -o -name 'strace-*' -o -name 'kcatgroup*' \
        -o -name 'devbroker*' -o -name '.org.chromium.*' \) 2>/dev/null | head -20)
rm -f "$RUN_STAMP"
if [ -n "$left" ]; then
  failed=$((failed + 1)); note_fail tidy
  echo "FAIL tidy: the suites left these in /tmp:"; echo "$left" | sed 's/^/    /'
else
  passed=$((passed + 1)); echo "ok   tidy: the suites left nothing in /tmp"
fi

echo
[ ${#failures[@]} -gt 0 ] && echo "failed suites: ${failures[*]}"
echo "logs: $LOGDIR"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
