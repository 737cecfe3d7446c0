import Primitives
import Raft
import Storage

extension Simulator {
    /// Bring a node up from its disk through the same recovery path production uses: the data
    /// directory, then each group's storage, whose recovered state the real `RaftNode` starts from.
    func restart(_ i: Int) {
        let fs = nodes[i].fs
        // Start-up work (identity file, recovery's cuts) completes before the node runs, as the
        // real calls return only once durable; syncs are deferred to the device only afterwards.
        fs.deferSyncs = false
        let dataDirectory: DataDirectory
        do {
            dataDirectory = try DataDirectory(fs: fs, path: "/data", cluster: "sim", node: nodes[i].id)
        } catch {
            fatalError("n\(i + 1) cannot open its data directory: \(error)")
        }
        nodes[i].groups = []
        var recoveredEntries = 0
        for g in 0..<options.groups {
            let gid = GroupID(UInt32(g + 1))
            let storage: GroupStorage
            let state: RecoveredState
            do {
                (storage, state) = try GroupStorage.open(fs: fs, directory: dataDirectory.groupDirectory(gid), config: logConfig())
            } catch {
                fatalError("n\(i + 1) g\(gid) storage cannot recover: \(error)")
            }
            if config.traceMessages {
                trace("n\(i + 1) g\(gid) files \(fs.allFiles.filter { $0.contains("group-\(gid.value)/") }) first \(storage.log.firstIndex) last \(storage.log.lastIndex) report \(storage.log.report)")
            }
            if let dropped = storage.droppedForRepair {
                stats.repairs += 1
                trace("n\(i + 1) g\(gid) storage found damaged entries \(dropped); log dropped from there, repairing through \(state.repairThrough) from peers")
            }
            recoveredEntries += state.entries.count
            let raft: RaftNode
            do {
                raft = try RaftNode(config: raftConfig(node: i, group: g), recovered: state)
            } catch {
                fatalError("n\(i + 1) g\(gid) cannot start: \(error)")
            }
            let group = SimNode.Group(id: gid, raft: raft, storage: storage)
            group.lastHardState = raft.hardState
            group.stateMachine.restore(raft.latestSnapshot)
            if raft.snapshotIndex > .zero {
                checker.observeApplied(
                    node: nodes[i].id, group: gid, index: raft.snapshotIndex, chain: group.stateMachine.chain)
            }
            checker.forget(node: nodes[i].id, group: gid)
            nodes[i].groups.append(group)
        }
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
        flush(i)
    }

