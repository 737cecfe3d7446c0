import Primitives

extension RaftNode {
    /// Propose one membership change. It takes effect on every node as soon as the entry is
    /// appended (thesis §4.1), so only one may be uncommitted at a time, and a new leader must first
    /// commit an entry of its own term (the single-server change bug, raft-dev 2015). A learner is
    /// promoted only once it has caught up to the commit index.
    @discardableResult
    public mutating func proposeMembershipChange(_ change: MembershipChange) throws(RaftError) -> LogIndex {
        wake()
        guard role == .leader else { throw RaftError.notLeader(leaderHint: leader) }
        guard transferee.isNone else { throw RaftError.transferInProgress }
        guard log.term(log.committed) == term else { throw RaftError.leaderNotReady }
        guard pendingMembershipIndex <= log.committed, membershipIndex <= log.committed else {
            throw RaftError.membershipChangeInProgress
        }
        guard let next = membership.applying(change) else {
            throw RaftError.invalidMembershipChange("\(change) does not apply to \(membership)")
        }
        if case .promote(let learner) = change {
            let match = progress[learner]?.match ?? .zero
            guard match >= log.committed else { throw RaftError.learnerNotCaughtUp(learner) }
        }
        let payload = MembershipEntry(change: change, membership: next).encode()
        let entry = Entry(term: term, index: log.lastIndex.next, kind: .membership, data: payload)
        appendEntries([entry])
        pendingMembershipIndex = entry.index
        broadcastAppend()
        return entry.index
    }
}
