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


def confluent_configs():
    """Topic configs through librdkafka's admin: create with configs, describe, incremental alter,
    an invalid value refused, and max.message.bytes honoured for a producer."""
    from confluent_kafka import KafkaException, Producer
    from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                       NewTopic, ResourceType)
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic("ck-conf", 1, 3, config={"cleanup.policy": "compact", "max.message.bytes": "2000"})],
                        operation_timeout=15)["ck-conf"].result()
    check("confluent-kafka creates a topic with configs", True)
    resource = ConfigResource(ResourceType.TOPIC, "ck-conf")

    def describe():
        deadline = time.time() + 10
        while True:
            try:
                return admin.describe_configs([resource])[resource].result()
            except KafkaException:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)  # the node asked may not have applied the create yet

    configs = describe()
    policy = configs.get("cleanup.policy")
    check("confluent-kafka describe_configs: cleanup.policy=compact, set on the topic",
          policy is not None and policy.value == "compact" and policy.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, repr(policy))
    check("confluent-kafka describe_configs lists every standard topic config (retention.ms, segment.bytes, min.insync.replicas)",
          all(k in configs for k in ("retention.ms", "segment.bytes", "min.insync.replicas")), sorted(configs))
    entry = ConfigEntry("max.message.bytes", "3000", incremental_operation=AlterConfigOpType.SET)
    admin.incremental_alter_configs([ConfigResource(ResourceType.TOPIC, "ck-conf", incremental_configs=[entry])])[
        ConfigResource(ResourceType.TOPIC, "ck-conf")].result()
    deadline = time.time() + 10
    value = None
    while time.time() < deadline:
        value = describe()["max.message.bytes"].value
        if value == "3000":
            break
        time.sleep(0.2)
    check("confluent-kafka incremental_alter_configs sets max.message.bytes", value == "3000", value)
    bad = ConfigResource(ResourceType.TOPIC, "ck-conf",
                         incremental_configs=[ConfigEntry("cleanup.policy", "sometimes", incremental_operation=AlterConfigOpType.SET)])
    try:
        admin.incremental_alter_configs([bad])[bad].result()
        check("confluent-kafka: an invalid cleanup.policy is refused (INVALID_CONFIG)", False, "accepted")
    except KafkaException as e:
        check("confluent-kafka: an invalid cleanup.policy is refused (INVALID_CONFIG)", "INVALID_CONFIG" in str(e), repr(e))
    # max.message.bytes is honoured: a 5000-byte record fails, a small one is written.
    results = {}
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "linger.ms": 0})
    producer.produce("ck-conf", key=b"big", value=b"x" * 5000, on_delivery=lambda err, m: results.__setitem__("big", err))
    producer.flush(15)
    producer.produce("ck-conf", key=b"small", value=b"y", on_delivery=lambda err, m: results.__setitem__("small", err))
    producer.flush(15)
    big = results.get("big")
    check("confluent-kafka: a batch over the topic's max.message.bytes is refused (MSG_SIZE_TOO_LARGE)",
          big is not None and "TOO_LARGE" in big.name(), repr(big))
    check("confluent-kafka: a record under it is written", "small" in results and results["small"] is None, repr(results.get("small")))
    from confluent_kafka.admin import NewPartitions
    admin.create_partitions([NewPartitions("ck-conf", 3)], operation_timeout=15)["ck-conf"].result()
    deadline = time.time() + 10
    count = 0
    while time.time() < deadline:
        t = admin.list_topics(timeout=5).topics.get("ck-conf")
        count = len(t.partitions) if t else 0
        if count == 3:
            break
        time.sleep(0.2)
    check("confluent-kafka create_partitions grows the topic to 3", count == 3, count)
    try:
        admin.create_partitions([NewPartitions("ck-conf", 2)], operation_timeout=15)["ck-conf"].result()
        check("confluent-kafka: shrinking is refused (INVALID_PARTITIONS)", False, "accepted")
    except KafkaException as e:
        check("confluent-kafka: shrinking is refused (INVALID_PARTITIONS)", "INVALID_PARTITIONS" in str(e), repr(e))


