# Sourced by the project's scripts: one target directory under $HOME, shared
# by the demo, the tests, the benchmarks and CI, so everything is built once
# (in the release profile) and stays warm between runs.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/paymatch-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
