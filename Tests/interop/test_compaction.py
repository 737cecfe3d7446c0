"""Interop: a compacted topic (cleanup.policy=compact) against a three-node Rill cluster started
by ops/interop.sh (compaction_check_ms = 1000). confluent-kafka creates it with 1 MiB segments and
produces keyed records over several segments, then a tombstone; once the cleaner has run, each of
confluent-kafka, kafka-python and Apache Kafka's Java consumer reads it from the start and must
see every key's newest value at the offset it was acknowledged at, offsets increasing, far fewer
records than were written, and the tombstoned key's older values gone. Records without a key are
refused (INVALID_RECORD)."""
import os
import subprocess
import sys
import time

from common import BOOTSTRAP, BROKERS, check, failures

TOPIC = "compacted-interop"
KEYS = 40


def create():
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": BOOTSTRAP})
    configs = {"cleanup.policy": "compact", "segment.bytes": "1048576", "min.cleanable.dirty.ratio": "0.01",
               "delete.retention.ms": "100"}
    f = a.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=3, config=configs)])[TOPIC]
    f.result(30)
    check("confluent-kafka creates a compacted topic with 1 MiB segments", True)


def produce():
    """3.5 MB of keyed records (four segments), a tombstone for key k0, then 1.2 MB more so the
    tombstone's segment closes. Returns {offset: (key, value)} of what was acknowledged."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                  "compression.type": "none"})
    acked = {}

    def cb(err, msg):
        if err is None:
            acked[msg.offset()] = (msg.key().decode(), None if msg.value() is None else msg.value().decode())

    pad = "x" * 1000
    n = 0
    for _ in range(3500):
        p.produce(TOPIC, key=f"k{n % KEYS}", value=f"k{n % KEYS}-{n}-{pad}", callback=cb)
        n += 1
        p.poll(0)
    p.produce(TOPIC, key="k0", value=None, callback=cb)
    for _ in range(1200):
        k = 1 + n % (KEYS - 1)  # every key but k0
        p.produce(TOPIC, key=f"k{k}", value=f"k{k}-{n}-{pad}", callback=cb)
        n += 1
        p.poll(0)
    left = p.flush(60)
    check("confluent-kafka: every keyed record acknowledged", left == 0 and len(acked) == n + 1, f"left {left}, acked {len(acked)} of {n + 1}")
    return acked


def expected(acked):
    """{key: (offset, value)} of each key's newest acknowledged record."""
    newest = {}
    for off in sorted(acked):
        key, value = acked[off]
        newest[key] = (off, value)
    return newest


def confluent_read():
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "compacted-reader", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
    _, high = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    got = []
    deadline = time.time() + 30
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append((m.offset(), m.key().decode(), None if m.value() is None else m.value().decode()))
        if got and got[-1][0] >= high - 1:
            break
    c.close()
    return got


def kafka_python_read():
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=BROKERS, enable_auto_commit=False, consumer_timeout_ms=5000)
    tp = TopicPartition(TOPIC, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = [(m.offset, m.key.decode(), None if m.value is None else m.value.decode()) for m in c]
    c.close()
    return got


def java_read():
    out = subprocess.run(["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", f"-Djava.io.tmpdir={os.environ['JAVA_TMP']}",
                          "-cp", os.environ["JAVA_CP"], "CompactedRead", BOOTSTRAP, TOPIC],
                         capture_output=True, text=True, timeout=90)
    got = []
    for line in out.stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0].isdigit():
            got.append((int(parts[0]), parts[1], None if parts[2] == "-" else parts[2]))
    if out.returncode != 0:
        print(out.stderr[-2000:])
    return got


def verify(client, got, acked, newest):
    offsets = [o for o, _, _ in got]
    check(f"{client}: offsets increase", offsets == sorted(set(offsets)), str(offsets[:10]))
    check(f"{client}: every record read is the one acknowledged at its offset",
          all(acked.get(o) == (k, v) for o, k, v in got), str([g for g in got if acked.get(g[0]) != (g[1], g[2])][:3]))
    read = {o: (k, v) for o, k, v in got}
    missing = [k for k, (o, v) in newest.items() if k != "k0" and read.get(o) != (k, v)]
    check(f"{client}: every key's newest value is there", not missing, str(missing[:5]))
    check(f"{client}: compaction removed most records ({len(got)} of {len(acked)} left)", len(got) < len(acked) // 2)
    old_k0 = [o for o, k, v in got if k == "k0" and v is not None]
    check(f"{client}: the tombstoned key's older values are gone", not old_k0, str(old_k0[:5]))


def keyless_refused():
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "enable.idempotence": False, "retries": 0})
    errors = []
    p.produce(TOPIC, value=b"no key", callback=lambda err, msg: errors.append(err))
    p.flush(20)
    check("confluent-kafka: a record without a key is refused (INVALID_RECORD)",
          len(errors) == 1 and errors[0] is not None and errors[0].name() == "INVALID_RECORD", str(errors))


def main():
    create()
    acked = produce()
    newest = expected(acked)
    # The cleaner runs every second once a snapshot covers the closed segments; tombstones go a
    # pass later (delete.retention.ms 100).
    deadline = time.time() + 60
    got = []
    while time.time() < deadline:
        got = confluent_read()
        if len(got) < len(acked) // 2 and not any(k == "k0" and v is not None for _, k, v in got):
            break
        time.sleep(2)
    verify("confluent-kafka", got, acked, newest)
    verify("kafka-python", kafka_python_read(), acked, newest)
    verify("kafka-clients 4.3.0 (Java)", java_read(), acked, newest)
    keyless_refused()
    if failures:
        sys.exit(f"{len(failures)} check(s) failed: {failures}")


if __name__ == "__main__":
    main()