    func crash(_ i: Int) {
        precondition(nodes[i].up, "crashing n\(i + 1), which is down")
        nodes[i].up = false
        nodes[i].paused = false
        nodes[i].incarnation += 1
        nodes[i].disk.crash()
        nodes[i].fs.crash()
        maybeFlipBit(i)
        maybeMisdirectWrite(i)
        nodes[i].groups = []
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
        let damaged = nodes.indices.filter { nodes[$0].damaged || (nodes[$0].up && nodes[$0].groups.contains { $0.raft.isRepairing }) }
        // A group may shrink to three voters when membership changes are on.
        let votersMin = options.membershipPPM > 0 ? 3 : nodes.count
        return damaged.count < (votersMin - 1) / 2 || (damaged.count == 1 && damaged[0] == i)
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
            case .deliver(_, let bytes): deliver(to: i, bytes)
            default: break
            }
        }
        queue.schedule(.tick(node: i, epoch: nodes[i].tickEpoch), at: now + nodes[i].tickInterval)
    }

    func deliver(to i: Int, _ bytes: [UInt8]) {
        let envelopes: [PeerEnvelope]
        do {
            envelopes = try PeerMessageCodec.decode(bytes)
        } catch {
            fatalError("n\(i + 1) received bytes the peer codec cannot decode: \(error)")
        }
        var touched: [Int] = []
        for env in envelopes {
            precondition(env.message.to == nodes[i].id, "packet for \(env.message.to) delivered to n\(i + 1)")
            guard let g = nodes[i].groupIndex(env.group) else { continue }
            if config.traceMessages { trace("g\(env.group) \(env.message)") }
            nodes[i].groups[g].raft.step(env.message)
            if !touched.contains(g) { touched.append(g) }
        }
        touched.sort()
        flush(i, touched: touched)
    }

    func diskDone(_ i: Int, token: Int) {
        guard let k = nodes[i].inflightWrites.firstIndex(where: { $0.token == token }) else { return }
        // Completions are FIFO: this fsync makes every write so far durable.
        let done = nodes[i].inflightWrites[...k]
        nodes[i].inflightWrites.removeFirst(k + 1)
        var touched: [Int] = []
        for w in done {
            nodes[i].fs.completeSyncs(through: w.syncRequest)
            completeReadies(i, w.groups)
            for g in w.groups where !touched.contains(g) { touched.append(g) }
        }
        touched.sort()
        flush(i, touched: touched)
    }

    /// Collect each group's output: messages to send now, and a Ready whose writes go to the
    /// group's storage, made durable by one fsync completion for all groups of the node (group
    /// commit).
    /// `touched`: the groups an event may have changed (sorted); nil means all. Groups nobody
    /// touched have no new output, so skipping them is only a speed-up.
    func flush(_ i: Int, touched: [Int]? = nil) {
        guard nodes[i].alive else { return }
        let groups = touched ?? Array(nodes[i].groups.indices)
        for _ in 0..<64 {
            var outgoing: [[PeerEnvelope]] = []
            var needsWrite = false
            var readyGroups: [Int] = []
            var electionWrite = false  // this write carries a new term or vote
            for g in groups {
                let gid = nodes[i].groups[g].id
                for m in nodes[i].groups[g].raft.takeMessages() {
                    if outgoing.isEmpty { outgoing = Array(repeating: [], count: nodes.count) }
                    outgoing[Int(m.to.value) - 1].append(PeerEnvelope(group: gid, message: m))
                }
                let group = nodes[i].groups[g]
                guard group.outstanding == nil, group.withRaft({ $0.hasReady }) else { continue }
                let r = group.raft.ready()
                let id = nodes[i].id
                group.withRaft { checker.observeAppended(r.entries, node: id, group: gid, raft: $0) }
                do {
                    if let snap = r.snapshot {
                        // Durable at once: the snapshot before the log that follows it.
                        try group.storage.installSnapshot(snap, nextOffset: GroupStateMachine.nextOffset(in: snap))
                    }
                    if !r.entries.isEmpty { try group.storage.append(r.entries) }
                } catch {
                    fatalError("n\(i + 1) g\(gid) storage write failed: \(error)")
                }
                if let hs = r.hardState, hs.term != group.lastHardState.term || hs.vote != group.lastHardState.vote {
                    // Only a new term or vote must be durable; the commit index is re-learnt.
                    group.pendingHardState = hs
                    electionWrite = true
                }
                if let hs = r.hardState { group.lastHardState = hs }
                if !r.entries.isEmpty || r.snapshot != nil || group.pendingHardState != nil { needsWrite = true }
                nodes[i].groups[g].outstanding = r
                readyGroups.append(g)
            }
            send(from: i, outgoing)
            if readyGroups.isEmpty { break }
            if !needsWrite {
                completeReadies(i, readyGroups)  // nothing to write: the after-persist work may run now
                continue
            }
            // Storage issues its fsyncs now; the simulated device finishes them at `done`.
            if phase == .safety && options.fsyncFailPPM > 0 && faultRandom.chance(ppm: options.fsyncFailPPM) {
                nodes[i].fs.failNextSync = true
            }
            var failure: StorageError? = nil
            for g in readyGroups where failure == nil { failure = persist(i, g) }
            nodes[i].fs.failNextSync = false
            if let failure {
                // After a failed fsync the page cache cannot be trusted: the node stops (and
                // restarts from what is durable, as an operator's restart would).
                trace("n\(i + 1) \(failure)")
                stats.fsyncFailures += 1
                crashUntilRestart(i)
                return
            }
            let (token, done) = nodes[i].disk.submit(now: now)
            nodes[i].inflightWrites.append((token, readyGroups, nodes[i].fs.lastSyncRequest))
            queue.schedule(.diskDone(node: i, incarnation: nodes[i].incarnation, token: token), at: done)
            // Writes that persist a vote are where a lost write matters most: crash there far more often.
            let crashPPM = electionWrite ? options.crashInFlightPPM * 50 : options.crashInFlightPPM
            if phase == .safety && crashPPM > 0 && faultRandom.chance(ppm: min(crashPPM, 500_000)) {
                // Power fails somewhere between the write and its fsync.
                let at = now + faultRandom.below(max(done - now, 1))
                queue.schedule(.crash(node: i, incarnation: nodes[i].incarnation), at: at)
            }
            break
        }
        observe(i, groups)
    }

    /// The writes of these groups' Readies are durable: send what waited for them, apply, advance.
    func completeReadies(_ i: Int, _ groups: [Int]) {
        var outgoing: [[PeerEnvelope]] = []
        for g in groups {
            guard let r = nodes[i].groups[g].outstanding else { continue }
            nodes[i].groups[g].outstanding = nil
            let gid = nodes[i].groups[g].id
            for m in r.messagesAfterPersist {
                if outgoing.isEmpty { outgoing = Array(repeating: [], count: nodes.count) }
                outgoing[Int(m.to.value) - 1].append(PeerEnvelope(group: gid, message: m))
            }
            if let s = r.snapshot {
                nodes[i].groups[g].stateMachine.restore(s)
                checker.observeApplied(
                    node: nodes[i].id, group: gid, index: s.index, chain: nodes[i].groups[g].stateMachine.chain)
                trace("n\(i + 1) g\(gid) installs snapshot at \(s.index)")
            }
            for e in r.committedEntries {
                nodes[i].groups[g].stateMachine.apply(e)
                checker.observeApplied(
                    node: nodes[i].id, group: gid, index: e.index, chain: nodes[i].groups[g].stateMachine.chain)
            }
            nodes[i].groups[g].raft.advance(r)
            maybeCompact(i, g)
        }
        send(from: i, outgoing)
    }

    /// Snapshot and drop old log: every `compactEvery` applied entries, or — with retention on —
    /// when whole old segments exceed `retentionBytes` or hold only records older than `retentionMs`.
    func maybeCompact(_ i: Int, _ g: Int) {
        let group = nodes[i].groups[g]
        let applied = group.stateMachine.appliedIndex
        var keepFrom: LogIndex? = nil
        if options.retentionBytes > 0 {
            guard let through = group.storage.log.retentionIndex(maxBytes: options.retentionBytes) else { return }
            keepFrom = through.next
        } else if options.retentionMs > 0 {
            let cutoff = Int64(now / SimDuration.millisecond) - options.retentionMs
            guard let through = group.storage.log.retentionIndex(olderThan: cutoff) else { return }
            keepFrom = through.next
        } else {
            guard applied.value >= group.raft.snapshotIndex.value + UInt64(options.compactEvery) else { return }
        }
        guard applied > group.raft.snapshotIndex, applied <= group.raft.persistedIndex, applied <= group.raft.appliedIndex
        else { return }
        let data = group.stateMachine.snapshotData
        let snap = group.raft.compact(through: applied, data: data)
        do {
            try group.storage.compact(snap, keepFrom: keepFrom)
        } catch {
            fatalError("n\(i + 1) g\(g + 1) compaction failed: \(error)")
        }
    }

    /// Issue a group's fsyncs: the log, then any new term or vote (durable once they complete).
    /// Returns the error of a failed fsync (the node must stop); other errors are bugs here.
    func persist(_ i: Int, _ g: Int) -> StorageError? {
        let group = nodes[i].groups[g]
        do {
            try group.storage.sync()
            if let hs = group.pendingHardState {
                try group.storage.saveHardState(hs)
                group.pendingHardState = nil
            }
            return nil
        } catch {
            if case .syncFailed = error { return error }
            fatalError("n\(i + 1) g\(g + 1) storage failed: \(error)")
        }
    }

    /// Let the checker see every group's state after an event; trace role changes.
    func observe(_ i: Int, _ groups: [Int]) {
        let id = nodes[i].id
        if nodes[i].damaged && !nodes[i].groups.contains(where: { $0.withRaft { $0.isRepairing } }) {
            nodes[i].damaged = false
            trace("n\(i + 1) repaired")
        }
        for g in groups {
            let group = nodes[i].groups[g]
            let wasLeader = group.wasLeader
            let role = group.withRaft { $0.role }
            if role == .leader && !wasLeader {
                stats.leaderChanges += 1
                let (term, last, commit) = group.withRaft { ($0.term, $0.lastIndex, $0.commitIndex) }
                traceHash.add(UInt64(i) << 32 | term.value)
                trace("n\(i + 1) g\(group.id) becomes leader in term \(term) (last \(last), commit \(commit))")
            } else if role != .leader && wasLeader {
                trace("n\(i + 1) g\(group.id) steps down in term \(group.withRaft { $0.term })")
            }
            group.withRaft { checker.observeState(node: id, group: group.id, raft: $0, wasLeader: wasLeader) }
            group.wasLeader = role == .leader
        }
    }
}
