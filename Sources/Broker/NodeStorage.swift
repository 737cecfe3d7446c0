import Primitives
import Raft
import Storage

/// Every Raft group's storage on one node, under its data directory. Runs `StorageBatch`es in
/// order; owned by one thread at a time (the disk thread in production).
public final class NodeStorage {
    public let directory: DataDirectory
    /// Log settings per group: a Kafka partition counts offsets from batch headers.
    let logConfig: @Sendable (GroupID) -> PartitionLogConfig
    /// Open groups, by id.
    private var groups: [GroupID: GroupStorage] = [:]
    /// The owner's clock in ms since the epoch, for retention by time (`measureRetention`).
    public var clockMs: () -> Int64 = { 0 }
    /// Log compaction's state (what each log has had cleaned).
    private var cleaner = LogCleaner()
    /// Batches and reads run so far (`StorageCompletion.sequence`).
    private var sequence: UInt64 = 0
    /// Whether a completion has reported every group's log size (the first one does).
    private var sizesReported = false
    /// Every group's term and vote, one sync per batch (`HardStateJournal`).
    let hardStates: HardStateJournal

    /// Open the data directory (identity checked) and recover every group found in it.
    public init(
        fs: FileSystem, path: String, cluster: String, node: NodeID,
        logConfig: @escaping @Sendable (GroupID) -> PartitionLogConfig = NodeStorage.kafkaLogConfig
    ) throws(StorageError) {
        directory = try DataDirectory(fs: fs, path: path, cluster: cluster, node: node)
        self.logConfig = logConfig
        hardStates = try HardStateJournal(fs: fs, directory: path)
    }

    /// Group ids with a directory on disk, sorted.
    public func existingGroups() throws(StorageError) -> [GroupID] {
        var ids: [GroupID] = []
        for name in try directory.fs.list(directory.path) where name.hasPrefix("group-") {
            guard let v = UInt32(name.dropFirst("group-".count)) else {
                throw StorageError.foreignFile(path: directory.path + "/" + name)
            }
            ids.append(GroupID(v))
        }
        return ids.sorted()
    }

    /// Open (recovering, or creating empty) one group's storage.
    public func open(_ group: GroupID) throws(StorageError) -> (RecoveredState, dropped: ClosedRange<LogIndex>?) {
        let (storage, state) = try GroupStorage.open(
            fs: directory.fs, directory: directory.groupDirectory(group), config: logConfig(group), nowMs: clockMs(),
            journaled: hardStates.states[group])
        groups[group] = storage
        return (state, storage.droppedForRepair)
    }

    public func storage(of group: GroupID) -> GroupStorage? { groups[group] }

    /// Partitions whose replica moved off this node, with what the copy was when it left (its
    /// term and vote; as `commit`, the last index its log reached). Durable; handed to
    /// `NodeCore.init`.
    public var departedCopies: [GroupID: HardState] { hardStates.departed }

    /// Production: the controller's log as is, every other group a Kafka partition.
    public static let kafkaLogConfig: @Sendable (GroupID) -> PartitionLogConfig = { group in
        group == controllerGroup ? PartitionLogConfig() : KafkaEntry.logConfig()
    }

