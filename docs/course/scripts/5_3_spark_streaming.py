# %% [markdown]
# # 5.3 Spark Structured Streaming on Rill
#
# Structured Streaming treats a topic as a table that keeps growing: you write a query as for a
# batch DataFrame, and Spark runs it again and again on the new records (micro-batches), keeping
# its position and its state in a **checkpoint** directory.
#
# Spark's own Kafka connector (`format("kafka")`, the `spark-sql-kafka-0-10` package) works
# against Rill unchanged where it can be installed. Here we use `format("rill")` from the
# `rill-spark` package in this repository (`pip install -e python/rill-spark`): the same options
# and columns, written in Python on confluent-kafka, nothing to download from Maven.
#
# Uses `$RILL_BOOTSTRAP`, else `127.0.0.1:9092` (start `rill dev` first).

# %%
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)   # Spark's Python workers: this environment

from pyspark.sql import SparkSession, functions as F

import rill_spark

BOOTSTRAP = os.environ.get("RILL_BOOTSTRAP", "127.0.0.1:9092")
RUN = uuid.uuid4().hex[:6]
WORK = tempfile.mkdtemp(prefix="course-5-3-")          # checkpoints and output files

spark = (SparkSession.builder.master("local[2]").appName("course-5.3")
         .config("spark.sql.shuffle.partitions", "2")    # 200 (the default) is slow on a laptop
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.ui.enabled", "false")            # the progress reports below say what the UI would
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
rill_spark.register(spark)                               # makes format("rill") known
print("Spark", spark.version, " bootstrap", BOOTSTRAP)

# %% [markdown]
# ## Page views, as JSON events with an event time
#
# Each event says who viewed which page and **when it happened** (`event_time`), which is not when
# Rill received it (the record's `timestamp`). 1,200 events, one every 250 ms of event time, from
# midnight: five minutes of traffic.

# %%
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

VIEWS, COUNTS = f"views-{RUN}", f"views-per-user-{RUN}"
admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
for t in admin.create_topics([NewTopic(VIEWS, 3), NewTopic(COUNTS, 1)]).values():
    t.result(timeout=30)
time.sleep(2)   # leaders elected

BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)
random.seed(53)


def make_events(first, n):
    return [{"user": f"u{random.randrange(10)}", "page": random.choice(["/", "/search", "/cart", "/pay"]),
             "event_time": (BASE + timedelta(milliseconds=250 * i)).isoformat()} for i in range(first, first + n)]


def send(events):
    p = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    for e in events:
        p.produce(VIEWS, key=e["user"], value=json.dumps(e))
    assert p.flush(30) == 0


events = make_events(0, 1200)
send(events)
print(events[0])

# %% [markdown]
# ## Read the topic as a stream
#
# `readStream.format("rill")` with Spark's Kafka options. Every row is one record: `key` and
# `value` are bytes, then `topic`, `partition`, `offset`, `timestamp`, `timestampType`.

# %%
raw = (spark.readStream.format("rill")
       .option("kafka.bootstrap.servers", BOOTSTRAP)
       .option("subscribe", VIEWS)
       .option("startingOffsets", "earliest")     # a new query starts at the beginning (default: latest)
       .load())
raw.printSchema()

# %% [markdown]
# A streaming DataFrame cannot `.show()`; the same source reads as a batch with `spark.read`:

# %%
spark.read.format("rill").option("kafka.bootstrap.servers", BOOTSTRAP).option("subscribe", VIEWS).load() \
    .selectExpr("CAST(key AS STRING) key", "CAST(value AS STRING) value", "partition", "offset").show(3, truncate=False)

# %% [markdown]
# ## Parse the JSON

# %%
schema = "user STRING, page STRING, event_time TIMESTAMP"
views = (raw.select(F.from_json(F.col("value").cast("string"), schema).alias("e"), "partition", "offset")
         .select("e.*", "partition", "offset"))
views.printSchema()

# %% [markdown]
# ## Event-time windows with a watermark, to files, with a checkpoint
#
# Views per page per minute of **event time**. The **watermark** tells Spark how late an event may
# arrive: here one minute behind the newest event seen. A window is final once the watermark has
# passed its end; in `append` mode Spark writes each window once, when it is final, and forgets
# its state. Events later than the watermark are dropped.
#
# `trigger(availableNow=True)` reads everything there is now, in as many micro-batches as needed
# (at most `maxOffsetsPerTrigger` records each), then stops: a batch job with streaming's
# bookkeeping. The checkpoint remembers the offsets read and the windows still open.

# %%
per_minute = (views.withWatermark("event_time", "1 minute")
              .groupBy(F.window("event_time", "1 minute"), "page").count())
OUT, CKPT = f"{WORK}/per_minute", f"{WORK}/per_minute_ckpt"


def run_per_minute():
    q = (per_minute.writeStream.outputMode("append").format("parquet")
         .option("path", OUT).option("checkpointLocation", CKPT)
         .trigger(availableNow=True).start())
    q.awaitTermination()
    return q


q = run_per_minute()
files = spark.read.parquet(OUT)
files.orderBy("window", "page").show(8, truncate=False)

# %% [markdown]
# The newest event is at 00:04:59.75, so the watermark is 00:03:59.75: the windows that ended by
# then (00:00-00:03) are final and written; 00:03-00:05 stay open in the checkpoint. Check
# against counting the events we sent, in plain Python:


