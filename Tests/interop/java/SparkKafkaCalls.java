// Interop: the Java client calls that Spark's own Kafka connector (spark-sql-kafka-0-10, with
// kafka-clients 4.3.0) makes, against a running Rill cluster, so that format("kafka") works on Rill
// where that connector can be installed. The connector itself comes from Maven, which is out of
// reach here; these are its calls, in its order, with its settings:
//
//   KafkaOffsetReaderAdmin (the driver, Spark 3.1+ default):
//     Admin.listTopics(listInternal=false) (subscribePattern), Admin.describeTopics(...)
//     .allTopicNames() (subscribe), Admin.listOffsets with OffsetSpec.earliest(), latest() and
//     forTimestamp(ts) under ListOffsetsOptions(READ_UNCOMMITTED) — startingOffsets,
//     endingOffsets, startingOffsetsByTimestamp (offset -1 when no record is that new).
//   InternalKafkaConsumer (the executors): a KafkaConsumer with byte-array deserializers,
//     enable.auto.commit=false, auto.offset.reset=none, a "spark-kafka-source-..." group id;
//     assign([tp]), seek(tp, offset), poll(Duration) until the range's end; seekToBeginning /
//     seekToEnd + position (getAvailableOffsetRange, used when data may be lost); a seek past the
//     end answered with OffsetOutOfRangeException (auto.offset.reset=none), which Spark turns into
//     its failOnDataLoss handling.
//
// ops/interop.sh runs it with BOOTSTRAP=host:port,...; every check prints "ok" or "FAIL"; exit 1
// on any failure. A watchdog ends it (exit 3) after RILL_JAVA_DEADLINE_S seconds (default 120).

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetOutOfRangeException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class SparkKafkaCalls {
    static final String BOOTSTRAP = System.getenv("BOOTSTRAP");
    static final List<String> failures = new ArrayList<>();
    static final int PARTITIONS = 3;
    static final int PER_PARTITION = 200;
    static final long T0 = 1_700_000_000_000L;  // record i of a partition is stamped T0 + i s

    static void check(String name, boolean ok, Object detail) {
        System.out.println((ok ? "ok   " : "FAIL ") + "spark-kafka-calls: " + name + (ok ? "" : ": " + detail));
        System.out.flush();
        if (!ok) failures.add(name);
    }

    static Properties base() {
        Properties p = new Properties();
        p.put("bootstrap.servers", BOOTSTRAP);
        p.put("request.timeout.ms", "15000");
        p.put("default.api.timeout.ms", "30000");
        return p;
    }

    static Map<TopicPartition, Long> listOffsets(Admin admin, Map<TopicPartition, OffsetSpec> specs, IsolationLevel level) throws Exception {
        Map<TopicPartition, ListOffsetsResultInfo> r = admin.listOffsets(specs, new ListOffsetsOptions(level)).all().get(30, TimeUnit.SECONDS);
        Map<TopicPartition, Long> out = new HashMap<>();
        r.forEach((tp, info) -> out.put(tp, info.offset()));
        return out;
    }

    public static void main(String[] args) throws Exception {
        if (BOOTSTRAP == null || BOOTSTRAP.isEmpty()) {
            System.err.println("BOOTSTRAP (host:port,...) is not set");
            System.exit(2);
        }
        long deadline = Long.parseLong(System.getenv().getOrDefault("RILL_JAVA_DEADLINE_S", "120"));
        Thread watchdog = new Thread(() -> {
            try { Thread.sleep(deadline * 1000); } catch (InterruptedException e) { return; }
            System.out.println("FAIL spark-kafka-calls: no result within " + deadline + " s");
            Runtime.getRuntime().halt(3);
        });
        watchdog.setDaemon(true);
        watchdog.start();

        String topic = "spark-calls-" + UUID.randomUUID().toString().substring(0, 8);
        try (Admin admin = Admin.create(base())) {
            admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) -1))).all().get(30, TimeUnit.SECONDS);

            // subscribe: describeTopics until every partition has a leader (a new topic elects them)
            Map<String, TopicDescription> described = null;
            long until = System.currentTimeMillis() + 30000;
            while (System.currentTimeMillis() < until) {
                described = admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS);
                if (described.get(topic).partitions().stream().allMatch(p -> p.leader() != null && p.leader().id() >= 0)) break;
                Thread.sleep(200);
            }
            List<TopicPartitionInfo> parts = described.get(topic).partitions();
            check("Admin.describeTopics(...).allTopicNames(): " + PARTITIONS + " partitions with leaders",
                  parts.size() == PARTITIONS && parts.stream().allMatch(p -> p.leader() != null && p.leader().id() >= 0), parts);

            // subscribePattern: listTopics without internal topics, then match
            Set<String> names = admin.listTopics(new ListTopicsOptions().listInternal(false)).names().get(30, TimeUnit.SECONDS);
            check("Admin.listTopics(listInternal=false) names the topic and no internal topic",
                  names.contains(topic) && names.stream().noneMatch(n -> n.startsWith("__")), names);

            // records with known timestamps, per partition
            Properties pp = base();
            pp.put("key.serializer", ByteArraySerializer.class.getName());
            pp.put("value.serializer", ByteArraySerializer.class.getName());
            pp.put("acks", "all");
            pp.put("enable.idempotence", "true");
            Map<TopicPartition, List<Long>> acked = new HashMap<>();
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(pp)) {
                List<java.util.concurrent.Future<RecordMetadata>> fs = new ArrayList<>();
                for (int p = 0; p < PARTITIONS; p++)
                    for (int i = 0; i < PER_PARTITION; i++)
                        fs.add(producer.send(new ProducerRecord<>(topic, p, T0 + i * 1000L, ("k" + i).getBytes(StandardCharsets.UTF_8),
                                                                  (p + ":" + i).getBytes(StandardCharsets.UTF_8))));
                for (var f : fs) {
                    RecordMetadata md = f.get(60, TimeUnit.SECONDS);
                    acked.computeIfAbsent(new TopicPartition(topic, md.partition()), k -> new ArrayList<>()).add(md.offset());
                }
            }
            List<TopicPartition> tps = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) tps.add(new TopicPartition(topic, p));

            // startingOffsets / endingOffsets: earliest and latest, both isolation levels
            for (IsolationLevel level : IsolationLevel.values()) {
                Map<TopicPartition, OffsetSpec> e = new HashMap<>(), l = new HashMap<>();
                for (TopicPartition tp : tps) { e.put(tp, OffsetSpec.earliest()); l.put(tp, OffsetSpec.latest()); }
                Map<TopicPartition, Long> earliest = listOffsets(admin, e, level), latest = listOffsets(admin, l, level);
                check("Admin.listOffsets earliest (" + level + ") is 0 everywhere",
                      tps.stream().allMatch(tp -> earliest.get(tp) == 0L), earliest);
                check("Admin.listOffsets latest (" + level + ") is " + PER_PARTITION + " everywhere",
                      tps.stream().allMatch(tp -> latest.get(tp) == PER_PARTITION), latest);
            }
            // startingOffsetsByTimestamp: the first record at or after the time; -1 after the last
            Map<TopicPartition, OffsetSpec> byTime = new HashMap<>();
            for (int p = 0; p < PARTITIONS; p++) byTime.put(tps.get(p), OffsetSpec.forTimestamp(T0 + (50 + 10 * p) * 1000L - 500));
            Map<TopicPartition, Long> timed = listOffsets(admin, byTime, IsolationLevel.READ_UNCOMMITTED);
            check("Admin.listOffsets forTimestamp: the first record at or after the time",
                  timed.get(tps.get(0)) == 50L && timed.get(tps.get(1)) == 60L && timed.get(tps.get(2)) == 70L, timed);
            Map<TopicPartition, Long> tooNew = listOffsets(admin, Map.of(tps.get(0), OffsetSpec.forTimestamp(T0 + 10_000_000L)),
                                                           IsolationLevel.READ_UNCOMMITTED);
            check("Admin.listOffsets forTimestamp after the last record: -1", tooNew.get(tps.get(0)) == -1L, tooNew);
            Map<TopicPartition, Long> exact = listOffsets(admin, Map.of(tps.get(1), OffsetSpec.forTimestamp(T0)),
                                                          IsolationLevel.READ_UNCOMMITTED);
            check("Admin.listOffsets forTimestamp of the first record: 0", exact.get(tps.get(1)) == 0L, exact);

            // the executors' consumer
            Properties cp = base();
            cp.put("key.deserializer", ByteArrayDeserializer.class.getName());
            cp.put("value.deserializer", ByteArrayDeserializer.class.getName());
            cp.put("enable.auto.commit", "false");
            cp.put("auto.offset.reset", "none");
            cp.put("group.id", "spark-kafka-source-" + UUID.randomUUID() + "-executor");
            try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cp)) {
                TopicPartition tp = tps.get(1);
                consumer.assign(List.of(tp));
                // getAvailableOffsetRange
                consumer.seekToBeginning(Set.of(tp));
                long begin = consumer.position(tp, Duration.ofSeconds(30));
                consumer.seekToEnd(Set.of(tp));
                long end = consumer.position(tp, Duration.ofSeconds(30));
                check("KafkaConsumer seekToBeginning/seekToEnd + position: [0, " + PER_PARTITION + ")",
                      begin == 0 && end == PER_PARTITION, begin + ".." + end);
                // fetch [37, 160) as one task would: seek, then poll until the range's end
                consumer.seek(tp, 37);
                List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
                long stop = System.currentTimeMillis() + 30000;
                while ((got.isEmpty() || got.get(got.size() - 1).offset() < 159) && System.currentTimeMillis() < stop) {
                    ConsumerRecords<byte[], byte[]> rs = consumer.poll(Duration.ofMillis(512));
                    for (ConsumerRecord<byte[], byte[]> r : rs.records(tp)) if (r.offset() < 160) got.add(r);
                }
                boolean dense = got.size() == 123;
                for (int i = 0; dense && i < got.size(); i++) {
                    ConsumerRecord<byte[], byte[]> r = got.get(i);
                    long off = 37 + i;
                    dense = r.offset() == off && new String(r.value(), StandardCharsets.UTF_8).equals("1:" + off)
                            && r.timestamp() == T0 + off * 1000L;
                }
                check("KafkaConsumer assign + seek(37) + poll: offsets 37..159, values and timestamps as written",
                      dense, got.size() + " records, first " + (got.isEmpty() ? "-" : got.get(0).offset()));
                // a position past the end with auto.offset.reset=none (Spark's data-loss path)
                consumer.seek(tp, PER_PARTITION + 50);
                Object outcome = "no exception";
                stop = System.currentTimeMillis() + 20000;
                while (System.currentTimeMillis() < stop) {
                    try {
                        ConsumerRecords<byte[], byte[]> rs = consumer.poll(Duration.ofMillis(500));
                        if (!rs.isEmpty()) { outcome = rs.count() + " records"; break; }
                    } catch (OffsetOutOfRangeException e) {
                        outcome = e;
                        break;
                    }
                }
                check("KafkaConsumer seek past the end, auto.offset.reset=none: OffsetOutOfRangeException",
                      outcome instanceof OffsetOutOfRangeException, outcome);
            }
            admin.deleteTopics(List.of(topic)).all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            check("no call failed", false, e.getCause());
        }
        System.out.println("spark-kafka-calls: " + (failures.isEmpty() ? "all checks passed" : failures.size() + " check(s) failed"));
        System.exit(failures.isEmpty() ? 0 : 1);
    }
}
