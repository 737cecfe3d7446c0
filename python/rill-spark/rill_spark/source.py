"""The PySpark data source "rill": Spark's Kafka source and sink, in Python, for a Rill cluster (or
any Kafka broker).

    spark.dataSource.register(RillDataSource)
    df = (spark.readStream.format("rill")
          .option("kafka.bootstrap.servers", "127.0.0.1:9092")
          .option("subscribe", "events").load())

Offsets are Spark's Kafka source's JSON, {"topic": {"0": 42}}: the next offset to read per
partition. Rows: key, value (binary), topic, partition, offset, timestamp, timestampType, and
headers (array of key/value structs) with includeHeaders.
"""
import logging

from pyspark.sql.datasource import (DataSource, DataSourceReader, DataSourceStreamReader,
                                    DataSourceStreamWriter, DataSourceWriter, InputPartition,
                                    WriterCommitMessage)
from pyspark.sql.types import (ArrayType, BinaryType, IntegerType, LongType, StringType, StructField,
                               StructType, TimestampType)

from . import kafka
from .options import EARLIEST, LATEST, Options, OptionError

try:  # Spark 4.2+: admission control (latestOffset(start, limit)) and Trigger.AvailableNow
    from pyspark.sql.streaming.datasource import (ReadAllAvailable, ReadMaxRows,
                                                  SupportsTriggerAvailableNow)
except ImportError:  # Spark 4.0 and 4.1
    ReadAllAvailable = ReadMaxRows = None

    class SupportsTriggerAvailableNow:  # a plain base class there: Spark 4.0/4.1 never call it
        pass

log = logging.getLogger("rill_spark")


def _trace(what, **kw):
    """With $RILL_SPARK_TRACE naming a file, each planning call appends a JSON line there (the
    planning runs in Python processes Spark starts, whose logs are hard to reach)."""
    import os
    path = os.environ.get("RILL_SPARK_TRACE")
    if path:
        import json
        import time
        with open(path, "a") as f:
            f.write(json.dumps({"t": round(time.time(), 3), "pid": os.getpid(), "call": what, **kw}, default=str) + "\n")

HEADERS_TYPE = ArrayType(StructType([StructField("key", StringType(), True),
                                     StructField("value", BinaryType(), True)]), True)


def source_schema(include_headers):
    fields = [StructField("key", BinaryType(), True), StructField("value", BinaryType(), True),
              StructField("topic", StringType(), True), StructField("partition", IntegerType(), True),
              StructField("offset", LongType(), True), StructField("timestamp", TimestampType(), True),
              StructField("timestampType", IntegerType(), True)]
    if include_headers:
        fields.append(StructField("headers", HEADERS_TYPE, True))
    return StructType(fields)


def _arrow_schema(schema):
    """The Arrow schema Spark checks our record batches against (timestamps in UTC)."""
    from pyspark.sql.pandas.types import to_arrow_schema
    try:
        return to_arrow_schema(schema, timezone="UTC")      # Spark 4.1+
    except TypeError:
        return to_arrow_schema(schema, timestamp_utc=True)  # Spark 4.0


def to_json_offsets(offsets):
    """{(t, p): off} -> {"t": {"p": off}} (sorted, so equal offsets serialize equally)."""
    out = {}
    for (t, p), off in sorted(offsets.items()):
        out.setdefault(t, {})[str(p)] = int(off)
    return out


def from_json_offsets(doc):
    return {(t, int(p)): int(off) for t, parts in (doc or {}).items() for p, off in parts.items()}


class OffsetRange(InputPartition):
    """One Spark task: the records at [start, end) of one partition."""

    def __init__(self, topic, partition, start, end):
        super().__init__((topic, partition, start, end))
        self.topic, self.partition, self.start, self.end = topic, partition, start, end

    def __repr__(self):
        return f"OffsetRange({self.topic}-{self.partition} [{self.start}, {self.end}))"


