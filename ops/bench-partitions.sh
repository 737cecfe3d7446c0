#!/usr/bin/env bash
# Issue 14's table: time to all leaders, idle CPU, RSS, /metrics size and restart-to-serving time
# for a three-node cluster holding 1k / 5k / 10k partitions (replication 3), each count added to
# the same cluster, started here on free ports (ops/bench-cluster.sh) from a release build.
# RILL=path measures another build (an older one, for "before").
#   bash ops/bench-partitions.sh [--counts 1000,5000,10000] [--per-topic 100] [--no-restart]
set -euo pipefail
cd "$(dirname "$0")/.."
RILL=${RILL:-.build/release/rill}
[ -x "$RILL" ] || swift build -c release --product rill
source ops/bench-cluster.sh
bench_cluster_start
# The Python driver restarts node 3 (a new PID): stop whatever the PID file names at exit.
echo "${bench_pids[*]}" > "$dir/pids"
trap 'for p in $(cat "$dir/pids") "${bench_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
python3 ops/partitions_bench.py "$RILL" "$dir" "$dir/pids" "$@"
