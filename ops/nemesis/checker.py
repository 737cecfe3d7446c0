"""The history checker of a nemesis run, after Jepsen's Kafka checker (jepsen.tests.kafka; see
docs/nemesis.md for how each anomaly is inferred).

  python3 ops/nemesis/checker.py RUN_DIR     # reads RUN_DIR/history-*.jsonl, prints the verdict

Keys are the partitions of one topic. Values are unique per process ("<process>-<n>"). A send is
`ok` (acknowledged, with its offset), `fail` (certainly not written) or `info` (unknown). Every
`ok` poll is evidence of what the log holds; so is every `ok` send's offset.
"""
import glob
import json
import os
import sys
from collections import defaultdict

# Anomalies that make a run fail. Nothing is allowed: consumers by assign must see every partition
# contiguously, and group members contiguously while they own a partition.
ANOMALIES = [
    "lost-write",          # acknowledged, never read, though reads went past it
    "unseen",              # acknowledged, never read by the end (after the final read)
    "duplicate",           # one value at two offsets
    "inconsistent-offset",  # one offset, two values
    "failed-write-read",   # a send the broker definitely refused, read anyway
    "corrupt-read",        # a consumer got a batch whose CRC failed, or a value not as written
    "nonmonotonic-send",   # one producer's later send to a partition landed at a lower offset
    "nonmonotonic-poll",   # a consumer read backwards (or the same offset again) with no seek
    "poll-skip",           # a consumer jumped over offsets it should have read
    "int-nonmonotonic-poll",  # inside one poll
    "int-poll-skip",       # inside one poll
    "group-skip",          # a new owner started past everything its group committed
    "producer-fatal",      # an idempotent producer hit a fatal error (its sequence state broke)
    "final-read-incomplete",  # the healed cluster did not serve every partition to its high watermark
    "txn-lost",            # a committed transaction none of whose values is in the final read_committed read
    "txn-torn",            # a transaction (committed, or of unknown outcome) only partly in it
    "txn-aborted-read",    # read_committed read a value of a transaction that did not commit (G1a)
    "txn-duplicate",       # a transactional value at two offsets
    "txn-inconsistent-offset",  # one offset of the transactional topic, two values
    "txn-final-incomplete",  # the final read_committed read did not reach every high watermark
    "ctp-lost",            # consume-transform-produce: an input below the committed offsets with no output
    "ctp-duplicate",       # an input with two outputs (not exactly once)
    "ctp-uncommitted-output",  # an output whose input is at or past the committed offsets
    "ctp-wrong-value",     # an output naming an input offset that holds another value
    "ctp-final-incomplete",  # no final committed offsets, or the output not read to its end
    "node-crash",          # a node exited without being told to (run.py adds these)
    "client-exit",         # a client process died (run.py adds these): its history stops early
]


def load(run_dir):
    ops = []
    for path in sorted(glob.glob(os.path.join(run_dir, "history-*.jsonl"))):
        with open(path) as f:
            for n, line in enumerate(f):
                line = line.strip()
                if line:
                    op = json.loads(line)
                    op["_seq"] = n
                    ops.append(op)
    return ops


