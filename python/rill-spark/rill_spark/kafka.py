"""The Kafka side: metadata and offsets for the driver, reading one offset range into Arrow record
batches on a worker, and producing rows. confluent-kafka (librdkafka) throughout.

Clients are cached per process: Spark reuses its Python workers between tasks, so a worker keeps
one consumer and one producer per client configuration instead of connecting for every task of
every micro-batch. Nothing here holds a client in an object Spark pickles.
"""
import logging
import os
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME
from confluent_kafka.admin import AdminClient, OffsetSpec

log = logging.getLogger("rill_spark")

_lock = threading.Lock()
_consumers = {}
_producers = {}
_admins = {}


class DataLossError(RuntimeError):
    """Offsets the query needs are gone (deleted, or the partition's offsets moved back)."""


def report_data_loss(message, fail_on_data_loss):
    """Spark's Kafka source behaviour: raise under failOnDataLoss=true, else log a warning and go on."""
    if fail_on_data_loss:
        raise DataLossError(message + ". Some data may have been lost. If you want your query to go on "
                            "in that case, set the source option 'failOnDataLoss' to 'false'.")
    log.warning("%s. Some data may have been lost; going on (failOnDataLoss=false).", message)
    import warnings
    warnings.warn(f"rill_spark: {message} (failOnDataLoss=false: skipped)", RuntimeWarning, stacklevel=2)


def _key(conf):
    return tuple(sorted((str(k), str(v)) for k, v in conf.items()))


_CACHED_PER_KIND = 2


def _cached(cache, conf, make, close):
    """The client for conf from cache, made if missing; the least recently used beyond
    _CACHED_PER_KIND is closed (a worker that served a query of another cluster keeps no client
    of it reconnecting forever). Call with _lock held."""
    k = _key(conf)
    client = cache.pop(k, None)
    if client is None:
        client = make()
    cache[k] = client   # most recent last
    while len(cache) > _CACHED_PER_KIND:
        old = cache.pop(next(iter(cache)))
        try:
            close(old)
        except Exception:  # noqa: BLE001 (closing a client of a cluster that is gone)
            pass
    return client


def admin_client(conf):
    """One AdminClient per configuration and process (the driver's planning calls)."""
    with _lock:
        return _cached(_admins, conf, lambda: AdminClient(dict(conf)), lambda a: None)


def consumer(conf):
    """One Consumer per configuration and process, without a group: partitions are assigned by hand
    and no offset is ever committed to Kafka (the checkpoint holds them, as with Spark's source)."""
    with _lock:
        def make():
            cfg = {"enable.auto.commit": False, "enable.auto.offset.store": False,
                   "auto.offset.reset": "error",      # an out-of-range position is data loss, never a silent reset
                   "enable.partition.eof": False,
                   # Fetch whole batches, and keep more than librdkafka's default locally
                   "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760,
                   "queued.min.messages": 500000, "queued.max.messages.kbytes": 262144,
                   # a group id only because librdkafka wants one for a consumer; nothing joins or commits
                   "group.id": f"rill-spark-{os.getpid()}"}
            cfg.update(conf)
            return Consumer(cfg)
        return _cached(_consumers, conf, make, lambda c: c.close())


def producer(conf):
    """One idempotent producer per configuration and process."""
    with _lock:
        def make():
            cfg = {"enable.idempotence": True, "acks": "all", "linger.ms": 5,
                   "batch.size": 1000000, "message.timeout.ms": 120000}
            cfg.update(conf)
            return Producer(cfg)
        return _cached(_producers, conf, make, lambda p: p.flush(10))


# -- metadata and offsets (driver)

