import Primitives
import Raft

extension PartitionLog {
    /// Rebuild the in-memory index from the segment files, verifying every entry's checksum.
    ///
    /// - A partial or failing entry at the very end of the last segment, with nothing valid after
    ///   it, is a write torn by a crash: it was never synced, so never acknowledged, and is cut.
    /// - A failing entry with valid entries after it is corruption of data that may have been
    ///   acknowledged: it is kept out of service (`report.badRanges`), never truncated.
    /// - A file in the directory that is not a segment is refused (`foreignFile`).
    func recover() throws(StorageError) {
        var names: [(LogIndex, String)] = []
        for name in try fs.list(directory) {
            if name.hasSuffix(Self.mendSuffix) {
                // A mended segment that was never renamed into place: the original still stands.
                try fs.remove(directory + "/" + name)
                continue
            }
            if let base = Segment.baseIndex(ofFileName: name) {
                names.append((base, name))
            } else {
                throw StorageError.foreignFile(path: directory + "/" + name)
            }
        }
        names.sort { $0.0 < $1.0 }
        var previousTailDamaged = false
        for (k, (base, name)) in names.enumerated() {
            let path = directory + "/" + name
            let file = try fs.open(path, create: false)
            let s = Segment(baseIndex: base, path: path, file: file, size: 0)
            s.openedAtMs = nowMs
            s.lastWriteMs = nowMs
            let isLast = k == names.count - 1
            if let previous = segments.last, previous.lastIndex.next != base {
                // (`emptyNextIndex` is still the caller's: the entry after the snapshot.)
                let missingBelowSnapshot = base <= emptyNextIndex
                if (previousTailDamaged || missingBelowSnapshot) && previous.lastIndex.next < base {
                    // The damaged tail of a closed segment reaches to where the next one starts.
                    // Or a closed segment ends short of the next one, the gap below the snapshot:
                    // it held slots of entries an earlier recovery found damaged or missing below
                    // the snapshot, whose bytes are not on disk (`markMissing`, or a cut at the
                    // snapshot point inside a damaged range, which takes the damaged entries'
                    // bytes before it too), and the log went on after the snapshot in a new
                    // segment before a peer's copy mended them (simulator seed 218, an empty
                    // segment once and a shortened one since). Damage to mend either way. A gap
                    // above the snapshot stays an error: entries Raft may count on are gone, not
                    // known damaged.
                    let from = previous.lastIndex.next
                    while previous.lastIndex.next < base {
                        previous.positions.append(UInt32(previous.size))
                        previous.damaged.append(true)
                        previous.offsets.append(previous.offsets.last ?? 0)
                        previous.recordCounts.append(0)
                    }
                    report.badRanges.removeAll { $0.lowerBound == from }
                    report.badRanges.append(from...LogIndex(base.value - 1))
                } else {
                    fs.close(file)
                    let seen = segments.map { "\($0.baseIndex)+\($0.count)(\($0.size)B)" }.joined(separator: " ")
                    throw StorageError.corrupt(
                        path: path,
                        detail: "segment starts at \(base) but the previous one ends at \(previous.lastIndex) (segments: \(seen); damaged: \(report.badRanges))")
                }
            }
            previousTailDamaged = try scan(s, isLast: isLast)
            segments.append(s)
        }
        if let last = segments.last(where: { !$0.isEmpty }) {
            let k = last.count - 1
            nextOffset = KafkaOffset(last.offsets[k] + UInt64(last.recordCounts[k]))
        } else if let first = segments.first {
            emptyNextIndex = first.baseIndex
        }
        report.segments = segments.count
        report.entries = segments.reduce(0) { $0 + $1.count }
    }

