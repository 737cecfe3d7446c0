#!/usr/bin/env bash
# Partition move benchmark (issue 16): three local nodes; a one-replica partition of BULK_MB
# (default 256) moves to another node (`rill topic move`) while a producer (confluent-kafka, 1 KiB
# records, acks=all) writes to a replication-3 topic; reports the move's time and rate and the
# producer's throughput during and after it as ratios to before, measured in the same run
# (ops/move_bench.py). THROTTLE= sets kafka.move_throttle_bytes_per_sec on every node (default:
# the nodes' default, 100 MiB/s).
#   bash ops/bench-move.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-interop
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q confluent-kafka==2.16.1
swift build -c release --product rill >/dev/null
RILL=.build/release/rill
work=$(mktemp -d /tmp/rill-move-bench-XXXXXX)
pids=()
trap 'kill -9 ${pids[*]:-} 2>/dev/null || true; rm -rf "$work"' EXIT
base=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1] // 10 * 10 % 20000 + 30000)')
"$RILL" dev --init-only --nodes 3 --dir "$work" --kafka-port "$base" >/dev/null
for n in 1 2 3; do
  if [ -n "${THROTTLE:-}" ]; then
    sed -i "s/^\[kafka\]$/[kafka]\nmove_throttle_bytes_per_sec = $THROTTLE/" "$work/node-$n/node.toml"
  fi
  "$RILL" serve --config "$work/node-$n/node.toml" >"$work/node-$n.stderr" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 100); do
  if "$RILL" cluster status --dir "$work" 2>/dev/null | grep -q "3/3 node(s) up; controller leader: node"; then break; fi
  sleep 0.2
done
BOOTSTRAP="127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))" RILL="$RILL" "$VENV/bin/python" ops/move_bench.py
