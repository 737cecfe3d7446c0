"""Records per second read from Rill by Spark through format("rill") against the same records read
by a plain Python consumer with the same client library (confluent-kafka), in one run on one
cluster. Run by ops/bench-spark.sh; prints one JSON line per measurement and a table.

    python ops/spark_bench.py --records 1000000 --size 100 --partitions 2
"""
import argparse
import json
import os
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from rill_spark.local import LocalCluster


def produce(bootstrap, topic, n, size):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 20,
                  "batch.size": 1000000, "queue.buffering.max.messages": 1000000})
    value = b"x" * (size - 8)
    t0 = time.perf_counter()
    for i in range(n):
        while True:
            try:
                p.produce(topic, key=b"%07d" % (i % 1000), value=value + b"%08d" % i)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10000 == 0:
            p.poll(0)
    assert p.flush(120) == 0
    return n / (time.perf_counter() - t0)


def plain_consumer(bootstrap, topic, partitions, n):
    """What an application loop does with each record: take its key, value, offset and timestamp."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-plain", "enable.auto.commit": False,
                  "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760,
                  "queued.min.messages": 500000, "queued.max.messages.kbytes": 262144})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = 0
    nbytes = 0
    t0 = time.perf_counter()
    while got < n:
        for m in c.consume(10000, timeout=1.0):
            if m.error():
                continue
            k, v, o, ts = m.key(), m.value(), m.offset(), m.timestamp()
            nbytes += len(v)
            got += 1
    took = time.perf_counter() - t0
    c.close()
    return got / took, took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    results = {}
    with LocalCluster(nodes=1) as cluster:
        topic = "bench"
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        admin.create_topics([NewTopic(topic, args.partitions, 1)])[topic].result(timeout=30)
        time.sleep(2)
        results["produce (confluent-kafka, idempotent, acks=all)"] = produce(cluster.bootstrap, topic, args.records, args.size)

        from pyspark.sql import SparkSession
        import rill_spark
        spark = rill_spark.register(SparkSession.builder.master(f"local[{args.partitions}]")
                                    .config("spark.sql.shuffle.partitions", "2").config("spark.ui.enabled", "false")
                                    .getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        def df():   # a new reader each time: DataFrameReader.option changes the reader it is called on
            return spark.read.format("rill").option("kafka.bootstrap.servers", cluster.bootstrap).option("subscribe", topic)
        # warm-up: JVM, Python workers, clients (reads 1,000 records)
        assert df().option("endingOffsets", json.dumps({topic: {str(p): 500 for p in range(args.partitions)}})).load().count() \
            == 500 * args.partitions
        best = 0.0
        for _ in range(2):
            t0 = time.perf_counter()
            n = df().load().count()
            took = time.perf_counter() - t0
            assert n == args.records, n
            best = max(best, n / took)
        results["Spark batch read, format(\"rill\").load().count() (best of 2)"] = best
        q = (spark.readStream.format("rill").option("kafka.bootstrap.servers", cluster.bootstrap)
             .option("subscribe", topic).option("startingOffsets", "earliest").load()
             .writeStream.format("noop").trigger(availableNow=True).start())
        t0 = time.perf_counter()
        q.awaitTermination()
        took = time.perf_counter() - t0
        rows = sum(p["numInputRows"] for p in q.recentProgress)
        assert rows == args.records, rows
        results["Spark streaming, availableNow to noop (whole query)"] = rows / took
        spark.stop()

        best = 0.0
        for _ in range(2):
            rate, _ = plain_consumer(cluster.bootstrap, topic, args.partitions, args.records)
            best = max(best, rate)
        results["plain confluent-kafka consumer, one process (best of 2)"] = best

    print(f"\n{args.records} records of {args.size} B, {args.partitions} partitions, one Rill node, Spark local[{args.partitions}]")
    for name, rate in results.items():
        print(json.dumps({"measure": name, "records_per_s": round(rate)}))
    plain = results["plain confluent-kafka consumer, one process (best of 2)"]
    print(f"\n| measure | records/s | vs plain consumer |\n|---|---|---|")
    for name, rate in results.items():
        print(f"| {name} | {rate:,.0f} | {rate / plain:.2f}x |")


if __name__ == "__main__":
    main()
