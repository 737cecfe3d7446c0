import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TransactionalIdNotFoundException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Apache Kafka's Java client (4.3.0) using Rill's transactions: commit and abort seen through
 *  read_committed and read_uncommitted consumers, a zombie producer fenced by a new instance, and
 *  a consume-transform-produce loop whose consumed offsets commit with its output
 *  (sendOffsetsToTransaction), and the Admin client's describeTransactions / listTransactions
 *  (what kafka-transactions.sh runs) on an open and a committed transaction. Prints "ok"/"FAIL" lines; exits 1 on a failure.
 *  ops/interop.sh runs it with BOOTSTRAP=host:port,... in the environment. */
public class Transactions {
    static final String BOOTSTRAP = System.getenv("BOOTSTRAP");
    static int failures = 0;

    static void check(String name, boolean ok, Object detail) {
        System.out.println((ok ? "ok   " : "FAIL ") + name + (ok ? "" : ": " + detail));
        if (!ok) failures++;
    }

    static KafkaProducer<String, String> producer(String transactionalID) {
        Properties p = new Properties();
        p.put("bootstrap.servers", BOOTSTRAP);
        p.put("transactional.id", transactionalID);
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        p.put("max.block.ms", "30000");
        return new KafkaProducer<>(p);
    }

    static KafkaConsumer<String, String> consumer(String group, String isolation) {
        Properties p = new Properties();
        p.put("bootstrap.servers", BOOTSTRAP);
        if (group != null) p.put("group.id", group);
        p.put("isolation.level", isolation);
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    /** Every value of the topic's partitions from the start, read until the end offsets. */
    static List<String> readAll(String topic, int partitions, String isolation) {
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> c = consumer(null, isolation)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < partitions; i++) tps.add(new TopicPartition(topic, i));
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            long deadline = System.currentTimeMillis() + 30_000;
            while (System.currentTimeMillis() < deadline && tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) values.add(r.value());
            }
        }
        Collections.sort(values);
        return values;
    }

    static Admin admin() {
        Properties ap = new Properties();
        ap.put("bootstrap.servers", BOOTSTRAP);
        return Admin.create(ap);
    }

    static TransactionDescription describe(Admin admin, String id) throws Exception {
        return admin.describeTransactions(List.of(id)).description(id).get(30, TimeUnit.SECONDS);
    }

    /** The listed transactions (from every broker) of this run's ids (ending in `-run`), in `state`. */
    static List<String> listed(Admin admin, String run, TransactionState state) throws Exception {
        var options = new ListTransactionsOptions().filterStates(List.of(state));
        List<String> ids = new ArrayList<>();
        for (TransactionListing l : admin.listTransactions(options).all().get(30, TimeUnit.SECONDS)) {
            if (l.transactionalId().endsWith("-" + run)) ids.add(l.transactionalId() + "/" + l.state());
        }
        Collections.sort(ids);
        return ids;
    }

    public static void main(String[] args) throws Exception {
        String run = Long.toString(System.currentTimeMillis() % 1_000_000);
        String topic = "java-txn-" + run;
        String input = "java-txn-in-" + run;
        String output = "java-txn-out-" + run;
        Properties ap = new Properties();
        ap.put("bootstrap.servers", BOOTSTRAP);
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, 2, (short) 3), new NewTopic(input, 2, (short) 3), new NewTopic(output, 2, (short) 3)))
                .all().get(30, TimeUnit.SECONDS);
        }

        // Commit, abort, commit: read_committed sees the two committed transactions only.
        try (KafkaProducer<String, String> p = producer("java-txn-" + run)) {
            long start = System.nanoTime();
            p.initTransactions();
            check("initTransactions() (took " + (System.nanoTime() - start) / 1_000_000 + " ms)", true, "");
            for (String tag : List.of("c", "a", "d")) {
                p.beginTransaction();
                for (int i = 0; i < 6; i++) p.send(new ProducerRecord<>(topic, i % 2, Integer.toString(i), tag + i));
                if (tag.equals("a")) {
                    p.flush();
                    p.abortTransaction();
                } else {
                    p.commitTransaction();
                }
            }
        }
        try (Admin admin = admin()) {
            TransactionDescription d = describe(admin, "java-txn-" + run);
            check("describeTransactions: the last transaction is CompleteCommit, without partitions or start",
                  d.state() == TransactionState.COMPLETE_COMMIT && d.topicPartitions().isEmpty() && d.transactionStartTimeMs().isEmpty()
                      && d.producerEpoch() == 0 && d.transactionTimeoutMs() == 60_000, d);
            String outcome;
            try {
                describe(admin, "java-never-" + run);
                outcome = "described";
            } catch (java.util.concurrent.ExecutionException e) {
                outcome = e.getCause() instanceof TransactionalIdNotFoundException ? "not found" : e.getCause().toString();
            }
            check("describeTransactions of an unknown id: TransactionalIdNotFoundException", outcome.equals("not found"), outcome);
        }
        List<String> committed = readAll(topic, 2, "read_committed");
        List<String> everything = readAll(topic, 2, "read_uncommitted");
        check("read_committed sees exactly the committed transactions' records",
              committed.equals(List.of("c0", "c1", "c2", "c3", "c4", "c5", "d0", "d1", "d2", "d3", "d4", "d5")), committed);
        check("read_uncommitted sees the aborted ones too", everything.size() == 18 && everything.contains("a3"), everything);

        // A zombie: a second instance of the same transactional id fences the first.
        try (KafkaProducer<String, String> zombie = producer("java-zombie-" + run)) {
            zombie.initTransactions();
            zombie.beginTransaction();
            zombie.send(new ProducerRecord<>(topic, 0, "z", "zombie")).get();
            try (Admin admin = admin()) {
                TransactionDescription d = describe(admin, "java-zombie-" + run);
                check("describeTransactions: the open transaction is Ongoing in the partition it wrote, with a start",
                      d.state() == TransactionState.ONGOING && d.topicPartitions().equals(java.util.Set.of(new TopicPartition(topic, 0)))
                          && d.transactionStartTimeMs().isPresent(), d);
                List<String> ongoing = listed(admin, run, TransactionState.ONGOING);
                check("listTransactions (every broker) in state Ongoing: the open transaction only",
                      ongoing.equals(List.of("java-zombie-" + run + "/Ongoing")), ongoing);
                List<String> done = listed(admin, run, TransactionState.COMPLETE_COMMIT);
                check("listTransactions in state CompleteCommit: the committed id (the zombie's is Ongoing)", done.equals(List.of("java-txn-" + run + "/CompleteCommit")), done);
            }
            try (KafkaProducer<String, String> fresh = producer("java-zombie-" + run)) {
                fresh.initTransactions();  // aborts the zombie's open transaction
                String outcome;
                try {
                    zombie.commitTransaction();
                    outcome = "the zombie committed";
                } catch (ProducerFencedException e) {
                    outcome = "fenced";
                } catch (Exception e) {
                    outcome = e.toString();
                }
                check("a new instance of the transactional id fences the old one's commit", outcome.equals("fenced"), outcome);
                fresh.beginTransaction();
                fresh.send(new ProducerRecord<>(topic, 0, "f", "fresh"));
                fresh.commitTransaction();
            }
        }
        List<String> after = readAll(topic, 2, "read_committed");
        check("the zombie's record is never committed, the new instance's is", !after.contains("zombie") && after.contains("fresh"), after);

        // Consume-transform-produce: offsets committed with the output, in one transaction each.
        int n = 40;
        try (KafkaProducer<String, String> p = producer("java-input-" + run)) {
            p.initTransactions();
            p.beginTransaction();
            for (int i = 0; i < n; i++) p.send(new ProducerRecord<>(input, i % 2, Integer.toString(i), "v" + i));
            p.commitTransaction();
        }
        String group = "java-eos-" + run;
        int transactions = 0;
        Map<TopicPartition, Long> consumedTo = new HashMap<>();
        try (KafkaConsumer<String, String> c = consumer(group, "read_committed");
             KafkaProducer<String, String> p = producer("java-eos-" + run)) {
            p.initTransactions();
            c.subscribe(List.of(input));
            int seen = 0;
            long deadline = System.currentTimeMillis() + 60_000;
            while (seen < n && System.currentTimeMillis() < deadline) {
                ConsumerRecords<String, String> records = c.poll(Duration.ofMillis(500));
                if (records.isEmpty()) continue;
                p.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                for (ConsumerRecord<String, String> r : records) {
                    p.send(new ProducerRecord<>(output, r.partition(), r.key(), r.value().toUpperCase()));
                    offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                    consumedTo.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
                    seen++;
                }
                p.sendOffsetsToTransaction(offsets, c.groupMetadata());
                p.commitTransaction();
                transactions++;
            }
        }
        List<String> out = readAll(output, 2, "read_committed");
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < n; i++) expected.add("V" + i);
        Collections.sort(expected);
        check("consume-transform-produce: every input record's output exactly once (" + transactions + " transactions)", out.equals(expected), out);
        try (KafkaConsumer<String, String> c = consumer(group, "read_committed")) {
            var tps = List.of(new TopicPartition(input, 0), new TopicPartition(input, 1));
            Map<TopicPartition, OffsetAndMetadata> offsets = c.committed(new java.util.HashSet<>(tps));
            // (The input's end is one further: its transaction's commit marker takes an offset.)
            boolean all = tps.stream().allMatch(tp -> offsets.get(tp) != null && offsets.get(tp).offset() == consumedTo.get(tp));
            check("the group's committed offsets, committed in the transactions, follow the last record consumed", all, offsets + " vs " + consumedTo);
        }
        System.out.println(failures == 0 ? "all transaction checks passed" : failures + " transaction check(s) failed");
        System.exit(failures == 0 ? 0 : 1);
    }
}
