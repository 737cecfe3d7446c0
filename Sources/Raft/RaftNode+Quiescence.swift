import Primitives

/// Quiescence, after CockroachDB's (`replica_raft_quiesce.go`): a group with nothing to do costs
/// nothing. Thousands of idle partitions otherwise tick and heartbeat ten times a second each —
/// most of a small machine's CPU with 10,000 partitions on three nodes.
///
/// - The leader quiesces once its group has been quiet for `quiesceAfterTicks` ticks in a row:
///   everything committed and applied, every follower holding the whole log (replicating, nothing
///   in flight), no transfer or membership change pending. It sends each follower known to hold
///   the whole log a last heartbeat marked `quiesce` (any other follower a plain one, whose
///   answer wakes the leader to catch it up) and stops ticking.
/// - A follower quiesces on that heartbeat when it comes from its leader in its term and the
///   follower holds and has committed exactly what the leader committed; it sends no answer (an
///   answer would wake the leader). One behind answers as to any heartbeat, which wakes the
///   leader: it catches the follower up and quiesces again later. A lost quiesce heartbeat leaves
///   that follower ticking: it times out and campaigns, and its PreVote wakes the others.
/// - Anything else wakes a replica: any other message (so a PreVote, an append, a heartbeat
///   response), a proposal, a transfer, a campaign, or `wake()`. Waking restarts the election
///   timer, so a woken follower first waits a whole timeout for its leader.
/// - A quiesced follower cannot notice its leader is gone. The owner runs a failure detector
///   over nodes (one keepalive per node pair, not per group) and wakes the groups that have a
///   replica on a node it stopped hearing from, and again when it hears from it again
///   (`NodeCore+Liveness`). A woken follower whose leader is gone times out and campaigns; a
///   woken leader that lost its quorum steps down at the next CheckQuorum.
///
/// Safety does not depend on any of this: quiescing only stops timers, and every message is
/// still validated and stepped as Raft says.
extension RaftNode {
    /// Bring the replica back from quiescence (a no-op when it is not quiesced).
    public mutating func wake() {
        guard isQuiesced else { return }
        isQuiesced = false
        electionElapsed = 0
        heartbeatElapsed = 0
        quietTicks = 0
        // A woken leader quiesces again only after a quorum answers anew (`isQuiet`): one cut
        // off from its followers must keep ticking into CheckQuorum and step down, not go quiet
        // again on what it heard before (simulator seed 110: an isolated leader, woken by the
        // failure detector, quiesced again and kept answering Produce from a stale state).
        if role == .leader { progress.updateAll { _, pr in pr.heardSinceWake = false } }
    }

    /// Whether `m` leaves a quiesced replica quiesced: its leader's quiesce heartbeat again (a
    /// duplicate), or — on the leader — a late answer to an earlier heartbeat from a follower
    /// that holds the whole log (it says nothing new; waking on it, a leader whose answers take
    /// longer than a tick would never stay quiet). Anything else wakes it.
    func keepsQuiesced(_ m: Message) -> Bool {
        guard m.term == term else { return false }
        switch m.kind {
        case .heartbeat: return m.quiesce && m.from == leader
        case .heartbeatResponse: return role == .leader && progress[m.from]?.match == log.lastIndex
        default: return false
        }
    }

    /// A replica that knows no leader and may not campaign (repairing lost entries, a learner)
    /// would wait forever for a quiesced leader: every election timeout it sends each voter a
    /// rejection no leader acts on (index 0), which wakes a quiesced leader; its heartbeats then
    /// bring this replica back (simulator seed 727).
    mutating func pokeVoters() {
        for voter in membership.voters where voter != id {
            sendNow(Message(kind: .appendResponse, from: id, to: voter, term: term, reject: true))
        }
    }

    /// Leader, on a tick: count quiet ticks and quiesce after enough. True when it quiesced.
    mutating func maybeQuiesce() -> Bool {
        guard isQuiet else {
            quietTicks = 0
            return false
        }
        quietTicks += 1
        guard quietTicks >= config.quiesceAfterTicks else { return false }
        for peer in progress.ids {
            // As any heartbeat: never a commit index past what the follower is known to hold. A
            // follower not heard from may hold a conflicting tail (simulator seed 47: it committed
            // a stale entry of an old term when told the leader's commit index).
            let match = progress[peer]!.match
            let commit = min(match, log.committed)
            // Only a follower known to hold the whole log is asked to quiesce. One behind gets a
            // plain heartbeat: its answer wakes this leader, which catches it up (simulator
            // `--scale 2000` seed 2: a follower whose append was lost held exactly the clamped
            // commit, quiesced on it, and stayed empty while it knew its leader).
            sendNow(Message(kind: .heartbeat, from: id, to: peer, term: term, index: LogIndex(leadershipRound), commit: commit, quiesce: match == log.lastIndex))
        }
        isQuiesced = true
        return true
    }

    /// Leader: nothing in flight, a quorum heard from since it was elected or last woke, and
    /// every follower heard from holding the whole log. Followers not heard from (a node down)
    /// do not hold the group awake: when they come back, their campaign wakes it.
    var isQuiet: Bool {
        guard role == .leader, transferee.isNone, !readyOutstanding, outboxAfterPersist.isEmpty,
              log.committed == log.lastIndex, log.applied == log.committed, log.persisted == log.lastIndex,
              pendingMembershipIndex <= log.committed
        else { return false }
        var active = membership.isVoter(id) ? 1 : 0
        for peer in progress.ids {
            let pr = progress[peer]!
            guard pr.heardSinceWake else { continue }
            guard pr.match == log.lastIndex, pr.state == .replicate, pr.inflights.count == 0, pr.pendingRead == nil else { return false }
            if membership.isVoter(peer) { active += 1 }
        }
        return active >= membership.quorum
    }

    /// Follower, on a heartbeat marked `quiesce` from its leader: quiesce when it holds and has
    /// committed exactly what the leader committed. True when it did (then it does not answer).
    mutating func quiesceOnHeartbeat(_ m: Message) -> Bool {
        guard m.quiesce, role == .follower, m.from == leader, m.term == term,
              log.lastIndex == m.commit, log.committed == m.commit, !isRepairing
        else { return false }
        isQuiesced = true
        return true
    }
}
