#!/usr/bin/env bash
# libFuzzer over the fuzz targets (docs/fuzzing.md): Kafka request frames through a node, RecordBatch
# validation, peer packets into a node, segment recovery, node.toml parsing. Builds the libFuzzer
# driver (Swift's -sanitize=fuzzer, scratch path .build-fuzz), starts each target from its seeds
# and Fuzz/corpus, keeps the grown corpus in .fuzz/corpus/<target> and crashes in
# .fuzz/crashes/<target>/ (copy a fixed one to Fuzz/regressions/<target>/: swift test replays it).
#
#   bash ops/fuzz.sh                                   # every target, 60 s each
#   bash ops/fuzz.sh --runs 10000000                   # every target until 10 M executions each
#   bash ops/fuzz.sh --seconds 20 kafka-request peer-packet
#   bash ops/fuzz.sh --ci                              # CI's fixed budget: 200,000 executions each, seed 1
set -euo pipefail
cd "$(dirname "$0")/.."
budget=(-max_total_time=60)
targets=()
fresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) budget=(-max_total_time="$2"); shift 2 ;;
    --runs) budget=(-runs="$2"); shift 2 ;;
    --ci) budget=(-runs=200000 -seed=1); fresh=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(kafka-request record-batch peer-packet segment-recovery node-config)

# The seeds come from the plain tool (a normal debug build); the fuzzer is a build of its own.
[ -x .build/debug/rill-fuzz ] || swift build --product rill-fuzz
swift build -c release --scratch-path .build-fuzz --product rill-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DRILL_LIBFUZZER
FUZZ=.build-fuzz/release/rill-fuzz

status=0
summary=()
for t in "${targets[@]}"; do
  corpus=.fuzz/corpus/$t
  crashes=.fuzz/crashes/$t
  # CI starts from the committed inputs only, so its budget means the same on every run.
  [ "$fresh" -eq 1 ] && rm -rf "$corpus"
  mkdir -p "$corpus" "$crashes"
  .build/debug/rill-fuzz seeds "$t" "$corpus"
  [ -d "Fuzz/corpus/$t" ] && cp Fuzz/corpus/"$t"/* "$corpus"/
  log=.fuzz/$t.log
  echo "=== $t (${budget[*]})"
  set +e
  # SWIFT_BACKTRACE off: Swift's own crash handler would end the process before libFuzzer writes
  # the crashing input (libFuzzer catches the trap's SIGILL itself).
  SWIFT_BACKTRACE=enable=no RILL_FUZZ_TARGET=$t "$FUZZ" "$corpus" "${budget[@]}" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
    -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1
  r=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  size=$(ls "$corpus" | wc -l)
  if [ "$r" -ne 0 ]; then
    status=1
    grep -aE "ERROR|Fatal error|runtime failure|Test unit written|SUMMARY" "$log" | head -8 || true
    summary+=("$(printf '%-18s FAILED (exit %s) after %s executions; see %s and %s' "$t" "$r" "${execs:-?}" "$log" "$crashes")")
  else
    summary+=("$(printf '%-18s %12s executions %8s exec/s %6s corpus inputs, no crash' "$t" "${execs:-?}" "${speed:-?}" "$size")")
  fi
done
echo
printf '%s\n' "${summary[@]}"
exit $status
