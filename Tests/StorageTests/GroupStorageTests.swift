import Primitives
import Raft
import SimulationKit
import Storage
import Testing

struct GroupStorageTests {
    @Test("damaged entries are dropped from the recovered log and the reach is remembered durably")
    func damageStartsRepair() throws {
        let fs = SimFileSystem()
        var config = PartitionLogConfig()
        config.segmentBytesMax = 120  // entry 3 lands in a closed segment
        do {
            let (storage, _) = try GroupStorage.open(fs: fs, directory: "/g", config: config)
            try storage.append(entries(1...8))
            try storage.sync()
            try storage.saveHardState(HardState(term: 1, vote: 1, commit: 8))
        }
        let segment = fs.allFiles.first { $0.hasPrefix("/g/log/") }!
        fs.flipBit(segment, at: 45, bit: 2)  // inside the payload of the segment's first entry
        let (storage, recovered) = try GroupStorage.open(fs: fs, directory: "/g", config: config)
        let damaged = try #require(storage.droppedForRepair)
        #expect(recovered.entries.map(\.index) == Array(LogIndex(1)..<damaged.lowerBound))
        #expect(recovered.repairThrough == 8)
        // A second restart before the repair still knows how far the log reached.
        let (_, again) = try GroupStorage.open(fs: fs, directory: "/g", config: config)
        #expect(again.repairThrough == 8)
        #expect(again.entries.map(\.index) == recovered.entries.map(\.index))
    }

    @Test("damage at the snapshot point is repaired, never a reason to drop the log silently (seed 198)")
    func damageAtSnapshotPoint() throws {
        let fs = SimFileSystem()
        do {
            let (storage, _) = try GroupStorage.open(fs: fs, directory: "/g")
            try storage.append(entries(1...8))
            try storage.sync()
            try storage.saveHardState(HardState(term: 1, vote: 1, commit: 8))
            // A local snapshot at 4 that keeps the log (retention wants it).
            try storage.compact(Snapshot(index: 4, term: 1, membership: Membership(voters: [1, 2, 3]), data: []), keepFrom: 1)
        }
        let segment = fs.allFiles.first { $0.hasPrefix("/g/log/") }!
        let (probe, _) = try GroupStorage.open(fs: fs, directory: "/g")
        let entryBytes = probe.log.sizeBytes / 8  // equal-sized entries
        fs.flipBit(segment, at: 3 * entryBytes + 45, bit: 1)  // the payload of entry 4
        // Only the snapshot point is damaged: the snapshot holds its term, the log after it stays.
        let (first, kept) = try GroupStorage.open(fs: fs, directory: "/g")
        #expect(first.droppedForRepair == nil)
        #expect(kept.entries.map(\.index) == [5, 6, 7, 8])
        // Damage from the snapshot point on: entries 5...8 go with it, but the node knows it held
        // them and repairs before it votes.
        fs.flipBit(segment, at: 4 * entryBytes + 45, bit: 1)
        let (storage, recovered) = try GroupStorage.open(fs: fs, directory: "/g")
        #expect(storage.droppedForRepair != nil)
        #expect(recovered.repairThrough == 8)
        #expect(recovered.entries.isEmpty)
    }

    @Test("entries appended after a cut at damage recover intact: no repair loop (seed 313)")
    func appendAfterDamageCut() throws {
        let fs = SimFileSystem()
        do {
            let (storage, _) = try GroupStorage.open(fs: fs, directory: "/g")
            try storage.append(entries(1...8))
            try storage.sync()
            try storage.compact(Snapshot(index: 5, term: 1, membership: Membership(voters: [1, 2, 3]), data: []), keepFrom: 1)
        }
        let segment = fs.allFiles.first { $0.hasPrefix("/g/log/") }!
        let (probe, _) = try GroupStorage.open(fs: fs, directory: "/g")
        let entryBytes = probe.log.sizeBytes / 8
        // One damaged range, 3...7, across the snapshot point: the cut is at 6, but every slot of
        // the range points at the start of entry 3, so entry 6 is rewritten there.
        for k in 2...6 { fs.flipBit(segment, at: k * entryBytes + 45, bit: 1) }
        do {
            let (storage, recovered) = try GroupStorage.open(fs: fs, directory: "/g")
            #expect(storage.droppedForRepair == LogIndex(3)...LogIndex(7))
            #expect(recovered.repairThrough == 8)
            #expect(recovered.entries.isEmpty)
            // The repair: the leader sends 6...9.
            try storage.append(entries(6...9))
            try storage.sync()
        }
        let (storage, recovered) = try GroupStorage.open(fs: fs, directory: "/g")
        #expect(storage.droppedForRepair == nil)
        #expect(try storage.log.read(9).entry.index == 9)
        #expect(recovered.entries.last?.index == 9)
    }

