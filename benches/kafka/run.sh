#!/usr/bin/env bash
# The Kafka mode's throughput and latency harness (not a test), broker
# included, on this machine:
#
#   benches/kafka/run.sh throughput N     # N payments published first, then `paymatch run` drains them
#                                         # (after a warm-up round of WARMUP_PAYMENTS=100000, not measured)
#   benches/kafka/run.sh latency RATE S   # payments published at RATE/s for S seconds while paymatch runs
#                                         # (after WARMUP_SECONDS=30 s of warm-up at the same rate, not measured;
#                                         # the load generator lingers PACE_LINGER_MS=5 ms, as a gateway's producer)
#
# A broker of its own (scripts/kafka.sh on port 19092, removed at the end),
# data from `paymatch generate` (20k customers). Prints payments/s, or the
# p50/p99 latency from a payment's append to its restore command's commit.
# Throughput is timed from stage 1's first commit (its first decisions
# visible) to its commit of the last payment ("decided") and to stage 2's
# commit of the last decision ("applied"), read from the consumer groups'
# committed offsets (`kafka_load watch`); DRAIN_READER=1 reads every
# decision instead (`kafka_load drain`, the method before session 28).
# PAYMATCH_KAFKA__PARTITIONS=1 runs with one partition per topic, as one
# instance is sized (BENCHMARKS, Kafka "Session 22"); the default is 4.
# PAYMATCH_RUN_BIN=path runs that `paymatch` binary as the service (A/B
# comparisons of two builds on the same harness).
set -euo pipefail
MODE="${1:-throughput}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
source scripts/env.sh
scripts/setup.sh >&2
cargo build --release -p pipeline --bin paymatch >&2
cargo build --release -p benches --bin kafka_load >&2
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d /tmp/paymatch-kafka-bench.XXXXXX)"
export PAYMATCH_KAFKA_PORT=19092 PAYMATCH_KAFKA_DATA="$WORK/broker"
export PAYMATCH_KAFKA__BROKERS=127.0.0.1:19092 PAYMATCH_SERVICE__INSTANCE_ID=bench \
       PAYMATCH_SERVICE__STATE_DIR="$WORK/state" PAYMATCH_SERVICE__METRICS_LISTEN=127.0.0.1:19464
# As docker/compose.yaml runs the service: mimalloc keeps freed memory
# (docs/OPERATING.md, "Memory pages"; BENCHMARKS, Kafka "Session 29").
export MIMALLOC_PURGE_DELAY="${MIMALLOC_PURGE_DELAY:--1}"
cleanup() { [ -n "${PM:-}" ] && kill "$PM" 2>/dev/null; wait 2>/dev/null; scripts/kafka.sh down >&2; rm -rf "$WORK"; }
trap cleanup EXIT
scripts/kafka.sh up >&2
BROKER_PID="$(cat "${PAYMATCH_KAFKA_HOME:-$HOME/.cache/paymatch-kafka}/broker-19092.pid")"
# CPU seconds (user + system) a process has used so far.
cpu_seconds() { awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / t}' "/proc/$1/stat"; }
# The broker's threads as "tid group ticks" lines: its JIT compilers (C1,
# C2: they kept compiling through the measured round, whatever the
# warm-up; BENCHMARKS, Kafka "Session 27"), its garbage collector, request
# handling (the data-plane network and handler threads) and the rest.
broker_threads() {
  local task f
  for task in /proc/"$1"/task/*; do
    read -r -a f < <(sed 's/.*) //' "$task/stat" 2>/dev/null) || continue
    printf '%s\t%s\t%s\n' "${task##*/}" "$(cat "$task/comm" 2>/dev/null)" "$((f[11] + f[12]))"
  done | awk -F'\t' '
    { g = "rest" }
    $2 ~ /^C[12] Compiler/ { g = "jit" }
    $2 ~ /^(Z|GC Thread|G1 |VM Thread|Conc|RuntimeWorker)/ { g = "gc" }
    $2 ~ /^data-plane-kafk/ { g = "requests" }
    { print $1, g, $3 }'
}
# Each group's CPU seconds between two broker_threads readings (files).
# The JVM ends idle compiler threads; what ended threads used in between
# is not in any group ("ended").
broker_threads_delta() {
  awk -v t="$(getconf CLK_TCK)" -v total="$3" '
    NR == FNR { before[$1] = $3; next }
    { s[$2] += ($3 - before[$1]) / t; sum += ($3 - before[$1]) / t }
    END { printf "jit %.1f s, gc %.1f s, requests %.1f s, rest %.1f s, ended threads %.1f s\n",
          s["jit"], s["gc"], s["requests"], s["rest"], total - sum }' "$1" "$2"
}
case "$MODE" in
  throughput) MEASURED="${2:-1000000}"; WARM_N="${WARMUP_PAYMENTS:-100000}"; N=$((MEASURED + WARM_N)) ;;
  latency) RATE="${2:-20000}"; SECS="${3:-30}"; WARM="${WARMUP_SECONDS:-30}"; N=$((RATE * (SECS + WARM))) ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
