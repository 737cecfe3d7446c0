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
  txn-producer  a transactional producer (librdkafka): transactions of 1-4 values over the
             partitions of a second topic, three in four committed, the rest aborted; each
             transaction's outcome ok (committed), fail (certainly aborted) or info (unknown)
  txn-reader a read_committed consumer of that topic by assign; with --final, after the heal,
             reads it to its end (the last stable offset reaches the high watermark once every
             transaction is decided); --topic nemesis-ctp reads the ctp's output instead
  ctp        exactly-once consume-transform-produce: reads TOPIC, writes each value to CTP_TOPIC
             and commits the offsets read in the same transaction (send_offsets_to_transaction)
  admin      creates the topics / asks for preferred leaders (ElectLeaders)

Operation types follow Jepsen: invoke, then ok (it happened), fail (it certainly did not) or info
(nobody knows: a timeout, NOT_LEADER, a lost connection).
"""
import argparse
import faulthandler
import json
import random
import signal
import sys
import threading
import time

TOPIC = "nemesis"
# The transactional workload's topic (txn-producer, txn-reader).
TXN_TOPIC = "nemesis-txn"
TXN_PARTITIONS = 3
# Where the consume-transform-produce loop (ctp) writes what it read from TOPIC.
CTP_TOPIC = "nemesis-ctp"
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


def record_poll(h, msgs, f="poll", **extra):
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
        h.write(type="ok", f=f, value=by_key, **extra)
    for e in errors[:3]:
        h.write(type="info", f=f, err=e, **extra)
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


# -- transactions ---------------------------------------------------------------------------------

def transactional_conf(a, h):
    """A transactional producer's settings: its id from the process name, a 20 s transaction
    timeout (an abandoned transaction is aborted well within a run's final read)."""
    return {"bootstrap.servers": a.bootstrap, "transactional.id": f"nemesis-{h.process}", "transaction.timeout.ms": 20000,
            "message.timeout.ms": 15000, "socket.timeout.ms": 10000, "linger.ms": 5, "client.id": h.process,
            # (A transactional producer's fatal error is the checker's to judge by the
            # transactions' outcomes, not a producer-fatal anomaly: it is logged as txn_fatal.)
            "error_cb": lambda e: h.write(type="info", f="client-error", err=str(e), txn_fatal=e.fatal())}


def transactional_producer(conf, h, give_up):
    """A producer of conf's transactional id once init_transactions succeeded: it fences any
    earlier producer of the id and has the coordinator abort what that one left open."""
    from confluent_kafka import KafkaException, Producer
    p = Producer(conf)
    while True:
        try:
            p.init_transactions(30)
            return p
        except KafkaException as e:
            h.write(type="info", f="client-error", err=f"init_transactions: {e}")
            if time.monotonic() > give_up:
                sys.exit(f"init_transactions never succeeded: {e}")
            time.sleep(1)
            if not e.args[0].retriable():
                p = Producer(conf)


def abort_after(p, err):
    """After a transactional call failed with `err`: "fail" if the error allowed an abort and
    abort_transaction returned (the transaction certainly never commits), else "info" and the
    error that left it unknown."""
    from confluent_kafka import KafkaException
    if err.txn_requires_abort() and not err.fatal():
        try:
            p.abort_transaction(30)
            return "fail", err
        except KafkaException as e:
            return "info", e.args[0]
    return "info", err


def txn_producer(a, h):
    """librdkafka's transactional producer: one transaction after another, each 1-4 values to
    random partitions of TXN_TOPIC, committed (three in four) or aborted. A transaction is `ok`
    once commit_transaction returned, `fail` once abort_transaction did (the coordinator accepts
    an abort only of an open transaction, so it certainly never commits), `info` otherwise (the
    commit's answer lost, a fatal error): then a new producer of the same transactional id takes
    over, and its init_transactions fences the old one and aborts whatever it left open."""
    from confluent_kafka import KafkaException
    rng = random.Random(a.seed * 7907 + 1)
    pad = "x" * max(0, a.value_bytes - 24)
    conf = transactional_conf(a, h)
    deadline = time.monotonic() + a.seconds
    give_up = deadline + a.flush_seconds

    def retried(call, what):
        """Call a transactional API again while it fails retriably (librdkafka allows that);
        an abortable or fatal error, or no time left, is raised."""
        while True:
            try:
                return call()
            except KafkaException as e:
                err = e.args[0]
                if err.retriable() and not err.txn_requires_abort() and not err.fatal() and time.monotonic() < give_up:
                    h.write(type="info", f="txn-retry", what=what, err=str(err))
                    time.sleep(0.2)
                    continue
                raise

    def fresh():
        return transactional_producer(conf, h, give_up)

    p = fresh()
    i = 0
    interval = 1.0 / a.rate
    while time.monotonic() < deadline:
        i += 1
        values = [[rng.randrange(TXN_PARTITIONS), f"{h.process}-{i}-{j}"] for j in range(rng.randint(1, 4))]
        commit = rng.random() < 0.75
        h.write(type="invoke", f="txn", i=i, values=values, commit=commit)
        state = "open"
        try:
            retried(p.begin_transaction, "begin")
            for k, v in values:
                p.produce(TXN_TOPIC, f"{v}:{pad}".encode(), partition=k)
            if commit:
                state = "committing"
                retried(lambda: p.commit_transaction(30), "commit")
                h.write(type="ok", f="txn", i=i, values=values)
            else:
                state = "aborting"
                # Delivered first: abort_transaction would purge what is still queued, and an
                # abort with nothing written tests nothing.
                p.flush(15)
                retried(lambda: p.abort_transaction(30), "abort")
                h.write(type="fail", f="txn", i=i, values=values, err="aborted by the client")
        except KafkaException as e:
            outcome, err = abort_after(p, e.args[0])
            if outcome == "fail":
                h.write(type="fail", f="txn", i=i, values=values, err=f"{state}: {e}; aborted")
            else:
                # Unknown (a commit may have been decided) or fatal: a new producer takes over.
                h.write(type="info", f="txn", i=i, values=values, err=f"{state}: {err}", fatal=err.fatal())
                p = fresh()
        except BufferError as e:
            h.write(type="info", f="txn", i=i, values=values, err=f"local queue full: {e}")
            p = fresh()
        time.sleep(interval)
    p.flush(10)


def txn_reader(a, h):
    """A read_committed consumer of TXN_TOPIC by assign (f="txn-poll"). With --final (after the
    heal): from the beginning until its position reaches each partition's high watermark — the
    last stable offset reaches it once every transaction is decided (a producer that disappeared
    leaves its open transaction to the coordinator's timeout)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
    conf = consumer_conf(a, h, f"{h.process}-unused")
    conf["isolation.level"] = "read_committed"
    c = Consumer(conf)
    topic = a.topic or TXN_TOPIC
    f = "ctp-poll" if topic == CTP_TOPIC else "txn-poll"
    keys = list(range(TXN_PARTITIONS))
    c.assign([TopicPartition(topic, k, OFFSET_BEGINNING) for k in keys])
    h.write(type="ok", f="txn-assign", topic=topic, keys=keys, final=bool(a.final))
    deadline = time.monotonic() + a.seconds
    high = {}
    while time.monotonic() < deadline:
        record_poll(h, c.consume(500, 0.5), f=f, final=bool(a.final))
        if not a.final:
            continue
        for k in keys:
            if k not in high:
                try:
                    high[k] = c.get_watermark_offsets(TopicPartition(topic, k), timeout=5)[1]
                except KafkaException as e:
                    h.write(type="info", f="watermarks", k=k, err=str(e))
        pos = {tp.partition: tp.offset for tp in c.position([TopicPartition(topic, k) for k in keys])}
        # (An empty partition has no position to report: its high watermark is 0.)
        if len(high) == len(keys) and all(high[k] == 0 or pos.get(k, -1) >= high[k] for k in keys):
            h.write(type="ok", f="txn-final", topic=topic, high={str(k): v for k, v in high.items()}, reached={str(k): v for k, v in pos.items()})
            c.close()
            return
    if a.final:
        pos = {tp.partition: tp.offset for tp in c.position([TopicPartition(topic, k) for k in keys])}
        h.write(type="info", f="txn-final", topic=topic, high={str(k): v for k, v in high.items()}, reached={str(k): v for k, v in pos.items()})
    c.close()


def ctp(a, h):
    """Exactly-once consume-transform-produce, as Kafka Streams and the docs' loop do it: a
    read_committed consumer of TOPIC (by assign, group "nemesis-ctp" holding its offsets) and a
    transactional producer; each poll is one transaction that writes every value read, tagged with
    where it was read ("<value>/<partition>/<offset>"), to CTP_TOPIC and commits the positions
    with send_offsets_to_transaction. After anything but a commit (an abort, an unknown outcome, a
    new producer) the consumer goes back to the group's committed offsets, which read_committed
    asks for stably (they wait for a transaction in doubt). At the end it records them:
    checker.py then needs each input below them in the output exactly once, and none above."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
    conf = consumer_conf(a, h, "nemesis-ctp")
    conf["isolation.level"] = "read_committed"
    c = Consumer(conf)
    tps = [TopicPartition(TOPIC, k) for k in range(a.partitions)]
    pconf = transactional_conf(a, h)
    deadline = time.monotonic() + a.seconds
    give_up = deadline + a.flush_seconds

    def committed():
        while True:
            try:
                got = c.committed(tps, timeout=10)
                return {tp.partition: (tp.offset if tp.offset >= 0 else OFFSET_BEGINNING) for tp in got}
            except KafkaException as e:
                h.write(type="info", f="ctp-committed", err=str(e))
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.5)

    def rewind():
        at = committed()
        c.assign([TopicPartition(TOPIC, k, at[k]) for k in range(a.partitions)])
        h.write(type="ok", f="ctp-rewind", offsets={str(k): v for k, v in at.items()})

    def fresh():
        return transactional_producer(pconf, h, give_up)

    p = fresh()
    rewind()
    i = 0
    while time.monotonic() < deadline:
        msgs = [m for m in c.consume(200, 0.5) if not m.error()]
        if not msgs:
            continue
        i += 1
        positions = {}
        try:
            p.begin_transaction()
            for m in msgs:
                out = f"{value_id(m.value())}/{m.partition()}/{m.offset()}:"
                p.produce(CTP_TOPIC, out.encode(), partition=m.partition() % TXN_PARTITIONS)
                positions[m.partition()] = m.offset() + 1
            p.send_offsets_to_transaction([TopicPartition(TOPIC, k, o) for k, o in sorted(positions.items())],
                                          c.consumer_group_metadata(), 30)
            p.commit_transaction(30)
            h.write(type="ok", f="ctp", i=i, n=len(msgs), offsets={str(k): v for k, v in positions.items()})
            continue
        except KafkaException as e:
            outcome, err = abort_after(p, e.args[0])
            h.write(type=outcome, f="ctp", i=i, n=len(msgs), err=str(err))
            if outcome == "info":
                p = fresh()  # fences the old producer; what it left open is aborted
        rewind()
    p.flush(10)
    final = committed()
    h.write(type="ok", f="ctp-committed", offsets={str(k): v for k, v in final.items()})
    c.close()


