#!/usr/bin/env python3
"""A live fuzzer against real nodes: starts a three-node cluster on free loopback ports, sends
mutated real requests to node 1's Kafka port and mutated peer frames to its peer port (over mutual
TLS with node 2's certificate, after a valid hello), for a bounded time; then every node must still
be running and answer ApiVersions and Metadata, and the cluster must still take and serve a record.
Stops what it starts. docs/fuzzing.md.

  python3 ops/live-fuzz.py --seconds 60 [--rill .build/debug/rill] [--seed 1]
"""
import argparse
import glob
import os
import random
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def crc32c(data):
    """CRC-32C (Castagnoli), bit by bit: the standard library has only zlib's CRC-32."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def free_base():
    for _ in range(200):
        b = random.randint(20000, 32500)  # below the ephemeral range (32768+)
        ok = True
        for d in (0, 100, 200):
            for k in range(3):
                s = socket.socket()
                try:
                    s.bind(("127.0.0.1", b + d + k))
                except OSError:
                    ok = False
                finally:
                    s.close()
        if ok:
            return b
    sys.exit("no free ports")


def mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and b:  # flip a bit
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:  # an interesting value somewhere
            i = rng.randrange(len(b))
            v = rng.choice([b"\x00", b"\xff", b"\x7f\xff\xff\xff", b"\xff\xff\xff\xff", b"\x80\x00", b"\x00\x00\x00\x00"])
            b[i:i + len(v)] = v
        elif op == 2:  # insert random bytes
            i = rng.randrange(len(b) + 1)
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 3 and len(b) > 1:  # delete a run
            i = rng.randrange(len(b))
            del b[i:i + rng.randint(1, 16)]
        elif op == 4:  # truncate
            del b[rng.randrange(len(b) + 1):]
        elif op == 5 and len(b) >= 4:  # another API key / version
            b[0:2] = struct.pack(">h", rng.randrange(-2, 80))
            b[2:4] = struct.pack(">h", rng.randrange(-2, 20))
    return bytes(b)


class Cluster:
    def __init__(self, rill):
        self.rill = rill
        self.dir = tempfile.mkdtemp(prefix="rill-live-fuzz-")
        self.base = free_base()
        subprocess.run([rill, "dev", "--init-only", "--nodes", "3", "--dir", self.dir, "--kafka-port", str(self.base)],
                       check=True, stdout=subprocess.DEVNULL)
        self.procs = {}
        for n in (1, 2, 3):
            self.start(n)

    def start(self, n):
        err = open(os.path.join(self.dir, f"node-{n}.stderr"), "a")
        self.procs[n] = subprocess.Popen([self.rill, "serve", "--config", os.path.join(self.dir, f"node-{n}", "node.toml")],
                                         stdout=err, stderr=err, start_new_session=True)

    def kafka(self, n):
        return ("127.0.0.1", self.base + n - 1)

    def peer(self, n):
        return ("127.0.0.1", self.base + 100 + n - 1)

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def request(addr, body, timeout=2.0):
    """One framed request; the response body, or None if the connection closed or timed out."""
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        head = s.recv(4, socket.MSG_WAITALL)
        if len(head) < 4:
            return None
        n = struct.unpack(">i", head)[0]
        return s.recv(n, socket.MSG_WAITALL)


def api_versions():
    client = b"live-fuzz"
    return struct.pack(">hhih", 18, 0, 7, len(client)) + client


def metadata():
    client = b"live-fuzz"
    return struct.pack(">hhih", 3, 1, 8, len(client)) + client + struct.pack(">i", -1)


def fuzz_kafka(cluster, rng, deadline, stats):
    seeds = [open(f, "rb").read() for f in sorted(glob.glob(os.path.join(ROOT, "Fuzz/corpus/kafka-request/*.bin")))]
    seeds += [api_versions(), metadata()]
    conn = None
    while time.monotonic() < deadline:
        body = mutate(rng, rng.choice(seeds))
        size = len(body) if rng.random() < 0.95 else rng.choice([0, 1, len(body) + 7, 0x7FFFFFFF, -1])
        try:
            if conn is None:
                conn = socket.create_connection(cluster.kafka(1), timeout=1.0)
                stats["kafka connections"] += 1
            conn.sendall(struct.pack(">i", size) + body)
            stats["kafka frames"] += 1
            if size != len(body):
                conn.close()  # a lying length: the node waits or refuses; start over
                conn = None
                continue
            head = conn.recv(4, socket.MSG_WAITALL)
            if len(head) < 4:
                stats["kafka closed by node"] += 1
                conn.close()
                conn = None
                continue
            n = struct.unpack(">i", head)[0]
            conn.recv(n, socket.MSG_WAITALL)
            stats["kafka answered"] += 1
        except (socket.timeout, ConnectionError, OSError):
            stats["kafka timeouts or resets"] += 1
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def peer_frames(cluster_name):
    """A hello as node 2, then packets of each kind (bodies after the checksum)."""
    name = cluster_name.encode()
    hello = bytes([1]) + struct.pack("<II", 2, 2) + struct.pack("<I", len(name)) + name
    alive = bytes([6]) + struct.pack("<Q", 99)
    leaders = bytes([4]) + struct.pack("<I", 1) + struct.pack("<IIQ", 5, 2, 3)
    seeds = [alive, leaders]
    seed_dir = tempfile.mkdtemp(prefix="rill-peer-seeds-")
    tool = os.path.join(ROOT, ".build/debug/rill-fuzz")
    if os.path.exists(tool):
        subprocess.run([tool, "seeds", "peer-packet", seed_dir], check=True)
        seeds += [open(f, "rb").read() for f in sorted(glob.glob(os.path.join(seed_dir, "*")))]
    shutil.rmtree(seed_dir, ignore_errors=True)
    return hello, seeds


def frame(body, fix_crc=True, crc=None):
    c = crc32c(body) if fix_crc else (crc if crc is not None else 0)
    packet = struct.pack("<I", c) + body
    return struct.pack("<I", len(packet)) + packet


def fuzz_peer(cluster, rng, deadline, stats):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(cluster.dir, "ca.pem"))
    ctx.load_cert_chain(os.path.join(cluster.dir, "node-2", "node.pem"), os.path.join(cluster.dir, "node-2", "node.key"))
    hello, seeds = peer_frames("dev")
    conn = None
    while time.monotonic() < deadline:
        try:
            if conn is None:
                raw = socket.create_connection(cluster.peer(1), timeout=1.0)
                conn = ctx.wrap_socket(raw)
                conn.sendall(frame(hello))
                stats["peer connections"] += 1
            body = mutate(rng, rng.choice(seeds))
            conn.sendall(frame(body, fix_crc=rng.random() < 0.9, crc=rng.getrandbits(32)))
            stats["peer frames"] += 1
            conn.settimeout(0.001)
            try:
                if conn.recv(65536) == b"":
                    raise ConnectionError("closed")
            except (socket.timeout, ssl.SSLWantReadError):
                pass
            conn.settimeout(1.0)
        except (socket.timeout, ConnectionError, OSError, ssl.SSLError):
            stats["peer closed by node"] += 1
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.01)
    if conn is not None:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rill", default=os.path.join(ROOT, ".build/debug/rill"))
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    cluster = Cluster(os.path.abspath(a.rill))
    stats = {k: 0 for k in ("kafka frames", "kafka answered", "kafka closed by node", "kafka timeouts or resets",
                            "kafka connections", "peer frames", "peer connections", "peer closed by node")}
    failures = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if request(cluster.kafka(1), api_versions()):
                    break
            except OSError:
                time.sleep(0.2)
        time.sleep(2)
        end = time.monotonic() + a.seconds
        # Alternate a second of each, so both run through the whole window.
        while time.monotonic() < end:
            fuzz_kafka(cluster, rng, min(end, time.monotonic() + 1.0), stats)
            fuzz_peer(cluster, rng, min(end, time.monotonic() + 1.0), stats)
        time.sleep(3)
        for n, p in cluster.procs.items():
            if p.poll() is not None:
                failures.append(f"node {n} exited (status {p.returncode}); see {cluster.dir}/node-{n}.log")
        for n in (1, 2, 3):
            for what, body in (("ApiVersions", api_versions()), ("Metadata", metadata())):
                try:
                    if not request(cluster.kafka(n), body, timeout=5):
                        failures.append(f"node {n} closed the connection on {what}")
                except OSError as e:
                    failures.append(f"node {n} did not answer {what}: {e}")
        # The cluster still works end to end: a record produced through the CLI and read back.
        topic = f"live-fuzz-{a.seed}"
        brokers = ",".join(f"{h}:{p}" for h, p in (cluster.kafka(n) for n in (1, 2, 3)))
        produced = subprocess.run([a.rill, "produce", topic, "--brokers", brokers], input="still alive\n", text=True,
                                  capture_output=True, timeout=60)
        consumed = subprocess.run([a.rill, "consume", topic, "--brokers", brokers, "--from", "earliest", "--count", "1"],
                                  text=True, capture_output=True, timeout=60) if produced.returncode == 0 else None
        if produced.returncode != 0 or consumed is None or "still alive" not in consumed.stdout:
            failures.append(f"produce/consume after fuzzing failed: {produced.stderr.strip()[-300:]} "
                            f"{(consumed.stderr.strip()[-300:] if consumed else '')}")
    finally:
        keep = bool(failures)
        if keep:
            for p in cluster.procs.values():
                if p.poll() is None:
                    p.kill()
        else:
            cluster.stop()
    for k, v in stats.items():
        print(f"{k:<26} {v:>9}")
    for f in failures:
        print("FAILED:", f)
    if not failures:
        print(f"live fuzz: {a.seconds:.0f} s, every node up and answering, a record produced and read back")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
