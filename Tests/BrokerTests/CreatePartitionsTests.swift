@testable import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Testing

struct CreatePartitionsTests {
    func createPartitions(_ c: MiniCluster, node: Int, _ topics: [CreatePartitionsRequest.CreatePartitionsTopic], validateOnly: Bool = false,
                          correlation: Int32) throws -> [CreatePartitionsResponse.CreatePartitionsTopicResult] {
        var r = try MiniCluster.body(c.kafka(node, key: .createPartitions, version: 3, correlation: correlation) {
            CreatePartitionsRequest(topics: topics, timeoutMs: 5000, validateOnly: validateOnly).encode(&$0, version: 3)
        }, correlation: correlation, flexible: true)
        return try CreatePartitionsResponse.decode(&r, version: 3).results
    }

    @Test("CreatePartitions grows a topic from any node: new Raft groups on their replicas, writable; decreases, no-ops, unknown topics and manual assignments refused")
    func grow() throws {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        let leader = c.controllerIndex
        let (out, _) = try c.cores[leader].proposeToController(.createTopic(name: "t", partitions: 2, replicationFactor: 2))
        c.take(leader, out)
        c.run(ticks: 40)
        let follower = (leader + 1) % 3
        let id = try #require(c.cores[leader].controller.topic("t")?.id)

        let dry = try createPartitions(c, node: follower, [.init(name: "t", count: 4)], validateOnly: true, correlation: 2)
        #expect(dry.map(\.errorCode) == [ErrorCode.none] && c.cores[leader].controller.topic("t")?.partitions.count == 2)
        let grown = try createPartitions(c, node: follower, [.init(name: "t", count: 5)], correlation: 3)
        #expect(grown.map(\.errorCode) == [ErrorCode.none], "\(grown)")
        c.run(ticks: 60)
        for core in c.cores {
            let t = try #require(core.controller.topic("t"))
            #expect(t.partitions.map(\.partition) == [0, 1, 2, 3, 4] && t.id == id)
            for a in t.partitions where a.replicas.contains(core.config.id) { #expect(core.raftOf(a.group) != nil, "\(a)") }
        }
        // The new partition takes writes on its leader.
        let a4 = try #require(c.cores[leader].controller.topic("t")?.partitions[4])
        let p4 = try #require(c.cores.firstIndex { $0.raftOf(a4.group)?.role == .leader })
        let batch = RecordBatch.build(records: [(nil, Array("v".utf8))], timestamp: 1000)
        var pr = try MiniCluster.body(c.kafka(p4, key: .produce, version: 8, correlation: 4) {
            ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [.init(name: "t", partitionData: [.init(index: 4, records: batch.bytes)])]).encode(&$0, version: 8)
        }, correlation: 4)
        #expect(try ProduceResponse.decode(&pr, version: 8).responses.first?.partitionResponses.first?.errorCode == ErrorCode.none)

        let refused = try createPartitions(c, node: leader, [
            .init(name: "t", count: 5), .init(name: "t2", count: 3), .init(name: "t", count: 3),
        ], correlation: 5)
        #expect(refused.map(\.errorCode) == [ErrorCode.invalidPartitions, ErrorCode.unknownTopicOrPartition, ErrorCode.invalidRequest], "\(refused)")
        #expect(refused[0].errorMessage?.contains("already has 5 partition(s)") == true)
        let smaller = try createPartitions(c, node: leader, [.init(name: "t", count: 3)], correlation: 6)
        #expect(smaller.first?.errorCode == ErrorCode.invalidPartitions && smaller.first?.errorMessage?.contains("would not be an increase") == true)
        let manual = try createPartitions(c, node: leader, [.init(name: "t", count: 6, assignments: [.init(brokerIDs: [1, 2])])], correlation: 7)
        #expect(manual.first?.errorCode == ErrorCode.invalidReplicaAssignment)
        #expect(c.cores[leader].controller.topic("t")?.partitions.count == 5)
    }

    @Test("the offsets topic cannot grow: every group's coordinator is its id's hash over the partition count")
    func offsetsTopicFixed() {
        let t = TopicState(name: offsetsTopic, partitions: [PartitionAssignment(partition: 0, group: GroupID(1), replicas: [NodeID(1)])])
        #expect(ControllerState.validatePartitionIncrease(t, to: 2)?.contains("cannot be added") == true)
    }
}
