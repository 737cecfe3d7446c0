import Primitives

/// One batch of work for the caller, in the order it must be done (etcd's Ready):
/// 1. persist `snapshot`, then `entries` (replacing any stored entries from the first index on),
///    then `hardState`, and make them durable;
/// 2. only then send `messagesAfterPersist` and apply `snapshot` and `committedEntries`;
/// 3. call `advance(_:)`.
public struct Ready: Sendable {
    public var hardState: HardState?
    public var snapshot: Snapshot?
    public var entries: [Entry]
    public var messagesAfterPersist: [Message]
    public var committedEntries: [Entry]
    /// Role and leader when the batch was taken, for observers and logs.
    public var role: RaftRole
    public var leader: NodeID

    /// Whether there is anything to write before the after-persist work.
    public var needsWrite: Bool { hardState != nil || snapshot != nil || !entries.isEmpty }
}

extension RaftNode {
    /// Whether `ready()` has work. False while a Ready is outstanding.
    public var hasReady: Bool {
        guard !readyOutstanding else { return false }
        return hardState != handedHardState || log.unhandedSnapshot != nil || log.handedOut < log.lastIndex
            || !outboxAfterPersist.isEmpty || log.committed > log.applied
    }

    /// Take the next batch of work. Call `advance(_:)` once it is done.
    public mutating func ready() -> Ready {
        precondition(!readyOutstanding, "ready() while the previous Ready is not advanced")
        readyOutstanding = true
        let hs = hardState
        let snapshot = log.unhandedSnapshot
        log.unhandedSnapshot = nil
        let entries = log.slice(after: log.handedOut, through: log.lastIndex)
        log.handedOut = log.lastIndex
        // Committed entries are applied after this batch is durable, so they may include entries
        // written by it; a snapshot resets the application to its index first.
        if let snapshot { log.applied = max(log.applied, snapshot.index) }
        let committed = log.slice(after: log.applied, through: log.committed)
        log.applied = log.committed
        let r = Ready(
            hardState: hs == handedHardState ? nil : hs,
            snapshot: snapshot,
            entries: entries,
            messagesAfterPersist: outboxAfterPersist,
            committedEntries: committed,
            role: role,
            leader: leader)
        handedHardState = hs
        outboxAfterPersist = []
        log.checkInvariants()
        return r
    }

    /// The Ready's writes are durable and its work done.
    public mutating func advance(_ r: Ready) {
        precondition(readyOutstanding, "advance() without an outstanding Ready")
        readyOutstanding = false
        if let hs = r.hardState { durableTerm = max(durableTerm, hs.term) }
        if let snap = r.snapshot, log.snapshot.index == snap.index {
            log.persisted = max(log.persisted, snap.index)
        }
        // Entries truncated while the write was in flight (the ABA race of etcd's async writes) are
        // not durable as far as the current log is concerned: count only the prefix that still matches.
        if let first = r.entries.first, log.persisted >= first.index.previous {
            var durable = log.persisted
            for e in r.entries {
                guard log.matchTerm(e.index, e.term), e.index == durable.next else { break }
                durable = e.index
            }
            log.persisted = min(max(log.persisted, durable), log.handedOut)
        }
        if role == .leader && maybeCommit() { broadcastAppend() }
        log.checkInvariants()
    }
}
