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
base=$(python3 -c 'import random; print(random.randint(30000, 45000))')
dir=$(mktemp -d /tmp/rill-offsets-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
"$RILL" dev --init-only --nodes 3 --dir "$dir" --kafka-port "$base" >/dev/null
for n in 1 2 3; do
  "$RILL" serve --config "$dir/node-$n/node.toml" >"$dir/node-$n.stderr" 2>&1 &
  pids+=($!)
  disown $!
done
for _ in $(seq 1 100); do
  "$RILL" cluster status --dir "$dir" 2>/dev/null | grep -q "3/3 node(s) up; controller leader: node" && break
  sleep 0.2
done
bootstrap="127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
"$RILL" topic create bench --partitions 10 --replication-factor 3 --dir "$dir" >/dev/null
python3 ops/offsets_bench.py "$bootstrap" "$dir" "$@"
