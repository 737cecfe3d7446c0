@testable import Broker
import Primitives
import Raft
import SimulationKit
import Storage
import Testing

/// Raft entry reads (`StorageRead.entriesFrom`): what a leader reads for a lagging follower and a
/// peer reads for a damaged replica.
struct NodeStorageReadTests {
    @Test("an entry read returns the entry before the first one asked when storage has it, starts at the log's first entry when not, and nothing when retention took it")
    func entryReads() throws {
        let storage = try NodeStorage(fs: SimFileSystem(), path: "/data", cluster: "t", node: 1)
        let g = GroupID(7)
        let entries = (5...8 as ClosedRange<UInt64>).map { Entry(term: Term(2), index: LogIndex($0), kind: .normal, data: Array("e\($0)".utf8)) }
        let done = storage.execute(StorageBatch(token: 1, operations: [
            .createGroup(g),
            .installSnapshot(g, Snapshot(index: 4, term: 1, membership: Membership(voters: [1]), data: []), nextOffset: KafkaOffset(0)),
            .append(g, entries),
        ]))
        #expect(done.failure == nil)
        func read(from: UInt64, through: UInt64 = 8, repair: Bool = false) -> [UInt64] {
            let purpose = repair ? StorageRead.Purpose.repair(peer: 2, range: LogIndex(from)...LogIndex(through))
                : .raftCatchUp(LogRead(peer: 2, from: LogIndex(from), maxBytes: 1 << 20, term: Term(2)))
            var r = StorageRead(token: 2, purpose: purpose, group: g, offset: 0, maxBytes: 1 << 20, through: LogIndex(through))
            r.entriesFrom = LogIndex(from)
            let c = storage.execute(r)
            // The completion carries the read's purpose back: the core routes it by that.
            #expect(c.purpose == purpose && c.group == g && c.token == 2)
            return c.entries.map(\.index.value)
        }
        #expect(read(from: 6) == [5, 6, 7, 8])
        // The log's first entry: no entry before it on disk (a repair of damage there needs none).
        #expect(read(from: 5) == [5, 6, 7, 8])
        #expect(read(from: 4) == [])
        #expect(read(from: 6, through: 7) == [5, 6, 7])
        // A peer mending its damage gets the range only, without the entry before.
        #expect(read(from: 6, repair: true) == [6, 7, 8])
        #expect(read(from: 6, through: 7, repair: true) == [6, 7])
    }

    @Test("a repair read leaves out the entries damaged in this replica's own copy and sends the rest of the range")
    func repairReadSkipsDamage() throws {
        let fs = SimFileSystem()
        let storage = try NodeStorage(fs: fs, path: "/data", cluster: "t", node: 1)
        let g = GroupID(7)
        let entries = (1...6 as ClosedRange<UInt64>).map { Entry(term: Term(1), index: LogIndex($0), kind: .normal, data: Array("entry-\($0)".utf8)) }
        #expect(storage.execute(StorageBatch(token: 1, operations: [.createGroup(g), .append(g, entries)])).failure == nil)
        let segment = try #require(fs.allFiles.first { $0.hasPrefix("/data/group-7/log/") })
        let entryBytes = try #require(storage.storage(of: g)).log.sizeBytes / 6
        fs.flipBit(segment, at: 2 * entryBytes + 45, bit: 1)  // entry 3
        var r = StorageRead(token: 2, purpose: .repair(peer: 2, range: LogIndex(2)...LogIndex(5)), group: g, offset: 0, maxBytes: 1 << 20, through: LogIndex(5))
        r.entriesFrom = LogIndex(2)
        let c = storage.execute(r)
        #expect(c.failure == nil && c.entries.map(\.index.value) == [2, 4, 5])
        #expect(c.damageFound.count == 1, "the damage is reported once, for this replica to mend too")
    }
}