def kafka_python_configs():
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP.split(","), request_timeout_ms=15000)
    admin.create_topics([NewTopic("kp-conf", 1, 3, topic_configs={"max.message.bytes": "4000"})])
    time.sleep(0.5)
    got = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-conf")], config_filter="all")
    flat = repr(got)
    check("kafka-python describe_configs: max.message.bytes 4000 and every standard key",
          "max.message.bytes" in flat and "4000" in flat and "retention.ms" in flat and "cleanup.policy" in flat, flat[:400])
    result = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-conf", configs={"cleanup.policy": "compact,delete"})])
    check("kafka-python alter_configs (IncrementalAlterConfigs) sets cleanup.policy", "OK" in repr(result), repr(result))
    time.sleep(0.5)
    got = repr(admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-conf", ["cleanup.policy"])], config_filter="all"))
    check("kafka-python reads the new cleanup.policy back", "compact,delete" in got, got[:400])
    admin.close()


def delete_records():
    """DeleteRecords: confluent-kafka's and kafka-python's admins move a partition's log start;
    consumers then start there; a compact-only topic refuses (POLICY_VIOLATION)."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic("ck-trim", 2, 3), NewTopic("ck-trim-compact", 1, 3, config={"cleanup.policy": "compact"})],
                        operation_timeout=15)["ck-trim"].result()
    p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all"})
    for i in range(60):
        p.produce("ck-trim", partition=i % 2, key=b"k", value=f"v{i}".encode())
    p.flush(30)
    out = admin.delete_records([TopicPartition("ck-trim", 0, 10)], request_timeout=15)
    deleted = list(out.values())[0].result()
    check("confluent-kafka delete_records: the low watermark is 10", deleted.low_watermark == 10, repr(deleted))
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "ck-trim-reader", "auto.offset.reset": "earliest"})
    low, high = c.get_watermark_offsets(TopicPartition("ck-trim", 0), timeout=10)
    check("confluent-kafka: watermarks after it are (10, 30)", (low, high) == (10, 30), (low, high))
    c.assign([TopicPartition("ck-trim", 0, 0)])  # below the start: reset to the earliest, 10
    first = None
    deadline = time.time() + 20
    while first is None and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            first = (m.offset(), m.value())
    c.close()
    check("confluent-kafka: a consumer from offset 0 starts at 10", first == (10, b"v20"), repr(first))
    out = admin.delete_records([TopicPartition("ck-trim-compact", 0, 0)], request_timeout=15)
    try:
        list(out.values())[0].result()
        check("confluent-kafka delete_records on a compact-only topic is refused", False, "accepted")
    except Exception as e:
        check("confluent-kafka delete_records on a compact-only topic is refused (POLICY_VIOLATION)", "POLICY_VIOLATION" in str(e), repr(e))

    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    from kafka.admin import KafkaAdminClient
    kadmin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP.split(","), request_timeout_ms=15000)
    result = kadmin.delete_records({KTP("ck-trim", 1): 25})
    check("kafka-python delete_records answers the new low watermark 25", "25" in repr(result), repr(result))
    kadmin.close()
    kc = KafkaConsumer(bootstrap_servers=BOOTSTRAP.split(","))
    starts = kc.beginning_offsets([KTP("ck-trim", 0), KTP("ck-trim", 1)])
    kc.close()
    check("kafka-python beginning_offsets: 10 and 25", [starts[KTP("ck-trim", 0)], starts[KTP("ck-trim", 1)]] == [10, 25], repr(starts))


def elect_leaders():
    """ElectLeaders (preferred): confluent-kafka's and kafka-python's admins; afterwards every
    partition is led by its first replica."""
    from confluent_kafka import ElectionType, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic("ck-elect", 3, 3)], operation_timeout=15)["ck-elect"].result()
    time.sleep(1)
    # (confluent-kafka 2.16.1's binding rejects any timeout keyword for this call: its defaults.)
    result = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("ck-elect", p) for p in range(3)]).result(60)
    # Each value: None (elected), or the partition's error (a KafkaError, or a KafkaException around one).
    def name(e):
        return None if e is None else (e.name() if hasattr(e, "name") else e.args[0].name())
    codes = sorted((tp.partition, name(e)) for tp, e in result.items())
    check("confluent-kafka elect_leaders: each partition elected or not needed",
          len(codes) == 3 and all(c in (None, "ELECTION_NOT_NEEDED") for _, c in codes), repr(codes))
    again = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("ck-elect", p) for p in range(3)]).result(60)
    codes = sorted((tp.partition, name(e)) for tp, e in again.items())
    check("confluent-kafka elect_leaders again: ELECTION_NOT_NEEDED for each partition",
          [c for _, c in codes] == ["ELECTION_NOT_NEEDED"] * 3, repr(codes))
    t = admin.list_topics("ck-elect", timeout=10).topics["ck-elect"]
    leaders = {p.id: (p.leader, p.replicas[0]) for p in t.partitions.values()}
    check("every partition is led by its preferred (first) replica", all(l == r for l, r in leaders.values()), repr(leaders))
    from kafka.admin import KafkaAdminClient
    kadmin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP.split(","), request_timeout_ms=30000)
    response = kadmin.elect_leaders(0, {"ck-elect": [0, 1, 2]}, raise_errors=False)
    kadmin.close()
    errors = sorted(p.error_code for t in response.replica_election_results for p in t.partition_result)
    check("kafka-python elect_leaders: ELECTION_NOT_NEEDED (84) for each partition now", errors == [84, 84, 84], repr(response))


kcat_metadata()
confluent_admin()
confluent_delete()
kafka_python_admin()
confluent_configs()
kafka_python_configs()
delete_records()
elect_leaders()
print(f"interop: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
