@testable import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Storage
import Testing

/// DeleteRecords through the node cores of an in-memory cluster with 4 KiB segments: the log start
/// offset moves on every replica through the partition's Raft log, survives restarts and reaches
/// a follower that was away; whole segments below it go; Kafka's errors for the rest.
struct DeleteRecordsTests {
    static func delete(_ c: MiniCluster, at node: Int, _ partitions: [(String, Int32, Int64)], correlation: Int32, version: Int16 = 2)
        throws -> [DeleteRecordsResponse.DeleteRecordsPartitionResult] {
        var topics: [DeleteRecordsRequest.DeleteRecordsTopic] = []
        for (topic, partition, offset) in partitions {
            if topics.last?.name != topic { topics.append(.init(name: topic)) }
            topics[topics.count - 1].partitions.append(.init(partitionIndex: partition, offset: offset))
        }
        let request = DeleteRecordsRequest(topics: topics, timeoutMs: 5000)
        var r = try MiniCluster.body(c.kafka(node, key: .deleteRecords, version: version, correlation: correlation) { request.encode(&$0, version: version) },
                                     correlation: correlation, flexible: version >= 2)
        return try DeleteRecordsResponse.decode(&r, version: version).topics.flatMap(\.partitions)
    }

    @Test("the log start moves on every replica, reads below it are out of range, whole segments below it go; it survives a restart")
    func movesTheLogStart() throws {
        let clock = RetentionTests.Clock()
        let (c, leader, gid) = try RetentionTests.cluster([], clock: clock)
        try RetentionTests.produce(c, leader, count: 60, timestamp: 1000, from: 1)
        let sizes = c.storages.map { $0.storage(of: gid)!.log.sizeBytes }
        let answer = try Self.delete(c, at: leader, [("t", 0, 100)], correlation: 100)
        #expect(answer.map(\.errorCode) == [ErrorCode.none] && answer.first?.lowWatermark == 100)
        c.run(ticks: 12)
        #expect(try RetentionTests.offsets(c, leader, correlation: 101) == (100, 180))
        #expect(try KafkaDataTests.fetch(c, from: leader, offset: 99, correlation: 102).errorCode == ErrorCode.offsetOutOfRange)
        let p = try KafkaDataTests.fetch(c, from: leader, offset: 100, correlation: 103)
        #expect(p.errorCode == ErrorCode.none && p.logStartOffset == 100)
        // The batch holding offset 100 (99-101) is served whole, as Kafka serves it.
        #expect(try RecordBatch.batches(in: try #require(p.records)).first?.baseOffset == 99)
        for (i, s) in c.storages.enumerated() {
            let log = try #require(s.storage(of: gid)?.log)
            #expect(c.cores[i].group(gid)?.logStartOffset == 100, "node \(i + 1)")
            // Whole 4 KiB segments (about 30 records each) below 100 went: storage starts within one of it.
            #expect(log.logStartOffset.value > 60 && log.logStartOffset.value <= 100 && log.sizeBytes < sizes[i] * 6 / 10,
                    "node \(i + 1): storage starts at \(log.logStartOffset.value), \(log.sizeBytes) of \(sizes[i]) bytes")
        }
        // A follower restarted from its disk: the start comes back from its snapshot, not from
        // the segments it still holds (which start before 100).
        let follower = (leader + 1) % 3
        try c.start(follower, members: [1, 2, 3], fs: c.filesystems[follower], incarnation: 1)
        c.run(ticks: 40)
        #expect(c.cores[follower].group(gid)?.logStartOffset == 100)
        #expect(c.rejected.isEmpty)
    }

    @Test("below what retention already trimmed on the leader: still written, so every replica keeps the floor after a failover")
    func belowRetention() throws {
        let clock = RetentionTests.Clock()
        let (c, leader, gid) = try RetentionTests.cluster([("retention.bytes", "8192")], clock: clock)
        try RetentionTests.produce(c, leader, count: 60, timestamp: 1000, from: 1)
        c.run(ticks: 5)
        let start = try #require(c.cores[leader].group(gid)?.logStartOffset)
        #expect(start > 20)
        let answer = try Self.delete(c, at: leader, [("t", 0, 20)], correlation: 100)
        #expect(answer.map(\.errorCode) == [ErrorCode.none] && answer.first?.lowWatermark == 20)
        c.run(ticks: 5)
        for core in c.cores { #expect(core.group(gid)?.recordsDeletedBelow == 20) }
    }

    @Test("a follower cut off while records were deleted applies the deletion when it catches up")
    func followerCatchesUp() throws {
        let clock = RetentionTests.Clock()
        let (c, leader, gid) = try RetentionTests.cluster([], clock: clock)
        try RetentionTests.produce(c, leader, count: 10, timestamp: 1000, from: 1)
        let away = (leader + 2) % 3
        c.isolated = away
        #expect(try Self.delete(c, at: leader, [("t", 0, 20)], correlation: 100).first?.lowWatermark == 20)
        #expect(c.cores[away].group(gid)?.logStartOffset == 0)
        c.isolated = nil
        c.run(ticks: 40)
        #expect(c.cores[away].group(gid)?.logStartOffset == 20)
        // -1 is the high watermark: everything goes, the partition takes writes after it.
        #expect(try Self.delete(c, at: leader, [("t", 0, -1)], correlation: 101).first?.lowWatermark == 30)
        try RetentionTests.produce(c, leader, count: 1, timestamp: 1000, from: 200)
        c.run(ticks: 12)
        #expect(try RetentionTests.offsets(c, leader, correlation: 202) == (30, 33))
        for core in c.cores { #expect(core.group(gid)?.logStartOffset == 30) }
    }

    @Test("Kafka's errors: past the high watermark, not the leader, unknown partition, compact-only topic; an offset below the start changes nothing")
    func errors() throws {
        let clock = RetentionTests.Clock()
        let (c, leader, _) = try RetentionTests.cluster([], clock: clock)
        try RetentionTests.produce(c, leader, count: 10, timestamp: 1000, from: 1)
        let (out, _) = try c.cores[c.controllerIndex].proposeToController(
            .createTopic(name: "kept", partitions: 1, replicationFactor: 3, configs: ConfigOverrides([("cleanup.policy", "compact")])))
        c.take(c.controllerIndex, out)
        c.run(ticks: 40)
        let keptGroup = try #require(c.cores[0].controller.topic("kept")?.partitions.first?.group)
        let keptLeader = try #require(c.cores.indices.first { c.cores[$0].raftOf(keptGroup)?.role == .leader })
        #expect(try Self.delete(c, at: leader, [("t", 0, 31)], correlation: 100).map(\.errorCode) == [.offsetOutOfRange])
        #expect(try Self.delete(c, at: leader, [("t", 0, -2)], correlation: 101).map(\.errorCode) == [.offsetOutOfRange])
        #expect(try Self.delete(c, at: (leader + 1) % 3, [("t", 0, 5)], correlation: 102).map(\.errorCode) == [.notLeaderOrFollower])
        #expect(try Self.delete(c, at: leader, [("t", 1, 5), ("nope", 0, 5)], correlation: 103).map(\.errorCode)
                == [.unknownTopicOrPartition, .unknownTopicOrPartition])
        #expect(try Self.delete(c, at: keptLeader, [("kept", 0, 0)], correlation: 104).map(\.errorCode) == [.policyViolation])
        #expect(try Self.delete(c, at: leader, [("t", 0, 12)], correlation: 105, version: 0).map(\.lowWatermark) == [12])
        let again = try Self.delete(c, at: leader, [("t", 0, 6)], correlation: 106, version: 1)
        #expect(again.map(\.errorCode) == [.none] && again.map(\.lowWatermark) == [12])
        #expect(try RetentionTests.offsets(c, leader, correlation: 107).earliest == 12)
    }
}
