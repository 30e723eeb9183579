#!/usr/bin/env bash
# Runs two builds of the throughput harness at the same time, ROUNDS times,
# alternating which starts first, and prints B/A of stage 1's payments per
# CPU-second for each round. On a noisy shared machine, builds measured one
# after the other drift by 10-20 %; side by side, both see the same noise.
#
# usage: benches/side_by_side.sh BIN_A BIN_B ROUNDS
#   ARGS   harness options for both (default: 100k customers, 1M payments,
#          --stage1-only, data under /tmp/tp100k1m)
#   BARGS  extra options for B only (e.g. "--batch 1")
#   METRIC the line whose rate is compared (default "stage 1 CPU ", the
#          whole loop's CPU, which every build prints; builds since
#          session 21 also print "stage 1 CPU, input in cache")
set -euo pipefail
A=$1 B=$2 ROUNDS=$3
ARGS=${ARGS:---customers 100000 --payments 1000000 --stage1-only --data /tmp/tp100k1m}
BARGS=${BARGS:-}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
METRIC=${METRIC:-stage 1 CPU }
rate() { grep -m1 "^$METRIC" "$1" | sed 's/ payments per CPU-second.*//' | awk '{print $NF}'; }
for round in $(seq "$ROUNDS"); do
  if (( round % 2 )); then
    $A $ARGS >"$OUT/a" 2>&1 & pa=$!
    $B $ARGS $BARGS >"$OUT/b" 2>&1 & pb=$!
  else
    $B $ARGS $BARGS >"$OUT/b" 2>&1 & pb=$!
    $A $ARGS >"$OUT/a" 2>&1 & pa=$!
  fi
  wait $pa $pb
  a=$(rate "$OUT/a") b=$(rate "$OUT/b")
  echo "A $a  B $b  B/A $(python3 -c "print(round($b / $a, 3))")"
done
