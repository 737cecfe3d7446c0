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
        // Members only, and not the one being decommissioned (every member, in runs without
        // joins and leaves).
        var ids = core.controller.members.filter { $0 != draining }
        guard !partitions.isEmpty, ids.count >= 3 else { return }
        let p = partitions[Int(moveRandom.below(UInt64(partitions.count)))]
        let move: PartitionMove
        if p.target != nil && moveRandom.chance(1, in: 4) {
            move = PartitionMove(group: p.group, replicas: nil)
        } else {
            moveRandom.shuffle(&ids)
            // Three at least: the fault model damages the disk of at most one node at a time,
            // which a group of three survives.
            move = PartitionMove(group: p.group, replicas: Array(ids.prefix(moveRandom.int(in: 3...ids.count))))
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

    /// Decommission in a join/leave run, one step per call on the controller leader: pick a member
    /// to drain (while more than three are left), move every partition off it — each replaced by
    /// a member it lacks, keeping its replication factor when one is left, never below three —
    /// and, once it holds nothing, remove it (`removeNode`). A move the faults or a later random
    /// move undid is made again at the next step.
    func decommissionStep() {
        guard let i = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].group(0)?.raft.role == .leader }),
              let core = nodes[i].core
        else { return }
        let c = core.controller
        guard let n = draining else {
            guard c.members.count > 3 else { return }
            draining = c.members[Int(moveRandom.below(UInt64(c.members.count)))]
            trace("n\(i + 1) decommissioning node \(draining!.value) (members \(c.members.map(\.value)))")
            return
        }
        if c.removedNodes.contains(n) {
            draining = nil
            trace("node \(n.value) removed (members \(c.members.map(\.value)))")
            return
        }
        let command: ControllerCommand
        if c.removalProblem(n) == nil {
            command = .removeNode(n)
        } else {
            var moves: [PartitionMove] = []
            for p in c.topics.flatMap(\.partitions) where p.settledReplicas.contains(n) {
                var replicas = p.settledReplicas
                let spare = c.members.filter { $0 != n && !replicas.contains($0) }
                let k = replicas.firstIndex(of: n)!
                if spare.isEmpty {
                    guard replicas.count > 3 else { continue }
                    replicas.remove(at: k)
                } else {
                    replicas[k] = spare[Int(moveRandom.below(UInt64(spare.count)))]
                }
                moves.append(PartitionMove(group: p.group, replicas: replicas))
            }
            guard !moves.isEmpty else { return }  // moves under way; their origin still names n
            command = .reassignPartitions(moves)
        }
        do {
            let (out, at) = try core.proposeToController(command)
            trace("n\(i + 1) decommission of node \(n.value): \(command) proposed at \(at)")
            carryOut(i, out)
        } catch {
            trace("n\(i + 1) decommission of node \(n.value) refused: \(error)")
        }
    }

    /// In the liveness phase (join/leave runs): why the cluster's membership has not settled, if
    /// it has not — every node a member or removed, and the controller group's voters as many as
    /// the members call for, the other members its learners.
    func membershipNotSettled() -> String? {
        guard options.joinAndLeave else { return nil }
        guard let l = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].group(0)?.raft.role == .leader }),
              let core = nodes[l].core
        else { return "no controller leader" }
        let c = core.controller
        stats.nodesRemoved = c.removedNodes.count
        if let outside = nodes.map(\.id).first(where: { !c.members.contains($0) && !c.removedNodes.contains($0) }) {
            return "node \(outside.value) never joined (members \(c.members.map(\.value)))"
        }
        let m = nodes[l].group(0)!.raft.membership
        let wanted = ControllerState.controllerVoterCount(members: c.members.count)
        if m.voters.count != wanted || !m.voters.allSatisfy(c.members.contains) || m.learners != c.members.filter({ !m.voters.contains($0) }) {
            return "controller group \(m), members \(c.members.map(\.value)) (\(wanted) voters wanted)"
        }
        return nil
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