def _retrying(what, fn, timeout_s):
    """Calls fn until it succeeds or timeout_s passed: a partition without a leader (an election
    after a node died) answers a retriable error for a moment."""
    deadline = time.time() + timeout_s
    delay = 0.1
    while True:
        try:
            return fn()
        except KafkaException as e:
            err = e.args[0] if e.args else None
            retriable = isinstance(err, KafkaError) and (err.retriable() or err.code() in (
                KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError._TRANSPORT,
                KafkaError._TIMED_OUT, KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.REQUEST_TIMED_OUT))
            if not retriable or time.time() + delay > deadline:
                raise
            log.info("%s: %s; retrying", what, err)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def topic_partitions(conf, opts, timeout_s=30.0):
    """The (topic, partition) pairs the subscription covers now, sorted. A subscribed topic that does
    not exist yet has none (as with Spark's source, it is picked up once it exists)."""
    if opts.strategy == "assign":
        return list(opts.assigned)
    md = _retrying("metadata", lambda: admin_client(conf).list_topics(timeout=10), timeout_s)
    out = []
    for name, t in md.topics.items():
        if t.error is not None and t.error.code() != KafkaError.NO_ERROR:
            continue
        if opts.wants(name):
            out.extend((name, p) for p in t.partitions)
    return sorted(out)


def list_offsets(conf, tps, spec, timeout_s=30.0):
    """{(topic, partition): offset} for spec 'earliest', 'latest' or a timestamp in ms (None where no
    record is at or after it)."""
    if not tps:
        return {}

    def ask():
        if spec == "earliest":
            s = OffsetSpec.earliest()
        elif spec == "latest":
            s = OffsetSpec.latest()
        else:
            s = None
        req = {TopicPartition(t, p): (s if s is not None else OffsetSpec.for_timestamp(int(spec))) for t, p in tps}
        admin = admin_client(conf)
        futures = admin.list_offsets(req, request_timeout=10)
        out = {}
        for tp, f in futures.items():
            off = f.result().offset
            if off < 0 and not (s is None and off == -1):
                # No answer (librdkafka gives OFFSET_INVALID, -1001, without an error when the
                # request timed out, e.g. sent to a leader that was just killed, and keeps asking
                # that broker until its metadata is refreshed): refresh, then ask again.
                admin.list_topics(timeout=10)
                raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"no offset for {tp.topic}-{tp.partition} ({off})"))
            out[(tp.topic, tp.partition)] = None if off < 0 else off
        return out

    return _retrying(f"list offsets ({spec})", ask, timeout_s)


# -- reading (worker)