    @Test("entries re-fetched after a cut at damage keep dense Kafka offsets (found by the Kafka simulation, seed 455)")
    func offsetsAfterDamageCut() throws {
        let fs = SimFileSystem()
        do {
            let (storage, _) = try GroupStorage.open(fs: fs, directory: "/g")
            try storage.append(entries(1...8))
            try storage.sync()
        }
        let segment = fs.allFiles.first { $0.hasPrefix("/g/log/") }!
        let (probe, _) = try GroupStorage.open(fs: fs, directory: "/g")
        let entryBytes = probe.log.sizeBytes / 8
        for k in 3...4 { fs.flipBit(segment, at: k * entryBytes + 45, bit: 1) }  // entries 4 and 5
        let (storage, recovered) = try GroupStorage.open(fs: fs, directory: "/g")
        #expect(storage.droppedForRepair == LogIndex(4)...LogIndex(5))
        #expect(recovered.entries.map(\.index) == [1, 2, 3])
        // The leader sends 4...8 again: they take offsets 3...7, where they were.
        try storage.append(entries(4...8))
        for i in UInt64(1)...8 { #expect(try storage.log.read(LogIndex(i)).kafkaOffset == KafkaOffset(i - 1), "entry \(i)") }
    }

    /// Entries 1...8 in "/g" under a memory snapshot at 5 (the log on disk stays whole, keepFrom
    /// 1), then a bit flipped in each of entries 4, 5 and 6.
    static func damageAcrossSnapshotAt5(_ fs: SimFileSystem) throws {
        do {
            let (storage, _) = try GroupStorage.open(fs: fs, directory: "/g")
            try storage.append(entries(1...8))
            try storage.sync()
            try storage.compact(Snapshot(index: 5, term: 1, membership: Membership(voters: [1, 2, 3]), data: []), keepFrom: LogIndex(1))
        }
        let segment = fs.allFiles.first { $0.hasPrefix("/g/log/") }!
        let entryBytes = try GroupStorage.open(fs: fs, directory: "/g").0.log.sizeBytes / 8
        for k in 3...5 { fs.flipBit(segment, at: k * entryBytes + 45, bit: 1) }
    }

    @Test("damage across a Kafka partition's snapshot point: offsets continue from the snapshot's after the cut, and a peer's copy mends the rest")
    func damageAcrossTheSnapshot() throws {
        let fs = SimFileSystem()
        try Self.damageAcrossSnapshotAt5(fs)
        let (storage, recovered) = try GroupStorage.open(fs: fs, directory: "/g")
        #expect(recovered.entries.isEmpty, "the log after the snapshot is cut at the damage")
        #expect(storage.log.repairableDamage == [LogIndex(4)...LogIndex(5)])
        // The leader sends 6...8 again: they take offsets 5...7, where they were (not 3...5).
        try storage.append(entries(6...8))
        for i in UInt64(6)...8 { #expect(try storage.log.read(LogIndex(i)).kafkaOffset == KafkaOffset(i - 1), "entry \(i)") }
        // Entries 4 and 5 lie below the snapshot: Raft never sends them; a peer's copy mends them.
        #expect(try storage.log.repair(entries(4...5)) == 2)
        let (reopened, _) = try GroupStorage.open(fs: fs, directory: "/g")
        #expect(reopened.log.report.badRanges.isEmpty)
        for i in UInt64(1)...8 { #expect(try reopened.log.read(LogIndex(i)).kafkaOffset == KafkaOffset(i - 1), "entry \(i)") }
    }

    @Test("damage cut below the snapshot stays damage at the next start: the log is kept, not dropped for ending before the snapshot (simulator seed 219)")
    func damageCutBelowTheSnapshotSurvivesARestart() throws {
        let fs = SimFileSystem()
        try Self.damageAcrossSnapshotAt5(fs)
        // The first start cuts at the damage (the cut takes the bytes of 4 and 5 with it); a
        // crash before anything else is written; the second start must still know 4 and 5.
        try GroupStorage.open(fs: fs, directory: "/g").0.sync()  // the next group commit makes the cut durable
        fs.crash()
        let (storage, recovered) = try GroupStorage.open(fs: fs, directory: "/g")
        #expect(storage.log.firstIndex == 1 && storage.log.lastIndex == 5, "\(storage.log.firstIndex)...\(storage.log.lastIndex)")
        #expect(storage.log.repairableDamage == [LogIndex(4)...LogIndex(5)])
        #expect(recovered.entries.isEmpty && recovered.repairThrough >= 5)
        try storage.append(entries(6...8))
        for i in UInt64(6)...8 { #expect(try storage.log.read(LogIndex(i)).kafkaOffset == KafkaOffset(i - 1), "entry \(i)") }
        #expect(try storage.log.repair(entries(4...5)) == 2)
        for i in UInt64(1)...8 { #expect(try storage.log.read(LogIndex(i)).kafkaOffset == KafkaOffset(i - 1), "entry \(i)") }
    }

    @Test("a snapshot install replaces the log; recovery resumes after it with the right offsets")
    func snapshotInstall() throws {
        let fs = SimFileSystem()
        let (storage, _) = try GroupStorage.open(fs: fs, directory: "/g")
        try storage.append(entries(1...5))
        try storage.sync()
        let snap = Snapshot(index: 20, term: 3, membership: Membership(voters: [1, 2, 3]), data: [7])
        try storage.installSnapshot(snap, nextOffset: KafkaOffset(17))
        try storage.append(entries(21...22, term: 3))
        try storage.sync()
        fs.crash()
        let (reopened, recovered) = try GroupStorage.open(fs: fs, directory: "/g")
        #expect(recovered.snapshot == snap)
        #expect(recovered.entries.map(\.index) == [21, 22])
        #expect(try reopened.log.read(21).kafkaOffset == KafkaOffset(17))
    }
}
