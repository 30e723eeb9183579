#!/usr/bin/env bash
# The test command (README, CI): formatting, lints, then every test of the
# workspace in the release profile (the one the demo builds, so nothing is
# compiled twice).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
cargo test --release --workspace