def read_range(conf, topic, partition, start, end, arrow_schema, include_headers, fail_on_data_loss,
               poll_timeout_s, batch_rows=20000):
    """Yields pyarrow RecordBatches with the records at offsets [start, end) of one partition.

    Offsets found missing (deleted below the partition's start, or beyond its end after it was
    recreated) are data loss: DataLossError under failOnDataLoss, otherwise skipped with a warning.
    No progress for poll_timeout_s seconds is an error (Spark's kafkaConsumer.pollTimeoutMs).
    """
    import pyarrow as pa

    if end <= start:
        return
    c = consumer(conf)
    c.assign([TopicPartition(topic, partition, start)])
    keys, values, offsets, stamps, types, headers = [], [], [], [], [], []
    nxt = start
    last_progress = time.time()
    topic_col_type = arrow_schema.field("topic").type

    def flush():
        n = len(offsets)
        cols = [pa.array(keys, type=pa.binary()), pa.array(values, type=pa.binary()),
                pa.array([topic] * n, type=topic_col_type), pa.array([partition] * n, type=pa.int32()),
                pa.array(offsets, type=pa.int64()), pa.array(stamps, type=arrow_schema.field("timestamp").type),
                pa.array(types, type=pa.int32())]
        if include_headers:
            cols.append(pa.array(headers, type=arrow_schema.field("headers").type))
        batch = pa.RecordBatch.from_arrays(cols, schema=arrow_schema)
        keys.clear(), values.clear(), offsets.clear(), stamps.clear(), types.clear(), headers.clear()
        return batch

    try:
        while nxt < end:
            msgs = c.consume(num_messages=min(10000, end - nxt), timeout=0.5)
            if not msgs:
                if time.time() - last_progress > poll_timeout_s:
                    raise TimeoutError(f"rill_spark: no record of {topic}-{partition} at offset {nxt} within "
                                       f"{poll_timeout_s:.0f} s (reading [{start}, {end}); kafkaConsumer.pollTimeoutMs)")
                continue
            n = len(msgs)
            if (msgs[0].offset() == nxt and msgs[-1].offset() == nxt + n - 1 and nxt + n <= end
                    and not any([m.error() for m in msgs])):
                # The usual case: a dense run of good records inside the range, column by column.
                keys.extend([m.key() for m in msgs])
                values.extend([m.value() for m in msgs])
                offsets.extend(range(nxt, nxt + n))
                ts = [m.timestamp() for m in msgs]
                stamps.extend([t[1] * 1000 if t[1] >= 0 else None for t in ts])
                types.extend([0 if t[0] == TIMESTAMP_CREATE_TIME else 1 if t[0] == TIMESTAMP_LOG_APPEND_TIME else -1
                              for t in ts])
                if include_headers:
                    headers.extend([[{"key": hk, "value": hv} for hk, hv in h] if h else None
                                    for h in (m.headers() for m in msgs)])
                nxt += n
                msgs = ()
            for m in msgs:
                err = m.error()
                if err is not None:
                    code = err.code()
                    if code in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                        low, high = _retrying("watermarks", lambda: c.get_watermark_offsets(
                            TopicPartition(topic, partition), timeout=10), 30)
                        if nxt < low:
                            report_data_loss(f"Offsets [{nxt}, {min(low, end)}) of {topic}-{partition} are gone "
                                             f"(the partition now starts at {low})", fail_on_data_loss)
                            nxt = min(low, end)
                        else:
                            report_data_loss(f"Offsets [{nxt}, {end}) of {topic}-{partition} are gone (the "
                                             f"partition now ends at {high})", fail_on_data_loss)
                            nxt = end
                        if nxt < end:
                            c.assign([TopicPartition(topic, partition, nxt)])
                        break
                    if code == KafkaError._PARTITION_EOF or err.retriable():
                        continue
                    raise KafkaException(err)
                off = m.offset()
                if off < nxt:
                    continue
                if off >= end:
                    nxt = end
                    break
                if off > nxt:
                    report_data_loss(f"Offsets [{nxt}, {off}) of {topic}-{partition} are missing",
                                     fail_on_data_loss)
                ttype, ts = m.timestamp()
                keys.append(m.key())
                values.append(m.value())
                offsets.append(off)
                stamps.append(ts * 1000 if ts >= 0 else None)
                types.append(0 if ttype == TIMESTAMP_CREATE_TIME else 1 if ttype == TIMESTAMP_LOG_APPEND_TIME else -1)
                if include_headers:
                    h = m.headers()
                    headers.append([{"key": hk, "value": hv} for hk, hv in h] if h else None)
                nxt = off + 1
            last_progress = time.time()
            if len(offsets) >= batch_rows:
                yield flush()
        if offsets:
            yield flush()
    finally:
        try:
            c.unassign()
        except KafkaException:
            pass


# -- writing (worker)

def produce_rows(conf, rows, default_topic, fail_timeout_s=120.0):
    """Produces an iterator of dicts (topic, key, value, partition, headers) with the cached
    idempotent producer and waits until each is acknowledged; returns how many were written.
    Raises on the first delivery error."""
    p = producer(conf)
    errors = []
    state = {"acked": 0}

    def delivered(err, _msg):
        if err is not None:
            errors.append(err)
        else:
            state["acked"] += 1

    sent = 0
    for r in rows:
        topic = default_topic or r.get("topic")
        if not topic:
            raise ValueError("rill_spark: a row has no topic: set the 'topic' option or give a 'topic' column")
        kwargs = {"value": r.get("value"), "key": r.get("key"), "on_delivery": delivered}
        if r.get("partition") is not None:
            kwargs["partition"] = int(r["partition"])
        if r.get("headers"):
            kwargs["headers"] = [(h[0], h[1]) for h in r["headers"]]
        while True:
            try:
                p.produce(topic, **kwargs)
                break
            except BufferError:
                p.poll(0.05)
        sent += 1
        if sent % 1000 == 0:
            p.poll(0)
        if errors:
            break
    left = p.flush(fail_timeout_s)
    if errors:
        raise KafkaException(errors[0])
    if left:
        raise TimeoutError(f"rill_spark: {left} record(s) not acknowledged within {fail_timeout_s:.0f} s")
    return sent
