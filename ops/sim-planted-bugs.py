#!/usr/bin/env python3
"""How many seeds the simulator needs to catch each planted bug, with the simulated clients'
misbehaviour drawn per seed (as in every run), with none of it, and with each behaviour alone
(`rill-sim --clients`). Prints a Markdown table: per bug and client setting, the first seed of
1..N that fails and the property it fails, or "-" if none of the N does.

    swift build -c release --product rill-sim
    python3 ops/sim-planted-bugs.py [--seeds 200] [--seconds 60] [--jobs 2] [--bugs a,b]
"""
import argparse
import concurrent.futures
import re
import subprocess
import sys

BEHAVIOURS = ["pipelining", "zombies", "stale-members", "client-faults"]
BROKER_BUGS = ["sync-before-persist", "fetch-before-commits", "snapshot-lagging-followers",
               "deaf-failure-detector", "ack-on-append", "accept-old-sequences",
               "accept-fenced-epoch", "commit-any-member", "move-completes-early"]


def first_failure(binary, bug, clients, seeds, seconds):
    cmd = [binary, "--seeds", str(seeds), "--start", "1", "--seconds", str(seconds),
           "--plant-bug", bug, "--stop-on-failure"]
    if clients is not None:
        cmd += ["--clients", clients]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    m = re.search(r"^FAIL seed (\d+): (?:SAFETY VIOLATION \[([^\]]+)\]|(LIVENESS)[^:]*|(.{0,40}))", out, re.M)
    if not m:
        return "-"
    what = m.group(2) or (m.group(3) and "liveness") or (m.group(4) or "").strip()
    return f"{m.group(1)} ({what})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=".build/release/rill-sim")
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--bugs", default=",".join(BROKER_BUGS))
    a = ap.parse_args()
    bugs = a.bugs.split(",")
    settings = [("drawn", None), ("none", "none")] + [(b, b) for b in BEHAVIOURS]
    jobs = {}
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        for bug in bugs:
            for name, clients in settings:
                jobs[(bug, name)] = pool.submit(first_failure, a.binary, bug, clients, a.seeds, a.seconds)
        print(f"First failing seed of 1-{a.seeds} ({a.seconds} s safety phase each), by client setting:\n")
        print("| planted bug | " + " | ".join(n for n, _ in settings) + " |")
        print("|---" * (len(settings) + 1) + "|")
        for bug in bugs:
            cells = [jobs[(bug, n)].result() for n, _ in settings]
            print(f"| {bug} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
