import Primitives

/// The role a node plays in its group.
public enum RaftRole: String, Sendable {
    case follower = "StateFollower"
    case preCandidate = "StatePreCandidate"
    case candidate = "StateCandidate"
    case leader = "StateLeader"
}

/// One member of one Raft group, as a pure state machine in the style of etcd-raft.
///
/// Inputs: `tick()`, `step(_:)`, `propose(_:)`, `proposeMembershipChange(_:)`,
/// `transferLeadership(to:)`, `compact(through:data:)`. Outputs are values the caller executes:
/// - `takeMessages()`: messages that may leave at once (they promise nothing about local disk);
/// - `ready()`: one batch of work — hard state, entries and snapshot to persist, then (only once
///   those are durable) `messagesAfterPersist` to send and `committedEntries` to apply — which the
///   caller acknowledges with `advance(_:)`. One Ready is outstanding at a time.
///
/// The leader hands its new entries to followers and to its own disk at the same time (thesis
/// §10.2.1) and counts itself towards a commit only once its own write is durable (`advance`).
/// No clock, thread, file or system randomness is touched: time is ticks, randomness is a seed.
public struct RaftNode: Sendable {
    public let id: NodeID
    let config: RaftConfig
    var random: SeededRandom

    public internal(set) var term: Term
    public internal(set) var vote: NodeID
    public internal(set) var role: RaftRole = .follower
    /// The leader this node follows (or itself); `.none` when unknown.
    public internal(set) var leader: NodeID = .none
    var log: RaftLog
    /// The membership in force: the latest membership entry in the log, else the snapshot's.
    public internal(set) var membership: Membership
    /// Index of the entry (or snapshot) `membership` comes from.
    public internal(set) var membershipIndex: LogIndex
    /// The membership the entry at `membershipIndex` replaced (equal to `membership` when that
    /// comes from the snapshot). Only consulted while that entry is uncommitted; see `isPromotable`.
    var previousMembership: Membership

    var progress = ProgressMap()
    /// Votes received in the current (pre-)election, by voter, sorted.
    var votes: [(NodeID, Bool)] = []
    var electionElapsed = 0
    var heartbeatElapsed = 0
    /// Quiescence (RaftNode+Quiescence): not ticking, until woken.
    public internal(set) var isQuiesced = false
    /// Leader: ticks the group has been fully replicated and applied in a row.
    var quietTicks = 0
    var randomizedElectionTimeout = 0
    /// Leader: the node leadership is being transferred to.
    public internal(set) var transferee: NodeID = .none
    /// The leader's latest leadership round (`RaftNode+LeadershipCheck`), carried by every
    /// heartbeat it sends.
    var leadershipRound: UInt64 = 0
    /// Leader: index of the latest membership entry it proposed (one change in flight at a time).
    var pendingMembershipIndex: LogIndex = .zero

    /// See `RecoveredState.repairThrough`.
    public let repairThrough: LogIndex
    /// The term this node recovered in: no entry of the log it had before the damage (which
    /// reached `repairThrough`) has a later term. While repairing, a candidate is judged against
    /// that log too (`handleVoteRequest`).
    let repairTermBound: Term
    var outbox: [Message] = []
    /// Only for the planted bug `voteBeforeDurable`: a grant that skips every durability gate.
    var outboxUngated: [Message] = []
    var outboxAfterPersist: [Message] = []
    /// Storage reads for followers behind the in-memory log (`catchUpFromStorage`).
    var logReads: [LogRead] = []
    /// The hard state last handed out in a Ready.
    var handedHardState: HardState
    /// The term of the last hard state known durable. Messages carrying a newer term wait for it:
    /// a node that crashed before persisting its term could otherwise reuse that term (for
    /// example a single voter re-electing itself) and send different entries under the same
    /// (index, term) — breaking log matching.
    var durableTerm: Term
    var readyOutstanding = false
    /// Peer messages `step` dropped as invalid (`validate`), and the first of them since the last
    /// `takeRejections()`.
    public internal(set) var rejectedMessages = 0
    var rejections: [RejectedMessage] = []

    /// Start a node from what its storage recovered (empty for a brand-new member).
    public init(config: RaftConfig, recovered: RecoveredState = RecoveredState()) throws(RaftError) {
        try config.validate()
        self.id = config.id
        self.config = config
        self.random = SeededRandom(seed: config.randomSeed ^ (UInt64(config.id.value) &* 0x9E37_79B9_7F4A_7C15))
        let snapshot =
            recovered.snapshot
            ?? Snapshot(index: .zero, term: .zero, membership: config.initialMembership, data: [])
        self.log = RaftLog(snapshot: snapshot, entries: recovered.entries, committed: recovered.hardState.commit)
        // A torn write may keep entries of a term whose hard state was lost: the term never goes
        // back below what the log shows.
        if recovered.hardState.term >= log.lastTerm {
            self.term = recovered.hardState.term
            self.vote = recovered.hardState.vote
        } else {
            self.term = log.lastTerm
            self.vote = .none
        }
        self.handedHardState = HardState(term: term, vote: vote, commit: log.committed)
        self.durableTerm = term
        self.membership = snapshot.membership
        self.membershipIndex = snapshot.index
        self.previousMembership = snapshot.membership
        self.repairThrough = recovered.repairThrough
        self.repairTermBound = recovered.hardState.term
        refreshMembership(from: log.firstIndex)
        becomeFollower(term: term, leader: .none)
        log.checkInvariants()
    }

