import Primitives
import Raft

/// One partition's part of a reassignment: the replicas its group is to end with, or nil to
/// cancel the move in progress.
public struct PartitionMove: Equatable, Sendable {
    public var group: GroupID
    public var replicas: [NodeID]?

    public init(group: GroupID, replicas: [NodeID]?) {
        self.group = group
        self.replicas = replicas
    }
}

/// Moving partitions between nodes (Kafka's partition reassignment, done the Raft way).
///
/// The controller only records intent: `reassignPartitions` sets a partition's `target` and adds
/// the target's new nodes to `replicas`, so they create the group (empty, as non-voters) and the
/// leader can catch them up. The partition's leader then changes its group's membership one step
/// at a time (`NodeCore+Moves`: add a learner, promote it once caught up, hand leadership on if it
/// is itself leaving, remove the old voters) and, once the group's committed voters are exactly
/// the target, reports `completeMove`: `replicas` becomes the target and the nodes no longer in it
/// drop their copies. Nothing is dropped before the Raft group stopped counting on it.
extension ControllerState {
    /// Nil when `replicas` is a valid target for a partition, else why not (Kafka's
    /// INVALID_REPLICA_ASSIGNMENT cases).
    public func replicaProblem(_ replicas: [NodeID]) -> String? {
        if replicas.isEmpty { return "the replica list is empty" }
        if Set(replicas).count != replicas.count { return "the replica list \(replicas.map(\.value)) names a node twice" }
        if let unknown = replicas.first(where: { !members.contains($0) }) {
            return "node \(unknown.value) is not a member of the cluster (members: \(members.map(\.value)))"
        }
        return nil
    }

    /// Apply a reassignment: every move is checked first, and none is applied if one is invalid
    /// (the proposer checked them all against an earlier state; the state may have moved).
    mutating func reassign(_ moves: [PartitionMove]) -> String? {
        for m in moves {
            guard let a = assignment(of: m.group) else { return "group \(m.group.value) is no partition's (its topic was deleted)" }
            if let r = m.replicas {
                if let problem = replicaProblem(r) { return problem }
            } else if a.target == nil {
                return "partition \(a.partition) has no move in progress to cancel"
            }
        }
        for m in moves {
            let (t, k) = position(of: m.group)!
            var a = topics[t].partitions[k]
            let target = m.replicas ?? a.origin!
            if a.target == nil && Set(target) == Set(a.replicas) {
                a.replicas = target  // only the order (the preferred leader) changes: no move
            } else {
                if a.target == nil { a.origin = a.replicas }
                if a.founders == nil { a.founders = a.replicas }
                a.target = target
                a.replicas += target.filter { !a.replicas.contains($0) }
                a.moves += 1
            }
            topics[t].partitions[k] = a
        }
        return nil
    }

    /// A partition's leader found its group's committed voters equal to the target of move
    /// number `moves`, by the membership entry at `at`: the move is done. With no move in
    /// progress, a leader that steered a drifted membership back to the replicas reports the
    /// same way: only `settledAt` moves.
    mutating func completeMove(group: GroupID, moves: UInt32, replicas: [NodeID], at: LogIndex) -> String? {
        guard let (t, k) = position(of: group) else { return "group \(group.value) is no partition's" }
        var a = topics[t].partitions[k]
        guard a.moves == moves, Set(a.settledReplicas) == Set(replicas) else {
            return "move \(moves) of group \(group.value) is not the one in progress"
        }
        if let target = a.target {
            a.departed = Array(Set(a.departed + a.replicas.filter { !target.contains($0) })).sorted()
            a.replicas = target
            a.target = nil
            a.origin = nil
        }
        a.settledAt = max(a.settledAt, at)
        topics[t].partitions[k] = a
        return nil
    }

    /// The membership a node starts a partition's group with. A log holding anything starts at
    /// index 1 (or at a snapshot, which carries its membership), where the membership is the one
    /// the partition was created with: that is the right start on every replica, and so for a
    /// founder that never left, whatever its log holds — with an empty log it cannot win a vote
    /// against a replica holding entries, and before any replica holds one no membership change
    /// has happened. A node joining with no state (a new replica, or one that left and comes
    /// back) must not count itself a voter of an empty log — a lone founder coming back would
    /// elect itself and take writes — so it starts as a non-member of the other replicas and
    /// learns the group's membership from the leader (membership entries, or a snapshot).
    public func initialMembership(of a: PartitionAssignment, for node: NodeID, hasState: Bool) -> Membership {
        let founders = a.founders ?? a.replicas
        if hasState || (founders.contains(node) && !a.departed.contains(node)) { return Membership(voters: founders) }
        let others = a.replicas.filter { $0 != node }
        // Only the sole replica of a finished move has no other; it was a voter when the move
        // committed, so it has state and does not get here.
        return Membership(voters: others.isEmpty ? founders : others)
    }

    /// Partitions with a move in progress, in topic and partition order.
    public var movesInProgress: [(topic: String, PartitionAssignment)] {
        topics.flatMap { t in t.partitions.filter { $0.target != nil }.map { (t.name, $0) } }
    }

    // MARK: - Snapshots

    /// The move state of every partition that ever moved.
    func encodeMoves(_ w: inout ByteWriter) {
        let moved = topics.flatMap { $0.partitions }.filter { $0.moves > 0 }
        w.u32(UInt32(moved.count))
        for p in moved {
            w.u32(p.group.value)
            w.u32(p.moves)
            w.u64(p.settledAt.value)
            w.nodes(p.founders ?? p.replicas)
            w.nodes(p.departed)
            w.bool(p.target != nil)
            if let target = p.target { w.nodes(target) }
            w.bool(p.origin != nil)
            if let origin = p.origin { w.nodes(origin) }
        }
    }

    mutating func decodeMoves(_ r: inout ByteReader) throws(WireError) {
        reindex()
        for _ in 0..<(try r.count(minItemBytes: 26)) {
            let group = GroupID(try r.u32())
            let moves = try r.u32()
            let settledAt = LogIndex(try r.u64())
            let founders = try r.nodes()
            let departed = try r.nodes()
            let target = try r.bool() ? try r.nodes() : nil
            let origin = try r.bool() ? try r.nodes() : nil
            guard let (t, k) = position(of: group) else { throw WireError.invalid("move state for group \(group.value), no partition's") }
            topics[t].partitions[k].moves = moves
            topics[t].partitions[k].settledAt = settledAt
            topics[t].partitions[k].founders = founders
            topics[t].partitions[k].departed = departed
            topics[t].partitions[k].target = target
            topics[t].partitions[k].origin = origin
        }
    }
}
