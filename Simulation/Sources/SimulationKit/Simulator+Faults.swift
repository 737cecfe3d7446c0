import Broker
import Primitives
import Raft

extension Simulator {
    /// One fault check of the safety phase: each enabled fault class fires with its own chance.
    func injectFaults() {
        if options.partitionPPM > 0, !partitionActive, faultRandom.chance(ppm: options.partitionPPM) {
            startPartition()
        }
        if options.clogPPM > 0, faultRandom.chance(ppm: options.clogPPM) { clog() }
        if options.crashPPM > 0, faultRandom.chance(ppm: options.crashPPM), let i = randomNode(where: { $0.up }) {
            crashUntilRestart(i)
        }
        if options.leaderCrashPPM > 0, faultRandom.chance(ppm: options.leaderCrashPPM) {
            let g = Int(faultRandom.below(UInt64(groupCount)))
            if let i = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].groups.count > g && nodes[$0].groups[g].raft.role == .leader }) {
                crashUntilRestart(i)
            }
        }
        if options.pausePPM > 0, faultRandom.chance(ppm: options.pausePPM), let i = randomNode(where: { $0.alive }) {
            pause(i)
            queue.schedule(.unpause(node: i), at: now + 1 + faultRandom.exponential(mean: options.pauseMean))
        }
        if options.transferPPM > 0, faultRandom.chance(ppm: options.transferPPM) { transferSomeLeader() }
        if options.membershipPPM > 0, faultRandom.chance(ppm: options.membershipPPM) { changeMembership() }
    }

    /// A node chosen uniformly among those that satisfy `condition`.
    func randomNode(where condition: (SimNode) -> Bool) -> Int? {
        let candidates = nodes.indices.filter { condition(nodes[$0]) }
        guard !candidates.isEmpty else { return nil }
        return candidates[Int(faultRandom.below(UInt64(candidates.count)))]
    }

    /// Crash a node and schedule its restart after an exponential delay.
    func crashUntilRestart(_ i: Int) {
        crash(i)
        queue.schedule(.restart(node: i), at: now + 1 + faultRandom.exponential(mean: options.restartMean))
    }

    func transferSomeLeader() {
        let g = Int(faultRandom.below(UInt64(groupCount)))
        guard let i = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].groups.count > g && nodes[$0].groups[g].raft.role == .leader })
        else { return }
        let voters = nodes[i].groups[g].raft.membership.voters.filter { $0 != nodes[i].id }
        guard !voters.isEmpty else { return }
        let target = voters[Int(faultRandom.below(UInt64(voters.count)))]
        do {
            try nodes[i].groups[g].withRaft { try $0.transferLeadership(to: target) }
            stats.transfers += 1
            trace("n\(i + 1) g\(g) transfers leadership to n\(target)")
        } catch {
            trace("n\(i + 1) g\(g) transfer refused: \(error)")
        }
        carryOut(i, nodes[i].core!.drain())
    }

    /// One membership change in a random partition group, through its leader: promote a learner
    /// if there is one, else remove a voter while more than three remain, else add a non-member as
    /// learner. (The controller's membership is the static cluster.)
    func changeMembership() {
        let g = 1 + Int(faultRandom.below(UInt64(options.groups)))
        guard let i = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].groups[g].raft.role == .leader })
        else { return }
        let m = nodes[i].groups[g].raft.membership
        let outside = nodes.map(\.id).filter { !m.isMember($0) }
        let change: MembershipChange
        if let learner = m.learners.first {
            change = .promote(learner)
        } else if m.voters.count > 3 {
            change = .remove(m.voters[Int(faultRandom.below(UInt64(m.voters.count)))])
        } else if !outside.isEmpty {
            change = .addLearner(outside[Int(faultRandom.below(UInt64(outside.count)))])
        } else {
            return
        }
        do {
            let at = try nodes[i].groups[g].withRaft { try $0.proposeMembershipChange(change) }
            trace("n\(i + 1) g\(g) proposes \(change) at \(at)")
        } catch {
            trace("n\(i + 1) g\(g) \(change) refused: \(error)")
        }
        carryOut(i, nodes[i].core!.drain())
    }

    // MARK: - Workload

    /// A client proposes to the node it believes leads a random partition group, following
    /// not-leader hints.
    func proposeRandom() {
        let g = 1 + Int(workloadRandom.below(UInt64(options.groups)))
        let i = clientLeaderGuess[g] ?? Int(workloadRandom.below(UInt64(nodes.count)))
        guard nodes[i].alive, let core = nodes[i].core else {
            clientLeaderGuess[g] = nil
            return
        }
        proposalSeq += 1
        var payload = Array("g\(g)-p\(proposalSeq)-".utf8)
        if options.retentionMs > 0 { payload = SimPayload.stamped(payload, at: now) }
        let filler = Int(workloadRandom.below(UInt64(options.payloadBytesMax)))
        for _ in 0..<filler { payload.append(UInt8(97 + workloadRandom.below(26))) }
        do {
            let at = try core.propose(payload, to: GroupID(UInt32(g)))
            stats.proposalsAccepted += 1
            traceHash.add(at.index.value)
            carryOut(i, core.drain())
        } catch RaftError.notLeader(let hint) {
            clientLeaderGuess[g] = hint.isNone ? nil : Int(hint.value) - 1
        } catch {
            clientLeaderGuess[g] = nil
        }
    }
}
