@testable import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Storage
import Testing

/// `message.timestamp.type`: LogAppendTime topics get the leader's clock in every batch (and in
/// Produce's answer); CreateTime topics keep the producer's timestamps.
struct TimestampTypeTests {
    static func cluster(type: String) throws -> (MiniCluster, Int) {
        let c = try MiniCluster(nodes: 3)
        for (i, core) in c.cores.enumerated() { core.clockMs = { 1_700_000_000_000 + Int64(i) } }  // each node its own
        c.run(ticks: 40)
        let (out, _) = try c.cores[c.controllerIndex].proposeToController(
            .createTopic(name: "t", partitions: 1, replicationFactor: 3, configs: ConfigOverrides([("message.timestamp.type", type)])))
        c.take(c.controllerIndex, out)
        c.run(ticks: 60)
        let gid = try #require(c.cores[0].controller.topic("t")?.partitions.first?.group)
        let leader = try #require(c.cores.indices.first { c.cores[$0].raftOf(gid)?.role == .leader })
        return (c, leader)
    }

    static func offset(forTime ts: Int64, _ c: MiniCluster, _ leader: Int, correlation: Int32) throws -> Int64 {
        let request = ListOffsetsRequest(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: ts)])])
        var r = try MiniCluster.body(c.kafka(leader, key: .listOffsets, version: 5, correlation: correlation) { request.encode(&$0, version: 5) }, correlation: correlation)
        return try #require(try ListOffsetsResponse.decode(&r, version: 5).topics.first?.partitions.first).offset
    }

    @Test("LogAppendTime: the leader stamps each batch (type bit, max timestamp, valid CRC), answers the time, and every record reads it")
    func logAppendTime() throws {
        let (c, leader) = try Self.cluster(type: "LogAppendTime")
        let stamp = 1_700_000_000_000 + Int64(leader)
        let answer = try #require(try KafkaDataTests.produce(c, to: leader, acks: -1, correlation: 1, values: ["a", "b", "c"]))
        #expect(answer.errorCode == ErrorCode.none && answer.logAppendTimeMs == stamp)
        for node in c.cores.indices {
            // Every replica serves the leader's stamp (not its own clock's).
            let p = try KafkaDataTests.fetch(c, from: node, offset: 0, correlation: 10 + Int32(node))
            guard p.errorCode == ErrorCode.none else { continue }  // followers do not serve
            let records = try #require(p.records)
            let batch = try #require(try RecordBatch.batches(in: records).first)  // validates the CRC
            #expect(batch.isLogAppendTime && batch.maxTimestamp == stamp && batch.baseTimestamp == 1000)
            let stamps = try batch.decodedRecords().map(\.timestamp)
            #expect(stamps == [stamp, stamp, stamp])
        }
        #expect(try Self.offset(forTime: stamp, c, leader, correlation: 20) == 0)
        #expect(try Self.offset(forTime: stamp + 1, c, leader, correlation: 21) == -1)
        #expect(try Self.offset(forTime: 1000, c, leader, correlation: 22) == 0)
    }

    @Test("CreateTime (the default): the producer's timestamps stay, Produce answers -1")
    func createTime() throws {
        let (c, leader) = try Self.cluster(type: "CreateTime")
        let answer = try #require(try KafkaDataTests.produce(c, to: leader, acks: -1, correlation: 1, values: ["a"]))
        #expect(answer.errorCode == ErrorCode.none && answer.logAppendTimeMs == -1)
        let p = try KafkaDataTests.fetch(c, from: leader, offset: 0, correlation: 2)
        let records = try #require(p.records)
        let batch = try #require(try RecordBatch.batches(in: records).first)
        let stamps = try batch.decodedRecords().map(\.timestamp)
        #expect(!batch.isLogAppendTime && batch.maxTimestamp == 1000 && stamps == [1000])
    }
}
