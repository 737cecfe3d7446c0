#!/usr/bin/env bash
# Produce latency while log compaction runs (issue 17's second compaction figure): a three-node
# cluster started here on free ports with compaction offered every second, then
# ops/compaction_latency_bench.py: a probe producer (one record at a time, acks=all) measured
# while a background producer churns keyed records into a compacted topic, against the same
# churn into a delete-policy topic (no compaction), alternated. RILL=path runs another build.
#   bash ops/bench-compaction-latency.sh [--seconds 30] [--pairs 2] [--rate-mb 8]
set -euo pipefail
cd "$(dirname "$0")/.."
RILL=${RILL:-.build/release/rill}
[ -x "$RILL" ] || swift build -c release --product rill
VENV=${VENV:-.venv-interop}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import confluent_kafka' 2>/dev/null || "$VENV/bin/pip" install -q confluent-kafka==2.16.1
base=$(python3 -c 'import random; print(random.randint(30000, 45000))')
dir=$(mktemp -d /tmp/rill-compaction-latency-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
"$RILL" dev --init-only --nodes 3 --dir "$dir" --kafka-port "$base" >/dev/null
for n in 1 2 3; do sed -i 's/^\[kafka\]$/[kafka]\ncompaction_check_ms = 1000/' "$dir/node-$n/node.toml"; done
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
"$VENV/bin/python" ops/compaction_latency_bench.py "$bootstrap" "$dir" "$@"
