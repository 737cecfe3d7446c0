#!/usr/bin/env bash
# Transactions against idempotent produce, in one run on one cluster (issue 18's figures): a
# three-node release cluster started here on free ports, then ops/transactions_bench.py with
# confluent-kafka (librdkafka; pip, into .venv-interop): the same records sent by an idempotent
# producer (the baseline), then in transactions of 10 and of 100 records, with each commit's
# latency. RILL=path runs another build.
#   bash ops/bench-transactions.sh [--records 20000] [--size 100]
set -euo pipefail
cd "$(dirname "$0")/.."
RILL=${RILL:-.build/release/rill}
VENV=.venv-interop
[ -x "$RILL" ] || swift build -c release --product rill
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q confluent-kafka==2.16.1
source ops/bench-cluster.sh
bench_cluster_start
"$VENV/bin/python" ops/transactions_bench.py "$bootstrap" "$@"