# %%
def expected(evts, watermark):
    c = Counter()
    for e in evts:
        t = datetime.fromisoformat(e["event_time"])
        start = t.replace(second=0, microsecond=0)
        if start + timedelta(minutes=1) <= watermark:
            c[(start, e["page"])] += 1
    return c


def written():
    rows = spark.read.parquet(OUT).collect()
    return Counter({(r["window"]["start"].replace(tzinfo=timezone.utc), r["page"]): r["count"] for r in rows}), len(rows)


got, nrows = written()
want = expected(events, BASE + timedelta(minutes=4) - timedelta(milliseconds=250))
print(f"{nrows} rows written; as expected: {got == want}")
assert got == want and nrows == len(want)

# %% [markdown]
# ## The progress reports (what the Spark UI shows)
#
# Each micro-batch reports how many rows it read, how fast, how long each phase took, where each
# source started and ended (our offsets JSON: per topic, per partition, the next offset), and the
# watermark:

# %%
for p in q.recentProgress:
    print(f"batch {p['batchId']}: {p['numInputRows']:5d} rows, {p['durationMs'].get('triggerExecution', 0):5d} ms, "
          f"watermark {p['eventTime'].get('watermark', '-')}, offsets {p['sources'][0]['endOffset']}")
print(json.dumps(q.lastProgress["sources"][0], indent=1)[:600])
assert sum(p["numInputRows"] for p in q.recentProgress) == 1200
end = json.loads(q.recentProgress[-1]["sources"][0]["endOffset"]) if isinstance(q.recentProgress[-1]["sources"][0]["endOffset"], str) \
    else q.recentProgress[-1]["sources"][0]["endOffset"]
assert sum(end[VIEWS].values()) == 1200

# %% [markdown]
# ## Restart from the checkpoint
#
# One more minute of traffic arrives while the query is not running, plus 30 **late** events
# stamped 00:00:10 (a phone that was offline). Run the same query again: it starts where the
# checkpoint says, reads only the new records, finishes the windows the watermark now passes
# (00:03 and 00:04 — the watermark is 00:04:59.75), and drops the late events: their window was
# written and forgotten long ago.

# %%
more = make_events(1200, 240)
late = [{"user": "u0", "page": "/", "event_time": (BASE + timedelta(seconds=10)).isoformat()} for _ in range(30)]
send(more + late)
q = run_per_minute()
read_now = sum(p["numInputRows"] for p in q.recentProgress)
print("rows read by the restarted query:", read_now)
got, nrows = written()
want = expected(events + more, BASE + timedelta(minutes=5) - timedelta(milliseconds=250))
print(f"{nrows} rows in the files; as expected: {got == want}")
assert read_now == 270 and got == want and nrows == len(want)

# %% [markdown]
# ## Aggregates back to a Rill topic
#
# Views per user, kept up to date. `complete` mode emits every user's count after each
# micro-batch. (Spark's own Kafka sink also takes `update` mode, which emits only the rows that
# changed; Spark does not offer `update` to sinks written in Python, so `format("rill")` takes
# `append` and `complete`.) The sink `format("rill")` takes a `value` (and optionally `key`, `topic`, `partition`,
# `headers`) and writes with an idempotent producer. A consumer of the topic sees the latest
# count per user as the last record with that key — a changelog.

# %%
per_user = (views.groupBy("user").count()
            .select(F.col("user").alias("key"), F.to_json(F.struct("user", "count")).alias("value")))
q = (per_user.writeStream.outputMode("complete").format("rill")
     .option("kafka.bootstrap.servers", BOOTSTRAP).option("topic", COUNTS)
     .option("checkpointLocation", f"{WORK}/per_user_ckpt")
     .trigger(availableNow=True).start())
q.awaitTermination()

from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"course-5-3-{RUN}", "enable.auto.commit": False})
_, high = c.get_watermark_offsets(TopicPartition(COUNTS, 0), timeout=10)
c.assign([TopicPartition(COUNTS, 0, 0)])
latest = {}
seen = 0
deadline = time.time() + 30
while seen < high and time.time() < deadline:
    for m in c.consume(500, timeout=1):
        if not m.error():
            latest[m.key().decode()] = json.loads(m.value())["count"]
            seen += 1
c.close()
print(dict(sorted(latest.items())))
assert latest == dict(Counter(e["user"] for e in events + more + late))

# %% [markdown]
# ## A live query
#
# Without `availableNow` a query runs until stopped, one micro-batch per trigger interval. The
# `memory` sink keeps the result as a table we can query while it runs (for trying things out).

# %%
live = (views.groupBy("page").count().writeStream.outputMode("complete").format("memory")
        .queryName("views_per_page").option("checkpointLocation", f"{WORK}/live_ckpt")
        .trigger(processingTime="2 seconds").start())


def total_views():
    return spark.sql("select coalesce(sum(count), 0) n from views_per_page").collect()[0]["n"]


deadline = time.time() + 120
while time.time() < deadline and total_views() < 1470:
    time.sleep(0.5)
print("views so far:", total_views())
send(make_events(1440, 100))
t0 = time.time()
while time.time() < t0 + 30 and total_views() < 1570:
    time.sleep(0.2)
print(f"100 new views counted {time.time() - t0:.1f} s after they were sent")
spark.sql("select * from views_per_page order by page").show()
live.stop()
assert total_views() == 1570

# %%
admin.delete_topics([VIEWS, COUNTS])
spark.stop()
shutil.rmtree(WORK, ignore_errors=True)
print("done")
