"""The clients of a nemesis run, one role per process, run in the clients' namespace. Each writes
its history as JSON lines (one operation's invocation or completion a line) for checker.py.

  producer   idempotent, acks=all, 5 requests in flight: librdkafka (confluent-kafka),
             kafka-python, the Swift client (`rill produce`) or Apache Kafka's Java client
             (NemesisProducer.java); every value unique ("<process>-<n>", padded)
  assign     a consumer of every partition by assign, from the beginning; now and then it is
             thrown away and a new one starts from the beginning again
  group      a consumer-group member (subscribe), committing synchronously after every poll
  final      after the faults are healed: reads every partition from the beginning to its high
             watermark
  admin      creates the topic / asks for preferred leaders (ElectLeaders)

Operation types follow Jepsen: invoke, then ok (it happened), fail (it certainly did not) or info
(nobody knows: a timeout, NOT_LEADER, a lost connection).
"""
import argparse
import json
import random
import sys
import threading
import time

TOPIC = "nemesis"
KAFKA_BAD_MSG = -199  # librdkafka's RD_KAFKA_RESP_ERR__BAD_MSG: a corrupt message or batch


class History:
    def __init__(self, path, process, t0):
        self.f = open(path, "a", buffering=1)
        self.process = process
        self.t0 = t0
        self.lock = threading.Lock()

    def now(self):
        return round(time.monotonic() - self.t0, 4)

    def write(self, **op):
        op["p"] = self.process
        op.setdefault("t", self.now())
        with self.lock:
            self.f.write(json.dumps(op, sort_keys=True) + "\n")


def value_id(raw):
    if raw is None:
        return None
    s = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return s.split(":", 1)[0]


# -- producers ------------------------------------------------------------------------------------

def produce_loop(a, h, send, pump, close):
    rng = random.Random(a.seed)
    pad = "x" * max(0, a.value_bytes - 16)
    deadline = time.monotonic() + a.seconds
    n = 0
    interval = 1.0 / a.rate
    nxt = time.monotonic()
    while time.monotonic() < deadline:
        n += 1
        k = rng.randrange(a.partitions)
        v = f"{h.process}-{n}"
        h.write(type="invoke", f="send", i=n, k=k, v=v)
        send(n, k, v, f"{v}:{pad}".encode())
        nxt += interval
        while True:
            pump()
            d = nxt - time.monotonic()
            if d <= 0:
                break
            time.sleep(min(d, 0.01))
    close()


def confluent_producer(a, h):
    from confluent_kafka import KafkaError, KafkaException, Producer
    definite = {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_RECORD, KafkaError.RECORD_LIST_TOO_LARGE,
                KafkaError.TOPIC_AUTHORIZATION_FAILED}
    pending = {}
    conf = {"bootstrap.servers": a.bootstrap, "enable.idempotence": True, "acks": "all",
            "max.in.flight.requests.per.connection": 5, "linger.ms": 5, "message.timeout.ms": 30000,
            "socket.timeout.ms": 10000, "client.id": h.process,
            "error_cb": lambda e: h.write(type="info", f="client-error", err=str(e), fatal=e.fatal())}
    cur = {"p": Producer(conf)}

    def done(n, k, v):
        def cb(err, msg):
            pending.pop(n, None)
            if err is None:
                h.write(type="ok", f="send", i=n, k=k, v=v, offset=msg.offset())
            else:
                t = "fail" if err.code() in definite else "info"
                h.write(type=t, f="send", i=n, k=k, v=v, err=str(err), fatal=err.fatal())
        return cb

    def replace(e):
        """A fatal error (the idempotent producer's state broke): as Jepsen's client does, the
        producer is torn down and a new one (a new producer id) takes over; what the old one had
        in flight is unknown."""
        h.write(type="info", f="client-error", err=str(e), fatal=True)
        for n, (k, v) in sorted(pending.items()):
            h.write(type="info", f="send", i=n, k=k, v=v, err="in flight when the producer failed fatally")
        pending.clear()
        cur["p"] = Producer(conf)

    def pump(timeout=0):
        try:
            cur["p"].poll(timeout)
        except KafkaException as e:
            replace(e)

    def send(n, k, v, raw):
        while True:
            try:
                cur["p"].produce(TOPIC, raw, partition=k, on_delivery=done(n, k, v))
                pending[n] = (k, v)
                return
            except BufferError:
                pump(0.1)
            except KafkaException as e:
                if e.args and e.args[0].fatal():
                    replace(e)
                    continue
                # Refused before it was queued (e.g. the topic is unknown in the client's
                # metadata): certainly not written.
                h.write(type="fail", f="send", i=n, k=k, v=v, err=str(e))
                pump(0.1)
                return

    def close():
        try:
            left = cur["p"].flush(a.flush_seconds)
        except KafkaException as e:
            h.write(type="info", f="client-error", err=str(e), fatal=True)
            left = len(pending)
        for n, (k, v) in sorted(pending.items()):
            h.write(type="info", f="send", i=n, k=k, v=v, err=f"undelivered after flush ({left} left)")

    produce_loop(a, h, send, pump, close)


