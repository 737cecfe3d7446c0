import Primitives
import Raft
import SimulationKit
import Storage
import Testing

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// A fresh directory under /tmp, removed at the end of the test.
func withTemporaryDirectory(_ body: (String) throws -> Void) rethrows {
    var template = Array("/tmp/rill-storage-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    defer { _ = system("rm -rf '\(path)'") }
    try body(path)
}

func entries(_ range: ClosedRange<UInt64>, term: UInt64 = 1, kind: EntryKind = .normal) -> [Entry] {
    range.map { Entry(term: Term(term), index: LogIndex($0), kind: kind, data: Array("entry-\($0)-t\(term)".utf8)) }
}

struct PartitionLogTests {
    @Test("appends survive a reopen, across segments, with every checksum verified")
    func roundTrip() throws {
        try withTemporaryDirectory { dir in
            let fs = PosixFileSystem()
            var config = PartitionLogConfig()
            config.segmentBytesMax = 200  // a few entries per segment
            do {
                let log = try PartitionLog(fs: fs, directory: dir + "/log", config: config)
                try log.append(entries(1...20))
                try log.sync()
            }
            let log = try PartitionLog(fs: fs, directory: dir + "/log", config: config)
            #expect(log.report.entries == 20)
            #expect(log.report.segments > 3)
            #expect(log.report.badRanges.isEmpty)
            #expect(log.firstIndex == 1)
            #expect(log.lastIndex == 20)
            #expect(try log.read(from: 1, maxBytes: 1 << 20).map(\.entry) == entries(1...20))
        }
    }

    @Test("Kafka offsets are dense: control entries take none, truncation keeps offsets")
    func kafkaOffsets() throws {
        let fs = SimFileSystem()
        var config = PartitionLogConfig()
        config.recordCount = { $0.kind == .normal ? UInt32($0.data.count % 3 + 1) : 0 }
        let log = try PartitionLog(fs: fs, directory: "/d/log", config: config, nextOffset: KafkaOffset(100))
        let es = [
            Entry(term: 1, index: 1, kind: .noop),
            Entry(term: 1, index: 2, data: [1, 2]),  // 3 records: 100...102
            Entry(term: 1, index: 3, kind: .membership, data: [9]),
            Entry(term: 1, index: 4, data: [1]),  // 2 records: 103...104
        ]
        try log.append(es)
        #expect(try log.read(2).kafkaOffset == KafkaOffset(100))
        #expect(try log.read(4).kafkaOffset == KafkaOffset(103))
        #expect(log.nextOffset == KafkaOffset(105))
        #expect(log.index(containing: KafkaOffset(101)) == 2)
        #expect(log.index(containing: KafkaOffset(104)) == 4)
        #expect(log.index(containing: KafkaOffset(105)) == nil)
        #expect(log.index(containing: KafkaOffset(99)) == nil)
        try log.truncateSuffix(from: 3)
        #expect(log.nextOffset == KafkaOffset(103))
        try log.append([Entry(term: 2, index: 3, data: [])])  // 1 record: 103
        #expect(try log.read(3).kafkaOffset == KafkaOffset(103))
        #expect(log.nextOffset == KafkaOffset(104))
    }

    @Test("prefix truncation deletes whole segments and keeps the offsets of the rest")
    func prefixTruncation() throws {
        let fs = SimFileSystem()
        var config = PartitionLogConfig()
        config.segmentBytesMax = 150
        let log = try PartitionLog(fs: fs, directory: "/d/log", config: config)
        try log.append(entries(1...30))
        try log.sync()
        let offsetOf25 = try log.read(25).kafkaOffset
        try log.truncatePrefix(before: 20)
        #expect(log.firstIndex > 1)
        #expect(log.firstIndex <= 20)
        #expect(try log.read(25).kafkaOffset == offsetOf25)
        let reopened = try PartitionLog(fs: fs, directory: "/d/log", config: config)
        #expect(reopened.firstIndex == log.firstIndex)
        #expect(reopened.lastIndex == 30)
        #expect(reopened.nextOffset == log.nextOffset)
    }

    @Test("rolling by age: the active segment closes once it was opened before the cutoff; retention can then empty the log, which continues at the next index, reopened too")
    func rollByAge() throws {
        let fs = SimFileSystem()
        var config = PartitionLogConfig()
        config.timestamp = { e in Int64(e.index.value) * 1000 }  // entry i was written at i s
        let log = try PartitionLog(fs: fs, directory: "/d/log", config: config, nowMs: 500)
        try log.append(entries(1...10))
        try log.roll(ifOpenedBefore: 500)  // opened at 0.5 s: not before that
        #expect(log.retentionIndex(olderThan: 100_000) == nil, "the active segment never goes")
        try log.roll(ifOpenedBefore: 501)
        try log.roll(ifOpenedBefore: 501)  // nothing to roll: the active segment is empty
        try log.sync()
        #expect(log.retentionIndex(olderThan: 10_000) == nil, "record 10 is not older than 10 s")
        #expect(log.retentionIndex(olderThan: 10_001) == 10)
        try log.truncatePrefix(before: 11)
        #expect(log.isEmpty && log.firstIndex == 11 && log.lastIndex == 10 && log.nextOffset.value == 10)
        let reopened = try PartitionLog(fs: fs, directory: "/d/log", config: config, nextOffset: KafkaOffset(10))
        #expect(reopened.isEmpty && reopened.firstIndex == 11 && reopened.lastIndex == 10)
        for l in [log, reopened] {
            try l.append(entries(11...12))
            let offset = try l.read(11).kafkaOffset.value
            #expect(l.lastIndex == 12 && offset == 10)
        }
    }

    @Test("a Raft conflict at the first entry of the only segment retention left: the log continues right before it (the simulator's seed 37)")
    func conflictAtTheOnlySegmentsStart() throws {
        let fs = SimFileSystem()
        let log = try PartitionLog(fs: fs, directory: "/d/log", config: PartitionLogConfig())
        try log.append(entries(1...21))
        try log.roll(ifOpenedBefore: 1)  // entry 22 starts a segment
        try log.append(entries(22...22))
        try log.sync()
        try log.truncatePrefix(before: 22)
        #expect(log.firstIndex == 22 && log.lastIndex == 22)
        try log.append(entries(22...23, term: 2))  // the new leader's entry 22 replaces ours
        #expect(log.firstIndex == 22 && log.lastIndex == 23)
        #expect(try log.read(22).entry.term == Term(2) && log.read(22).kafkaOffset.value == 21)
    }

    /// A log of entries 1-25 in three segments, 1-10, 11-20 and 21-25, synced and closed.
    static func threeSegments() throws -> SimFileSystem {
        let fs = SimFileSystem()
        let log = try PartitionLog(fs: fs, directory: "/d/log", config: PartitionLogConfig())
        try log.append(entries(1...10))
        try log.roll(ifOpenedBefore: 1)
        try log.append(entries(11...20))
        try log.roll(ifOpenedBefore: 1)
        try log.append(entries(21...25))
        try log.sync()
        return fs
    }

    @Test("an empty closed segment followed by a later one, below the snapshot: its entries are damage to mend, not a log that cannot open (the simulator's seed 218)")
    func emptyClosedSegmentBeforeALaterOne() throws {
        let fs = try Self.threeSegments()
        // The middle segment's bytes are gone (it held only slots of entries missing below a
        // snapshot when the node stopped).
        let middle = try fs.open("/d/log/00000000000000000011.log", create: false)
        try fs.truncate(middle, to: 0)
        fs.close(middle)
        // Not covered by a snapshot: entries gone, not known damaged: refused as before.
        #expect(throws: StorageError.self) { _ = try PartitionLog(fs: fs, directory: "/d/log", config: PartitionLogConfig(), nextIndex: 20) }
        // A snapshot at 20 covers them: damage to mend from a peer.
        let reopened = try PartitionLog(fs: fs, directory: "/d/log", config: PartitionLogConfig(), nextIndex: 21)
        #expect(reopened.report.badRanges == [LogIndex(11)...LogIndex(20)])
        #expect(reopened.firstIndex == 1 && reopened.lastIndex == 25)
        #expect(try reopened.read(21).entry.index == 21)
    }

    @Test("a closed segment that ends short of the next one, the gap below the snapshot: its missing entries are damage to mend (the simulator's seed 218 again: a cut at the snapshot point inside a damaged range)")
    func shortenedClosedSegmentBeforeALaterOne() throws {
        let fs = try Self.threeSegments()
        // The middle segment keeps entries 11-15, whole; 16-20 are not on disk.
        let middle = try fs.open("/d/log/00000000000000000011.log", create: false)
        try fs.truncate(middle, to: try fs.size(middle) / 2)
        fs.close(middle)
        #expect(throws: StorageError.self) { _ = try PartitionLog(fs: fs, directory: "/d/log", config: PartitionLogConfig(), nextIndex: 20) }
        let reopened = try PartitionLog(fs: fs, directory: "/d/log", config: PartitionLogConfig(), nextIndex: 21)
        #expect(reopened.report.badRanges == [LogIndex(16)...LogIndex(20)])
        #expect(reopened.firstIndex == 1 && reopened.lastIndex == 25)
        #expect(try reopened.read(15).entry.index == 15 && reopened.read(21).entry.index == 21)
        #expect(throws: StorageError.self) { _ = try reopened.read(16) }
    }

    @Test("records with old timestamps stay until their segment has existed as long as the retention, reopened segments counting from the reopening")
    func oldTimestampsStay() throws {
        let fs = SimFileSystem()
        var config = PartitionLogConfig()
        config.segmentBytesMax = 150
        config.timestamp = { _ in 1000 }  // every record says 1 s
        do {
            let log = try PartitionLog(fs: fs, directory: "/d/log", config: config, nowMs: 1_000_000)
            try log.append(entries(1...30))
            try log.sync()
            #expect(log.retentionIndex(olderThan: 1_000_000) == nil, "opened at the cutoff: kept")
            #expect(log.retentionIndex(olderThan: 1_000_001) != nil)
        }
        let reopened = try PartitionLog(fs: fs, directory: "/d/log", config: config, nowMs: 5_000_000)
        #expect(reopened.retentionIndex(olderThan: 2_000_000) == nil, "reopened at 5000 s: kept until then")
        #expect(reopened.retentionIndex(olderThan: 5_000_001) != nil)
    }

    @Test("a foreign file in the log directory is refused by name")
    func foreignFile() throws {
        let fs = SimFileSystem()
        try fs.makeDirectory("/d/log")
        let f = try fs.open("/d/log/notes.txt", create: true)
        fs.close(f)
        #expect(throws: StorageError.foreignFile(path: "/d/log/notes.txt")) {
            try PartitionLog(fs: fs, directory: "/d/log")
        }
        #expect(StorageError.foreignFile(path: "/d/log/notes.txt").description
            == "/d/log/notes.txt is not a Rill file; move it out of the data directory")
    }

    @Test("a flipped bit inside the log is kept out of service, never truncated")
    func corruptionInTheMiddle() throws {
        for field in [0, 4, 8, 16, 24, 25, 33, 37, 41] {  // every header field and the payload
            let fs = SimFileSystem()
            do {
                let log = try PartitionLog(fs: fs, directory: "/d/log")
                try log.append(entries(1...5))
                try log.sync()
            }
            // Entry 3 starts after two entries of the same size.
            let entrySize = 41 + entries(1...1)[0].data.count + 16
            fs.flipBit("/d/log/" + "00000000000000000001.log", at: 2 * entrySize + field, bit: 3)
            let log = try PartitionLog(fs: fs, directory: "/d/log")
            #expect(log.report.badRanges == [3...3], "field at byte \(field)")
            #expect(log.report.tornBytesCut == 0)
            #expect(log.lastIndex == 5)
            #expect(throws: StorageError.self) { try log.read(3) }
            #expect(try log.read(4).entry == entries(4...4)[0])
            #expect(try log.read(4).kafkaOffset == KafkaOffset(3))
        }
    }

    @Test("damaged entries are mended in place with a peer's copy: offsets, reads and a reopen agree; a copy that cannot be it is refused")
    func repairInPlace() throws {
        for field in [0, 4, 25, 41] {
            let fs = SimFileSystem()
            do {
                let log = try PartitionLog(fs: fs, directory: "/d/log")
                try log.append(entries(1...6))
                try log.sync()
            }
            let entrySize = 41 + entries(1...1)[0].data.count + 16
            fs.flipBit("/d/log/00000000000000000001.log", at: 2 * entrySize + field, bit: 5)
            fs.flipBit("/d/log/00000000000000000001.log", at: 3 * entrySize + field, bit: 2)
            let log = try PartitionLog(fs: fs, directory: "/d/log")
            #expect(log.report.badRanges == [3...4], "field at byte \(field)")
            #expect(log.repairableDamage == [3...4])
            // A copy that does not cover the whole run, or is not the same entries, changes nothing.
            #expect(try log.repair(entries(3...3)) == 0)
            #expect(try log.repair(entries(3...4, term: 2)) == 0)  // terms after it are lower
            var disagreeing = entries(2...5)
            disagreeing[0].data = Array("not what entry 2 holds".utf8)
            #expect(try log.repair(disagreeing) == 0)  // differs from an intact entry it covers
            #expect(throws: StorageError.self) { try log.read(3) }
            #expect(try log.repair(entries(2...5)) == 2)
            #expect(log.report.badRanges.isEmpty)
            #expect(log.repairableDamage.isEmpty)
            for i in 1...6 as ClosedRange<UInt64> {
                #expect(try log.read(LogIndex(i)).entry == entries(i...i)[0])
                #expect(try log.read(LogIndex(i)).kafkaOffset == KafkaOffset(i - 1))
            }
            #expect(log.index(containing: KafkaOffset(3)) == LogIndex(4))
            let reopened = try PartitionLog(fs: fs, directory: "/d/log")
            #expect(reopened.report.badRanges.isEmpty)
            #expect(try reopened.read(from: LogIndex(1), maxBytes: .max).map(\.entry) == entries(1...6))
        }
    }

    @Test("a damaged footer on an intact entry is rewritten at recovery, so later damage to that last entry is still told from a torn write")
    func footerMended() throws {
        let fs = SimFileSystem()
        do {
            let log = try PartitionLog(fs: fs, directory: "/d/log")
            try log.append(entries(1...3))
            try log.sync()
        }
        let entrySize = 41 + entries(1...1)[0].data.count + 16
        let segment = "/d/log/00000000000000000001.log"
        fs.flipBit(segment, at: 3 * entrySize - 2, bit: 4)  // the last entry's footer magic
        do {
            let log = try PartitionLog(fs: fs, directory: "/d/log")
            #expect(log.report.footersMended == 1)
            #expect(log.report.tornBytesCut == 0 && log.report.badRanges.isEmpty)
            #expect(try log.read(3).entry == entries(3...3)[0])
        }
        // A second fault, in the same entry's header: still damage (kept, repaired), not a tear.
        fs.flipBit(segment, at: 2 * entrySize + 37, bit: 1)
        let log = try PartitionLog(fs: fs, directory: "/d/log")
        #expect(log.report.tornBytesCut == 0)
        #expect(log.report.badRanges == [3...3])
        #expect(log.lastIndex == 3)
    }

    @Test("a mend left unrenamed by a crash is removed at recovery; the original segment stands")
    func unrenamedMend() throws {
        let fs = SimFileSystem()
        do {
            let log = try PartitionLog(fs: fs, directory: "/d/log")
            try log.append(entries(1...3))
            try log.sync()
        }
        let f = try fs.open("/d/log/00000000000000000001.log.mend", create: true)
        try fs.write(f, at: 0, Array("half a mend".utf8))
        try fs.sync(f)
        fs.close(f)
        try fs.syncDirectory("/d/log")
        let log = try PartitionLog(fs: fs, directory: "/d/log")
        #expect(try log.read(from: LogIndex(1), maxBytes: .max).map(\.entry) == entries(1...3))
        #expect(try fs.list("/d/log") == ["00000000000000000001.log"])
    }

    @Test("damage to the very last entry is told from a torn write by its intact footer", arguments: [0, 4, 20, 45])
    func corruptionAtTheEnd(byte: Int) throws {
        let fs = SimFileSystem()
        do {
            let log = try PartitionLog(fs: fs, directory: "/d/log")
            try log.append(entries(1...4))
            try log.sync()
        }
        let entrySize = 41 + entries(1...1)[0].data.count + 16
        fs.flipBit("/d/log/00000000000000000001.log", at: 3 * entrySize + byte, bit: 1)
        let log = try PartitionLog(fs: fs, directory: "/d/log")
        #expect(log.report.tornBytesCut == 0, "byte \(byte)")
        #expect(log.report.badRanges == [4...4], "byte \(byte)")
        #expect(log.lastIndex == 4)
        #expect(throws: StorageError.self) { try log.read(4) }
    }

    @Test("a torn last entry is cut at recovery")
    func tornTail() throws {
        let fs = SimFileSystem()
        do {
            let log = try PartitionLog(fs: fs, directory: "/d/log")
            try log.append(entries(1...3))
            try log.sync()
            try log.append(entries(4...4))  // never synced
        }
        let path = "/d/log/00000000000000000001.log"
        let f = try fs.open(path, create: false)
        let full = try fs.size(f)
        try fs.truncate(f, to: full - 5)  // half-written entry 4
        fs.close(f)
        let log = try PartitionLog(fs: fs, directory: "/d/log")
        #expect(log.lastIndex == 3)
        #expect(log.report.tornBytesCut > 0)
        #expect(log.report.badRanges.isEmpty)
        try log.append(entries(4...5, term: 2))
        #expect(try log.read(5).entry.term == 2)
    }
}

