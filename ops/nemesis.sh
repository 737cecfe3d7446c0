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
# Installs what is missing: nftables (apt), confluent-kafka and kafka-python (.venv-interop, as
# ops/interop.sh pins them). RILL picks the binary (default .build/debug/rill, built if missing).
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
exec "$VENV/bin/python" ops/nemesis/run.py --rill "$RILL" "$@"
