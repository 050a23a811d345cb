#!/usr/bin/env bash
# Installs what building Tidemark needs on a Debian machine: clang/libclang (RocksDB's bindings),
# ccache (so that each feature variant of the RocksDB build compiles its C++ once per machine),
# protoc (gRPC code generation). With --test also what the test suite needs: iproute2 and
# iptables (the jepsen suite's network namespaces and packet loss), python3-venv and openssl (the
# email tests' SMTP server, aiosmtpd, in a venv, with its certificates), faketime (a node
# whose clock is skewed, in the clock tests and the jepsen suite). Idempotent: does
# nothing when everything is present.
set -euo pipefail

packages=(clang libclang-dev protobuf-compiler ccache)
[[ ${1:-} == --test ]] && packages+=(iproute2 iptables python3-venv openssl faketime)
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) == 0 ]] || sudo_cmd=(sudo)
  echo "deps: installing ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >&2
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: cargo not found: install a Rust toolchain (https://rustup.rs), 1.88 or newer" >&2
  exit 1
fi