"$BIN/paymatch" --quiet generate --out "$WORK/data" --customers 20000 --payments "$N" --seed 5 >/dev/null
INPUTS=$(grep -c . "$WORK/data/payments.jsonl")
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); Apache Kafka on the same machine"
echo "partitions per topic: ${PAYMATCH_KAFKA__PARTITIONS:-4} (PAYMATCH_KAFKA__PARTITIONS; one instance needs 1: docs/KAFKA.md)"
"$BIN/paymatch" topics create >&2
"$BIN/paymatch" --quiet publish customers "$WORK/data/customers.jsonl" >/dev/null
"$BIN/paymatch" --quiet publish invoices "$WORK/data/invoices.jsonl" >/dev/null
if [ "$MODE" = throughput ]; then
  # Warm-up round (not measured): a freshly started broker spends about
  # half its CPU in its JIT compilers for the first tens of seconds of
  # transactional traffic; a broker in production is warm. The same
  # pipeline drains WARMUP_PAYMENTS first, then stops, as a restart would.
  head -n "$WARM_N" "$WORK/data/payments.jsonl" > "$WORK/warm.jsonl"
  tail -n +$((WARM_N + 1)) "$WORK/data/payments.jsonl" > "$WORK/measure.jsonl"
  WARM_INPUTS=$(grep -c . "$WORK/warm.jsonl" || true)
  INPUTS=$(grep -c . "$WORK/measure.jsonl")
  if [ "$WARM_INPUTS" -gt 0 ]; then
    "$BIN/paymatch" --quiet publish payments "$WORK/warm.jsonl" >/dev/null
    echo "warm-up: $WARM_INPUTS payments (not measured)"
    "${PAYMATCH_RUN_BIN:-$BIN/paymatch}" run 2> "$WORK/warm.log" &
    PM=$!
    "$BIN/kafka_load" --brokers 127.0.0.1:19092 drain --inputs "$WARM_INPUTS" >/dev/null
    kill -TERM "$PM"; wait "$PM" || true; PM=
  fi
  "$BIN/paymatch" --quiet publish payments "$WORK/measure.jsonl" >/dev/null
  echo "published $INPUTS payments; starting paymatch run"
  BROKER_CPU0=$(cpu_seconds "$BROKER_PID"); broker_threads "$BROKER_PID" > "$WORK/broker0.txt"
  "${PAYMATCH_RUN_BIN:-$BIN/paymatch}" run 2> "$WORK/run.log" &
  PM=$!
  # The clock: the stages' committed offsets, polled every 10 ms
  # (`kafka_load watch`); DRAIN_READER=1 reads every decision instead, as
  # before session 28, on the same two cores (its CPU is printed).
  if [ -n "${DRAIN_READER:-}" ]; then
    TIMEFORMAT="drain reader: %U s user, %S s system CPU"
    time "$BIN/kafka_load" --brokers 127.0.0.1:19092 drain --skip "$WARM_INPUTS" --inputs "$INPUTS"
  else
    TIMEFORMAT="watcher: %U s user, %S s system CPU"
    time "$BIN/kafka_load" --brokers 127.0.0.1:19092 watch --skip "$WARM_INPUTS"
  fi
  curl -s 127.0.0.1:19464/metrics | grep -E '^paymatch_(transaction_commit_seconds|transaction_commit_step_seconds|transaction_records)_(sum|count)' || true
