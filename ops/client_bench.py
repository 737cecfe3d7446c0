"""librdkafka (confluent-kafka) side of the client benchmark, against a running cluster
(BOOTSTRAP=host:port,...). Prints one JSON line.
  python client_bench.py produce TOPIC SIZE SECONDS   acks=all, idempotent, librdkafka batching
  python client_bench.py consume TOPIC COUNT          read COUNT records of partition 0 from the start
Timed like the Swift side (`rill produce --duration --stats`, `rill consume --stats`): produce from
the first record to the last acknowledgement, consume from the first record received to the last."""
import json
import os
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from produce_bench import produce_for

BOOTSTRAP = os.environ["BOOTSTRAP"]


def produce(topic, size, seconds):
    acked, errors, elapsed = produce_for(topic, size, seconds, {"enable.idempotence": True})
    return {"test": "librdkafka-produce", "size": size, "records": acked, "errors": errors, "seconds": round(elapsed, 2),
            "records_per_s": round(acked / elapsed), "mb_per_s": round(acked * size / elapsed / 1e6, 2)}


def consume(topic, count):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "bench", "enable.auto.commit": False,
                  "fetch.max.bytes": 64 << 20, "max.partition.fetch.bytes": 4 << 20,
                  # librdkafka stops fetching for a second (fetch.queue.backoff.ms) once
                  # queued.min.messages wait in its queue; a throughput test should not.
                  "queued.min.messages": 1_000_000, "fetch.queue.backoff.ms": 10})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    seen, nbytes, start, last = 0, 0, None, None
    deadline = time.time() + 300
    while seen < count and time.time() < deadline:
        for m in c.consume(10000, 1.0):
            if m.error():
                continue
            if start is None:
                start = time.time()
            seen += 1
            nbytes += len(m.value() or b"") + len(m.key() or b"")
        last = time.time()
    c.close()
    elapsed = max((last or 0) - (start or 0), 0.001)
    return {"test": "librdkafka-consume", "records": seen, "bytes": nbytes, "seconds": round(elapsed, 2),
            "records_per_s": round(seen / elapsed), "mb_per_s": round(nbytes / elapsed / 1e6, 2)}


if sys.argv[1] == "produce":
    print(json.dumps(produce(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))), flush=True)
else:
    print(json.dumps(consume(sys.argv[2], int(sys.argv[3]))), flush=True)
