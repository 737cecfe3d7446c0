import Broker
import Primitives
import Raft
import Storage

extension Simulator {
    /// Bring a node up from its disk through the same recovery path production uses: the data
    /// directory, each group's storage, then the real `NodeCore` over what they recovered.
    func restart(_ i: Int) {
        let fs = nodes[i].fs
        // Start-up work (identity file, recovery's cuts) completes before the node runs, as the
        // real calls return only once durable; syncs are deferred to the device only afterwards.
        fs.deferSyncs = false
        let storage: NodeStorage
        var recovered: [(GroupID, RecoveredState)] = []
        do {
            let partitionLog = logConfig()
            let kafkaLog = KafkaEntry.logConfig(partitionLog)
            let firstTopic = UInt32(options.groups + 1)
            storage = try NodeStorage(
                fs: fs, path: "/data", cluster: "sim", node: nodes[i].id,
                logConfig: { $0.value >= firstTopic ? kafkaLog : partitionLog })
            for gid in try storage.existingGroups() {
                let (state, dropped) = try storage.open(gid)
                if config.traceMessages {
                    let log = storage.storage(of: gid)!.log
                    trace("n\(i + 1) g\(gid) files \(fs.allFiles.filter { $0.contains("group-\(gid.value)/") }) first \(log.firstIndex) last \(log.lastIndex) report \(log.report)")
                }
                if let dropped {
                    stats.repairs += 1
                    trace("n\(i + 1) g\(gid) storage found damaged entries \(dropped); log dropped from there, repairing through \(state.repairThrough) from peers")
                }
                recovered.append((gid, state))
            }
        } catch {
            fatalError("n\(i + 1) storage cannot recover: \(error)")
        }
        checkDurability(i, recovered: recovered)
        storage.clockMs = { [unowned self] in Int64(self.now / SimDuration.millisecond) }
        let core: NodeCore
        do {
            core = try NodeCore(config: nodeConfig(i), recovered: recovered, departed: storage.departedCopies, observer: self)
        } catch {
            fatalError("n\(i + 1) cannot start: \(error)")
        }
        core.clockMs = storage.clockMs
        core.monotonicMs = storage.clockMs  // virtual time: a paused node sees it jump
        let recoveredEntries = recovered.reduce(0) { $0 + $1.1.entries.count }
        for g in core.groups {
            checker.forget(node: nodes[i].id, group: g.id)
            if g.raft.snapshotIndex > .zero {
                checker.observeApplied(node: nodes[i].id, group: g.id, index: g.raft.snapshotIndex, chain: g.state.chain)
            }
        }
        nodes[i].core = core
        nodes[i].storage = storage
        nodes[i].wasLeader = Array(repeating: false, count: core.groups.count)
        nodes[i].up = true
        nodes[i].paused = false
        nodes[i].incarnation += 1
        nodes[i].tickEpoch += 1
        trace("n\(i + 1) starts (\(recoveredEntries) entries recovered, \(fs.allFiles.count) files)")
        // Phase of the node's tick within its interval, derived without drawing from any stream.
        var phaseRandom = SeededRandom(seed: raftSeeds[i] &+ UInt64(nodes[i].incarnation))
        let firstTick = now + 1 + phaseRandom.below(nodes[i].tickInterval)
        queue.schedule(.tick(node: i, epoch: nodes[i].tickEpoch), at: firstTick)
        fs.deferSyncs = true
        carryOut(i, core.drain())
    }

    func crash(_ i: Int) {
        precondition(nodes[i].up, "crashing n\(i + 1), which is down")
        stats.catchUpReadsHeld += nodes[i].core?.catchUpReadsHeld ?? 0
        keepAcknowledgedForRecovery(i)
        nodes[i].up = false
        nodes[i].paused = false
        nodes[i].incarnation += 1
        nodes[i].disk.crash()
        nodes[i].fs.crash()
        if nodes[i].damagedWhileRunning {
            nodes[i].damagedWhileRunning = false
            nodes[i].damaged = true
        }
        maybeFlipBit(i)
        maybeMisdirectWrite(i)
        if let groups = nodes[i].core?.groups {
            for (k, led) in nodes[i].wasLeader.enumerated() where led && k < groups.count { nodes[i].leadershipLostAt[groups[k].id] = now }
        }
        nodes[i].core = nil
        nodes[i].storage = nil
        nodes[i].wasLeader = []
        nodes[i].deferred = []
        nodes[i].inflightWrites = []
        stats.crashes += 1
        trace("n\(i + 1) CRASHES (unsynced writes lost or torn)")
    }

