import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import SimulationKit
import Storage
import Testing

/// Damage a read meets in a running node's log (bytes recovery had verified, damaged since):
/// kept out of service, reported once, mended from a peer while the node runs.
struct ReadDamageTests {
    /// Partition logs with 2 KiB segments (about ten entries each), so a few produces close some.
    static let smallSegments: @Sendable (GroupID) -> PartitionLogConfig = { g in
        var base = PartitionLogConfig()
        base.segmentBytesMax = 2048
        return g == controllerGroup ? PartitionLogConfig() : KafkaEntry.logConfig(base)
    }

    static func cluster() throws -> (MiniCluster, leader: Int, group: GroupID) {
        let c = try MiniCluster(nodes: 3, logConfig: smallSegments)
        c.run(ticks: 40)
        let (out, _) = try c.cores[c.controllerIndex].proposeToController(.createTopic(name: "t", partitions: 1, replicationFactor: 3))
        c.take(c.controllerIndex, out)
        c.run(ticks: 60)
        let gid = try #require(c.cores[0].controller.topic("t")?.partitions.first?.group)
        let leader = try #require(c.cores.indices.first { c.cores[$0].raftOf(gid)?.role == .leader })
        for k in 0..<40 {
            let values = (0..<3).map { "record \(k)-\($0) " + String(repeating: "x", count: 20) }
            let p = try #require(try KafkaDataTests.produce(c, to: leader, acks: -1, correlation: Int32(1000 + k), values: values))
            #expect(p.errorCode == .none)
        }
        return (c, leader, gid)
    }

    static func records(_ p: FetchResponse.PartitionData) -> [UInt8] {
        guard var r = p.records else { return [] }
        return r.readBytes(length: r.readableBytes) ?? []
    }

