"""Interop: consumer groups with real clients against a three-node Rill cluster.
- Two confluent-kafka consumers in one group split a six-partition topic; one leaves and the other
  takes over every partition; both restart and resume from the committed offsets, nothing skipped
  and nothing read again.
- The same with kafka-python consumers, and with kcat -G.
- kill -9 of the group's coordinator mid-run: the group recovers on the new coordinator and no
  acknowledged commit is lost.
ops/interop.sh passes BOOTSTRAP, NODE_PIDS (id:pid,...), RILL and DIR; the node killed here is
restarted, and the new pids are written to $DIR/node_pids for the checks that follow."""
import os
import signal
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from common import BOOTSTRAP, BROKERS, check, failures

PIDS = {int(k): int(v) for k, v in (kv.split(":") for kv in os.environ["NODE_PIDS"].split(","))}
DIR = os.environ["DIR"]
admin = AdminClient({"bootstrap.servers": BOOTSTRAP})


def create(topic, partitions):
    admin.create_topics([NewTopic(topic, partitions, 3)], operation_timeout=15)[topic].result()
    deadline = time.time() + 20
    while time.time() < deadline:
        t = admin.list_topics(topic, timeout=5).topics.get(topic)
        if t and len(t.partitions) == partitions and all(p.leader > 0 for p in t.partitions.values()):
            return
        time.sleep(0.2)


def produce(topic, values):
    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "enable.idempotence": True, "linger.ms": 2})
    for v in values:
        p.produce(topic, value=v.encode())
    left = p.flush(30)
    assert left == 0, f"{left} records not acknowledged"


def ck_consumer(group, **extra):
    conf = {"bootstrap.servers": BOOTSTRAP, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "session.timeout.ms": 10000, "heartbeat.interval.ms": 500}
    conf.update(extra)
    return Consumer(conf)


def drain(consumers, seen, want, seconds=40):
    """Poll every consumer in turn, committing after each record batch, until `want` values are
    seen (a dict value -> times seen) or time runs out."""
    deadline = time.time() + seconds
    while time.time() < deadline and len(seen) < want:
        for c in consumers:
            msgs = c.consume(200, 0.2)
            good = [m for m in msgs if not m.error()]
            for m in good:
                v = m.value().decode()
                seen[v] = seen.get(v, 0) + 1
            if good:
                c.commit(asynchronous=False)


# --- confluent-kafka: two members split six partitions, one leaves, both resume ---------------
create("groups-six", 6)
first = [f"a-{i}" for i in range(600)]
produce("groups-six", first)
c1, c2 = ck_consumer("ck-group"), ck_consumer("ck-group")
c1.subscribe(["groups-six"])
c2.subscribe(["groups-six"])
deadline = time.time() + 40
split = False
seen = {}
while time.time() < deadline and not split:
    drain([c1, c2], seen, 10**9, seconds=0.2)  # records polled meanwhile count too
    a1 = {tp.partition for tp in c1.assignment()}
    a2 = {tp.partition for tp in c2.assignment()}
    split = len(a1) == 3 and len(a2) == 3 and a1 | a2 == set(range(6))
check("confluent-kafka: two consumers in one group split six partitions 3/3", split, f"{a1} / {a2}")
drain([c1, c2], seen, 300, seconds=20)
c2.close()  # LeaveGroup: c1 takes everything over
deadline = time.time() + 30
while time.time() < deadline and len(c1.assignment()) != 6:
    drain([c1], seen, 10**9, seconds=0.3)
check("confluent-kafka: after one member leaves the other owns all six partitions", len(c1.assignment()) == 6,
      str(c1.assignment()))
drain([c1], seen, 600)
check("confluent-kafka: every record read", set(first) <= set(seen), f"{len(set(first) - set(seen))} missing")
c1.close()
second = [f"b-{i}" for i in range(120)]
produce("groups-six", second)
r1, r2 = ck_consumer("ck-group"), ck_consumer("ck-group")
r1.subscribe(["groups-six"])
r2.subscribe(["groups-six"])
again = {}
drain([r1, r2], again, 120)
check("confluent-kafka: restarted members resume from the committed offsets, nothing skipped", set(second) <= set(again),
      f"{len(set(second) - set(again))} of the new records missing")
old = [v for v in again if v.startswith("a-")]
check("confluent-kafka: ... and nothing read again", not old, f"{len(old)} old records re-read, e.g. {old[:3]}")
r1.close()
r2.close()

# --- kafka-python: the same --------------------------------------------------------------------
from kafka import KafkaConsumer  # noqa: E402


def kp_consumer(group):
    c = KafkaConsumer(bootstrap_servers=BROKERS, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False,
                      session_timeout_ms=10000, heartbeat_interval_ms=500)
    c.subscribe(["groups-six"])
    return c


def kp_drain(consumers, seen, want, seconds=40):
    deadline = time.time() + seconds
    while time.time() < deadline and len(seen) < want:
        for c in consumers:
            batch = c.poll(timeout_ms=200)
            got = False
            for records in batch.values():
                for m in records:
                    v = m.value.decode()
                    seen[v] = seen.get(v, 0) + 1
                    got = True
            if got:
                c.commit()


