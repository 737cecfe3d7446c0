"""Interop: exactly-once consume-transform-produce with confluent-kafka (librdkafka) through
kill -9 of the transaction coordinator, then of an output partition's leader. Each transaction
produces the transformed records and commits the consumed offsets with them
(send_offsets_to_transaction); an abortable error aborts it and rewinds the consumer to the
committed offsets. At the end a read_committed consumer must see every input's output exactly once
(nothing lost, nothing twice, nothing of an aborted transaction), and the group's committed
offsets must be the input's end. ops/interop.sh passes BOOTSTRAP, NODE_PIDS (id:pid,...), RILL
and DIR; each killed node is restarted, and the new pids are written to $DIR/node_pids."""
import os
import signal
import subprocess
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from common import BOOTSTRAP, check, failures

PIDS = {int(k): int(v) for k, v in (kv.split(":") for kv in os.environ["NODE_PIDS"].split(","))}
DIR = os.environ["DIR"]
RUN = str(int(time.time() * 1000) % 1_000_000)
INPUT, OUTPUT, GROUP, TXN = f"eos-in-{RUN}", f"eos-out-{RUN}", f"eos-group-{RUN}", f"eos-app-{RUN}"
N = 600

admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
for f in admin.create_topics([NewTopic(INPUT, 3, 3), NewTopic(OUTPUT, 3, 3)], operation_timeout=15).values():
    f.result()


def java_hash_partition(key, partitions):
    """Kafka's placement of a transactional id: abs(String.hashCode) % partitions."""
    b, h = key.encode("utf-16-be"), 0
    for i in range(0, len(b), 2):
        h = (h * 31 + (b[i] << 8 | b[i + 1])) & 0xFFFFFFFF
    return (h & 0x7FFFFFFF) % partitions


def leader(topic, partition):
    deadline = time.time() + 20
    while time.time() < deadline:
        t = admin.list_topics(topic, timeout=5).topics.get(topic)
        if t and partition in t.partitions and t.partitions[partition].leader > 0:
            return t.partitions[partition].leader
        time.sleep(0.2)
    return -1


def coordinator_of(transactional_id):
    t = admin.list_topics("__transaction_state", timeout=5).topics.get("__transaction_state")
    return leader("__transaction_state", java_hash_partition(transactional_id, len(t.partitions)))


def kill(node, why):
    os.kill(PIDS[node], signal.SIGKILL)
    print(f"killed node {node} ({why})", flush=True)


def restart(node):
    p = subprocess.Popen([os.environ["RILL"], "serve", "--config", f"{DIR}/node-{node}/node.toml"],
                         stdout=open(f"{DIR}/node-{node}.log", "a"), stderr=subprocess.STDOUT)
    PIDS[node] = p.pid
    with open(f"{DIR}/node_pids", "w") as f:
        f.write(",".join(f"{k}:{v}" for k, v in sorted(PIDS.items())))
    deadline = time.time() + 30
    while time.time() < deadline:
        out = subprocess.run([os.environ["RILL"], "cluster", "status", "--dir", DIR], capture_output=True, text=True, timeout=10)
        if "3/3 node(s) up" in out.stdout:
            return True
        time.sleep(0.5)
    return False


# The input, written once by an idempotent producer.
src = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "acks": "all"})
for i in range(N):
    src.produce(INPUT, key=f"k{i}", value=f"v{i}", partition=i % 3)
check("the input is written", src.flush(60) == 0)

consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": GROUP, "isolation.level": "read_committed",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest"})
consumer.subscribe([INPUT])
producer = Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": TXN, "transaction.timeout.ms": 30000})
producer.init_transactions(60)


def rewind():
    """After an abort: back to the offsets the last committed transaction recorded."""
    for tp in consumer.committed(consumer.assignment(), timeout=30):
        consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else 0))


processed, aborts, commits, kills = 0, 0, 0, []
deadline = time.time() + 180
while time.time() < deadline:
    if processed >= N and all(tp.offset >= 0 for tp in consumer.committed(consumer.assignment(), timeout=30)):
        break
    if not kills and commits >= 5:
        c = coordinator_of(TXN)
        kill(c, "the transaction coordinator")
        kills.append(c)
    elif len(kills) == 1 and processed >= N // 2:
        check(f"node {kills[0]} restarts and rejoins", restart(kills[0]))
        lead = leader(OUTPUT, 0)
        kill(lead, f"the leader of {OUTPUT}/0")
        kills.append(lead)
    msgs = [m for m in consumer.consume(20, 0.5) if not m.error()]
    if not msgs:
        continue
    try:
        producer.begin_transaction()
        for m in msgs:
            producer.produce(OUTPUT, key=m.key(), value=m.value().decode().upper(), partition=m.partition())
        producer.send_offsets_to_transaction(consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 60)
        producer.commit_transaction(60)
        commits += 1
        processed += len(msgs)
    except KafkaException as e:
        err = e.args[0]
        if err.txn_requires_abort():
            producer.abort_transaction(60)
            aborts += 1
            rewind()
        elif err.retriable():
            # The commit's outcome is unknown to the client: it retries until it knows.
            producer.commit_transaction(60)
            commits += 1
            processed += len(msgs)
        else:
            raise
print(f"{commits} transactions committed, {aborts} aborted, inputs processed {processed}", flush=True)
consumer.close()
if len(kills) == 2:
    check(f"node {kills[1]} restarts and rejoins", restart(kills[1]))
check("both kills happened", len(kills) == 2, str(kills))

reader = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"eos-reader-{RUN}", "isolation.level": "read_committed",
                   "enable.auto.commit": False, "auto.offset.reset": "earliest"})
reader.assign([TopicPartition(OUTPUT, p, 0) for p in range(3)])
values = []
end = time.time() + 60
while time.time() < end and len(values) < N:
    m = reader.poll(0.5)
    if m is not None and not m.error():
        values.append(m.value().decode())
time.sleep(1)
m = reader.poll(1)
if m is not None and not m.error():
    values.append(m.value().decode())
reader.close()
expected = {f"V{i}" for i in range(N)}
dupes = sorted({v for v in values if values.count(v) > 1})
check("read_committed: every input's output, once (none lost through the kills)", set(values) == expected,
      f"{len(set(values))} distinct of {N}; missing e.g. {sorted(expected - set(values))[:5]}")
check("read_committed: nothing twice (no aborted transaction's record visible)", not dupes, f"{len(dupes)} duplicated, e.g. {dupes[:5]}")

check_consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": GROUP})
committed = check_consumer.committed([TopicPartition(INPUT, p) for p in range(3)], timeout=30)
check_consumer.close()
# Partition p holds inputs p, p+3, ...: N/3 records; the committed offset follows the last one.
want = {p: len(range(p, N, 3)) for p in range(3)}
got = {tp.partition: tp.offset for tp in committed}
check("the group's committed offsets, committed with the output, follow every input record", got == want, f"{got} vs {want}")
print(f"interop transactions: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
