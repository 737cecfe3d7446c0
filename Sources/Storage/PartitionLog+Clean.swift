import Primitives
import Raft

/// Rewriting closed segments with fewer records: the storage half of log compaction. What to
/// keep is the owner's decision (the broker's `LogCleaner` reads keys from record batches); the
/// log only offers its closed segments and rewrites one at a time the way repair does — a synced
/// `.mend` file renamed over the segment, the directory synced — so a crash leaves the old
/// segment or the new one, never a mix. Entries keep their term, index, kind, Kafka offsets and
/// record counts: Raft, the offset index and every reader see the same log, with gaps in it.
extension PartitionLog {
    /// A closed segment, as the cleaner sees it.
    public struct ClosedSegment: Equatable, Sendable {
        public var baseIndex: LogIndex
        public var lastIndex: LogIndex
        public var bytes: Int
        /// The newest record timestamp of its entries (nil when none has one).
        public var maxTimestamp: Int64?
        /// When this node last appended to it, or reopened it (`Segment.lastWriteMs`).
        public var lastWriteMs: Int64
    }

    /// The closed segments (never the active one) that lie wholly at or before `through` and
    /// hold no damaged entry, oldest first.
    public func closedSegments(through: LogIndex) -> [ClosedSegment] {
        var out: [ClosedSegment] = []
        for s in segments.dropLast() {
            guard !s.isEmpty, s.lastIndex <= through else { break }
            guard !s.damaged.contains(true) else { continue }
            out.append(ClosedSegment(baseIndex: s.baseIndex, lastIndex: s.lastIndex, bytes: s.size,
                                     maxTimestamp: s.maxTimestamp, lastWriteMs: s.lastWriteMs))
        }
        return out
    }

    /// The last index of the newest closed segment, if any: how far cleaning could reach once the
    /// owner's snapshot covers it.
    public var lastClosedIndex: LogIndex? {
        segments.dropLast().last(where: { !$0.isEmpty })?.lastIndex
    }

    /// Rewrite the closed segment that starts at `base`, each entry replaced by what `replace`
    /// returns for it (nil keeps it). A replacement must be the same entry — term, index, kind
    /// and record count — with other data; one that is not is a bug in the caller. Returns the
    /// segment's bytes before and after (equal when nothing was replaced); durable on return. A
    /// read that meets damage throws `corrupt` and leaves the segment as it was.
    @discardableResult
    public func rewriteSegment(at base: LogIndex, _ replace: (StoredEntry) -> Entry?) throws(StorageError) -> (before: Int, after: Int) {
        guard let n = segments.firstIndex(where: { $0.baseIndex == base }), n < segments.count - 1 else {
            preconditionFailure("rewriting \(base), which is not a closed segment")
        }
        let s = segments[n]
        var plan: [Placed] = []
        var changed = false
        for k in 0..<s.count {
            let stored = try read(s.baseIndex + k)
            if let e = replace(stored) {
                precondition(e.term == stored.entry.term && e.index == stored.entry.index && e.kind == stored.entry.kind
                    && config.recordCount(e) == stored.recordCount, "a compacted entry must keep its place: \(e.index)")
                plan.append(Placed(stored: StoredEntry(entry: e, kafkaOffset: stored.kafkaOffset, recordCount: stored.recordCount), mended: false))
                changed = true
            } else {
                plan.append(Placed(stored: stored, mended: false))
            }
        }
        let before = s.size
        guard changed else { return (before, before) }
        try rewrite(s, plan)
        return (before, s.size)
    }
}
