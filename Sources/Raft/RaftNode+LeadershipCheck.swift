import Primitives

/// Leadership confirmation, etcd-raft's ReadIndex without the read. A leader cut off from its
/// voters keeps its role until CheckQuorum steps it down, up to an election timeout later; by
/// then another leader may have committed entries it has never seen. Whatever it answers from
/// its log that a client cannot take back must wait for proof it still led when the question
/// came: `confirmLeadership()` starts a round, carried by every heartbeat the leader sends from
/// then on (in the heartbeat's `index`, echoed by the answer); once a quorum of voters answered
/// that round or a later one in this term, none of them had moved to a later term when the round
/// began — so no later leader had committed anything, and the log then held every committed
/// entry. A new term starts every voter's count from nothing (a new `Progress`), and an answer
/// from an older term is dropped before it is counted.
extension RaftNode {
    /// Start a round (nil when this node does not lead): heartbeats carrying it go out now, to a
    /// quiesced group too (it wakes; a leader that lost its quorum then steps down at the next
    /// CheckQuorum instead of staying quiet).
    public mutating func confirmLeadership() -> UInt64? {
        guard role == .leader else { return nil }
        wake()
        leadershipRound += 1
        broadcastHeartbeat()
        heartbeatElapsed = 0
        return leadershipRound
    }

    /// Whether a quorum of voters (this leader counting for itself) answered `round` or a later
    /// one in the current term.
    public func leadershipConfirmed(_ round: UInt64) -> Bool {
        guard role == .leader else { return false }
        var answered = membership.isVoter(id) ? 1 : 0
        for voter in membership.voters where voter != id {
            if let pr = progress[voter], pr.confirmedRound >= round { answered += 1 }
        }
        return answered >= membership.quorum
    }
}
