"""Partition move benchmark against a running three-node Rill cluster (BOOTSTRAP, RILL): how long
moving a partition of BULK_MB takes, and what the move costs a producer writing to another topic
meanwhile — its throughput before, during and after the move, as ratios to the before figure
measured in the same run. Prints one JSON line.

  BOOTSTRAP=127.0.0.1:9092,... RILL=.build/release/rill python3 ops/move_bench.py
(ops/bench-move.sh starts the cluster and runs this.)"""
import json
import os
import subprocess
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = os.environ["BOOTSTRAP"]
RILL = os.environ.get("RILL", ".build/release/rill")
BULK_MB = int(os.environ.get("BULK_MB", "256"))
BASELINE_S = float(os.environ.get("BASELINE_SECONDS", "10"))


def create(name, partitions, replication, config=None):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic(name, partitions, replication, config=config or {})], operation_timeout=60)[name].result()
    for _ in range(100):
        t = admin.list_topics(name, timeout=5).topics.get(name)
        if t and all(p.leader > 0 for p in t.partitions.values()):
            return [p.replicas for p in t.partitions.values()]
        time.sleep(0.1)
    raise SystemExit(f"no leader for {name}")


def fill(name, megabytes):
    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "linger.ms": 5, "batch.size": 1 << 20,
                  "queue.buffering.max.kbytes": 1 << 20, "compression.type": "none"})
    value = b"b" * 16384
    for _ in range(megabytes * 64):
        while True:
            try:
                p.produce(name, value)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    if p.flush(120) != 0:
        raise SystemExit("bulk records not acknowledged")


class Load(threading.Thread):
    """1 KiB records to `name`, acks=all, counting acknowledgements; at most `rate` records a
    second when given (else as fast as the cluster takes them)."""

    def __init__(self, name, rate=None):
        super().__init__(daemon=True)
        self.name_ = name
        self.rate_ = rate
        self.acks = []  # (time, count)
        self.stop = False
        self.errors = 0

    def run(self):
        p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "linger.ms": 5, "batch.size": 1 << 20,
                      "queue.buffering.max.kbytes": 1 << 18, "compression.type": "none"})

        def cb(err, _msg):
            if err is None:
                self.acks.append(time.time())
            else:
                self.errors += 1

        value = b"l" * 1024
        began = time.time()
        sent = 0
        while not self.stop:
            if self.rate_ and sent >= (time.time() - began) * self.rate_:
                p.poll(0.001)
                continue
            try:
                p.produce(self.name_, value, callback=cb)
                sent += 1
            except BufferError:
                p.poll(0.01)
            p.poll(0)
        p.flush(60)

    def rate(self, start, end):
        n = sum(1 for t in self.acks if start <= t < end)
        return n / max(end - start, 1e-9)


def main():
    replicas = create("bulk", 1, 1)[0]
    create("load", 1, 3)
    t0 = time.time()
    fill("bulk", BULK_MB)
    fill_s = time.time() - t0
    load = Load("load")
    load.start()
    time.sleep(BASELINE_S)
    source = replicas[0]
    target = source % 3 + 1
    began = time.time()
    out = subprocess.run([RILL, "topic", "move", "-b", BOOTSTRAP, "bulk", "--to", str(target)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stdout + out.stderr)
    while True:
        listed = subprocess.run([RILL, "topic", "moves", "-b", BOOTSTRAP], capture_output=True, text=True).stdout
        if "no partition is moving" in listed:
            break
        if time.time() - began > 600:
            raise SystemExit("the move did not finish in 10 minutes")
        time.sleep(0.2)
    done = time.time()
    time.sleep(BASELINE_S)
    load.stop = True
    load.join()
    before = load.rate(began - BASELINE_S + 1, began)
    during = load.rate(began, done)
    after = load.rate(done + 1, done + BASELINE_S)
    print(json.dumps({
        "bulk_mb": BULK_MB, "fill_seconds": round(fill_s, 1), "move_from": source, "move_to": target,
        "move_seconds": round(done - began, 2), "move_mb_per_s": round(BULK_MB / max(done - began, 1e-9), 1),
        "load_records_per_s_before": round(before), "load_records_per_s_during": round(during),
        "load_records_per_s_after": round(after), "during_over_before": round(during / max(before, 1e-9), 2),
        "after_over_before": round(after / max(before, 1e-9), 2), "load_errors": load.errors,
    }))


if __name__ == "__main__":
    main()
