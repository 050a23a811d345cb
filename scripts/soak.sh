#!/usr/bin/env bash
# Soak test (not in CI): a three-node cluster on loopback under steady ingest and dashboard-like
# queries for SECONDS (default 3600), printing each node's RSS, open files and data-directory
# size, the ingest rate and the query latency every INTERVAL seconds (default 60), so that
# growth shows. Ingest: a real Prometheus scrapes the three nodes' /metrics as JOBS jobs each
# (default 10, at a 1 s interval) and remote-writes to node 1. Queries, through
# node 2: a 1-hour range at a 60 s step of rate() summed by handler, a histogram_quantile over
# bucket rates, and an instant count of every series.
#
#   scripts/soak.sh [SECONDS] [INTERVAL] [JOBS]
#
# Needs the release binaries (cargo build --release) and a Prometheus
# (scripts/install-peers.sh). Leaves everything in a temporary directory it prints.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
seconds=${1:-3600}
interval=${2:-60}
jobs=${3:-10}
bin=$CARGO_TARGET_DIR/release/tidemark
peers=${TIDEMARK_PEERS_BIN:-$HOME/.cache/tsdb-peers/usr/bin}
[[ -x $bin ]] || { echo "soak: build first: cargo build --release" >&2; exit 2; }
[[ -x $peers/prometheus ]] || { echo "soak: no prometheus in $peers (scripts/install-peers.sh)" >&2; exit 2; }
dir=$(mktemp -d /tmp/tidemark-soak.XXXXXX)
echo "soak: ${seconds}s in $dir"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

base=$((20000 + RANDOM % 20000))
http() { echo "127.0.0.1:$((base + 2 * $1))"; }
grpc() { echo "127.0.0.1:$((base + 2 * $1 + 1))"; }
initial="1=$(grpc 1),2=$(grpc 2),3=$(grpc 3)"
token="soak-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
for n in 1 2 3; do
  "$bin" --node-id "$n" --data-dir "$dir/n$n" --http-listen "$(http "$n")" --grpc-listen "$(grpc "$n")" \
    --initial-cluster "$initial" --initial-cluster-token "$token" >"$dir/n$n.log" 2>&1 &
  pids+=($!)
done
node_pids=("${pids[@]}")
for n in 1 2 3; do
  until curl -sf "http://$(http "$n")/-/ready" >/dev/null; do sleep 0.5; done
done

{
  echo "global: {scrape_interval: 1s, scrape_timeout: 1s}"
  echo "remote_write: [{url: 'http://$(http 1)/api/v1/write', queue_config: {max_samples_per_send: 5000}}]"
  echo "scrape_configs:"
  for j in $(seq 1 "$jobs"); do
    echo "  - {job_name: soak$j, static_configs: [{targets: ['$(http 1)', '$(http 2)', '$(http 3)']}]}"
  done
} >"$dir/prometheus.yml"
"$peers/prometheus" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/prom" \
  --web.listen-address="127.0.0.1:$((base + 10))" >"$dir/prometheus.log" 2>&1 &
pids+=($!)

queries=(
  'sum by (handler) (rate(tidemark_http_requests_total[5m]))'
  'histogram_quantile(0.9, sum by (le) (rate(tidemark_http_request_duration_seconds_bucket[5m])))'
)
# One query round through node 2: the range queries over the last hour, then a count of
# every series; prints the slowest's milliseconds.
query_round() {
  local end start worst=0 ms q
  end=$(date +%s); start=$((end - 3600))
  for q in "${queries[@]}"; do
    ms=$(curl -s -o /dev/null -w '%{time_total}' "http://$(http 2)/api/v1/query_range" \
      --data-urlencode "query=$q" -d "start=$start" -d "end=$end" -d step=60 | awk '{printf "%d", $1 * 1000}')
    ((ms > worst)) && worst=$ms
  done
  ms=$(curl -s -o /dev/null -w '%{time_total}' "http://$(http 2)/api/v1/query" \
    --data-urlencode 'query=count({__name__=~".+"})' | awk '{printf "%d", $1 * 1000}')
  ((ms > worst)) && worst=$ms
  echo "$worst"
}
value() { # an instant query's value through node 2
  curl -s "http://$(http 2)/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'
}

printf '%6s %8s %8s %8s %6s %6s %6s %8s %8s %8s %9s %8s %8s\n' \
  min rss1_mb rss2_mb rss3_mb fd1 fd2 fd3 disk1_mb disk2_mb disk3_mb samples/s q_p50_ms q_max_ms
started=$(date +%s)
while (($(date +%s) - started < seconds)); do
  lat=()
  round_end=$(($(date +%s) + interval))
  while (($(date +%s) < round_end)); do
    lat+=("$(query_round)")
    sleep 2
  done
  for p in "${node_pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "soak: node pid $p died; logs in $dir" >&2; exit 1; }
  done
  rss=()
  fds=()
  disk=()
  for i in 0 1 2; do
    p=${node_pids[$i]}
    rss+=("$(awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/$p/status")")
    fds+=("$(ls "/proc/$p/fd" | wc -l)")
    disk+=("$(du -sm "$dir/n$((i + 1))" | cut -f1)")
  done
  # Node 1 takes every remote-write; one job's scrape of it is enough.
  rate=$(value 'sum(rate(tidemark_samples_ingested_total{job="soak1"}[1m]))' | awk '{printf "%d", $1}')
  sorted=($(printf '%s\n' "${lat[@]}" | sort -n))
  p50=${sorted[$((${#sorted[@]} / 2))]}
  max=${sorted[$((${#sorted[@]} - 1))]}
  printf '%6d %8s %8s %8s %6s %6s %6s %8s %8s %8s %9s %8s %8s\n' \
    $((($(date +%s) - started) / 60)) "${rss[@]}" "${fds[@]}" "${disk[@]}" "$rate" "$p50" "$max"
done
echo "soak: done; logs and data in $dir"
