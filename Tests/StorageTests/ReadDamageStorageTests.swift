import Primitives
import Raft
import SimulationKit
import Storage
import Testing

/// Damage a read meets in entries recovery had verified (the log is open and running).
struct ReadDamageStorageTests {
    @Test("a read that meets damage in an open log marks every damaged entry of the segment, reports it once, serves nothing, keeps offsets, and a peer's copy mends it")
    func readFindsDamage() throws {
        let fs = SimFileSystem()
        var config = PartitionLogConfig()
        config.segmentBytesMax = 400  // a few entries per segment
        let log = try PartitionLog(fs: fs, directory: "/d/log", config: config)
        try log.append(entries(1...20))
        try log.sync()
        #expect(log.report.badRanges.isEmpty)
        let entrySize = 41 + entries(1...1)[0].data.count + 16
        let names = try fs.list("/d/log").sorted()
        try #require(names.count >= 3)
        let segment = "/d/log/" + names[1]
        let base = try #require(UInt64(names[1].dropLast(4)))
        // Two bytes: the payload of the segment's second entry and the header of its third.
        #expect(fs.flipBit(segment, at: entrySize + 45, bit: 1))
        #expect(fs.flipBit(segment, at: 2 * entrySize + 20, bit: 6))
        let first = LogIndex(base + 1)
        let offsetBefore = try log.read(first + 2).kafkaOffset
        #expect(throws: StorageError.self) { try log.read(first) }
        // Both are found by the one read: the whole segment was verified.
        #expect(log.takeDamageFoundAtRead() == [PartitionLog.DamageFound(range: first...(first + 1), path: segment)])
        #expect(log.repairableDamage == [first...(first + 1)])
        #expect(throws: StorageError.self) { try log.read(first + 1) }
        #expect(log.takeDamageFoundAtRead().isEmpty)  // once
        // Nothing cut; offsets unchanged.
        #expect(log.lastIndex == 20)
        #expect(try log.read(first + 2).kafkaOffset == offsetBefore)
        #expect(log.index(containing: KafkaOffset(base)) == first)
        // A copy that covers the damage mends it; the reads serve the original entries.
        #expect(try log.repair(entries(base...(base + 3))) == 2)
        #expect(log.repairableDamage.isEmpty && log.report.badRanges.isEmpty)
        #expect(try log.read(first).entry == entries(base + 1...base + 1)[0])
        #expect(try log.read(first + 1).entry == entries(base + 2...base + 2)[0])
        #expect(try log.read(first + 2).kafkaOffset == offsetBefore)
        // And a reopen finds the segment intact.
        let reopened = try PartitionLog(fs: fs, directory: "/d/log", config: config)
        #expect(reopened.report.badRanges.isEmpty)
        #expect(try reopened.read(from: 1, maxBytes: Int.max).map(\.entry) == entries(1...20))
    }
}
