#!/usr/bin/env bash
# Records/s read by Spark through format("rill") (python/rill-spark) against the same records read
# by a plain confluent-kafka consumer, in one run: 10^6 records of 100 B on a one-node cluster
# started here on free ports (ops/spark_bench.py). Installs what it needs through ops/course.sh.
#   bash ops/bench-spark.sh [--records N] [--size B] [--partitions P]
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/course.sh install >/dev/null
RILL=${RILL:-.build/release/rill}
export RILL="$(cd "$(dirname "$RILL")" && pwd)/$(basename "$RILL")"
export PYSPARK_PYTHON="$PWD/.venv-course/bin/python" SPARK_LOCAL_IP=127.0.0.1
timeout -k 10 900 .venv-course/bin/python ops/spark_bench.py "$@" 2>&1 | grep -v '^%[0-9]|\|^\[Stage'
