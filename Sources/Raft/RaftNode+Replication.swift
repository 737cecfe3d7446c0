import Primitives

extension RaftNode {
    // MARK: - Proposals

    /// Append `data` as a new entry. Leader only. Returns where it will sit if it commits.
    @discardableResult
    public mutating func propose(_ data: [UInt8]) throws(RaftError) -> (index: LogIndex, term: Term) {
        wake()
        guard role == .leader else { throw RaftError.notLeader(leaderHint: leader) }
        guard transferee.isNone else { throw RaftError.transferInProgress }
        let e = Entry(term: term, index: log.lastIndex.next, kind: .normal, data: data)
        appendEntries([e])
        broadcastAppend()
        return (e.index, e.term)
    }

    /// Leader: append to our own log. The entries go to disk with the next Ready and to followers now.
    mutating func appendEntries(_ entries: [Entry]) {
        precondition(role == .leader, "appendEntries on \(role)")
        log.append(entries)
        if entries.contains(where: { $0.kind == .membership }) { refreshMembership(from: entries[0].index) }
        // A leader alone in its group commits as soon as its own write is durable (advance).
    }

    // MARK: - Leader side

    mutating func broadcastAppend() {
        for peer in progress.ids { sendAppend(to: peer) }
    }

    mutating func broadcastHeartbeat() {
        for peer in progress.ids {
            // Never tell a follower to commit past what it is known to hold.
            let commit = min(progress[peer]!.match, log.committed)
            sendNow(Message(kind: .heartbeat, from: id, to: peer, term: term, index: LogIndex(leadershipRound), commit: commit))
        }
    }

    /// Send the next MsgApp (or the snapshot) to `peer` unless its flow control says wait.
    @discardableResult
    mutating func sendAppend(to peer: NodeID, sendIfEmpty: Bool = true) -> Bool {
        guard let pr = progress[peer], !pr.isPaused else { return false }
        let prevIndex = pr.next.previous
        guard let prevTerm = log.term(prevIndex),
            let entries = log.entries(from: pr.next, maxBytes: config.appendBytesMax)
        else {
            if config.catchUpFromStorage && pr.next <= log.snapshot.index {
                requestLogRead(for: peer, from: pr.next)
                return false
            }
            return sendSnapshot(to: peer)
        }
        if entries.isEmpty && !sendIfEmpty { return false }
        sendNow(
            Message(
                kind: .append, from: id, to: peer, term: term, logTerm: prevTerm, index: prevIndex,
                entries: entries, commit: log.committed))
        let bytes = entries.reduce(0) { $0 + $1.sizeBytes }
        progress.update(peer) { $0.sentEntries(last: entries.last?.index, bytes: bytes) }
        return true
    }

    mutating func sendSnapshot(to peer: NodeID) -> Bool {
        let snap = log.snapshot
        precondition(snap.index > .zero, "follower \(peer) needs a snapshot but none exists")
        sendNow(Message(kind: .snapshot, from: id, to: peer, term: term, snapshot: snap))
        progress.update(peer) { $0.becomeSnapshot(snap.index) }
        return true
    }

    mutating func handleAppendResponse(_ m: Message) {
        guard var pr = progress[m.from] else { return }
        pr.recentActive = true
        pr.heardSinceWake = true
        if m.reject {
            // Fast back-off: jump over the follower's conflicting term in one round trip.
            var nextProbe = m.rejectHint
            if m.logTerm > .zero { nextProbe = log.findConflictByTerm(m.rejectHint, m.logTerm).index }
            if pr.maybeDecrease(rejected: m.index, matchHint: nextProbe) {
                if pr.state == .replicate { pr.becomeProbe() }
                progress[m.from] = pr
                sendAppend(to: m.from)
            } else {
                progress[m.from] = pr
            }
            return
        }
        let wasPaused = pr.isPaused
        // A probe answered at the current match point also proves where the logs agree (etcd).
        let probeConfirmed = pr.state == .probe && pr.match == m.index
        guard pr.maybeUpdate(m.index) || probeConfirmed else {
            progress[m.from] = pr
            return
        }
        switch pr.state {
        case .probe:
            pr.becomeReplicate()
        case .snapshot where pr.match.next >= log.firstIndex:
            // The snapshot (or enough of the log) arrived: resume normal replication.
            pr.becomeProbe()
            pr.becomeReplicate()
        case .replicate:
            pr.inflights.free(through: m.index)
        default:
            break
        }
        progress[m.from] = pr
        if maybeCommit() {
            broadcastAppend()
        } else if wasPaused {
            sendAppend(to: m.from)
        }
        // Pipelining: keep the window full while there is more to send.
        while sendAppend(to: m.from, sendIfEmpty: false) {}
        if m.from == transferee && progress[m.from]?.match == log.lastIndex {
            sendTimeoutNow(to: m.from)
        }
    }

