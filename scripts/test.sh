#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs (system packages, the peer binaries that
# compatibility tests run against), checks formatting and lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
source scripts/env.sh
TIDEMARK_PEERS_BIN=$(scripts/install-peers.sh | tail -n 1)
export TIDEMARK_PEERS_BIN

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --release --workspace --all-targets -- -D warnings
echo "== tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --release --workspace --no-fail-fast
else
  cargo test --release --workspace --no-fail-fast
fi
echo "== fuzz (20 s per target)"
scripts/fuzz.sh 20