    @Test("two flipped bytes in a closed segment of the running leader: the fetch answers KAFKA_STORAGE_ERROR, the damage is reported once, a peer's copy mends it while the node runs, and the same fetch then returns the original bytes")
    func leaderMendsReadDamage() throws {
        let (c, leader, gid) = try Self.cluster()
        let fs = c.filesystems[leader]
        let dir = c.storages[leader].directory.groupDirectory(gid) + "/log"
        let names = try fs.list(dir).sorted()
        try #require(names.count >= 3, "closed segments: \(names)")
        // The last entry of the second segment (closed: a third one follows).
        let segment = dir + "/" + names[1]
        let last = LogIndex(try #require(UInt64(names[2].dropLast(4)))) - 1
        let log = try #require(c.storages[leader].storage(of: gid)?.log)
        let stored = try log.read(last)
        #expect(stored.recordCount > 0)
        let offset = Int64(stored.kafkaOffset.value)
        let before = try KafkaDataTests.fetch(c, from: leader, offset: offset, correlation: 1)
        #expect(before.errorCode == .none)
        let original = Self.records(before)
        #expect(!original.isEmpty)
        let everything = Self.records(try KafkaDataTests.fetch(c, from: leader, offset: 0, correlation: 2))

        // Two bytes of the entry's payload (its footer is the last 16 bytes of the file).
        let file = try fs.open(segment, create: false)
        let size = try fs.size(file)
        fs.close(file)
        #expect(fs.flipBit(segment, at: size - 40, bit: 2))
        #expect(fs.flipBit(segment, at: size - 39, bit: 6))
        let reportsBefore = c.damage.count

        // The first fetch meets the damage: never served, a retriable error.
        let bad = try KafkaDataTests.fetch(c, from: leader, offset: offset, correlation: 3)
        #expect(bad.errorCode == ErrorCode.kafkaStorageError)
        #expect(Self.records(bad).isEmpty)
        #expect(reportsBefore == 0)

        // Reported once, with the group, topic/partition, range and file.
        let found = c.damage.filter { if case .found = $0.1.kind { return true } else { return false } }
        #expect(found.count == 1)
        #expect(found.first?.0 == leader)
        #expect(found.first?.1.range == last...last)
        #expect(found.first?.1.path == segment)
        #expect(found.first?.1.topic == "t" && found.first?.1.partition == 0)
        #expect(found.first?.1.description.contains("t/0") == true)

        // Mended from a peer while running: the same fetch returns the original bytes.
        var ticks = 0
        var after = try KafkaDataTests.fetch(c, from: leader, offset: offset, correlation: 4)
        while after.errorCode != .none && ticks < 100 {
            c.run(ticks: 1)
            ticks += 1
            after = try KafkaDataTests.fetch(c, from: leader, offset: offset, correlation: Int32(5 + ticks))
        }
        #expect(after.errorCode == .none)
        #expect(Self.records(after) == original)
        #expect(Self.records(try KafkaDataTests.fetch(c, from: leader, offset: 0, correlation: 200)) == everything)
        let mended = c.damage.compactMap { d -> UInt64? in if case .mended(let t) = d.1.kind { return t } else { return nil } }
        #expect(mended.count == 1)
        print("read damage mended \(mended.first ?? 999) ticks after it was found; the fetch served \(ticks) extra ticks after the first error")
        #expect(c.damage.count == 2)  // found once, mended once: nothing more
        // Nothing was cut: the leader still holds every entry, intact, and leads.
        #expect(try log.read(last).entry == stored.entry)
        #expect(c.cores[leader].raftOf(gid)?.role == .leader)
        for core in c.cores { #expect(core.group(gid)?.state.nextOffset == 120) }
        // The repaired segment survives a restart as it is: recovery finds no damage.
        let (recheck, _) = try GroupStorage.open(fs: fs, directory: c.storages[leader].directory.groupDirectory(gid), config: Self.smallSegments(gid))
        #expect(recheck.log.report.badRanges.isEmpty)
    }
}

struct ReadDamageHandOffTests {
    @Test("no peer's copy arrives (repair messages lost): after three election timeouts the damaged leader hands the partition to a replica that holds the entries, and consumers read the original bytes there")
    func handOff() throws {
        let (c, leader, gid) = try ReadDamageTests.cluster()
        let fs = c.filesystems[leader]
        let dir = c.storages[leader].directory.groupDirectory(gid) + "/log"
        let names = try fs.list(dir).sorted()
        try #require(names.count >= 3)
        let segment = dir + "/" + names[1]
        let last = LogIndex(try #require(UInt64(names[2].dropLast(4)))) - 1
        let stored = try #require(c.storages[leader].storage(of: gid)?.log).read(last)
        let offset = Int64(stored.kafkaOffset.value)
        let original = ReadDamageTests.records(try KafkaDataTests.fetch(c, from: leader, offset: offset, correlation: 1))
        let file = try fs.open(segment, create: false)
        let size = try fs.size(file)
        fs.close(file)
        fs.flipBit(segment, at: size - 40, bit: 2)
        fs.flipBit(segment, at: size - 39, bit: 6)
        c.dropRepairs = true
        #expect(try KafkaDataTests.fetch(c, from: leader, offset: offset, correlation: 2).errorCode == ErrorCode.kafkaStorageError)
        c.run(ticks: 3 * 10 + 15)
        let handed = c.damage.compactMap { d -> NodeID? in if case .handedOff(let to, _) = d.1.kind { return to } else { return nil } }
        #expect(handed.count == 1)
        let newLeader = try #require(c.cores.indices.first { c.cores[$0].raftOf(gid)?.role == .leader })
        #expect(newLeader != leader)
        #expect(handed.first == c.cores[newLeader].config.id)
        let there = try KafkaDataTests.fetch(c, from: newLeader, offset: offset, correlation: 3)
        #expect(there.errorCode == .none && ReadDamageTests.records(there) == original)
        // The old leader still holds the damage out of service; once copies flow again it is mended.
        c.dropRepairs = false
        c.run(ticks: 25)
        #expect(c.damage.contains { if case .mended = $0.1.kind { return $0.0 == leader } else { return false } })
        #expect(try c.storages[leader].storage(of: gid)!.log.read(last).entry == stored.entry)
    }
}
