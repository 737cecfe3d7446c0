import Broker
import KafkaProtocol
import Primitives
import Raft
import Testing

/// Many partitions at once (issue 14): leaders follow placement, CreateTopics answers once they are elected.
struct PartitionLeadersTests {
    /// Three cores with topic `name` (replication 3) created through the controller and run for
    /// `ticks` more ticks.
    static func cluster(topic name: String, partitions: Int32, ticks: Int = 40, configure: @escaping (inout NodeConfig) -> Void = { _ in })
        throws -> (MiniCluster, TopicState)
    {
        let cluster = try MiniCluster(nodes: 3, configure: configure)
        cluster.run(ticks: 40)
        let leader = try #require(cluster.controllerLeader)
        let (out, _) = try cluster.cores[leader].proposeToController(.createTopic(name: name, partitions: partitions, replicationFactor: 3))
        cluster.take(leader, out)
        cluster.run(ticks: ticks)
        return (cluster, try #require(cluster.cores[0].controller.topic(name)))
    }

    @Test("a 30-partition topic on three nodes: each node leads the 10 partitions it is the first replica of")
    func leadersFollowPlacement() throws {
        let (cluster, topic) = try Self.cluster(topic: "wide", partitions: 30)
        var led = [0, 0, 0]
        for p in topic.partitions {
            let leaders = cluster.cores.indices.filter { cluster.cores[$0].raftOf(p.group)?.role == .leader }
            #expect(leaders.count == 1)
            #expect(leaders.first.map { cluster.cores[$0].config.id } == p.replicas.first, "partition \(p.partition)")
            for l in leaders { led[l] += 1 }
        }
        #expect(led == [10, 10, 10])
    }

    @Test("CreateTopics is answered once every new partition has a leader, not as soon as the controller applied it")
    func createAnsweredWhenLed() throws {
        let cluster = try MiniCluster(nodes: 3)
        cluster.run(ticks: 40)
        let at = 1
        var leadersAtAnswer: [Bool] = []
        cluster.onCompletion = { i, _ in
            let core = cluster.cores[i]
            guard let topic = core.controller.topic("led") else { return }
            leadersAtAnswer.append(topic.partitions.allSatisfy { !(core.raftOf($0.group)?.leader.isNone ?? true) })
        }
        var r = try MiniCluster.body(cluster.kafka(at, key: .createTopics, version: 4, correlation: 7) {
            CreateTopicsRequest(topics: [.init(name: "led", numPartitions: 12, replicationFactor: 3)], timeoutMs: 30_000).encode(&$0, version: 4)
        }, correlation: 7)
        #expect(try CreateTopicsResponse.decode(&r, version: 4).topics.map(\.errorCode) == [ErrorCode.none])
        #expect(leadersAtAnswer == [true])
    }

    @Test("idle partitions quiesce on every node; cut off the node leading some, and the other two elect leaders for them")
    func quiescedGroupsFailOver() throws {
        let (cluster, topic) = try Self.cluster(topic: "idle", partitions: 9, ticks: 60)
        func quiesced(_ i: Int) -> Int { topic.partitions.filter { cluster.cores[i].raftOf($0.group)?.isQuiesced == true }.count }
        #expect((0..<3).map(quiesced) == [9, 9, 9])
        // Quiet: a tick of every node sends no partition's Raft message (the controller's and
        // the keepalives only).
        for i in 0..<3 {
            let out = cluster.cores[i].tick()
            #expect(out.messages.allSatisfy { $0.1.allSatisfy { $0.group == controllerGroup } })
            cluster.take(i, out)
        }
        cluster.settle()
        // Node 1 is cut off. Nodes 2 and 3 stop hearing from it, wake the groups it has a
        // replica in, and elect leaders for the three it led.
        cluster.isolated = 0
        let led = topic.partitions.filter { cluster.cores[0].raftOf($0.group)?.role == .leader }
        #expect(led.count == 3)
        cluster.run(ticks: 60)
        for p in led {
            let leaders = [1, 2].filter { cluster.cores[$0].raftOf(p.group)?.role == .leader }
            #expect(leaders.count == 1, "partition \(p.partition) has no leader among nodes 2 and 3")
        }
        // Healed, the group settles and quiesces again everywhere.
        cluster.isolated = nil
        cluster.run(ticks: 80)
        #expect((0..<3).map(quiesced) == [9, 9, 9])
    }

    @Test("a new link to a peer wakes the quiesced groups with a replica there (what the old link carried may be lost); they quiesce again")
    func linkRestoredWakes() throws {
        let (cluster, topic) = try Self.cluster(topic: "idle", partitions: 6, ticks: 60)
        func quiesced(_ i: Int) -> Int { topic.partitions.filter { cluster.cores[i].raftOf($0.group)?.isQuiesced == true }.count }
        #expect((0..<3).map(quiesced) == [6, 6, 6])
        cluster.take(1, cluster.cores[1].linkRestored(to: cluster.cores[0].config.id))
        #expect(quiesced(1) == 0)
        cluster.run(ticks: 60)
        #expect((0..<3).map(quiesced) == [6, 6, 6])
    }

    @Test("leaders go back to their first replica: a node cut off and back leads its partitions again within a balance interval")
    func leadersReturn() throws {
        let (cluster, topic) = try Self.cluster(topic: "back", partitions: 9, configure: { $0.leaderBalanceMs = 2000 })
        let first = topic.partitions.filter { $0.replicas.first == cluster.cores[0].config.id }
        #expect(first.count == 3)
        cluster.isolated = 0
        cluster.run(ticks: 60)
        #expect(first.allSatisfy { p in [1, 2].contains { cluster.cores[$0].raftOf(p.group)?.role == .leader } }, "the others took over")
        cluster.isolated = nil
        cluster.run(ticks: 60)
        #expect(first.allSatisfy { cluster.cores[0].raftOf($0.group)?.role == .leader }, "node 1 leads its partitions again")
        var led = [0, 0, 0]
        for p in topic.partitions {
            for i in 0..<3 where cluster.cores[i].raftOf(p.group)?.role == .leader { led[i] += 1 }
        }
        #expect(led == [3, 3, 3])
    }
}