    /// Bit rot in the crashed node's durable log, found when it restarts. Only while fewer than a
    /// minority of nodes are damaged: the fault model promises that a majority keeps its disk.
    func maybeFlipBit(_ i: Int) {
        guard options.bitFlipPPM > 0, phase == .safety, faultRandom.chance(ppm: options.bitFlipPPM),
            mayDamageDisk(of: i)
        else { return }
        // Any segment, the last one included: entry footers let recovery tell damage to the last
        // entries from a torn write.
        guard let (path, size) = randomSegment(of: i) else { return }
        let offset = Int(faultRandom.below(UInt64(size)))
        nodes[i].fs.flipBit(path, at: offset, bit: Int(faultRandom.below(8)))
        nodes[i].damaged = true
        trace("n\(i + 1) bit flip in \(path) at byte \(offset)")
    }

    /// A misdirected write found at restart: a sector of the crashed node's log holds bytes that
    /// belong elsewhere in it (whole entries in the wrong place, or pieces of them). Checksums and
    /// the index check must catch it. Not in the last sector of the active segment: damage to the
    /// whole of the final entry (body and footer) looks exactly like a torn write there, and
    /// telling them apart needs a durable record of the log's end (docs/storage.md).
    func maybeMisdirectWrite(_ i: Int) {
        guard options.misdirectPPM > 0, phase == .safety, faultRandom.chance(ppm: options.misdirectPPM),
            mayDamageDisk(of: i)
        else { return }
        guard let (path, size) = randomSegment(of: i) else { return }
        let sector = 512
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) + "/"
        let isActive = path == nodes[i].fs.allFiles.last { $0.hasPrefix(directory) && $0.hasSuffix(".log") }
        let limit = isActive ? size - sector : size
        guard limit >= 2 * sector else { return }
        let slots = UInt64(limit / sector)
        let from = Int(faultRandom.below(slots)) * sector
        let to = Int(faultRandom.below(slots)) * sector
        guard from != to, nodes[i].fs.misdirect(path, from: from, to: to, count: sector) else { return }
        nodes[i].damaged = true
        trace("n\(i + 1) misdirected write in \(path): bytes from \(from) at \(to)")
    }

    /// Disk damage only while fewer than a minority of nodes are damaged: the fault model promises
    /// that a majority keeps its disk.
    func mayDamageDisk(of i: Int) -> Bool {
        let damaged = nodes.indices.filter {
            nodes[$0].damaged || nodes[$0].damagedWhileRunning || (nodes[$0].up && nodes[$0].groups.contains { Self.stillMending($0.raft) })
        }
        // A group may shrink to three voters when membership changes or moves are on.
        let votersMin = options.membershipPPM > 0 || options.movePPM > 0 ? 3 : nodes.count
        return damaged.count < (votersMin - 1) / 2 || (damaged.count == 1 && damaged[0] == i)
    }

    /// Whether a group still lacks, on disk, the log it lost to damage: repairing, or repaired in
    /// memory only (a crash before the mended entries are durable makes it repair again — counting
    /// it repaired then let a second node's disk be damaged, a majority of three, seed 2 with
    /// `--clients pipelining`: no candidate could then satisfy both repairing voters).
    static func stillMending(_ raft: borrowing RaftNode) -> Bool {
        raft.isRepairing || (raft.repairThrough > .zero && raft.persistedIndex < raft.repairThrough)
    }

    /// A random non-empty segment file of node `i`, with its size.
    func randomSegment(of i: Int) -> (String, Int)? {
        let segments = nodes[i].fs.allFiles.filter { $0.hasSuffix(".log") }
        guard !segments.isEmpty else { return nil }
        let path = segments[Int(faultRandom.below(UInt64(segments.count)))]
        let f = try? nodes[i].fs.open(path, create: false)
        guard let f, let size = try? nodes[i].fs.size(f), size > 0 else { return nil }
        nodes[i].fs.close(f)
        return (path, size)
    }

    func pause(_ i: Int) {
        nodes[i].paused = true
        stats.pauses += 1
        trace("n\(i + 1) pauses")
    }

    func unpause(_ i: Int) {
        guard nodes[i].up, nodes[i].paused else { return }
        nodes[i].paused = false
        nodes[i].tickEpoch += 1  // restart the tick chain; the paused one ended
        trace("n\(i + 1) resumes (\(nodes[i].deferred.count) deferred events)")
        let deferred = nodes[i].deferred
        nodes[i].deferred = []
        for e in deferred {
            switch e {
            case .diskDone(_, _, let token): diskDone(i, token: token)
            case .kafkaRequest(_, let c, let header, let body): kafkaRequest(i, client: c, header: header, body: body)
            case .deliver(_, let from, let bytes): deliver(to: i, from: from, bytes)
            default: break
            }
        }
        queue.schedule(.tick(node: i, epoch: nodes[i].tickEpoch), at: now + nodes[i].tickInterval)
    }

    /// A packet arrives from node `from`: the same bytes a TLS peer link carries (`PeerPacket`).
    /// Any packet tells the node's failure detector the sender is up, as on a real link.
    func deliver(to i: Int, from: Int, _ bytes: [UInt8]) {
        guard let core = nodes[i].core else { return }
        let packet: PeerPacket
        do {
            packet = try PeerPacket.decode(bytes)
        } catch {
            fatalError("n\(i + 1) received bytes the peer codec cannot decode: \(error)")
        }
        // One call per packet; an `alive` one names the sender's run (a restart wakes groups).
        var run: UInt64?
        if case .alive(let r) = packet { run = r }
        carryOut(i, core.heard(from: nodes[from].id, run: run))
        guard nodes[i].up else { return }
        switch packet {
        case .raft(let envelopes):
            for env in envelopes {
                precondition(env.message.to == nodes[i].id, "packet for \(env.message.to) delivered to n\(i + 1)")
                if config.traceMessages { trace("g\(env.group) \(env.message)") }
            }
            carryOut(i, core.receive(envelopes))
        case .forward(let command):
            if config.traceMessages { trace("n\(i + 1) forward \(command)") }
            carryOut(i, core.receiveForward(command))
        case .leaders(let hints):
            carryOut(i, core.receiveLeaders(hints))
        case .repair(let m):
            if case .entries(let g, let entries) = m, let first = entries.first, let last = entries.last {
                trace("n\(i + 1) g\(g) receives a copy of entries \(first.index)...\(last.index) to mend its damage")
            }
            carryOut(i, core.receiveRepair(m))
        case .transaction(let m):
            if config.traceMessages { trace("n\(i + 1) transaction \(m)") }
            carryOut(i, core.receiveTransaction(m, from: nodes[from].id))
        case .alive, .hello:
            break
        }
    }

    /// The device finished the node's fsyncs up to `token`: the batch is durable; the core
    /// continues (after-persist messages, apply, advance, the next batch).
    func diskDone(_ i: Int, token: Int) {
        guard let k = nodes[i].inflightWrites.firstIndex(where: { $0.token == token }) else { return }
        // Completions are FIFO: this fsync makes every write so far durable.
        let done = nodes[i].inflightWrites[...k]
        nodes[i].inflightWrites.removeFirst(k + 1)
        for w in done {
            nodes[i].fs.completeSyncs(through: w.syncRequest)
            guard let core = nodes[i].core else { return }
            carryOut(i, core.storageCompleted(w.completion))
        }
    }

    /// Carry out what the core asked for (`NodeOutput.dispatch`, the interpreter the runtime
    /// uses too): packets onto the simulated network, reads run at once, and the storage batch onto
    /// the node's disk — written at once, durable when the simulated device completes its fsyncs
    /// (group commit: one completion for every group's writes).
    func carryOut(_ i: Int, _ out: NodeOutput) {
        guard nodes[i].up else { return }
        out.dispatch(to: SimNodeOutput(sim: self, node: i))
        observe(i)  // (not if the batch's fsync failed: the node is down now)
    }

    /// How the simulator carries out each effect of node `node`'s output.
    struct SimNodeOutput: NodeOutputHandler {
        unowned let sim: Simulator
        let node: Int

        func sendRaft(_ envelopes: [PeerEnvelope], to peer: NodeID) {
            sim.noteAcknowledged(envelopes, from: node)
            sim.send(from: node, [(peer, envelopes)])
        }

        func sendKeepalive(to peer: NodeID) {
            guard let run = sim.nodes[node].core?.run else { return }
            sim.transmit(from: node, to: Int(peer.value) - 1, PeerPacket.alive(run: run).encode())
        }

        func sendForward(_ command: ControllerCommand, to peer: NodeID) {
            sim.transmit(from: node, to: Int(peer.value) - 1, PeerPacket.forward(command).encode())
        }

        func sendTransaction(_ message: TransactionPartitionMessage, to peer: NodeID) {
            sim.transmit(from: node, to: Int(peer.value) - 1, PeerPacket.transaction(message).encode())
        }
        func sendRepair(_ message: RepairMessage, to peer: NodeID) {
            sim.transmit(from: node, to: Int(peer.value) - 1, PeerPacket.repair(message).encode())
        }

        func sendLeaders(_ hints: [LeaderHint]) {
            let bytes = PeerPacket.leaders(hints).encode()
            for j in sim.nodes.indices where j != node { sim.transmit(from: node, to: j, bytes) }
        }

        func completeKafka(_ reply: KafkaCompletion) {
            sim.sendKafkaReply(
                to: Int(reply.connection), correlation: Int32(truncatingIfNeeded: reply.sequence),
                bytes: reply.response.map { Array($0.readableBytesView) } ?? [])
        }

        func logNotice(_ line: String) { sim.trace("n\(node + 1) \(line)") }

        func reportDamage(_ report: StorageDamageReport) {
            if case .found = report.kind { sim.stats.readDamageFound += 1 } else { sim.stats.readDamageMended += 1 }
            sim.trace("n\(node + 1) \(report)")
        }

        func reportRejected(_ message: RejectedMessage, group: GroupID) {
            // Every node here runs correct code and the network only loses, delays or duplicates
            // whole packets: a message a peer drops as invalid is a bug (or a validation too strict).
            sim.checker.fail("valid-messages", "n\(node + 1) g\(group) rejected \(message)")
        }

        func runRead(_ read: StorageRead) {
            // At once: the simulated device times fsyncs, not reads.
            guard sim.nodes[node].up, let storage = sim.nodes[node].storage, let core = sim.nodes[node].core else { return }
            sim.carryOut(node, core.readCompleted(storage.execute(read)))
        }

        func runBatch(_ batch: StorageBatch) { sim.issue(node, batch) }
    }

    func issue(_ i: Int, _ batch: StorageBatch) {
        guard let storage = nodes[i].storage else { return }
        if phase == .safety && options.fsyncFailPPM > 0 && faultRandom.chance(ppm: options.fsyncFailPPM) {
            nodes[i].fs.failNextSync = true
        }
        let completion = storage.execute(batch)
        nodes[i].fs.failNextSync = false
        if let failure = completion.failure {
            guard case .syncFailed = failure else { fatalError("n\(i + 1) storage failed: \(failure)") }
            // After a failed fsync the page cache cannot be trusted: the node stops (and restarts
            // from what is durable, as an operator's restart would).
            trace("n\(i + 1) \(failure)")
            stats.fsyncFailures += 1
            crashUntilRestart(i)
            return
        }
        for op in batch.operations {
            if case .compact(let g, let snap, _) = op { trace("n\(i + 1) g\(g) compacts through \(snap.index)") }
        }
        let (token, done) = nodes[i].disk.submit(now: now)
        nodes[i].inflightWrites.append((token, completion, nodes[i].fs.lastSyncRequest))
        queue.schedule(.diskDone(node: i, incarnation: nodes[i].incarnation, token: token), at: done)
        // Writes that persist a vote are where a lost write matters most: crash there far more often.
        let electionWrite = batch.operations.contains { if case .saveHardState = $0 { return true } else { return false } }
        let crashPPM = electionWrite ? options.crashInFlightPPM * 50 : options.crashInFlightPPM
        if phase == .safety && crashPPM > 0 && faultRandom.chance(ppm: min(crashPPM, 500_000)) {
            // Power fails somewhere between the write and its fsync.
            let at = now + faultRandom.below(max(done - now, 1))
            queue.schedule(.crash(node: i, incarnation: nodes[i].incarnation), at: at)
        }
    }

    /// The node's core configuration: every simulated node hosts the controller and the
    /// partition groups 1...G (static replica sets: every node).
    func nodeConfig(_ i: Int) -> NodeConfig {
        let ids = nodes.map(\.id)
        // Join/leave runs: nodes 1-3 found the cluster, the others join it.
        let founders = options.joinAndLeave ? Array(ids.prefix(3)) : ids
        var c = NodeConfig(id: ids[i], members: founders, kafkaHost: "n\(i + 1)", kafkaPort: UInt16(9092 + i), seed: raftSeeds[i])
        if options.joinAndLeave { c.peerAddress = PeerRegistration(node: ids[i], host: "n\(i + 1)", port: 9192) }
        c.raftTemplate = raftConfig(node: i)
        c.staticGroups = (1...options.groups).map { (GroupID(UInt32($0)), ids) }
        c.compactEvery = options.compactEvery
        if options.retentionBytes > 0 || options.retentionMs > 0 {
            // With retention by time, active segments also close at half that age (segment.ms),
            // so whole logs expire, as on a quiet topic.
            c.retentionOverride = RetentionPolicy(bytes: options.retentionBytes > 0 ? Int64(options.retentionBytes) : nil,
                                                  ms: options.retentionMs > 0 ? options.retentionMs : nil,
                                                  segmentMs: options.retentionMs > 0 ? options.retentionMs / 2 : nil)
            c.retentionCheckMs = 2000  // idle groups are measured too, often enough to matter in a run
        }
        if options.kafkaCompaction {
            // Cleaned often, tombstones (none are written yet) kept 5 s, dirty logs cleaned within 10 s.
            c.compactionOverride = CompactionPolicy(deleteRetentionMs: 5000, minLagMs: 0, maxLagMs: 10_000, minDirtyRatio: 0.3)
            c.compactionCheckMs = 1000
        }
        // The Kafka topic's partition comes after the static groups. In half the seeds its memory
        // log is snapshotted often, so lagging followers catch up from the leader's storage.
        c.firstTopicGroup = UInt32(options.groups + 1)
        c.kafkaCompactEvery = options.kafkaCompactEvery > 0 ? options.kafkaCompactEvery : Int.max / 2
        c.kafkaMemoryBytes = Int.max / 2
        c.tickMilliseconds = Int(SwarmOptions.tick / SimDuration.millisecond)
        c.incarnation = UInt64(nodes[i].incarnation + 1)
        // Consumer groups at simulation speed: one offsets partition, short delays and sessions.
        c.offsetsPartitions = 1
        c.offsetsSegmentBytes = nil  // the run's small segments: trimmed below snapshots often
        c.offsetsReplicationFactor = nodes.count  // like the topic: every node replicates it
        c.transactionStatePartitions = 1
        c.transactionStateReplicationFactor = nodes.count
        // Ids expire as soon as they may (after the longest transaction timeout, the client's
        // 60 s): one idle that long is removed, its tombstone replayed and snapshotted like
        // every record. (Shorter, a commit retried after a long stall would find its id gone —
        // the reason NodeConfig refuses that.)
        c.transactionMaxTimeoutMs = 60_000
        c.transactionalIDExpirationMs = 60_000
        c.groupInitialRebalanceDelayMs = 300
        c.groupMinSessionTimeoutMs = 500
        c.plantedBug = config.plantedBug?.broker
        c.leaderBalanceMs = options.leaderBalanceMs
        c.moveThrottleBytesPerSec = options.moveThrottleBytesPerSec
        return c
    }

    /// Let the checker see every group's state after an event; trace role changes.
    func observe(_ i: Int) {
        // A down node has no groups to observe, and "no group repairing" would wrongly clear
        // its damage mark.
        guard nodes[i].up, let core = nodes[i].core else { return }
        let id = nodes[i].id
        let groups = core.groups
        // Repaired once no group repairs — counting groups still waiting to be created from disk.
        if nodes[i].damaged && core.waitingRecoveredGroups == 0 && !groups.contains(where: { Self.stillMending($0.raft) }) {
            nodes[i].damaged = false
            trace("n\(i + 1) repaired")
        }
        if nodes[i].wasLeader.count != groups.count { nodes[i].wasLeader = Array(repeating: false, count: groups.count) }
        if nodes[i].wasQuiesced.count != groups.count { nodes[i].wasQuiesced = Array(repeating: false, count: groups.count) }
        // Only groups the last event touched can have changed.
        for k in core.active {
            let group = groups[k]
            let wasLeader = nodes[i].wasLeader[k]
            let role = group.withRaft { $0.role }
            if role == .leader && !wasLeader {
                stats.leaderChanges += 1
                let (term, last, commit) = group.withRaft { ($0.term, $0.lastIndex, $0.commitIndex) }
                traceHash.add(UInt64(i) << 32 | term.value)
                trace("n\(i + 1) g\(group.id) becomes leader in term \(term) (last \(last), commit \(commit))")
            } else if role != .leader && wasLeader {
                trace("n\(i + 1) g\(group.id) steps down in term \(group.withRaft { $0.term })")
                nodes[i].leadershipLostAt[group.id] = now
            }
            group.withRaft { checker.observeState(node: id, group: group.id, raft: $0, wasLeader: wasLeader) }
            nodes[i].wasLeader[k] = role == .leader
            let quiesced = group.withRaft { $0.isQuiesced }
            if quiesced != nodes[i].wasQuiesced[k] {
                if quiesced { stats.quiescences += 1 } else { stats.wakes += 1 }
                trace("n\(i + 1) g\(group.id) \(quiesced ? "quiesces" : "wakes")")
                nodes[i].wasQuiesced[k] = quiesced
            }
        }
    }
}

