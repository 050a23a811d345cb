#!/usr/bin/env bash
# The foundation benchmark in one command: builds the release binaries (tidemark and
# tidemark-bench), installs the peer systems (scripts/install-peers.sh) and runs the default ingest
# benchmark (10k node-exporter series x 6 h at 15 s) against Tidemark, VictoriaMetrics and
# Prometheus, printing a side-by-side table with Tidemark/peer ratios.
#
#   scripts/bench.sh                                   # default run, results in target/bench/ingest.json
#   SYSTEMS=victoriametrics,prometheus scripts/bench.sh # peers only (no tidemark build)
#   scripts/bench.sh --series 2000 --hours 1           # extra arguments go to `tidemark-bench ingest`
#   BENCH=cardinality scripts/bench.sh --series 200000 # the cardinality benchmark instead
#
# Environment: CARGO_TARGET_DIR (default: ~/.cache/tidemark-target, see scripts/env.sh), PEERS_DIR (default ~/.cache/tsdb-peers),
# SYSTEMS, BENCH (ingest | cardinality), OUT (JSON results file).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
source "$repo/scripts/env.sh"
target_dir=$CARGO_TARGET_DIR
bench=${BENCH:-ingest}
case "$bench" in
  ingest) systems=${SYSTEMS:-tidemark,victoriametrics,prometheus} ;;
  cardinality) systems=${SYSTEMS:-tidemark} ;;
  *) echo "bench.sh: BENCH must be ingest or cardinality" >&2; exit 2 ;;
esac
out=${OUT:-$target_dir/bench/$bench.json}

packages=(-p tidemark-bench)
if [[ ",$systems," == *",tidemark,"* ]]; then
  packages+=(-p tidemark-node)
fi
echo "bench.sh: building ${packages[*]} (release) into $target_dir" >&2
cargo build --release "${packages[@]}" >&2

peers_bin=$(bash "$repo/scripts/install-peers.sh" | tail -n 1)

args=("$bench" --peers-bin "$peers_bin" --systems "$systems" --out "$out")
if [[ ",$systems," == *",tidemark,"* ]]; then
  args+=(--tidemark-bin "$target_dir/release/tidemark")
fi
exec "$target_dir/release/tidemark-bench" "${args[@]}" "$@"
