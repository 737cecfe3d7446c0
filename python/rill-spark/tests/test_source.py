"""format("rill") against a real one-node Rill cluster: what Spark reads is checked against what a
plain confluent-kafka producer acknowledged (never against the data source itself)."""
import json
import shutil
import tempfile
import threading
import time
from collections import Counter

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from pyspark.errors import StreamingQueryException
from pyspark.sql import functions as F

from conftest import ADMISSION_CONTROL, consume_all, create_topic, produce, source, unique


def keyed(n, keys=13, start=0):
    return [{"key": f"user-{(i * 7919) % keys}".encode(), "value": json.dumps({"n": i}).encode()}
            for i in range(start, start + n)]


def run_available_now(df, checkpoint, sink="memory", name=None, path=None, mode="append", timeout=180):
    w = df.writeStream.outputMode(mode).option("checkpointLocation", checkpoint).trigger(availableNow=True)
    if sink == "memory":
        w = w.format("memory").queryName(name)
        q = w.start()
    else:
        q = w.format(sink).start(path)
    assert q.awaitTermination(timeout), "availableNow query did not finish"
    if q.exception():
        raise q.exception()
    return q


def test_counts_per_key_exact(spark, cluster):
    topic = create_topic(cluster.bootstrap, unique("counts"), partitions=3)
    recs = keyed(6000)
    produce(cluster.bootstrap, topic, recs)
    want = Counter(r["key"].decode() for r in recs)

    # batch
    got = {r["k"]: r["n"] for r in source(spark, cluster.bootstrap, stream=False, subscribe=topic)
           .groupBy(F.col("key").cast("string").alias("k")).agg(F.count("*").alias("n")).collect()}
    assert got == dict(want)

    # streaming, several micro-batches (maxOffsetsPerTrigger), complete-mode aggregate
    ckpt = tempfile.mkdtemp(prefix="rill-ckpt-")
    try:
        df = source(spark, cluster.bootstrap, subscribe=topic, startingOffsets="earliest", maxOffsetsPerTrigger=2500)
        q = run_available_now(df.groupBy(F.col("key").cast("string").alias("k")).count(), ckpt,
                              name="counts_exact", mode="complete")
        got = {r["k"]: r["count"] for r in spark.sql("select * from counts_exact").collect()}
        assert got == dict(want)
        batches = [p["numInputRows"] for p in q.recentProgress if p["numInputRows"] > 0]
        assert sum(batches) == 6000, batches
        if ADMISSION_CONTROL:   # before Spark 4.2 the first batch of a run is not limited
            assert max(batches) <= 2500 and len(batches) >= 3, batches
    finally:
        shutil.rmtree(ckpt, ignore_errors=True)


