"""Interop: produce and consume with kcat, confluent-kafka and kafka-python against a three-node
Rill cluster (started by ops/interop.sh, BOOTSTRAP=host:port,...). Every acknowledged record must
be read back at exactly the offset it was acknowledged at."""
import os
import subprocess
import sys
import time

from common import BOOTSTRAP, BROKERS, check, failures


def confluent_roundtrip(topic, acks):
    from confluent_kafka import Producer, Consumer, TopicPartition, OFFSET_BEGINNING
    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": acks, "linger.ms": 5})
    acked = {}

    def cb(err, msg):
        if err is None:
            acked[msg.offset()] = msg.value()

    values = [f"{topic}-{i}".encode() for i in range(200)]
    for v in values:
        p.produce(topic, value=v, callback=cb)
    left = p.flush(30)
    if acks != "0":
        check(f"confluent-kafka acks={acks}: all 200 acknowledged", left == 0 and len(acked) == 200, f"left {left}, acked {len(acked)}")
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"reader-{topic}", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = {}
    deadline = time.time() + 20
    while len(got) < 200 and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        got[m.offset()] = m.value()
    c.close()
    if acks == "0":
        check("confluent-kafka acks=0: every record arrives", sorted(got.values()) == sorted(values), f"got {len(got)}")
    else:
        check(f"confluent-kafka acks={acks}: every acknowledged record read back at its offset",
              all(got.get(o) == v for o, v in acked.items()), f"acked {len(acked)}, got {len(got)}")
        check(f"confluent-kafka acks={acks}: offsets dense from 0", sorted(got) == list(range(200)), str(sorted(got)[:5]))


def kafka_python_roundtrip(topic):
    from kafka import KafkaProducer, KafkaConsumer, TopicPartition
    p = KafkaProducer(bootstrap_servers=BROKERS, acks="all")  # idempotent by default
    futures = [(f"kp-{i}".encode(), p.send(topic, value=f"kp-{i}".encode())) for i in range(100)]
    p.flush()
    acked = {f.get(timeout=20).offset: v for v, f in futures}
    p.close()
    check("kafka-python (idempotent) acks=all: all acknowledged", len(acked) == 100, str(len(acked)))
    c = KafkaConsumer(bootstrap_servers=BROKERS, enable_auto_commit=False, consumer_timeout_ms=5000)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = {m.offset: m.value for m in c}
    check("kafka-python: every acknowledged record read back at its offset", all(got.get(o) == v for o, v in acked.items()),
          f"{len(got)} read")
    ends = c.end_offsets([tp])
    begins = c.beginning_offsets([tp])
    check("kafka-python: list offsets (earliest 0, latest 100)", begins[tp] == 0 and ends[tp] == 100, f"{begins} {ends}")
    by_time = c.offsets_for_times({tp: 0})[tp]
    future = c.offsets_for_times({tp: int(time.time() * 1000) + 3_600_000})[tp]
    check("kafka-python: offsets for times (0 -> offset 0, the future -> none)",
          by_time is not None and by_time.offset == 0 and future is None, f"{by_time} {future}")
    c.close()


def kcat_roundtrip(topic):
    lines = "\n".join(f"kcat-{i}" for i in range(50)) + "\n"
    prod = subprocess.run(["kcat", "-P", "-b", BOOTSTRAP, "-t", topic, "-X", "request.required.acks=-1"],
                          input=lines, capture_output=True, text=True, timeout=30)
    check("kcat produces with acks=all", prod.returncode == 0, prod.stderr)
    cons = subprocess.run(["kcat", "-C", "-b", BOOTSTRAP, "-t", topic, "-o", "beginning", "-e", "-f", "%o %s\\n"],
                          capture_output=True, text=True, timeout=30)
    want = "".join(f"{i} kcat-{i}\n" for i in range(50))
    check("kcat consumes every record at offsets 0..49", cons.stdout == want, cons.stdout[-200:] + cons.stderr[-300:])


def log_append_time():
    """message.timestamp.type=LogAppendTime: the broker's clock replaces the producer's timestamp,
    for confluent-kafka (delivery report and consumer) and kafka-python's consumer."""
    from confluent_kafka import Consumer, Producer, TopicPartition, TIMESTAMP_LOG_APPEND_TIME
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic("ck-append-time", 1, 3, config={"message.timestamp.type": "LogAppendTime"})],
                        operation_timeout=15)["ck-append-time"].result()
    before = int(time.time() * 1000)
    reports = []
    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all"})
    for i in range(3):
        p.produce("ck-append-time", value=f"t{i}".encode(), timestamp=1000, callback=lambda err, msg: reports.append((err, msg.timestamp())))
    p.flush(30)
    after = int(time.time() * 1000) + 1
    check("confluent-kafka: the delivery reports carry the broker's append time",
          len(reports) == 3 and all(e is None and t[0] == TIMESTAMP_LOG_APPEND_TIME and before <= t[1] <= after for e, t in reports), repr(reports))
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "ck-append-time", "auto.offset.reset": "earliest"})
    c.assign([TopicPartition("ck-append-time", 0, 0)])
    stamps = []
    deadline = time.time() + 20
    while len(stamps) < 3 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            stamps.append(m.timestamp())
    c.close()
    check("confluent-kafka consumer: LogAppendTime timestamps between the produce's start and end, not the producer's 1000",
          len(stamps) == 3 and all(t[0] == TIMESTAMP_LOG_APPEND_TIME and before <= t[1] <= after for t in stamps), repr(stamps))
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    kc = KafkaConsumer(bootstrap_servers=BOOTSTRAP.split(","), enable_auto_commit=False, consumer_timeout_ms=5000)
    kc.assign([KTP("ck-append-time", 0)])
    kc.seek_to_beginning()
    got = [(m.timestamp_type, m.timestamp) for m in kc]
    kc.close()
    check("kafka-python consumer: timestamp type 1 (LogAppendTime) and the broker's time",
          len(got) == 3 and all(tt == 1 and before <= t <= after for tt, t in got), repr(got))


confluent_roundtrip("ck-all", "all")
confluent_roundtrip("ck-one", "1")
confluent_roundtrip("ck-zero", "0")
kafka_python_roundtrip("kp-data")
kcat_roundtrip("kcat-data")
log_append_time()
print(f"interop data: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
