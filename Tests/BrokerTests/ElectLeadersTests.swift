@testable import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Storage
import Testing

/// ElectLeaders through the node cores of an in-memory cluster: preferred election moves each
/// partition's leadership to its first replica from whichever node gets the request; what cannot
/// happen is answered with Kafka's codes.
struct ElectLeadersTests {
    static func elect(_ c: MiniCluster, at node: Int, type: Int8 = 0, _ partitions: [(String, [Int32])]?, timeoutMs: Int32 = 10_000, correlation: Int32)
        throws -> [String: ErrorCode] {
        let request = ElectLeadersRequest(electionType: type, topicPartitions: partitions?.map { .init(topic: $0.0, partitions: $0.1) }, timeoutMs: timeoutMs)
        var r = try MiniCluster.body(c.kafka(node, key: .electLeaders, version: 2, correlation: correlation) { request.encode(&$0, version: 2) },
                                     correlation: correlation, flexible: true)
        var out: [String: ErrorCode] = [:]
        for t in try ElectLeadersResponse.decode(&r, version: 2).replicaElectionResults {
            for p in t.partitionResult { out["\(t.topic)-\(p.partitionID)"] = p.errorCode }
        }
        return out
    }

    static func leader(_ c: MiniCluster, _ g: GroupID) -> NodeID? {
        c.cores.compactMap { $0.raftOf(g) }.first { $0.role == .leader }?.id
    }

    /// Three nodes, topic `t` with three partitions, every partition led by a replica other than
    /// its preferred one.
    static func cluster() throws -> (MiniCluster, [(GroupID, NodeID)]) {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        let (out, _) = try c.cores[c.controllerIndex].proposeToController(.createTopic(name: "t", partitions: 3, replicationFactor: 3))
        c.take(c.controllerIndex, out)
        c.run(ticks: 60)
        let parts = try #require(c.cores[0].controller.topic("t")?.partitions).map { ($0.group, $0.replicas[0]) }
        for (g, preferred) in parts where leader(c, g) == preferred {
            let k = Int(preferred.value) - 1
            let other = NodeID(preferred.value % 3 + 1)
            try c.cores[k].group(g)!.withRaft { try $0.transferLeadership(to: other) }
            c.take(k, c.cores[k].drain())
        }
        c.run(ticks: 40)
        for (g, preferred) in parts { #expect(leader(c, g) != preferred && leader(c, g) != nil) }
        return (c, parts)
    }

    @Test("preferred election from a node that is not the controller leader: every partition ends led by its first replica; again: ELECTION_NOT_NEEDED")
    func preferred() throws {
        let (c, parts) = try Self.cluster()
        let asked = (c.controllerIndex + 1) % 3
        let first = try Self.elect(c, at: asked, [("t", [0, 1, 2])], correlation: 1)
        #expect(first == ["t-0": .none, "t-1": .none, "t-2": .none])
        for (g, preferred) in parts { #expect(Self.leader(c, g) == preferred) }
        let again = try Self.elect(c, at: asked, nil, correlation: 2)  // null: every partition
        #expect(again == ["t-0": .electionNotNeeded, "t-1": .electionNotNeeded, "t-2": .electionNotNeeded])
        #expect(c.rejected.isEmpty)
    }

    @Test("asked while the partitions are still electing their first leaders: the replicas elected meanwhile hand over")
    func beforeFirstLeaders() throws {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        let (out, _) = try c.cores[c.controllerIndex].proposeToController(.createTopic(name: "t", partitions: 3, replicationFactor: 3))
        c.take(c.controllerIndex, out)
        c.run(ticks: 2)  // the groups exist, no leader yet
        let parts = try #require(c.cores[0].controller.topic("t")?.partitions).map { ($0.group, $0.replicas[0]) }
        #expect(parts.allSatisfy { Self.leader(c, $0.0) == nil })
        let answer = try Self.elect(c, at: c.controllerIndex, [("t", [0, 1, 2])], correlation: 1)
        #expect(answer.values.allSatisfy { $0 == .none || $0 == .electionNotNeeded }, "\(answer)")
        for (g, preferred) in parts { #expect(Self.leader(c, g) == preferred) }
    }

    @Test("Kafka's answers: unknown partition, unclean election, a preferred replica cut off (PREFERRED_LEADER_NOT_AVAILABLE in time)")
    func refusals() throws {
        let (c, parts) = try Self.cluster()
        #expect(try Self.elect(c, at: 0, [("t", [7]), ("nope", [0])], correlation: 1)
                == ["t-7": .unknownTopicOrPartition, "nope-0": .unknownTopicOrPartition])
        #expect(try Self.elect(c, at: 0, type: 1, [("t", [0])], correlation: 2) == ["t-0": .electionNotNeeded])
        // Partition 0's preferred replica is cut off: it cannot take over.
        let (g, preferred) = parts[0]
        c.isolated = Int(preferred.value) - 1
        let asked = (Int(preferred.value)) % 3  // another node
        #expect(try Self.elect(c, at: asked, [("t", [0])], timeoutMs: 3000, correlation: 3) == ["t-0": .preferredLeaderNotAvailable])
        #expect(Self.leader(c, g) != preferred)
    }
}