def check(ops, extra=None):
    """The verdict of a history: {"anomalies": {name: [example...]}, "stats": {...}, "valid": bool}."""
    found = defaultdict(list)
    stats = defaultdict(int)
    by_process = defaultdict(list)
    for op in ops:
        by_process[op["p"]].append(op)

    # Sends: the completion of every invocation (none: unknown).
    sends = {}  # (process, i) -> dict(k, v, type, offset)
    for op in ops:
        if op.get("f") != "send":
            continue
        key = (op["p"], op["i"])
        if op["type"] == "invoke":
            sends.setdefault(key, {"k": op["k"], "v": op["v"], "type": "info", "offset": None, "p": op["p"], "i": op["i"]})
        else:
            s = sends.setdefault(key, {"k": op["k"], "v": op["v"], "p": op["p"], "i": op["i"]})
            if op.get("k") is not None:  # a producer that learns the partition only from the answer
                s["k"] = op["k"]
            s["type"] = op["type"]
            s["offset"] = op.get("offset")
    for s in sends.values():
        stats[f"sends {s['type']}"] += 1
    polls = [op for op in ops if op.get("f") == "poll" and op["type"] == "ok"]
    stats["polls ok"] = len(polls)
    stats["polls info"] = sum(1 for op in ops if op.get("f") == "poll" and op["type"] != "ok")
    stats["commits ok"] = sum(1 for op in ops if op.get("f") == "commit" and op["type"] == "ok")
    stats["commits info"] = sum(1 for op in ops if op.get("f") == "commit" and op["type"] != "ok")
    stats["rebalances seen"] = sum(1 for op in ops if op.get("f") == "assign" and not op.get("seek_to_beginning"))

    # The version order: key -> offset -> values, from acknowledged sends and every read.
    at = defaultdict(lambda: defaultdict(set))
    read = defaultdict(set)  # key -> values read
    for s in sends.values():
        if s["type"] == "ok" and s["offset"] is not None and s["offset"] >= 0:
            at[s["k"]][s["offset"]].add(s["v"])
    for op in polls:
        for k, pairs in op["value"].items():
            for off, v in pairs:
                at[int(k)][off].add(v)
                read[int(k)].add(v)
    stats["values read"] = sum(len(v) for v in read.values())
    index = {}  # key -> offset -> dense index (rank among observed offsets)
    for k, offs in at.items():
        index[k] = {o: n for n, o in enumerate(sorted(offs))}
        for o, vs in sorted(offs.items()):
            if len(vs) > 1:
                found["inconsistent-offset"].append({"k": k, "offset": o, "values": sorted(vs)})
        where = defaultdict(set)
        for o, vs in offs.items():
            for v in vs:
                where[v].add(o)
        for v, os_ in sorted(where.items()):
            if len(os_) > 1:
                found["duplicate"].append({"k": k, "value": v, "offsets": sorted(os_)})

    # Lost and unseen writes.
    for k in sorted(at):
        first_index = {}
        last_index = {}
        for o, vs in at[k].items():
            for v in vs:
                i = index[k][o]
                first_index[v] = min(first_index.get(v, i), i)
                last_index[v] = max(last_index.get(v, i), i)
        bound = max((first_index[v] for v in read[k]), default=-1)
        for s in sorted((s for s in sends.values() if s["k"] == k and s["type"] == "ok"), key=lambda s: (s["p"], s["i"])):
            v = s["v"]
            if v in read[k]:
                continue
            if v in last_index and last_index[v] <= bound:
                found["lost-write"].append({"k": k, "value": v, "offset": s["offset"], "index": last_index[v], "read-bound": bound})
            else:
                found["unseen"].append({"k": k, "value": v, "offset": s["offset"]})
    all_read = set().union(*read.values()) if read else set()
    for s in sends.values():
        if s["type"] == "fail" and s["v"] in all_read:
            found["failed-write-read"].append({"k": s["k"], "value": s["v"]})

    # One producer's acknowledged sends to a partition land in the order it sent them.
    per = defaultdict(list)
    for s in sends.values():
        if s["type"] == "ok" and s["offset"] is not None:
            per[(s["p"], s["k"])].append(s)
    for (p, k), ss in sorted(per.items()):
        ss.sort(key=lambda s: s["i"])
        for a, b in zip(ss, ss[1:]):
            if b["offset"] <= a["offset"]:
                found["nonmonotonic-send"].append({"process": p, "k": k, "earlier": [a["v"], a["offset"]], "later": [b["v"], b["offset"]]})

    # Consumers, each in its own order: contiguous reads of what they own.
    commits = defaultdict(list)  # key -> [(invoked at, offset)] of every commit attempt
    for op in ops:
        if op.get("f") == "commit":
            for k, off in op.get("offsets", {}).items():
                commits[int(k)].append((op.get("t0", op["t"]), off))
    for p, pops in sorted(by_process.items()):
        last = {}       # key -> index of the last value read
        owned = None    # None: not a group member; else the keys it owns
        fresh = set()   # keys whose next poll starts a span (after an assign)
        for op in pops:
            f, t = op.get("f"), op["type"]
            if f == "assign" and t == "ok":
                keys = set(op["keys"])
                if op.get("seek_to_beginning"):
                    last = {k: -1 for k in keys}
                    owned = None
                else:
                    prev = owned or set()
                    fresh |= keys - prev
                    owned = keys
                    last = {k: i for k, i in last.items() if k in keys and k not in fresh}
            elif f == "revoke" and t == "ok":
                owned = (owned or set()) - set(op["keys"])
                for k in op["keys"]:
                    last.pop(k, None)
                    fresh.discard(k)
            elif f == "poll" and t == "ok":
                for ks, pairs in sorted(op["value"].items()):
                    k = int(ks)
                    idx = [index[k][o] for o, _ in pairs]
                    for (o1, v1), (o2, v2), i1, i2 in zip(pairs, pairs[1:], idx, idx[1:]):
                        if i2 - i1 > 1:
                            found["int-poll-skip"].append({"process": p, "k": k, "t": op["t"], "from": o1, "to": o2})
                        elif i2 - i1 < 1:
                            found["int-nonmonotonic-poll"].append({"process": p, "k": k, "t": op["t"], "from": o1, "to": o2})
                    if k in fresh:
                        fresh.discard(k)
                        before = [off for t0, off in commits[k] if t0 < op["t"]]
                        committed = max(before, default=0)
                        if pairs[0][0] > committed:
                            found["group-skip"].append({"process": p, "k": k, "t": op["t"], "first": pairs[0][0],
                                                        "committed": committed})
                    elif k in last:
                        d = idx[0] - last[k]
                        if d > 1:
                            found["poll-skip"].append({"process": p, "k": k, "t": op["t"], "after-index": last[k], "index": idx[0]})
                        elif d < 1:
                            found["nonmonotonic-poll"].append({"process": p, "k": k, "t": op["t"], "after-index": last[k], "index": idx[0]})
                    last[k] = idx[-1]

    for op in ops:
        if op.get("f") == "corrupt-read":
            found["corrupt-read"].append({k: op.get(k) for k in ("p", "k", "offset", "err", "value") if op.get(k) is not None})
        if op.get("f") == "client-error" and op.get("fatal"):
            found["producer-fatal"].append({"process": op["p"], "t": op["t"], "err": op.get("err")})
    finals = [op for op in ops if op.get("f") == "final"]
    if not finals or any(op["type"] != "ok" for op in finals):
        found["final-read-incomplete"].append({"final": [{k: op.get(k) for k in ("high", "reached")} for op in finals]})
    check_transactions(ops, found, stats)
    check_consume_transform_produce(ops, at, found, stats)
    for name, items in (extra or {}).items():
        found[name].extend(items)
    return {"anomalies": {a: found.get(a, []) for a in ANOMALIES}, "stats": dict(sorted(stats.items())),
            "valid": not any(found.values())}


