// Interop: Apache Kafka's own Java client (kafka-clients 4.3.0, the reference implementation)
// against a running Rill cluster. ops/interop.sh compiles this file into an ignored directory and
// runs it with BOOTSTRAP=host:port,... in the environment.
//
// What it does: Admin createTopics / describeTopics (until every partition has a leader) /
// listTopics / describeCluster, an idempotent producer with acks=all for each of gzip, lz4, zstd
// and snappy, a consumer group of two consumers that together read every record exactly once and
// commit, listOffsets, the group's committed offsets, deleteTopics.
//
// What it checks about versions: every request the client sends is seen through the DEBUG log of
// org.apache.kafka.clients.NetworkClient ("Sending PRODUCE request with header
// RequestHeader(apiKey=PRODUCE, apiVersion=8, ...)"; log4j2 from the same wheel is the slf4j
// binding, and an appender in this program reads the lines), and for each API it prints
//   java-4.3.0 negotiated <ApiName> v<N>
// and requires N == min(the client's newest version, the newest version Rill advertises), where
// Rill's ranges come from an ApiVersions v0 request this program sends itself to every node at run
// time. Nothing about Rill's versions is hard-coded, so the checks follow Rill as it serves more.
// DescribeCluster (key 60) is required only when Rill advertises it; until then the step is
// reported as expected-unsupported.
//
// Every wait is bounded; a watchdog ends the program (exit 3, with a thread dump) after
// RILL_JAVA_DEADLINE_S seconds (default 150).

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.OffsetOutOfRangeException;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.requests.RequestHeader;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.Appender;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Configuration;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.config.Property;

public final class RillInterop {
    static final String TAG = "java-" + AppInfoParser.getVersion();
    static final String BOOTSTRAP = System.getenv("BOOTSTRAP");
    static final int PARTITIONS = 6;
    static final int PER_CODEC = 250;
    static final String[] CODECS = {"gzip", "lz4", "zstd", "snappy"};
    static final List<String> failures = new ArrayList<>();

    // --- the checks' log, in the format of Tests/interop/common.py -------------------------------

    static synchronized void check(String name, boolean ok, Object detail) {
        System.out.println((ok ? "ok   " : "FAIL ") + TAG + ": " + name + (ok ? "" : ": " + detail));
        System.out.flush();
        if (!ok) failures.add(name);
    }

    static void info(String line) {
        System.out.println("     " + TAG + ": " + line);
        System.out.flush();
    }

    // --- every request the Java client sends: (API, version) from NetworkClient's DEBUG log ------

    /** API -> the versions the client sent it with, over every client this program made. */
    static final Map<ApiKeys, Set<Short>> sent = new ConcurrentHashMap<>();

    static final Pattern SENDING = Pattern.compile("Sending \\S+ request with header RequestHeader\\(apiKey=([A-Z_]+), apiVersion=(\\d+)");

    static void captureRequests() {
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        Configuration config = ctx.getConfiguration();
        Appender capture = new AbstractAppender("rill-request-capture", null, null, true, Property.EMPTY_ARRAY) {
            @Override
            public void append(LogEvent event) {
                // Kafka's LogContext formats the message before slf4j sees it, so the header is
                // read from the text: "[Producer clientId=...] Sending PRODUCE request with header
                // RequestHeader(apiKey=PRODUCE, apiVersion=8, ...) and timeout ...".
                Matcher m = SENDING.matcher(event.getMessage().getFormattedMessage());
                if (m.find()) {
                    sent.computeIfAbsent(ApiKeys.valueOf(m.group(1)), k -> ConcurrentHashMap.newKeySet())
                        .add(Short.parseShort(m.group(2)));
                }
            }
        };
        capture.start();
        config.addAppender(capture);
        // Only the request lines are wanted from NetworkClient; warnings still reach the console.
        LoggerConfig network = new LoggerConfig("org.apache.kafka.clients.NetworkClient", Level.DEBUG, false);
        network.addAppender(capture, Level.DEBUG, null);
        LoggerConfig root = config.getRootLogger();
        root.setLevel(Level.WARN);
        for (Appender a : root.getAppenders().values()) network.addAppender(a, Level.WARN, null);
        config.addLogger(network.getName(), network);
        ctx.updateLoggers();
    }

    // --- what Rill advertises: an ApiVersions v0 request of our own to one node ------------------

