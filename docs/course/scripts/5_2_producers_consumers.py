# %% [markdown]
# # 5.2 Producers and consumers in Python
#
# Two Python clients, both talking to Rill as to any Kafka broker:
# [kafka-python](https://pypi.org/project/kafka-python/) (pure Python) and
# [confluent-kafka](https://pypi.org/project/confluent-kafka/) (librdkafka, much faster).
# We write JSON events with keys, see how keys choose partitions, what `acks` and idempotence
# mean, how consumer groups share partitions and remember where they are (committed offsets),
# what happens when a consumer joins or leaves (a rebalance), and the difference between
# at-least-once and exactly-once reading.
#
# Start a cluster first (`rill dev` in a terminal, or `rill dev --nodes 1`); this notebook uses
# `$RILL_BOOTSTRAP`, else `127.0.0.1:9092`.

# %%
import json
import os
import random
import time
import uuid
from collections import Counter

BOOTSTRAP = os.environ.get("RILL_BOOTSTRAP", "127.0.0.1:9092")
RUN = uuid.uuid4().hex[:6]            # fresh topic and group names for every run of the notebook
EVENTS = f"clicks-{RUN}"
print("bootstrap:", BOOTSTRAP, " topic:", EVENTS)

# %% [markdown]
# ## A topic
#
# Three partitions. (With auto-creation on, as under `rill dev`, producing to a missing topic
# creates it with the default number of partitions; creating it explicitly says how many.)

# %%
from confluent_kafka.admin import AdminClient, NewTopic

admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
admin.create_topics([NewTopic(EVENTS, num_partitions=3)])[EVENTS].result(timeout=30)
deadline = time.time() + 30
while time.time() < deadline:       # until every partition has a leader
    parts = admin.list_topics(EVENTS, timeout=10).topics[EVENTS].partitions
    if len(parts) == 3 and all(p.leader > 0 for p in parts.values()):
        break
    time.sleep(0.2)
print({p.id: f"leader node {p.leader}" for p in parts.values()})

# %% [markdown]
# ## Producing JSON events with keys (kafka-python)
#
# A record has a **key** and a **value**, both bytes. The producer's serializers turn our dicts
# into bytes. The key decides the partition: the default partitioner hashes it (murmur2), so all
# events of one user land in one partition, in the order they were sent.

# %%
from kafka import KafkaProducer

users = [f"user-{i}" for i in range(8)]
producer = KafkaProducer(bootstrap_servers=BOOTSTRAP.split(","),
                         key_serializer=str.encode,
                         value_serializer=lambda v: json.dumps(v).encode(),
                         acks="all")
random.seed(5)
sent = []
for i in range(400):
    event = {"user": random.choice(users), "page": random.choice(["/", "/cart", "/pay"]), "n": i}
    future = producer.send(EVENTS, key=event["user"], value=event)
    sent.append((event, future))
producer.flush()
placed = [(e, f.get(timeout=30)) for e, f in sent]   # RecordMetadata: topic, partition, offset
print(placed[0][1])
partitions_of_user = {}
for e, md in placed:
    partitions_of_user.setdefault(e["user"], set()).add(md.partition)
print(partitions_of_user)
assert all(len(ps) == 1 for ps in partitions_of_user.values())   # one partition per key
producer.close()

# %% [markdown]
# ## acks and idempotence (confluent-kafka)
#
# `acks` says when the broker answers a write:
# - `acks=0`: never — the producer does not know whether the record arrived;
# - `acks=1`: once the partition's leader has it on its disk;
# - `acks=all`: once a majority of the replicas have it (on a one-node cluster, that node).
#
# **Idempotence** (`enable.idempotence=True`, the default of the Java client and kafka-python's
# 3.x) gives the producer an id and numbers its batches, so a batch retried after a lost answer is
# written once, not twice. It needs `acks=all`.
#
# Timing a few thousand small records each way (after a warm-up record that opens the
# connections and, with idempotence, gets the producer id). On one machine with batching
# (`linger.ms`) the differences are small and noisy; between machines, `acks=all` waits for a
# network round trip to the replicas and a disk write on each:

# %%
from confluent_kafka import Producer

def timed(conf, n=3000):
    p = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 5, **conf})
    p.produce(EVENTS, key="warm-up", value="{}")   # connections, metadata, the producer id: not timed
    p.flush(30)
    errors = []
    t0 = time.perf_counter()
    for i in range(n):
        p.produce(EVENTS, key=f"user-{i % 8}", value=json.dumps({"n": i}),
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
        p.poll(0)
    left = p.flush(30)
    return n / (time.perf_counter() - t0), left, errors

for conf in ({"acks": "0"}, {"acks": "1"}, {"acks": "all"}, {"acks": "all", "enable.idempotence": True}):
    rate, left, errors = timed(conf)
    print(f"{json.dumps(conf):48s} {rate:9.0f} records/s, {left} not delivered, {len(errors)} errors")
    assert left == 0 and not errors

# %% [markdown]
# The topic now holds 400 + 4 x 3001 records (each run above wrote one more to warm up). Every
# record acknowledged is in exactly one partition at exactly one offset. The high watermark of a
# partition is the offset the next record will get:

# %%
from confluent_kafka import Consumer, TopicPartition

probe = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"probe-{RUN}"})
ends = {p: probe.get_watermark_offsets(TopicPartition(EVENTS, p), timeout=10) for p in range(3)}
probe.close()
print({p: f"offsets {lo}..{hi - 1}" for p, (lo, hi) in ends.items()})
assert sum(hi - lo for lo, hi in ends.values()) == 400 + 4 * 3001

# %% [markdown]
# ## Consumer groups and committed offsets
#
# Consumers with the same `group.id` share the topic's partitions: each partition is read by one
# member of the group. The group **commits** how far it has read (per partition, the next offset
# to read); a consumer that starts, or takes a partition over, begins there.
#
# A kafka-python consumer reads the first 400 events and commits:

# %%
from kafka import KafkaConsumer

GROUP = f"course-{RUN}"
kc = KafkaConsumer(EVENTS, bootstrap_servers=BOOTSTRAP.split(","), group_id=GROUP,
                   auto_offset_reset="earliest", enable_auto_commit=False)
seen = []
deadline = time.time() + 60
while len(seen) < 400 and time.time() < deadline:
    for tp, records in kc.poll(timeout_ms=500, max_records=400 - len(seen)).items():
        seen.extend(json.loads(r.value) for r in records)
kc.commit()                                   # commits the position of every assigned partition
committed = {tp.partition: kc.committed(tp) for tp in kc.assignment()}
print("read", len(seen), "committed", committed)
kc.close()
assert len(seen) == 400

# %% [markdown]
# A new consumer in the same group continues from the commits: it reads what is left, nothing
# twice. (The exact split of what was read depends on how the 400 fell into partitions; the
# total does not.)

# %%
kc2 = KafkaConsumer(EVENTS, bootstrap_servers=BOOTSTRAP.split(","), group_id=GROUP,
                    auto_offset_reset="earliest", enable_auto_commit=False)
rest = 0
total = sum(hi - lo for lo, hi in ends.values())
deadline = time.time() + 60
while rest < total - 400 and time.time() < deadline:
    rest += sum(len(rs) for rs in kc2.poll(timeout_ms=500).values())
kc2.commit()
kc2.close()
print("the second consumer read", rest)
assert rest == total - 400

# %% [markdown]
# ## Rebalances: a consumer joins, a consumer leaves (confluent-kafka)
#
# When a member joins or leaves, the group **rebalances**: the coordinator (a broker) collects the
# members, one of them assigns partitions, and everyone gets its share. During a rebalance nobody
# reads. With `on_assign` / `on_revoke` callbacks a consumer sees its partitions come and go.

# %%
REB = f"rebalance-{RUN}"
log = []

def member(name):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": REB, "auto.offset.reset": "earliest",
                  "session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
    c.subscribe([EVENTS],
                on_assign=lambda c_, ps: log.append((name, "assigned", sorted(p.partition for p in ps))),
                on_revoke=lambda c_, ps: log.append((name, "revoked", sorted(p.partition for p in ps))))
    return c

