#!/usr/bin/env bash
# Client benchmark: the Swift client (RillClient, through `rill produce` / `rill consume`) against
# librdkafka (confluent-kafka) on the same three-node cluster in the same run, as ratios.
#   produce: acks=all, idempotent, linger 5 ms, one partition, SECONDS_PER_RUN each, 100 B and 1 KiB
#   consume: RECORDS records of 100 B from one partition, from the first record to the last
# Installs confluent-kafka into .venv-interop if missing.
#   bash ops/bench-client.sh          SECONDS_PER_RUN=10 RECORDS=2000000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
RECORDS=${RECORDS:-2000000}
VENV=.venv-interop
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q confluent-kafka==2.16.1
swift build -c release --product rill >/dev/null
rill=.build/release/rill
work=$(mktemp -d /tmp/rill-bench-client-XXXXXX)
pids=()
trap 'kill -9 ${pids[*]:-} 2>/dev/null || true; rm -rf "$work"' EXIT

base=$((20000 + RANDOM % 20000))
$rill dev --init-only --nodes 3 --dir "$work/rill" --kafka-port "$base" >/dev/null
for n in 1 2 3; do
  $rill serve --config "$work/rill/node-$n/node.toml" >"$work/rill/node-$n.stderr" 2>&1 &  # the log itself: node-$n.log (rotated)
  pids+=($!); disown $!
done
sleep 4
export BOOTSTRAP="127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
topic() { $rill topic create --dir "$work/rill" "$1" --partitions 1 >/dev/null; sleep 1; }

out="$work/results.jsonl"
for size in 100 1024; do
  topic "lib-$size"; topic "swift-$size"
  "$VENV/bin/python" ops/client_bench.py produce "lib-$size" "$size" "$SECONDS_PER_RUN" | tee -a "$out"
  $rill produce -b "$BOOTSTRAP" "swift-$size" --duration "$SECONDS_PER_RUN" --size "$size" --stats 2>/dev/null | tee -a "$out"
done
topic consume-100
$rill produce -b "$BOOTSTRAP" consume-100 --count "$RECORDS" --size 100 2>/dev/null
"$VENV/bin/python" ops/client_bench.py consume consume-100 "$RECORDS" | tee -a "$out"
$rill consume -b "$BOOTSTRAP" consume-100 --partition 0 --count "$RECORDS" --stats | tee -a "$out"

echo "== ratios (Swift / librdkafka, same cluster, same run; aim >= 1.0)"
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def find(test, size=None):
    return next(r for r in rows if r["test"] == test and (size is None or r.get("size") == size))
for size in (100, 1024):
    s, l = find("swift-produce", size), find("librdkafka-produce", size)
    print(f"produce {size} B: Swift {s['mb_per_s']} MB/s, librdkafka {l['mb_per_s']} MB/s -> {s['mb_per_s'] / l['mb_per_s']:.2f}x")
s, l = find("swift-consume"), find("librdkafka-consume")
print(f"consume 100 B: Swift {s['mb_per_s']} MB/s, librdkafka {l['mb_per_s']} MB/s -> {s['mb_per_s'] / l['mb_per_s']:.2f}x")
PY
