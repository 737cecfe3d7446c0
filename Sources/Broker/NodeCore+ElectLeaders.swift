import Primitives
import Raft

extension NodeCore: ElectionContext {
    func currentLeader(of g: GroupID) -> NodeID {
        if let raft = group(g)?.raft { return raft.leader }
        return leaderHint(for: g)?.leader ?? .none
    }

    /// The controller applied a preferred leader election: until the request's deadline, this
    /// node hands each listed group it leads to the group's preferred replica. Kept, not done
    /// once: a group still electing its first leader, or a leader elected meanwhile, is handed
    /// over when this node finds itself leading it (`handOffToPreferredLeaders`, every election
    /// timeout). Not when this node's clock is already past the deadline: an old entry replayed.
    func preferredLeadersElected(_ groups: [GroupID], notAfterMs: Int64) {
        guard clockMs() <= notAfterMs else { return }
        for gid in groups {
            if let k = preferredLeaderWanted.firstIndex(where: { $0.group == gid }) {
                preferredLeaderWanted[k].notAfterMs = max(preferredLeaderWanted[k].notAfterMs, notAfterMs)
            } else {
                preferredLeaderWanted.append((gid, notAfterMs))
            }
        }
        preferredLeaderWanted.sort { $0.group < $1.group }
        handOffToPreferredLeaders()
    }

    /// Hand the wanted groups this node leads to their preferred replica (a Raft leadership
    /// transfer: the target is brought up to date, then campaigns at once; abandoned after an
    /// election timeout if it cannot win, and then tried again here while still wanted).
    func handOffToPreferredLeaders() {
        let now = clockMs()
        preferredLeaderWanted.removeAll { $0.notAfterMs < now || group($0.group) == nil }
        for (gid, _) in preferredLeaderWanted {
            guard let g = group(gid), g.withRaft({ $0.role }) == .leader,
                  let preferred = controller.replicas(of: gid)?.first,
                  preferred != config.id
            else { continue }
            try? g.raft.transferLeadership(to: preferred)
            if let k = position(gid) { touch(k) }
        }
    }
}
