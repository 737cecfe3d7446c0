"""Interop: aiokafka (asyncio, its own protocol code) against a three-node Rill cluster started by
ops/interop.sh (BOOTSTRAP=host:port,...): an idempotent producer with acks=all, then a consumer
group of two members that together read every record exactly once and commit.

aiokafka picks, per request, the newest of its own versions that the broker advertises; every
request it sends is seen through the DEBUG log of aiokafka.conn, printed as
`aiokafka-0.14.0 negotiated <Api> v<N>`, and checked against what Rill advertises now."""
import asyncio
import importlib
import logging
import pkgutil
import sys
import time

import aiokafka
import aiokafka.protocol
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.protocol.api import Request

from common import BOOTSTRAP, BROKERS, check, failures, report_versions, rill_api_versions

TAG = f"aiokafka-{aiokafka.__version__}"
TOPIC = f"aio-data-{int(time.time() * 1000) % 10**8}"
GROUP = f"aio-group-{TOPIC[9:]}"
PARTITIONS = 4
COUNT = 400

used = {}


class Requests(logging.Handler):
    """aiokafka.conn logs "Request to %s:%d %d: %s" with the request struct as the last argument."""

    def emit(self, record):
        if record.msg.startswith("Request to ") and record.args:
            r = record.args[-1]
            used.setdefault(r.API_KEY, set()).add(r.API_VERSION)


conn_log = logging.getLogger("aiokafka.conn")
conn_log.setLevel(logging.DEBUG)
conn_log.addHandler(Requests())
conn_log.propagate = False
logging.basicConfig(level=logging.WARNING)


def client_versions():
    """{api key: [versions]} of every request class aiokafka has."""
    for m in pkgutil.iter_modules(aiokafka.protocol.__path__):
        importlib.import_module("aiokafka.protocol." + m.name)
    found, todo = {}, [Request]
    while todo:
        for c in todo.pop().__subclasses__():
            todo.append(c)
            if getattr(c, "_CLASSES", None):
                found.setdefault(c.API_KEY, set()).update(k.API_VERSION for k in c._CLASSES)
    # ApiVersions goes out before any versions are known: always aiokafka's first class (v0).
    found.pop(18, None)
    return {k: sorted(v) for k, v in found.items()}


async def create_topic():
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=15000)
    await admin.start()
    try:
        await asyncio.wait_for(admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)]), 30)
    finally:
        await admin.close()


async def produce():
    p = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", enable_idempotence=True, compression_type="gzip",
                         linger_ms=5, request_timeout_ms=15000)
    await asyncio.wait_for(p.start(), 30)
    acked = {}
    try:
        # Right after the create a partition may still be electing its leader: the producer retries.
        futures = [(f"aio-{i}", await p.send(TOPIC, key=f"k{i}".encode(), value=f"aio-{i}".encode())) for i in range(COUNT)]
        for value, fut in futures:
            try:
                md = await asyncio.wait_for(fut, 60)
                acked[value] = (md.partition, md.offset)
            except Exception as e:  # noqa: BLE001 - reported below
                print(f"     {TAG}: send of {value} failed: {e!r}")
    finally:
        await p.stop()
    check(f"{TAG}: idempotent producer, acks=all, gzip: all {COUNT} acknowledged", len(acked) == COUNT, f"{len(acked)} acknowledged")
    return acked


class Pause(ConsumerRebalanceListener):
    """Pause every partition as it is assigned; the member resumes once the two split the topic,
    so nothing is read before the group is stable."""

    def __init__(self, owned):
        self.owned = owned
        self.consumer = None

    async def on_partitions_revoked(self, revoked):
        self.owned.difference_update(revoked)

    async def on_partitions_assigned(self, assigned):
        self.consumer.pause(*assigned)
        self.owned.update(assigned)


async def consume(acked):
    owned = [set(), set()]
    seen, misplaced, read_by, errors = {}, [], [0, 0], []
    stop = asyncio.Event()

    async def member(me):
        listener = Pause(owned[me])
        c = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=GROUP, enable_auto_commit=False,
                             auto_offset_reset="earliest", session_timeout_ms=10000, heartbeat_interval_ms=500,
                             request_timeout_ms=15000)
        listener.consumer = c
        c.subscribe([TOPIC], listener=listener)
        await asyncio.wait_for(c.start(), 30)
        try:
            while not stop.is_set():
                batches = await c.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    for r in records:
                        v = r.value.decode()
                        seen[v] = seen.get(v, 0) + 1
                        read_by[me] += 1
                        if acked.get(v) != (tp.partition, r.offset):
                            misplaced.append(f"{tp.partition}/{r.offset} {v}")
                if batches:
                    await asyncio.wait_for(c.commit(), 20)
                mine, other = owned[me], owned[1 - me]
                if mine and other and not (mine & other) and len(mine | other) == PARTITIONS and c.paused():
                    c.resume(*c.paused())
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"member {me}: {e!r}")
        finally:
            await asyncio.wait_for(c.stop(), 20)

    tasks = [asyncio.create_task(member(m)) for m in (0, 1)]
    deadline = time.time() + 60
    while len(seen) < len(acked) and time.time() < deadline and not errors:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # a record read twice would show up now
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 40)
    check(f"{TAG}: consumer group: both members ended without error", not errors, errors)
    check(f"{TAG}: consumer group: both members read ({read_by[0]} + {read_by[1]})", read_by[0] > 0 and read_by[1] > 0,
          f"{read_by}")
    check(f"{TAG}: consumer group: every acknowledged record read ({len(seen)} of {len(acked)})",
          set(acked) <= set(seen), f"{len(set(acked) - set(seen))} missing")
    twice = [v for v, n in seen.items() if n != 1]
    check(f"{TAG}: consumer group: ... exactly once", not twice, f"{len(twice)} read more than once, e.g. {twice[:5]}")
    check(f"{TAG}: consumer group: ... each at its acknowledged partition and offset", not misplaced, misplaced[:5])

    # The commits: a new member of the group starts at the end of every partition.
    c = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=GROUP, enable_auto_commit=False, request_timeout_ms=15000)
    await asyncio.wait_for(c.start(), 30)
    try:
        tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        ends = await asyncio.wait_for(c.end_offsets(tps), 20)
        committed = {tp.partition: await asyncio.wait_for(c.committed(tp), 20) for tp in tps}
    finally:
        await asyncio.wait_for(c.stop(), 20)
    want = {tp.partition: ends[tp] for tp in tps}
    check(f"{TAG}: the group committed the end of every partition", committed == want and sum(want.values()) == len(acked),
          f"committed {committed}, ends {want}")


async def main():
    rill = rill_api_versions(BROKERS[0])
    started = time.time()
    await create_topic()
    check(f"{TAG}: creates a topic ({PARTITIONS} partitions, replication 3)", True)
    acked = await produce()
    await consume(acked)
    report_versions(TAG, used, rill, client_versions())
    print(f"     {TAG}: finished in {time.time() - started:.1f} s", flush=True)


try:
    asyncio.run(asyncio.wait_for(main(), 150))
except Exception as e:  # noqa: BLE001 - the failure is the report
    check(f"{TAG}: the run completes", False, repr(e))
print(f"interop aiokafka: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
