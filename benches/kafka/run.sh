#!/usr/bin/env bash
# The Kafka mode's throughput and latency harness (not a test), broker
# included, on this machine:
#
#   benches/kafka/run.sh throughput N     # N payments published first, then `paymatch run` drains them
#   benches/kafka/run.sh latency RATE S   # payments published at RATE/s for S seconds while paymatch runs
#                                         # (after WARMUP_SECONDS=10 s of warm-up at the same rate, not measured)
#
# A broker of its own (scripts/kafka.sh on port 19092, removed at the end),
# data from `paymatch generate` (20k customers). Prints payments/s, or the
# p50/p99 latency from a payment's append to its restore command's commit.
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
cleanup() { [ -n "${PM:-}" ] && kill "$PM" 2>/dev/null; wait 2>/dev/null; scripts/kafka.sh down >&2; rm -rf "$WORK"; }
trap cleanup EXIT
scripts/kafka.sh up >&2
case "$MODE" in
  throughput) N="${2:-1000000}" ;;
  latency) RATE="${2:-20000}"; SECS="${3:-30}"; WARM="${WARMUP_SECONDS:-10}"; N=$((RATE * (SECS + WARM))) ;;
  *) sed -n '2,11p' "$0"; exit 2 ;;
esac
"$BIN/paymatch" --quiet generate --out "$WORK/data" --customers 20000 --payments "$N" --seed 5 >/dev/null
INPUTS=$(grep -c . "$WORK/data/payments.jsonl")
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); Apache Kafka on the same machine"
"$BIN/paymatch" topics create >&2
"$BIN/paymatch" --quiet publish customers "$WORK/data/customers.jsonl" >/dev/null
"$BIN/paymatch" --quiet publish invoices "$WORK/data/invoices.jsonl" >/dev/null
if [ "$MODE" = throughput ]; then
  "$BIN/paymatch" --quiet publish payments "$WORK/data/payments.jsonl" >/dev/null
  echo "published $INPUTS payments; starting paymatch run"
  "${PAYMATCH_RUN_BIN:-$BIN/paymatch}" run 2> "$WORK/run.log" &
  PM=$!
  "$BIN/kafka_load" --brokers 127.0.0.1:19092 drain --inputs "$INPUTS"
  curl -s 127.0.0.1:19464/metrics | grep -E '^paymatch_(transaction_commit_seconds|transaction_records)_(sum|count)' || true
else
  PAYMATCH_LOG=info "${PAYMATCH_RUN_BIN:-$BIN/paymatch}" run 2> "$WORK/run.log" &
  PM=$!
  # Measure the steady state: both stages have joined their groups.
  until [ "$(grep -c ' assigned' "$WORK/run.log")" -ge 2 ]; do sleep 0.5; done
  sleep 2
  # Warm-up (not measured): the first WARMUP_SECONDS (10) of payments at the
  # same rate, so the broker's JIT and paymatch's caches are warm.
  head -n $((RATE * WARM)) "$WORK/data/payments.jsonl" > "$WORK/warm.jsonl"
  tail -n +$((RATE * WARM + 1)) "$WORK/data/payments.jsonl" > "$WORK/measure.jsonl"
  if [ "$WARM" -gt 0 ]; then
    echo "warm-up: $WARM s at $RATE/s (not measured)"
    "$BIN/kafka_load" --brokers 127.0.0.1:19092 pace --payments "$WORK/warm.jsonl" --rate "$RATE" >/dev/null
  fi
  "$BIN/kafka_load" --brokers 127.0.0.1:19092 pace --payments "$WORK/measure.jsonl" --rate "$RATE"
  curl -s 127.0.0.1:19464/metrics | grep -E "^paymatch_(end_to_end_seconds|transaction_commit_seconds|transaction_records)_(sum|count)" || true
fi
ticks=$(getconf CLK_TCK)
read -r utime stime < <(awk '{print $14, $15}' "/proc/$PM/stat")
echo "paymatch run: $((utime / ticks)) s user, $((stime / ticks)) s system CPU; peak RSS $(awk '/VmHWM/ {print $2}' "/proc/$PM/status") KiB"
kill -TERM "$PM"; wait "$PM" || true; PM=