def split_ranges(ranges, min_partitions):
    """Spark's minPartitions: split the largest ranges until there are at least that many tasks."""
    ranges = [r for r in ranges if r.end > r.start]
    if not min_partitions or len(ranges) >= min_partitions:
        return ranges
    total = sum(r.end - r.start for r in ranges)
    out = []
    for r in ranges:
        size = r.end - r.start
        parts = max(1, round(min_partitions * size / total)) if total else 1
        step = -(-size // parts)
        out.extend(OffsetRange(r.topic, r.partition, s, min(s + step, r.end)) for s in range(r.start, r.end, step))
    return out


class _Planner:
    """Resolves positions (earliest, latest, JSON, timestamps) against the cluster. Holds no client
    itself: the clients are in kafka's per-process cache, so instances pickle."""

    def __init__(self, opts):
        self.opts = opts

    def partitions_now(self):
        return kafka.topic_partitions(self.opts.client, self.opts)

    def resolve(self, position, tps, what):
        kind, value = position
        conf = self.opts.client
        if kind == "spec":
            return kafka.list_offsets(conf, tps, value)
        if kind == "offsets":
            missing = sorted(set(tps) - set(value))
            extra = sorted(set(value) - set(tps))
            if missing and self.opts.strategy != "assign":
                raise OptionError(f"{what} must give an offset for every partition of the subscription; "
                                  f"missing: {missing}")
            if extra and self.opts.strategy == "assign":
                raise OptionError(f"{what} names partitions not assigned: {extra}")
            earliest = kafka.list_offsets(conf, tps, "earliest")
            latest = kafka.list_offsets(conf, tps, "latest")
            out = {}
            for tp in tps:
                off = value.get(tp, EARLIEST)
                out[tp] = earliest[tp] if off == EARLIEST else latest[tp] if off == LATEST else off
            # partitions named that do not exist (yet) are kept at their offset
            for tp, off in value.items():
                if tp not in out and off >= 0:
                    out[tp] = off
            return out
        # by time: the first offset whose record's timestamp is >= the time
        if kind == "timestamp":
            wanted = {tp: value for tp in tps}
        else:
            missing = sorted(set(tps) - set(value))
            if missing:
                raise OptionError(f"{what}ByTimestamp must give a time for every partition; missing: {missing}")
            wanted = {tp: value[tp] for tp in tps}
        latest = kafka.list_offsets(conf, tps, "latest")
        out = {}
        by_time = {}
        for tp, ts in wanted.items():
            by_time.setdefault(ts, []).append(tp)
        for ts, group in by_time.items():
            found = kafka.list_offsets(conf, group, ts)
            for tp in group:
                if found[tp] is None:
                    # no record at or after the time
                    if what.startswith("starting") and self.opts.timestamp_strategy == "error":
                        raise OptionError(f"no record of {tp[0]}-{tp[1]} has a timestamp at or after {ts} "
                                          f"(startingOffsetsByTimestampStrategy=error; 'latest' starts at the end)")
                    out[tp] = latest[tp]
                else:
                    out[tp] = found[tp]
        return out


def _ranges(opts, start, end, tps_earliest):
    """The offset ranges of one micro-batch or batch query, with Spark's data-loss checks: a
    partition whose end is below its start (its offsets moved back: the topic was deleted and
    created again) and a partition that disappeared are data loss."""
    out = []
    for tp in sorted(end):
        until = end[tp]
        if tp in start:
            frm = start[tp]
        else:
            frm = tps_earliest(tp)  # a partition new since the last batch starts at its beginning
            log.info("new partition %s-%s: reading from offset %s", tp[0], tp[1], frm)
        if until < frm:
            kafka.report_data_loss(f"Partition {tp[0]}-{tp[1]}'s offset was changed from {frm} to {until}",
                                   opts.fail_on_data_loss)
            frm = min(until, tps_earliest(tp))
        out.append(OffsetRange(tp[0], tp[1], frm, until))
    for tp in sorted(set(start) - set(end)):
        kafka.report_data_loss(f"Partition {tp[0]}-{tp[1]} is gone (topic deleted?)", opts.fail_on_data_loss)
    return split_ranges(out, opts.min_partitions)


def _read(opts, schema, r):
    return kafka.read_range(opts.client, r.topic, r.partition, r.start, r.end, _arrow_schema(schema),
                            opts.include_headers, opts.fail_on_data_loss, opts.poll_timeout_s)


class RillBatchReader(DataSourceReader):
    def __init__(self, opts, schema):
        self.opts, self.schema = opts, schema

    def partitions(self):
        planner = _Planner(self.opts)
        tps = planner.partitions_now()
        start = planner.resolve(self.opts.starting, tps, "startingOffsets")
        end = planner.resolve(self.opts.ending, tps, "endingOffsets")
        for tp in list(end):
            if tp not in start:
                del end[tp]
        earliest = {}

        def first(tp):
            if tp not in earliest:
                earliest.update(kafka.list_offsets(self.opts.client, [tp], "earliest"))
            return earliest[tp] or 0

        ranges = _ranges(self.opts, start, end, first)
        return ranges or [OffsetRange("", 0, 0, 0)]  # Spark wants at least one partition

    def read(self, partition):
        if partition.end <= partition.start:
            return iter(())
        return _read(self.opts, self.schema, partition)


class RillStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, opts, schema):
        self.opts, self.schema = opts, schema
        self._target = None      # Trigger.AvailableNow: the latest offsets when the query started
        self._progress = None    # the last end offsets planned (Spark < 4.2 passes no start)
        self._warned = False

    def initialOffset(self):
        planner = _Planner(self.opts)
        tps = planner.partitions_now()
        start = planner.resolve(self.opts.starting, tps, "startingOffsets")
        self._progress = start
        _trace("initialOffset", result=to_json_offsets(start))
        return to_json_offsets(start)

    def getDefaultReadLimit(self):
        if self.opts.max_offsets_per_trigger:
            return ReadMaxRows(self.opts.max_offsets_per_trigger)
        return ReadAllAvailable()

    def prepareForTriggerAvailableNow(self):
        planner = _Planner(self.opts)
        self._target = kafka.list_offsets(self.opts.client, planner.partitions_now(), "latest")
        _trace("prepareForTriggerAvailableNow", target=to_json_offsets(self._target))

    def reportLatestOffset(self):
        planner = _Planner(self.opts)
        return to_json_offsets(kafka.list_offsets(self.opts.client, planner.partitions_now(), "latest"))

    def latestOffset(self, start=None, limit=None):
        """Spark 4.2+ calls latestOffset(start, limit); 4.0 and 4.1 call latestOffset()."""
        planner = _Planner(self.opts)
        tps = planner.partitions_now()
        if self._target is not None:
            tps = [tp for tp in tps if tp in self._target]
        latest = kafka.list_offsets(self.opts.client, tps, "latest")
        if self._target is not None:
            latest = {tp: min(off, self._target[tp]) for tp, off in latest.items()}
        begin = from_json_offsets(start) if start is not None else self._progress
        # Spark 4.2+ passes the limit (ReadAllAvailable for Trigger.AvailableNow's target and for
        # Trigger.Once). Before 4.2 Spark cannot say which trigger asks, and it takes this answer
        # as "everything available" (AvailableNow stops there): no limit can be applied.
        if ReadMaxRows is not None and isinstance(limit, ReadMaxRows):
            max_rows = limit.max_rows
        else:
            max_rows = None
            if ReadMaxRows is None and self.opts.max_offsets_per_trigger and not self._warned:
                self._warned = True
                log.warning("maxOffsetsPerTrigger needs Spark 4.2 or later (admission control for Python "
                            "sources); this Spark reads everything available in each micro-batch")
        if max_rows and begin is not None:
            latest = self._rate_limit(begin, latest, max_rows)
        # never behind where the query is (a partition whose offsets moved back is data loss,
        # reported when the batch is planned; keeping the start here would hide it forever)
        self._progress = latest
        _trace("latestOffset", start=start, limit=repr(limit), result=to_json_offsets(latest))
        return to_json_offsets(latest)

    def _rate_limit(self, begin, latest, limit):
        """Spark's KafkaMicroBatchStream.rateLimit: the limit shared among partitions in proportion
        to what each has available."""
        earliest_new = kafka.list_offsets(self.opts.client, [tp for tp in latest if tp not in begin], "earliest")
        frm = {tp: begin.get(tp, earliest_new.get(tp) or 0) for tp in latest}
        sizes = {tp: max(0, latest[tp] - frm[tp]) for tp in latest}
        total = sum(sizes.values())
        if total <= limit:
            return latest
        out = {}
        for tp, end in latest.items():
            if sizes[tp] == 0:
                out[tp] = end
                continue
            prorate = limit * sizes[tp] / total
            step = int(prorate) if prorate >= 1 else (1 if prorate > 0 else 0)
            out[tp] = min(end, frm[tp] + step)
        return out

    def partitions(self, start, end):
        s, e = from_json_offsets(start), from_json_offsets(end)
        self._progress = e
        _trace("partitions", start=start, end=end)
        cache = {}

        def first(tp):
            if tp not in cache:
                cache.update(kafka.list_offsets(self.opts.client, [tp], "earliest"))
            return cache[tp] or 0

        return _ranges(self.opts, s, e, first)

    def read(self, partition):
        return _read(self.opts, self.schema, partition)

    def commit(self, end):
        _trace("commit", end=end)

    def stop(self):
        pass


