"""Elastic cluster benchmark (ops/bench-elastic.sh sets WORK, BASE, BOOTSTRAP and RILL): starts the
three nodes `rill dev --init-only` wrote in WORK, fills a replication-3 topic with BULK_MB, runs a
producer on another topic, then: adds node 4, balances replicas onto it, decommissions node 1,
restarts node 2. For each step: its time, and the producer's throughput during it over the
throughput before the first step (same run). After the restart: seconds until leaders per node
differ by at most one. Prints one JSON line (ElasticClusterTests checks no record is lost or doubled in the same scenario).

  bash ops/bench-elastic.sh"""
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from move_bench import Load, create, fill  # noqa: E402  (BOOTSTRAP comes from the environment)

WORK = os.environ["WORK"]
BASE = int(os.environ["BASE"])
RILL = os.environ.get("RILL", ".build/release/rill")
BULK_MB = int(os.environ.get("BULK_MB", "256"))
BASELINE_S = float(os.environ.get("BASELINE_SECONDS", "10"))
# The producer's pace (records of 1 KiB a second) and the load topic's retention: unbounded, it
# filled a 250 GB disk in minutes (three replicas of everything) while replicas moved.
LOAD_RATE = int(os.environ.get("LOAD_RATE", "5000"))
procs = {}


def start(n):
    log = open(f"{WORK}/node-{n}.stderr", "ab")
    procs[n] = subprocess.Popen([RILL, "serve", "--config", f"{WORK}/node-{n}/node.toml"], stdout=log, stderr=log)


def stop(n):
    procs[n].terminate()
    procs[n].wait(30)


def status(n):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{BASE + 200 + n - 1}/status", timeout=2) as r:
            return json.loads(r.read())
    except OSError:
        return None


def wait(what, condition, seconds=600):
    began = time.time()
    while not condition():
        if time.time() - began > seconds:
            logs = "".join(open(f"{WORK}/node-{n}.stderr", errors="replace").read()[-2000:] for n in sorted(procs))
            raise SystemExit(f"{what}: not done in {seconds} s\n{logs}")
        time.sleep(0.1)


def rill(*args):
    out = subprocess.run([RILL, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"rill {' '.join(args)}: {out.stdout}{out.stderr}")
    return out.stdout


def leaders_even(nodes):
    counts = {}
    for n in nodes:
        s = status(n)
        if s is None:
            return False
        counts[n] = sum(1 for p in s["partitions"] if p.get("leader") == n)
    return max(counts.values()) - min(counts.values()) <= 1


def main():
    for n in (1, 2, 3):
        start(n)
    wait("cluster", lambda: all((s := status(n)) and s["controllerLeader"] and len(s["brokers"]) == 3 for n in (1, 2, 3)), 60)
    create("bulk", 6, 3)
    create("load", 6, 3, {"retention.bytes": str(64 << 20), "segment.bytes": str(16 << 20)})
    fill("bulk", BULK_MB)
    load = Load("load", rate=LOAD_RATE)
    load.start()
    time.sleep(BASELINE_S)
    steps = {}
    began_all = time.time()

    said = {}

    def step(name, body):
        began = time.time()
        out = body()
        steps[name] = (began, time.time())
        # What the command said it moved ("12 partition(s) moving to balance the cluster").
        said[name] = next((line for line in (out or "").splitlines() if "moving" in line or "nothing" in line), None)

    def add():
        rill("node", "add", "--id", "4", "--from", f"{WORK}/node-1/node.toml", "--out", f"{WORK}/node-4",
             "--peer", f"127.0.0.1:{BASE + 103}", "--kafka", f"127.0.0.1:{BASE + 3}", "--metrics", f"127.0.0.1:{BASE + 203}")
        start(4)
        wait("join", lambda: all((s := status(n)) and len(s["brokers"]) == 4 for n in (1, 2, 3, 4)))

    step("add node 4", add)
    step("balance onto node 4", lambda: rill("cluster", "balance", "-b", os.environ["BOOTSTRAP"], "--wait"))
    survivors = ",".join(f"127.0.0.1:{BASE + i}" for i in (1, 2, 3))
    step("decommission node 1", lambda: rill("node", "decommission", "-b", survivors, "1"))
    stop(1)
    step("balance after decommission", lambda: rill("cluster", "balance", "-b", survivors, "--wait"))

    def restart():
        stop(2)
        start(2)
        wait("leaders within one", lambda: leaders_even((2, 3, 4)), 120)

    step("restart node 2 until leaders even", restart)
    time.sleep(2)
    load.stop = True
    load.join()
    before = load.rate(began_all - BASELINE_S + 1, began_all)
    report = {"bulk_mb": BULK_MB, "load_rate_asked": LOAD_RATE, "load_records_per_s_before": round(before), "load_errors": load.errors, "steps": []}
    for name, (a, b) in steps.items():
        during = load.rate(a, b)
        entry = {"step": name, "seconds": round(b - a, 2), "load_during_over_before": round(during / max(before, 1e-9), 2)}
        if said.get(name):
            entry["said"] = said[name]
        report["steps"].append(entry)
    print(json.dumps(report))
    for n in list(procs):
        if procs[n].poll() is None:
            procs[n].kill()


main()
