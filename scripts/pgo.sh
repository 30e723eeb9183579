#!/usr/bin/env bash
# A profile-guided (PGO) release build of `paymatch` and the throughput
# harness, for production binaries and the speed benchmarks:
#
#   scripts/pgo.sh      # binaries in $PAYMATCH_PGO_DIR/bin (default ~/.cache/paymatch-pgo/bin)
#
# 1. Builds the workspace's own crates instrumented (`-Cprofile-generate`),
#    through a rustc wrapper that Cargo applies to workspace members only
#    (RUSTC_WORKSPACE_WRAPPER): the dependencies' builds are reused as
#    they are.
# 2. Runs them on training data from the project's generator, with seeds
#    the benchmarks do not use: `paymatch match` (both stages, 20k
#    customers, 200k callbacks) and the throughput harness (stage 1,
#    100k customers, 300k callbacks).
# 3. Merges the profiles with `llvm-profdata` of rustc's own LLVM version
#    (Debian's `llvm-N` package, installed here when missing).
# 4. Builds the same crates again with `-Cprofile-use`.
#
# The shared target directory then holds PGO builds of the workspace
# crates; the next plain `cargo build` rebuilds them (Cargo sees the
# wrapper change), so tests and CI never run PGO code by accident.
# Measured gains: docs/BENCHMARKS.md, "Speed" and Kafka "Session 27".
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
source scripts/env.sh
scripts/setup.sh >&2
OUT="${PAYMATCH_PGO_DIR:-$HOME/.cache/paymatch-pgo}"
R="$CARGO_TARGET_DIR/release"
BINS=(-p pipeline --bin paymatch -p benches --bin throughput)

major="$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')"
profdata="llvm-profdata-$major"
if ! command -v "$profdata" >/dev/null; then
  echo "pgo: installing llvm-$major (llvm-profdata for rustc's LLVM $major)" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "llvm-$major" >/dev/null
fi

# The wrapper adds the PGO flag to workspace crates' compilations (not to
# rustc's own queries). Cargo rebuilds when the wrapper's path changes,
# so each mode, and each profile, gets a wrapper file of its own.
wrapper() { # MODE FLAG -> path of a wrapper adding FLAG
  local path="$OUT/rustc-$1"
  cat > "$path" <<EOF
#!/usr/bin/env bash
rustc="\$1"; shift
case " \$* " in *" --print"*|*" -vV "*) exec "\$rustc" "\$@" ;; esac
exec "\$rustc" "\$@" "$2"
EOF
  chmod +x "$path"
  echo "$path"
}

mkdir -p "$OUT/bin"
rm -rf "$OUT/profiles" "$OUT/run"
echo "pgo: 1/4 instrumented build" >&2
RUSTC_WORKSPACE_WRAPPER="$(wrapper generate "-Cprofile-generate=$OUT/profiles")" \
  cargo build --release "${BINS[@]}" >&2

echo "pgo: 2/4 training runs" >&2
[ -f "$OUT/train-20k/payments.jsonl" ] ||
  "$R/paymatch" --quiet generate --out "$OUT/train-20k" --customers 20000 --payments 200000 --seed 77 >/dev/null
"$R/paymatch" --quiet match --customers "$OUT/train-20k/customers.jsonl" \
  --invoices "$OUT/train-20k/invoices.jsonl" --payments "$OUT/train-20k/payments.jsonl" \
  --out "$OUT/run" >/dev/null
"$R/throughput" --customers 100000 --payments 300000 --seed 99 --data "$OUT/train-100k" >/dev/null
rm -rf "$OUT/run"

echo "pgo: 3/4 merging profiles" >&2
"$profdata" merge -o "$OUT/paymatch.profdata" "$OUT/profiles"
sum="$(sha256sum "$OUT/paymatch.profdata" | cut -c1-12)"

echo "pgo: 4/4 optimised build" >&2
RUSTC_WORKSPACE_WRAPPER="$(wrapper "use-$sum" "-Cprofile-use=$OUT/paymatch.profdata")" \
  cargo build --release "${BINS[@]}" >&2
cp "$R/paymatch" "$R/throughput" "$OUT/bin/"
echo "pgo: built $OUT/bin/paymatch and $OUT/bin/throughput" >&2
