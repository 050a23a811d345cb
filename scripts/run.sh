#!/usr/bin/env bash
# Builds and starts a single Tidemark node with its data in ./tidemark-data (or the flags you pass).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
source scripts/env.sh
cargo build --release --bin tidemark
exec "$CARGO_TARGET_DIR/release/tidemark" "$@"
