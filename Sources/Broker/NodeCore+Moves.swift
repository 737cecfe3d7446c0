import Primitives
import Raft

/// Moves of partitions between nodes, carried out by each partition's Raft leader
/// (`ControllerState+Moves` records what the controller wants).
///
/// Every tick, the leader of a group with a move in progress takes one single-step membership
/// change towards the target, once the previous one committed (Raft's one-change-at-a-time rule,
/// `RaftNode.proposeMembershipChange`): add a target node as learner (the leader catches it up
/// from its storage, or with a snapshot), promote it once it holds the committed log, remove
/// learners the target does not name (a changed or cancelled move), hand the leadership to a
/// target voter holding the whole log if this node is itself leaving, remove the old voters one
/// by one. When the committed voters are exactly the target it reports `completeMove` to the
/// controller, which makes the target the partition's replicas; the nodes left out then drop
/// their copies (`replicaDropped`). A leader that crashes mid-move leaves the membership where its
/// last committed change put it; the next leader goes on from there.
extension NodeCore {
    /// Move the groups this node leads one step on: those moving every tick, and every group it
    /// leads once per election timeout, because the membership can drift from the replicas the
    /// controller lists — a leader whose copy of the controller's state lagged behind went on with
    /// an older target after the move had changed or finished (simulator seed 563). The
    /// controller's state is the truth: each leader steers its group's voters to it, one change
    /// at a time, and a drift it mended is reported like a finished move, so the copies of nodes
    /// it took out are dropped.
    func driveMoves() {
        // A node whose copy of the controller's state is not known current (just restarted) would
        // steer towards an old target: it waits.
        guard controllerCaughtUp else { return }
        let sweep = ticks % UInt64(config.raftTemplate.electionTicks) == 0
        let candidates = sweep ? groups.filter { $0.isKafkaPartition && $0.withRaft { $0.role } == .leader }.map(\.id)
            : movingGroups + driftMended.keys.sorted()
        for gid in candidates {
            guard let k = position(gid), let a = controller.assignment(of: gid) else { continue }
            let g = groups[k]
            let target = a.settledReplicas
            let early = config.plantedBug == .moveCompletesEarly && a.target != nil
            let step = g.withRaft { raft in Self.nextMoveStep(raft, target: target, me: config.id, completeEarly: early) }
            switch step {
            case .wait:
                continue
            case .change(let change):
                do {
                    try g.raft.proposeMembershipChange(change)
                } catch {
                    // A learner still catching up, a transfer or an election under way: next tick.
                    continue
                }
                if a.target == nil { driftMended[gid] = a.moves }
            case .transfer(let to):
                try? g.raft.transferLeadership(to: to)
            case .complete(let at):
                // Nothing to report for a group that never drifted, or whose report was applied.
                if a.target == nil && (driftMended[gid] == nil || at <= a.settledAt) {
                    driftMended[gid] = nil
                    continue
                }
                if let last = moveReported[gid], last.moves == a.moves, ticks < last.tick + moveReportRetryTicks { continue }
                moveReported[gid] = (a.moves, ticks)
                submitToController(.completeMove(group: gid, moves: a.moves, replicas: target, at: at))
            }
            touch(k)
        }
    }

    /// How often a completed move is reported again while the controller has not applied it (a
    /// forward is dropped by a node that stopped leading the controller).
    var moveReportRetryTicks: UInt64 { UInt64(BrokerLimits.controllerRetryElectionTimeouts * config.raftTemplate.electionTicks) }

    enum MoveStep: Equatable {
        case wait
        case change(MembershipChange)
        case transfer(to: NodeID)
        case complete(at: LogIndex)
    }

    /// The next step of a move this node's Raft node may take as leader.
    static func nextMoveStep(_ raft: RaftNode, target: [NodeID], me: NodeID, completeEarly: Bool = false) -> MoveStep {
        guard raft.role == .leader, raft.transferee.isNone, raft.membershipIndex <= raft.commitIndex else { return .wait }
        let m = raft.membership
        if let add = target.first(where: { !m.isMember($0) }) { return .change(.addLearner(add)) }
        if completeEarly && m.voters != target.sorted() { return .complete(at: raft.membershipIndex) }  // planted bug
        if let learner = m.learners.first(where: { target.contains($0) }) {
            let match = raft.matchIndex(of: learner) ?? .zero
            return match >= raft.commitIndex ? .change(.promote(learner)) : .wait
        }
        if let extra = m.learners.first { return .change(.remove(extra)) }
        if let leaving = m.voters.first(where: { !target.contains($0) && $0 != me }) { return .change(.remove(leaving)) }
        if !target.contains(me) {
            // This leader leaves last, once the target's voters are all in: it hands the group to
            // the first of them that holds the whole log (Kafka moves leadership off a removed
            // replica too), preferring the target's preferred leader.
            let ready = target.filter { raft.matchIndex(of: $0) == raft.lastIndex }
            return ready.first.map { .transfer(to: $0) } ?? .wait
        }
        return .complete(at: raft.membershipIndex)
    }

    /// Whether this node no longer holds a replica of `gid` and its copy, whose latest membership
    /// change is at `membershipIndex`, is of no use to anyone: the controller lists other
    /// replicas, and the copy has seen no membership change after the one that finished the last
    /// move. (A copy that has, was added again by a later move this node's controller state has
    /// not reached yet — after a restart it starts from its own, older, snapshot: such a copy may
    /// be a voter's and must stay.)
    func replicaDropped(_ gid: GroupID, membershipIndex: LogIndex) -> Bool {
        guard let a = controller.assignment(of: gid), !a.replicas.contains(config.id) else { return false }
        return membershipIndex <= a.settledAt
    }

    /// The groups with a move in progress that this node hosts (after every controller apply).
    func refreshMovingGroups() {
        movingGroups = controller.movesInProgress.map(\.1.group).filter { position($0) != nil }
        moveReported = moveReported.filter { movingGroups.contains($0.key) || driftMended[$0.key] != nil }
        driftMended = driftMended.filter { position($0.key) != nil }
    }
}

extension RecoveredState {
    /// The index of the latest membership change this recovered copy of a group holds: its
    /// latest membership entry, else its snapshot's.
    var latestMembershipIndex: LogIndex {
        entries.last(where: { $0.kind == .membership })?.index ?? snapshot?.index ?? .zero
    }

    /// Whether there is anything in it (a node that lost its log to damage held entries once).
    var hasState: Bool { snapshot != nil || !entries.isEmpty || repairThrough > .zero }
}