    mutating func handleHeartbeatResponse(_ m: Message) {
        guard var pr = progress[m.from] else { return }
        pr.recentActive = true
        pr.heardSinceWake = true
        pr.probeSent = false
        pr.confirmedRound = max(pr.confirmedRound, m.index.value)
        // A response proves the link works: free a slot in case MsgApps were lost.
        if pr.state == .replicate && pr.inflights.isFull { pr.inflights.freeFirst() }
        let behind = pr.match < log.lastIndex || pr.state == .probe
        progress[m.from] = pr
        if behind { sendAppend(to: m.from) }
    }

    /// Advance the commit index to what a quorum of voters holds durably, counting only entries of
    /// the current term (Raft §5.4.2). Returns whether it moved.
    @discardableResult
    mutating func maybeCommit() -> Bool {
        guard role == .leader else { return false }
        var matches: [LogIndex] = []
        matches.reserveCapacity(membership.voters.count)
        for voter in membership.voters {
            // The leader counts itself only for what is on its own disk.
            matches.append(voter == id ? log.persisted : (progress[voter]?.match ?? .zero))
        }
        matches.sort(by: >)
        let candidate = matches[membership.quorum - 1]
        guard candidate > log.committed else { return false }
        if config.plantedBug != .commitPreviousTerm {
            guard log.term(candidate) == term else { return false }
        }
        log.commit(to: candidate)
        afterCommit()
        return true
    }

    /// A leader removed from the voters by a committed membership entry steps down.
    mutating func afterCommit() {
        if role == .leader && !membership.isVoter(id) && log.committed >= membershipIndex {
            // Tell the remaining members the change committed before leaving, so they do not wait
            // for the next leader to learn it.
            broadcastAppend()
            becomeFollower(term: term, leader: .none)
        }
    }

    // MARK: - Follower side

    mutating func handleAppend(_ m: Message) {
        if m.index < log.committed {
            // Everything up to our commit index matches the leader already.
            acknowledge(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: log.committed))
            return
        }
        if log.matchTerm(m.index, m.logTerm) {
            let lastNew = m.index + m.entries.count
            if let conflict = log.findConflict(m.entries) {
                precondition(conflict > log.committed, "entry \(conflict) conflicts with committed \(log.committed)")
                let offset = Int(conflict.value - m.index.value - 1)
                log.append(Array(m.entries[offset...]))
                refreshMembership(from: conflict)
            }
            if config.plantedBug == .commitBeyondVerified {
                log.commit(to: min(m.commit, log.lastIndex))
            } else {
                log.commit(to: min(m.commit, lastNew))
            }
            acknowledge(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: lastNew))
        } else {
            // Tell the leader where our log might match: the last index at or below its probe whose
            // term is no greater than the term it claimed there.
            let hint = log.findConflictByTerm(min(m.index, log.lastIndex), m.logTerm)
            sendNow(
                Message(
                    kind: .appendResponse, from: id, to: m.from, term: term, logTerm: hint.term, index: m.index,
                    reject: true, rejectHint: hint.index))
        }
    }

    /// A success response promises the entries are on our disk: it waits for the Ready's write.
    mutating func acknowledge(_ m: Message) {
        if config.plantedBug == .ackBeforeDurable { sendNow(m) } else { sendAfterPersist(m) }
    }

    mutating func handleHeartbeat(_ m: Message) {
        log.commit(to: min(m.commit, log.lastIndex))
        if quiesceOnHeartbeat(m) { return }  // no answer: it would wake the leader
        // The heartbeat's leadership round, echoed (`RaftNode+LeadershipCheck`).
        sendNow(Message(kind: .heartbeatResponse, from: id, to: m.from, term: term, index: m.index))
    }
}
