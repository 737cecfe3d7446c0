import Primitives
import Raft

/// Everything one Raft group keeps on disk, in one directory: `raft.state` (hard state and latest
/// snapshot, replaced atomically) and `log/` (the partition log). This is the recovery path a
/// restarting node takes: `open` returns the `RecoveredState` that `RaftNode.init` consumes.
///
/// Order of durability the caller relies on (the Ready contract): a snapshot is durable before
/// the log is reset to follow it; entries and hard state are durable when `sync()` and
/// `saveHardState` return.
public final class GroupStorage {
    public let directory: String
    let store: RaftStateStore
    public let log: PartitionLog
    /// The state last written to `raft.state`.
    public internal(set) var durable: RaftStateStore.State
    /// The damaged range recovery found and dropped (for the node's log), if any.
    public internal(set) var droppedForRepair: ClosedRange<LogIndex>?

    /// Open (or create) a group's storage and recover what it holds. `journaled` is the group's
    /// hard state in the node's `HardStateJournal`, if any: the later of it and `raft.state`'s wins.
    public static func open(
        fs: FileSystem, directory: String, config: PartitionLogConfig = PartitionLogConfig(), nowMs: Int64 = 0,
        journaled: HardState? = nil
    ) throws(StorageError) -> (GroupStorage, RecoveredState) {
        try fs.makeDirectory(directory)
        let store = RaftStateStore(fs: fs, directory: directory)
        var state = try store.load()
        if let journaled { state.hardState = HardState.later(state.hardState, journaled) }
        let snapIndex = state.snapshot?.index ?? .zero
        let log = try PartitionLog(
            fs: fs, directory: directory + "/log", config: config, nextIndex: snapIndex.next,
            nextOffset: state.snapshotNextOffset, nowMs: nowMs)
        let storage = GroupStorage(directory: directory, store: store, log: log, durable: state)
        // The log must continue the snapshot: entries it covers are dropped, and a log that ends
        // before it, or disagrees with it, is replaced by it.
        if let snap = state.snapshot, !log.isEmpty, log.firstIndex <= snap.index, log.lastIndex < snap.index,
            state.repairThrough >= snap.index
        {
            // The log ends before the snapshot, yet an earlier recovery saw it reach past it: that
            // recovery cut damage reaching below the snapshot, and the damaged entries' bytes went
            // with the cut. They are damage to mend, not a reason to drop the whole log (the
            // simulator's seed 219 dropped a Kafka partition's replica that way).
            log.markMissing(through: snap.index)
        }
        if let snap = state.snapshot {
            let continues: Bool
            if log.isEmpty {
                continues = log.firstIndex == snap.index.next
            } else if log.firstIndex > snap.index.next || log.lastIndex < snap.index {
                continues = false  // a gap after the snapshot, or a log that ends before it
            } else if log.firstIndex == snap.index.next {
                continues = true
            } else if log.report.badRanges.contains(where: { $0.contains(snap.index) }) {
                // The entry at the snapshot point is damaged, so its term cannot be compared. Not a
                // reason to drop the log silently: the damage step below cuts from the snapshot on
                // and records how far the log reached, so the node repairs before it votes.
                continues = true
            } else {
                continues = (try? log.read(snap.index).entry.term) == snap.term
            }
            if !continues { try log.reset(nextIndex: snap.index.next, nextOffset: state.snapshotNextOffset) }
        }
        // Damaged entries after the snapshot: never served. Remember (durably, first) how far the log
        // reached, then drop it from the damage on; Raft gets it back from the leader and keeps this
        // node out of elections until then.
        if let bad = log.report.badRanges.first(where: { $0.upperBound > snapIndex }) {
            let reached = max(storage.durable.repairThrough, log.lastIndex)
            var next = storage.durable
            next.repairThrough = reached
            try store.save(next)
            storage.durable = next
            let cut = max(bad.lowerBound, snapIndex.next)
            if cut <= log.firstIndex {
                try log.reset(nextIndex: cut, nextOffset: state.snapshotNextOffset)
            } else if cut > bad.lowerBound {
                // The damage reaches below the snapshot (a Kafka partition's log stays below its
                // snapshot): the damaged entries kept before the cut hide their record counts, so
                // offsets continue from the snapshot's, not from the last intact entry's.
                try log.truncateSuffix(from: cut, nextOffset: state.snapshotNextOffset)
            } else {
                try log.truncateSuffix(from: cut)
            }
            storage.droppedForRepair = bad
        }
        if let snap = state.snapshot, log.lastIndex == snap.index, log.report.badRanges.contains(where: { $0.contains(snap.index) }) {
            // The log ends in damage at the snapshot point: the damaged entries hide their record
            // counts, so offsets continue from the snapshot's.
            log.nextOffset = state.snapshotNextOffset
        }
        var entries: [Entry] = []
        let from = max(log.firstIndex, snapIndex.next)
        if from <= log.lastIndex {
            entries = try log.read(from: from, maxBytes: Int.max).map(\.entry)
        }
        return (
            storage,
            RecoveredState(
                hardState: state.hardState, snapshot: state.snapshot, entries: entries,
                repairThrough: storage.durable.repairThrough)
        )
    }

    init(directory: String, store: RaftStateStore, log: PartitionLog, durable: RaftStateStore.State) {
        self.directory = directory
        self.store = store
        self.log = log
        self.durable = durable
    }

    /// The hard state was made durable elsewhere (the node's `HardStateJournal`): later writes of
    /// `raft.state` carry it.
    public func noteDurableHardState(_ hs: HardState) {
        durable.hardState = hs
    }

    /// Persist the hard state in `raft.state` (atomically, durable on return).
    public func saveHardState(_ hs: HardState) throws(StorageError) {
        var next = durable
        next.hardState = hs
        try store.save(next)
        durable = next
    }

    /// A snapshot from the leader replaces the log: the snapshot is made durable first, then the
    /// log restarts after it.
    public func installSnapshot(_ snap: Snapshot, nextOffset: KafkaOffset) throws(StorageError) {
        var next = durable
        next.snapshot = snap
        next.snapshotNextOffset = nextOffset
        try store.save(next)
        durable = next
        try log.reset(nextIndex: snap.index.next, nextOffset: nextOffset)
    }

    /// A local snapshot at `snap.index`: recorded durably, then log segments wholly before it go —
    /// or only those before `keepFrom` when retention wants to keep more log than the snapshot
    /// needs (Kafka readers may still fetch it).
    public func compact(_ snap: Snapshot, keepFrom: LogIndex? = nil) throws(StorageError) {
        let nextOffset = (try? log.read(snap.index).nextOffset) ?? log.nextOffset
        var next = durable
        next.snapshot = snap
        next.snapshotNextOffset = nextOffset
        try store.save(next)
        durable = next
        try log.truncatePrefix(before: min(snap.index.next, keepFrom ?? snap.index.next))
    }

    /// Delete the log's segments before `before` that the durable snapshot covers (retention, when
    /// the snapshot is already where it must be); a no-op past the snapshot point.
    public func dropSegments(before: LogIndex) throws(StorageError) {
        guard let snap = durable.snapshot else { return }
        try log.truncatePrefix(before: min(snap.index.next, before))
    }

    /// Append entries (replacing any from the first one's index on); durable after `sync()`.
    public func append(_ entries: [Entry]) throws(StorageError) { try log.append(entries) }

    public func sync() throws(StorageError) { try log.sync() }
}