def test_restart_from_checkpoint_reads_nothing_twice_and_skips_nothing(spark, cluster):
    topic = create_topic(cluster.bootstrap, unique("restart"), partitions=2)
    acked = set(produce(cluster.bootstrap, topic, keyed(3000)))
    work = tempfile.mkdtemp(prefix="rill-restart-")
    out, ckpt = f"{work}/out", f"{work}/ckpt"
    try:
        df = source(spark, cluster.bootstrap, subscribe=topic, startingOffsets="earliest",
                    maxOffsetsPerTrigger=700).select("partition", "offset", "value")
        # First run: stopped while it still has records to read (4300 in all, 700 a batch). A
        # trigger every 2 s: stopped within 0.2 s of its second batch, it cannot have read them
        # all (with a short trigger it once had, before the stop came).
        q = (df.writeStream.format("parquet").option("checkpointLocation", ckpt)
             .trigger(processingTime="2 seconds").start(out))
        acked |= set(produce(cluster.bootstrap, topic, keyed(500, start=5000)))   # while it runs
        deadline = time.time() + 120
        while time.time() < deadline and sum(p["numInputRows"] for p in q.recentProgress) < 1400:
            time.sleep(0.2)
        q.stop()
        first = sum(p["numInputRows"] for p in q.recentProgress)
        assert first >= 1400, f"first run read {first}"
        if ADMISSION_CONTROL:
            assert first < 3500, f"first run read {first}: it was meant to stop with records left"
        # More records while the query is down, then a restart from the checkpoint.
        acked |= set(produce(cluster.bootstrap, topic, keyed(1300, start=3000)))
        run_available_now(df, ckpt, sink="parquet", path=out)
        rows = [(r["partition"], r["offset"]) for r in spark.read.parquet(out).collect()]
        dupes = [k for k, n in Counter(rows).items() if n > 1]
        assert not dupes, f"read twice: {dupes[:5]}"
        assert set(rows) == acked, f"skipped {sorted(acked - set(rows))[:5]}, extra {sorted(set(rows) - acked)[:5]}"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_live_trigger_sees_new_records_within_two_intervals(spark, cluster):
    topic = create_topic(cluster.bootstrap, unique("live"), partitions=1)
    produce(cluster.bootstrap, topic, keyed(10))
    interval = 2.0
    ckpt = tempfile.mkdtemp(prefix="rill-live-")
    q = (source(spark, cluster.bootstrap, subscribe=topic, startingOffsets="latest")
         .select(F.col("value").cast("string").alias("v"))
         .writeStream.format("memory").queryName("live_rows").option("checkpointLocation", ckpt)
         .trigger(processingTime=f"{interval} seconds").start())
    try:
        # Wait until the query runs its triggers (the first batch pays for the Python workers).
        deadline = time.time() + 90
        while time.time() < deadline and len(q.recentProgress) < 2:
            time.sleep(0.1)
        assert len(q.recentProgress) >= 2, "the query did not start"
        delays = []
        for round_ in range(3):
            marker = f"marker-{round_}-{time.time()}"
            produce(cluster.bootstrap, topic, [{"value": marker.encode()}])
            t0 = time.time()
            while time.time() - t0 < 6 * interval:
                if spark.sql(f"select count(*) c from live_rows where v = '{marker}'").collect()[0]["c"]:
                    break
                time.sleep(0.05)
            delays.append(time.time() - t0)
        assert max(delays) <= 2 * interval, f"seen after {delays} s (trigger every {interval} s)"
        # the 10 records before the query started are not read with startingOffsets=latest
        assert spark.sql("select count(*) c from live_rows").collect()[0]["c"] == 3
    finally:
        q.stop()
        shutil.rmtree(ckpt, ignore_errors=True)


def _set_topic_configs(bootstrap, topic, configs):
    """IncrementalAlterConfigs on one topic: SET each name to its value, or DELETE it (value None)."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET if v is not None else AlterConfigOpType.DELETE)
               for k, v in configs.items()]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.incremental_alter_configs([ConfigResource("topic", topic, incremental_configs=entries)]).values():
        f.result(timeout=30)


def _with_data_loss_setup(spark, cluster, fail):
    """A query reads a topic to its end (50 records) and stops; 30 more are written, then retention
    deletes them (retention.ms and segment.ms of 1 s for a moment; the test cluster measures
    retention every second) and 10 more follow. The query's checkpoint is at offset 50, below the
    partition's new start (80): data loss when it restarts."""
    topic = create_topic(cluster.bootstrap, unique("loss"), partitions=1)
    produce(cluster.bootstrap, topic, keyed(50))
    work = tempfile.mkdtemp(prefix="rill-loss-")
    df = source(spark, cluster.bootstrap, subscribe=topic, startingOffsets="earliest",
                failOnDataLoss=str(fail).lower()).select(F.col("value").cast("string").alias("v"), "offset")
    run_available_now(df, f"{work}/ckpt", sink="parquet", path=f"{work}/out")
    assert spark.read.parquet(f"{work}/out").count() == 50
    produce(cluster.bootstrap, topic, keyed(30, start=50))
    _set_topic_configs(cluster.bootstrap, topic, {"retention.ms": "1000", "segment.ms": "1000"})
    watcher = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": unique("watch")})
    try:
        deadline = time.time() + 60
        low = 0
        while time.time() < deadline:
            low, high = watcher.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
            if low == 80:
                break
            time.sleep(0.2)
        assert (low, high) == (80, 80), f"retention left the partition at [{low}, {high})"
    finally:
        watcher.close()
    _set_topic_configs(cluster.bootstrap, topic, {"retention.ms": None, "segment.ms": None})
    produce(cluster.bootstrap, topic, [{"value": f"new-{i}".encode()} for i in range(10)])
    return df, work