def assignment(c):
    return sorted(p.partition for p in c.assignment())

def poll_until(consumers, done, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline and not done():
        for c in consumers:
            c.poll(0.1)
    assert done(), [assignment(c) for c in consumers]

a = member("a")
poll_until([a], lambda: assignment(a) == [0, 1, 2])
print("a alone:", assignment(a))
b = member("b")
poll_until([a, b], lambda: len(assignment(a)) + len(assignment(b)) == 3 and assignment(a) and assignment(b))
print("a and b:", assignment(a), assignment(b))
b.close()                                   # b leaves: a takes everything back
poll_until([a], lambda: assignment(a) == [0, 1, 2])
print("b left, a:", assignment(a))
a.close()
for entry in log:
    print(entry)

# %% [markdown]
# ## At-least-once and exactly-once reading
#
# A consumer that **processes, then commits** never loses a record, but if it dies between the two
# the next one processes the same records again: **at least once**. Here a consumer processes 50
# records and "crashes" (closes without committing); its successor gets them again:

# %%
def read_n(group, n, commit):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(EVENTS, 0)])   # partition 0 only: the position comes from the group's commit
    out = []
    deadline = time.time() + 30
    while len(out) < n and time.time() < deadline:
        out.extend(m for m in c.consume(n - len(out), timeout=1) if not m.error())
    if commit:
        c.commit(asynchronous=False)
    c.close()
    return [m.offset() for m in out]

ALO = f"alo-{RUN}"
first = read_n(ALO, 50, commit=False)     # processed, then crashed before the commit
second = read_n(ALO, 50, commit=True)     # the successor starts at the last commit (none: earliest)
print("processed twice:", len(set(first) & set(second)), "records")
assert first == second

# %% [markdown]
# **Exactly once** for reading needs the results and the position to be stored together,
# atomically: then a crash loses both or neither. Kafka's transactions do that when the results go
# back to Kafka (Rill does not have transactions yet); when they go to a database, store the
# offset in the same database transaction and seek there on start. With SQLite:

# %%
import sqlite3

db = sqlite3.connect(":memory:")
db.execute("create table clicks_per_user (user text primary key, n integer)")
db.execute("create table position (part integer primary key, next_offset integer)")

def process_exactly_once(max_records, crash_before_commit=False):
    row = db.execute("select next_offset from position where part = 0").fetchone()
    start = row[0] if row else 0
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"eos-{RUN}", "enable.auto.commit": False})
    c.assign([TopicPartition(EVENTS, 0, start)])          # our own position, not the group's
    msgs = []
    deadline = time.time() + 30
    while len(msgs) < max_records and time.time() < deadline:
        msgs.extend(m for m in c.consume(max_records - len(msgs), timeout=1) if not m.error())
    c.close()
    for m in msgs:
        user = m.key().decode()
        db.execute("insert into clicks_per_user values (?, 1) on conflict(user) do update set n = n + 1", (user,))
    db.execute("insert or replace into position values (0, ?)", (msgs[-1].offset() + 1,))
    if crash_before_commit:
        db.rollback()          # the process died: neither the counts nor the position were stored
    else:
        db.commit()            # both, in one transaction
    return len(msgs)

process_exactly_once(100)
process_exactly_once(100, crash_before_commit=True)   # lost together: read again next time
process_exactly_once(100)
counted = db.execute("select sum(n) from clicks_per_user").fetchone()[0]
position = db.execute("select next_offset from position").fetchone()[0]
print("counted", counted, "records; position", position)
assert counted == 200 and position == 200

# %% [markdown]
# Summary: keys choose partitions (order per key); `acks=all` plus idempotence makes a write
# durable and unduplicated; a group shares partitions and resumes from its commits; commit after
# processing for at-least-once, or store results and offsets together for exactly-once.

# %%
admin.delete_topics([EVENTS])[EVENTS].result(timeout=30)
print("deleted", EVENTS)
