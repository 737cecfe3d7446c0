#!/usr/bin/env bash
# Elastic cluster benchmark (issue 16): three local nodes holding BULK_MB (default 256) in a
# replication-3 topic; then node 4 is added (`rill node add`), replicas are balanced onto it
# (`rill cluster balance`), node 1 is decommissioned (`rill node decommission`) and node 2
# restarted, while a producer (confluent-kafka, 1 KiB records, acks=all) writes to another
# replication-3 topic. Reports each step's time and the producer's throughput during it as a ratio
# to before, measured in the same run (ops/elastic_bench.py; LOAD_RATE= records a second, default
# 5000, on a topic kept to 64 MiB a partition). THROTTLE= sets
# kafka.move_throttle_bytes_per_sec on every node.
#   bash ops/bench-elastic.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-interop
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q confluent-kafka==2.16.1
swift build -c release --product rill >/dev/null
work=$(mktemp -d /tmp/rill-elastic-bench-XXXXXX)
trap 'pkill -9 -f "serve --config $work/" 2>/dev/null || true; rm -rf "$work"' EXIT
base=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1] // 10 * 10 % 20000 + 30000)')
.build/release/rill dev --init-only --nodes 3 --dir "$work" --kafka-port "$base" >/dev/null
if [ -n "${THROTTLE:-}" ]; then
  for n in 1 2 3; do sed -i "s/^\[kafka\]$/[kafka]\nmove_throttle_bytes_per_sec = $THROTTLE/" "$work/node-$n/node.toml"; done
fi
WORK="$work" BASE="$base" BOOTSTRAP="127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))" \
  RILL=.build/release/rill "$VENV/bin/python" ops/elastic_bench.py
