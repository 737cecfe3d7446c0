"""Where the time of a one-record acks=all produce goes: scrape every node's /metrics and CPU
time before and after a run, then report per node the median of each latency histogram over the
run, storage batches (one fsync each) per second and CPU use.

    NODES="host:metricsport:pid,..." python3 ops/latency_breakdown.py before FILE
    NODES=... python3 ops/latency_breakdown.py after FILE     (prints one JSON line)
"""
import json
import os
import re
import sys
import time
import urllib.request

HISTOGRAMS = {
    "rill_kafka_produce_seconds": "produce_p50_us",  # request read -> response written (leader)
    "rill_storage_batch_round_trip_seconds": "batch_round_trip_p50_us",  # loop -> disk thread -> loop
    "rill_storage_batch_sync_seconds": "batch_sync_p50_us",  # write + fdatasync on the disk thread
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def nodes():
    for item in os.environ["NODES"].split(","):
        host, port, pid = item.split(":")
        yield f"{host}:{port}", int(pid)


def scrape(address):
    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(\w+?)(_bucket\{le="([^"]+)"\}|_count|_total)?(\{[^}]*\})? ([\d.e+-]+)$', line)
        if not m:
            continue
        name, suffix, le, value = m.group(1), m.group(2) or "", m.group(3), float(m.group(5))
        if suffix.startswith("_bucket"):
            out.setdefault(name, {}).setdefault("buckets", {})[le] = value
        elif suffix == "_count":
            out.setdefault(name, {})["count"] = value
        elif suffix == "_total":
            out[name + "_total"] = value
    return out


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def snapshot():
    return {"time": time.time(), "nodes": {a: {"metrics": scrape(a), "cpu": cpu_seconds(p)} for a, p in nodes()}}


def median_us(before, after):
    """The median of the observations made between two scrapes, by linear interpolation inside
    the histogram bucket that holds it."""
    b, a = before.get("buckets", {}), after.get("buckets", {})
    bounds = sorted((float(le), le) for le in a if le != "+Inf")
    total = after.get("count", 0) - before.get("count", 0)
    if total <= 0:
        return None
    half, lower, below = total / 2, 0.0, 0.0
    for bound, le in bounds:
        cumulative = a[le] - b.get(le, 0)
        if cumulative >= half:
            share = (half - below) / max(cumulative - below, 1e-9)
            return round((lower + share * (bound - lower)) * 1e6)
        lower, below = bound, cumulative
    return None


def report(first, second):
    seconds = second["time"] - first["time"]
    out = {"test": "latency-breakdown", "seconds": round(seconds, 1), "nodes": {}}
    for address, now in second["nodes"].items():
        then = first["nodes"][address]
        node = {}
        for metric, key in HISTOGRAMS.items():
            node[key] = median_us(then["metrics"].get(metric, {}), now["metrics"].get(metric, {}))
        batches = now["metrics"].get("rill_storage_batches_total", 0) - then["metrics"].get("rill_storage_batches_total", 0)
        node["storage_batches_per_s"] = round(batches / seconds)
        node["cpu_percent"] = round(100 * (now["cpu"] - then["cpu"]) / seconds)
        out["nodes"][address] = node
    return out


if __name__ == "__main__":
    phase, path = sys.argv[1], sys.argv[2]
    if phase == "before":
        json.dump(snapshot(), open(path, "w"))
    else:
        print(json.dumps(report(json.load(open(path)), snapshot())), flush=True)