def kafka_python_producer(a, h):
    from kafka import KafkaProducer
    from kafka.errors import MessageSizeTooLargeError
    p = KafkaProducer(bootstrap_servers=a.bootstrap, enable_idempotence=True, acks="all",
                      max_in_flight_requests_per_connection=5, linger_ms=5, delivery_timeout_ms=30000,
                      request_timeout_ms=10000, client_id=h.process)
    pending = {}
    lock = threading.Lock()

    def send(n, k, v, raw):
        with lock:
            pending[n] = (k, v)

        def ok(md):
            with lock:
                pending.pop(n, None)
            h.write(type="ok", f="send", i=n, k=k, v=v, offset=md.offset)

        def err(e):
            with lock:
                pending.pop(n, None)
            h.write(type="fail" if isinstance(e, MessageSizeTooLargeError) else "info", f="send", i=n, k=k, v=v,
                    err=repr(e))
        try:
            p.send(TOPIC, raw, partition=k).add_callback(ok).add_errback(err)
        except Exception as e:  # the call itself refused it: nothing was sent
            with lock:
                pending.pop(n, None)
            h.write(type="fail", f="send", i=n, k=k, v=v, err=repr(e))

    def close():
        try:
            p.flush(a.flush_seconds)
        except Exception as e:
            h.write(type="info", f="client-error", err=repr(e))
        with lock:
            left = sorted(pending.items())
        for n, (k, v) in left:
            h.write(type="info", f="send", i=n, k=k, v=v, err="undelivered after flush")
        p.close(timeout=5)

    produce_loop(a, h, send, lambda: None, close)


