# %% [markdown]
# # 5.1 Deploy a broker: one node, then three
#
# Rill is a Kafka-compatible broker: Kafka clients (kafka-python, confluent-kafka, Spark, the Java
# client) talk to it unchanged. In this module you start a one-node cluster, then a three-node one,
# and look at what a cluster is made of: **topics**, their **partitions**, the **replicas** of each
# partition and the **leader** that serves it; then you kill a node and watch the cluster go on.
#
# On your own machine the one-liners are:
#
# ```sh
# rill dev --nodes 1          # one node: Kafka on 127.0.0.1:9092, status page on :9292; Ctrl-C stops it
# rill dev                    # three nodes: Kafka on 9092-9094, status pages on 9292-9294
# ```
#
# Here we do what `rill dev` does step by step, so that we can kill a single node later:
# `rill dev --init-only` writes a CA, node certificates and one `node.toml` per node, and
# `rill serve --config node-N/node.toml` runs node N.

# %%
import json
import os
import subprocess
import tempfile
import time
import urllib.request

from rill_spark.local import free_base_port, rill_binary

RILL = rill_binary()          # $RILL, `rill` on PATH, or the repository's release build
print("rill binary:", RILL)


def rill(*args):
    """Run a `rill` command and print what it prints."""
    out = subprocess.run([RILL, *args], capture_output=True, text=True, timeout=60)
    print(out.stdout + out.stderr)
    return out.stdout


def status_page(port):
    """A node's status page: what `curl http://127.0.0.1:<port>/status` shows."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
        return json.load(r)


# %% [markdown]
# ## One node
#
# We pick free ports (the course also runs on machines where 9092 is taken) and a fresh directory.

# %%
workdir = tempfile.mkdtemp(prefix="course-5-1-")
port = free_base_port(1)
one = f"{workdir}/one"
rill("dev", "--init-only", "--nodes", "1", "--dir", one, "--kafka-port", str(port))
print(open(f"{one}/node-1/node.toml").read())

# %% [markdown]
# The node's configuration names its id, the cluster, its data directory, its three listeners
# (Kafka clients, peers, the status page) and its peers. Start it:

# %%
node = subprocess.Popen([RILL, "serve", "--config", f"{one}/node-1/node.toml"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_leader(status_ports, nodes, timeout=30):
    """Until every node answers and knows a controller leader and all `nodes` brokers."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            states = [status_page(p) for p in status_ports]
            if all(s["controllerLeader"] > 0 and len(s["brokers"]) == nodes for s in states):
                return states
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError("no controller leader")


wait_for_leader([port + 200], 1)
status = rill("cluster", "status", "--dir", one)
assert "1/1 node(s) up" in status

# %% [markdown]
# Create a topic with three partitions. On one node every partition has one replica, and that node
# leads all of them. Any Kafka client now sees it; here the Python admin client of confluent-kafka:

# %%
from confluent_kafka.admin import AdminClient, NewTopic

admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
admin.create_topics([NewTopic("orders", num_partitions=3, replication_factor=1)])["orders"].result(timeout=30)
deadline = time.time() + 30
while time.time() < deadline:   # each partition elects its leader within a second or so
    md = admin.list_topics(timeout=10)
    if all(p.leader > 0 for p in md.topics["orders"].partitions.values()):
        break
    time.sleep(0.2)
for p in sorted(md.topics["orders"].partitions.values(), key=lambda p: p.id):
    print(f"orders/{p.id}: leader node {p.leader}, replicas {p.replicas}, in sync {p.isrs}")
assert len(md.topics["orders"].partitions) == 3
assert all(p.leader == 1 for p in md.topics["orders"].partitions.values())

# %%
del admin                 # close the client before its cluster goes away
node.terminate()          # SIGTERM: the node stops cleanly (Ctrl-C on `rill dev` does the same)
node.wait(timeout=30)

# %% [markdown]
# ## Three nodes
#
# A three-node cluster keeps every partition on three **replicas** (by default every node). Each
# partition is its own Raft group: one replica is its **leader** and takes the writes and reads;
# a write is acknowledged (with `acks=all`) once a majority, two of three, has it on disk. So the
# cluster survives one node dying.

