"""Produce benchmark against a running Rill cluster (BOOTSTRAP=host:port,...), with librdkafka's
batching: throughput with acks=all for a record size, and the latency of one record in flight at
a time. Prints one JSON line per measurement.

The records are produced by LOADGEN (ops/rdkafka_loadgen.c, built by ops/bench-produce.sh), a
native program on librdkafka: NATS is driven by a Go load generator, and confluent-kafka's
per-record Python call took 0.5-0.8 of the machine's two cores at 1 KiB. Without LOADGEN the
Python client produces (the figures then include its cost). Topics are made here either way."""
import json
import os
import subprocess
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = os.environ["BOOTSTRAP"]
SECONDS = float(os.environ.get("SECONDS_PER_RUN", "10"))
# PARTITIONS=1000 spreads the throughput runs over that many partitions (librdkafka's sticky
# partitioner for keyless records): issue 14's "producing to 1,000 partitions at once".
PARTITIONS = int(os.environ.get("PARTITIONS", "1"))


def topic(name):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    try:
        admin.create_topics([NewTopic(name, PARTITIONS, int(os.environ.get("REPLICATION", "3")))], operation_timeout=60)[name].result()
    except Exception as e:
        if "TOPIC_ALREADY_EXISTS" not in str(e):
            raise
    # Wait for a leader.
    for _ in range(100):
        t = admin.list_topics(name, timeout=5).topics.get(name)
        if t and len(t.partitions) == PARTITIONS and all(p.leader > 0 for p in t.partitions.values()):
            return
        time.sleep(0.1)


def produce_for(name, size, seconds, extra=None):
    """Produce `size`-byte records to `name` for `seconds` with librdkafka's batching (acks=all),
    then flush; returns (acknowledged, errors, elapsed seconds)."""
    conf = {"bootstrap.servers": BOOTSTRAP, "acks": "all", "linger.ms": 5, "batch.size": 1 << 20,
            "queue.buffering.max.messages": 1_000_000, "queue.buffering.max.kbytes": 1 << 20,
            "compression.type": "none"}
    conf.update(extra or {})
    p = Producer(conf)
    acked = [0]
    errors = [0]

    def cb(err, _msg):
        if err is None:
            acked[0] += 1
        else:
            errors[0] += 1

    value = b"x" * size
    start = time.time()
    sent = 0
    while time.time() - start < seconds:
        try:
            p.produce(name, value=value, callback=cb)
            sent += 1
        except BufferError:
            p.poll(0.001)
        if sent % 1000 == 0:
            p.poll(0)
    p.flush(120)
    return acked[0], errors[0], time.time() - start


LOADGEN = os.environ.get("LOADGEN")


def loadgen(mode, name, size, seconds):
    out = subprocess.run([LOADGEN, mode, BOOTSTRAP, name, str(size), str(seconds)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def throughput(size):
    name = f"bench-{size}"
    topic(name)
    if LOADGEN:
        r = loadgen("throughput", name, size, SECONDS)
        acked, errors, elapsed = r["records"], r["errors"], r["seconds"]
    else:
        acked, errors, elapsed = produce_for(name, size, SECONDS)
    return {"test": "throughput", "acks": "all", "size": size, "partitions": PARTITIONS, "records": acked, "errors": errors,
            "seconds": round(elapsed, 2), "records_per_s": round(acked / elapsed), "mb_per_s": round(acked * size / elapsed / 1e6, 2),
            "client": "librdkafka (rdkafka_loadgen)" if LOADGEN else "confluent-kafka (Python)", "rss_peak_mb": peak_rss()}


def peak_rss():
    """With NODES given: each node's peak resident memory so far (VmHWM), in MB."""
    out = {}
    for item in filter(None, os.environ.get("NODES", "").split(",")):
        pid = item.split(":")[2]
        try:
            with open(f"/proc/{pid}/status") as f:
                kb = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
            out[pid] = round(kb / 1024)
        except (OSError, StopIteration):
            pass
    return out


def latency(size):
    name = f"bench-lat-{size}"
    topic(name)
    if LOADGEN:
        r = loadgen("latency", name, size, SECONDS / 2)
        return {"test": "latency", "acks": "all", "size": size, "samples": r["samples"], "p50_us": r["p50_us"], "p99_us": r["p99_us"],
                "client": "librdkafka (rdkafka_loadgen)"}
    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "linger.ms": 0})
    value = b"y" * size
    samples = []
    for _ in range(50):  # warm up
        p.produce(name, value=value)
        p.flush(10)
    start = time.time()
    while time.time() - start < SECONDS / 2:
        t0 = time.perf_counter()
        p.produce(name, value=value)
        p.flush(10)
        samples.append(time.perf_counter() - t0)
    samples.sort()
    pct = lambda q: round(samples[int(q * (len(samples) - 1))] * 1e6)
    return {"test": "latency", "acks": "all", "size": size, "samples": len(samples), "p50_us": pct(0.5), "p99_us": pct(0.99),
            "client": "confluent-kafka (Python)"}


def settle(limit=60.0):
    """With NODES given, wait until every replica applied what its group's most advanced replica
    did: a follower still copying the last run's records would take CPU and disk from the next
    run (it showed as a 7.6 ms p99 in the latency run after the 1 KiB run)."""
    if not os.environ.get("NODES"):
        return
    import re
    import urllib.request
    start = time.time()
    while time.time() - start < limit:
        applied = {}
        for item in os.environ["NODES"].split(","):
            host, port, _ = item.split(":")
            text = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5).read().decode()
            for m in re.finditer(r'^rill_raft_applied_index\{[^}]*group="(\d+)"[^}]*\} ([\d.e+]+)$', text, re.M):
                applied.setdefault(m.group(1), []).append(float(m.group(2)))
        if all(min(v) == max(v) for v in applied.values()):
            return
        time.sleep(0.2)
    print(f"settle: replicas still apart after {limit:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    for size in [int(s) for s in os.environ.get("SIZES", "100 1024").split()]:
        settle()
        print(json.dumps(throughput(size)), flush=True)
    settle()
    if os.environ.get("NODES"):
        # Where the time goes: every node's histograms, fsyncs and CPU over the latency run.
        from latency_breakdown import report, snapshot
        before = snapshot()
        print(json.dumps(latency(100)), flush=True)
        print(json.dumps(report(before, snapshot())), flush=True)
    else:
        print(json.dumps(latency(100)), flush=True)
