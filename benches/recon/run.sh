#!/usr/bin/env bash
# The reconciliation benchmark (not a test): N ledger payments against a
# statement of about N lines with injected exceptions, classified by
# `paymatch reconcile`, by DuckDB and by pandas, on the same files, in the
# same run. Prints wall time and peak memory of each, and checks that all
# three found exactly the injected exceptions.
#
#   benches/recon/run.sh 1000000        # 1M × 1M
#   benches/recon/run.sh 10000000       # 10M × 10M
#   RUNS=2 benches/recon/run.sh 10000000   # two timed runs of each engine
#   WARMUP=0 benches/recon/run.sh 10000000  # no warm-up run
#
# On a VM whose host reclaims idle guest memory, the first touch of memory
# after a pause costs far more than a later one (docs/BENCHMARKS.md). So,
# as hyperfine's --warmup does, each engine first runs once on the same
# files just before its timed runs; the warm-up's time is printed too
# (run `w`), so the cold figure stays visible. WARMUP=0 skips it.
set -euo pipefail
N="${1:-1000000}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
source scripts/env.sh
scripts/setup.sh >&2
PYTHON="$(scripts/python-peers.sh)"
cargo build --release --workspace --bins >&2
BIN="$CARGO_TARGET_DIR/release"
DATA="${RECON_DATA:-$HOME/.cache/paymatch-bench/recon-$N}"
if [ ! -f "$DATA/truth.jsonl" ]; then
  "$BIN/recon_data" --entries "$N" --out "$DATA" >&2
fi
# The build and the generator leave gigabytes of dirty pages (binaries,
# data files): write them out now, not during the first timed run.
sync
# Every engine reads the inputs from a warm page cache, as the figures in
# docs/BENCHMARKS.md say: the build above may have pushed them out, and a
# first run that reads a gigabyte from disk measures the disk.
cat "$DATA/ledger.parquet" "$DATA/statement.csv" > /dev/null
echo "data: $DATA ($(du -sh "$DATA/ledger.parquet" | cut -f1) ledger.parquet, $(du -sh "$DATA/statement.csv" | cut -f1) statement.csv, $(wc -l < "$DATA/truth.jsonl") injected exceptions)"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"

measure() {
  local name="$1" run="$2"; shift 2
  rm -rf "$DATA/out-$name"
  /usr/bin/time -f "%e %M" -o "$DATA/$name.time" "$@" > "$DATA/$name.stdout"
  read -r secs kb < "$DATA/$name.time"
  printf '| %-8s | %3s | %8s s | %7s MiB |\n' "$name" "$run" "$secs" "$((kb / 1024))"
}
echo "| engine   | run |     wall   | peak RSS    |"
echo "|----------|-----|------------|-------------|"
# Each engine: its warm-up run (`w`), then its timed runs, back to back.
runs() {
  local name="$1"; shift
  local run
  if [ "${WARMUP:-1}" != 0 ]; then
    measure "$name" w "$@"
  fi
  for run in $(seq 1 "${RUNS:-1}"); do
    measure "$name" "$run" "$@"
  done
}
runs paymatch "$BIN/paymatch" --quiet reconcile --ledger "$DATA/ledger.parquet" \
  --statement "$DATA/statement.csv" --format generic --out "$DATA/out-paymatch"
runs duckdb "$PYTHON" benches/recon/peers.py duckdb "$DATA/ledger.parquet" "$DATA/statement.csv" "$DATA/out-duckdb"
if [ "${SKIP_PANDAS:-}" = "" ]; then
  runs pandas "$PYTHON" benches/recon/peers.py pandas "$DATA/ledger.parquet" "$DATA/statement.csv" "$DATA/out-pandas"
fi

# Every engine must report exactly what was injected.
"$PYTHON" - "$DATA" <<'PY'
import collections, json, sys
data = sys.argv[1]
truth = collections.Counter(json.loads(l)["kind"] for l in open(f"{data}/truth.jsonl"))
ours = json.load(open(f"{data}/paymatch.stdout"))["exceptions"]
results = {"paymatch": {k: v for k, v in ours.items()}}
for peer in ("duckdb", "pandas"):
    try:
        results[peer] = json.load(open(f"{data}/{peer}.stdout"))["exceptions"]
    except FileNotFoundError:
        pass
ok = True
for engine, counts in results.items():
    same = all(counts.get(k, 0) == truth.get(k, 0) for k in set(truth) | set(counts))
    ok &= same
    print(f"{engine}: {'= truth' if same else 'DIFFERS from truth'} {dict(sorted(counts.items()))}")
sys.exit(0 if ok else 1)
PY
