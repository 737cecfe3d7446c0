#!/usr/bin/env bash
# The streaming course and its Spark data source, tested against real Rill nodes:
#   python/rill-spark/tests   pytest: format("rill") against 1 and 3 real nodes (counts per key,
#                             restart from a checkpoint, a live trigger's delay, data loss, headers,
#                             the sink, a partition leader killed with kill -9)
#   docs/course/*.ipynb       every notebook executed by nbclient (its cells assert on results);
#                             the notebooks must equal what docs/course/scripts/ gives
# Installs what it needs, once: a Java runtime (apt, for Spark), and into .venv-course the pinned
# PyPI packages (pyspark, pyarrow, confluent-kafka, kafka-python, pytest, nbclient, ipykernel) and
# python/rill-spark itself (editable). Builds the release `rill` unless $RILL names one.
#   bash ops/course.sh                 # everything (about 5 minutes on 2 cores after the install)
#   bash ops/course.sh tests|notebooks # one half
#   bash ops/course.sh install         # only the installs (ops/bench-spark.sh uses it)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-course
RILL=${RILL:-.build/release/rill}
what=${1:-all}

apt_install() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"
}
command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || { apt_install python3-venv && python3 -m venv "$VENV"; }
fi
# Versions tested (docs/course/README.md). pyarrow is needed by Spark's Python data sources and
# is not a dependency of pyspark; pandas 2 (pyspark 4.3 warns about 3).
"$VENV/bin/pip" install -q pyspark==4.3.0 pyarrow==26.0.1 pandas==2.3.3 confluent-kafka==2.16.1 \
  kafka-python==3.0.12 pytest==9.2.0 nbclient==0.11.0 nbformat==5.11.1 ipykernel==7.4.0
"$VENV/bin/pip" install -q --no-deps -e python/rill-spark
[ -x "$RILL" ] || swift build -c release --product rill
export RILL="$(cd "$(dirname "$RILL")" && pwd)/$(basename "$RILL")"
export PYSPARK_PYTHON="$PWD/$VENV/bin/python" PYSPARK_DRIVER_PYTHON="$PWD/$VENV/bin/python" SPARK_LOCAL_IP=127.0.0.1
java -version 2>&1 | head -1
"$VENV/bin/python" -c 'import pyspark, pyarrow, confluent_kafka; print("pyspark", pyspark.__version__, "pyarrow", pyarrow.__version__, "confluent-kafka", confluent_kafka.__version__, "librdkafka", confluent_kafka.libversion()[0])'

[ "$what" = install ] && exit 0

passed=0
failed=0
step() {
  local name=$1 limit=$2 t0 r=0
  shift 2
  echo "=== course: $name"
  t0=$(date +%s)
  timeout -k 10 "$limit" "$@" || r=$?
  [ $r -eq 124 ] && echo "FAIL $name: no result within $limit s"
  if [ $r -eq 0 ]; then passed=$((passed + 1)); echo "--- $name: ok in $(($(date +%s) - t0)) s"
  else failed=$((failed + 1)); echo "--- $name: FAILED (exit $r) in $(($(date +%s) - t0)) s"; fi
}
if [ "$what" = all ] || [ "$what" = tests ]; then
  step "rill-spark tests (pytest, real nodes)" 600 \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider python/rill-spark/tests -W ignore::DeprecationWarning
fi
if [ "$what" = all ] || [ "$what" = notebooks ]; then
  step "course notebooks (nbclient, real nodes)" 600 "$VENV/bin/python" docs/course/run_course.py
fi
echo "course.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
