#!/usr/bin/env bash
# Runs `paymatch demo` (embedded mode: files, no broker). Extra arguments go
# to the demo, e.g. `scripts/demo.sh --customers 20000 --payments 100000`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
cargo build --release -p pipeline --bin paymatch
exec "$CARGO_TARGET_DIR/release/paymatch" demo "$@"