extension Simulator: NodeCoreObserver {
    public func appended(_ entries: [Entry], node: NodeID, group: GroupID, raft: borrowing RaftNode) {
        checker.observeAppended(entries, node: node, group: group, raft: raft)
    }

    public func applied(node: NodeID, group: GroupID, index: LogIndex, chain: UInt64) {
        checker.observeApplied(node: node, group: group, index: index, chain: chain)
    }

    public func groupChanged(node: NodeID, group: GroupID, hosted: Bool) {
        trace("n\(node) g\(group) \(hosted ? "hosted (new)" : "dropped")")
        checker.forget(node: node, group: group)
        nodes[Int(node.value) - 1].acknowledged[group] = nil
    }

    public func installedSnapshot(node: NodeID, group: GroupID, index: LogIndex) {
        trace("n\(node) g\(group) installs snapshot at \(index)")
        // A Kafka partition's replica keeps its whole log: a follower behind the leader's memory
        // reads the entries from the leader's storage. Only retention or DeleteRecords (the
        // entries are gone: a follower behind the new log start needs the snapshot) or a damaged
        // disk (the leader cannot read them) may make it take a snapshot instead.
        let diskKeepsEverything = options.retentionBytes == 0 && options.retentionMs == 0 && !options.kafkaDeleteRecords
            && options.bitFlipPPM == 0 && options.misdirectPPM == 0
        // An internal partition's closed segments go once snapshotted (its snapshot is its state).
        let isInternal = nodes.first { $0.id == node }?.core?.group(group)?.internalTopic != nil
        if group.value > UInt32(options.groups) && diskKeepsEverything && !isInternal {
            checker.fail("replica-keeps-log", "n\(node) g\(group) replaced its log with a snapshot at \(index), though the leader's storage holds every entry")
        }
    }
}
