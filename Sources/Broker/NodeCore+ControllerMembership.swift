import Primitives
import Raft

/// The controller group's membership follows the cluster's members (`ControllerState+Membership`),
/// steered by the controller's leader one single-step change at a time, like a partition's move
/// (`NodeCore+Moves`): every member joins as a learner (it needs the cluster's metadata); learners
/// that hold the committed log are promoted while fewer than `controllerVoterCount` members vote
/// (preferring the lowest ids, so every leader steers the same way); removed nodes are taken out,
/// voters last and after their replacement was promoted; a leader that is itself removed hands
/// the leadership on first. Voters beyond the count (a five-node cluster shrunk to four) go back
/// to being learners, highest id first.
extension NodeCore {
    /// One step towards the controller membership the members call for (on its leader, each tick).
    func driveControllerMembership() {
        guard controllerCaughtUp, let k = position(controllerGroup) else { return }
        let g = groups[k]
        let step = g.withRaft { Self.nextControllerStep($0, members: controller.members, me: config.id) }
        switch step {
        case .wait, .complete:
            return
        case .change(let change):
            // A learner catching up, a transfer or an election under way: next tick.
            guard (try? g.raft.proposeMembershipChange(change)) != nil else { return }
        case .transfer(let to):
            try? g.raft.transferLeadership(to: to)
        }
        touch(k)
    }

    /// The next change of the controller group's membership its leader takes for `members`.
    static func nextControllerStep(_ raft: RaftNode, members: [NodeID], me: NodeID) -> MoveStep {
        guard raft.role == .leader, raft.transferee.isNone, raft.membershipIndex <= raft.commitIndex else { return .wait }
        let m = raft.membership
        let wanted = ControllerState.controllerVoterCount(members: members.count)
        let voting = m.voters.filter { members.contains($0) }
        if let add = members.first(where: { !m.isMember($0) }) { return .change(.addLearner(add)) }
        if voting.count < wanted {
            let ready = m.learners.filter { members.contains($0) && (raft.matchIndex(of: $0) ?? .zero) >= raft.commitIndex }
            if let promote = ready.first { return .change(.promote(promote)) }
        }
        if let gone = m.learners.first(where: { !members.contains($0) }) { return .change(.remove(gone)) }
        // A voter leaves only once the members left vote in the count wanted (or no learner can
        // replace it): removing it first would shrink the majority that must survive.
        let leaving = m.voters.filter { !members.contains($0) }
        let canReplace = m.learners.contains { members.contains($0) }
        if voting.count >= wanted || !canReplace, let out = leaving.first(where: { $0 != me }) { return .change(.remove(out)) }
        // (Raft has no demotion: removed, it is added back as a learner by the first step.)
        if voting.count > wanted, let extra = voting.filter({ $0 != me }).last { return .change(.remove(extra)) }
        if leaving.contains(me) && (voting.count >= wanted || !canReplace) {
            let ready = voting.filter { raft.matchIndex(of: $0) == raft.lastIndex }
            return ready.first.map { .transfer(to: $0) } ?? .wait
        }
        return .wait
    }

    /// Until the controller holds where peers reach this node, announce it every few ticks:
    /// proposed here on the controller leader, forwarded to it from elsewhere — and from a node
    /// joining the cluster, which knows no leader yet, to every member it knows.
    func maybeAnnounce(_ out: inout NodeOutput) {
        guard let me = config.peerAddress, ticks >= nextAnnounceTick, !controller.peerAddresses.contains(me),
              !controller.removedNodes.contains(config.id), let g = group(controllerGroup)
        else { return }
        nextAnnounceTick = ticks + BrokerLimits.registrationRetryTicks
        let command = ControllerCommand.announceNode(me)
        let (role, leader) = g.withRaft { ($0.role, $0.leader) }
        if role == .leader {
            _ = try? g.raft.propose(command.encode())
            if let k = position(controllerGroup) { touch(k) }
        } else if !leader.isNone && leader != config.id {
            out.forwards.append((leader, command))
        } else {
            for peer in controller.members where peer != config.id { out.forwards.append((peer, command)) }
        }
    }

    /// After the controller applied entries: the peers this node watches are the members, and a
    /// node the cluster removed says so once (it holds no replica any more; stop it).
    func membershipApplied() {
        liveness.update(members: controller.members, except: config.id, at: ticks)
        if controller.removedNodes.contains(config.id) && !removalNoticed {
            removalNoticed = true
            pendingNotices.append("this node (\(config.id.value)) was removed from the cluster: it holds no replica and can be stopped; its id is never a member again")
        }
    }
}