def test_retention_deleted_offsets_fail_under_fail_on_data_loss(spark, cluster):
    df, work = _with_data_loss_setup(spark, cluster, fail=True)
    try:
        with pytest.raises(StreamingQueryException, match=r"Offsets \[50, 80\) of .* are gone \(the partition now starts at 80\)"):
            run_available_now(df, f"{work}/ckpt", sink="parquet", path=f"{work}/out")
        assert spark.read.parquet(f"{work}/out").count() == 50
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_retention_deleted_offsets_skipped_without_fail_on_data_loss(spark, cluster):
    df, work = _with_data_loss_setup(spark, cluster, fail=False)
    try:
        run_available_now(df, f"{work}/ckpt", sink="parquet", path=f"{work}/out")
        got = sorted(r["v"] for r in spark.read.parquet(f"{work}/out").where("v like 'new-%'").collect())
        # what the partition still holds is read; what retention deleted is skipped; nothing twice
        assert got == sorted(f"new-{i}" for i in range(10))
        assert spark.read.parquet(f"{work}/out").count() == 60
        assert sorted(r["offset"] for r in spark.read.parquet(f"{work}/out").collect()) == list(range(50)) + list(range(80, 90))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _with_recreated_topic_setup(spark, cluster, fail):
    """A query reads a topic to its end; the topic is deleted and created again with fewer records
    (its offsets move back); the query restarts from its checkpoint."""
    topic = create_topic(cluster.bootstrap, unique("loss"), partitions=1)
    produce(cluster.bootstrap, topic, keyed(50))
    work = tempfile.mkdtemp(prefix="rill-loss-")
    df = source(spark, cluster.bootstrap, subscribe=topic, startingOffsets="earliest",
                failOnDataLoss=str(fail).lower()).select(F.col("value").cast("string").alias("v"), "offset")
    run_available_now(df, f"{work}/ckpt", sink="parquet", path=f"{work}/out")
    assert spark.read.parquet(f"{work}/out").count() == 50
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=60)
    deadline = time.time() + 30
    while topic in admin.list_topics(timeout=10).topics and time.time() < deadline:
        time.sleep(0.2)
    create_topic(cluster.bootstrap, topic, partitions=1)
    produce(cluster.bootstrap, topic, [{"value": f"new-{i}".encode()} for i in range(10)])
    return df, work