    // MARK: - Observers

    public var commitIndex: LogIndex { log.committed }
    public var appliedIndex: LogIndex { log.applied }
    public var persistedIndex: LogIndex { log.persisted }
    public var lastIndex: LogIndex { log.lastIndex }
    public var lastTerm: Term { log.lastTerm }
    public var firstIndex: LogIndex { log.firstIndex }
    public var snapshotIndex: LogIndex { log.snapshot.index }
    public var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    public func term(at index: LogIndex) -> Term? { log.term(index) }
    public func entry(at index: LogIndex) -> Entry? { log.entry(index) }
    /// Whether this node may campaign: not while repairing lost entries; otherwise a voter of its
    /// latest membership, or a node that latest membership removed from the voters while the entry
    /// doing so is not yet committed as far as it knows.
    ///
    /// The second case follows the thesis (§4.2.2-4.2.3: a server not in its latest configuration
    /// may still lead, not counting itself, until that configuration commits; removed servers
    /// time out and start elections): a configuration takes effect on append, so a voter whose
    /// removal is still uncommitted may hold the most up-to-date log of the group. If it stayed silent, the other
    /// voters could be unable to win against that log — a voter of the old configuration needs
    /// its vote and never gets it (simulator seed 146: no leader for 270 fault-free seconds). It
    /// campaigns in its latest configuration, where it does not count itself (`poll`), wins with a
    /// majority of the new voters, commits the change with its no-op and steps down
    /// (`afterCommit`); from then on it knows it is out and stays silent, as a removed node does
    /// in etcd once the change is applied. Safety does not depend on who campaigns: election
    /// safety rests on how votes are counted and each voter voting once per term, and leader
    /// completeness on the voters' up-to-date check, neither of which changes here.
    public var isPromotable: Bool {
        guard !isRepairing else { return false }
        if membership.isVoter(id) { return true }
        return membershipIndex > log.committed && previousMembership.isVoter(id)
    }

    /// Whether the node still waits to get back entries its storage lost (it does not campaign
    /// meanwhile, and votes only for a candidate at least as up to date as its log was before the
    /// damage). Repaired once its log again reaches the index it had reached (the entries there
    /// came from a leader, which holds every committed entry), or its commit index passes it.
    public var isRepairing: Bool { log.committed < repairThrough && log.lastIndex < repairThrough }

    /// One line per follower as the leader sees it, e.g. `2: StateReplicate match=5 next=6`.
    /// On a leader: the highest index known to be replicated on `peer` (nil for a non-member or
    /// on a follower). The leader itself matches its last index.
    public func matchIndex(of peer: NodeID) -> LogIndex? {
        guard role == .leader else { return nil }
        if peer == id { return log.lastIndex }
        return progress[peer]?.match
    }

    public var progressDescription: [String] {
        progress.ids.map { peer in
            let pr = progress[peer]!
            var s = "\(peer): \(pr.state.rawValue) match=\(pr.match) next=\(pr.next)"
            if membership.isLearner(peer) { s += " learner" }
            if pr.state == .snapshot { s += " pendingSnapshot=\(pr.pendingSnapshot)" }
            if pr.probeSent { s += " paused" }
            if pr.inflights.count > 0 { s += " inflight=\(pr.inflights.count)" }
            return s
        }
    }

    // MARK: - Outputs

    /// Queue a message that may leave before any pending write is durable.
    mutating func sendNow(_ m: Message) {
        precondition(m.to != id, "message to self: \(m)")
        outbox.append(m)
    }

    /// Queue a message that may leave only after the writes it depends on are durable.
    mutating func sendAfterPersist(_ m: Message) {
        precondition(m.to != id, "message to self: \(m)")
        outboxAfterPersist.append(m)
    }

    /// Messages that may be sent now, in the order they were produced.
    public mutating func takeMessages() -> [Message] {
        var out: [Message] = []
        if !outboxUngated.isEmpty {
            out = outboxUngated
            outboxUngated = []
        }
        if outbox.isEmpty || term > durableTerm { return out }
        if out.isEmpty {
            out = outbox
        } else {
            out.append(contentsOf: outbox)
        }
        outbox = []
        return out
    }

    // MARK: - Membership bookkeeping

    /// Recompute the membership after the log changed at or after `from` (append or truncation).
    mutating func refreshMembership(from: LogIndex) {
        var scanFrom = from
        if membershipIndex >= from {
            // The entry it came from is gone (truncated): fall back to the snapshot and rescan.
            membership = log.snapshot.membership
            membershipIndex = log.snapshot.index
            previousMembership = membership
            scanFrom = log.firstIndex
        }
        var i = max(scanFrom, log.firstIndex)
        while i <= log.lastIndex {
            let e = log.entry(i)!
            if e.kind == .membership, let decoded = try? MembershipEntry.decode(e.data) {
                previousMembership = membership
                membership = decoded.membership
                membershipIndex = i
            }
            i = i.next
        }
        if role == .leader { syncProgressWithMembership() }
    }

    /// Leader: one Progress per other member; new members start probing at the end of the log.
    mutating func syncProgressWithMembership() {
        for id in progress.ids where !membership.isMember(id) { progress[id] = nil }
        for id in membership.all where id != self.id && progress[id] == nil {
            progress[id] = newProgress()
        }
    }

    func newProgress() -> Progress {
        Progress(
            next: log.lastIndex.next, inflightMessagesMax: config.inflightMessagesMax,
            inflightBytesMax: config.inflightBytesMax)
    }
}
