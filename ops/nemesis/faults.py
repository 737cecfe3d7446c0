"""Faults of a nemesis run: a schedule drawn from a seed (swarm style: each run takes a random
subset of the fault classes), saved with the run, and carried out against the hosts one fault at a
time, every step logged with its time. A schedule file replays a run's faults exactly.

Fault classes (at most one node impaired at a time, but `kill` may take all three at once):
  kill        kill -9 one node (or all), start it again after the fault's duration
  pause       SIGSTOP one node, SIGCONT after
  partition   isolate one node from the others; a bridge (two nodes cut apart, a third sees both);
              or one way (packets from one node to another dropped)
  slow-lossy  slow and lossy links on one node or all: a token bucket of 1-8 Mbit/s (tc tbf; what
              waits over 300 ms is dropped) and 0-10 % of arriving packets dropped at random
  disk-full   one node's data disk filled to a few MiB (or 0 bytes) free
  bitflip     one node stopped, bytes flipped in one of its closed segments, started again
  leader-move ElectLeaders (preferred replicas) for every partition
  restart     SIGTERM one node (graceful), start it again
"""
import json
import os
import random
import signal
import time

CLASSES = ["kill", "pause", "partition", "slow-lossy", "disk-full", "bitflip", "leader-move", "restart"]


def draw(seed, seconds, classes=None, nodes=3):
    """A run's fault schedule: [{at, class, duration, ...}] over [5, seconds - 5) seconds."""
    rng = random.Random(seed)
    if classes is None:
        classes = [c for c in CLASSES if rng.random() < 0.5]
        while len(classes) < 3:
            c = rng.choice(CLASSES)
            if c not in classes:
                classes.append(c)
        classes.sort(key=CLASSES.index)
    out = []
    t = 5.0
    # Every class of the run once (in a seeded order) while time allows, then any of them.
    first = rng.sample(classes, len(classes))
    while True:
        c = first.pop(0) if first else rng.choice(classes)
        d = round(rng.uniform(2, 8), 2)
        if t + d > seconds - 5:
            break
        ev = {"at": round(t, 2), "class": c, "duration": d, "node": rng.randint(1, nodes)}
        if c == "kill" and rng.random() < 0.15:
            ev["node"] = "all"
        elif c == "partition":
            ev["shape"] = rng.choice(["isolate", "bridge", "one-way"])
            ev["other"] = rng.choice([i for i in range(1, nodes + 1) if i != ev["node"]])
        elif c == "slow-lossy":
            ev["node"] = rng.choice([ev["node"], "all"])
            ev["rate_mbit"] = rng.choice([1, 2, 8])
            ev["loss_pct"] = rng.choice([0, 2, 10])
        elif c == "disk-full":
            ev["leave_mib"] = rng.choice([0, 4])
        elif c == "bitflip":
            ev["flips"] = rng.randint(1, 3)
            ev["pick"] = rng.randrange(1 << 30)
        out.append(ev)
        t += d + rng.uniform(2, 6)
    return {"seed": seed, "seconds": seconds, "classes": classes, "events": out}


class Nemesis:
    def __init__(self, hosts, log, elect):
        self.h = hosts
        self.log = log          # log(dict): one line of the fault log
        self.elect = elect      # elect(): ElectLeaders from the clients' namespace
        self.counts = {}
        self.expected_down = set()
        # The node whose disk a fault is filling: a write that finds no space at all stops a node
        # by design (docs/operations.md, "Disk space"), and a supervisor starts it again.
        self.disk_full_node = None

    def node(self, i):
        return self.h.nodes[i - 1]

    def targets(self, ev):
        return self.h.nodes if ev["node"] == "all" else [self.node(ev["node"])]

    def run(self, schedule, t0, stop_at):
        for ev in schedule["events"]:
            while time.monotonic() - t0 < ev["at"]:
                time.sleep(0.05)
            if time.monotonic() - t0 >= stop_at:
                break
            self.counts[ev["class"]] = self.counts.get(ev["class"], 0) + 1
            self.apply(ev, t0)

    def apply(self, ev, t0):
        c = ev["class"]
        note = {}
        start = time.monotonic()
        self.log({"t": round(start - t0, 3), "event": "start", **ev})
        if c in ("kill", "bitflip", "restart"):
            for n in self.targets(ev):
                self.expected_down.add(n.i)
                took = self.h.kill(n, signal.SIGTERM if c == "restart" else signal.SIGKILL)
                if c == "restart":
                    note[f"stop-{n.i}-seconds"] = None if took is None else round(took, 2)
            if c == "bitflip":
                note.update(self.flip(self.node(ev["node"]), ev))
            time.sleep(ev["duration"])
            for n in self.targets(ev):
                self.h.start(n)
                self.expected_down.discard(n.i)
        elif c == "pause":
            n = self.node(ev["node"])
            self.h.pause(n)
            time.sleep(ev["duration"])
            self.h.resume(n)
        elif c == "partition":
            a, b = self.node(ev["node"]), self.node(ev["other"])
            if ev["shape"] == "isolate":
                for o in self.h.nodes:
                    if o is not a:
                        self.h.drop(a, o)
                        self.h.drop(o, a)
            elif ev["shape"] == "bridge":
                # `a` is the bridge: the two others cannot reach each other.
                x, y = [o for o in self.h.nodes if o is not a][:2]
                self.h.drop(x, y)
                self.h.drop(y, x)
            else:
                self.h.drop(a, b)
            time.sleep(ev["duration"])
            self.h.heal_network()
        elif c == "slow-lossy":
            for n in self.targets(ev):
                self.h.slow_lossy(n, ev["rate_mbit"], ev["loss_pct"])
            time.sleep(ev["duration"])
            self.h.heal_network()
        elif c == "disk-full":
            n = self.node(ev["node"])
            self.disk_full_node = n.i
            note["ballast_bytes"] = self.h.fill_disk(n, ev["leave_mib"] << 20)
            time.sleep(ev["duration"])
            self.h.free_disk(n)
            self.disk_full_node = None
        elif c == "leader-move":
            note["elect"] = self.elect()
            time.sleep(ev["duration"])
        self.log({"t": round(time.monotonic() - t0, 3), "event": "end", "class": c, **note})

    def flip(self, n, ev):
        segs = self.h.closed_segments(n)
        if not segs:
            return {"flipped": "no closed segment yet"}
        rng = random.Random(ev["pick"])
        path = segs[rng.randrange(len(segs))]
        size = os.path.getsize(path)
        flips = []
        with open(path, "r+b") as f:
            for _ in range(ev["flips"]):
                off = rng.randrange(size)
                f.seek(off)
                b = f.read(1)[0]
                bit = 1 << rng.randrange(8)
                f.seek(off)
                f.write(bytes([b ^ bit]))
                flips.append([off, bit])
        return {"flipped": path.split("/data/", 1)[-1], "at": flips}

    def heal(self):
        self.h.heal_network()
        for n in self.h.nodes:
            self.h.resume(n)
            self.h.free_disk(n)
            if not n.running():
                self.h.start(n)
        self.expected_down.clear()


def save(schedule, path):
    with open(path, "w") as f:
        json.dump(schedule, f, indent=1, sort_keys=True)
