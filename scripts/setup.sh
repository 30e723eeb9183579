#!/usr/bin/env bash
# Installs what building paymatch needs on a fresh Debian machine with the
# Rust toolchain: libclang (the rocksdb crate generates its bindings with
# bindgen) and a C++ compiler (RocksDB itself). Idempotent and quiet when
# everything is already there.
set -euo pipefail

need=()
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)

if ((${#need[@]})); then
  echo "setup: installing ${need[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