    /// Run a batch: every operation in order, then one sync of each written log, then the hard
    /// states (durable on return).
    public func execute(_ batch: StorageBatch) -> StorageCompletion {
        sequence += 1
        do {
            var changedStates: [(GroupID, HardState)] = []
            var removedGroups: [GroupID] = []
            var departed: [(GroupID, HardState)] = []
            var repaired: [GroupID] = []
            var measure: [(GroupID, RetentionPolicy)] = []
            var compacted: [(GroupID, CompactionPass)] = []
            var wantsSnapshot: [(GroupID, LogIndex)] = []
            // Groups whose log start may have moved: written, or trimmed by retention.
            var moved = batch.writtenGroups
            for op in batch.operations {
                switch op {
                case .createGroup(let g):
                    // Also sent for a group recovered from disk: it is open already, and its
                    // log start is reported (retention may have trimmed it before a restart).
                    if groups[g] == nil { _ = try open(g) }
                    // A group removed earlier in the batch and created again (a replica moved off
                    // this node and back): the journal keeps what the new one saves.
                    removedGroups.removeAll { $0 == g }
                case .installSnapshot(let g, let snap, let nextOffset):
                    try group(g).installSnapshot(snap, nextOffset: nextOffset)
                    cleaner.forget(g)
                case .append(let g, let entries):
                    try group(g).log.nowMs = clockMs()
                    try group(g).append(entries)
                case .saveHardState(let g, let hs):
                    changedStates.append((g, hs))
                    removedGroups.removeAll { $0 == g }
                case .compact(let g, let snap, let keepFrom):
                    try group(g).compact(snap, keepFrom: keepFrom)
                    if keepFrom != nil, !moved.contains(g) { moved.append(g) }
                case .removeGroup(let g, let copy):
                    groups[g] = nil  // closes its files
                    removedGroups.append(g)
                    if let copy { departed.append((g, copy)) }
                    changedStates.removeAll { $0.0 == g }
                    cleaner.forget(g)
                    try directory.fs.removeTree(directory.groupDirectory(g))
                    try directory.fs.syncDirectory(directory.path)
                case .repair(let g, let entries):
                    if let log = groups[g]?.log, try log.repair(entries) > 0, !repaired.contains(g) { repaired.append(g) }
                case .measureRetention(let g, let policy):
                    if let ms = policy.segmentMs, let log = groups[g]?.log {
                        log.nowMs = clockMs()
                        try log.roll(ifOpenedBefore: log.nowMs &- ms)
                    }
                    measure.append((g, policy))
                case .dropSegments(let g, let before):
                    try groups[g]?.dropSegments(before: before)
                    if !moved.contains(g) { moved.append(g) }
                case .setSegmentBytes(let g, let bytes):
                    if let storage = groups[g] { storage.log.segmentBytesMax = bytes ?? logConfig(g).segmentBytesMax }
                case .clean(let g, let policy):
                    guard let storage = groups[g] else { break }
                    let through = storage.durable.snapshot?.index ?? .zero
                    if let closed = storage.log.lastClosedIndex, closed > through { wantsSnapshot.append((g, closed)) }
                    do {
                        if let pass = try cleaner.clean(g, log: storage.log, through: through, policy: policy, nowMs: clockMs()) {
                            compacted.append((g, pass))
                        }
                    } catch .corrupt(_, _) {
                        // Damage met while reading (marked, and reported with this completion): the
                        // log is cleaned again once a peer's copy has mended it.
                    } catch .diskFull(_) {
                        // No room for the rewritten segment: it stays as it was; the next pass tries again.
                    }
                }
            }
            for g in batch.writtenGroups { try group(g).sync() }
            // Every term and vote of the batch in one write and one sync.
            try hardStates.save(changedStates, removed: removedGroups, departed: departed)
            for (g, hs) in changedStates { groups[g]?.noteDurableHardState(hs) }
            var completion = StorageCompletion(token: batch.token, failure: nil)
            completion.damageFound = takeDamageFound()
            completion.repaired = repaired.sorted()
            completion.sequence = sequence
            completion.compacted = compacted
            completion.wantsSnapshot = wantsSnapshot
            // (Only damaged groups sorted: a sort of every group per batch costs with thousands.)
            for g in groups.filter({ !$0.value.log.report.badRanges.isEmpty }).keys.sorted() {
                let runs = groups[g]!.log.repairableDamage
                if !runs.isEmpty { completion.damage.append((g, runs)) }
            }
            for g in moved.sorted() where groups[g] != nil { completion.logStart.append((g, try group(g).log.logStartOffset.value)) }
            let sized = sizesReported ? Set(moved + measure.map(\.0) + compacted.map(\.0)) : Set(groups.keys)
            sizesReported = true
            for g in sized.sorted() { if let log = groups[g]?.log { completion.logBytes.append((g, UInt64(log.sizeBytes))) } }
            for (g, policy) in measure {
                // Measured after the batch's writes (a group removed meanwhile has nothing to measure).
                guard let log = groups[g]?.log else { continue }
                let bySize = policy.bytes.flatMap { log.retentionIndex(maxBytes: Int(clamping: $0)) }
                let byTime = policy.ms.flatMap { log.retentionIndex(olderThan: clockMs() &- $0) }
                let byDeletion = policy.belowOffset.flatMap { log.retentionIndex(below: KafkaOffset($0)) }
                if let through = [bySize, byTime, byDeletion].compactMap({ $0 }).max() { completion.retention.append((g, through)) }
            }
            return completion
        } catch {
            return StorageCompletion(token: batch.token, failure: error)
        }
    }

