#!/usr/bin/env bash
# Jepsen-style runs against the real binary: three `rill serve` processes as hosts in network
# namespaces (veth pairs on a bridge), clients in a fourth, faults drawn per run from a seed (kill -9,
# SIGSTOP, partitions, slow and lossy links, a full disk, bit flips in closed segments, leader moves, graceful
# restarts), then a heal, a final read of every partition and a history check (lost, duplicated,
# reordered, skipped records). Each run leaves .nemesis/<time>-seed<N>/: the schedule, the fault
# log, every client's history, node logs, the verdict. Needs root (namespaces, tmpfs mounts).
#
#   bash ops/nemesis.sh --runs 5 --minutes 3          # long runs, seeds from the clock
#   bash ops/nemesis.sh --seed 7 --seconds 60 --faults kill,partition
#   bash ops/nemesis.sh --replay .nemesis/<run>/schedule.json
#   python3 ops/nemesis/checker.py .nemesis/<run>     # check a run's history again
#
# Installs what is missing: nftables and a JDK (apt), confluent-kafka and kafka-python
# (.venv-interop, as ops/interop.sh pins them), Apache Kafka's Java client 4.3 (ops/java-client.sh).
# RILL picks the binary (default .build/debug/rill, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
RILL=${RILL:-.build/debug/rill}
VENV=.venv-interop

if [ "$(id -u)" -ne 0 ]; then echo "ops/nemesis.sh needs root (network namespaces, tmpfs mounts)"; exit 1; fi
need=()
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v tc >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import confluent_kafka, kafka" 2>/dev/null ||
  "$VENV/bin/pip" install -q kafka-python==3.0.12 confluent-kafka==2.16.1
[ -x "$RILL" ] || swift build --product rill
# Apache Kafka's Java client 4.3 (the jars as ops/interop.sh installs them) and the producer on it,
# compiled once per version of its source.
CACHE=.interop-cache
mkdir -p "$CACHE"
command -v javac >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless; }
source ops/java-client.sh
install_java_client "$VENV" "$CACHE"
SRC=ops/nemesis/NemesisProducer.java
CLASSES=$CACHE/nemesis-java-$(sha256sum "$SRC" | cut -c1-16)
if [ ! -f "$CLASSES/NemesisProducer.class" ]; then
  rm -rf "$CACHE"/nemesis-java-*
  javac -nowarn -d "$CLASSES.tmp" -cp "$JAVA_LIB/*" "$SRC"
  mv "$CLASSES.tmp" "$CLASSES"
fi
exec "$VENV/bin/python" ops/nemesis/run.py --rill "$RILL" --java-classpath "$PWD/$CLASSES:$PWD/$JAVA_LIB/*" "$@"
