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
source ops/bench-cluster.sh
bench_cluster_start "compaction_check_ms = 1000"
"$VENV/bin/python" ops/compaction_latency_bench.py "$bootstrap" "$dir" "$@"