struct RetentionTests {
    @Test("retention by size drops whole oldest segments, keeps the limit, and moves the log start offset")
    func bySize() throws {
        let fs = SimFileSystem()
        var config = PartitionLogConfig()
        config.segmentBytesMax = 150
        let log = try PartitionLog(fs: fs, directory: "/d/log", config: config)
        try log.append(entries(1...40))
        try log.sync()
        #expect(log.retentionIndex(maxBytes: log.sizeBytes) == nil)
        let limit = log.sizeBytes / 2
        let through = try #require(log.retentionIndex(maxBytes: limit))
        let offsetAfter = try log.read(through.next).kafkaOffset
        try log.truncatePrefix(before: through.next)
        #expect(log.sizeBytes >= limit)
        #expect(log.firstIndex == through.next)
        #expect(log.logStartOffset == offsetAfter)
        #expect(log.retentionIndex(maxBytes: limit) == nil)
        #expect(log.lastIndex == 40)
        #expect(log.retentionIndex(maxBytes: 0) != nil)  // the active segment always stays
        #expect(log.retentionIndex(maxBytes: 0)! < log.lastIndex)
    }

    /// Entry `i` carries timestamp `i * 1000` (its data says so); control entries carry none.
    static func timedConfig() -> PartitionLogConfig {
        var config = PartitionLogConfig()
        config.segmentBytesMax = 150
        config.timestamp = { e in
            guard e.kind == .normal else { return nil }
            return Int64(e.index.value) * 1000
        }
        return config
    }