else
  PAYMATCH_LOG=info "${PAYMATCH_RUN_BIN:-$BIN/paymatch}" run 2> "$WORK/run.log" &
  PM=$!
  # Measure the steady state: both stages have joined their groups.
  until [ "$(grep -c ' assigned' "$WORK/run.log")" -ge 2 ]; do sleep 0.5; done
  sleep 2
  # Warm-up (not measured): the first WARMUP_SECONDS (30) of payments at the
  # same rate, so the broker's JIT and paymatch's caches are warm (after
  # 10 s the broker's C2 compiler still took a tenth of a core).
  head -n $((RATE * WARM)) "$WORK/data/payments.jsonl" > "$WORK/warm.jsonl"
  tail -n +$((RATE * WARM + 1)) "$WORK/data/payments.jsonl" > "$WORK/measure.jsonl"
  if [ "$WARM" -gt 0 ]; then
    echo "warm-up: $WARM s at $RATE/s (not measured)"
    "$BIN/kafka_load" --brokers 127.0.0.1:19092 pace --payments "$WORK/warm.jsonl" --rate "$RATE" --linger-ms "${PACE_LINGER_MS:-5}" >/dev/null
  fi
  BROKER_CPU0=$(cpu_seconds "$BROKER_PID"); broker_threads "$BROKER_PID" > "$WORK/broker0.txt"
  "$BIN/kafka_load" --brokers 127.0.0.1:19092 pace --payments "$WORK/measure.jsonl" --rate "$RATE" --linger-ms "${PACE_LINGER_MS:-5}"
  curl -s 127.0.0.1:19464/metrics | grep -E "^paymatch_(end_to_end_seconds|transaction_commit_seconds|transaction_commit_step_seconds|transaction_records)_(sum|count)" || true
fi
broker_threads "$BROKER_PID" > "$WORK/broker1.txt"
BROKER_CPU=$(awk -v a="$BROKER_CPU0" -v b="$(cpu_seconds "$BROKER_PID")" 'BEGIN {printf "%.1f", b - a}')
echo "broker: $BROKER_CPU s CPU while measured (user + system); by thread: $(broker_threads_delta "$WORK/broker0.txt" "$WORK/broker1.txt" "$BROKER_CPU")"
ticks=$(getconf CLK_TCK)
read -r utime stime < <(awk '{print $14, $15}' "/proc/$PM/stat")
echo "paymatch run: $((utime / ticks)) s user, $((stime / ticks)) s system CPU; peak RSS $(awk '/VmHWM/ {print $2}' "/proc/$PM/status") KiB"
# The same by thread (start-up included): each stage's thread, librdkafka's
# threads, the rest; and their minor page faults (on this VM a page's first
# touch is dear: BENCHMARKS, Kafka "Session 25").
for task in /proc/"$PM"/task/*; do
  # The fields after the name, which may hold spaces: state is $1, so
  # minflt (stat's 10th) is $8, utime and stime (14th, 15th) $12 and $13.
  read -r -a f < <(sed 's/.*) //' "$task/stat")
  printf '%s\t%s\t%s\n' "$(cat "$task/comm")" "$((f[11] + f[12]))" "${f[7]}"
done | awk -F'\t' -v t="$ticks" '
  { g = ($1 ~ /^paymatch-stage/) ? $1 : ($1 ~ /^rdk:/ ? "librdkafka" : "other"); cpu[g] += $2 / t; flt[g] += $3 }
  END { printf "paymatch threads (CPU s):"; for (g in cpu) printf " %s %.1f", g, cpu[g]; print "";
        printf "paymatch threads (minor page faults):"; for (g in flt) printf " %s %d", g, flt[g]; print "" }'
kill -TERM "$PM"; wait "$PM" || true; PM=
