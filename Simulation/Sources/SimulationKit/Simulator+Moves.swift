import Broker
import Primitives
import Raft

/// Partition moves under every fault class (5-node runs with `movePPM`): the controller leader is
/// asked to move a random Kafka partition — the workload's, an offsets partition or an idle one —
/// to 3-5 random nodes in a random order (a node that left may come back; the first is the
/// preferred leader), or to cancel the move in progress. Each partition's leader carries it out
/// as Raft membership changes (`NodeCore+Moves`) while the clients produce, consume and commit
/// through it; every checker keeps running: nothing acknowledged may be lost across a move, and
/// at most one leader per group and term. In the liveness phase every move must finish: each
/// partition's voters are exactly its replicas, every replica hosts it, and no other node does.
extension Simulator {
    func movePartition() {
        guard let i = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].group(0)?.raft.role == .leader }),
              let core = nodes[i].core
        else { return }
        let partitions = core.controller.topics.flatMap(\.partitions)
        guard !partitions.isEmpty else { return }
        let p = partitions[Int(moveRandom.below(UInt64(partitions.count)))]
        let move: PartitionMove
        if p.target != nil && moveRandom.chance(1, in: 4) {
            move = PartitionMove(group: p.group, replicas: nil)
        } else {
            var ids = nodes.map(\.id)
            moveRandom.shuffle(&ids)
            // Three at least: the fault model damages the disk of at most one node at a time,
            // which a group of three survives.
            move = PartitionMove(group: p.group, replicas: Array(ids.prefix(moveRandom.int(in: 3...nodes.count))))
        }
        do {
            let (out, at) = try core.proposeToController(.reassignPartitions([move]))
            stats.movesAsked += 1
            trace("n\(i + 1) g\(p.group) move to \(move.replicas.map { "\($0.map(\.value))" } ?? "cancelled") proposed at \(at)")
            carryOut(i, out)
        } catch {
            trace("n\(i + 1) g\(p.group) move refused: \(error)")
        }
    }

    /// In the liveness phase: why the moves are not all finished, if they are not.
    func movesNotFinished() -> String? {
        guard options.movePPM > 0 else { return nil }
        guard let c = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].group(0)?.raft.role == .leader }),
              let controller = nodes[c].core?.controller
        else { return "no controller leader" }
        if let (topic, p) = controller.movesInProgress.first {
            return "\(topic)-\(p.partition) (g\(p.group)) still moving to \(p.target!.map(\.value)) (replicas \(p.replicas.map(\.value)))"
        }
        for t in controller.topics {
            for p in t.partitions {
                guard let l = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].group(Int(p.group.value))?.raft.role == .leader }) else {
                    return "g\(p.group) has no leader"
                }
                let m = nodes[l].group(Int(p.group.value))!.raft.membership
                if m != Membership(voters: p.replicas) { return "g\(p.group) has \(m), its replicas are \(p.replicas.map(\.value))" }
                for i in nodes.indices where nodes[i].alive {
                    let hosts = nodes[i].group(Int(p.group.value)) != nil
                    let caughtUp = nodes[i].core?.controller.appliedIndex ?? .zero >= controller.appliedIndex
                    if hosts != p.replicas.contains(nodes[i].id) && caughtUp {
                        return "n\(i + 1) \(hosts ? "still hosts" : "does not host") g\(p.group) (replicas \(p.replicas.map(\.value)))"
                    }
                }
            }
        }
        return nil
    }
}