    @Test("retention by time drops segments whose newest record expired, stops at the first that has not, and survives a reopen")
    func byTime() throws {
        let fs = SimFileSystem()
        var log = try PartitionLog(fs: fs, directory: "/d/log", config: Self.timedConfig())
        try log.append(entries(1...40))
        try log.sync()
        #expect(log.retentionIndex(olderThan: 1000) == nil)  // nothing older than entry 1
        let through = try #require(log.retentionIndex(olderThan: 20_500))
        // Two entries a segment: [19, 20] ends at 20,000 ms and goes; [21, 22] holds 21,000 and stays.
        #expect(through == 20)
        let nextSegmentNewest = try #require(log.retentionIndex(olderThan: Int64.max))
        #expect(nextSegmentNewest > through)  // a later cutoff reaches further
        #expect(nextSegmentNewest < log.lastIndex)  // and never the active segment
        // The segment after `through` holds an entry at or after the cutoff.
        let kept = try log.read(through.next)
        #expect(kept.entry.index == through.next)
        // Timestamps are rebuilt from the entries at recovery: the same answer after a reopen.
        log = try PartitionLog(fs: fs, directory: "/d/log", config: Self.timedConfig())
        #expect(log.retentionIndex(olderThan: 20_500) == through)
        try log.truncatePrefix(before: through.next)
        #expect(log.firstIndex == through.next)
        #expect(log.retentionIndex(olderThan: 20_500) == nil)
    }