def test_offsets_moved_back_fail_under_fail_on_data_loss(spark, cluster):
    df, work = _with_recreated_topic_setup(spark, cluster, fail=True)
    try:
        with pytest.raises(StreamingQueryException, match=r"offset was changed from 50 to 10"):
            run_available_now(df, f"{work}/ckpt", sink="parquet", path=f"{work}/out")
        assert spark.read.parquet(f"{work}/out").count() == 50
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_offsets_moved_back_skipped_without_fail_on_data_loss(spark, cluster):
    df, work = _with_recreated_topic_setup(spark, cluster, fail=False)
    try:
        run_available_now(df, f"{work}/ckpt", sink="parquet", path=f"{work}/out")
        got = sorted(r["v"] for r in spark.read.parquet(f"{work}/out").where("v like 'new-%'").collect())
        # what the new topic holds is read; what was lost is skipped; nothing read twice
        assert got == sorted(f"new-{i}" for i in range(10))
        assert spark.read.parquet(f"{work}/out").count() == 60
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_headers_round_trip(spark, cluster):
    topic = create_topic(cluster.bootstrap, unique("headers"), partitions=2)
    recs = [
        {"key": b"a", "value": b"1", "headers": [("trace", b"\x00\x01\xff"), ("trace", b"again"), ("empty", b"")]},
        {"key": b"b", "value": b"2"},
        {"key": b"c", "value": b"3", "headers": [("unicode-\u00e9", "caf\u00e9".encode())]},
        {"key": None, "value": b"4", "headers": [("null-value", None)]},
    ]
    produce(cluster.bootstrap, topic, recs)
    rows = source(spark, cluster.bootstrap, stream=False, subscribe=topic, includeHeaders="true").collect()
    got = {bytes(r["value"]): (r["key"], [(h["key"], h["value"]) for h in r["headers"]] if r["headers"] else None)
           for r in rows}   # (Spark 4.0 gives binary columns as bytearray)
    want = {r["value"]: (r["key"], [(k, bytes(v) if v is not None else None) for k, v in r["headers"]]
                         if r.get("headers") else None) for r in recs}
    assert {k: (bytes(v[0]) if v[0] is not None else None,
                [(hk, bytes(hv) if hv is not None else None) for hk, hv in v[1]] if v[1] else None)
            for k, v in got.items()} == want

    # headers written by the sink come back the same (read by a plain consumer)
    out = create_topic(cluster.bootstrap, unique("headers-out"), partitions=1)
    (source(spark, cluster.bootstrap, stream=False, subscribe=topic, includeHeaders="true")
     .select("key", "value", "headers").write.mode("append").format("rill")
     .option("kafka.bootstrap.servers", cluster.bootstrap).option("topic", out).save())
    back = {v: (k, h) for _, _, k, v, h in consume_all(cluster.bootstrap, out, with_headers=True)}
    assert back == {r["value"]: (r["key"], [(k, v) for k, v in r["headers"]] if r.get("headers") else None)
                    for r in recs}


def test_sink_output_read_back_equals_input(spark, cluster):
    out = create_topic(cluster.bootstrap, unique("sink"), partitions=3)
    rows = [(f"k{i % 17}", json.dumps({"i": i, "pad": "x" * (i % 50)})) for i in range(3000)]
    df = spark.createDataFrame(rows, "key string, value string").repartition(4)
    df.write.mode("append").format("rill").option("kafka.bootstrap.servers", cluster.bootstrap).option("topic", out).save()
    back = consume_all(cluster.bootstrap, out)
    assert Counter((k.decode(), v.decode()) for _, _, k, v in back) == Counter(rows)
    # same key, same partition (the producer's key partitioner)
    parts = {}
    for p, _, k, _ in back:
        parts.setdefault(k, set()).add(p)
    assert all(len(s) == 1 for s in parts.values())

    # a streaming query copying one topic into another (topic and partition from columns)
    copy = create_topic(cluster.bootstrap, unique("sink-copy"), partitions=2)
    ckpt = tempfile.mkdtemp(prefix="rill-sink-")
    try:
        q = (source(spark, cluster.bootstrap, subscribe=out, startingOffsets="earliest")
             .select("key", "value", F.lit(copy).alias("topic"), (F.col("partition") % 2).alias("partition"))
             .writeStream.format("rill").option("kafka.bootstrap.servers", cluster.bootstrap)
             .option("checkpointLocation", ckpt).trigger(availableNow=True).start())
        assert q.awaitTermination(180)
        assert q.exception() is None
        copied = consume_all(cluster.bootstrap, copy)
        assert Counter((k, v) for _, _, k, v in copied) == Counter((k, v) for _, _, k, v in back)
        src_part = {(k, v): p for p, _, k, v in back}
        assert all(p == src_part[(k, v)] % 2 for p, _, k, v in copied)
    finally:
        shutil.rmtree(ckpt, ignore_errors=True)