    /// Index one segment; returns whether its tail is damaged (a closed segment cut short).
    private func scan(_ s: Segment, isLast: Bool) throws(StorageError) -> Bool {
        var tailDamaged = false
        let fileSize = try fs.size(s.file)
        let bytes = try fs.read(s.file, at: 0, count: fileSize)
        var pos = 0
        var expected = s.baseIndex
        var lastOffsetEnd: UInt64? = nil
        var footerFixes: [(at: Int, bytes: [UInt8])] = []
        bytes.withUnsafeBytes { raw in
            while pos < fileSize {
                switch EntryFormat.decode(raw, at: pos) {
                case .entry(let e, let size) where e.entry.index == expected:
                    // The checksum covers header and payload, not the footer: a damaged footer on
                    // an intact entry would go unnoticed and leave the entry unable to tell later
                    // damage from a torn write (a second fault would then cut an acknowledged
                    // entry — simulator seed 967). Rewrite it now, while the entry proves itself.
                    let crc = raw.loadUnaligned(fromByteOffset: pos + 4, as: UInt32.self).littleEndian
                    let footer = EntryFormat.footer(index: e.entry.index, crc: crc)
                    if !footer.elementsEqual(raw[(pos + size - EntryFormat.footerBytes)..<(pos + size)]) {
                        footerFixes.append((pos + size - EntryFormat.footerBytes, footer))
                    }
                    s.positions.append(UInt32(pos))
                    s.damaged.append(false)
                    s.offsets.append(e.kafkaOffset.value)
                    s.recordCounts.append(e.recordCount)
                    s.noteTimestamp(config.timestamp(e.entry))
                    lastOffsetEnd = e.nextOffset.value
                    pos += size
                    expected = expected.next
                case .entry(let e, _) where e.entry.index > expected && e.entry.index.value < expected.value + 1_000_000:
                    // A whole entry from further on, right where damaged entries began: an entry
                    // appended after a cut at a damaged range (whose slots all point at the cut).
                    // The missing entries are damaged; this one is intact.
                    markDamaged(s, expected..<e.entry.index, at: pos, offset: lastOffsetEnd)
                    expected = e.entry.index
                case .entry, .truncated, .corrupt:
                    // Is there a valid later entry of this segment after the bad bytes?
                    guard let (resume, index) = findNextValid(raw, after: pos, expectedAtLeast: expected) else {
                        if isLast, let (end, footer) = firstFooter(raw, after: pos, atLeast: expected) {
                            // An intact footer after the failing bytes: that entry was written whole,
                            // so this is damage, not a tear (a torn write after it may follow). No
                            // more entries than the bytes can hold: a footer damaged too could name
                            // any index.
                            let room = max(1, (end - pos) / (EntryFormat.headerBytes + EntryFormat.footerBytes))
                            let written = min(footer, expected + (room - 1))
                            // The file ends with an intact footer: the write finished. Failing bytes
                            // before it are damage, not a tear: keep them out of service, never cut.
                            var i = expected
                            while i <= written {
                                s.positions.append(UInt32(pos))
                                s.damaged.append(true)
                                s.offsets.append(lastOffsetEnd ?? 0)
                                s.recordCounts.append(0)
                                i = i.next
                            }
                            report.badRanges.append(expected...written)
                            tailDamaged = true
                        } else if isLast {
                            report.tornBytesCut += fileSize - pos
                        } else {
                            // A closed segment was synced whole: missing bytes here are damage.
                            report.badRanges.append(expected...expected)
                            tailDamaged = true
                        }
                        return
                    }
                    if index == expected {
                        // Junk between two entries, but no entry missing: skip the junk.
                        pos = resume
                        continue
                    }
                    markDamaged(s, expected..<index, at: pos, offset: lastOffsetEnd)
                    pos = resume
                    expected = index
                }
            }
        }
        s.size = pos
        if !footerFixes.isEmpty {
            for fix in footerFixes { try fs.write(s.file, at: fix.at, fix.bytes) }
            try fs.sync(s.file)
            report.footersMended += footerFixes.count
        }
        if pos < fileSize && !tailDamaged {
            // A torn tail (only ever in the last segment): cut it so appends continue cleanly.
            try fs.truncate(s.file, to: pos)
            try fs.sync(s.file)
        }
        // Kafka offsets of damaged entries are unknown until repaired: take them from the entry
        // after them (dense offsets end where the next begins).
        for k in stride(from: s.count - 2, through: 0, by: -1) where s.damaged[k] {
            s.offsets[k] = s.offsets[k + 1]
        }
        return tailDamaged
    }

    /// Entries after the last one up to `through` are known to have been written and are gone:
    /// recovery of an earlier run cut the log inside damage that reached below the owner's
    /// snapshot (the damaged slots shared the position where the damage began, so the cut took
    /// their bytes too). They are damaged entries, as that run had them: slots at the end of the
    /// last segment, never served, mended from a peer's copy.
    func markMissing(through: LogIndex) {
        guard let n = segments.lastIndex(where: { !$0.isEmpty }), segments[(n + 1)...].allSatisfy({ $0.isEmpty }) else { return }
        let from = segments[n].lastIndex.next
        guard from <= through else { return }
        // The slots go where the missing entries began: an empty segment named for the first of
        // them (the cut emptied it), else the end of the last one. Any other empty segment must
        // start after them.
        var s = segments[n]
        var rest = segments[(n + 1)...]
        if let next = rest.first, next.baseIndex == from {
            s = next
            rest = rest.dropFirst()
        }
        guard rest.allSatisfy({ $0.baseIndex > through }) else { return }
        markDamaged(s, from..<through.next, at: s.size, offset: nextOffset.value)
    }

    /// Entries `range` are damaged: keep their slots (all at `pos`, where the damage starts, so a
    /// cut there removes exactly the damage and what follows), never serve them.
    private func markDamaged(_ s: Segment, _ range: Range<LogIndex>, at pos: Int, offset: UInt64?) {
        var i = range.lowerBound
        while i < range.upperBound {
            s.positions.append(UInt32(pos))
            s.damaged.append(true)
            s.offsets.append(offset ?? 0)
            s.recordCounts.append(0)
            i = i.next
        }
        report.badRanges.append(range.lowerBound...LogIndex(range.upperBound.value - 1))
    }

    /// The first intact entry footer after `pos` naming an index at or after `atLeast`: where it
    /// ends and the index it names.
    private func firstFooter(_ raw: UnsafeRawBufferPointer, after pos: Int, atLeast: LogIndex) -> (Int, LogIndex)? {
        var end = pos + EntryFormat.headerBytes + EntryFormat.footerBytes
        while end <= raw.count {
            if let index = EntryFormat.footerIndex(raw, endingAt: end), index >= atLeast { return (end, index) }
            end += 1
        }
        return nil
    }

    /// Search forward byte by byte for an entry with a valid checksum and an index at or after
    /// `expectedAtLeast`; nil when the rest of the file holds none (a torn tail).
    private func findNextValid(_ raw: UnsafeRawBufferPointer, after pos: Int, expectedAtLeast: LogIndex)
        -> (Int, LogIndex)?
    {
        var p = pos + 1
        while p + EntryFormat.headerBytes <= raw.count {
            if case .entry(let e, _) = EntryFormat.decode(raw, at: p), e.entry.index >= expectedAtLeast,
                e.entry.index.value < expectedAtLeast.value + 1_000_000
            {
                return (p, e.entry.index)
            }
            p += 1
        }
        return nil
    }
}
