"""Three real Rill nodes: the leader of a partition is killed with kill -9 while a streaming
aggregate runs and an idempotent producer writes; the aggregate must still equal exactly what the
producer had acknowledged."""
import json
import shutil
import tempfile
import threading
import time
from collections import Counter

import pytest
from pyspark.sql import functions as F

from rill_spark.local import LocalCluster
from conftest import create_topic, print_node_logs_if_failed, produce, source, unique


@pytest.fixture(scope="module")
def cluster3(request):
    with LocalCluster(nodes=3) as c:
        yield c
        print_node_logs_if_failed(request, c)


def test_leader_killed_mid_stream_leaves_the_aggregate_exact(spark, cluster3):
    c = cluster3
    topic = create_topic(c.bootstrap, unique("failover"), partitions=3, replication=3)
    ckpt = tempfile.mkdtemp(prefix="rill-failover-")
    q = (source(spark, c.bootstrap, subscribe=topic, startingOffsets="earliest")
         .groupBy(F.col("key").cast("string").alias("k")).count()
         .writeStream.outputMode("complete").format("memory").queryName("failover_counts")
         .option("checkpointLocation", ckpt).trigger(processingTime="1 second").start())
    acked = []
    failures = []

    def writer():
        try:
            for chunk in range(30):
                recs = [{"key": f"k{(chunk * 200 + i) % 11}".encode(), "value": json.dumps({"c": chunk, "i": i}).encode()}
                        for i in range(200)]
                acked.extend((r["key"].decode(), pos) for r, pos in
                             zip(recs, produce(c.bootstrap, topic, recs, **{"message.timeout.ms": 90000})))
                time.sleep(0.1)
        except Exception as e:  # noqa: BLE001 (reported below)
            failures.append(e)

    t = threading.Thread(target=writer)
    t.start()
    try:
        # kill -9 the leader of partition 0 once the query has read something
        deadline = time.time() + 90
        while time.time() < deadline and sum(p["numInputRows"] for p in q.recentProgress) < 1000:
            time.sleep(0.1)
        assert sum(p["numInputRows"] for p in q.recentProgress) >= 1000, "the query read nothing"
        leader = c.leader_of(topic, 0)
        assert leader > 0
        c.kill(leader)
        killed_after = sum(p["numInputRows"] for p in q.recentProgress)
        t.join(timeout=240)
        assert not t.is_alive() and not failures, f"producer: {failures}"
        assert len(acked) == 6000
        want = Counter(k for k, _ in acked)
        # the query catches up with everything acknowledged
        deadline = time.time() + 120
        got = {}
        while time.time() < deadline:
            got = {r["k"]: r["count"] for r in spark.sql("select * from failover_counts").collect()}
            if sum(got.values()) >= len(acked):
                break
            time.sleep(0.5)
        assert q.exception() is None, q.exception()
        assert killed_after < len(acked), "the kill came after the query had read everything"
        assert got == dict(want), f"counts differ: got {sum(got.values())} records, want {len(acked)}"
        assert len(set(pos for _, pos in acked)) == len(acked)  # no offset acknowledged twice
        c.start_node(leader)
    finally:
        q.stop()
        shutil.rmtree(ckpt, ignore_errors=True)
