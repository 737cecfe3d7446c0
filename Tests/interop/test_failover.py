"""Interop: kill -9 the leader of a partition while an idempotent confluent-kafka producer writes
with acks=all and retries; every acknowledged record must then be read back at its acknowledged offset, and the
killed node must come back. ops/interop.sh passes BOOTSTRAP, NODE_PIDS (id:pid,...), RILL and DIR."""
import os
import signal
import subprocess
import sys
import time

from confluent_kafka import Producer, Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic

from common import BOOTSTRAP, BROKERS, check, failures
PIDS = {int(k): int(v) for k, v in (kv.split(":") for kv in os.environ["NODE_PIDS"].split(","))}


def leader_of(admin, topic):
    deadline = time.time() + 20
    while time.time() < deadline:
        t = admin.list_topics(topic, timeout=5).topics.get(topic)
        if t and t.partitions and t.partitions[0].leader > 0:
            return t.partitions[0].leader
        time.sleep(0.2)
    return -1


admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
admin.create_topics([NewTopic("failover", 1, 3)], operation_timeout=15)["failover"].result()
leader = leader_of(admin, "failover")
check("the partition has a leader", leader > 0, str(leader))

p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "linger.ms": 2, "message.timeout.ms": 60000,
              "enable.idempotence": True})
acked, errors = {}, []


def cb(err, msg):
    if err is None:
        acked[msg.offset()] = msg.value()
    else:
        errors.append(str(err))


killed_at = None
for i in range(600):
    p.produce("failover", value=f"fo-{i}".encode(), callback=cb)
    p.poll(0)
    if i == 200:
        p.flush(30)
        os.kill(PIDS[leader], signal.SIGKILL)
        killed_at = time.time()
        print(f"killed node {leader} (leader) after {len(acked)} acknowledged", flush=True)
    time.sleep(0.002)
left = p.flush(60)
check("every record acknowledged despite the leader's death", left == 0 and len(errors) == 0 and len(acked) >= 600,
      f"left {left}, errors {errors[:3]}, acked {len(acked)}")
new_leader = leader_of(admin, "failover")
check("a new leader was elected", new_leader > 0 and new_leader != leader, f"{leader} -> {new_leader}")

c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "failover-reader", "enable.auto.commit": False})
c.assign([TopicPartition("failover", 0, OFFSET_BEGINNING)])
got = {}
deadline = time.time() + 30
want = max(acked) + 1 if acked else 0
while len(got) < want and time.time() < deadline:
    m = c.poll(0.5)
    if m is not None and not m.error():
        got[m.offset()] = m.value()
c.close()
missing = [o for o, v in acked.items() if got.get(o) != v]
check("every acknowledged record is read back at its acknowledged offset", not missing, f"{len(missing)} missing, e.g. {missing[:5]}")
check("offsets are dense", sorted(got) == list(range(len(got))), str(sorted(got)[:5]))
values = list(got.values())
dupes = sorted({v for v in values if values.count(v) > 1})
check("idempotent producer: no record written twice across the failover", not dupes, f"{len(dupes)} duplicated, e.g. {dupes[:3]}")

# The killed node restarts and catches up.
node = subprocess.Popen([os.environ["RILL"], "serve", "--config", f"{os.environ['DIR']}/node-{leader}/node.toml"],
                        stdout=open(f"{os.environ['DIR']}/node-{leader}.log", "a"), stderr=subprocess.STDOUT)
print(f"PID {leader}:{node.pid}", flush=True)
c2 = None
deadline = time.time() + 30
ok = False
while time.time() < deadline and not ok:
    try:
        out = subprocess.run([os.environ["RILL"], "cluster", "status", "--dir", os.environ["DIR"]], capture_output=True, text=True, timeout=10)
        ok = "3/3 node(s) up" in out.stdout
    except Exception:
        pass
    time.sleep(0.5)
check("the killed node restarts and rejoins", ok)
node.kill()
print(f"interop failover: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
