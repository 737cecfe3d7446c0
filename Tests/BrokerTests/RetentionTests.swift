@testable import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Storage
import Testing

/// retention.bytes and retention.ms through the node cores of an in-memory cluster with 4 KiB
/// segments: whole closed segments go on every replica, offsets never change, the log start moves.
struct RetentionTests {
    /// Three nodes, topic `t` (one partition, three replicas) with `configs`; every node's storage
    /// reads its clock from `clock`.
    static func cluster(_ configs: [(String, String)], clock: Clock) throws -> (MiniCluster, Int, GroupID) {
        let c = try MiniCluster(nodes: 3, configure: { $0.retentionCheckMs = 1000 }, logConfig: { g in
            var small = PartitionLogConfig()
            small.segmentBytesMax = 4096
            return g == controllerGroup ? PartitionLogConfig() : KafkaEntry.logConfig(small)
        })
        for s in c.storages { s.clockMs = { clock.ms } }
        c.run(ticks: 40)
        let (out, _) = try c.cores[c.controllerIndex].proposeToController(
            .createTopic(name: "t", partitions: 1, replicationFactor: 3, configs: ConfigOverrides(configs)))
        c.take(c.controllerIndex, out)
        c.run(ticks: 60)
        let gid = try #require(c.cores[0].controller.topic("t")?.partitions.first?.group)
        let leader = try #require(c.cores.indices.first { c.cores[$0].raftOf(gid)?.role == .leader })
        return (c, leader, gid)
    }

    final class Clock: @unchecked Sendable { var ms: Int64 = 0 }

