import Primitives
import Raft

extension NodeCore: ElectionContext {
    func currentLeader(of g: GroupID) -> NodeID {
        if let raft = group(g)?.raft { return raft.leader }
        return leaderHint(for: g)?.leader ?? .none
    }

    /// The controller applied a preferred leader election: hand over each listed group this node
    /// leads to its preferred replica (a Raft leadership transfer: the target is brought up to
    /// date, then campaigns at once; abandoned after an election timeout if it cannot win). Not
    /// when this node's clock is past the request's deadline: that is an old entry replayed.
    func preferredLeadersElected(_ groups: [GroupID], notAfterMs: Int64) {
        guard clockMs() <= notAfterMs else { return }
        for gid in groups {
            guard let g = group(gid), g.withRaft({ $0.role }) == .leader,
                  let preferred = controller.topics.lazy.flatMap(\.partitions).first(where: { $0.group == gid })?.replicas.first,
                  preferred != config.id
            else { continue }
            try? g.raft.transferLeadership(to: preferred)
            if let k = position(gid) { touched[k] = true }
        }
    }
}