# -- admin ----------------------------------------------------------------------------------------

def admin(a, h):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic
    ac = AdminClient({"bootstrap.servers": a.bootstrap, "client.id": h.process})
    deadline = time.monotonic() + a.seconds
    if a.action == "create":
        for topic, partitions in ((TOPIC, a.partitions), (TXN_TOPIC, TXN_PARTITIONS), (CTP_TOPIC, TXN_PARTITIONS)):
            while True:
                f = ac.create_topics([NewTopic(topic, partitions, 3, config={"segment.bytes": str(1 << 20)})])[topic]
                try:
                    f.result(timeout=30)
                    h.write(type="ok", f="create-topic", topic=topic, partitions=partitions)
                    break
                except KafkaException as e:
                    if "TOPIC_ALREADY_EXISTS" in str(e):
                        h.write(type="ok", f="create-topic", topic=topic, partitions=partitions, note=str(e))
                        break
                    h.write(type="info", f="create-topic", topic=topic, err=str(e))
                    if time.monotonic() > deadline:
                        sys.exit(f"could not create {topic}: {e}")
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
         "assign": assign_consumer, "group": group_consumer, "final": final_reader, "admin": admin,
         "txn-producer": txn_producer, "txn-reader": txn_reader, "ctp": ctp}


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
    ap.add_argument("--final", type=int, default=0, help="txn-reader: 1 reads to the end after the heal")
    ap.add_argument("--topic", default=None, help="txn-reader: the topic (default nemesis-txn)")
    ap.add_argument("--rill", default="rill", help="the rill binary (producer-swift)")
    ap.add_argument("--java-classpath", default="", help="the Java client's jars and NemesisProducer (producer-java)")
    a = ap.parse_args()
    # run.py sends SIGUSR1 to a client still running at its deadline before it kills it: every
    # thread's Python stack goes to this client's stderr file, so a hang can be located.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    h = History(a.history, a.process, a.t0)
    ROLES[a.role](a, h)


if __name__ == "__main__":
    main()
