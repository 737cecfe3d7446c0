"""Interop: real Kafka clients (confluent-kafka / librdkafka, kafka-python) and kcat against a
three-node Rill cluster. Run by ops/interop.sh, which starts the cluster and passes
BOOTSTRAP (host:port,host:port,...). Each check prints what it did; any failure exits non-zero."""
import os
import subprocess
import sys
import time

from common import BOOTSTRAP, BROKERS, check, failures
FIRST = BOOTSTRAP.split(",")[0]


def kcat_metadata():
    out = subprocess.run(["kcat", "-L", "-b", FIRST], capture_output=True, text=True, timeout=20)
    check("kcat -L lists three brokers", out.returncode == 0 and " 3 brokers:" in out.stdout, out.stdout + out.stderr)


def confluent_admin():
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    fs = admin.create_topics([NewTopic("ck-orders", num_partitions=3, replication_factor=3)], operation_timeout=15)
    try:
        fs["ck-orders"].result()
        check("confluent-kafka creates a topic", True)
    except Exception as e:
        check("confluent-kafka creates a topic", False, repr(e))
    fs = admin.create_topics([NewTopic("ck-orders", 1, 1), NewTopic("bad name", 1, 1)], operation_timeout=15)
    for topic, expected in [("ck-orders", "TOPIC_ALREADY_EXISTS"), ("bad name", "TOPIC_EXCEPTION")]:
        try:
            fs[topic].result()
            check(f"confluent-kafka gets {expected} for '{topic}'", False, "no error")
        except Exception as e:
            check(f"confluent-kafka gets {expected} for '{topic}'", expected in str(e), repr(e))
    deadline = time.time() + 20
    leaders = []
    while time.time() < deadline:
        md = admin.list_topics(timeout=5)
        t = md.topics.get("ck-orders")
        leaders = [p.leader for p in t.partitions.values()] if t else []
        if len(leaders) == 3 and all(l > 0 for l in leaders):
            break
        time.sleep(0.2)
    check("confluent-kafka sees a leader for every partition", len(leaders) == 3 and all(l > 0 for l in leaders), str(leaders))


def confluent_delete():
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic("ck-doomed", 2, 3)], operation_timeout=15)["ck-doomed"].result()
    fs = admin.delete_topics(["ck-doomed", "ck-never-was"], operation_timeout=15)
    try:
        fs["ck-doomed"].result()
        check("confluent-kafka deletes a topic", True)
    except Exception as e:
        check("confluent-kafka deletes a topic", False, repr(e))
    try:
        fs["ck-never-was"].result()
        check("confluent-kafka: deleting a missing topic is UNKNOWN_TOPIC_OR_PART", False, "no error")
    except Exception as e:
        check("confluent-kafka: deleting a missing topic is UNKNOWN_TOPIC_OR_PART", "UNKNOWN_TOPIC" in str(e), repr(e))
    check("the deleted topic is gone from metadata", "ck-doomed" not in admin.list_topics(timeout=5).topics)


def kafka_python_admin():
    from kafka.admin import KafkaAdminClient, NewTopic
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP.split(","), request_timeout_ms=15000)
    try:
        admin.create_topics([NewTopic("kp-events", 2, 3)])
        check("kafka-python creates a topic", True)
    except Exception as e:
        check("kafka-python creates a topic", False, repr(e))
    # Metadata reaches every broker shortly after the create is answered (as in Kafka): the
    # broker kafka-python asks may not have applied it yet.
    deadline = time.time() + 5
    topics = admin.list_topics()
    while "kp-events" not in topics and time.time() < deadline:
        time.sleep(0.1)
        topics = admin.list_topics()
    check("kafka-python lists the topics", "kp-events" in topics and "ck-orders" in topics, str(topics))
    try:
        admin.delete_topics(["kp-events"])
        check("kafka-python deletes a topic", "kp-events" not in admin.list_topics())
    except Exception as e:
        check("kafka-python deletes a topic", False, repr(e))
    admin.close()


kcat_metadata()
confluent_admin()
confluent_delete()
kafka_python_admin()
print(f"interop: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
