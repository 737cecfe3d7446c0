"""How a three-node cluster copes with many partitions (issue 14's table), against a cluster
ops/bench-partitions.sh started: for each partition count, the partitions are created (as one
topic, or as topics of --per-topic partitions), then measured:

  create_s     Kafka CreateTopics request(s) to node 1 until answered (Rill answers once every new
               partition has a leader, or at the request's 60 s timeout)
  all_led_s    from the last answer until every partition has a leader that says so itself
               (each node's /status: the partitions it leads), or --led-timeout
  idle_cores   CPU of the three processes together over --idle-seconds, after --settle seconds
  rss_mb       each node's resident memory (VmRSS) after that
  metrics_kb   the size of one node's /metrics
  restart_s    kill -9 of node 3, started again: until every partition has a leader again and
               node 3 follows the leader's term in each of its groups (its /status) - serving

Standard library only: raw Kafka frames for CreateTopics, the status listeners for the rest.

  python3 ops/partitions_bench.py RILL DIR PIDS_FILE --counts 1000,5000,10000 [--per-topic 0]
"""
import argparse
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def create_topic(kafka_port, name, partitions, timeout_ms=60_000):
    """CreateTopics v4 (classic encoding) to one node; returns the topic's error code."""
    body = struct.pack(">i", 1)
    body += struct.pack(">h", len(name)) + name.encode()
    body += struct.pack(">ihii", partitions, 3, 0, 0)  # replication 3, no assignments, no configs
    body += struct.pack(">ib", timeout_ms, 0)  # timeout, validate_only false
    client = b"partitions-bench"
    header = struct.pack(">hhih", 19, 4, 1, len(client)) + client
    frame = header + body
    with socket.create_connection(("127.0.0.1", kafka_port), timeout=timeout_ms / 1000 + 30) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        r = recv_exact(s, size)
    # correlation id, throttle time, topics[1]: name, error code
    at = 8
    count = struct.unpack_from(">i", r, at)[0]
    at += 4
    n = struct.unpack_from(">h", r, at)[0]
    at += 2 + n
    return count, struct.unpack_from(">h", r, at)[0]


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def status(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as r:
        return json.loads(r.read())


def metrics_bytes(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return len(r.read())


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def led_partitions(ports, topics):
    """(led, total): partitions of `topics` whose replica on some node reports itself leader."""
    led = set()
    total = None
    for port in ports:
        try:
            st = status(port)
        except Exception:
            continue
        mine = [p for p in st["partitions"] if p["topic"] in topics]
        total = len(mine) if total is None else max(total, len(mine))
        for p in mine:
            if p.get("leader") == st["node"]:
                led.add((p["topic"], p["partition"]))
    return len(led), total or 0


def wait_led(ports, topics, expected, timeout):
    start = time.time()
    while time.time() - start < timeout:
        led, _ = led_partitions(ports, topics)
        if led >= expected:
            return time.time() - start
        time.sleep(0.25)
    return None


def leaders_per_node(ports, topics):
    counts = {}
    for port in ports:
        st = status(port)
        counts[st["node"]] = sum(1 for p in st["partitions"] if p["topic"] in topics and p.get("leader") == st["node"])
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rill")
    ap.add_argument("dir")
    ap.add_argument("pids")
    ap.add_argument("--counts", default="1000,5000,10000")
    ap.add_argument("--per-topic", type=int, default=0, help="0: one topic per count")
    ap.add_argument("--led-timeout", type=float, default=120)
    ap.add_argument("--settle", type=float, default=10)
    ap.add_argument("--idle-seconds", type=float, default=20)
    ap.add_argument("--no-restart", action="store_true")
    a = ap.parse_args()

    pids = [int(x) for x in open(a.pids).read().split()]
    ports = []
    for n in (1, 2, 3):
        toml = open(os.path.join(a.dir, f"node-{n}", "node.toml")).read()
        ports.append(int(re.search(r'metrics = "[^"]*:(\d+)"', toml).group(1)))
    kafka_port = int(re.search(r'kafka = "[^"]*:(\d+)"', open(os.path.join(a.dir, "node-1", "node.toml")).read()).group(1))

    print("| partitions | shape | create s | all led s | leaders per node (at all led → after the idle window) | idle cores (3 nodes) | RSS MB per node | /metrics KB | restart to serving s |")
    print("|---|---|---|---|---|---|---|---|---|")
    created = 0
    topics = set()
    for count in [int(c) for c in a.counts.split(",")]:
        add = count - created
        if add <= 0:
            continue
        per = a.per_topic if a.per_topic > 0 else add
        new = []
        t0 = time.time()
        i = 0
        while i < add:
            n = min(per, add - i)
            name = f"p{count}-{i // per}"
            count_, code = create_topic(kafka_port, name, n)
            if code != 0:
                sys.exit(f"CreateTopics {name}: error code {code}")
            new.append(name)
            i += n
        create_s = time.time() - t0
        topics.update(new)
        created = count
        led_s = wait_led(ports, topics, created, a.led_timeout)
        spread = leaders_per_node(ports, topics)
        time.sleep(a.settle)
        c0 = sum(cpu_seconds(p) for p in pids)
        time.sleep(a.idle_seconds)
        idle = (sum(cpu_seconds(p) for p in pids) - c0) / a.idle_seconds
        # Again after the idle window: leaders a restart moved go back by leader balancing.
        spread_later = leaders_per_node(ports, topics)
        rss = "/".join(f"{rss_mb(p):.0f}" for p in pids)
        mkb = metrics_bytes(ports[0]) / 1024
        restart = "-"
        if not a.no_restart:
            os.kill(pids[2], 9)
            time.sleep(0.5)
            t1 = time.time()
            p = subprocess.Popen([a.rill, "serve", "--config", os.path.join(a.dir, "node-3", "node.toml")],
                                 stdout=open(os.path.join(a.dir, "node-3.stderr"), "a"), stderr=subprocess.STDOUT,
                                 start_new_session=True)
            pids[2] = p.pid
            with open(a.pids, "w") as f:
                f.write(" ".join(str(x) for x in pids))
            back = None
            while time.time() - t1 < a.led_timeout:
                try:
                    st = status(ports[2])
                    mine = [q for q in st["partitions"] if q["topic"] in topics and q.get("leader") is not None]
                    if len(mine) >= created * 3 // 3 and all(q["leader"] != 0 for q in mine) and \
                            led_partitions(ports, topics)[0] >= created:
                        back = time.time() - t1
                        break
                except Exception:
                    pass
                time.sleep(0.25)
            restart = f"{back:.1f}" if back is not None else f">{a.led_timeout:.0f}"
        shape = "1 topic" if a.per_topic <= 0 else f"topics of {a.per_topic}"
        led = f"{led_s:.1f}" if led_s is not None else f">{a.led_timeout:.0f} ({led_partitions(ports, topics)[0]} led)"
        spread_s = "/".join(str(spread[k]) for k in sorted(spread)) + " → " + "/".join(str(spread_later[k]) for k in sorted(spread_later))
        print(f"| {count} | {shape} | {create_s:.1f} | {led} | {spread_s} | {idle:.2f} | {rss} | {mkb:.0f} | {restart} |", flush=True)


if __name__ == "__main__":
    main()