def test_positions_and_subscriptions(spark, cluster):
    base = unique("pos")
    a = create_topic(cluster.bootstrap, base + "-a", partitions=2)
    b = create_topic(cluster.bootstrap, base + "-b", partitions=1)
    t0 = 1_700_000_000_000
    produce(cluster.bootstrap, a, [{"value": f"a{i}".encode(), "partition": i % 2, "timestamp": t0 + i * 1000}
                                   for i in range(100)])
    produce(cluster.bootstrap, b, [{"value": f"b{i}".encode(), "timestamp": t0 + i * 1000} for i in range(40)])

    def values(**opts):
        return sorted(r["value"].decode() for r in source(spark, cluster.bootstrap, stream=False, **opts)
                      .select("value").collect())

    assert values(subscribePattern=base + "-.*") == sorted([f"a{i}" for i in range(100)] + [f"b{i}" for i in range(40)])
    assert values(assign=json.dumps({a: [1]})) == sorted(f"a{i}" for i in range(1, 100, 2))
    # JSON offsets: -2 earliest, -1 latest, a number
    assert values(subscribe=a, startingOffsets=json.dumps({a: {"0": 45, "1": -2}}),
                  endingOffsets=json.dumps({a: {"0": -1, "1": 3}})) == \
        sorted([f"a{i}" for i in range(90, 100, 2)] + ["a1", "a3", "a5"])
    # by time: a's records from second 30 on, on both partitions; b's from second 35 on
    assert values(subscribe=f"{a},{b}", startingTimestamp=str(t0 + 30_000)) == \
        sorted([f"a{i}" for i in range(30, 100)] + [f"b{i}" for i in range(30, 40)])
    assert values(subscribe=b, startingOffsetsByTimestamp=json.dumps({b: {"0": t0 + 35_000}}),
                  endingOffsetsByTimestamp=json.dumps({b: {"0": t0 + 38_000}})) == ["b35", "b36", "b37"]
    # no record that new: an error, or the end with strategy latest
    with pytest.raises(Exception, match="no record"):
        values(subscribe=b, startingTimestamp=str(t0 + 10_000_000))
    assert values(subscribe=b, startingTimestamp=str(t0 + 10_000_000), startingOffsetsByTimestampStrategy="latest") == []
    # timestamps and their type come through
    r = source(spark, cluster.bootstrap, stream=False, subscribe=b).where("offset = 7").collect()[0]
    assert int(r["timestamp"].timestamp() * 1000) == t0 + 7000 and r["timestampType"] == 0
    # minPartitions splits the ranges into more tasks, reading the same records
    df = source(spark, cluster.bootstrap, stream=False, subscribe=a, minPartitions="6")
    assert df.rdd.getNumPartitions() >= 6 and df.count() == 100
    # option keys arrive lower-cased: mixed case works, unknown positions are refused
    with pytest.raises(Exception, match="startingOffsets latest is not valid for batch"):
        values(subscribe=a, startingOffsets="latest")
    with pytest.raises(Exception, match="exactly one of"):
        values(subscribe=a, subscribePattern=".*")


def test_offsets_past_the_end_at_read_time(spark, cluster):
    """The read path's data-loss check against a real broker: a range whose offsets the partition
    does not have (here past its end: retention deletes below the start only every five minutes)
    gets OFFSET_OUT_OF_RANGE from the broker: an error under failOnDataLoss, skipped otherwise."""
    topic = create_topic(cluster.bootstrap, unique("gone"), partitions=1)
    produce(cluster.bootstrap, topic, keyed(10))
    opts = dict(subscribe=topic, startingOffsets=json.dumps({topic: {"0": 15}}),
                endingOffsets=json.dumps({topic: {"0": 20}}))
    with pytest.raises(Exception, match=r"Offsets \[15, 20\) of .* are gone"):
        source(spark, cluster.bootstrap, stream=False, **opts).collect()
    assert source(spark, cluster.bootstrap, stream=False, failOnDataLoss="false", **opts).count() == 0
    # and the records that are there are read as usual
    opts["startingOffsets"] = json.dumps({topic: {"0": 4}})
    opts["endingOffsets"] = json.dumps({topic: {"0": 10}})
    assert [r["offset"] for r in source(spark, cluster.bootstrap, stream=False, **opts).collect()] == list(range(4, 10))
