"""Fixtures: a real one-node Rill cluster for the session (three nodes where a test kills one), a
local SparkSession, and plain confluent-kafka helpers to write test data and read results back
without the code under test."""
import os
import sys
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from rill_spark.local import LocalCluster

# Spark's Python workers must run this interpreter (the venv with pyarrow and confluent-kafka).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")   # loopback only


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on the test item, so a fixture can tell at teardown that its test
    failed (`print_node_logs_if_failed`)."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def print_node_logs_if_failed(request, cluster, lines=40):
    """After a failed test: the end of each node's log, into the failure report (CI shows only
    the report; the cluster's directory is removed with it)."""
    rep = getattr(request.node, "rep_call", None)
    if rep is None or not rep.failed:
        return
    for log in sorted(cluster.dir.glob("node-*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- {log.name} (last {len(tail)} lines)")
        print("\n".join(tail))


@pytest.fixture(scope="session")
def cluster():
    # Retention measured every second (Kafka's default is five minutes): the data-loss tests
    # wait for it to delete records.
    with LocalCluster(nodes=1, kafka_settings={"retention_check_ms": 1000}) as c:
        yield c


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession
    import rill_spark
    s = (SparkSession.builder.master("local[2]").appName("rill-spark-tests")
         .config("spark.sql.shuffle.partitions", "2")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.streaming.forceDeleteTempCheckpointLocation", "true")
         .getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    rill_spark.register(s)
    yield s
    for q in s.streams.active:
        q.stop()
    s.stop()


def _spark_version():
    import pyspark
    return tuple(int(x) for x in pyspark.__version__.split(".")[:2])


# Spark 4.2+ passes latestOffset a start and a read limit; before, a Python source cannot know
# where a run starts, so the first micro-batch of each run reads everything available.
ADMISSION_CONTROL = _spark_version() >= (4, 2)


def unique(name):
    return f"{name}-{uuid.uuid4().hex[:8]}"


def create_topic(bootstrap, name, partitions=1, replication=1):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, replication)], operation_timeout=30)[name].result(timeout=60)
    # until every partition has a leader in metadata
    deadline = time.time() + 30
    while time.time() < deadline:
        t = admin.list_topics(name, timeout=10).topics.get(name)
        if t and len(t.partitions) == partitions and all(p.leader > 0 for p in t.partitions.values()):
            return name
        time.sleep(0.1)
    raise TimeoutError(f"topic {name}: partitions without a leader")


def produce(bootstrap, topic, records, **conf):
    """records: iterable of dicts with value, key, headers, partition, timestamp. Returns the
    acknowledged (partition, offset) of each, in order. Idempotent, acks=all."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5, **conf})
    acked = {}
    errors = []

    def cb(i):
        def done(err, msg):
            if err is not None:
                errors.append(err)
            else:
                acked[i] = (msg.partition(), msg.offset())
        return done

    n = 0
    for i, r in enumerate(records):
        kw = {k: r[k] for k in ("key", "headers", "partition", "timestamp") if r.get(k) is not None}
        while True:
            try:
                p.produce(topic, value=r["value"], on_delivery=cb(i), **kw)
                break
            except BufferError:
                p.poll(0.05)
        n += 1
        p.poll(0)
    left = p.flush(60)
    assert not errors and left == 0, f"produce failed: {errors[:3]}, {left} left"
    out = [acked[i] for i in range(n)]
    wait_visible(bootstrap, topic, out)
    return out


def wait_visible(bootstrap, topic, positions, timeout=30):
    """Until ListOffsets(latest) of each partition is past every acknowledged offset. Kafka moves
    the high watermark before it answers an acks=all write; Rill answers once the write is
    committed and moves the high watermark when it is applied, which can be later (measured: up to
    125 ms on three idle nodes, longer under load), so a query that snapshots the latest offsets
    (Trigger.AvailableNow) right after an acknowledgement might not include the records yet."""
    from confluent_kafka.admin import OffsetSpec
    want = {}
    for p, off in positions:
        want[p] = max(want.get(p, -1), off + 1)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.time() + timeout
    lagged = False
    while True:
        # A partition whose leader librdkafka still has as a node that was just killed answers
        # -1001 only when the call times out (30 s by default, the whole deadline: the CI failure
        # of 2026-12-04): short calls, and a new client (new metadata) after one that failed.
        fs = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in want}, request_timeout=5)
        try:
            latest = {tp.partition: f.result().offset for tp, f in fs.items()}
        except Exception as e:  # noqa: BLE001 (retried until the deadline below)
            latest = {p: repr(e) for p in want}
        if any(not isinstance(v, int) or v < 0 for v in latest.values()):
            admin = AdminClient({"bootstrap.servers": bootstrap})
        if all(isinstance(latest[p], int) and latest[p] >= w for p, w in want.items()):
            if lagged:
                print(f"note: {topic}: latest offsets reached the acknowledged ones only now", flush=True)
            return
        lagged = True
        if time.time() >= deadline:
            leaders = {p: m.leader for p, m in admin.list_topics(topic, timeout=10).topics[topic].partitions.items()}
            raise AssertionError(f"{topic}: latest offsets {latest} still below acknowledged {want} after {timeout} s "
                                 f"(metadata leaders now {leaders})")
        time.sleep(0.02)


def consume_all(bootstrap, topic, timeout=60, with_headers=False):
    """Every record of every partition, from the beginning to the end offsets seen at the start."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("check"), "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    md = c.list_topics(topic, timeout=10).topics[topic]
    ends = {}
    for p in md.partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if hi > lo:
            ends[p] = hi
    c.assign([TopicPartition(topic, p, 0) for p in ends])
    out = []
    seen = {p: 0 for p in ends}
    deadline = time.time() + timeout
    while any(seen[p] < ends[p] for p in ends) and time.time() < deadline:
        for m in c.consume(1000, timeout=0.5):
            if m.error():
                continue
            seen[m.partition()] = m.offset() + 1
            rec = (m.partition(), m.offset(), m.key(), m.value())
            out.append(rec + ((m.headers() or None,) if with_headers else ()))
    c.close()
    assert all(seen[p] >= ends[p] for p in ends), f"read back only {seen} of {ends}"
    return out


def source(spark, bootstrap, stream=True, **options):
    r = (spark.readStream if stream else spark.read).format("rill").option("kafka.bootstrap.servers", bootstrap)
    for k, v in options.items():
        r = r.option(k, v)
    return r.load()
