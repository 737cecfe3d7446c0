#!/usr/bin/env bash
# A local cluster you can break on purpose: nodes as separate background processes.
#
#   ops/local-cluster.sh up [N]        # N = 1, 3 (default) or 5 nodes, in .rill/local
#   ops/local-cluster.sh status
#   ops/local-cluster.sh kill K        # kill -9 node K
#   ops/local-cluster.sh restart K     # start node K again (after kill)
#   ops/local-cluster.sh down          # SIGTERM every node (graceful)
#
# Ports: Kafka 9092+, peers 9192+, status 9292+ (set KAFKA_PORT to move them). Data and logs stay
# in .rill/local (DIR to move it).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${DIR:-.rill/local}
KAFKA_PORT=${KAFKA_PORT:-9092}
RILL=${RILL:-.build/release/rill}

build() { [ -x "$RILL" ] || swift build -c release --product rill; }
pidfile() { echo "$DIR/node-$1.pid"; }
running() { [ -f "$(pidfile "$1")" ] && kill -0 "$(cat "$(pidfile "$1")")" 2>/dev/null; }
start() {
  if running "$1"; then echo "node $1 already running"; return; fi
  nohup "$RILL" serve --config "$DIR/node-$1/node.toml" >>"$DIR/node-$1.stderr" 2>&1 &  # the log itself: node-$1.log (rotated)
  echo $! >"$(pidfile "$1")"
  echo "node $1 started (pid $!, log $DIR/node-$1.log)"
}
nodes() { ls -d "$DIR"/node-*/ 2>/dev/null | sed -E 's#.*/node-([0-9]+)/#\1#' | sort -n; }

case "${1:-}" in
  up)
    n=${2:-3}
    build
    "$RILL" dev --init-only --nodes "$n" --dir "$DIR" --kafka-port "$KAFKA_PORT" >/dev/null
    for k in $(seq 1 "$n"); do start "$k"; done
    echo "status: $RILL cluster status --dir $DIR"
    ;;
  status) build; "$RILL" cluster status --dir "$DIR" ;;
  kill) running "$2" && kill -9 "$(cat "$(pidfile "$2")")" && echo "node $2 killed (-9)" || echo "node $2 is not running" ;;
  restart) build; start "$2" ;;
  down)
    for k in $(nodes); do
      if running "$k"; then kill -TERM "$(cat "$(pidfile "$k")")"; echo "node $k stopping"; fi
    done
    for k in $(nodes); do
      for _ in $(seq 1 100); do running "$k" || break; sleep 0.1; done
      rm -f "$(pidfile "$k")"
    done
    ;;
  *) sed -n '2,11p' "$0"; exit 64 ;;
esac