def check_transactions(ops, found, stats):
    """The transactional workload (txn-producer, txn-reader): after the heal every transaction is
    decided, so the final read_committed read must hold every value of each committed transaction
    and none of an aborted one, each once; a transaction of unknown outcome all or nothing; and
    whatever read_committed consumers read during the run must be in it (nothing they saw was
    later aborted: Jepsen's G1a)."""
    txns = {}  # (process, i) -> {"values": [[k, v]...], "type": ok | fail | info}
    for op in ops:
        if op.get("f") != "txn":
            continue
        t = txns.setdefault((op["p"], op["i"]), {"values": op["values"], "type": "info"})
        if op["type"] != "invoke":
            t["type"] = op["type"]
    if not txns:
        return
    for t in txns.values():
        stats[f"txns {t['type']}"] += 1
    where = defaultdict(set)   # (key, value) -> offsets, over every read
    at = defaultdict(set)      # (key, offset) -> values
    final = set()
    during = {}                # value -> where a read_committed consumer read it during the run
    for op in ops:
        if op.get("f") != "txn-poll" or op["type"] != "ok":
            continue
        for ks, pairs in op["value"].items():
            for off, v in pairs:
                where[(int(ks), v)].add(off)
                at[(int(ks), off)].add(v)
                if op.get("final"):
                    final.add(v)
                else:
                    during.setdefault(v, {"process": op["p"], "k": int(ks), "offset": off, "t": op["t"]})
    stats["txn values read"] = len(final)
    for (k, v), offs in sorted(where.items()):
        if len(offs) > 1:
            found["txn-duplicate"].append({"k": k, "value": v, "offsets": sorted(offs)})
    for (k, off), vs in sorted(at.items()):
        if len(vs) > 1:
            found["txn-inconsistent-offset"].append({"k": k, "offset": off, "values": sorted(vs)})
    finals = [op for op in ops if op.get("f") == "txn-final"]
    if not finals or any(op["type"] != "ok" for op in finals):
        found["txn-final-incomplete"].append({"final": [{k: op.get(k) for k in ("high", "reached")} for op in finals]})
        return  # without a whole final read, nothing below can be judged
    for (p, i), t in sorted(txns.items()):
        vs = [v for _, v in t["values"]]
        present = [v for v in vs if v in final]
        example = {"process": p, "i": i, "values": vs, "read": present}
        if t["type"] == "ok" and not present:
            found["txn-lost"].append(example)
        elif t["type"] in ("ok", "info") and present and len(present) < len(vs):
            found["txn-torn"].append(example)
        elif t["type"] == "fail" and present:
            found["txn-aborted-read"].append(dict(example, when="final"))
    for v, ex in sorted(during.items()):
        if v not in final:
            found["txn-aborted-read"].append(dict(ex, value=v, when="during the run"))
    stats["txn fatal errors"] = sum(1 for op in ops if op.get("f") == "client-error" and op.get("txn_fatal"))


