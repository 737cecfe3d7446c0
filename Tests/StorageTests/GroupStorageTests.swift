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