# -- the sink

class RillCommit(WriterCommitMessage):
    def __init__(self, records):
        self.records = records


def _check_write_schema(schema, opts):
    names = {f.name.lower(): f for f in schema.fields}
    if "value" not in names:
        raise OptionError("writing to Rill needs a 'value' column (string or binary)")
    for col, allowed in (("value", (StringType, BinaryType)), ("key", (StringType, BinaryType)),
                         ("topic", (StringType,)), ("partition", (IntegerType, LongType))):
        if col in names and not isinstance(names[col].dataType, allowed):
            raise OptionError(f"column '{col}' must be {' or '.join(a.__name__[:-4].lower() for a in allowed)}, "
                              f"not {names[col].dataType.simpleString()}")
    if "headers" in names and names["headers"].dataType.simpleString() not in (
            "array<struct<key:string,value:binary>>", "array<struct<key:string,value:string>>"):
        raise OptionError("column 'headers' must be array<struct<key:string,value:binary>>")
    if not opts.topic and "topic" not in names:
        raise OptionError("writing to Rill needs the 'topic' option or a 'topic' column")


def _encode(v):
    return v.encode("utf-8") if isinstance(v, str) else (bytes(v) if v is not None else None)


def _rows(iterator):
    for row in iterator:
        d = row.asDict(recursive=False)
        lower = {k.lower(): v for k, v in d.items()}
        headers = lower.get("headers")
        yield {"value": _encode(lower.get("value")), "key": _encode(lower.get("key")),
               "topic": lower.get("topic"), "partition": lower.get("partition"),
               "headers": [(h["key"], _encode(h["value"])) for h in headers] if headers else None}


