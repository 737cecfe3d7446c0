"""Transactional produce against idempotent produce on a running cluster
(ops/bench-transactions.sh starts it): the same number of records of the same size, to a
three-partition topic, sent (1) by an idempotent producer with acks=all (the baseline), (2) in
transactions of 10 records, (3) in transactions of 100 records, each transaction's records spread
over the three partitions. Reports records/s and each mode's ratio to the baseline, and the
commit latency (commit_transaction, which returns once the coordinator has recorded the decision
and the markers are on their way) p50/p99, and a whole transaction's (begin to commit) p50/p99.

  python3 ops/transactions_bench.py BOOTSTRAP [--records 20000] [--size 100]"""
import argparse
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def percentile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--size", type=int, default=100)
    a = ap.parse_args()
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    topic = f"txbench-{int(time.time()) % 100000}"
    admin.create_topics([NewTopic(topic, 3, 3)], operation_timeout=30)[topic].result()
    value = b"x" * a.size

    p = Producer({"bootstrap.servers": a.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    for i in range(200):  # warm-up: metadata, producer id, connections
        p.produce(topic, value, partition=i % 3)
    p.flush(60)
    t0 = time.perf_counter()
    for i in range(a.records):
        while True:
            try:
                p.produce(topic, value, partition=i % 3)
                break
            except BufferError:
                p.poll(0.01)
    left = p.flush(120)
    base = a.records / (time.perf_counter() - t0)
    assert left == 0, f"{left} records not acknowledged"
    print(f"idempotent (acks=all): {base:,.0f} records/s")

    for per in (10, 100):
        tp = Producer({"bootstrap.servers": a.bootstrap, "transactional.id": f"txbench-{per}-{topic}", "linger.ms": 5})
        tp.init_transactions(60)
        for _ in range(5):  # warm-up transactions
            tp.begin_transaction()
            for i in range(per):
                tp.produce(topic, value, partition=i % 3)
            tp.commit_transaction(60)
        commits, whole = [], []
        n = max(1, a.records // per)
        t0 = time.perf_counter()
        for _ in range(n):
            begin = time.perf_counter()
            tp.begin_transaction()
            for i in range(per):
                tp.produce(topic, value, partition=i % 3)
            c0 = time.perf_counter()
            tp.commit_transaction(60)
            end = time.perf_counter()
            commits.append((end - c0) * 1000)
            whole.append((end - begin) * 1000)
        elapsed = time.perf_counter() - t0
        rate = n * per / elapsed
        print(f"transactions of {per}: {rate:,.0f} records/s ({rate / base:.2f}x idempotent), {n / elapsed:,.0f} transactions/s; "
              f"commit p50 {percentile(commits, 0.5):.1f} ms p99 {percentile(commits, 0.99):.1f} ms; "
              f"transaction p50 {percentile(whole, 0.5):.1f} ms p99 {percentile(whole, 0.99):.1f} ms")


main()
