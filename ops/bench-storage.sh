#!/usr/bin/env bash
# Storage benchmark: Rill's storage engine against fio on the same disk, in the same run, reported
# as ratios (these machines are noisy; absolute figures mean little across runs).
#   bash ops/bench-storage.sh [DIR]     (DIR defaults to /tmp; needs ~2 GiB free)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp}
SYNC_SECONDS=${SYNC_SECONDS:-5}
command -v fio >/dev/null || { apt-get update -qq && apt-get install -y -qq fio; }
swift build -c release --product rill-bench >/dev/null
work=$(mktemp -d "$DIR/rill-fio-XXXXXX")
trap 'rm -rf "$work"' EXIT

fio_json() { fio --output-format=json "$@" 2>/dev/null; }
bw() { python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["jobs"][0]["write"]["bw_bytes"]/1048576)'; }
iops() { python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["jobs"][0]["write"]["iops"])'; }

echo "== fio baselines in $work"
seq=$(fio_json --name=seq --filename="$work/seq.dat" --rw=write --bs=1M --size=1G --direct=0 --end_fsync=1 --ioengine=sync | bw)
echo "fio sequential buffered write (1 MiB blocks, end fsync): $seq MiB/s"
declare -A fsync
for kib in 16 64 256 1024; do
  fsync[$kib]=$(fio_json --name=s$kib --filename="$work/s$kib.dat" --rw=write --bs=${kib}k --size=512M --fdatasync=1 \
    --runtime="$SYNC_SECONDS" --time_based --ioengine=sync | iops)
  echo "fio write+fdatasync ${kib} KiB: ${fsync[$kib]} writes/s"
  rm -f "$work/s$kib.dat"
done
rm -f "$work/seq.dat"

echo "== rill-bench storage"
out=$(.build/release/rill-bench storage --directory "$DIR" --sync-seconds "$SYNC_SECONDS")
echo "$out"

echo "== ratios (Rill / fio, same run)"
SEQ="$seq" F16=${fsync[16]} F64=${fsync[64]} F256=${fsync[256]} F1024=${fsync[1024]} python3 - "$out" <<'PY'
import os, re, sys
out = sys.argv[1]
seq = float(os.environ["SEQ"])
for kib in (16, 64, 256, 1024):
    m = re.search(rf"append {kib}KiB batches: ([\d.]+) MiB/s buffered, ([\d.]+) MiB/s including", out)
    s = re.search(rf"append\+fsync {kib}KiB batches: ([\d.]+) commits/s", out)
    f = float(os.environ[f"F{kib}"])
    print(f"{kib:>5} KiB batches: buffered append {float(m.group(2))/seq:.2f}x fio seq write (aim >= 0.80); "
          f"append+fsync {float(s.group(1))/f:.2f}x fio write+fdatasync (aim >= 0.90)")
crc = re.search(r"crc32c instruction: ([\d.]+) GB/s", out)
if crc: print(f"crc32c: {crc.group(1)} GB/s (aim >= 5)")
PY