class RillBatchWriter(DataSourceWriter):
    def __init__(self, opts):
        self.opts = opts

    def write(self, iterator):
        return RillCommit(kafka.produce_rows(self.opts.client, _rows(iterator), self.opts.topic))


class RillStreamWriter(DataSourceStreamWriter):
    """Each micro-batch's rows, produced with an idempotent producer (acks=all). As with Spark's
    own Kafka sink this is at-least-once: a task Spark runs again writes its rows again."""

    def __init__(self, opts):
        self.opts = opts

    def write(self, iterator):
        return RillCommit(kafka.produce_rows(self.opts.client, _rows(iterator), self.opts.topic))

    def commit(self, messages, batchId):
        log.info("batch %s: %s record(s) written", batchId, sum(m.records for m in messages if m))

    def abort(self, messages, batchId):
        log.warning("batch %s aborted after %s record(s) were written", batchId,
                    sum(m.records for m in messages if m))


class RillDataSource(DataSource):
    """format("rill"): Spark's Kafka source and sink options, on confluent-kafka."""

    @classmethod
    def name(cls):
        return "rill"

    def schema(self):
        opts = {str(k).lower(): v for k, v in self.options.items()}
        return source_schema(str(opts.get("includeheaders", "false")).lower() == "true")

    def reader(self, schema):
        return RillBatchReader(Options(self.options, streaming=False), schema)

    def streamReader(self, schema):
        return RillStreamReader(Options(self.options, streaming=True), schema)

    def writer(self, schema, overwrite):
        opts = Options(self.options, for_write=True)
        _check_write_schema(schema, opts)
        return RillBatchWriter(opts)

    def streamWriter(self, schema, overwrite):
        opts = Options(self.options, for_write=True)
        _check_write_schema(schema, opts)
        return RillStreamWriter(opts)
