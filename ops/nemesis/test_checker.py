"""The checker against small histories with one anomaly each (and a clean one): every anomaly it
claims to find, it finds, and a valid history stays valid.

  python3 -m unittest ops/nemesis/test_checker.py
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402


class H:
    """A history builder: sends, polls, assigns, commits, in order."""

    def __init__(self):
        self.ops = []
        self.t = 0.0
        self.n = {}

    def op(self, **kw):
        self.t += 0.01
        kw.setdefault("t", round(self.t, 3))
        self.ops.append(kw)
        return self

    def send(self, p, k, offset, typ="ok"):
        i = self.n[p] = self.n.get(p, 0) + 1
        v = f"{p}-{i}"
        self.op(p=p, f="send", type="invoke", i=i, k=k, v=v)
        if typ is not None:
            self.op(p=p, f="send", type=typ, i=i, k=k, v=v, **({"offset": offset} if typ == "ok" else {}))
        return v

    def poll(self, p, k, pairs):
        return self.op(p=p, f="poll", type="ok", value={str(k): [list(x) for x in pairs]})

    def assign(self, p, keys, beginning=False):
        return self.op(p=p, f="assign", type="ok", keys=keys, **({"seek_to_beginning": True} if beginning else {}))

    def final(self, ok=True):
        return self.op(p="F", f="final", type="ok" if ok else "info", high={}, reached={})

    def txn(self, p, i, values, typ):
        """Transaction i of process p: values [[k, v]...], outcome ok / fail / info (None: no
        completion, also unknown)."""
        self.op(p=p, f="txn", type="invoke", i=i, values=values)
        if typ is not None:
            self.op(p=p, f="txn", type=typ, i=i, values=values)
        return self

    def txn_poll(self, p, k, pairs, final):
        return self.op(p=p, f="txn-poll", type="ok", value={str(k): [list(x) for x in pairs]}, final=final)

    def txn_final(self, ok=True):
        return self.op(p="TF", f="txn-final", type="ok" if ok else "info", high={}, reached={})

    def verdict(self):
        return checker.check(self.ops)


def found(v):
    return {a for a, items in v["anomalies"].items() if items}


class CheckerTests(unittest.TestCase):
    def clean(self):
        h = H()
        a = h.send("P", 0, 0)
        b = h.send("P", 0, 1)
        h.assign("C", [0], beginning=True)
        h.poll("C", 0, [(0, a), (1, b)])
        return h, a, b

    def test_clean_history_is_valid(self):
        h, _, _ = self.clean()
        v = h.final().verdict()
        self.assertEqual(found(v), set())
        self.assertTrue(v["valid"])
        self.assertEqual(v["stats"]["sends ok"], 2)

    def test_lost_write(self):
        h = H()
        h.send("P", 0, 0)
        b = h.send("P", 0, 1)
        h.assign("C", [0], beginning=True)
        # Read offset 1 but never the acknowledged value at offset 0 (and no read of offset 0).
        h.op(p="C", f="poll", type="ok", value={"0": [[1, b]]})
        v = h.final().verdict()
        self.assertIn("lost-write", found(v))
        self.assertFalse(v["valid"])

    def test_unseen(self):
        h, a, b = self.clean()
        h.send("P", 0, 2)
        self.assertEqual(found(h.final().verdict()), {"unseen"})

    def test_duplicate_and_inconsistent_offset(self):
        h, a, b = self.clean()
        h.poll("C", 0, [(2, a)])  # a again, at a second offset
        self.assertIn("duplicate", found(h.final().verdict()))
        h, a, b = self.clean()
        h.assign("D", [0], beginning=True)
        h.poll("D", 0, [(0, "Q-1"), (1, b)])  # offset 0 holds a for the producer, Q-1 for this reader
        self.assertIn("inconsistent-offset", found(h.final().verdict()))

    def test_failed_write_read(self):
        h, a, b = self.clean()
        c = h.send("P", 0, None, typ="fail")
        h.poll("C", 0, [(2, c)])
        self.assertEqual(found(h.final().verdict()), {"failed-write-read"})

    def test_indefinite_write_read_is_fine(self):
        h, a, b = self.clean()
        c = h.send("P", 0, None, typ="info")
        h.poll("C", 0, [(2, c)])
        self.assertEqual(found(h.final().verdict()), set())

    def test_nonmonotonic_send(self):
        h = H()
        a = h.send("P", 0, 1)
        b = h.send("P", 0, 0)  # sent later, landed earlier
        h.assign("C", [0], beginning=True)
        h.poll("C", 0, [(0, b), (1, a)])
        self.assertEqual(found(h.final().verdict()), {"nonmonotonic-send"})

    def test_poll_skip_and_nonmonotonic_poll(self):
        h = H()
        vs = [h.send("P", 0, o) for o in range(4)]
        h.assign("C", [0], beginning=True)
        h.poll("C", 0, [(0, vs[0]), (1, vs[1])])
        h.poll("C", 0, [(3, vs[3])])
        h.assign("D", [0], beginning=True)
        h.poll("D", 0, [(0, vs[0]), (1, vs[1]), (2, vs[2]), (3, vs[3])])
        self.assertEqual(found(h.final().verdict()), {"poll-skip"})
        h = H()
        vs = [h.send("P", 0, o) for o in range(3)]
        h.assign("C", [0], beginning=True)
        h.poll("C", 0, [(0, vs[0]), (1, vs[1]), (2, vs[2])])
        h.poll("C", 0, [(1, vs[1])])
        self.assertEqual(found(h.final().verdict()), {"nonmonotonic-poll"})

    def test_a_seek_to_beginning_must_start_at_the_beginning(self):
        h = H()
        vs = [h.send("P", 0, o) for o in range(3)]
        h.assign("D", [0], beginning=True)
        h.poll("D", 0, [(0, vs[0]), (1, vs[1]), (2, vs[2])])
        h.assign("C", [0], beginning=True)
        h.poll("C", 0, [(1, vs[1]), (2, vs[2])])
        self.assertEqual(found(h.final().verdict()), {"poll-skip"})

    def test_skips_inside_one_poll(self):
        h = H()
        vs = [h.send("P", 0, o) for o in range(3)]
        h.assign("D", [0], beginning=True)
        h.poll("D", 0, [(0, vs[0]), (1, vs[1]), (2, vs[2])])
        h.assign("C", [0], beginning=True)
        h.poll("C", 0, [(0, vs[0]), (2, vs[2])])
        self.assertIn("int-poll-skip", found(h.final().verdict()))
        h = H()
        vs = [h.send("P", 0, o) for o in range(3)]
        h.assign("C", [0], beginning=True)
        h.poll("C", 0, [(0, vs[0]), (1, vs[1]), (2, vs[2]), (1, vs[1])])
        self.assertIn("int-nonmonotonic-poll", found(h.final().verdict()))

    def test_group_member_starts_at_the_groups_commit(self):
        def history(first):
            h = H()
            vs = [h.send("P", 0, o) for o in range(6)]
            h.assign("G1", [0])
            h.poll("G1", 0, [(0, vs[0]), (1, vs[1])])
            h.op(p="G1", f="commit", type="ok", t0=h.t, offsets={"0": 2})
            h.op(p="G1", f="revoke", type="ok", keys=[0])
            h.assign("G2", [0])
            h.poll("G2", 0, [(o, vs[o]) for o in range(first, 6)])
            h.assign("D", [0], beginning=True)
            h.poll("D", 0, [(o, vs[o]) for o in range(6)])
            return h.final().verdict()
        self.assertEqual(found(history(2)), set())
        self.assertEqual(found(history(1)), set(), "reading again is allowed (at least once)")
        self.assertEqual(found(history(4)), {"group-skip"})

    def test_owner_reads_contiguously(self):
        h = H()
        vs = [h.send("P", 0, o) for o in range(4)]
        h.assign("G1", [0])
        h.poll("G1", 0, [(0, vs[0]), (1, vs[1])])
        h.poll("G1", 0, [(3, vs[3])])
        h.assign("D", [0], beginning=True)
        h.poll("D", 0, [(o, vs[o]) for o in range(4)])
        self.assertEqual(found(h.final().verdict()), {"poll-skip"})

    def test_fatal_producer_and_incomplete_final_read(self):
        h, _, _ = self.clean()
        h.op(p="P", f="client-error", type="info", err="fatal", fatal=True)
        self.assertEqual(found(h.final(ok=False).verdict()), {"producer-fatal", "final-read-incomplete"})

    def test_corrupt_read(self):
        h, _, _ = self.clean()
        h.op(p="C", f="corrupt-read", type="ok", k=0, offset=1, err="Local: Bad message format")
        self.assertEqual(found(h.final().verdict()), {"corrupt-read"})

    def test_node_crash_from_the_runner(self):
        h, _, _ = self.clean()
        v = checker.check(h.final().ops, {"node-crash": [{"node": 2, "exit": -6}]})
        self.assertEqual(found(v), {"node-crash"})

    def txns(self):
        """Committed T-1 (two partitions), aborted T-2, unknown T-3 that committed, unknown T-4
        that did not; the final read holds exactly T-1's and T-3's values."""
        h, _, _ = self.clean()
        h.final()
        h.txn("T", 1, [[0, "T-1-0"], [1, "T-1-1"]], "ok")
        h.txn("T", 2, [[0, "T-2-0"]], "fail")
        h.txn("T", 3, [[2, "T-3-0"]], "info")
        h.txn("T", 4, [[1, "T-4-0"], [2, "T-4-1"]], None)
        h.txn_poll("TR", 0, [(0, "T-1-0")], final=False)
        return h

    def final_txn_reads(self, h, drop=(), extra=()):
        reads = [(0, 0, "T-1-0"), (1, 0, "T-1-1"), (2, 0, "T-3-0")] + list(extra)
        for k, off, v in reads:
            if v not in drop:
                h.txn_poll("TF", k, [(off, v)], final=True)
        return h.txn_final()

    def test_transactions_clean(self):
        v = self.final_txn_reads(self.txns()).verdict()
        self.assertEqual(found(v), set())
        self.assertEqual((v["stats"]["txns ok"], v["stats"]["txns fail"], v["stats"]["txns info"]), (1, 1, 2))

    def test_transaction_lost_and_torn(self):
        self.assertEqual(found(self.final_txn_reads(self.txns(), drop={"T-1-0", "T-1-1"}).verdict()), {"txn-lost", "txn-aborted-read"})
        self.assertEqual(found(self.final_txn_reads(self.txns(), drop={"T-1-1"}).verdict()), {"txn-torn"})
        # An unknown outcome, half there: torn too.
        self.assertEqual(found(self.final_txn_reads(self.txns(), extra=[(1, 1, "T-4-0")]).verdict()), {"txn-torn"})

    def test_aborted_reads(self):
        # The aborted transaction's value in the final read_committed read (G1a) ...
        self.assertEqual(found(self.final_txn_reads(self.txns(), extra=[(0, 1, "T-2-0")]).verdict()), {"txn-aborted-read"})
        # ... or read during the run by a value the end does not hold.
        h = self.txns().txn_poll("TR", 1, [(1, "T-4-0")], final=False)
        self.assertEqual(found(self.final_txn_reads(h).verdict()), {"txn-aborted-read"})

    def test_transaction_duplicates_and_final_read(self):
        h = self.txns()
        self.assertEqual(found(self.final_txn_reads(h, extra=[(0, 5, "T-1-0")]).verdict()), {"txn-duplicate"})
        h = self.txns()
        self.assertEqual(found(self.final_txn_reads(h, extra=[(2, 0, "T-9-9")]).verdict()), {"txn-inconsistent-offset"})
        h = self.txns()
        h.txn_final(ok=False)
        self.assertEqual(found(h.verdict()), {"txn-final-incomplete"})

    def ctp(self, outputs, committed=2):
        """Input P-1, P-2 at offsets 0, 1 of key 0 (read by C); the loop committed offset
        `committed`; `outputs`: [(output offset, "<value>/<key>/<offset>")] read to the end."""
        h, _, _ = self.clean()
        h.final()
        h.op(p="C1", f="ctp", type="ok", i=1, n=2, offsets={"0": committed})
        h.op(p="C1", f="ctp-committed", type="ok", offsets={"0": committed})
        for off, vid in outputs:
            h.op(p="TO", f="ctp-poll", type="ok", value={"0": [[off, vid]]}, final=True)
        return h.op(p="TO", f="txn-final", type="ok", topic="nemesis-ctp", high={}, reached={})

    def test_ctp_exactly_once(self):
        self.assertEqual(found(self.ctp([(0, "P-1/0/0"), (1, "P-2/0/1")]).verdict()), set())
        self.assertEqual(found(self.ctp([(0, "P-1/0/0")]).verdict()), {"ctp-lost"})
        self.assertEqual(found(self.ctp([(0, "P-1/0/0"), (1, "P-2/0/1"), (2, "P-2/0/1")]).verdict()), {"ctp-duplicate"})
        self.assertEqual(found(self.ctp([(0, "P-1/0/0"), (1, "P-2/0/1")], committed=1).verdict()), {"ctp-uncommitted-output"})
        self.assertEqual(found(self.ctp([(0, "P-1/0/0"), (1, "P-9/0/1")]).verdict()), {"ctp-wrong-value"})
        h = self.ctp([(0, "P-1/0/0"), (1, "P-2/0/1")])
        h.ops = [op for op in h.ops if op.get("f") != "ctp-committed"]
        self.assertEqual(found(h.verdict()), {"ctp-final-incomplete"})


if __name__ == "__main__":
    unittest.main()
