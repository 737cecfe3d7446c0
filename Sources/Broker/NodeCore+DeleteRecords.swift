import Primitives

/// DeleteRecords on storage: once a replica applies a DeleteRecords entry its log start offset
/// moves at once (`Group.logStartOffset`), and the whole segments below the new start go the
/// way retention's do (storage measures them, the node snapshots the partition and drops them).
extension NodeCore {
    /// `policy` (the topic's retention) with the group's DeleteRecords floor added; nil when
    /// neither limits anything.
    static func withDeletions(_ policy: RetentionPolicy?, _ g: Group) -> RetentionPolicy? {
        var p = policy ?? .keepEverything
        p.belowOffset = g.recordsDeletedBelow > 0 ? g.recordsDeletedBelow : nil
        return p.limitsAnything ? p : nil
    }

    /// An applied entry (or a restored snapshot) raised the group's floor: measure its log now.
    func recordsDeletedBelowRaised(_ g: Group) {
        g.recordsDeletedBelowRaised = false
        guard let policy = Self.withDeletions(g.retention, g) else { return }
        g.retention = policy
        queued.append(.measureRetention(g.id, policy))
        if let k = position(g.id) { touch(k) }
    }
}
