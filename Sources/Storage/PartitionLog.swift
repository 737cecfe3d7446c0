import Primitives
import Raft

/// Settings of a partition log.
public struct PartitionLogConfig: Sendable {
    /// A new segment starts once the active one reaches this size.
    public var segmentBytesMax: Int = 64 * 1024 * 1024
    /// Kafka records carried by an entry: 0 for control entries; the broker reads data entries'
    /// batch headers. The default counts one record per data entry.
    public var recordCount: @Sendable (Entry) -> UInt32 = { $0.kind == .normal ? 1 : 0 }
    /// The newest record timestamp (ms since the epoch) an entry carries, for retention by time:
    /// the broker reads a batch's `maxTimestamp`. Nil for entries without one (control entries);
    /// by default no entry has one, and retention by time never deletes anything.
    public var timestamp: @Sendable (Entry) -> Int64? = { _ in nil }
    /// Whether two copies of an entry are the same entry. Equal bytes by default; the broker also
    /// takes a compacted copy for the entry it replaced (`KafkaEntry.compacted`), since each
    /// replica compacts on its own.
    public var sameEntry: @Sendable (Entry, Entry) -> Bool = { $0 == $1 }

    public init() {}
}

/// What recovery found when the log was opened.
public struct RecoveryReport: Equatable, Sendable {
    public var segments = 0
    public var entries = 0
    /// Bytes cut from the end of the last segment: a write torn by a crash, never acknowledged.
    public var tornBytesCut = 0
    /// Entries whose bytes fail their checksum inside the log. They are never served and never
    /// silently dropped: the owner must get them back from peers.
    public var badRanges: [ClosedRange<LogIndex>] = []
    /// Intact entries whose footer was damaged, rewritten at recovery (see `scan`).
    public var footersMended = 0
}

/// The durable log of one partition (one Raft group): segment files of checksummed entries, each
/// with its Raft term and index and its place in the Kafka offset space. Appends are buffered by
/// the OS until `sync()`; nothing is durable before it returns (group commit: many appends, one
/// sync). Every read verifies the entry's checksum.
///
/// Not thread-safe: one owner (the node's storage thread, or the simulator) uses it.
public final class PartitionLog {
    let fs: FileSystem
    public let directory: String
    let config: PartitionLogConfig
    var segments: [Segment] = []
    /// Index the next appended entry must have when the log is empty.
    var emptyNextIndex: LogIndex
    /// Kafka offset of the next record.
    public internal(set) var nextOffset: KafkaOffset
    var directoryDirty = false
    public internal(set) var report = RecoveryReport()
    /// Damage reads found since recovery, not yet taken by the owner (`takeDamageFoundAtRead`).
    public internal(set) var damageFoundAtRead: [DamageFound] = []
    /// The owner's clock (ms since the epoch) as of its latest operation: segments created or
    /// reopened are stamped with it (`Segment.openedAtMs`).
    public var nowMs: Int64
    /// A new segment starts once the active one reaches this size: the config's, unless the owner
    /// sets another (a topic's `segment.bytes`); it applies from the next append on.
    public var segmentBytesMax: Int

    /// Open (and recover) the log in `directory`, creating it when missing. `nextIndex` and
    /// `nextOffset` say where an empty log starts (after a snapshot, say).
    public init(
        fs: FileSystem, directory: String, config: PartitionLogConfig = PartitionLogConfig(),
        nextIndex: LogIndex = LogIndex(1), nextOffset: KafkaOffset = .zero, nowMs: Int64 = 0
    ) throws(StorageError) {
        self.fs = fs
        self.nowMs = nowMs
        self.directory = directory
        self.config = config
        self.segmentBytesMax = config.segmentBytesMax
        self.emptyNextIndex = nextIndex
        self.nextOffset = nextOffset
        try fs.makeDirectory(directory)
        try recover()
    }

    deinit {
        for s in segments { fs.close(s.file) }
    }

    // MARK: - Positions

    public var isEmpty: Bool { segments.allSatisfy(\.isEmpty) }
    /// First index held, or the next index when empty.
    public var firstIndex: LogIndex { segments.first(where: { !$0.isEmpty })?.baseIndex ?? emptyNextIndex }
    /// Last index held; `firstIndex - 1` when empty.
    public var lastIndex: LogIndex {
        if let s = segments.last(where: { !$0.isEmpty }) { return s.lastIndex }
        return LogIndex(emptyNextIndex.value - 1)
    }

    /// Bytes of all segments.
    public var sizeBytes: Int { segments.reduce(0) { $0 + $1.size } }

    /// The first Kafka offset still held (the log start offset); the next offset when empty.
    public var logStartOffset: KafkaOffset {
        guard let s = segments.first(where: { !$0.isEmpty }) else { return nextOffset }
        return KafkaOffset(s.offsets[0])
    }

