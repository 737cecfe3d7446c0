"""Produce latency with and without log compaction running (ops/bench-compaction-latency.sh
starts the cluster, with compaction offered every second).

Each phase runs `--seconds`: a background producer writes keyed 1 KiB records over 20,000 keys at
`--rate-mb` MB/s into a topic of its own, and a probe producer sends one 100-byte record at a time
(acks=all, waiting for each) to topic `probe`, timing each. In a "compact" phase the churn topic
has cleanup.policy=compact with 1 MiB segments and min.cleanable.dirty.ratio=0.01, so every closed
segment is cleaned within a second or two of closing, all through the phase; in a "delete" phase
the same churn goes to a delete-policy topic and nothing is cleaned. Phases alternate (delete,
compact, delete, compact, ...) so that the machine's drift hits both. Prints per phase the probe's
p50/p99/max and the compaction passes the nodes logged, then the compact/delete ratios.

  python ops/compaction_latency_bench.py BOOTSTRAP DATA_DIR [--seconds 30] [--pairs 2] [--rate-mb 8]"""
import argparse
import glob
import re
import statistics
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

KEYS = 20_000
VALUE = b"v" * 1024


def create(admin, name, configs):
    for attempt in range(10):
        try:
            admin.create_topics([NewTopic(name, 1, 3, config=configs)], operation_timeout=30)[name].result()
            break
        except Exception as e:  # the cluster may still be electing its controller
            if attempt == 9:
                raise
            print(f"create {name}: {e}; again", flush=True)
            time.sleep(2)
    time.sleep(1)


def churn(bootstrap, topic, rate_bytes, stop, counts):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "compression.type": "none",
                  "queue.buffering.max.kbytes": 65536})
    sent = 0
    start = time.monotonic()
    n = 0
    while not stop.is_set():
        # Throttle to the rate: sleep whenever ahead of it.
        ahead = sent / rate_bytes - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(min(ahead, 0.05))
            continue
        for _ in range(100):
            try:
                p.produce(topic, key=f"k{n % KEYS}".encode(), value=VALUE)
            except BufferError:
                p.poll(0.01)
                continue
            n += 1
            sent += len(VALUE)
        p.poll(0)
    p.flush(60)
    counts.append(n)


def probe(bootstrap, seconds):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    latencies = []
    errors = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        done = []
        t0 = time.perf_counter()
        p.produce("probe", value=b"p" * 100, callback=lambda err, msg: done.append(err))
        while not done:
            p.poll(0.0005)
        latencies.append((time.perf_counter() - t0) * 1e6)
        if done[0] is not None:
            errors.append(done[0])
    p.flush(10)
    return latencies, errors


def passes(data_dir, topic):
    """Compaction passes the nodes have logged for `topic`, and the bytes they cleaned away."""
    count, saved = 0, 0
    pattern = re.compile(r"compacted " + re.escape(topic) + r"-0 \(group \d+\): \d+ segments?, (\d+) → (\d+) bytes")
    for path in glob.glob(f"{data_dir}/node-*.log*"):
        with open(path, errors="replace") as f:
            for line in f:
                m = pattern.search(line)
                if m:
                    count += 1
                    saved += int(m.group(1)) - int(m.group(2))
    return count, saved


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("data_dir")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--rate-mb", type=float, default=8.0)
    a = ap.parse_args()
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    create(admin, "probe", {})
    results = {"delete": [], "compact": []}
    for k in range(a.pairs):
        for policy in ("delete", "compact"):
            topic = f"churn-{policy}-{k}"
            configs = {"cleanup.policy": policy, "segment.bytes": "1048576"}
            if policy == "compact":
                configs["min.cleanable.dirty.ratio"] = "0.01"
            create(admin, topic, configs)
            stop = threading.Event()
            counts = []
            t = threading.Thread(target=churn, args=(a.bootstrap, topic, a.rate_mb * 1e6, stop, counts))
            t.start()
            time.sleep(3)  # the churn is under way and segments are closing
            before = passes(a.data_dir, topic)
            lat, errors = probe(a.bootstrap, a.seconds)
            after = passes(a.data_dir, topic)
            stop.set()
            t.join()
            n_passes, saved = after[0] - before[0], after[1] - before[1]
            row = (statistics.median(lat), pct(lat, 0.99), max(lat), len(lat), n_passes, saved, counts[0] if counts else 0)
            results[policy].append(row)
            print(f"{policy:7s} pair {k}: probe p50 {row[0]:8.0f} µs  p99 {row[1]:8.0f} µs  max {row[2]:8.0f} µs  "
                  f"({row[3]} probes, {len(errors)} errors); churn {row[6]} records; "
                  f"compaction passes during the probe {n_passes} (all nodes), {saved / 1e6:.1f} MB cleaned away", flush=True)
    for i, name in ((0, "p50"), (1, "p99"), (2, "max")):
        d = statistics.mean(r[i] for r in results["delete"])
        c = statistics.mean(r[i] for r in results["compact"])
        print(f"{name}: delete {d:.0f} µs, compact {c:.0f} µs, compact/delete {c / d:.2f}")


if __name__ == "__main__":
    main()
