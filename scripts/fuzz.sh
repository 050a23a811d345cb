#!/usr/bin/env bash
# Runs every fuzz target (fuzz/, cargo-fuzz on the nightly toolchain) for SECONDS each (default
# 20: what CI runs), starting from the corpus kept in fuzz/corpus/<target>. New inputs go to a
# scratch directory, not into the repo; a crash leaves its input in fuzz/artifacts/<target>/
# and fails the run: turn it into a regression test (and add it to the corpus) before fixing.
# Without a nightly toolchain it says so and skips.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: SKIPPED: no nightly toolchain (rustup toolchain install nightly)" >&2
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo +nightly install cargo-fuzz --locked --quiet
fi
# Its own build directory: the targets build with sanitizer flags on another toolchain.
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/tidemark-fuzz-target}
cargo +nightly fuzz build
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo +nightly fuzz list); do
  mkdir -p "$scratch/$target" "fuzz/corpus/$target"
  echo "== fuzz $target (${seconds}s)"
  cargo +nightly fuzz run "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 |
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|==|INFO: (seed|-max_len)|SUMMARY|Done)|panicked|ERROR' || true
  if compgen -G "fuzz/artifacts/$target/*" >/dev/null; then
    echo "fuzz: $target found a crash: fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