    /// Read committed batches of a Kafka partition from `read.offset` on.
    public func execute(_ read: StorageRead) -> ReadCompletion {
        sequence += 1
        var c = run(read)
        c.sequence = sequence
        c.logStart = groups[read.group]?.log.logStartOffset.value
        c.damageFound = takeDamageFound()
        for g in c.damageFound.map(\.0) where !c.damage.contains(where: { $0.0 == g }) {
            c.damage.append((g, groups[g]?.log.repairableDamage ?? []))
        }
        return c
    }

    /// Damage reads met since the last call, by group (sorted).
    private func takeDamageFound() -> [(GroupID, PartitionLog.DamageFound)] {
        var out: [(GroupID, PartitionLog.DamageFound)] = []
        // (The order-free check first keeps the sort off the per-read path.)
        guard groups.values.contains(where: { !$0.log.damageFoundAtRead.isEmpty }) else { return out }
        for g in groups.keys.sorted() {
            out += groups[g]!.log.takeDamageFoundAtRead().map { (g, $0) }
        }
        return out
    }

    private func run(_ read: StorageRead) -> ReadCompletion {
        do {
            let log = try group(read.group).log
            if let from = read.entriesFrom {
                // The entry before `from` when storage still has it (a repair read does not need
                // it); nothing when retention took `from` itself.
                let start = from.previous > .zero && from.previous >= log.firstIndex ? from.previous : from
                guard start >= log.firstIndex, from <= read.through, from <= log.lastIndex else {
                    return ReadCompletion(for: read, batches: [], failure: nil)
                }
                if case .repair = read.purpose {
                    // A peer mending its damage: every intact entry of the range, damaged ones
                    // left out (the peer may hold those intact itself).
                    var out: [Entry] = []
                    var bytes = 0
                    var i = from
                    while i <= read.through && i <= log.lastIndex && (out.isEmpty || bytes < read.maxBytes) {
                        do {
                            let e = try log.read(i).entry
                            bytes += e.data.count
                            out.append(e)
                        } catch .corrupt(_, _) {}
                        i = i.next
                    }
                    var c = ReadCompletion(for: read, batches: [], failure: nil)
                    c.entries = out
                    return c
                }
                var out: [Entry] = start < from ? [try log.read(start).entry] : []
                for stored in try log.read(from: from, maxBytes: read.maxBytes) {
                    guard stored.entry.index <= read.through else { break }
                    out.append(stored.entry)
                }
                var c = ReadCompletion(for: read, batches: [], failure: nil)
                c.entries = out
                return c
            }
            if let timestamp = read.timestamp {
                guard let i = try log.firstIndex(withTimestampAtLeast: timestamp), i <= read.through else {
                    return ReadCompletion(for: read, batches: [], failure: nil)
                }
                return ReadCompletion(for: read, batches: [KafkaEntry.batchBytes(try log.read(i).entry.data)], failure: nil)
            }
            guard let first = log.index(containing: KafkaOffset(read.offset)) else {
                // Inside the log's offsets yet in no readable entry: a damaged range (never
                // served). Otherwise retention took it meanwhile.
                let held = read.offset >= log.logStartOffset.value && read.offset < log.nextOffset.value
                let damaged = StorageError.corrupt(path: directory.groupDirectory(read.group), detail: "offset \(read.offset) lies in damaged entries")
                return ReadCompletion(for: read, batches: [], failure: held ? damaged : nil)
            }
            guard first <= read.through else { return ReadCompletion(for: read, batches: [], failure: nil) }
            var out: [[UInt8]] = []
            var bytes = 0
            var i = first
            while i <= read.through && i <= log.lastIndex {
                let e: Entry
                do {
                    e = try log.read(i).entry
                } catch .corrupt(_, _) where !out.isEmpty {
                    break  // the batches before the damage; a fetch from the damage on fails
                }
                i = i.next
                // Only record batches (no-op and membership entries, or anything else, hold no records).
                guard KafkaEntry.recordCount(e) > 0 else { continue }
                // A compacted entry's batch, without its trailer (`KafkaEntry.compacted`).
                let batch = KafkaEntry.batchBytes(e.data)
                if !out.isEmpty && bytes + batch.count > read.maxBytes { break }
                bytes += batch.count
                out.append(batch)
            }
            return ReadCompletion(for: read, batches: out, failure: nil)
        } catch {
            return ReadCompletion(for: read, batches: [], failure: error)
        }
    }

    private func group(_ g: GroupID) throws(StorageError) -> GroupStorage {
        guard let s = groups[g] else { throw StorageError.notFound(path: directory.groupDirectory(g)) }
        return s
    }
}