# %%
three = f"{workdir}/three"
port3 = free_base_port(3)
rill("dev", "--init-only", "--nodes", "3", "--dir", three, "--kafka-port", str(port3))
nodes = {n: subprocess.Popen([RILL, "serve", "--config", f"{three}/node-{n}/node.toml"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for n in (1, 2, 3)}
wait_for_leader([port3 + 200 + i for i in range(3)], 3)
bootstrap = ",".join(f"127.0.0.1:{port3 + i}" for i in range(3))
print("bootstrap servers:", bootstrap)
rill("topic", "create", "orders", "--partitions", "3", "--dir", three)
deadline = time.time() + 30
while time.time() < deadline and not (len(ps := [p for p in status_page(port3 + 200)["partitions"] if p["topic"] == "orders"]) == 3
                                      and all(p["leader"] > 0 for p in ps)):
    time.sleep(0.2)   # until each partition has elected its leader
status = rill("cluster", "status", "--dir", three)
assert "3/3 node(s) up" in status

# %% [markdown]
# `rill cluster status` asks every node's status listener: which nodes are up, which node leads
# the **controller** (the Raft group holding the cluster's metadata: brokers, topics, where each
# partition's replicas are), and per partition its replicas and leader. The leaders are spread
# over the nodes. The same facts, as JSON, are on each node's status page:

# %%
page = status_page(port3 + 200)
print(json.dumps({k: page[k] for k in ("node", "controllerLeader", "brokers", "peers")}, indent=1))
leaders = {p["partition"]: p["leader"] for p in page["partitions"] if p["topic"] == "orders"}
print("leaders of orders:", leaders)
assert sorted(leaders) == [0, 1, 2] and all(leader in (1, 2, 3) for leader in leaders.values())

# %% [markdown]
# ## A node dies
#
# Write some records, then kill the leader of partition 0 with `kill -9` (no goodbye), and keep
# writing. The producer's writes to that partition fail for a moment, are retried, and land on the
# new leader, elected by the two remaining replicas within a few seconds. Nothing acknowledged is
# lost.

# %%
from confluent_kafka import Consumer, Producer, TopicPartition

producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
acked = []
for i in range(100):
    producer.produce("orders", value=f"order-{i}".encode(), partition=0,
                     on_delivery=lambda err, msg: acked.append(msg.offset()) if err is None else print(err))
producer.flush(30)

victim = leaders[0]
nodes[victim].kill()                   # kill -9
nodes[victim].wait()
print(f"killed node {victim}, the leader of orders/0")

for i in range(100, 200):
    producer.produce("orders", value=f"order-{i}".encode(), partition=0,
                     on_delivery=lambda err, msg: acked.append(msg.offset()) if err is None else print(err))
left = producer.flush(60)
print(f"{len(acked)} acknowledged, {left} not")
assert len(acked) == 200 and left == 0

# %%
alive = [n for n in (1, 2, 3) if n != victim]
time.sleep(1)
status = rill("cluster", "status", "--dir", three)
assert "2/3 node(s) up" in status
page = status_page(port3 + 200 + alive[0] - 1)
new_leader = {p["partition"]: p["leader"] for p in page["partitions"] if p["topic"] == "orders"}[0]
print(f"orders/0 was led by node {victim}, now by node {new_leader}")
assert new_leader in alive

# %% [markdown]
# Every acknowledged record is there, in order, at the offset it was acknowledged at:

# %%
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "course-5-1", "enable.auto.commit": False})
consumer.assign([TopicPartition("orders", 0, 0)])
values = []
deadline = time.time() + 30
while len(values) < 200 and time.time() < deadline:
    for m in consumer.consume(200, timeout=1):
        if not m.error():
            values.append(m.value().decode())
consumer.close()
print(values[:3], "...", values[-3:])
assert values == [f"order-{i}" for i in range(200)]

# %% [markdown]
# Start the dead node again: it catches up from the others and becomes a replica again.

# %%
nodes[victim] = subprocess.Popen([RILL, "serve", "--config", f"{three}/node-{victim}/node.toml"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wait_for_leader([port3 + 200 + i for i in range(3)], 3)
status = rill("cluster", "status", "--dir", three)
assert "3/3 node(s) up" in status

# %%
del producer
for proc in nodes.values():
    proc.terminate()
for proc in nodes.values():
    proc.wait(timeout=30)
import shutil
shutil.rmtree(workdir, ignore_errors=True)
print("stopped")