    /** key -> {min, max} from one node's ApiVersions v0 response. */
    static Map<Integer, short[]> advertised(String hostPort) throws IOException {
        String[] hp = hostPort.split(":");
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(hp[0], Integer.parseInt(hp[1])), 5000);
            s.setSoTimeout(10000);
            byte[] client = "rill-interop-probe".getBytes(StandardCharsets.UTF_8);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            out.writeInt(2 + 2 + 4 + 2 + client.length); // v0 request header, empty v0 body
            out.writeShort(18);
            out.writeShort(0);
            out.writeInt(7);
            out.writeShort(client.length);
            out.write(client);
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            int size = in.readInt();
            if (size < 10 || size > 1 << 20) throw new IOException("ApiVersions v0 response size " + size);
            int correlation = in.readInt();
            short error = in.readShort();
            int n = in.readInt();
            if (correlation != 7 || error != 0 || n < 0 || n > 1000)
                throw new IOException("ApiVersions v0: correlation " + correlation + ", error " + error + ", count " + n);
            Map<Integer, short[]> ranges = new TreeMap<>();
            for (int i = 0; i < n; i++) {
                int key = in.readShort();
                ranges.put(key, new short[] {in.readShort(), in.readShort()});
            }
            return ranges;
        }
    }

    static String rangesText(Map<Integer, short[]> ranges) {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<Integer, short[]> e : ranges.entrySet()) {
            String name = ApiKeys.hasId(e.getKey()) ? ApiKeys.forId(e.getKey()).name : "key" + e.getKey();
            b.append(b.length() == 0 ? "" : " ").append(name).append(' ')
             .append(e.getValue()[0]).append('-').append(e.getValue()[1]);
        }
        return b.toString();
    }

    // --- clients ------------------------------------------------------------------------------------

    static Properties base(String clientId) {
        Properties p = new Properties();
        p.put("bootstrap.servers", BOOTSTRAP);
        p.put("client.id", clientId);
        p.put("request.timeout.ms", "15000");
        p.put("default.api.timeout.ms", "30000");
        p.put("socket.connection.setup.timeout.ms", "5000");
        p.put("reconnect.backoff.max.ms", "1000");
        p.put("retry.backoff.max.ms", "1000");
        return p;
    }

    /** Topic configs as kafka-topics.sh, Kafka Connect and Spring's admin use them. */
    static void configs(Admin admin, String topic) throws Exception {
        get(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 3).configs(Map.of("cleanup.policy", "compact", "max.message.bytes", "2000")))).all());
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = null;
        long until = System.currentTimeMillis() + 10000;
        while (config == null && System.currentTimeMillis() < until) {
            try {
                config = get(admin.describeConfigs(List.of(resource)).all()).get(resource);
            } catch (ExecutionException e) {
                sleep(200);  // the node asked may not have applied the create yet
            }
        }
        ConfigEntry policy = config == null ? null : config.get("cleanup.policy");
        check("Admin.describeConfigs: cleanup.policy=compact from the topic (what Kafka Connect checks)",
              policy != null && "compact".equals(policy.value()) && policy.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, policy);
        ConfigEntry retention = config == null ? null : config.get("retention.ms");
        check("Admin.describeConfigs: retention.ms listed with its default source", retention != null && retention.isDefault(), retention);
        AlterConfigOp set = new AlterConfigOp(new ConfigEntry("max.message.bytes", "5000"), AlterConfigOp.OpType.SET);
        get(admin.incrementalAlterConfigs(Map.of(resource, List.of(set))).all());
        String value = null;
        until = System.currentTimeMillis() + 10000;
        while (!"5000".equals(value) && System.currentTimeMillis() < until) {
            value = get(admin.describeConfigs(List.of(resource)).all()).get(resource).get("max.message.bytes").value();
            if (!"5000".equals(value)) sleep(200);
        }
        check("Admin.incrementalAlterConfigs sets max.message.bytes", "5000".equals(value), value);
        AlterConfigOp bad = new AlterConfigOp(new ConfigEntry("cleanup.policy", "sometimes"), AlterConfigOp.OpType.SET);
        try {
            get(admin.incrementalAlterConfigs(Map.of(resource, List.of(bad))).all());
            check("Admin.incrementalAlterConfigs: an invalid value fails with InvalidConfigurationException", false, "accepted");
        } catch (ExecutionException e) {
            check("Admin.incrementalAlterConfigs: an invalid value fails with InvalidConfigurationException",
                  e.getCause() instanceof InvalidConfigurationException, rootCause(e));
        }
        ConfigResource brokers = new ConfigResource(ConfigResource.Type.BROKER, "1");
        Config broker = get(admin.describeConfigs(List.of(brokers)).all()).get(brokers);
        check("Admin.describeConfigs of broker 1: broker.id and message.max.bytes",
              broker.get("broker.id") != null && "1".equals(broker.get("broker.id").value()) && broker.get("message.max.bytes") != null, broker);
        get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(3))).all());
        int partitions = 0;
        until = System.currentTimeMillis() + 10000;
        while (partitions != 3 && System.currentTimeMillis() < until) {
            partitions = get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic).partitions().size();
            if (partitions != 3) sleep(200);
        }
        check("Admin.createPartitions grows the topic to 3 partitions", partitions == 3, partitions);
        // kafka-topics.sh --describe asks for reassignments in progress: none here.
        var reassignments = get(admin.listPartitionReassignments().reassignments());
        check("Admin.listPartitionReassignments: none in progress", reassignments.isEmpty(), reassignments);

        // kafka-reassign-partitions.sh's calls: move a one-replica partition to another node.
        String moved = topic + "-moved";
        get(admin.createTopics(List.of(new NewTopic(moved, 1, (short) 1))).all());
        org.apache.kafka.common.TopicPartition tp = new org.apache.kafka.common.TopicPartition(moved, 0);
        int from = get(admin.describeTopics(List.of(moved)).allTopicNames()).get(moved).partitions().get(0).replicas().get(0).id();
        int to = from % 3 + 1;
        get(admin.alterPartitionReassignments(Map.of(tp, java.util.Optional.of(
            new org.apache.kafka.clients.admin.NewPartitionReassignment(List.of(to))))).all());
        List<Integer> replicas = List.of();
        until = System.currentTimeMillis() + 20000;
        while (System.currentTimeMillis() < until) {
            reassignments = get(admin.listPartitionReassignments().reassignments());
            replicas = get(admin.describeTopics(List.of(moved)).allTopicNames()).get(moved).partitions().get(0).replicas()
                .stream().map(n -> n.id()).toList();
            if (reassignments.isEmpty() && replicas.equals(List.of(to))) break;
            sleep(200);
        }
        check("Admin.alterPartitionReassignments moves " + moved + "-0 from node " + from + " to node " + to,
              reassignments.isEmpty() && replicas.equals(List.of(to)), replicas + " " + reassignments);
        try {
            get(admin.alterPartitionReassignments(Map.of(tp, java.util.Optional.empty())).all());
            check("Admin.alterPartitionReassignments: cancelling no move fails with NoReassignmentInProgressException", false, "accepted");
        } catch (ExecutionException e) {
            check("Admin.alterPartitionReassignments: cancelling no move fails with NoReassignmentInProgressException",
                  e.getCause() instanceof org.apache.kafka.common.errors.NoReassignmentInProgressException, rootCause(e));
        }
        get(admin.deleteTopics(List.of(topic, moved)).all());
    }

    static <T> T get(Future<T> f) throws Exception {
        return f.get(30, TimeUnit.SECONDS);
    }

    static void sleep(long ms) {
        try { Thread.sleep(ms); } catch (InterruptedException e) { throw new RuntimeException(e); }
    }

    static String rootCause(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) t = t.getCause();
        return t.getClass().getSimpleName() + ": " + t.getMessage();
    }

    // --- the run --------------------------------------------------------------------------------

    public static void main(String[] args) throws Exception {
        if (BOOTSTRAP == null || BOOTSTRAP.isEmpty()) {
            System.err.println("BOOTSTRAP (host:port,...) is not set");
            System.exit(2);
        }
        long deadlineS = Long.parseLong(System.getenv().getOrDefault("RILL_JAVA_DEADLINE_S", "150"));
        Thread watchdog = new Thread(() -> {
            sleep(deadlineS * 1000);
            System.out.println("FAIL " + TAG + ": the run did not finish within " + deadlineS + " s; threads:");
            Thread.getAllStackTraces().forEach((t, st) -> {
                System.out.println("  thread " + t.getName());
                for (StackTraceElement e : st) System.out.println("    at " + e);
            });
            System.out.flush();
            Runtime.getRuntime().halt(3);
        }, "watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        captureRequests();
        long started = System.nanoTime();
        try {
            run();
        } catch (Throwable t) {
            check("the run completes", false, rootCause(t));
            t.printStackTrace(System.out);
        }
        info(String.format("finished in %.1f s", (System.nanoTime() - started) / 1e9));
        System.out.println(TAG + ": " + failures.size() + " failure(s)" + (failures.isEmpty() ? "" : ": " + failures));
        System.out.flush();
        System.exit(failures.isEmpty() ? 0 : 1); // not halt: the codecs' native libraries delete their temp files on exit
    }

    static void run() throws Exception {

        // What Rill advertises, from every node (they must agree).
        String[] nodes = BOOTSTRAP.split(",");
        Map<Integer, short[]> rill = advertised(nodes[0]);
        for (int i = 1; i < nodes.length; i++) {
            Map<Integer, short[]> other = advertised(nodes[i]);
            check("node " + nodes[i] + " advertises the same API versions as " + nodes[0],
                  rangesText(other).equals(rangesText(rill)), rangesText(other) + " vs " + rangesText(rill));
        }
        info("Rill advertises " + rill.size() + " APIs: " + rangesText(rill));
        boolean describeClusterServed = rill.containsKey((int) ApiKeys.DESCRIBE_CLUSTER.id);

        // Names of this run only, so that a rerun against the same cluster starts clean.
        String run = Long.toString(System.currentTimeMillis() % 100_000_000L, 36);
        String topic = "java-data-" + run;
        String doomed = "java-doomed-" + run;
        String group = "java-group-" + run;
        boolean topicIdsKnown;
        Map<String, long[]> acked = new ConcurrentHashMap<>(); // value -> {partition, offset}
        try (Admin admin = Admin.create(base("java-admin"))) {
            // createTopics, and an error for a duplicate.
            get(admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 3), new NewTopic(doomed, 2, (short) 3))).all());
            check("Admin.createTopics creates two topics (6 and 2 partitions, replication 3)", true, "");
            try {
                get(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all());
                check("Admin.createTopics of an existing topic fails with TopicExistsException", false, "no error");
            } catch (ExecutionException e) {
                check("Admin.createTopics of an existing topic fails with TopicExistsException",
                      e.getCause() instanceof TopicExistsException, rootCause(e));
            }

            // describeTopics until every partition has a leader (right after the create, Rill may
            // still be electing them).
            long until = System.currentTimeMillis() + 20000;
            Map<String, TopicDescription> described = Map.of();
            boolean led = false;
            while (!led && System.currentTimeMillis() < until) {
                try {
                    described = get(admin.describeTopics(List.of(topic, doomed)).allTopicNames());
                    led = described.size() == 2 && described.values().stream().allMatch(d ->
                        d.partitions().stream().allMatch(p -> p.leader() != null && p.leader().id() >= 0 && p.replicas().size() == 3));
                } catch (ExecutionException e) {
                    // e.g. UnknownTopicOrPartition from a node that has not applied the create yet
                }
                if (!led) sleep(200);
            }
            TopicDescription d = described.get(topic);
            check("Admin.describeTopics: every partition of both topics has a leader and 3 replicas", led, described);
            check("Admin.describeTopics: the data topic has 6 partitions",
                  d != null && d.partitions().size() == PARTITIONS, d);
            topicIdsKnown = d != null && d.topicId() != null && !Uuid.ZERO_UUID.equals(d.topicId());
            info("topic IDs in metadata: " + (topicIdsKnown ? "yes (" + d.topicId() + ")" : "no"));

            // listTopics
            until = System.currentTimeMillis() + 10000;
            Set<String> names = Set.of();
            while (System.currentTimeMillis() < until) {
                names = get(admin.listTopics().names());
                if (names.contains(topic) && names.contains(doomed)) break;
                sleep(200);
            }
            check("Admin.listTopics lists both topics", names.contains(topic) && names.contains(doomed), names);

            // describeCluster: DescribeCluster (key 60) if Rill advertises it, otherwise the client
            // may fall back to Metadata; only a served DescribeCluster is required to work.
            String what = "Admin.describeCluster " + (describeClusterServed
                ? "(Rill advertises DescribeCluster " + rill.get(60)[0] + "-" + rill.get(60)[1] + ")"
                : "(DescribeCluster is not advertised by Rill: expected-unsupported)");
            try {
                DescribeClusterResult cluster = admin.describeCluster();
                Collection<Node> brokers = get(cluster.nodes());
                Node controller = get(cluster.controller());
                String clusterId = get(cluster.clusterId());
                String got = brokers.size() + " nodes " + brokers + ", controller " + controller + ", cluster id " + clusterId;
                if (describeClusterServed) check(what + ": 3 nodes", brokers.size() == 3, got);
                else info(what + ": the client fell back and answered " + got);
            } catch (Exception e) {
                if (describeClusterServed) check(what, false, rootCause(e));
                else info(what + ": failed as expected: " + rootCause(e));
            }

            configs(admin, "java-conf-" + run);

            // The idempotent producer with acks=all, one per compression codec.
            for (String codec : CODECS) {
                Properties p = base("java-producer-" + codec);
                p.put(ProducerConfig.ACKS_CONFIG, "all");
                p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
                p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
                p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
                p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
                p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "20000");
                p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
                p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
                List<Map.Entry<String, Future<RecordMetadata>>> futures = new ArrayList<>();
                int ok = 0;
                String firstError = "";
                try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                    for (int i = 0; i < PER_CODEC; i++) {
                        // Compressible values, so that each codec has something to do.
                        String value = codec + "-" + i + "-" + "rill ".repeat(20 + i % 7);
                        futures.add(Map.entry(value, producer.send(new ProducerRecord<>(topic, codec + "-" + i, value))));
                    }
                    producer.flush();
                    for (Map.Entry<String, Future<RecordMetadata>> f : futures) {
                        try {
                            RecordMetadata m = get(f.getValue());
                            acked.put(f.getKey(), new long[] {m.partition(), m.offset()});
                            ok++;
                        } catch (Exception e) {
                            if (firstError.isEmpty()) firstError = rootCause(e);
                        }
                    }
                }
                check("idempotent producer, acks=all, " + codec + ": all " + PER_CODEC + " records acknowledged",
                      ok == PER_CODEC, ok + " acknowledged; first error: " + firstError);
            }
            Set<String> offsetsSeen = new HashSet<>();
            for (long[] po : acked.values()) offsetsSeen.add(po[0] + "/" + po[1]);
            check("acknowledged offsets are distinct", offsetsSeen.size() == acked.size(), offsetsSeen.size() + " of " + acked.size());

            // kafka-log-dirs.sh: each broker's data directory and the bytes of the partitions in it.
            var dirs = get(admin.describeLogDirs(List.of(1, 2, 3)).allDescriptions());
            long sized = dirs.values().stream().flatMap(m -> m.values().stream())
                .flatMap(logDir -> logDir.replicaInfos().entrySet().stream())
                .filter(e -> e.getKey().topic().equals(topic) && e.getValue().size() > 0).count();
            check("Admin.describeLogDirs: three brokers, one data directory each, the produced topic's partitions with their bytes",
                  dirs.size() == 3 && dirs.values().stream().allMatch(m -> m.size() == 1) && sized >= 1, dirs);

            consumeAsGroup(topic, group, acked);

            // listOffsets: earliest 0, latest = the records acknowledged in each partition, and the
            // offset for timestamp 0 is the first one.
            Map<Integer, Long> perPartition = new TreeMap<>();
            for (long[] po : acked.values()) perPartition.merge((int) po[0], 1L, Long::sum);
            Map<TopicPartition, OffsetSpec> earliest = new HashMap<>(), latest = new HashMap<>(), byTime = new HashMap<>();
            for (int i = 0; i < PARTITIONS; i++) {
                TopicPartition tp = new TopicPartition(topic, i);
                earliest.put(tp, OffsetSpec.earliest());
                latest.put(tp, OffsetSpec.latest());
                byTime.put(tp, OffsetSpec.forTimestamp(0));
            }
            Map<TopicPartition, ListOffsetsResultInfo> e0 = get(admin.listOffsets(earliest).all());
            Map<TopicPartition, ListOffsetsResultInfo> e1 = get(admin.listOffsets(latest).all());
            Map<TopicPartition, ListOffsetsResultInfo> e2 = get(admin.listOffsets(byTime).all());
            boolean offsetsOk = true;
            StringBuilder offsetsText = new StringBuilder();
            for (int i = 0; i < PARTITIONS; i++) {
                TopicPartition tp = new TopicPartition(topic, i);
                long want = perPartition.getOrDefault(i, 0L);
                offsetsOk &= e0.get(tp).offset() == 0 && e1.get(tp).offset() == want
                    && (want == 0 ? e2.get(tp).offset() == -1 : e2.get(tp).offset() == 0);
                offsetsText.append(" p").append(i).append(" ").append(e0.get(tp).offset()).append("/")
                    .append(e1.get(tp).offset()).append("/").append(e2.get(tp).offset()).append(" (want 0/").append(want).append(")");
            }
            check("Admin.listOffsets: earliest 0, latest = records acknowledged, timestamp 0 -> offset 0", offsetsOk,
                  "earliest/latest/at-time-0:" + offsetsText);

            // deleteRecords (kafka-delete-records.sh): the fullest partition starts at 2 afterwards;
            // past its high watermark is OffsetOutOfRange.
            int fullest = 0;
            for (int i = 0; i < PARTITIONS; i++) if (perPartition.getOrDefault(i, 0L) > perPartition.getOrDefault(fullest, 0L)) fullest = i;
            TopicPartition trimmed = new TopicPartition(topic, fullest);
            long low = get(admin.deleteRecords(Map.of(trimmed, RecordsToDelete.beforeOffset(2))).lowWatermarks().get(trimmed)).lowWatermark();
            long start = get(admin.listOffsets(Map.of(trimmed, OffsetSpec.earliest())).all()).get(trimmed).offset();
            check("Admin.deleteRecords: the low watermark is 2, and listOffsets earliest says so", low == 2 && start == 2, low + "/" + start);
            try {
                long past = perPartition.getOrDefault(fullest, 0L) + 1;
                get(admin.deleteRecords(Map.of(trimmed, RecordsToDelete.beforeOffset(past))).lowWatermarks().get(trimmed));
                check("Admin.deleteRecords past the high watermark fails with OffsetOutOfRangeException", false, "no error");
            } catch (ExecutionException e) {
                check("Admin.deleteRecords past the high watermark fails with OffsetOutOfRangeException",
                      e.getCause() instanceof OffsetOutOfRangeException, rootCause(e));
            }

            // electLeaders (kafka-leader-election.sh --election-type preferred): every partition
            // ends led by its first replica.
            Set<TopicPartition> everyPartition = new HashSet<>();
            for (int i = 0; i < PARTITIONS; i++) everyPartition.add(new TopicPartition(topic, i));
            Map<TopicPartition, java.util.Optional<Throwable>> elected = get(admin.electLeaders(ElectionType.PREFERRED, everyPartition).partitions());
            check("Admin.electLeaders (preferred): each partition elected or ElectionNotNeeded",
                  elected.size() == PARTITIONS && elected.values().stream().allMatch(o -> o.isEmpty() || o.get() instanceof ElectionNotNeededException), elected);
            boolean preferredLead = false;
            TopicDescription afterElection = null;
            until = System.currentTimeMillis() + 10000;
            while (!preferredLead && System.currentTimeMillis() < until) {
                afterElection = get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
                preferredLead = afterElection.partitions().stream().allMatch(p -> p.leader() != null && p.leader().id() == p.replicas().get(0).id());
                if (!preferredLead) sleep(200);
            }
            check("Admin.describeTopics after the election: every partition led by its first replica", preferredLead, afterElection);

            // The group's commits, read back through the admin client (OffsetFetch).
            Map<TopicPartition, OffsetAndMetadata> committed = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            boolean commitsOk = committed.size() == PARTITIONS;
            for (int i = 0; i < PARTITIONS; i++) {
                OffsetAndMetadata om = committed.get(new TopicPartition(topic, i));
                commitsOk &= om != null && om.offset() == e1.get(new TopicPartition(topic, i)).offset();
            }
            check("Admin.listConsumerGroupOffsets: the group committed the end of every partition", commitsOk, committed);

            // deleteConsumerGroupOffsets (OffsetDelete): partition 0's commit goes, the others stay.
            TopicPartition first = new TopicPartition(topic, 0);
            boolean offsetGone = false;
            String offsetWhy = "";
            until = System.currentTimeMillis() + 20000;
            while (!offsetGone && System.currentTimeMillis() < until) {
                try {
                    get(admin.deleteConsumerGroupOffsets(group, Set.of(first)).all());
                    Map<TopicPartition, OffsetAndMetadata> left = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
                    offsetGone = left.get(first) == null && left.size() == PARTITIONS - 1;
                    offsetWhy = left.toString();
                } catch (ExecutionException e) {
                    offsetWhy = rootCause(e);  // e.g. the topic is still subscribed until the member's leave is written
                }
                if (!offsetGone) sleep(500);
            }
            check("Admin.deleteConsumerGroupOffsets removes one partition's commit", offsetGone, offsetWhy);

            // deleteConsumerGroups: the group (its members gone) and its offsets.
            boolean deleted = false;
            String why = "";
            until = System.currentTimeMillis() + 20000;
            while (!deleted && System.currentTimeMillis() < until) {
                try {
                    get(admin.deleteConsumerGroups(List.of(group)).all());
                    deleted = true;
                } catch (ExecutionException e) {
                    why = rootCause(e);  // e.g. GroupNotEmpty until the closed consumer's session ends
                    sleep(500);
                }
            }
            check("Admin.deleteConsumerGroups deletes the group", deleted, why);
            Map<TopicPartition, OffsetAndMetadata> after = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            check("Admin.listConsumerGroupOffsets: no offsets after the delete", after.isEmpty(), after);

            // deleteTopics, then both are gone from listTopics.
            get(admin.deleteTopics(List.of(topic, doomed)).all());
            until = System.currentTimeMillis() + 10000;
            names = get(admin.listTopics().names());
            while ((names.contains(topic) || names.contains(doomed)) && System.currentTimeMillis() < until) {
                sleep(200);
                names = get(admin.listTopics().names());
            }
            check("Admin.deleteTopics deletes both topics", !names.contains(topic) && !names.contains(doomed), names);
        }

        checkVersions(rill, topicIdsKnown, describeClusterServed);
    }

    /** Two consumers in one group read every acknowledged record exactly once, committing after
     *  each batch. Neither reads before the group is stable (each pauses what it is assigned until
     *  the two assignments split every partition), so a record is read twice only if Rill's group
     *  coordinator rebalances a stable group or loses a commit. */
    static void consumeAsGroup(String topic, String group, Map<String, long[]> acked) throws Exception {
        int want = acked.size();
        Map<String, Integer> seenTimes = new ConcurrentHashMap<>();
        List<String> misplaced = new ArrayList<>();
        @SuppressWarnings("unchecked")
        Set<TopicPartition>[] owned = new Set[] {ConcurrentHashMap.newKeySet(), ConcurrentHashMap.newKeySet()};
        AtomicInteger[] readBy = {new AtomicInteger(), new AtomicInteger()};
        AtomicBoolean stop = new AtomicBoolean();
        List<String> errors = new ArrayList<>();
        Thread[] threads = new Thread[2];
        for (int m = 0; m < 2; m++) {
            final int me = m;
            threads[m] = new Thread(() -> {
                Properties p = base("java-consumer-" + me);
                p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
                p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
                p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
                p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
                p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
                p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
                p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
                try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
                    c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                        public void onPartitionsRevoked(Collection<TopicPartition> parts) { owned[me].removeAll(parts); }
                        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                            c.pause(parts);
                            owned[me].addAll(parts);
                        }
                    });
                    while (!stop.get()) {
                        ConsumerRecords<String, String> records = c.poll(Duration.ofMillis(200));
                        for (ConsumerRecord<String, String> r : records) {
                            seenTimes.merge(r.value(), 1, Integer::sum);
                            readBy[me].incrementAndGet();
                            long[] at = acked.get(r.value());
                            if (at == null || at[0] != r.partition() || at[1] != r.offset()) {
                                synchronized (misplaced) {
                                    misplaced.add(r.partition() + "/" + r.offset() + " " + r.value().substring(0, Math.min(12, r.value().length())));
                                }
                            }
                        }
                        if (!records.isEmpty()) c.commitSync(Duration.ofSeconds(15));
                        Set<TopicPartition> mine = new HashSet<>(owned[me]);
                        Set<TopicPartition> other = new HashSet<>(owned[1 - me]);
                        Set<TopicPartition> all = new HashSet<>(mine);
                        all.addAll(other);
                        boolean split = !mine.isEmpty() && !other.isEmpty() && all.size() == mine.size() + other.size()
                            && all.size() == PARTITIONS;
                        if (split && !c.paused().isEmpty()) c.resume(c.paused());
                    }
                } catch (Exception e) {
                    synchronized (errors) { errors.add("consumer " + me + ": " + rootCause(e)); }
                }
            }, "java-consumer-" + m);
            threads[m].start();
        }
        long until = System.currentTimeMillis() + 60000;
        while (seenTimes.size() < want && System.currentTimeMillis() < until && errors.isEmpty()) sleep(100);
        sleep(500); // a record read twice would show up now
        stop.set(true);
        for (Thread t : threads) t.join(30000);
        check("consumer group: both consumers ended without error", errors.isEmpty(), errors);
        check("consumer group: the two members split the partitions and both read (" + readBy[0] + " + " + readBy[1] + ")",
              readBy[0].get() > 0 && readBy[1].get() > 0, readBy[0] + " + " + readBy[1]);
        List<String> twice = new ArrayList<>();
        seenTimes.forEach((v, n) -> { if (n != 1) twice.add(n + "x " + v.substring(0, Math.min(12, v.length()))); });
        check("consumer group: every acknowledged record read (" + seenTimes.size() + " of " + want + ")",
              seenTimes.keySet().containsAll(acked.keySet()), (want - seenTimes.size()) + " missing");
        check("consumer group: ... exactly once", twice.isEmpty(), twice.size() + " read more than once, e.g. " + twice.subList(0, Math.min(5, twice.size())));
        check("consumer group: ... each at the partition and offset it was acknowledged at", misplaced.isEmpty(),
              misplaced.subList(0, Math.min(5, misplaced.size())));
    }

    /** The client's newest version of an API. Where the 4.3.0 client deliberately stops lower
     *  (it needs topic IDs for Fetch v13+, OffsetCommit v10+ and OffsetFetch v10+; Rill's
     *  Metadata does not carry them below v10), so does the expectation. */
    static short clientMax(ApiKeys api, boolean topicIdsKnown) {
        short latest = api.latestVersion();
        if (!topicIdsKnown) {
            if (api == ApiKeys.FETCH) return (short) Math.min(latest, 12);
            if (api == ApiKeys.OFFSET_COMMIT || api == ApiKeys.OFFSET_FETCH) return (short) Math.min(latest, 9);
        }
        return latest;
    }

    static void checkVersions(Map<Integer, short[]> rill, boolean topicIdsKnown, boolean describeClusterServed) {
        Map<ApiKeys, Set<Short>> seen = new TreeMap<>((a, b) -> Short.compare(a.id, b.id));
        sent.forEach((k, v) -> seen.put(k, new TreeSet<>(v)));
        List<String> wrong = new ArrayList<>();
        for (Map.Entry<ApiKeys, Set<Short>> e : seen.entrySet()) {
            ApiKeys api = e.getKey();
            Set<Short> used = new TreeSet<>(e.getValue());
            short[] range = rill.get((int) api.id);
            String note = "";
            if (api == ApiKeys.API_VERSIONS && used.size() > 1 && used.remove(api.latestVersion())) {
                // The client opens with its newest ApiVersions; a broker without it answers
                // UNSUPPORTED_VERSION with its own range, and the client asks again within that.
                note = " (after v" + api.latestVersion() + " was answered UNSUPPORTED_VERSION)";
            }
            String shown = used.size() == 1 ? "v" + used.iterator().next() : "v" + used;
            if (range == null) {
                System.out.println(TAG + " negotiated " + api.name + " " + shown + " (NOT ADVERTISED BY RILL)");
                wrong.add(api.name + " sent as " + shown + " but Rill does not advertise it");
                continue;
            }
            short max = clientMax(api, topicIdsKnown);
            short want = (short) Math.min(max, range[1]);
            System.out.println(TAG + " negotiated " + api.name + " " + shown + note);
            if (!used.equals(Set.of(want))) {
                wrong.add(api.name + " sent as " + shown + ", want v" + want + " = min(client max " + max + ", Rill max " + range[1] + ")");
            }
        }
        check("every API the client sent used the newest version both sides serve, min(client max, Rill max) ("
              + seen.size() + " APIs)", wrong.isEmpty(), wrong);
        List<ApiKeys> expected = new ArrayList<>(List.of(ApiKeys.API_VERSIONS, ApiKeys.METADATA, ApiKeys.CREATE_TOPICS,
            ApiKeys.INIT_PRODUCER_ID, ApiKeys.PRODUCE, ApiKeys.FIND_COORDINATOR, ApiKeys.JOIN_GROUP, ApiKeys.SYNC_GROUP,
            ApiKeys.OFFSET_FETCH, ApiKeys.LIST_OFFSETS, ApiKeys.FETCH, ApiKeys.OFFSET_COMMIT, ApiKeys.LEAVE_GROUP,
            ApiKeys.DELETE_TOPICS));
        if (describeClusterServed) expected.add(ApiKeys.DESCRIBE_CLUSTER);
        List<String> missing = new ArrayList<>();
        for (ApiKeys api : expected) if (!seen.containsKey(api)) missing.add(api.name);
        check("the run exercised the " + expected.size() + " APIs it is meant to", missing.isEmpty(), "never sent: " + missing);
    }
}
