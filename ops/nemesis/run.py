"""One or more nemesis runs: three `rill serve` processes as hosts in network namespaces, clients
in a fourth, faults drawn from a seed, then a heal, a final read and the checker's verdict.
Called by ops/nemesis.sh (which installs what it needs); see docs/nemesis.md.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checker  # noqa: E402
import faults  # noqa: E402
from hosts import Hosts  # noqa: E402

PARTITIONS = 6


class Run:
    def __init__(self, a, seed, out):
        self.a = a
        self.seed = seed
        self.dir = out
        os.makedirs(out, exist_ok=True)
        self.fault_log = open(os.path.join(out, "faults.jsonl"), "w", buffering=1)
        # The tmpfs data disks hold the whole run (about 1 MB/s per node at the default rates).
        self.hosts = Hosts(out, a.rill, planted_bug=a.plant_bug, disk_mib=max(256, int(a.seconds * 2) + 128))
        self.t0 = None
        self.crashes = []
        self.disk_full_stops = []
        self.client_exits = []
        self.clients = []
        self.stop_monitor = threading.Event()

    def say(self, msg):
        t = "" if self.t0 is None else f"[{time.monotonic() - self.t0:7.2f}] "
        print(f"  {t}{msg}", flush=True)

    def log_fault(self, entry):
        self.fault_log.write(json.dumps(entry, sort_keys=True) + "\n")
        if entry["event"] == "start":
            detail = {k: v for k, v in entry.items() if k not in ("t", "event", "class", "at")}
            self.say(f"fault {entry['class']} {json.dumps(detail, sort_keys=True)}")

    def client(self, role, process, seconds, **opts):
        argv = [self.a.python, os.path.join(HERE, "workload.py"), role, "--process", process,
                "--history", os.path.join(self.dir, f"history-{process}.jsonl"),
                "--bootstrap", ",".join(n.kafka for n in self.hosts.nodes), "--t0", repr(self.t0 or time.monotonic()),
                "--seconds", str(seconds), "--partitions", str(PARTITIONS), "--seed", str(self.seed)]
        for k, v in opts.items():
            argv += [f"--{k.replace('_', '-')}", str(v)]
        err = open(os.path.join(self.dir, f"client-{process}.stderr"), "a")
        p = self.hosts.in_client_ns(argv, stdout=err, stderr=err, stdin=subprocess.DEVNULL)
        self.clients.append((process, p))
        return p

    @staticmethod
    def wait(p, timeout):
        """A client that has not ended by `timeout` is killed: its non-zero exit is then a
        client-exit anomaly, not a harness crash (a client stuck against a broker with a planted
        bug hung a CI run's harness). SIGUSR1 first: the client dumps its threads' stacks to its
        stderr file (workload.py), which says where it was stuck."""
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGUSR1)
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def elect(self):
        p = self.client("admin", f"admin-elect-{int(time.monotonic() * 1000)}", 20, action="elect")
        try:
            return p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            return "timeout"

    def monitor(self, nemesis):
        """A node that exits without the nemesis asking is a crash: recorded, then started again
        (as a supervisor would). One exception: a node whose disk the nemesis filled to the last
        byte stops by design when a write finds no space (its log says so); that is counted, not
        a crash."""
        while not self.stop_monitor.wait(0.25):
            for n in self.hosts.nodes:
                if n.proc is not None and n.proc.poll() is not None and n.i not in nemesis.expected_down:
                    t = round(time.monotonic() - self.t0, 2)
                    log = open(os.path.join(self.dir, f"node-{n.i}.log"), errors="replace").read()[-3000:]
                    if nemesis.disk_full_node == n.i and n.proc.returncode == 1 and "storage failed: disk full" in log:
                        self.disk_full_stops.append({"node": n.i, "t": t})
                        self.say(f"node {n.i} stopped on its full disk (by design); starting it again")
                    else:
                        tail = open(os.path.join(self.dir, f"node-{n.i}.stderr"), errors="replace").read()[-2000:]
                        self.crashes.append({"node": n.i, "t": t, "exit": n.proc.returncode, "stderr-tail": tail,
                                             "log-tail": log[-600:]})
                        self.say(f"node {n.i} exited by itself (status {n.proc.returncode}); starting it again")
                    self.hosts.start(n)

    def go(self):
        a = self.a
        schedule = json.load(open(a.replay)) if a.replay else faults.draw(self.seed, a.seconds, a.faults)
        faults.save(schedule, os.path.join(self.dir, "schedule.json"))
        print(f"run seed={self.seed} seconds={schedule['seconds']} classes={','.join(schedule['classes'])} "
              f"events={len(schedule['events'])} dir={self.dir}", flush=True)
        h = self.hosts
        h.setup()
        h.write_configs()
        for n in h.nodes:
            h.start(n)
        created = self.client("admin", "admin-create", 120, action="create")
        if created.wait() != 0:
            raise RuntimeError("the topic could not be created (see client-admin-create.stderr)")
        self.t0 = time.monotonic()
        seconds = schedule["seconds"]
        nemesis = faults.Nemesis(h, self.log_fault, self.elect)
        mon = threading.Thread(target=self.monitor, args=(nemesis,), daemon=True)
        mon.start()
        # Producers run past the faults so their last sends meet a healed cluster, then flush.
        # P1's larger values fill 1 MiB segments within the run, so bit flips find closed ones.
        producers = [self.client("producer-confluent", "P1", seconds + 5, rate=a.rate, value_bytes=4000),
                     self.client("producer-kafka-python", "P2", seconds + 5, rate=a.rate / 2, value_bytes=1000),
                     self.client("producer-swift", "P3", seconds + 5, rate=a.rate / 2, value_bytes=1000,
                                 rill=os.path.abspath(a.rill))]
        if a.java_classpath:
            producers.append(self.client("producer-java", "P4", seconds + 5, rate=a.rate / 2, value_bytes=1000,
                                         java_classpath=a.java_classpath))
        # Transactions on a topic of their own: a transactional producer, a read_committed reader.
        producers.append(self.client("txn-producer", "T1", seconds + 5, rate=a.txn_rate, value_bytes=200))
        # Exactly-once consume-transform-produce from the main topic to one of its own.
        producers.append(self.client("ctp", "C1", seconds + 5))
        consumers = [self.client("txn-reader", "TR", seconds + 10),
                     self.client("assign", "A1", seconds + 10),
                     self.client("group", "G1", seconds + 10),
                     self.client("group", "G2", seconds + 10)]
        nemesis.run(schedule, self.t0, seconds)
        nemesis.heal()
        self.say("healed: every node up, links whole, disks free")
        for p in producers + consumers:
            self.wait(p, seconds + 180)
        self.say("clients done; final read")
        final = self.client("final", "F", 90)
        txn_final = self.client("txn-reader", "TF", 90, final=1)
        ctp_final = self.client("txn-reader", "TO", 90, final=1, topic="nemesis-ctp")
        for p in (final, txn_final, ctp_final):
            self.wait(p, 150)
        for process, p in self.clients:
            # An ElectLeaders call that timed out under a fault is no finding; every other client
            # must end cleanly, or its history stops early.
            if p.returncode != 0 and not process.startswith("admin-elect"):
                tail = open(os.path.join(self.dir, f"client-{process}.stderr"), errors="replace").read()[-1500:]
                self.client_exits.append({"process": process, "exit": p.returncode, "stderr-tail": tail})
        self.stop_monitor.set()
        mon.join()
        nemesis.expected_down = {n.i for n in h.nodes}
        for n in h.nodes:
            took = h.kill(n, signal.SIGTERM)
            if took is None:
                self.crashes.append({"node": n.i, "t": round(time.monotonic() - self.t0, 2),
                                     "exit": "did not stop within 30 s of SIGTERM"})
        return schedule, nemesis.counts

    def finish(self, schedule, counts):
        with open(os.path.join(self.dir, "node-crashes.json"), "w") as f:
            json.dump(self.crashes, f, indent=1)
        with open(os.path.join(self.dir, "client-exits.json"), "w") as f:
            json.dump(self.client_exits, f, indent=1)
        v = checker.check(checker.load(self.dir), {"node-crash": self.crashes, "client-exit": self.client_exits})
        v["faults"] = counts
        v["seed"] = self.seed
        v["stats"]["node stops on a full disk"] = len(self.disk_full_stops)
        with open(os.path.join(self.dir, "verdict.json"), "w") as f:
            json.dump(v, f, indent=1, sort_keys=True)
        text = checker.table(v)
        text = "faults: " + (", ".join(f"{k} {counts[k]}" for k in faults.CLASSES if k in counts) or "none") + "\n" + text
        with open(os.path.join(self.dir, "verdict.txt"), "w") as f:
            f.write(text + "\n")
        print(text, flush=True)
        return v

    def close(self):
        # First: the monitor would take the teardown's kills for crashes and start the nodes
        # again, outside any namespace left to stop them (a harness error once left three).
        self.stop_monitor.set()
        for _, p in self.clients:
            if p.poll() is None:
                p.kill()
        self.hosts.teardown()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=None, help="fault window of each run")
    ap.add_argument("--minutes", type=float, default=None, help="the same, in minutes")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000, help="first run's seed (next runs: +1)")
    ap.add_argument("--faults", default=None, help="comma-separated fault classes (default: a swarm draw per run)")
    ap.add_argument("--replay", default=None, help="a run's schedule.json: its faults again")
    ap.add_argument("--rate", type=float, default=100, help="sends per second of the librdkafka producer")
    ap.add_argument("--txn-rate", type=float, default=5, help="transactions per second of the transactional producer")
    ap.add_argument("--plant-bug", default=None, help="a broker bug for every node (testing.planted_bug), to prove the run catches it")
    ap.add_argument("--out", default=".nemesis")
    ap.add_argument("--rill", default=".build/debug/rill")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--java-classpath", default=None, help="the Java client's jars and NemesisProducer (ops/nemesis.sh sets it)")
    a = ap.parse_args()
    a.seconds = a.minutes * 60 if a.minutes else (a.seconds or 60)
    a.faults = a.faults.split(",") if a.faults else None
    for c in a.faults or []:
        if c not in faults.CLASSES:
            sys.exit(f"unknown fault class {c!r}; classes: {', '.join(faults.CLASSES)}")
    if a.replay:
        a.runs = 1
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    summary = []
    for r in range(a.runs):
        seed = json.load(open(a.replay))["seed"] if a.replay else a.seed + r
        out = os.path.join(a.out, time.strftime("%Y%m%d-%H%M%S") + f"-seed{seed}")
        run = Run(a, seed, out)
        try:
            schedule, counts = run.go()
            v = run.finish(schedule, counts)
            summary.append((seed, v, out))
        except KeyboardInterrupt:
            stop["now"] = True
            print("interrupted", flush=True)
        except Exception:
            # The harness itself failed (a tool, a namespace): the run has no verdict, which fails it.
            traceback.print_exc()
            summary.append((seed, {"valid": False, "anomalies": {"harness-error": [traceback.format_exc(limit=1)]},
                                   "stats": {}, "faults": {}}, out))
        finally:
            run.close()
        if stop["now"]:
            break
    print()
    print(f"{'seed':>6} {'verdict':<8} {'acked':>7} {'read':>7} {'anomalies':>9}  faults / dir")
    failed = 0
    totals = {}
    for seed, v, out in summary:
        n = sum(len(x) for x in v["anomalies"].values())
        failed += 0 if v["valid"] else 1
        for k, c in v["faults"].items():
            totals[k] = totals.get(k, 0) + c
        print(f"{seed:>6} {'valid' if v['valid'] else 'INVALID':<8} {v['stats'].get('sends ok', 0):>7} "
              f"{v['stats'].get('values read', 0):>7} {n:>9}  {json.dumps(v['faults'], sort_keys=True)} {out}")
    print(f"runs {len(summary)}, invalid {failed}; faults: {json.dumps(totals, sort_keys=True)}")
    sys.exit(1 if failed or stop["now"] or len(summary) < a.runs else 0)


if __name__ == "__main__":
    main()