def kp_together(consumers, seen, until, seconds):
    """Poll each consumer from its own thread, as applications run them, until `until()` holds.
    (kafka-python drives joins from poll(): two consumers polled in turn from one thread, with
    short timeouts, were seen to leave the group leader rejoining after every SyncGroup.)"""
    lock = threading.Lock()
    stop = threading.Event()

    def run(c):
        while not stop.is_set():
            local = {}
            kp_drain([c], local, 1, seconds=0.2)
            with lock:
                for v, n in local.items():
                    seen[v] = seen.get(v, 0) + n

    threads = [threading.Thread(target=run, args=(c,)) for c in consumers]
    for t in threads:
        t.start()
    deadline = time.time() + seconds
    while time.time() < deadline:
        with lock:
            if until():
                break
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()


k1, k2 = kp_consumer("kp-group"), kp_consumer("kp-group")
kseen = {}
kp_together([k1, k2], kseen, lambda: len(k1.assignment()) == 3 and len(k2.assignment()) == 3, 40)
check("kafka-python: two consumers in one group split six partitions 3/3",
      len(k1.assignment()) == 3 and len(k2.assignment()) == 3, f"{k1.assignment()} / {k2.assignment()}")
kp_together([k1, k2], kseen, lambda: len(kseen) >= 360, 20)
k2.close()
deadline = time.time() + 30
while time.time() < deadline and len(k1.assignment()) != 6:
    kp_drain([k1], kseen, 10**9, seconds=0.5)
check("kafka-python: after one member leaves the other owns all six partitions", len(k1.assignment()) == 6, str(k1.assignment()))
kp_drain([k1], kseen, 720)
check("kafka-python: every record read", set(first + second) <= set(kseen), f"{len(set(first + second) - set(kseen))} missing")
k1.close()
third = [f"c-{i}" for i in range(60)]
produce("groups-six", third)
j1, j2 = kp_consumer("kp-group"), kp_consumer("kp-group")
kagain = {}
kp_together([j1, j2], kagain, lambda: len(kagain) >= 60, 40)
check("kafka-python: restarted members resume from the committed offsets, nothing skipped", set(third) <= set(kagain),
      f"{len(set(third) - set(kagain))} missing")
old = [v for v in kagain if not v.startswith("c-")]
check("kafka-python: ... and nothing read again", not old, f"{len(old)} re-read, e.g. {old[:3]}")
j1.close()
j2.close()

# --- kcat -G -----------------------------------------------------------------------------------
FIRST = BROKERS[0]
out = subprocess.run(["kcat", "-b", FIRST, "-G", "kcat-group", "-o", "beginning", "-e", "-q", "groups-six"],
                     capture_output=True, text=True, timeout=60)
lines = set(out.stdout.split())
check("kcat -G reads every record of the topic", set(first + second + third) <= lines,
      f"{len(set(first + second + third) - lines)} missing; {out.stderr[-300:]}")
out = subprocess.run(["kcat", "-b", FIRST, "-G", "kcat-group", "-e", "-q", "groups-six"], capture_output=True, text=True, timeout=60)
check("kcat -G again: nothing left after its commits", out.stdout.split() == [], f"{len(out.stdout.split())} read again")

# --- kill -9 of the coordinator ----------------------------------------------------------------
create("groups-failover", 2)
produce("groups-failover", [f"f-{i}" for i in range(200)])
f1 = ck_consumer("failover-group")
f1.subscribe(["groups-failover"])
fseen = {}
drain([f1], fseen, 100, seconds=30)
committed_before = {tp.partition: tp.offset for tp in f1.committed(f1.assignment(), timeout=10)}
coordinator = admin.describe_consumer_groups(["failover-group"])["failover-group"].result(timeout=10).coordinator.id
os.kill(PIDS[coordinator], signal.SIGKILL)
print(f"killed node {coordinator} (the group's coordinator) with commits {committed_before}", flush=True)
produce("groups-failover", [f"g-{i}" for i in range(100)])
drain([f1], fseen, 300, seconds=60)
check("after the coordinator's death the member reads on and commits", len(fseen) == 300, f"{len(fseen)} of 300")
committed_after = {tp.partition: tp.offset for tp in f1.committed(f1.assignment(), timeout=20)}
check("no acknowledged commit lost: committed offsets only moved forward",
      all(committed_after.get(p, -1) >= o for p, o in committed_before.items()), f"{committed_before} -> {committed_after}")
f1.close()
produce("groups-failover", [f"h-{i}" for i in range(20)])
f2 = ck_consumer("failover-group")
f2.subscribe(["groups-failover"])
fagain = {}
drain([f2], fagain, 20, seconds=40)
check("a new member after the failover starts at the committed offsets", set(fagain) == {f"h-{i}" for i in range(20)},
      f"{len(fagain)} read, e.g. {sorted(fagain)[:3]}")
f2.close()

node = subprocess.Popen([os.environ["RILL"], "serve", "--config", f"{DIR}/node-{coordinator}/node.toml"],
                        stdout=open(f"{DIR}/node-{coordinator}.log", "a"), stderr=subprocess.STDOUT)
PIDS[coordinator] = node.pid
with open(f"{DIR}/node_pids", "w") as f:
    f.write(",".join(f"{k}:{v}" for k, v in sorted(PIDS.items())))
deadline = time.time() + 30
ok = False
while time.time() < deadline and not ok:
    out = subprocess.run([os.environ["RILL"], "cluster", "status", "--dir", DIR], capture_output=True, text=True, timeout=10)
    ok = "3/3 node(s) up" in out.stdout
    time.sleep(0.5)
check("the killed coordinator restarts and rejoins", ok)
print(f"interop groups: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
