"""Interop: the API versions confluent-kafka (bundled librdkafka), kcat (Debian's librdkafka) and
kafka-python negotiate with a three-node Rill cluster (ops/interop.sh passes BOOTSTRAP).

Each client creates or uses a topic, produces with an idempotent acks=all producer and reads the
records back in a consumer group that commits; every request it sends is seen through its own
debug log (librdkafka: debug=protocol, "Sent ProduceRequest (v8, ..."; kafka-python: the
kafka.protocol.parser logger) and printed as `<client> negotiated <Api> v<N>`. Each version must
be one Rill advertises now (an ApiVersions v0 request of our own tells which)."""
import logging
import re
import subprocess
import sys
import time

import confluent_kafka
import kafka
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from common import BOOTSTRAP, BROKERS, api_name, check, failures, report_versions, rill_api_versions

RUN = int(time.time() * 1000) % 10**8
TOPIC = f"versions-{RUN}"
SENT = re.compile(r"Sent (\w+?)Request \(v(\d+),")
rill = rill_api_versions(BROKERS[0])
KEYS = {api_name(k).lower(): k for k in range(100)}
KEYS["apiversion"] = 18  # librdkafka's name for ApiVersions


unknown = set()


def note(used, text):
    for name, version in SENT.findall(text):
        key = KEYS.get(name.lower())
        if key is None:
            if name not in unknown:
                unknown.add(name)
                check(f"librdkafka's request name {name}Request is a known API", False, "add it to KEYS")
            continue
        used.setdefault(key, set()).add(int(version))


class Lines(logging.Handler):
    def __init__(self, used):
        super().__init__()
        self.used = used

    def emit(self, record):
        note(self.used, record.getMessage())


# --- confluent-kafka (librdkafka bundled in the wheel) -------------------------------------------
used = {}
log = logging.getLogger("librdkafka-protocol")
log.propagate = False
log.setLevel(logging.DEBUG)
log.addHandler(Lines(used))
common = {"bootstrap.servers": BOOTSTRAP, "debug": "protocol", "logger": log}
admin = AdminClient(common)
admin.create_topics([NewTopic(TOPIC, 2, 3)], operation_timeout=15)[TOPIC].result(timeout=30)
p = Producer({**common, "acks": "all", "enable.idempotence": True, "linger.ms": 5, "compression.type": "gzip"})
for i in range(100):
    p.produce(TOPIC, value=f"ck-{i}".encode())
check("confluent-kafka: idempotent, gzip producer: 100 records acknowledged", p.flush(30) == 0)
c = Consumer({**common, "group.id": f"versions-ck-{RUN}", "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.subscribe([TOPIC])
got = set()
deadline = time.time() + 30
while len(got) < 100 and time.time() < deadline:
    for m in c.consume(100, 0.5):
        if not m.error():
            got.add(m.value())
    if got:
        c.commit(asynchronous=False)
c.close()
check("confluent-kafka: a group member reads all 100 and commits", len(got) == 100, f"{len(got)} read")
report_versions(f"confluent-kafka-{confluent_kafka.__version__}/librdkafka-{confluent_kafka.libversion()[0]}", used, rill)

# --- kcat (Debian's librdkafka) ------------------------------------------------------------------
used = {}
kcat_version = subprocess.run(["kcat", "-V"], capture_output=True, text=True, timeout=10).stdout
kv = re.search(r"^Version ([\d.]+)", kcat_version, re.M)
lv = re.search(r"librdkafka ([\d.]+)", kcat_version)
tag = f"kcat-{kv.group(1) if kv else '?'}/librdkafka-{lv.group(1) if lv else '?'}"
prod = subprocess.run(["kcat", "-P", "-b", BOOTSTRAP, "-t", TOPIC, "-X", "debug=protocol", "-X", "request.required.acks=-1",
                       "-X", "enable.idempotence=true"],
                      input="".join(f"kcat-{i}\n" for i in range(50)), capture_output=True, text=True, timeout=30)
note(used, prod.stderr)
check(f"{tag}: idempotent producer with acks=all", prod.returncode == 0, prod.stderr[-300:])
cons = subprocess.run(["kcat", "-b", BOOTSTRAP, "-G", f"versions-kcat-{RUN}", "-o", "beginning", "-e",
                       "-X", "debug=protocol", TOPIC], capture_output=True, text=True, timeout=60)
note(used, cons.stderr)
lines = set(cons.stdout.split())
check(f"{tag}: -G reads every record", {f"kcat-{i}" for i in range(50)} <= lines, f"{len(lines)} read; {cons.stderr[-300:]}")
report_versions(tag, used, rill)

# --- kafka-python ----------------------------------------------------------------------------------
from kafka import KafkaConsumer, KafkaProducer  # noqa: E402

used = {}


class Requests(logging.Handler):
    """kafka.protocol.parser logs "%s Sending request %d %s" with the request as the last argument."""

    def emit(self, record):
        if record.msg.startswith("%s Sending request") and record.args:
            r = record.args[-1]
            used.setdefault(r.API_KEY, set()).add(r.API_VERSION)


parser_log = logging.getLogger("kafka.protocol.parser")
parser_log.setLevel(logging.DEBUG)
parser_log.propagate = False
parser_log.addHandler(Requests())
kp = KafkaProducer(bootstrap_servers=BROKERS, acks="all")
futures = [kp.send(TOPIC, value=f"kp-{i}".encode()) for i in range(50)]
kp.flush(timeout=30)
ok = sum(1 for f in futures if f.succeeded())
kp.close()
check("kafka-python: idempotent producer: 50 records acknowledged", ok == 50, f"{ok} acknowledged")
kc = KafkaConsumer(TOPIC, bootstrap_servers=BROKERS, group_id=f"versions-kp-{RUN}", auto_offset_reset="earliest",
                   enable_auto_commit=False, consumer_timeout_ms=5000)
got = set()
deadline = time.time() + 30
while len(got) < 200 and time.time() < deadline:
    for records in kc.poll(timeout_ms=500).values():
        got.update(r.value for r in records)
    if got:
        kc.commit()
kc.close()
check("kafka-python: a group member reads all 200 and commits", len(got) == 200, f"{len(got)} read")
report_versions(f"kafka-python-{kafka.__version__}", used, rill)

admin.delete_topics([TOPIC], operation_timeout=15)[TOPIC].result(timeout=30)
print(f"interop versions: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
