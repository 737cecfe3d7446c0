# Sourced by the benchmark scripts: start a three-node cluster of $RILL on free ports in a
# temporary directory, killed and removed when the script exits. After `bench_cluster_start
# [LINE ...]` (each LINE added to every node's [kafka] section, e.g. compaction_check_ms = 1000):
# $dir (data, node-N.log), $bootstrap (host:port,...).
bench_cluster_start() {
  local base
  base=$(python3 -c 'import random; print(random.randint(20000, 32500))')
  dir=$(mktemp -d /tmp/rill-bench-XXXXXX)
  bench_pids=()
  trap 'for p in "${bench_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT
  "$RILL" dev --init-only --nodes 3 --dir "$dir" --kafka-port "$base" >/dev/null
  local line n
  for line in "$@"; do
    for n in 1 2 3; do sed -i "s/^\[kafka\]\$/[kafka]\n$line/" "$dir/node-$n/node.toml"; done
  done
  for n in 1 2 3; do
    "$RILL" serve --config "$dir/node-$n/node.toml" >"$dir/node-$n.stderr" 2>&1 &
    bench_pids+=($!)
    disown $!
  done
  for _ in $(seq 1 100); do
    "$RILL" cluster status --dir "$dir" 2>/dev/null | grep -q "3/3 node(s) up; controller leader: node" && break
    sleep 0.2
  done
  bootstrap="127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
}
