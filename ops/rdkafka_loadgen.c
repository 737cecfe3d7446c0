/*
 * A native Kafka load generator on librdkafka (Debian's librdkafka-dev), for ops/bench-produce.sh.
 *
 * Why not the Python client alone: with 1 KiB records confluent-kafka's per-record produce() call
 * in the interpreter used 0.5-0.8 of a core at 140k records/s, on a 2-core machine where the three
 * Rill nodes need both cores, while NATS is driven by a Go load generator. Here the client costs
 * what librdkafka costs, and the batching is librdkafka's, as the issue asks.
 *
 *   rdkafka_loadgen throughput BOOTSTRAP TOPIC SIZE SECONDS
 *       produce SIZE-byte records for SECONDS with acks=all, linger 5 ms, 1 MiB batches, then
 *       flush; print {"records", "errors", "seconds"} (seconds include the flush).
 *   rdkafka_loadgen latency BOOTSTRAP TOPIC SIZE SECONDS
 *       one record in flight at a time (acks=all, linger 0): produce, wait for its delivery
 *       report; print {"samples", "p50_us", "p99_us"}.
 *
 * Exit status 1 with a message on stderr when librdkafka refuses the configuration or a record.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long acked, failed, delivered;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (failed++ == 0) fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        acked++;
    }
    delivered++;
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "config %s=%s: %s\n", key, value, err);
        exit(1);
    }
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s throughput|latency BOOTSTRAP TOPIC SIZE SECONDS\n", argv[0]);
        return 64;
    }
    int latency = strcmp(argv[1], "latency") == 0;
    const char *topic = argv[3];
    size_t size = (size_t)atol(argv[4]);
    double seconds = atof(argv[5]);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[2]);
    set(conf, "acks", "all");
    set(conf, "compression.type", "none");
    if (latency) {
        set(conf, "linger.ms", "0");
    } else {
        set(conf, "linger.ms", "5");
        set(conf, "batch.size", "1048576");
        set(conf, "queue.buffering.max.messages", "1000000");
        set(conf, "queue.buffering.max.kbytes", "1048576");
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "producer: %s\n", err);
        return 1;
    }
    char *value = malloc(size);
    memset(value, latency ? 'y' : 'x', size);

    if (!latency) {
        double start = now();
        long sent = 0;
        while (now() - start < seconds) {
            /* No copy: the payload is one buffer that outlives every record. */
            rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(value, size), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 1);
            } else if (e) {
                fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
                return 1;
            } else if (++sent % 1000 == 0) {
                rd_kafka_poll(rk, 0);
            }
        }
        rd_kafka_flush(rk, 120 * 1000);
        printf("{\"records\": %ld, \"errors\": %ld, \"seconds\": %.3f}\n", acked, failed + (sent - delivered), now() - start);
    } else {
        size_t cap = 1 << 20, n = 0;
        double *samples = malloc(cap * sizeof *samples);
        for (int warm = 0; warm < 50; warm++) {
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(value, size), RD_KAFKA_V_END);
            rd_kafka_flush(rk, 10 * 1000);
        }
        double start = now();
        while (now() - start < seconds && n < cap) {
            long before = delivered;
            double t0 = now();
            rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(value, size), RD_KAFKA_V_END);
            if (e) {
                fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            while (delivered == before) rd_kafka_poll(rk, 10);
            samples[n++] = now() - t0;
        }
        if (n == 0) {
            fprintf(stderr, "no record was delivered\n");
            return 1;
        }
        qsort(samples, n, sizeof *samples, compare);
        printf("{\"samples\": %zu, \"errors\": %ld, \"p50_us\": %.0f, \"p99_us\": %.0f}\n", n, failed, samples[n / 2] * 1e6,
               samples[(size_t)(0.99 * (n - 1))] * 1e6);
    }
    rd_kafka_destroy(rk);
    return failed ? 1 : 0;
}
