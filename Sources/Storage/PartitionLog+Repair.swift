import Primitives
import Raft

/// Mending damaged entries with a peer's copy.
///
/// Why: damage above the Raft snapshot is cut at recovery and Raft sends those entries again, but
/// a Kafka partition's storage keeps its log far below its (memory) snapshot — entries Raft will
/// never send again. They are committed, so every replica's copy is the same entry with the same
/// Kafka offsets: a peer's copy can take their place.
///
/// How: the damaged segment is written again whole — its intact entries as they are, the damaged
/// ones from the copy — to a `.mend` file that is synced and then renamed over the segment (the
/// directory synced after). A crash before the rename leaves the old segment and a `.mend` file
/// that recovery removes; after it, the mended segment. In place would not do: damage can take
/// the bytes of entries away entirely (a cut the log was appended after), leaving no room.
extension PartitionLog {
    static let mendSuffix = ".mend"

    /// Per segment with damaged entries: the range from its first to its last damaged entry,
    /// which is what `repair` needs to mend it (in index order).
    public var repairableDamage: [ClosedRange<LogIndex>] {
        guard !report.badRanges.isEmpty else { return [] }
        var out: [ClosedRange<LogIndex>] = []
        for s in segments {
            guard let first = s.damaged.firstIndex(of: true), let last = s.damaged.lastIndex(of: true) else { continue }
            out.append((s.baseIndex + first)...(s.baseIndex + last))
        }
        return out
    }

    /// Mend damaged entries with `entries` (committed entries from a peer, in increasing index
    /// order, with gaps where the peer's own copy is damaged). A segment is mended only when the
    /// copy holds every one of its damaged entries, agrees with its intact ones, keeps terms
    /// non-decreasing and fits the offsets around it; otherwise it stays as it was (still never
    /// served). Returns how many entries were mended; durable on return.
    @discardableResult
    public func repair(_ entries: [Entry]) throws(StorageError) -> Int {
        guard let lo = entries.first?.index, let hi = entries.last?.index else { return 0 }
        var byIndex: [LogIndex: Entry] = [:]
        for (j, e) in entries.enumerated() {
            if j > 0 && e.index <= entries[j - 1].index { return 0 }
            byIndex[e.index] = e
        }
        var mended = 0
        for (n, s) in segments.enumerated() {
            guard let first = s.damaged.firstIndex(of: true), let last = s.damaged.lastIndex(of: true) else { continue }
            guard s.baseIndex + first >= lo, s.baseIndex + last <= hi else { continue }
            let copy = { (k: Int) -> Entry? in byIndex[s.baseIndex + k] }
            guard let plan = try plan(s, previous: n > 0 ? segments[n - 1] : nil, copy: copy) else { continue }
            try rewrite(s, plan)
            mended += plan.filter(\.mended).count
        }
        if mended > 0 { report.badRanges = damagedRanges() }
        return mended
    }

    struct Placed {
        var stored: StoredEntry
        var mended: Bool
    }

    /// The segment's entries after mending, or nil when the copy cannot be right for it.
    private func plan(_ s: Segment, previous: Segment?, copy: (Int) -> Entry?) throws(StorageError) -> [Placed]? {
        var entries: [(Entry, Bool)] = []
        for k in 0..<s.count {
            // (A read can find an entry damaged since it was last read, and marks it.)
            let mine: Entry?
            do { mine = s.damaged[k] ? nil : try read(s.baseIndex + k).entry } catch .corrupt(_, _) { mine = nil }
            if s.damaged[k] {
                guard let e = copy(k) else { return nil }
                entries.append((e, true))
            } else if let mine {
                // Committed entries are the same on every replica: a copy that differs is wrong.
                if let theirs = copy(k), !config.sameEntry(theirs, mine) { return nil }
                entries.append((mine, false))
            } else {
                return nil
            }
        }
        for k in 1..<max(1, entries.count) where entries[k].0.term < entries[k - 1].0.term { return nil }
        // Dense offsets: anchored on the first intact entry, else where the previous segment ends.
        let counts = entries.map { config.recordCount($0.0) }
        var start: UInt64
        if let k = s.damaged.firstIndex(of: false) {
            let before = counts[..<k].reduce(UInt64(0)) { $0 + UInt64($1) }
            guard s.offsets[k] >= before else { return nil }
            start = s.offsets[k] - before
        } else if let p = previous, let k = p.damaged.lastIndex(of: false), k == p.count - 1 {
            start = p.offsets[k] + UInt64(p.recordCounts[k])
        } else {
            return nil
        }
        var out: [Placed] = []
        for (k, (e, mended)) in entries.enumerated() {
            if !mended && s.offsets[k] != start { return nil }
            out.append(Placed(stored: StoredEntry(entry: e, kafkaOffset: KafkaOffset(start), recordCount: counts[k]), mended: mended))
            start += UInt64(counts[k])
        }
        return out
    }

    /// Write the segment again from `plan`: a synced `.mend` file renamed over it.
    func rewrite(_ s: Segment, _ plan: [Placed]) throws(StorageError) {
        var buffer: [UInt8] = []
        var positions: [UInt32] = []
        for p in plan {
            positions.append(UInt32(buffer.count))
            EntryFormat.encode(p.stored, into: &buffer)
        }
        let temporary = s.path + Self.mendSuffix
        let file = try fs.open(temporary, create: true)
        do {
            try fs.truncate(file, to: 0)
            try fs.write(file, at: 0, buffer)
            try fs.sync(file)
        } catch {
            // A full disk, say: the segment stays as it was, and the partial copy goes.
            fs.close(file)
            try? fs.remove(temporary)
            throw error
        }
        fs.close(file)
        fs.close(s.file)
        try fs.rename(temporary, to: s.path)
        try fs.syncDirectory(directory)
        s.file = try fs.open(s.path, create: false)
        s.size = buffer.count
        s.dirty = false
        for (k, p) in plan.enumerated() {
            s.positions[k] = positions[k]
            s.offsets[k] = p.stored.kafkaOffset.value
            s.recordCounts[k] = p.stored.recordCount
            s.damaged[k] = false
            s.noteTimestamp(config.timestamp(p.stored.entry))
        }
    }

    /// Every run of damaged entries, from the segments' own marks.
    private func damagedRanges() -> [ClosedRange<LogIndex>] {
        var out: [ClosedRange<LogIndex>] = []
        for s in segments {
            var k = 0
            while k < s.count {
                guard s.damaged[k] else {
                    k += 1
                    continue
                }
                var end = k
                while end < s.count && s.damaged[end] { end += 1 }
                out.append((s.baseIndex + k)...(s.baseIndex + (end - 1)))
                k = end
            }
        }
        return out
    }
}
