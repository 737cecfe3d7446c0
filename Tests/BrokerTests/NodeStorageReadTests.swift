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
        func read(from: UInt64, through: UInt64 = 8) -> [UInt64] {
            let purpose = StorageRead.Purpose.repair(peer: 2, range: LogIndex(from)...LogIndex(through))
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
    }
}