def check_consume_transform_produce(ops, at, found, stats):
    """The exactly-once loop (workload.py's ctp): its output holds "<value>/<partition>/<offset>"
    for each input it read, and the group's offsets were committed in the same transactions. So,
    with the offsets it last committed and the output read to its end (read_committed): every
    input below them has exactly one output, none at or past them has any, and each output names
    the value its input offset holds (`at`: the input topic's offsets and values, as read)."""
    if not any(op.get("f") == "ctp" for op in ops):
        return
    for t in ("ok", "fail", "info"):
        stats[f"ctp txns {t}"] = sum(1 for op in ops if op.get("f") == "ctp" and op["type"] == t)
    last = [op for op in ops if op.get("f") == "ctp-committed" and op["type"] == "ok"]
    finals = [op for op in ops if op.get("f") == "txn-final" and op.get("topic") == "nemesis-ctp"]
    if not last or not finals or any(op["type"] != "ok" for op in finals):
        found["ctp-final-incomplete"].append({"committed": bool(last), "final": [op["type"] for op in finals]})
        return
    committed = {int(k): max(0, v) for k, v in last[-1]["offsets"].items()}
    outputs = defaultdict(set)  # (input key, input offset) -> {(output key, output offset)}
    named = {}                  # (input key, input offset) -> the value the output names
    for op in ops:
        if op.get("f") != "ctp-poll" or op["type"] != "ok" or not op.get("final"):
            continue
        for ks, pairs in op["value"].items():
            for off, vid in pairs:
                v, k, o = vid.rsplit("/", 2)
                outputs[(int(k), int(o))].add((int(ks), off))
                named[(int(k), int(o))] = v
    stats["ctp outputs read"] = sum(len(x) for x in outputs.values())
    for k in sorted(committed):
        for o in sorted(at.get(k, {})):
            if o >= committed[k]:
                break
            if not outputs.get((k, o)):
                found["ctp-lost"].append({"k": k, "offset": o, "values": sorted(at[k][o]), "committed": committed[k]})
    for (k, o), outs in sorted(outputs.items()):
        if len(outs) > 1:
            found["ctp-duplicate"].append({"k": k, "offset": o, "outputs": sorted(outs)})
        if o >= committed.get(k, 0):
            found["ctp-uncommitted-output"].append({"k": k, "offset": o, "committed": committed.get(k, 0)})
        elif named[(k, o)] not in at.get(k, {}).get(o, set()):
            found["ctp-wrong-value"].append({"k": k, "offset": o, "named": named[(k, o)], "holds": sorted(at.get(k, {}).get(o, set()))})


def table(verdict):
    lines = [f"{'anomaly':<24} {'count':>6}  first example"]
    for a, items in verdict["anomalies"].items():
        ex = json.dumps(items[0], sort_keys=True)[:110] if items else ""
        lines.append(f"{a:<24} {len(items):>6}  {ex}")
    lines.append("")
    lines += [f"{k:<24} {v:>6}" for k, v in verdict["stats"].items()]
    lines.append("")
    lines.append("verdict: " + ("VALID" if verdict["valid"] else "INVALID"))
    return "\n".join(lines)


if __name__ == "__main__":
    run = sys.argv[1]
    extra = {}
    for name, file in (("node-crash", "node-crashes.json"), ("client-exit", "client-exits.json")):
        if os.path.exists(os.path.join(run, file)):
            extra[name] = json.load(open(os.path.join(run, file)))
    v = check(load(run), extra)
    print(table(v))
    sys.exit(0 if v["valid"] else 1)