    /// Retention by size (Kafka's `retention.bytes`): the last index of the oldest whole segments
    /// that can go while at least `maxBytes` remain, never the active segment; nil when nothing
    /// needs to go. The caller snapshots through it (the Raft snapshot point follows retention) and
    /// then calls `truncatePrefix`.
    public func retentionIndex(maxBytes: Int) -> LogIndex? {
        var total = sizeBytes
        var through: LogIndex? = nil
        for s in segments.dropLast() where !s.isEmpty {
            guard total - s.size >= maxBytes else { break }
            total -= s.size
            through = s.lastIndex
        }
        return through
    }

    /// Records deleted below an offset (Kafka's DeleteRecords): the last index of the oldest whole
    /// closed segments whose records all lie below `offset`; nil when none does. The caller
    /// snapshots through it and drops them, as for retention.
    public func retentionIndex(below offset: KafkaOffset) -> LogIndex? {
        var through: LogIndex? = nil
        for s in segments.dropLast() where !s.isEmpty {
            guard let last = s.offsets.last, let count = s.recordCounts.last, last + UInt64(count) <= offset.value else { break }
            through = s.lastIndex
        }
        return through
    }

    /// The first entry that may hold a record at or after `timestamp`: the first entry, in the
    /// first segment whose newest timestamp reaches it, whose own timestamp does (read from
    /// storage). Nil when no record is that new.
    public func firstIndex(withTimestampAtLeast timestamp: Int64) throws(StorageError) -> LogIndex? {
        for s in segments where !s.isEmpty {
            guard let newest = s.maxTimestamp, newest >= timestamp else { continue }
            var i = s.baseIndex
            while i <= s.lastIndex {
                if !s.damaged[s.slot(i)], let t = config.timestamp(try read(i).entry), t >= timestamp { return i }
                i = i.next
            }
        }
        return nil
    }

    /// Retention by time (Kafka's `retention.ms`): the last index of the oldest whole segments whose
    /// newest record is older than `cutoff` (ms since the epoch), never the active segment; nil when
    /// nothing needs to go. As in Kafka, a segment goes only when all its records have expired, and
    /// deletion stops at the first segment that has not: the log start moves forward only. A
    /// segment without any timestamp (control entries only) goes with the expired ones around it.
    /// A segment this node opened (or reopened) after the cutoff stays too: records produced with
    /// old timestamps live at least that long here (Redpanda likewise goes by broker time).
    public func retentionIndex(olderThan cutoff: Int64) -> LogIndex? {
        var through: LogIndex? = nil
        for s in segments.dropLast() where !s.isEmpty {
            if let newest = s.maxTimestamp, newest >= cutoff { break }
            if s.openedAtMs >= cutoff { break }
            through = s.lastIndex
        }
        return through
    }

