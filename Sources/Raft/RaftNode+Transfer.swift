import Primitives

extension RaftNode {
    /// Hand leadership to `target` (thesis §3.10): stop taking proposals, bring the target up to
    /// date, then send it MsgTimeoutNow so it campaigns at once. Abandoned after an election timeout.
    public mutating func transferLeadership(to target: NodeID) throws(RaftError) {
        wake()
        guard role == .leader else { throw RaftError.notLeader(leaderHint: leader) }
        guard target != id else { return }
        guard membership.isVoter(target) else {
            throw RaftError.invalidMembershipChange("transfer target \(target) is not a voter")
        }
        if transferee == target { return }
        transferee = target
        // Count the transfer's timeout from now.
        electionElapsed = 0
        if progress[target]?.match == log.lastIndex {
            sendTimeoutNow(to: target)
        } else {
            sendAppend(to: target)
        }
    }

    mutating func sendTimeoutNow(to target: NodeID) {
        sendNow(Message(kind: .timeoutNow, from: id, to: target, term: term))
    }
}
