import java.io.FileWriter;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.Locale;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.InvalidRecordException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The nemesis suite's producer on Apache Kafka's Java client (ops/nemesis/workload.py's
 * `producer-java` role runs it): idempotent, acks=all, 5 requests in flight, one unique value per
 * send, each invocation and completion a JSON line of the history (the format of workload.py).
 *
 * args: bootstrap history process t0 seconds rate partitions seed valueBytes
 * t0 is Python's time.monotonic() at the run's start: System.nanoTime() reads the same clock
 * (CLOCK_MONOTONIC) on Linux.
 */
public class NemesisProducer {
    static PrintWriter out;
    static double t0;
    static String process;

    static String now() {
        return String.format(Locale.ROOT, "%.4f", System.nanoTime() / 1e9 - t0);
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static synchronized void write(String type, int i, int k, String v, String extra) {
        out.println("{\"f\": \"send\", \"i\": " + i + ", \"k\": " + k + ", \"p\": " + quote(process) + ", \"t\": " + now()
                + ", \"type\": \"" + type + "\", \"v\": " + quote(v) + extra + "}");
        out.flush();
    }

    static synchronized void clientError(String err, boolean fatal) {
        out.println("{\"err\": " + quote(err) + ", \"f\": \"client-error\", \"fatal\": " + fatal + ", \"p\": " + quote(process)
                + ", \"t\": " + now() + ", \"type\": \"info\"}");
        out.flush();
    }

    public static void main(String[] a) throws Exception {
        String bootstrap = a[0];
        out = new PrintWriter(new FileWriter(a[1], true));
        process = a[2];
        t0 = Double.parseDouble(a[3]);
        double seconds = Double.parseDouble(a[4]);
        double rate = Double.parseDouble(a[5]);
        int partitions = Integer.parseInt(a[6]);
        Random rng = new Random(Long.parseLong(a[7]) * 31 + 7);
        String pad = "x".repeat(Math.max(0, Integer.parseInt(a[8]) - 16));

        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("enable.idempotence", "true");
        p.put("acks", "all");
        p.put("max.in.flight.requests.per.connection", "5");
        p.put("linger.ms", "5");
        p.put("delivery.timeout.ms", "30000");
        p.put("request.timeout.ms", "10000");
        p.put("max.block.ms", "10000");
        p.put("client.id", process);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        Set<Integer> pending = ConcurrentHashMap.newKeySet();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            long deadline = System.nanoTime() + (long) (seconds * 1e9);
            long interval = (long) (1e9 / rate);
            long next = System.nanoTime();
            int n = 0;
            while (System.nanoTime() < deadline) {
                n++;
                final int i = n;
                final int k = rng.nextInt(partitions);
                final String v = process + "-" + n;
                write("invoke", i, k, v, "");
                pending.add(i);
                try {
                    producer.send(new ProducerRecord<>("nemesis", k, null, (v + ":" + pad).getBytes()), (md, e) -> {
                        pending.remove(i);
                        if (e == null) {
                            write("ok", i, k, v, ", \"offset\": " + md.offset());
                        } else {
                            boolean definite = e instanceof RecordTooLargeException || e instanceof InvalidRecordException;
                            write(definite ? "fail" : "info", i, k, v, ", \"err\": " + quote(e.toString()));
                            if (e instanceof ProducerFencedException) clientError(e.toString(), true);
                        }
                    });
                } catch (Exception e) {
                    // send() itself refused it (no metadata within max.block.ms): never queued.
                    pending.remove(i);
                    write("fail", i, k, v, ", \"err\": " + quote(e.toString()));
                }
                next += interval;
                long wait = next - System.nanoTime();
                if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
            }
            producer.flush();
            producer.close(Duration.ofSeconds(5));
        }
        for (int i : pending) clientError("send " + i + " never completed", false);
        out.close();
    }
}
