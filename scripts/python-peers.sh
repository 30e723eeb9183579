#!/usr/bin/env bash
# Installs the Python engines the project compares against and checks
# interoperability with (DuckDB, pandas, pyarrow) into a virtualenv under
# $HOME, from PyPI. Idempotent: a second run only checks. Prints the
# virtualenv's python on stdout.
set -euo pipefail
VENV="${PAYMATCH_VENV:-$HOME/.cache/paymatch-venv}"
PACKAGES=(duckdb pandas pyarrow)
if ! "$VENV/bin/python" -c "import duckdb, pandas, pyarrow" >/dev/null 2>&1; then
  echo "python-peers: installing ${PACKAGES[*]} into $VENV" >&2
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}" >&2
fi
echo "$VENV/bin/python"
