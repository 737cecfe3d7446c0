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
            if let i = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].group(g)?.raft.role == .leader }) {
                crashUntilRestart(i)
            }
        }
        if options.pausePPM > 0, faultRandom.chance(ppm: options.pausePPM), let i = randomNode(where: { $0.alive }) {
            pause(i)
            queue.schedule(.unpause(node: i), at: now + 1 + faultRandom.exponential(mean: options.pauseMean))
        }
        if options.transferPPM > 0, faultRandom.chance(ppm: options.transferPPM) { transferSomeLeader() }
        if options.membershipPPM > 0, faultRandom.chance(ppm: options.membershipPPM) { changeMembership() }
        if options.movePPM > 0, moveRandom.chance(ppm: options.movePPM) { movePartition() }
        // A decommission starts as often as a move is asked; once one runs, its steps come twice as often.
        if options.joinAndLeave, moveRandom.chance(ppm: options.movePPM * (draining == nil ? 1 : 2)) { decommissionStep() }
        maybeFlipBitWhileRunning()
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
        guard let i = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].group(g)?.raft.role == .leader })
        else { return }
        let voters = nodes[i].group(g)!.raft.membership.voters.filter { $0 != nodes[i].id }
        guard !voters.isEmpty else { return }
        let target = voters[Int(faultRandom.below(UInt64(voters.count)))]
        do {
            try nodes[i].group(g)!.withRaft { try $0.transferLeadership(to: target) }
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
        guard let i = nodes.indices.first(where: { nodes[$0].alive && nodes[$0].group(g)?.raft.role == .leader })
        else { return }
        let m = nodes[i].group(g)!.raft.membership
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
            let at = try nodes[i].group(g)!.withRaft { try $0.proposeMembershipChange(change) }
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

extension Simulator {
    /// Bit rot while a node runs: a bit flips in a closed segment of its Kafka partition's log
    /// (page cache and disk alike), where recovery had verified every entry. Found when something
    /// reads it — a consumer's fetch, a lagging follower's catch-up, a peer's repair read — which
    /// must keep it out of service and mend it from a peer while running (the liveness phase
    /// requires every damaged entry found mended), or at the node's next restart. Same minority
    /// rule as the other disk faults. Drawn from its own stream, with bit flips on.
    func maybeFlipBitWhileRunning() {
        guard options.bitFlipPPM > 0, phase == .safety, runningDamageRandom.chance(ppm: options.bitFlipPPM / 200) else { return }
        let candidates = nodes.indices.filter { nodes[$0].up }
        guard !candidates.isEmpty else { return }
        // Half the time the partition's leader: the node consumers read from.
        let pick = runningDamageRandom.below(UInt64(2 * candidates.count))
        let i = pick >= UInt64(candidates.count) ? kafkaLeader ?? candidates[Int(pick) - candidates.count] : candidates[Int(pick)]
        flipWhileRunning(i, bits: 1)
    }

    /// The Kafka partition's live leader, if any.
    var kafkaLeader: Int? {
        nodes.indices.first { nodes[$0].alive && nodes[$0].group(kafkaGroup)?.withRaft { $0.role } == .leader }
    }

    /// The heal of the liveness phase meets latent damage in half the seeds with bit flips: two
    /// bits flip in one closed segment of the partition leader's log (the consumer then reads the
    /// partition again from the start and meets them; see `startLiveness`).
    func flipLeaderBitsAtHeal() {
        guard runningDamageRandom.chance(1, in: 2), let i = kafkaLeader else { return }
        flipWhileRunning(i, bits: 2)
    }

    /// Flip `bits` bits (in distinct bytes, near each other) in a random closed segment of node
    /// `i`'s Kafka partition log, if the minority rule allows damage to its disk.
    func flipWhileRunning(_ i: Int, bits: Int) {
        guard nodes[i].up, mayDamageDisk(of: i) else { return }
        let directory = "/data/group-\(kafkaGroup)/log/"
        // Closed segments: every one but the last.
        let segments = nodes[i].fs.allFiles.filter { $0.hasPrefix(directory) && $0.hasSuffix(".log") }.sorted().dropLast()
        guard !segments.isEmpty else { return }
        let path = segments[segments.startIndex + Int(runningDamageRandom.below(UInt64(segments.count)))]
        guard let f = try? nodes[i].fs.open(path, create: false) else { return }
        let size = (try? nodes[i].fs.size(f)) ?? 0
        nodes[i].fs.close(f)
        guard size > 0 else { return }
        guard size > 7 * bits else { return }
        let offset = Int(runningDamageRandom.below(UInt64(size - 7 * (bits - 1))))
        for k in 0..<bits {
            guard nodes[i].fs.flipBit(path, at: offset + 7 * k, bit: Int(runningDamageRandom.below(8))) else { return }
        }
        nodes[i].damagedWhileRunning = true
        stats.runningBitFlips += 1
        trace("n\(i + 1) \(bits) bit(s) flipped while running in \(path) at byte \(offset)")
    }
}