def swift_producer(a, h):
    """The project's own client, through `rill produce --verbose` (RillClient's idempotent
    producer, 5 requests in flight per partition): lines "key|value" on its standard input, the
    partition chosen by the key (Kafka's murmur2), "record N: topic[P]@OFFSET" per acknowledged
    record on its standard output."""
    import subprocess
    rng = random.Random(a.seed * 7919)
    pad = "x" * max(0, a.value_bytes - 16)
    cmd = [a.rill, "produce", TOPIC, "--brokers", a.bootstrap, "--verbose", "--key-separator", "|"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    sent = {}
    deadline = time.monotonic() + a.seconds
    interval = 1.0 / a.rate
    nxt = time.monotonic()
    n = 0
    try:
        while time.monotonic() < deadline:
            v = f"{h.process}-{n + 1}"
            h.write(type="invoke", f="send", i=n + 1, k=None, v=v)
            proc.stdin.write(f"key{rng.randrange(1000)}|{v}:{pad}\n")
            proc.stdin.flush()
            sent[n] = v
            n += 1
            nxt += interval
            time.sleep(max(0, nxt - time.monotonic()))
    except BrokenPipeError:
        h.write(type="info", f="client-error", err="rill produce exited early")
    try:
        proc.stdin.close()
    except BrokenPipeError:
        pass
    try:
        proc.wait(timeout=a.flush_seconds + 130)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    reader.join(5)
    acked = set()
    for line in out:
        # record 12: nemesis[3]@456
        head, _, where = line.strip().partition(": ")
        if not head.startswith("record ") or "[" not in where:
            continue
        i = int(head.split()[1])
        part, _, off = where.split("[", 1)[1].partition("]@")
        h.write(type="ok", f="send", i=i + 1, k=int(part), v=sent[i], offset=int(off))
        acked.add(i)
    err = proc.stderr.read().strip()[-300:]
    for i in sorted(set(sent) - acked):
        h.write(type="info", f="send", i=i + 1, k=None, v=sent[i], err=f"not acknowledged (exit {proc.returncode}: {err})")


def java_producer(a, h):
    """Apache Kafka's Java client 4.3 (NemesisProducer.java, compiled by ops/nemesis.sh): it writes
    the same history lines itself."""
    import os
    os.execvp("java", ["java", "-Xmx256m", "-cp", a.java_classpath, "NemesisProducer", a.bootstrap, a.history, h.process,
                       repr(h.t0), str(a.seconds), str(a.rate), str(a.partitions), str(a.seed), str(a.value_bytes)])


# -- consumers ------------------------------------------------------------------------------------

def intact(raw):
    """A value as producers write it: "<id>:" then only padding."""
    head, sep, pad = raw.partition(b":")
    return bool(sep) and pad.count(b"x") == len(pad)


def record_poll(h, msgs, **extra):
    by_key = {}
    errors = []
    for m in msgs:
        if m.error():
            errors.append(str(m.error()))
            if m.error().code() == KAFKA_BAD_MSG:  # a batch whose CRC does not match (check.crcs)
                h.write(type="ok", f="corrupt-read", k=m.partition(), offset=m.offset(), err=str(m.error()), **extra)
            continue
        if not intact(m.value() or b""):
            h.write(type="ok", f="corrupt-read", k=m.partition(), offset=m.offset(),
                    value=(m.value() or b"")[:64].decode("utf-8", "replace"), **extra)
        by_key.setdefault(str(m.partition()), []).append([m.offset(), value_id(m.value())])
    if by_key:
        h.write(type="ok", f="poll", value=by_key, **extra)
    for e in errors[:3]:
        h.write(type="info", f="poll", err=e, **extra)
    return by_key


def consumer_conf(a, h, group):
    # check.crcs: librdkafka verifies every batch's CRC32C (off by default), so a corrupt batch
    # served is seen, not silently read.
    return {"bootstrap.servers": a.bootstrap, "group.id": group, "enable.auto.commit": False, "check.crcs": True,
            "auto.offset.reset": "earliest", "client.id": h.process, "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 1000, "socket.timeout.ms": 10000, "enable.partition.eof": False,
            "error_cb": lambda e: h.write(type="info", f="client-error", err=str(e), fatal=e.fatal())}


def assign_consumer(a, h):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    rng = random.Random(a.seed)
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        c = Consumer(consumer_conf(a, h, f"{h.process}-unused"))
        keys = list(range(a.partitions))
        c.assign([TopicPartition(TOPIC, k, OFFSET_BEGINNING) for k in keys])
        h.write(type="ok", f="assign", keys=keys, seek_to_beginning=True)
        life = time.monotonic() + rng.uniform(10, 30)
        while time.monotonic() < min(life, deadline):
            record_poll(h, c.consume(500, 0.5))
        c.close()


def group_consumer(a, h):
    from confluent_kafka import Consumer, KafkaException
    c = Consumer(consumer_conf(a, h, a.group))

    def on_assign(_, parts):
        h.write(type="ok", f="assign", keys=sorted(p.partition for p in parts))

    def on_revoke(_, parts):
        h.write(type="ok", f="revoke", keys=sorted(p.partition for p in parts))

    def on_lost(_, parts):
        h.write(type="ok", f="revoke", keys=sorted(p.partition for p in parts), lost=True)

    c.subscribe([TOPIC], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        got = record_poll(h, c.consume(500, 0.5))
        if not got:
            continue
        t0 = h.now()
        try:
            done = c.commit(asynchronous=False)
            h.write(type="ok", f="commit", t0=t0, offsets={str(p.partition): p.offset for p in done if p.offset >= 0})
        except KafkaException as e:
            # Which offsets it tried: the positions after the poll.
            h.write(type="info", f="commit", t0=t0, err=str(e),
                    offsets={k: v[-1][0] + 1 for k, v in got.items()})
    c.close()


def final_reader(a, h):
    """Every partition from the beginning to its high watermark, asked for until the cluster
    answers (the faults are healed by now)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
    deadline = time.monotonic() + a.seconds
    c = Consumer(consumer_conf(a, h, f"{h.process}-unused"))
    high = {}
    while len(high) < a.partitions and time.monotonic() < deadline:
        for k in range(a.partitions):
            if k in high:
                continue
            try:
                high[k] = c.get_watermark_offsets(TopicPartition(TOPIC, k), timeout=5)[1]
            except KafkaException as e:
                h.write(type="info", f="watermarks", k=k, err=str(e))
                time.sleep(0.5)
    keys = list(range(a.partitions))
    c.assign([TopicPartition(TOPIC, k, OFFSET_BEGINNING) for k in keys])
    h.write(type="ok", f="assign", keys=keys, seek_to_beginning=True)
    pos = {k: 0 for k in keys}
    while time.monotonic() < deadline and any(pos[k] < high.get(k, 1 << 62) for k in keys):
        for k, vs in record_poll(h, c.consume(1000, 0.5)).items():
            pos[int(k)] = max(pos[int(k)], vs[-1][0] + 1)
    complete = len(high) == a.partitions and all(pos[k] >= high[k] for k in keys)
    h.write(type="ok" if complete else "info", f="final", high={str(k): v for k, v in high.items()},
            reached={str(k): v for k, v in pos.items()})
    c.close()


# -- admin ----------------------------------------------------------------------------------------

def admin(a, h):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic
    ac = AdminClient({"bootstrap.servers": a.bootstrap, "client.id": h.process})
    deadline = time.monotonic() + a.seconds
    if a.action == "create":
        while True:
            f = ac.create_topics([NewTopic(TOPIC, a.partitions, 3, config={"segment.bytes": str(1 << 20)})])[TOPIC]
            try:
                f.result(timeout=30)
                h.write(type="ok", f="create-topic", partitions=a.partitions)
                return
            except KafkaException as e:
                if "TOPIC_ALREADY_EXISTS" in str(e):
                    h.write(type="ok", f="create-topic", partitions=a.partitions, note=str(e))
                    return
                h.write(type="info", f="create-topic", err=str(e))
                if time.monotonic() > deadline:
                    sys.exit(f"could not create {TOPIC}: {e}")
                time.sleep(1)
    elif a.action == "elect":
        from confluent_kafka import ElectionType, TopicPartition
        f = ac.elect_leaders(ElectionType.PREFERRED, [TopicPartition(TOPIC, k) for k in range(a.partitions)])
        try:
            res = f.result(timeout=a.seconds)
            h.write(type="ok", f="elect", result={str(tp.partition): (str(e) if e else None) for tp, e in res.items()})
        except KafkaException as e:
            h.write(type="info", f="elect", err=str(e))


ROLES = {"producer-confluent": confluent_producer, "producer-kafka-python": kafka_python_producer,
         "producer-swift": swift_producer, "producer-java": java_producer,
         "assign": assign_consumer, "group": group_consumer, "final": final_reader, "admin": admin}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=sorted(ROLES))
    ap.add_argument("--process", required=True)
    ap.add_argument("--history", required=True)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--t0", type=float, required=True, help="time.monotonic() of the run's start")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--value-bytes", type=int, default=1000)
    ap.add_argument("--flush-seconds", type=float, default=60)
    ap.add_argument("--group", default="nemesis-group")
    ap.add_argument("--action", default="create")
    ap.add_argument("--rill", default="rill", help="the rill binary (producer-swift)")
    ap.add_argument("--java-classpath", default="", help="the Java client's jars and NemesisProducer (producer-java)")
    a = ap.parse_args()
    h = History(a.history, a.process, a.t0)
    ROLES[a.role](a, h)


if __name__ == "__main__":
    main()
