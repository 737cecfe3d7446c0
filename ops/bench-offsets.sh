#!/usr/bin/env bash
# Bytes __consumer_offsets takes on each node after one million offset commits over 100 groups
# (issue 17's figure): a three-node cluster started here on free ports, topic `bench` (10
# partitions) created first so __consumer_offsets' four partitions are Raft groups 11-14, then
# ops/offsets_bench.py. RILL=path runs another build (an older one, for "before").
#   bash ops/bench-offsets.sh [--groups 100] [--rounds 1000]
set -euo pipefail
cd "$(dirname "$0")/.."
RILL=${RILL:-.build/release/rill}
[ -x "$RILL" ] || swift build -c release --product rill
source ops/bench-cluster.sh
bench_cluster_start
"$RILL" topic create bench --partitions 10 --replication-factor 3 --dir "$dir" >/dev/null
python3 ops/offsets_bench.py "$bootstrap" "$dir" "$@"
