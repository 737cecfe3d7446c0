"""One million offset commits over 100 groups against a running cluster, then the bytes
__consumer_offsets takes on each node's disk (ops/bench-offsets.sh starts the cluster).

Commits are Kafka OffsetCommit v2 requests from consumers outside the group protocol (generation
-1, as a consumer that assigns partitions itself commits): 100 groups x 10 partitions of topic
`bench` x 1000 rounds, each request carrying one group's 10 partitions, pipelined 32 deep on one
connection per coordinator. Standard library only (raw Kafka frames), so the client is not what
is measured.

  python3 ops/offsets_bench.py BOOTSTRAP DATA_DIR [--groups 100] [--rounds 1000]"""
import argparse
import os
import socket
import struct
import sys
import time


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def frame(api, version, correlation, body):
    header = struct.pack(">hhi", api, version, correlation) + string("offsets-bench")
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=30)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def recv_frame(self):
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">i", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    f = self.buf[4:4 + n]
                    self.buf = self.buf[4 + n:]
                    return f
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk


def find_coordinator(bootstrap, group):
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    for _ in range(100):
        c = Conn(host, int(port))
        c.send(frame(10, 0, 1, string(group)))
        f = c.recv_frame()
        c.s.close()
        err, node = struct.unpack(">hi", f[4:10])
        if err == 0:
            n = struct.unpack(">h", f[10:12])[0]
            h = f[12:12 + n].decode()
            p = struct.unpack(">i", f[12 + n:16 + n])[0]
            return h, p
        time.sleep(0.2)
    raise RuntimeError(f"no coordinator for {group}")


def commit_body(group, topic, partitions, offset):
    body = string(group) + struct.pack(">i", -1) + string("") + struct.pack(">q", -1)
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", len(partitions))
    for p in partitions:
        body += struct.pack(">iq", p, offset) + struct.pack(">h", -1)
    return body


def check_commit_response(f):
    # correlation | topics[1] { name, partitions[n] { partition, error } }
    pos = 4
    (nt,) = struct.unpack(">i", f[pos:pos + 4]); pos += 4
    for _ in range(nt):
        (n,) = struct.unpack(">h", f[pos:pos + 2]); pos += 2 + n
        (np_,) = struct.unpack(">i", f[pos:pos + 4]); pos += 4
        for _ in range(np_):
            _, err = struct.unpack(">ih", f[pos:pos + 6]); pos += 6
            if err != 0:
                raise RuntimeError(f"OffsetCommit error {err}")


def offsets_bytes(data_dir, offsets_groups):
    """Per node: bytes of the offsets partitions' directories (log segments and raft.state)."""
    out = {}
    for node in sorted(d for d in os.listdir(data_dir) if d.startswith("node-") and os.path.isdir(os.path.join(data_dir, d))):
        total = 0
        for g in offsets_groups:
            root = os.path.join(data_dir, node, "data", f"group-{g}")
            for dirpath, _, files in os.walk(root):
                total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
        out[node] = total
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("data_dir")
    ap.add_argument("--groups", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--offsets-groups", default="11,12,13,14", help="Raft group ids of __consumer_offsets")
    a = ap.parse_args()
    groups = [f"bench-g{i}" for i in range(a.groups)]
    coord = {g: find_coordinator(a.bootstrap, g) for g in groups}
    conns = {hp: Conn(*hp) for hp in set(coord.values())}
    partitions = list(range(10))
    t0 = time.time()
    correlation = 0
    inflight = {hp: 0 for hp in conns}
    for r in range(a.rounds):
        for g in groups:
            hp = coord[g]
            c = conns[hp]
            correlation += 1
            c.send(frame(8, 2, correlation, commit_body(g, "bench", partitions, r + 1)))
            inflight[hp] += 1
            while inflight[hp] >= 32:
                check_commit_response(c.recv_frame())
                inflight[hp] -= 1
    for hp, c in conns.items():
        while inflight[hp] > 0:
            check_commit_response(c.recv_frame())
            inflight[hp] -= 1
    elapsed = time.time() - t0
    commits = a.rounds * len(groups) * len(partitions)
    print(f"{commits} offset commits ({a.rounds * len(groups)} requests) over {len(groups)} groups in {elapsed:.1f} s: {commits / elapsed:.0f} commits/s")
    time.sleep(3)  # retention checks after the last writes
    ids = [int(x) for x in a.offsets_groups.split(",")]
    node1 = os.path.join(a.data_dir, "node-1", "data")
    present = sorted(int(d[len("group-"):]) for d in os.listdir(node1) if d.startswith("group-"))
    if present != [0] + list(range(1, 11)) + ids:
        sys.exit(f"unexpected Raft groups on node 1: {present} (bench should be 1-10, __consumer_offsets {ids})")
    sizes = offsets_bytes(a.data_dir, ids)
    for node, b in sizes.items():
        print(f"{node}: __consumer_offsets takes {b} bytes ({b / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