    @Test("segments of control entries only carry no timestamp and go with the expired ones")
    func controlOnlySegments() throws {
        let fs = SimFileSystem()
        let log = try PartitionLog(fs: fs, directory: "/d/log", config: Self.timedConfig())
        try log.append(entries(1...10, kind: .noop))
        try log.append(entries(11...20))
        try log.sync()
        // Cutoff before any data record: the leading control-only segments may go, no data does.
        let through = try #require(log.retentionIndex(olderThan: 11_000))
        #expect(through <= 10)
        #expect(log.retentionIndex(olderThan: 1) == through)  // (the log was opened at time 0)
    }
}

struct DiskFullTests {
    @Test("a full disk is a clear error; the half-written entry never comes back")
    func diskFull() throws {
        let fs = SimFileSystem()
        var config = PartitionLogConfig()
        config.segmentBytesMax = 1 << 20
        do {
            let log = try PartitionLog(fs: fs, directory: "/d/log", config: config)
            try log.append(entries(1...3))
            try log.sync()
            fs.freeBytes = 30  // less than one more entry
            #expect(throws: StorageError.diskFull(path: "/d/log/00000000000000000001.log")) {
                try log.append(entries(4...4))
            }
            #expect(StorageError.diskFull(path: "/d/log/x.log").description == "disk full writing /d/log/x.log")
        }
        fs.freeBytes = nil
        // Reopened (as after the operator freed space and restarted): the partial entry is a torn
        // tail, cut; the synced entries are intact and appends continue.
        let log = try PartitionLog(fs: fs, directory: "/d/log", config: config)
        #expect(log.lastIndex == 3)
        #expect(log.report.tornBytesCut > 0)
        try log.append(entries(4...5))
        #expect(try log.read(5).entry == entries(5...5)[0])
    }
}

extension DiskFullTests {
    @Test("after a failed append the same log continues with the right offsets once space is back")
    func continueAfterFull() throws {
        let fs = SimFileSystem()
        let log = try PartitionLog(fs: fs, directory: "/d/log")
        try log.append(entries(1...3))
        fs.freeBytes = 10
        #expect(throws: StorageError.self) { try log.append(entries(4...6)) }
        #expect(log.lastIndex == 3)
        #expect(log.nextOffset == KafkaOffset(3))
        fs.freeBytes = nil
        try log.append(entries(4...6))
        try log.sync()
        #expect(try log.read(4).kafkaOffset == KafkaOffset(3))
        let reopened = try PartitionLog(fs: fs, directory: "/d/log")
        #expect(try reopened.read(from: 1, maxBytes: 1 << 20).map(\.entry) == entries(1...6))
    }
}
