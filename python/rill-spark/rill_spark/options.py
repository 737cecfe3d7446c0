"""The options of Spark's Kafka source and sink, parsed once into plain picklable values.

Spark hands a Python data source its options with lower-cased keys, so every key here is compared
lower-cased; the values keep their case (topic names, JSON).
"""
import json
import re

# Spark's Kafka source options this package honours (lower-cased), beyond `kafka.*`.
SOURCE_OPTIONS = {
    "subscribe", "subscribepattern", "assign", "startingoffsets", "endingoffsets", "startingtimestamp",
    "endingtimestamp", "startingoffsetsbytimestamp", "endingoffsetsbytimestamp",
    "startingoffsetsbytimestampstrategy", "maxoffsetspertrigger", "failondataloss", "includeheaders",
    "minpartitions", "kafkaconsumer.polltimeoutms", "topic", "path",
}
# `kafka.*` options Spark's Kafka source refuses because it manages them itself.
REFUSED_KAFKA = {"group.id", "auto.offset.reset", "key.deserializer", "value.deserializer",
                 "key.serializer", "value.serializer", "enable.auto.commit", "interceptor.classes"}

EARLIEST, LATEST = -2, -1


class OptionError(ValueError):
    pass


def _bool(opts, key, default):
    v = opts.get(key)
    if v is None:
        return default
    v = str(v).strip().lower()
    if v in ("true", "false"):
        return v == "true"
    raise OptionError(f"option '{key}' must be true or false, not {v!r}")


def _offsets_json(text, key):
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise OptionError(f"option '{key}' is neither earliest, latest nor JSON like "
                          f'{{"topic":{{"0":23,"1":-2}}}}: {e}') from None
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise OptionError(f"option '{key}' must be JSON like {{\"topic\":{{\"0\":23}}}}")
    out = {}
    for topic, parts in doc.items():
        for p, off in parts.items():
            out[(topic, int(p))] = int(off)
    return out


class Options:
    """Everything a reader or writer needs from the options, as plain values (picklable)."""

    def __init__(self, raw, streaming=False, for_write=False):
        opts = {str(k).lower(): v for k, v in dict(raw).items()}
        self.raw = opts
        self.bootstrap = opts.get("kafka.bootstrap.servers")
        if not self.bootstrap:
            raise OptionError("option 'kafka.bootstrap.servers' must be set")
        # Client settings passed through (`kafka.` stripped), as Spark passes them to its Kafka client.
        self.client = {"bootstrap.servers": self.bootstrap}
        for k, v in opts.items():
            if k.startswith("kafka.") and k != "kafka.bootstrap.servers":
                name = k[len("kafka."):]
                if name in REFUSED_KAFKA:
                    raise OptionError(f"Kafka option '{name}' is not supported: the source manages it itself")
                self.client[name] = v
        self.poll_timeout_s = int(opts.get("kafkaconsumer.polltimeoutms", 120000)) / 1000.0
        if for_write:
            self.topic = opts.get("topic")
            return

        chosen = [k for k in ("subscribe", "subscribepattern", "assign") if opts.get(k)]
        if len(chosen) != 1:
            raise OptionError("exactly one of 'subscribe', 'subscribePattern' or 'assign' must be set"
                              + (f" (got {chosen})" if chosen else ""))
        self.strategy = chosen[0]
        if self.strategy == "subscribe":
            self.topics = [t.strip() for t in opts["subscribe"].split(",") if t.strip()]
            if not self.topics:
                raise OptionError("option 'subscribe' names no topic")
        elif self.strategy == "subscribepattern":
            try:
                self.pattern = re.compile(opts["subscribepattern"])
            except re.error as e:
                raise OptionError(f"option 'subscribePattern' is not a regular expression: {e}") from None
        else:
            try:
                doc = json.loads(opts["assign"])
                self.assigned = sorted((t, int(p)) for t, ps in doc.items() for p in ps)
            except (ValueError, AttributeError, TypeError):
                raise OptionError('option \'assign\' must be JSON like {"topicA":[0,1],"topicB":[2]}') from None

        self.fail_on_data_loss = _bool(opts, "failondataloss", True)
        self.include_headers = _bool(opts, "includeheaders", False)
        self.max_offsets_per_trigger = int(opts["maxoffsetspertrigger"]) if opts.get("maxoffsetspertrigger") else None
        if self.max_offsets_per_trigger is not None and self.max_offsets_per_trigger <= 0:
            raise OptionError("option 'maxOffsetsPerTrigger' must be positive")
        self.min_partitions = int(opts["minpartitions"]) if opts.get("minpartitions") else None
        self.timestamp_strategy = (opts.get("startingoffsetsbytimestampstrategy") or "error").lower()
        if self.timestamp_strategy not in ("error", "latest"):
            raise OptionError("option 'startingOffsetsByTimestampStrategy' must be error or latest")

        # Starting position, in Spark's order of precedence: startingTimestamp, then
        # startingOffsetsByTimestamp, then startingOffsets.
        self.starting = self._position(opts, "starting", default="latest" if streaming else "earliest",
                                       allow_latest=True, allow_earliest=True)
        if streaming:
            for k in ("endingoffsets", "endingtimestamp", "endingoffsetsbytimestamp"):
                if opts.get(k):
                    raise OptionError(f"option '{k}' is for batch queries only")
            self.ending = None
        else:
            if self.starting == ("spec", "latest"):
                raise OptionError("startingOffsets latest is not valid for batch queries")
            self.ending = self._position(opts, "ending", default="latest", allow_latest=True, allow_earliest=False)

    def _position(self, opts, which, default, allow_latest, allow_earliest):
        """('spec', 'earliest'|'latest') or ('offsets', {(t, p): off}) or ('timestamp', ts) or
        ('timestamps', {(t, p): ts})."""
        ts = opts.get(f"{which}timestamp")
        if ts:
            return ("timestamp", int(ts))
        by_ts = opts.get(f"{which}offsetsbytimestamp")
        if by_ts:
            return ("timestamps", _offsets_json(by_ts, f"{which}OffsetsByTimestamp"))
        text = (opts.get(f"{which}offsets") or default).strip()
        if text.lower() == "earliest":
            if not allow_earliest:
                raise OptionError(f"{which}Offsets earliest is not valid here")
            return ("spec", "earliest")
        if text.lower() == "latest":
            return ("spec", "latest")
        offs = _offsets_json(text, f"{which}Offsets")
        for (t, p), off in offs.items():
            if off == EARLIEST and not allow_earliest:
                raise OptionError(f"{which}Offsets for {t}-{p}: -2 (earliest) is not valid here")
            if off < EARLIEST:
                raise OptionError(f"{which}Offsets for {t}-{p}: {off} is not an offset")
        return ("offsets", offs)

    def wants(self, topic):
        """Whether a topic seen in metadata belongs to this subscription."""
        if self.strategy == "subscribe":
            return topic in self.topics
        if self.strategy == "subscribepattern":
            return not topic.startswith("__") and self.pattern.fullmatch(topic) is not None
        return any(t == topic for t, _ in self.assigned)
