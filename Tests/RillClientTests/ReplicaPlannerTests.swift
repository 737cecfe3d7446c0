import RillClient
import Testing

/// The planner behind `rill node drain` and `rill cluster balance`.
struct ReplicaPlannerTests {
    typealias P = ReplicaPlanner.Partition

    /// `count` partitions of topic `t` with replication `rf`, placed round robin over `nodes` as
    /// the controller places them.
    static func placed(_ count: Int, rf: Int, nodes: [Int32]) -> [P] {
        (0..<count).map { p in P(topic: "t", partition: Int32(p), replicas: (0..<rf).map { nodes[(p + $0) % nodes.count] }) }
    }

    static func load(_ ps: [P], _ moves: [ReplicaPlanner.Move], nodes: [Int32]) -> [Int32: Int] {
        var out: [Int32: Int] = Dictionary(uniqueKeysWithValues: nodes.map { ($0, 0) })
        for p in ps {
            let replicas = moves.first { $0.topic == p.topic && $0.partition == p.partition }?.replicas ?? p.replicas
            for r in replicas { out[r]! += 1 }
        }
        return out
    }

    @Test("drain: every replica leaves the node, each partition keeps its replication factor and distinct replicas, the rest stay even")
    func drain() throws {
        let nodes: [Int32] = [1, 2, 3, 4, 5]
        let ps = Self.placed(20, rf: 3, nodes: nodes)
        let moves = try ReplicaPlanner.drain(node: 3, partitions: ps, nodes: nodes)
        #expect(moves.count == ps.filter { $0.replicas.contains(3) }.count)
        for m in moves {
            let before = ps.first { $0.partition == m.partition }!
            #expect(!m.replicas.contains(3) && m.replicas.count == 3 && Set(m.replicas).count == 3)
            // Only the drained node's place changes.
            #expect(zip(before.replicas, m.replicas).allSatisfy { $0 == $1 || $0 == 3 })
        }
        let load = Self.load(ps, moves, nodes: nodes)
        #expect(load[3] == 0)
        let others = nodes.filter { $0 != 3 }.map { load[$0]! }
        #expect(others.max()! - others.min()! <= 1, "\(load)")
    }

    @Test("drain is refused, naming the partition, when it would leave a partition below its replication factor; and for a node not in the cluster")
    func drainRefused() {
        let ps = Self.placed(3, rf: 3, nodes: [1, 2, 3])
        #expect(throws: ReplicaPlanner.Refusal.self) { try ReplicaPlanner.drain(node: 2, partitions: ps, nodes: [1, 2, 3]) }
        do {
            _ = try ReplicaPlanner.drain(node: 2, partitions: ps, nodes: [1, 2, 3])
        } catch {
            #expect(error.description.contains("t[0]") && error.description.contains("replication factor"))
        }
        #expect(throws: ReplicaPlanner.Refusal.self) { try ReplicaPlanner.drain(node: 9, partitions: ps, nodes: [1, 2, 3]) }
        // A single-replica topic drains from one of three nodes.
        let single = Self.placed(6, rf: 1, nodes: [1, 2, 3])
        #expect(((try? ReplicaPlanner.drain(node: 1, partitions: single, nodes: [1, 2, 3])) ?? []).count == 2)
    }

    @Test("balance: after a node held nothing (a drained node back in service), replicas and preferred leaders spread to within one")
    func balance() throws {
        let nodes: [Int32] = [1, 2, 3, 4, 5]
        let ps = Self.placed(20, rf: 3, nodes: nodes)
        let drained = try ReplicaPlanner.drain(node: 5, partitions: ps, nodes: nodes)
        let uneven = ps.map { p in P(topic: p.topic, partition: p.partition, replicas: drained.first { $0.partition == p.partition }?.replicas ?? p.replicas) }
        let moves = ReplicaPlanner.balance(partitions: uneven, nodes: nodes)
        #expect(!moves.isEmpty)
        let load = Self.load(uneven, moves, nodes: nodes)
        #expect(load.values.max()! - load.values.min()! <= 1, "\(load)")
        var leaders: [Int32: Int] = [:]
        for p in uneven {
            let replicas = moves.first { $0.partition == p.partition }?.replicas ?? p.replicas
            #expect(Set(replicas).count == 3)
            leaders[replicas[0], default: 0] += 1
        }
        #expect(nodes.map { leaders[$0] ?? 0 }.max()! - nodes.map { leaders[$0] ?? 0 }.min()! <= 1, "\(leaders)")
        // Balanced already: nothing to do.
        #expect(ReplicaPlanner.balance(partitions: ps, nodes: nodes).isEmpty)
    }
}
