import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Testing

/// DescribeLogDirs through the node cores of an in-memory cluster.
struct LogDirsTests {
    static func describe(_ c: MiniCluster, _ i: Int, _ topics: [DescribeLogDirsRequest.DescribableLogDirTopic]?, version: Int16 = 4,
                         correlation: Int32) throws -> DescribeLogDirsResponse {
        var r = try MiniCluster.body(c.kafka(i, key: .describeLogDirs, version: version, correlation: correlation) {
            DescribeLogDirsRequest(topics: topics).encode(&$0, version: version)
        }, correlation: correlation, flexible: version >= 2)
        return try DescribeLogDirsResponse.decode(&r, version: version)
    }

    @Test("DescribeLogDirs: every replica's data directory lists the partition with the bytes its storage holds; named topics only when asked")
    func sizes() throws {
        let (c, leader) = try KafkaDataTests.cluster()
        _ = try KafkaDataTests.produce(c, to: leader, acks: -1, correlation: 1, values: ["a", "b", "c"])
        c.run(ticks: 5)
        let gid = try #require(c.cores[0].controller.topic("t")?.partitions.first?.group)
        for i in c.cores.indices {
            let d = try Self.describe(c, i, nil, correlation: Int32(10 + i))
            let dir = try #require(d.results.first)
            #expect(d.errorCode == ErrorCode.none && d.results.count == 1 && dir.errorCode == ErrorCode.none)
            #expect(dir.logDir == "data" && dir.totalBytes == -1 && dir.usableBytes == -1)
            let p = try #require(dir.topics.first { $0.name == "t" }?.partitions.first)
            let stored = try #require(c.storages[i].storage(of: gid)?.log.sizeBytes)
            #expect(p.partitionIndex == 0 && stored > 0 && p.partitionSize == Int64(stored) && p.offsetLag == 0 && !p.isFutureKey,
                    "node \(i + 1): \(p.partitionSize) reported, \(stored) stored")
        }
        let named = try Self.describe(c, leader, [.init(topic: "t", partitions: [0, 5])], version: 1, correlation: 20)
        #expect(named.results.first?.topics.map(\.name) == ["t"] && named.results.first?.topics.first?.partitions.map(\.partitionIndex) == [0])
        let unknown = try Self.describe(c, leader, [.init(topic: "nope", partitions: [0])], correlation: 21)
        #expect(unknown.results.first?.topics.isEmpty == true)
    }
}
