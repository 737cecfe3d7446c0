import Broker
import Primitives
import Raft
import Testing

/// The node-wide bound on what Kafka partitions' Raft logs hold in memory (issue 14: producing to
/// a thousand partitions at once grew each node by the whole stream).
struct KafkaMemoryTests {
    @Test("many partitions written at once: a node's in-memory logs stay under the node budget, and every entry stays on disk",
          arguments: [true, false])
    func budgetBoundsManyPartitions(bounded: Bool) throws {
        let budget = 16 * 1024
        let cluster = try MiniCluster(nodes: 3) { c in
            c.kafkaMemoryBytesTotal = bounded ? budget : 1 << 30
        }
        cluster.run(ticks: 40)
        let controller = try #require(cluster.controllerLeader)
        let (out, _) = try cluster.cores[controller].proposeToController(.createTopic(name: "m", partitions: 8, replicationFactor: 3))
        cluster.take(controller, out)
        cluster.run(ticks: 60)
        let partitions = try #require(cluster.cores[0].controller.topic("m")?.partitions).map(\.group)
        let payload = [UInt8](repeating: 7, count: 1000)
        for round in 0..<20 {
            for g in partitions {
                let leader = try #require(cluster.cores.indices.first { cluster.cores[$0].raftOf(g)?.role == .leader })
                _ = try cluster.cores[leader].propose(payload, to: g)
                cluster.take(leader, cluster.cores[leader].drain())
            }
            if round % 5 == 4 { cluster.settle() }
        }
        cluster.run(ticks: 20)
        for i in cluster.cores.indices {
            let core = cluster.cores[i]
            if bounded {
                #expect(core.kafkaRetainedBytes <= budget, "node \(i + 1) holds \(core.kafkaRetainedBytes) bytes")
            } else {
                #expect(core.kafkaRetainedBytes >= 8 * 20 * 1000, "without a node budget every applied byte stays")
            }
            for g in partitions {
                let raft = try #require(core.raftOf(g))
                let log = try #require(cluster.storages[i].storage(of: g)?.log)
                // Snapshots free memory only: the disk keeps every entry from the first.
                #expect(log.firstIndex == LogIndex(1) && log.lastIndex == raft.lastIndex)
                #expect(raft.lastIndex.value >= 20)
            }
        }
    }
}
