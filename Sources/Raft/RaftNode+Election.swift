import Primitives

/// Why a node starts an election.
enum CampaignKind {
    /// PreVote round (thesis §9.6): ask first, without raising the term.
    case preElection
    case election
    /// Leadership transfer (TimeoutNow): skip PreVote and bypass the voters' leader lease.
    case transfer
}

extension RaftNode {
    // MARK: - Ticks

    /// Advance logical time by one tick.
    public mutating func tick() {
        if isQuiesced { return }
        if role == .leader {
            tickLeader()
        } else {
            tickElection()
        }
    }

    mutating func tickElection() {
        electionElapsed += 1
        if isPromotable && electionElapsed >= randomizedElectionTimeout {
            electionElapsed = 0
            hup(.election)
        } else if !isPromotable && config.quiesceAfterTicks > 0 && leader.isNone && electionElapsed % randomizedElectionTimeout == 0 {
            pokeVoters()
        }
    }

    mutating func tickLeader() {
        heartbeatElapsed += 1
        electionElapsed += 1
        progress.updateAll { _, pr in
            if pr.state == .snapshot { pr.snapshotTicks += 1 }
            if pr.pendingRead != nil {
                // A storage read always answers, but one answered after a crash of the storage
                // thread or dropped by the caller must not stall the follower for good.
                pr.readTicks += 1
                if pr.readTicks >= 2 * config.electionTicks { pr.pendingRead = nil }
            }
        }
        if electionElapsed >= config.electionTicks {
            electionElapsed = 0
            if config.checkQuorum { checkQuorumOrStepDown() }
            guard role == .leader else { return }
            // A transfer that has not finished within an election timeout is abandoned.
            transferee = .none
            // A snapshot that never arrived (lost on the network) is retried from probing.
            progress.updateAll { _, pr in
                if pr.state == .snapshot && pr.snapshotTicks >= config.electionTicks {
                    pr.becomeProbe(snapshotLost: true)
                }
            }
        }
        guard role == .leader else { return }
        if config.quiesceAfterTicks > 0 && maybeQuiesce() { return }
        if heartbeatElapsed >= config.heartbeatTicks {
            heartbeatElapsed = 0
            broadcastHeartbeat()
        }
    }

    /// CheckQuorum: a leader that has not heard from a quorum of voters within an election timeout
    /// steps down, so a partitioned leader stops accepting writes and stops blocking elections.
    mutating func checkQuorumOrStepDown() {
        var active = membership.isVoter(id) ? 1 : 0
        for voter in membership.voters where voter != id {
            if progress[voter]?.recentActive == true { active += 1 }
        }
        progress.updateAll { _, pr in pr.recentActive = false }
        if active < membership.quorum {
            if config.plantedBug == .noCheckQuorumStepDown { return }
            becomeFollower(term: term, leader: .none)
        }
    }

    // MARK: - Role transitions

    mutating func resetTerm(_ newTerm: Term) {
        if newTerm != term {
            precondition(newTerm > term, "term going back from \(term) to \(newTerm)")
            term = newTerm
            vote = .none
        }
        leader = .none
        electionElapsed = 0
        heartbeatElapsed = 0
        quietTicks = 0
        isQuiesced = false
        randomizedElectionTimeout = config.electionTicks + Int(random.below(UInt64(config.electionTicks)))
        transferee = .none
        votes.removeAll()
        progress = ProgressMap()
        pendingMembershipIndex = .zero
    }

    mutating func becomeFollower(term newTerm: Term, leader newLeader: NodeID) {
        resetTerm(newTerm)
        role = .follower
        leader = newLeader
    }

    mutating func becomePreCandidate() {
        precondition(role != .leader, "leader cannot become pre-candidate")
        // The term and vote stay: a pre-election promises nothing.
        role = .preCandidate
        leader = .none
        votes.removeAll()
    }

    mutating func becomeCandidate() {
        precondition(role != .leader, "leader cannot become candidate")
        resetTerm(term.next)
        vote = id
        role = .candidate
    }

    mutating func becomeLeader() {
        precondition(role == .candidate, "only a candidate becomes leader (role \(role))")
        resetTerm(term)
        role = .leader
        leader = id
        syncProgressWithMembership()
        // Only the membership entries of earlier terms still uncommitted could be pending: block new
        // changes until everything up to our no-op commits.
        pendingMembershipIndex = log.lastIndex
        // The no-op lets the leader commit an entry of its own term, and with it everything before
        // (Raft §5.4.2): replicas of earlier-term entries are never counted directly.
        appendEntries([Entry(term: term, index: log.lastIndex.next, kind: .noop)])
    }

    /// Stop leading, keeping the term: the node stood still long enough to have been replaced
    /// without its knowing (`NodeCore+Stall`), so an election decides who leads. Ignored unless
    /// leading.
    public mutating func stepDown() {
        guard role == .leader else { return }
        wake()
        becomeFollower(term: term, leader: .none)
    }

    // MARK: - Campaigning