    func segment(containing index: LogIndex) -> Segment? {
        var lo = 0
        var hi = segments.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let s = segments[mid]
            if index < s.baseIndex { hi = mid - 1 } else if s.contains(index) { return s } else { lo = mid + 1 }
        }
        return nil
    }

    // MARK: - Writing

    /// Append entries that follow the log, replacing any stored entries from the first one's index
    /// on (a Raft conflict). Kafka offsets are assigned here, densely. One write per segment touched.
    public func append(_ entries: [Entry]) throws(StorageError) {
        guard let first = entries.first else { return }
        if first.index <= lastIndex { try truncateSuffix(from: first.index) }
        precondition(first.index == lastIndex.next, "append at \(first.index) after last \(lastIndex) in \(directory)")
        var i = 0
        while i < entries.count {
            let s = try activeSegment(for: entries[i].index, adding: EntryFormat.headerBytes + entries[i].data.count)
            var buffer: [UInt8] = []
            // Sized up front: growing by doubling would copy megabytes of records several times.
            var wanted = 0
            for e in entries[i...] {
                wanted += EntryFormat.headerBytes + e.data.count + EntryFormat.footerBytes
                if wanted >= segmentBytesMax { break }
            }
            buffer.reserveCapacity(min(wanted, segmentBytesMax))
            var added: [(position: Int, offset: UInt64, records: UInt32, timestamp: Int64?)] = []
            var offset = nextOffset
            repeat {
                let e = entries[i]
                precondition(e.index == first.index + i, "entries not contiguous at \(e.index)")
                let stored = StoredEntry(entry: e, kafkaOffset: offset, recordCount: config.recordCount(e))
                added.append((s.size + buffer.count, stored.kafkaOffset.value, stored.recordCount, config.timestamp(e)))
                EntryFormat.encode(stored, into: &buffer)
                offset = stored.nextOffset
                i += 1
            } while i < entries.count
                && s.size + buffer.count + EntryFormat.headerBytes + entries[i].data.count <= segmentBytesMax
            // A failed write (a full disk) leaves the log as it was: positions and offsets move
            // only once the bytes are in; a partial write past `size` is overwritten next time.
            try fs.write(s.file, at: s.size, buffer)
            nextOffset = offset
            for a in added {
                s.positions.append(UInt32(a.position))
                s.damaged.append(false)
                s.offsets.append(a.offset)
                s.recordCounts.append(a.records)
                s.noteTimestamp(a.timestamp)
            }
            s.size += buffer.count
            s.dirty = true
            s.lastWriteMs = nowMs
        }
    }

    /// The segment the entry at `index` goes to, rolling to a new one when the active one is full.
    private func activeSegment(for index: LogIndex, adding bytes: Int) throws(StorageError) -> Segment {
        if let last = segments.last, last.isEmpty || last.size + bytes <= segmentBytesMax {
            if last.isEmpty && last.baseIndex != index {
                // An empty segment left from a truncation: replace it with one named for `index`.
                try removeSegment(last)
            } else {
                return last
            }
        }
        return try startSegment(at: index)
    }

    /// Close the active segment when it was opened before `cutoff` (ms since the epoch; Kafka's
    /// `segment.ms`), so that retention by time can take it: the next append goes to a new
    /// segment. Kafka goes by the first record's timestamp; the open time does not roll a segment
    /// per batch when producers send old timestamps. Nothing happens to an empty active segment.
    public func roll(ifOpenedBefore cutoff: Int64) throws(StorageError) {
        guard let last = segments.last, !last.isEmpty, last.openedAtMs < cutoff else { return }
        _ = try startSegment(at: last.lastIndex.next)
    }

    /// A new, empty active segment for the entry at `index`, the previous one sealed first.
    private func startSegment(at index: LogIndex) throws(StorageError) -> Segment {
        if let full = segments.last, full.dirty {
            // Seal the full segment before the next one gets a byte: a later segment with any
            // durable entry then proves every earlier one complete, so recovery can tell a torn
            // tail (last segment only) from damage (anywhere else).
            try fs.sync(full.file)
            full.dirty = false
        }
        let path = directory + "/" + Segment.fileName(index)
        let file = try fs.open(path, create: true)
        try fs.truncate(file, to: 0)
        let s = Segment(baseIndex: index, path: path, file: file, size: 0)
        s.openedAtMs = nowMs
        s.lastWriteMs = nowMs
        segments.append(s)
        directoryDirty = true
        return s
    }

    private func removeSegment(_ s: Segment) throws(StorageError) {
        fs.close(s.file)
        try fs.remove(s.path)
        segments.removeAll { $0 === s }
        directoryDirty = true
    }

    /// Make every append so far durable: data of each written segment, then the directory when
    /// segments were created or removed (a new file's name is not durable until then).
    public func sync() throws(StorageError) {
        for s in segments where s.dirty {
            try fs.sync(s.file)
            s.dirty = false
        }
        if directoryDirty {
            try fs.syncDirectory(directory)
            directoryDirty = false
        }
    }

    /// Remove entries from `index` on (a Raft conflict). Later segments are deleted first and the
    /// directory is synced at once, so a crash can never bring back entries from beyond the cut
    /// next to newer ones.
    ///
    /// `nextOffset`: where Kafka offsets continue after the cut, when the caller knows better than
    /// the log — entries right before the cut that are damaged hide how many records they hold
    /// (recovery cutting inside a damaged range at the snapshot point knows: the snapshot's next
    /// offset).
    public func truncateSuffix(from index: LogIndex, nextOffset knownNext: KafkaOffset? = nil) throws(StorageError) {
        guard index <= lastIndex else { return }
        precondition(index >= firstIndex, "suffix truncation at \(index) below first index \(firstIndex)")
        var removed = false
        while let last = segments.last, last.baseIndex > index || (last.isEmpty && segments.count > 1) {
            try removeSegment(last)
            removed = true
        }
        if removed {
            // The removals must be durable before the cut below can be: otherwise a crash could keep
            // the shortened segment next to a later one that came back (a gap in the log).
            try fs.syncDirectory(directory)
            directoryDirty = false
        }
        if let s = segment(containing: index) {
            let k = s.slot(index)
            nextOffset = knownNext ?? offsetBefore(index) ?? KafkaOffset(s.offsets[k])
            let cut = Int(s.positions[k])
            try fs.truncate(s.file, to: cut)
            s.size = cut
            s.positions.removeSubrange(k...)
            s.damaged.removeSubrange(k...)
            s.offsets.removeSubrange(k...)
            s.recordCounts.removeSubrange(k...)
            s.dirty = true
        }
        // Cut back to nothing (retention had removed every segment before the one starting at
        // `index`): the log continues at `index`, not where it last was empty (the simulator found
        // a stale position there: the next append trapped).
        if isEmpty { emptyNextIndex = index }
        report.badRanges = report.badRanges.compactMap { r in
            r.lowerBound >= index ? nil : r.lowerBound...min(r.upperBound, LogIndex(index.value - 1))
        }
    }

    /// Where the records of entry `index` begin: the end of the nearest intact entry before it.
    /// (A damaged entry's recorded offset is the one after it, so it cannot say where it began.)
    func offsetBefore(_ index: LogIndex) -> KafkaOffset? {
        for s in segments.reversed() where !s.isEmpty && s.baseIndex < index {
            var k = min(s.count, s.slot(index)) - 1
            while k >= 0 {
                if !s.damaged[k] { return KafkaOffset(s.offsets[k] + UInt64(s.recordCounts[k])) }
                k -= 1
            }
        }
        return nil
    }

    /// Delete whole segments that end before `index` (retention, or a snapshot at `index - 1`).
    /// Kafka offsets of what remains do not change.
    public func truncatePrefix(before index: LogIndex) throws(StorageError) {
        var removed = false
        var next: LogIndex? = nil
        while segments.count > 1, let first = segments.first, !first.isEmpty, first.lastIndex < index,
            segments[1].baseIndex <= index || !segments[1].isEmpty
        {
            next = first.lastIndex.next
            try removeSegment(first)
            removed = true
        }
        // Only an empty active segment left (it was rolled, `roll(ifFirstRecordBefore:)`): the log
        // continues after what was removed.
        if let next, isEmpty { emptyNextIndex = next }
        report.badRanges.removeAll { $0.upperBound < index }
        if removed { try fs.syncDirectory(directory) }
    }

    /// Drop everything and continue at `nextIndex`/`nextOffset` (a snapshot from the leader
    /// replaced the whole log).
    public func reset(nextIndex: LogIndex, nextOffset: KafkaOffset) throws(StorageError) {
        for s in segments.reversed() { try removeSegment(s) }
        try fs.syncDirectory(directory)
        directoryDirty = false
        emptyNextIndex = nextIndex
        self.nextOffset = nextOffset
        report.badRanges = []
    }

    // MARK: - Reading

    /// The entry at `index`, checksum verified. Throws `.corrupt` for a damaged entry.
    public func read(_ index: LogIndex) throws(StorageError) -> StoredEntry {
        guard let s = segment(containing: index) else { throw StorageError.notFound(path: "\(directory) index \(index)") }
        let k = s.slot(index)
        let pos = s.positions[k]
        guard !s.damaged[k] else { throw StorageError.corrupt(path: s.path, detail: "entry \(index) is damaged") }
        let end = k + 1 < s.count ? Int(s.positions[k + 1]) : s.size
        let bytes = try fs.read(s.file, at: Int(pos), count: end - Int(pos))
        let decoded = bytes.withUnsafeBytes { EntryFormat.decode($0, at: 0) }
        guard case .entry(let stored, _) = decoded, stored.entry.index == index else {
            // Bytes recovery had verified are damaged now: keep them out of service from here on
            // and tell the owner, who gets a peer's copy (see PartitionLog+ReadDamage).
            try damagedAtRead(s)
            throw StorageError.corrupt(path: s.path, detail: "entry \(index) at byte \(pos) fails its checksum")
        }
        return stored
    }

    /// Entries from `index` on, up to `maxBytes` of payload (at least one), checksums verified.
    public func read(from index: LogIndex, maxBytes: Int) throws(StorageError) -> [StoredEntry] {
        var out: [StoredEntry] = []
        var bytes = 0
        var i = index
        while i <= lastIndex {
            let e = try read(i)
            if !out.isEmpty && bytes + e.entry.data.count > maxBytes { break }
            bytes += e.entry.data.count
            out.append(e)
            i = i.next
        }
        return out
    }

    /// The index of the entry holding Kafka `offset`, or nil when no entry holds it.
    public func index(containing offset: KafkaOffset) -> LogIndex? {
        for s in segments where !s.isEmpty {
            let lastEnd = s.offsets[s.count - 1] + UInt64(s.recordCounts[s.count - 1])
            guard offset.value >= s.offsets[0], offset.value < lastEnd else { continue }
            // The last entry whose first offset is <= offset and that holds records.
            var lo = 0
            var hi = s.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if s.offsets[mid] <= offset.value { lo = mid } else { hi = mid - 1 }
            }
            var k = lo
            while k >= 0 && s.recordCounts[k] == 0 { k -= 1 }
            guard k >= 0, offset.value < s.offsets[k] + UInt64(s.recordCounts[k]) else { return nil }
            return s.baseIndex + k
        }
        return nil
    }
}
