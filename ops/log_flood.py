#!/usr/bin/env python3
"""Log flood: how many log bytes hostile Kafka requests cost one real node (issue 12 item 2).

Starts one `rill serve` node (configured by `rill dev --init-only --nodes 1` in a temporary
directory), then for --seconds sends malformed requests (Metadata v1 whose topic count promises
more than the body holds) from --connections threads, each with a distinct --client-id-bytes
client id that starts with a forged log line ("x\\n<date> critical ... storage failed: ...").
Every connection carries one request: the node closes it after the bad one. Prints the requests
sent, the node's log growth (every file it logs to: node-1.log and its rotated files, and its
standard output and error), the longest line, and how many forged `critical` lines the log holds.

    python3 ops/log_flood.py --rill .build/debug/rill [--seconds 10] [--client-id-bytes 32000] [--sources 1]

Standard library only.
"""

import argparse
import glob
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time


def request(client_id: bytes, correlation: int) -> bytes:
    # Request header v1: api key 3 (Metadata), version 1, correlation id, client id (int16 length).
    header = struct.pack(">hhih", 3, 1, correlation, len(client_id)) + client_id
    body = struct.pack(">i", 0x7FFFFFFF)  # a topic count the body does not hold: malformed
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def log_bytes(root: str) -> int:
    total = 0
    for path in glob.glob(os.path.join(root, "node-1.log*")) + glob.glob(os.path.join(root, "node-1.stderr")):
        total += os.path.getsize(path)
    return total


def log_text(root: str) -> str:
    text = ""
    for path in sorted(glob.glob(os.path.join(root, "node-1.log*"))) + [os.path.join(root, "node-1.stderr")]:
        if os.path.exists(path):
            with open(path, "rb") as f:
                text += f.read().decode("utf-8", "replace")
    return text


def wait_port(port: int, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rill", default=".build/debug/rill")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--client-id-bytes", type=int, default=32000)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--kafka-port", type=int, default=29092)
    ap.add_argument("--sources", type=int, default=1, help="send from 127.0.0.1 ... 127.0.0.N (distinct client addresses)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    root = tempfile.mkdtemp(prefix="rill-log-flood-")
    subprocess.run(
        [args.rill, "dev", "--init-only", "--nodes", "1", "--dir", root, "--kafka-port", str(args.kafka_port)],
        check=True, stdout=subprocess.DEVNULL)
    out = open(os.path.join(root, "node-1.stderr"), "ab")
    node = subprocess.Popen([args.rill, "serve", "--config", os.path.join(root, "node-1", "node.toml")], stdout=out, stderr=out)
    try:
        if not wait_port(args.kafka_port, 20):
            print("node did not listen; log:\n" + log_text(root)[-2000:], file=sys.stderr)
            return 1
        time.sleep(3)  # the single node elects itself controller leader
        before = log_bytes(root)

        sent = [0] * args.connections
        stop = time.time() + args.seconds

        def flood(k: int) -> None:
            rnd = random.Random(k)
            n = 0
            while time.time() < stop:
                n += 1
                forged = b"x\n2026-12-03T22:00:00+0000 critical rill.node-1: storage failed: fsync of 00000000000000000001.log failed (EIO): stopping "
                tail = ("%d-%d-" % (k, n)).encode() + bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(64))
                cid = (forged + tail) * (args.client_id_bytes // (len(forged) + len(tail)) + 1)
                cid = cid[: args.client_id_bytes]
                try:
                    source = "127.0.%d.%d" % divmod((k * 7919 + n) % args.sources + 1, 256)
                    s = socket.create_connection(("127.0.0.1", args.kafka_port), timeout=2, source_address=(source, 0))
                    s.sendall(request(cid, n))
                    s.settimeout(2)
                    while s.recv(4096):
                        pass
                    s.close()
                    sent[k] += 1
                except OSError:
                    time.sleep(0.001)

        threads = [threading.Thread(target=flood, args=(k,)) for k in range(args.connections)]
        started = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - started
        time.sleep(1.5)  # the node writes its summaries of suppressed lines once a second
        grown = log_bytes(root) - before
        text = log_text(root)
        lines = text.split("\n")
        forged = sum(1 for line in lines if line.startswith("2026-12-03T22:00:00+0000 critical"))
        alive = node.poll() is None
        total = sum(sent)
        print(f"requests: {total} in {elapsed:.1f} s, client ids of {args.client_id_bytes} bytes, {args.connections} connections at a time, {args.sources} source address(es)")
        print(f"log growth: {grown} bytes ({grown / 1048576:.2f} MiB), {grown / max(total, 1):.1f} bytes per request")
        print(f"longest log line: {max(len(line) for line in lines)} characters; forged 'critical' lines: {forged}")
        print(f"node alive: {alive}")
        return 0
    finally:
        node.terminate()
        try:
            node.wait(10)
        except subprocess.TimeoutExpired:
            node.kill()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