    /// `count` produces of three 100-byte records each, stamped `timestamp`, acks=all.
    static func produce(_ c: MiniCluster, _ leader: Int, count: Int, timestamp: Int64, from correlation: Int32) throws {
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: 100)
        for k in 0..<count {
            let batch = RecordBatch.build(records: [(nil, value), (nil, value), (nil, value)], timestamp: timestamp)
            let request = ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: batch.bytes)])])
            let id = correlation + Int32(k)
            var r = try MiniCluster.body(c.kafka(leader, key: .produce, version: 8, correlation: id) { request.encode(&$0, version: 8) }, correlation: id)
            #expect(try ProduceResponse.decode(&r, version: 8).responses[0].partitionResponses[0].errorCode == ErrorCode.none)
        }
    }

    static func offsets(_ c: MiniCluster, _ leader: Int, correlation: Int32) throws -> (earliest: Int64, latest: Int64) {
        let request = ListOffsetsRequest(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: ListOffsetsRequest.earliest)]),
                                                  .init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: ListOffsetsRequest.latest)])])
        var r = try MiniCluster.body(c.kafka(leader, key: .listOffsets, version: 5, correlation: correlation) { request.encode(&$0, version: 5) }, correlation: correlation)
        let o = try ListOffsetsResponse.decode(&r, version: 5).topics.map { $0.partitions[0].offset }
        return (o[0], o[1])
    }

    @Test("retention.bytes: each replica keeps at least that much and less than a segment more; offsets are unchanged, reads below the start are out of range")
    func bySize() throws {
        let clock = Clock()
        let (c, leader, gid) = try Self.cluster([("retention.bytes", "8192")], clock: clock)
        try Self.produce(c, leader, count: 60, timestamp: 1000, from: 1)
        c.run(ticks: 5)
        for (i, s) in c.storages.enumerated() {
            let log = try #require(s.storage(of: gid)?.log)
            #expect(log.sizeBytes >= 8192 && log.sizeBytes < 8192 + 4096 + 1024, "node \(i + 1): \(log.sizeBytes) bytes")
            #expect(log.logStartOffset.value > 0 && c.cores[i].group(gid)?.logStartOffset == log.logStartOffset.value)
        }
        let (earliest, latest) = try Self.offsets(c, leader, correlation: 100)
        #expect(earliest > 0 && earliest % 3 == 0 && latest == 180)
        #expect(try KafkaDataTests.fetch(c, from: leader, offset: 0, correlation: 101).errorCode == ErrorCode.offsetOutOfRange)
        let p = try KafkaDataTests.fetch(c, from: leader, offset: earliest, correlation: 102)
        #expect(try RecordBatch.batches(in: try #require(p.records)).first?.baseOffset == earliest && p.logStartOffset == earliest)
        // Writes go on after the trim, at the offsets that follow.
        try Self.produce(c, leader, count: 1, timestamp: 1000, from: 200)
        #expect(try Self.offsets(c, leader, correlation: 201).latest == 183)
    }

    @Test("a restarted node's log start is where its trimmed log starts, not 0 (ListOffsets earliest on it)")
    func startAfterRestart() throws {
        let clock = Clock()
        let (c, leader, gid) = try Self.cluster([("retention.bytes", "8192")], clock: clock)
        try Self.produce(c, leader, count: 60, timestamp: 1000, from: 1)
        c.run(ticks: 5)
        let node = (leader + 1) % 3
        let start = try #require(c.storages[node].storage(of: gid)?.log.logStartOffset.value)
        #expect(start > 0)
        try c.start(node, members: [1, 2, 3], fs: c.filesystems[node], incarnation: 1)
        c.run(ticks: 40)
        #expect(c.cores[node].group(gid)?.logStartOffset == start)
    }

    @Test("retention.ms: closed segments whose newest record is older go, written to or idle (the periodic check), never the active one")
    func byTime() throws {
        let clock = Clock()
        let (c, leader, gid) = try Self.cluster([("retention.ms", "100000")], clock: clock)
        try Self.produce(c, leader, count: 20, timestamp: 1000, from: 1)
        try Self.produce(c, leader, count: 20, timestamp: 500_000, from: 100)
        c.run(ticks: 12)
        #expect(try Self.offsets(c, leader, correlation: 200).earliest == 0, "nothing is older than 100 s at time 0")
        // At 300 s the first records are old; the segments holding only them go, on every replica,
        // without a write (the check every retentionCheckMs).
        clock.ms = 300_000
        c.run(ticks: 12)
        let firstCut = try Self.offsets(c, leader, correlation: 201).earliest
        #expect(firstCut > 0 && firstCut <= 60)
        for i in c.cores.indices { #expect(c.cores[i].group(gid)?.logStartOffset ?? 0 > 0, "node \(i + 1)") }
        // At 1000 s every closed segment is old: they go too (the partition's snapshot already
        // covers everything applied), the active one stays.
        clock.ms = 1_000_000
        c.run(ticks: 12)
        let (earliest, latest) = try Self.offsets(c, leader, correlation: 202)
        #expect(earliest > firstCut && earliest < 120 && latest == 120)
        for s in c.storages {
            let log = try #require(s.storage(of: gid)?.log)
            #expect(log.sizeBytes > 0 && log.sizeBytes <= 4096 + 1024)
        }
        #expect(c.rejected.isEmpty)
    }

    @Test("segment.ms: an idle partition's active segment closes once its first record is that old, and then retention by time takes it all")
    func segmentRoll() throws {
        let clock = Clock()
        let (c, leader, gid) = try Self.cluster([("retention.ms", "100000"), ("segment.ms", "50000")], clock: clock)
        try Self.produce(c, leader, count: 4, timestamp: 1000, from: 1)  // 1.2 KB: one segment
        c.run(ticks: 12)
        #expect(try Self.offsets(c, leader, correlation: 100) == (0, 12))
        clock.ms = 60_000  // the segment is 59 s old: closed, but its records are not yet expired
        c.run(ticks: 12)
        #expect(try Self.offsets(c, leader, correlation: 101).earliest == 0)
        clock.ms = 200_000
        c.run(ticks: 12)
        #expect(try Self.offsets(c, leader, correlation: 102) == (12, 12), "every record expired")
        for s in c.storages { #expect(try #require(s.storage(of: gid)?.log).sizeBytes == 0) }
        // The partition takes writes at the offsets that follow.
        try Self.produce(c, leader, count: 1, timestamp: 200_000, from: 200)
        #expect(try Self.offsets(c, leader, correlation: 201) == (12, 15))
        #expect(try KafkaDataTests.fetch(c, from: leader, offset: 12, correlation: 202).errorCode == ErrorCode.none)
    }

    @Test("a topic's policy: its own values, else the cluster's, else Kafka's 7 days; none for compact-only topics and __consumer_offsets")
    func policies() throws {
        var controller = ControllerState(members: [NodeID(1)], firstGroup: 1)
        func topic(_ name: String, _ configs: [(String, String)]) -> TopicState {
            TopicState(name: name, partitions: [], configs: ConfigOverrides(configs))
        }
        #expect(RetentionPolicy.of(topic("a", []), in: controller) == .kafkaDefault)
        #expect(RetentionPolicy.of(topic("a", [("retention.ms", "-1")]), in: controller).limitsAnything == false)
        #expect(RetentionPolicy.of(topic("a", [("retention.bytes", "5000"), ("retention.ms", "-1"), ("segment.ms", "9000")]), in: controller)
                == RetentionPolicy(bytes: 5000, segmentMs: 9000))
        #expect(RetentionPolicy.of(topic("a", [("cleanup.policy", "compact")]), in: controller) == .keepEverything)
        #expect(RetentionPolicy.of(topic("a", [("cleanup.policy", "compact,delete")]), in: controller) == .kafkaDefault)
        #expect(RetentionPolicy.of(topic(offsetsTopic, []), in: controller) == .keepEverything)
        _ = controller.apply(Entry(term: Term(1), index: LogIndex(1), kind: .normal,
                                   data: ControllerCommand.alterConfigs(.cluster, [ConfigChange(name: "log.retention.ms", operation: .set, value: "60000")], replacing: false).encode()))
        #expect(RetentionPolicy.of(topic("a", []), in: controller).ms == 60000)
        #expect(RetentionPolicy.of(topic("a", [("retention.ms", "1000")]), in: controller).ms == 1000)
    }
}