    /// Start an election now (with a PreVote round first when enabled), as if the election timeout
    /// had fired. Ignored by leaders and by nodes that are not voters.
    public mutating func campaign() {
        wake()
        hup(.election)
    }

    /// For a brand-new group's preferred leader: its first election timeout is half the minimum
    /// instead of a random draw in [electionTicks, 2 * electionTicks), so it campaigns first and
    /// normally wins — leaders then follow placement, which spreads preferred replicas evenly,
    /// instead of whoever drew the shortest timeout. Campaigning at once would not do: the other
    /// replicas may not have created the group yet and would drop the vote requests. Only before
    /// any term has been seen; an election that fails falls back to random timeouts.
    public mutating func campaignFirst() {
        guard term == .zero, role == .follower, isPromotable else { return }
        randomizedElectionTimeout = max(1, config.electionTicks / 2)
    }

    mutating func hup(_ kind: CampaignKind) {
        guard role != .leader, isPromotable else { return }
        if kind == .election && config.preVote {
            campaign(.preElection)
        } else {
            campaign(kind)
        }
    }

    mutating func campaign(_ kind: CampaignKind) {
        let voteTerm: Term
        let messageKind: MessageKind
        if kind == .preElection {
            becomePreCandidate()
            voteTerm = term.next
            messageKind = .preVote
        } else {
            becomeCandidate()
            voteTerm = term
            messageKind = .vote
        }
        if poll(id, granted: true) == .won {
            // A single-voter group wins at once.
            if kind == .preElection {
                campaign(.election)
            } else {
                becomeLeader()
                broadcastAppend()  // learners, if any
            }
            return
        }
        for voter in membership.voters where voter != id {
            let m = Message(
                kind: messageKind, from: id, to: voter, term: voteTerm, logTerm: log.lastTerm,
                index: log.lastIndex, forceVote: kind == .transfer)
            // A vote request carries a term and a self-vote that must be durable before it leaves;
            // a pre-vote changes nothing and may go at once.
            if messageKind == .vote { sendAfterPersist(m) } else { sendNow(m) }
        }
    }

    enum PollResult { case won, lost, pending }

    mutating func poll(_ voter: NodeID, granted: Bool) -> PollResult {
        if !votes.contains(where: { $0.0 == voter }) {
            let i = votes.firstIndex(where: { $0.0 > voter }) ?? votes.count
            votes.insert((voter, granted), at: i)
        }
        var yes = 0
        var no = 0
        for (node, g) in votes where membership.isVoter(node) {
            if g { yes += 1 } else { no += 1 }
        }
        if yes >= membership.quorum { return .won }
        if membership.voters.count - no < membership.quorum { return .lost }
        return .pending
    }

    /// Answer a MsgVote or MsgPreVote (terms already reconciled by `step`).
    mutating func handleVoteRequest(_ m: Message) {
        let isPre = m.kind == .preVote
        let responseKind: MessageKind = isPre ? .preVoteResponse : .voteResponse
        // We may vote for m.from if we already did, if we have neither voted nor know a leader in
        // this term, or — for a pre-vote — if the candidate's future term is beyond ours.
        let canVote = vote == m.from || (vote == .none && leader == .none) || (isPre && m.term > term)
        if canVote && log.isUpToDate(lastIndex: m.index, lastTerm: m.logTerm) && (!isRepairing || upToDateWithLostLog(m)) {
            let grant = Message(kind: responseKind, from: id, to: m.from, term: m.term)
            if isPre {
                sendNow(grant)
            } else {
                electionElapsed = 0
                vote = m.from
                // The vote must be on disk before the grant leaves, or a crash could let us vote twice.
                if config.plantedBug == .voteBeforeDurable { outboxUngated.append(grant) } else { sendAfterPersist(grant) }
            }
        } else {
            sendNow(Message(kind: responseKind, from: id, to: m.from, term: term, reject: true))
        }
    }

    /// While repairing: whether the candidate's log is at least as up to date as this node's log
    /// was before storage lost part of it — which reached `repairThrough` with a last term of at
    /// most `repairTermBound`. Raft's election restriction then holds as if nothing had been
    /// lost: a candidate whose last term is beyond the bound, or equal with a log as long, holds
    /// every entry this node helped commit. Abstaining altogether (as before) left a group with
    /// two of four voters repairing without a leader for good (simulator seed 489).
    func upToDateWithLostLog(_ m: Message) -> Bool {
        m.logTerm > repairTermBound || (m.logTerm == repairTermBound && m.index >= repairThrough)
    }

    mutating func handleVoteResponse(_ m: Message) {
        let expected: MessageKind = role == .preCandidate ? .preVoteResponse : .voteResponse
        guard m.kind == expected else { return }
        switch poll(m.from, granted: !m.reject) {
        case .won:
            if role == .preCandidate {
                campaign(.election)
            } else {
                becomeLeader()
                broadcastAppend()
            }
        case .lost:
            // Back to follower; the term stays (a pre-candidate never raised it).
            becomeFollower(term: term, leader: .none)
        case .pending:
            break
        }
    }
}
