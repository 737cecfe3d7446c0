import Primitives

/// The in-memory view of one node's Raft log: a compacted prefix (the snapshot) and the entries
/// after it, with the positions that tell what is durable, handed to storage, committed and applied.
///
/// Invariants (checked by `checkInvariants()`):
/// snapshotIndex <= applied <= committed <= lastIndex; persisted <= handedOut <= lastIndex;
/// entries are contiguous from snapshotIndex + 1.
struct RaftLog {
    private(set) var snapshot: Snapshot
    private(set) var entries: [Entry]
    /// Highest index known committed (durable on a quorum).
    private(set) var committed: LogIndex
    /// Highest index handed to the application for apply.
    var applied: LogIndex
    /// Highest index durable on this node's disk (all entries up to it).
    var persisted: LogIndex
    /// Highest index handed to storage in a Ready (the write may still be in flight).
    var handedOut: LogIndex
    /// A snapshot received from the leader that storage and the application have not seen yet.
    var unhandedSnapshot: Snapshot?

    init(snapshot: Snapshot, entries: [Entry], committed: LogIndex) {
        self.snapshot = snapshot
        self.entries = entries
        let last = snapshot.index + entries.count
        self.committed = min(max(committed, snapshot.index), last)
        self.applied = snapshot.index
        self.persisted = last
        self.handedOut = last
        for (i, e) in entries.enumerated() {
            precondition(e.index == snapshot.index + i + 1, "recovered entries not contiguous at \(e.index)")
        }
    }

    var firstIndex: LogIndex { snapshot.index.next }
    var lastIndex: LogIndex { snapshot.index + entries.count }
    var lastTerm: Term { entries.last?.term ?? snapshot.term }

    /// The term of the entry at `i`, or nil when it is compacted or beyond the end.
    func term(_ i: LogIndex) -> Term? {
        if i == snapshot.index { return snapshot.term }
        if i < snapshot.index || i > lastIndex { return nil }
        return entries[Int(i.value - snapshot.index.value - 1)].term
    }

    func entry(_ i: LogIndex) -> Entry? {
        guard i > snapshot.index, i <= lastIndex else { return nil }
        return entries[Int(i.value - snapshot.index.value - 1)]
    }

    func matchTerm(_ i: LogIndex, _ t: Term) -> Bool { term(i) == t }

    /// Raft §5.4.1: a candidate's log is at least as up to date as ours.
    func isUpToDate(lastIndex candidateIndex: LogIndex, lastTerm candidateTerm: Term) -> Bool {
        candidateTerm > lastTerm || (candidateTerm == lastTerm && candidateIndex >= lastIndex)
    }

    /// Entries in [from, lastIndex] up to `maxBytes` (at least one), or nil when `from` is compacted.
    func entries(from: LogIndex, maxBytes: Int) -> [Entry]? {
        if from <= snapshot.index { return nil }
        if from > lastIndex { return [] }
        var out: [Entry] = []
        var bytes = 0
        var i = Int(from.value - snapshot.index.value - 1)
        while i < entries.count {
            let e = entries[i]
            if !out.isEmpty && bytes + e.sizeBytes > maxBytes { break }
            bytes += e.sizeBytes
            out.append(e)
            i += 1
        }
        return out
    }

    func slice(after: LogIndex, through: LogIndex) -> [Entry] {
        guard through > after else { return [] }
        let lo = Int(after.value - snapshot.index.value)
        let hi = Int(through.value - snapshot.index.value)
        return Array(entries[lo..<hi])
    }

    /// The first entry that is new or conflicts with ours, or nil if we already hold them all.
    func findConflict(_ new: [Entry]) -> LogIndex? {
        for e in new where !matchTerm(e.index, e.term) { return e.index }
        return nil
    }

    /// The largest index <= `index` whose term is <= `term` (etcd's findConflictByTerm): lets a
    /// leader skip a whole conflicting term per round trip instead of one entry.
    func findConflictByTerm(_ index: LogIndex, _ term: Term) -> (index: LogIndex, term: Term) {
        var i = min(index, lastIndex)
        while true {
            guard let t = self.term(i) else { return (i, .zero) }  // compacted: let the leader decide
            if t <= term || i == .zero { return (i, t) }
            i = i.previous
        }
    }

    /// Append entries that follow a matching prefix, truncating any conflicting suffix first.
    mutating func append(_ new: [Entry]) {
        guard let first = new.first else { return }
        precondition(first.index > committed, "truncating committed entry \(first.index) (committed \(committed))")
        precondition(first.index <= lastIndex.next, "gap: appending \(first.index) after last \(lastIndex)")
        if first.index <= lastIndex {
            entries.removeSubrange(Int(first.index.value - snapshot.index.value - 1)...)
            handedOut = min(handedOut, first.index.previous)
            persisted = min(persisted, first.index.previous)
        }
        entries.append(contentsOf: new)
    }

    mutating func commit(to i: LogIndex) {
        guard i > committed else { return }
        precondition(i <= lastIndex, "commit \(i) is out of range [last \(lastIndex)]")
        committed = i
    }

    /// Drop the prefix through `index`, which the application has applied and snapshotted.
    mutating func compact(through index: LogIndex, data: [UInt8], membership: Membership) {
        precondition(index > snapshot.index, "compact to \(index) is not after snapshot \(snapshot.index)")
        precondition(index <= applied, "compact to \(index) beyond applied \(applied)")
        precondition(index <= persisted, "compact to \(index) beyond persisted \(persisted)")
        let t = term(index)!
        entries.removeFirst(Int(index.value - snapshot.index.value))
        snapshot = Snapshot(index: index, term: t, membership: membership, data: data)
    }

    /// Replace the whole log with a snapshot from the leader.
    mutating func restore(_ snap: Snapshot) {
        precondition(snap.index > committed, "restore \(snap.index) not beyond committed \(committed)")
        snapshot = snap
        entries = []
        committed = snap.index
        handedOut = snap.index
        persisted = min(persisted, snap.index)
        unhandedSnapshot = snap
    }

    func checkInvariants() {
        // Between restoring a leader's snapshot and handing it out, applied still lags it.
        precondition(
            snapshot.index <= applied || unhandedSnapshot?.index == snapshot.index,
            "applied \(applied) < snapshot \(snapshot.index)")
        precondition(applied <= committed, "applied \(applied) > committed \(committed)")
        precondition(committed <= lastIndex, "committed \(committed) > last \(lastIndex)")
        precondition(persisted <= handedOut, "persisted \(persisted) > handedOut \(handedOut)")
        precondition(handedOut <= lastIndex, "handedOut \(handedOut) > last \(lastIndex)")
    }
}
