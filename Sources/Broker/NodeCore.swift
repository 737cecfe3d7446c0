import Primitives
import Raft
import Storage

/// One node's logic, with no clock, socket, thread or file of its own: every Raft group it
/// replicates (the controller and its partitions), what each has applied, and group commit. The
/// runtime (Transport) or the simulator feeds it events — ticks, peer messages, storage
/// completions, proposals — and carries out the `NodeOutput` each returns. The etcd-raft "Ready
/// loop" for many groups at once.
public final class NodeCore {
    /// One Raft group on this node. A class so callers mutate the Raft node in place.
    public final class Group {
        public let id: GroupID
        public var raft: RaftNode
        /// What this replica has applied (chain, next Kafka offset).
        public internal(set) var state = ReplicaState()
        /// The Ready whose writes are in the batch in flight.
        public internal(set) var outstanding: Ready?
        var lastHardState: HardState
        /// Latest retention point storage reported (segments wholly before it may go).
        var retentionThrough: LogIndex?
        /// How much of its log retention keeps (`NodeCore+Retention`); nil: everything.
        var retention: RetentionPolicy?
        /// How its log is compacted (`NodeCore+Compaction`); nil: it is not.
        var compaction: CompactionPolicy?
        /// The segment size last sent to storage (`.setSegmentBytes`): the outer nil until one
        /// was sent, the inner nil for storage's own.
        var segmentBytesSent: Int??
        /// Closed segments lie beyond the snapshot up to here (storage said, cleaning): the next
        /// `maybeCompact` snapshots the partition, so the cleaner reaches them.
        var snapshotWanted: LogIndex?
        /// A Kafka topic's partition (entries are record batches), not the controller or a
        /// simulator group.
        public let isKafkaPartition: Bool
        /// The first Kafka offset the partition's storage still holds (reported by storage).
        var storedLogStart: UInt64 = 0
        /// DeleteRecords' floor: records below it are deleted, whatever storage still holds
        /// (applied from the partition's log, so every replica agrees; kept in its snapshots).
        public internal(set) var recordsDeletedBelow: UInt64 = 0
        /// Set when an applied entry raised `recordsDeletedBelow`: the node then has storage drop
        /// the whole segments below it (`NodeCore+DeleteRecords`).
        var recordsDeletedBelowRaised = false
        /// The partition's log start offset (Fetch, ListOffsets earliest): the first record
        /// neither retention nor DeleteRecords removed.
        public var logStartOffset: UInt64 { max(storedLogStart, min(recordsDeletedBelow, state.nextOffset)) }
        /// Bytes the log takes on this node's disk, as storage last reported (DescribeLogDirs).
        public internal(set) var logBytes: UInt64 = 0
        /// Bytes of entries applied since the last snapshot (what the Raft log holds in memory).
        var appliedBytesSinceSnapshot = 0
        /// Damaged entries storage holds and a peer's copy can mend (reported by storage).
        public internal(set) var damage: [ClosedRange<LogIndex>] = []
        /// Repair requests sent, to rotate through the peers.
        var repairAsks = 0
        /// Idempotent producers as of the applied entries (a Kafka partition's replicas all keep it).
        public internal(set) var producers = ProducerState()
        /// For a partition of `__consumer_offsets`: the committed offsets and group metadata its
        /// records hold, as of the applied entries. Nil for every other group.
        public internal(set) var offsetStore: GroupOffsetStore?
        /// Planted bug `txn-offsets-on-abort`: an abort marker applies the pending offsets.
        var offsetsOnAbort = false
        /// For a partition of `__transaction_state`: each transactional id's record, as of the
        /// applied entries. Nil for every other group.
        public internal(set) var transactionStore: TransactionStateStore?
        /// Transactions as of the applied entries (`PartitionTransactions`): begun, ended, open.
        public internal(set) var transactions = PartitionTransactions()
        /// Which internal topic the partition belongs to, if any: its records are a store's.
        public var internalTopic: InternalTopic? {
            offsetStore != nil ? .consumerOffsets : transactionStore != nil ? .transactionState : nil
        }

        /// Apply a committed entry: the replica state, and for a Kafka partition its producers
        /// (and, for an offsets partition, its group records).
        func apply(_ e: Entry) {
            state.apply(e, records: records(e))
            if isKafkaPartition, e.kind == .normal, internalTopic == nil, let below = KafkaEntry.deleteRecordsOffset(e.data) {
                // Never past the records applied: the leader checked, and a floor beyond the
                // high watermark would hide records not written yet.
                let floor = min(below, state.nextOffset)
                if floor > recordsDeletedBelow {
                    recordsDeletedBelow = floor
                    recordsDeletedBelowRaised = true
                    // Aborted transactions wholly below the new start concern no reader any more
                    // (every replica applies this entry: their lists stay the same).
                    transactions.trim(below: Int64(floor))
                }
                return
            }
            // Data without a record batch header holds no records (`KafkaEntry.recordCount`: the
            // simulator's liveness probe writes such entries to an offsets partition).
            guard isKafkaPartition, e.kind == .normal else { return }
            guard let h = KafkaEntry.header(e.data) else {
                if let (producerID, mark) = KafkaEntry.transactionBegun(e.data) { transactions.begin(producerID, mark) }
                return
            }
            if h.isControl {
                // A marker: only leaders write them (clients' are refused), so each must decode.
                guard let marker = Self.marker(e.data) else {
                    committedStateUndecodable("transaction marker", group: id, index: e.index, data: e.data, WireError.invalid("not a commit or abort marker"))
                }
                let mark = TransactionMark(epoch: h.producerEpoch, sequence: marker.coordinatorEpoch)
                if offsetStore != nil && transactions.mayEnd(h.producerID, mark) {
                    do {
                        try offsetStore?.endTransaction(producerID: h.producerID, commit: marker.commit || offsetsOnAbort)
                    } catch {
                        committedStateUndecodable("transactional offsets", group: id, index: e.index, data: e.data, error)
                    }
                }
                Self.applyMarker(h, marker, producers: &producers, transactions: &transactions)
                return
            }
            // (An internal partition's batches are a coordinator's: producer sequences do not apply.)
            if internalTopic == nil {
                producers.record(producerID: h.producerID, epoch: h.producerEpoch, firstSequence: h.baseSequence,
                                 lastSequence: h.lastSequence, baseOffset: h.baseOffset)
            }
            if h.isTransactional {
                let inTransaction = transactions.mayWrite(h.producerID, epoch: h.producerEpoch)
                transactions.appended(h.producerID, epoch: h.producerEpoch, baseOffset: h.baseOffset)
                if offsetStore != nil {
                    // TxnOffsetCommit's offsets wait for the marker (the leader wrote them only
                    // inside a transaction begun here).
                    do {
                        if inTransaction { try offsetStore?.applyTransactional(entryData: e.data, producerID: h.producerID) }
                    } catch {
                        committedStateUndecodable("transactional offsets", group: id, index: e.index, data: e.data, error)
                    }
                    return
                }
            }
            do {
                // Only a coordinator writes batches to an internal partition: each must decode.
                try offsetStore?.apply(entryData: e.data)
                try transactionStore?.apply(entryData: e.data)
            } catch {
                committedStateUndecodable("\(internalTopic?.name ?? "internal") partition entry", group: id, index: e.index, data: e.data, error)
            }
        }

        /// Snapshot payload: the replica state, then (Kafka partitions) the producers.
        var snapshotData: [UInt8] {
            var data = state.snapshotData
            if isKafkaPartition {
                var w = ByteWriter()
                producers.encode(&w)
                offsetStore?.encode(&w)
                transactionStore?.encode(&w)
                // Only once set: snapshots of partitions without deletions or transactions keep
                // their layout (`decodeKafkaState`).
                if internalTopic == nil && (recordsDeletedBelow > 0 || !transactions.isEmpty) { w.u64(recordsDeletedBelow) }
                let pendingOffsets = !(offsetStore?.pending.isEmpty ?? true)
                if !transactions.isEmpty || pendingOffsets { transactions.encode(&w) }
                if pendingOffsets { offsetStore?.encodePending(&w) }
                data += w.bytes
            }
            return data
        }

        /// Restore from a snapshot: this node's own, or a peer's that `snapshotProblem` let in.
        func restore(_ snap: Snapshot) {
            do {
                try state.restore(snap)
                if isKafkaPartition {
                    let kafka = try Self.decodeKafkaState(snap.data, internal: internalTopic)
                    (producers, offsetStore, transactionStore) = (kafka.producers, kafka.offsetStore, kafka.transactionStore)
                    transactions = kafka.transactions
                    recordsDeletedBelowRaised = kafka.recordsDeletedBelow > recordsDeletedBelow
                    recordsDeletedBelow = kafka.recordsDeletedBelow
                }
            } catch {
                committedStateUndecodable("snapshot", group: id, index: snap.index, data: snap.data, error)
            }
        }

        init(id: GroupID, raft: RaftNode, isKafkaPartition: Bool, internalTopic: InternalTopic? = nil) {
            self.id = id
            self.raft = raft
            self.isKafkaPartition = isKafkaPartition
            switch internalTopic {
            case .consumerOffsets: offsetStore = GroupOffsetStore()
            case .transactionState: transactionStore = TransactionStateStore()
            case nil: break
            }
            self.lastHardState = raft.hardState
            // The replica state the snapshot holds (the whole state: `restore`, by the caller).
            let snap = raft.latestSnapshot
            do {
                self.state = snap.index > .zero ? try ReplicaState.decode(snap) : ReplicaState()
            } catch {
                committedStateUndecodable("snapshot", group: id, index: snap.index, data: snap.data, error)
            }
        }

        /// Kafka records an entry takes.
        func records(_ e: Entry) -> UInt64 {
            isKafkaPartition ? UInt64(KafkaEntry.recordCount(e)) : (e.kind == .normal ? 1 : 0)
        }

        /// Read or change the Raft node in place (a plain read of a class's struct property would
        /// copy the whole struct).
        @inline(__always) public func withRaft<R>(_ body: (inout RaftNode) throws -> R) rethrows -> R { try body(&raft) }
    }

    public let config: NodeConfig
    /// Wall-clock time in ms since the epoch (the runtime's clock, the simulator's virtual one):
    /// the leader stamps batches of LogAppendTime topics with it. Injected, like storage's.
    public var clockMs: () -> Int64 = { 0 }
    /// A monotonic clock in ms (the runtime's uptime clock, the simulator's virtual one): how
    /// long the node stood still between ticks (`NodeCore+Stall`). The default never moves,
    /// so nothing counts as a stall.
    public var monotonicMs: () -> Int64 = { 0 }
    /// `monotonicMs` at the last tick, or at the last stall found (nil before the first tick).
    var lastTickMs: Int64?
    /// Stalls `stepDownIfStalled` found (for tests and the simulator's report).
    public internal(set) var stallsFound = 0
    /// Groups sorted by id: iteration order is part of the run.
    public private(set) var groups: [Group] = []
    /// Per group (same positions): whether something may have changed it since its output was
    /// last collected. Groups nobody touched have nothing new, so `flush` looks only at
    /// `touchedList` — what an event costs follows the groups it touched, not all groups (with
    /// thousands of partitions, scanning every group per peer message saturated the node).
    private var touched: [Bool] = []
    /// The positions marked in `touched`, in the order they were marked.
    private var touchedList: [Int] = []
    /// Per group: whether its position is in `active` already (reset with it).
    private var inActive: [Bool] = []
    /// Positions (in `groups`) of the groups the last event touched, in order: observers need
    /// look only at these.
    public private(set) var active: [Int] = []
    public private(set) var controller: ControllerState
    public weak var observer: NodeCoreObserver?
    private var nextToken: UInt64 = 1
    private var inFlight: (token: UInt64, groups: [GroupID])?
    /// Operations decided while a batch was in flight (compactions, new groups).
    var queued: [StorageBatch.Operation] = []
    /// The controller's applied index and the group count the retention policies were last
    /// computed for (`refreshRetention`).
    var retentionRefreshedFor: (LogIndex, Int)?
    /// Groups handed to another node by `transferLeaderships` (once each).
    private var transferred: [GroupID] = []
    /// Partition groups found on disk, waiting for the controller to name their replicas.
    private var recoveredPartitions: [(GroupID, RecoveredState)] = []
    var ticks: UInt64 = 0
    /// What the Kafka partitions' Raft logs hold in memory, together (`NodeCore+KafkaMemory`).
    public internal(set) var kafkaRetainedBytes = 0
    /// Answers ready to go out with the next output.
    var completions: [KafkaCompletion] = []
    /// Leaders of groups this node does not replicate, from peers' gossip.
    var leaderHints = LeaderHints()
    var autoCreation = TopicAutoCreation()
    var coordinator = GroupCoordinator()
    var transactions: TransactionCoordinator
    /// The partition leader's side of transactions: begins and markers coordinators ask for.
    var partitionTransactions = TransactionPartitionService()
    /// Transaction messages to send with the next output.
    var outgoingTransactionMessages: [(NodeID, TransactionPartitionMessage)] = []
    /// The Kafka subsystems that own their state and return actions (`KafkaAction`).
    var producerIDs: ProducerIDService
    var admin = TopicAdmin()
    var produces = ProduceService()
    var deletions = DeleteRecordsService()
    var elections = ElectLeadersService()
    var reassignments = ReassignmentService()
    var removals = NodeRemovalService()
    /// Groups with a move in progress that this node hosts (`NodeCore+Moves`), and the completed
    /// moves reported to the controller (which move, at which tick), by group.
    var movingGroups: [GroupID] = []
    var moveReported: [GroupID: (moves: UInt32, tick: UInt64)] = [:]
    /// Groups whose membership this node steered back to their replicas with no move in
    /// progress (a drift), by the move count then: reported to the controller like a finished move.
    var driftMended: [GroupID: UInt32] = [:]
    /// Partitions whose replica moved off this node: the copy's term and vote then, and as
    /// `commit` the last index its log reached (durable: `NodeStorage.departedCopies`). A copy
    /// created again here starts as one whose storage lost its log (`addGroup`).
    var departedCopies: [GroupID: HardState] = [:]
    /// Learners' catch-up reads: the bytes this node may still read now, and the reads held back
    /// until the budget refills (`NodeCore+MoveThrottle`).
    var catchUpBudget = 0
    var throttledCatchUp: [(group: GroupID, read: LogRead)] = []
    /// Learners' catch-up reads the budget held back, ever (for tests and the simulator's report).
    public internal(set) var catchUpReadsHeld = 0
    /// Groups to hand to their preferred replica while this node leads them, until a deadline
    /// (`NodeCore+ElectLeaders`), by group.
    var preferredLeaderWanted: [(group: GroupID, notAfterMs: Int64)] = []
    var fetches = FetchService()
    /// Which peers this node hears from (`NodeCore+Liveness`): wakes quiesced groups.
    var liveness: PeerLiveness
    var listings = ListOffsetsService()
    /// Controller commands to forward to the controller leader.
    var pendingForwards: [(NodeID, ControllerCommand)] = []
    private var nextRegistrationTick: UInt64 = 0
    /// When this node next announces its peer address (`NodeCore+ControllerMembership`).
    var nextAnnounceTick: UInt64 = 0
    /// Lines for the node's log from the controller's membership, and whether this node's own
    /// removal was said.
    var pendingNotices: [String] = []
    var removalNoticed = false
    /// Storage reads asked for (repair, Kafka) and not yet handed out; Raft catch-up reads go
    /// out straight from `flush`.
    var reads: [StorageRead] = []
    /// The next read's token: one counter for every purpose, so tokens are unique per node.
    private var nextReadToken: UInt64 = 1
    /// Repair messages to send with the next output.
    var outgoingRepairs: [(NodeID, RepairMessage)] = []
    /// Damage reports for the next output, and damage found at read time not yet mended (with
    /// the tick it was found at); see NodeCore+ReadDamage.
    var damageReports: [StorageDamageReport] = []
    var readDamage: [(report: StorageDamageReport, tick: UInt64, sequence: UInt64, handedOff: Bool)] = []
    /// This node's copy of the controller's state is known to be current (NodeCore+ControllerCatchUp).
    public internal(set) var controllerCaughtUp = false
    /// A failed fsync: the node must stop.
    public private(set) var storageFailure: StorageError?
    /// The data disk is nearly full (below the runtime's `min_free_bytes`): Kafka partitions take
    /// no new writes here, see NodeCore+DiskSpace.swift.
    public internal(set) var diskFull = false
    /// Peer messages that would have appended to a Kafka partition while the disk was full.
    public internal(set) var appendsRefusedForSpace = 0

    /// Start from what storage recovered: one state per group found on disk. The configuration is
    /// validated here, once (`NodeConfig.validate`): a bad value is refused with its field's name.
    /// `departed`: the partitions whose replica moved off this node, with what the copy was
    /// (`NodeStorage.departedCopies`).
    public init(
        config: NodeConfig, recovered: [(GroupID, RecoveredState)], departed: [GroupID: HardState] = [:], observer: NodeCoreObserver? = nil
    ) throws(NodeConfigError) {
        try config.validate()
        self.config = config
        self.departedCopies = departed
        self.observer = observer
        self.controller = ControllerState(members: config.members, firstGroup: config.firstTopicGroup)
        self.producerIDs = ProducerIDService(node: config.id, nonce: config.seed &+ config.incarnation &* 0x9E37_79B9_7F4A_7C15)
        self.transactions = TransactionCoordinator(firstRequest: config.seed &+ config.incarnation &* 0x9E37_79B9_7F4A_7C15)
        self.liveness = PeerLiveness(members: config.members, except: config.id)
        var states = recovered.sorted { $0.0 < $1.0 }
        for id in [controllerGroup] + config.staticGroups.map(\.0) where !states.contains(where: { $0.0 == id }) {
            states.append((id, RecoveredState()))
            queued.append(.createGroup(id))
        }
        states.sort { $0.0 < $1.0 }
        for (gid, state) in states {
            if gid == controllerGroup {
                addGroup(gid, membership: Membership(voters: config.members), recovered: state)
            } else if let members = config.staticGroups.first(where: { $0.0 == gid })?.1 {
                addGroup(gid, membership: Membership(voters: members), recovered: state)
            } else {
                // A partition's replicas come from the controller's state: the group starts once
                // the controller has caught up and names it (`reconcileGroups`).
                recoveredPartitions.append((gid, state))
            }
        }
        if let g = group(controllerGroup), g.raft.snapshotIndex > .zero { restoreController(g.raft.latestSnapshot) }
        reconcileGroups()
    }

    // MARK: - Queries

    public var groupIDs: [GroupID] { groups.map(\.id) }

    public func raftOf(_ g: GroupID) -> RaftNode? { group(g)?.raft }

    public func group(_ g: GroupID) -> Group? {
        position(g).map { groups[$0] }
    }

    func position(_ g: GroupID) -> Int? {
        var lo = 0
        var hi = groups.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if groups[mid].id == g { return mid }
            if groups[mid].id < g { lo = mid + 1 } else { hi = mid - 1 }
        }
        return nil
    }

    public var isStorageBusy: Bool { inFlight != nil }

    /// Partition groups recovered from disk that wait for the controller to name them.
    public var waitingRecoveredGroups: Int { recoveredPartitions.count }

    /// Groups this node leads now.
    public var leadingGroups: Int { groups.filter { $0.withRaft { $0.role } == .leader }.count }

    // MARK: - Events

    public func tick() -> NodeOutput {
        let stall = stepDownIfStalled()
        lastTickMs = monotonicMs()
        ticks += 1
        wakeGroupsOfDownPeers()
        // Quiesced groups cost nothing per tick but this check.
        for k in groups.indices where !groups[k].withRaft({ $0.isQuiesced }) {
            groups[k].raft.tick()
            touch(k)
        }
        perform(admin.tick(self))
        if !produces.isEmpty { perform(produces.check(expired: true, self)) }
        if !deletions.isEmpty { perform(deletions.check(expired: true, self)) }
        if !elections.isEmpty { perform(elections.tick(self)) }
        if !reassignments.isEmpty { perform(reassignments.tick(self)) }
        if !removals.isEmpty { perform(removals.tick(self)) }
        if !fetches.isEmpty { perform(fetches.tick(self)) }
        perform(producerIDs.serve(controller: controller, now: ticks, expired: true))
        perform(coordinator.tick(self))
        if config.servesTransactions { perform(transactions.tick(self, producerIDs: &producerIDs)) }
        if ticks % UInt64(config.raftTemplate.electionTicks) == 0 {
            askForRepairs()
            if diskFull { handOffKafkaLeaderships() }
            if !preferredLeaderWanted.isEmpty { handOffToPreferredLeaders() }
        }
        if !readDamage.isEmpty { handOffUnmendedDamage() }
        measureRetentionByTime()
        cleanCompactedLogs()
        balanceLeaders()
        driveMoves()
        driveControllerMembership()
        var out = flush()
        releaseThrottledCatchUp(into: &out)
        // Tell peers which groups this node leads, for the Metadata of nodes that do not host them.
        if ticks % BrokerLimits.leaderGossipTicks == 0 && controller.members.count > 1 { out.leaders = leadership() }
        if ticks % keepaliveTicks == 0 { out.keepalives = liveness.peers.map(\.node) }
        if let stall { out.notices.append(stall) }
        return out
    }

    /// Messages from a peer (one decoded frame). Messages for groups this node does not (yet)
    /// replicate are dropped: the sender retries, and the controller will create the group here.
    /// A snapshot whose state does not decode is refused here, as Raft refuses malformed messages
    /// (`RaftNode.validate`): it is input now, and would be committed state once taken.
    public func receive(_ envelopes: [PeerEnvelope]) -> NodeOutput {
        let stall = stepDownIfStalled()
        var rejected: [(GroupID, RejectedMessage)] = []
        for env in envelopes {
            guard env.message.to == config.id, let k = position(env.group) else { continue }
            if diskFull && refusedForSpace(env) { continue }
            if env.message.kind == .snapshot, let snap = env.message.snapshot, let problem = snapshotProblem(snap, group: groups[k]) {
                let m = env.message
                rejected.append((env.group, RejectedMessage(from: m.from, kind: m.kind, term: m.term, reason: problem)))
                continue
            }
            groups[k].raft.step(env.message)
            for r in groups[k].raft.takeRejections() { rejected.append((env.group, r)) }
            touch(k)
        }
        var out = flush()
        out.rejected = rejected
        if let stall { out.notices.append(stall) }
        return out
    }

    /// A controller command forwarded by a peer: proposed when this node leads the controller,
    /// dropped otherwise (the sender asks again).
    public func receiveForward(_ command: ControllerCommand) -> NodeOutput {
        if let k = position(controllerGroup), groups[k].withRaft({ $0.role }) == .leader {
            _ = try? groups[k].raft.propose(command.encode())
            touch(k)
        }
        return flush()
    }

    /// Propose a controller command (on the controller leader; others throw `notLeader`).
    public func proposeToController(_ command: ControllerCommand) throws(RaftError) -> (NodeOutput, LogIndex) {
        let at = try propose(command.encode(), to: controllerGroup)
        return (flush(), at.index)
    }

    /// Propose data to a group this node leads. Call `drain()` for the output.
    public func propose(_ data: [UInt8], to g: GroupID) throws(RaftError) -> (index: LogIndex, term: Term) {
        guard let k = position(g) else { throw RaftError.notLeader(leaderHint: .none) }
        touch(k)
        return try groups[k].raft.propose(data)
    }

    public func confirmLeadership(of g: GroupID) -> UInt64? {
        guard let k = position(g) else { return nil }
        touch(k)
        return groups[k].raft.confirmLeadership()
    }

    /// The output of changes made directly to groups (`propose`, `withRaft` on a group).
    public func drain() -> NodeOutput {
        touchAll()
        return flush()
    }

    func touchAll() {
        for k in groups.indices { touch(k) }
    }

    /// Mark the group at position `k`: its output is collected by the next `flush`.
    func touch(_ k: Int) {
        if !touched[k] {
            touched[k] = true
            touchedList.append(k)
        }
    }

    /// The touched positions in position (group id) order — the order `flush` has always
    /// visited groups in, which is part of a simulated run.
    private func touchedInOrder() -> [Int] {
        touchedList.sort()
        return touchedList
    }

    public func storageCompleted(_ c: StorageCompletion) -> NodeOutput {
        guard let flight = inFlight, flight.token == c.token else { return NodeOutput() }
        inFlight = nil
        if let failure = c.failure {
            storageFailure = failure
            return NodeOutput()
        }
        for (gid, through) in c.retention {
            guard let g = group(gid) else { continue }
            g.retentionThrough = through
            if g.outstanding == nil { maybeCompact(g) }  // an idle group's segments go now too
        }
        var out = NodeOutput()
        noteCompaction(c, into: &out)
        for g in groups where g.snapshotWanted != nil && g.outstanding == nil { maybeCompact(g) }
        for (gid, start) in c.logStart { group(gid)?.storedLogStart = start }
        for (gid, bytes) in c.logBytes { group(gid)?.logBytes = bytes }
        for g in groups where !g.damage.isEmpty { g.damage = [] }
        for (gid, runs) in c.damage { group(gid)?.damage = runs }
        noteDamage(found: c.damageFound, damage: [], sequence: c.sequence)
        noteMended(c)
        completeReadies(flight.groups, into: &out)
        out.append(flush())
        return out
    }

    /// Before a graceful stop: hand every group this node leads to another voter (the one after
    /// this node in id order, so a cluster stopping node by node spreads them). Each group is
    /// handed over once per stop: when the whole cluster stops together, leadership must not
    /// bounce between stopping nodes (each bounce is a new term).
    public func transferLeaderships() -> NodeOutput {
        for g in groups where g.withRaft({ $0.role }) == .leader && !transferred.contains(g.id) {
            let voters = g.withRaft { $0.membership.voters }.filter { $0 != config.id }.sorted()
            guard let target = voters.first(where: { $0 > config.id }) ?? voters.first else { continue }
            transferred.append(g.id)
            try? g.raft.transferLeadership(to: target)
        }
        touchAll()
        return flush()
    }

    // MARK: - The Ready loop

    func flush() -> NodeOutput {
        for k in active { inActive[k] = false }
        active.removeAll(keepingCapacity: true)
        var out = NodeOutput()
        guard storageFailure == nil else { return out }
        for _ in 0..<BrokerLimits.flushRoundsMax {
            var outgoing: [(NodeID, [PeerEnvelope])] = []
            let visiting = touchedInOrder()
            for k in visiting {
                if !inActive[k] {
                    inActive[k] = true
                    active.append(k)
                }
                let g = groups[k]
                for m in g.raft.takeMessages() { append(&outgoing, PeerEnvelope(group: g.id, message: m)) }
                for r in g.raft.takeLogReads() {
                    if throttlesCatchUp(r, of: g) { continue }  // held back (NodeCore+MoveThrottle)
                    out.reads.append(catchUpRead(r, of: g))
                }
            }
            out.messages = merge(out.messages, outgoing)
            // While a batch is in flight, touched groups stay marked: their Readies wait for it.
            guard inFlight == nil else { break }
            var operations = queued
            queued = []
            var readyGroups: [GroupID] = []
            var needsWrite = false
            for k in visiting { touched[k] = false }
            touchedList.removeAll(keepingCapacity: true)
            for k in visiting {
                let g = groups[k]
                guard g.outstanding == nil, g.withRaft({ $0.hasReady }) else { continue }
                let r = g.raft.ready()
                if !r.entries.isEmpty, let observer { g.withRaft { observer.appended(r.entries, node: config.id, group: g.id, raft: $0) } }
                if let snap = r.snapshot {
                    // Durable first, then the log restarts after it (NodeStorage keeps that order).
                    let nextOffset: KafkaOffset
                    do {
                        nextOffset = try ReplicaState.nextOffset(in: snap)
                    } catch {
                        committedStateUndecodable("snapshot", group: g.id, index: snap.index, data: snap.data, error)
                    }
                    operations.append(.installSnapshot(g.id, snap, nextOffset: nextOffset))
                }
                if !r.entries.isEmpty {
                    operations.append(.append(g.id, r.entries))
                    if let policy = g.retention { operations.append(.measureRetention(g.id, policy)) }
                }
                if let hs = r.hardState, hs.term != g.lastHardState.term || hs.vote != g.lastHardState.vote {
                    // Only a new term or vote must be durable; the commit index is re-learnt.
                    operations.append(.saveHardState(g.id, hs))
                }
                if let hs = r.hardState { g.lastHardState = hs }
                if !r.entries.isEmpty || r.snapshot != nil { needsWrite = true }
                g.outstanding = r
                readyGroups.append(g.id)
            }
            if readyGroups.isEmpty && operations.isEmpty { break }
            let waits = needsWrite || operations.contains(where: Self.mustWait)
            if !waits {
                // Nothing these readies need made durable: their after-persist work runs now.
                completeReadies(readyGroups, into: &out)
                if operations.isEmpty { continue }
            }
            // Compactions alone go in a batch no ready waits for.
            let batch = StorageBatch(token: nextToken, operations: operations)
            nextToken += 1
            inFlight = (batch.token, waits ? readyGroups : [])
            out.storage = batch
            break
        }
        maybeRegister(&out)
        maybeAnnounce(&out)
        out.forwards += pendingForwards
        pendingForwards.removeAll()
        out.notices += coordinator.takeNotices()
        out.notices += transactions.takeNotices()
        out.notices += pendingNotices
        pendingNotices.removeAll()
        if !produces.isEmpty { perform(produces.check(expired: false, self)) }
        if !deletions.isEmpty { perform(deletions.check(expired: false, self)) }
        if !elections.isEmpty { perform(elections.check(self)) }
        if !fetches.isEmpty { perform(fetches.progressed(self)) }
        if coordinator.hasPendingWrites { perform(coordinator.writesProgressed(expired: false, self)) }
        if transactions.hasPendingWrites { perform(transactions.writesProgressed(expired: false, self)) }
        if !partitionTransactions.isEmpty { for (to, m) in partitionTransactions.check(self) { routeTransaction(m, to: to) } }
        out.transactionMessages += outgoingTransactionMessages
        outgoingTransactionMessages.removeAll()
        out.kafkaReplies += completions
        completions.removeAll()
        out.reads += reads
        reads.removeAll()
        out.repairs += outgoingRepairs
        outgoingRepairs.removeAll()
        out.damage += damageReports
        damageReports.removeAll()
        return out
    }


    /// A token for a new storage read.
    func takeReadToken() -> UInt64 {
        defer { nextReadToken += 1 }
        return nextReadToken
    }

    /// A Raft log read as a storage read, through the snapshot point (what memory no longer holds).
    func storageRead(_ r: LogRead, group g: Group) -> StorageRead {
        var read = StorageRead(token: takeReadToken(), purpose: .raftCatchUp(r), group: g.id, offset: 0, maxBytes: r.maxBytes,
                               through: g.withRaft { $0.snapshotIndex })
        read.entriesFrom = r.from
        return read
    }

    // MARK: - Storage reads answered

    /// Storage answered a read: routed by what it was for.
    public func readCompleted(_ c: ReadCompletion) -> NodeOutput {
        if !c.damageFound.isEmpty { noteDamage(found: c.damageFound, damage: c.damage, sequence: c.sequence) }
        switch c.purpose {
        case .raftCatchUp(let read):
            return logReadCompleted(c, read)
        case .repair(let peer, let range):
            return repairReadCompleted(c, peer: peer, range: range)
        case .kafkaFetch:
            perform(fetches.readCompleted(c, self))
            return drain()
        case .listOffsets:
            perform(listings.readCompleted(c))
            return drain()
        }
    }

    /// Storage answered a Raft log read: the group's leader sends the entries (or, when storage
    /// no longer has them, the snapshot).
    private func logReadCompleted(_ c: ReadCompletion, _ read: LogRead) -> NodeOutput {
        guard let p = position(c.group) else { return NodeOutput() }
        chargeCatchUp(read, entries: c.entries, of: groups[p])
        // A read that failed (damage found, an I/O error) did not find the entries gone: it is
        // tried again before the follower is given the snapshot (`RaftNode.logReadCompleted`).
        groups[p].raft.logReadCompleted(read, entries: c.failure == nil && !c.entries.isEmpty ? c.entries : nil, damaged: c.failure != nil)
        touch(p)
        return flush()
    }

    /// Storage read what a peer asked for: send it (the entries of the range only).
    private func repairReadCompleted(_ c: ReadCompletion, peer: NodeID, range: ClosedRange<LogIndex>) -> NodeOutput {
        // What this replica holds intact of the range: the asker fills the gaps with its own
        // intact entries, or another peer's.
        let entries = c.entries.filter { range.contains($0.index) }
        if c.failure == nil, !entries.isEmpty {
            outgoingRepairs.append((peer, .entries(group: c.group, entries)))
        }
        return flush()
    }

    // MARK: - Mending damage below a partition's snapshot (see `RepairMessage`)

    /// Ask a peer (a different one each time) for the first damaged run of each partition whose
    /// damage storage reported. Only committed entries: every replica's copy is the same.
    private func askForRepairs() {
        for g in groups where g.isKafkaPartition && !g.damage.isEmpty { askForRepair(g) }
    }

    /// Ask the next peer for the group's first damaged run.
    func askForRepair(_ g: Group) {
        guard g.isKafkaPartition else { return }
        let committed = g.withRaft { $0.commitIndex }
        guard let run = g.damage.first, run.upperBound <= committed else { return }
        let peers = g.withRaft { $0.membership.voters + $0.membership.learners }.filter { $0 != config.id }.sorted()
        guard !peers.isEmpty else { return }
        let peer = peers[g.repairAsks % peers.count]
        g.repairAsks += 1
        let through = min(run.upperBound, run.lowerBound + Int(BrokerLimits.repairEntriesMax - 1))
        outgoingRepairs.append((peer, .request(group: g.id, from: config.id, range: run.lowerBound...through)))
    }

    /// A repair request or a peer's copy.
    public func receiveRepair(_ m: RepairMessage) -> NodeOutput {
        switch m {
        case .request(let gid, let from, let range):
            // Entries this replica has applied are committed and durable here.
            guard let g = group(gid), g.isKafkaPartition, from != config.id else { break }
            // At most `repairEntriesMax` entries, what a correct peer asks for at once.
            let through = min(range.upperBound, range.lowerBound + Int(BrokerLimits.repairEntriesMax - 1), g.state.appliedIndex)
            guard range.lowerBound <= through else { break }
            var read = StorageRead(
                token: takeReadToken(), purpose: .repair(peer: from, range: range.lowerBound...through), group: gid, offset: 0,
                maxBytes: BrokerLimits.repairReadBytesMax, through: through)
            read.entriesFrom = range.lowerBound
            reads.append(read)
        case .entries(let gid, let entries):
            guard let g = group(gid), g.isKafkaPartition, !entries.isEmpty, !g.damage.isEmpty else { break }
            // A peer's copy holds committed entries only (what it asked storage for): one that
            // reaches past this replica's commit index, or comes unasked in size, is not a copy.
            guard entries.count <= Int(BrokerLimits.repairEntriesMax), entries.last!.index <= g.withRaft({ $0.commitIndex }) else { break }
            queued.append(.repair(gid, entries))
        }
        return flush()
    }

    /// Operations the readies of their batch must wait for.
    private static func mustWait(_ op: StorageBatch.Operation) -> Bool {
        switch op {
        case .saveHardState, .append, .installSnapshot, .createGroup: return true
        case .compact, .removeGroup, .repair, .measureRetention, .dropSegments, .clean, .setSegmentBytes: return false
        }
    }

    /// The writes of these groups' Readies are durable: send what waited for them, apply, advance.
    private func completeReadies(_ ids: [GroupID], into out: inout NodeOutput) {
        var outgoing: [(NodeID, [PeerEnvelope])] = []
        for id in ids {
            guard let k = position(id), let r = groups[k].outstanding else { continue }
            let g = groups[k]
            g.outstanding = nil
            touch(k)
            for m in r.messagesAfterPersist { append(&outgoing, PeerEnvelope(group: id, message: m)) }
            if let s = r.snapshot {
                g.restore(s)
                if id == controllerGroup { restoreController(s) }
                observer?.installedSnapshot(node: config.id, group: id, index: s.index)
                observer?.applied(node: config.id, group: id, index: s.index, chain: g.state.chain)
            }
            if r.snapshot != nil { noteReleased(g) }
            for e in r.committedEntries {
                noteRetained(g, e.data.count)
                g.apply(e)
                if id == controllerGroup {
                    let rejection = controller.apply(e)
                    controllerApplied(e, rejection: rejection)
                    noteControllerEntryApplied(e, of: g)
                }
                observer?.applied(node: config.id, group: id, index: e.index, chain: g.state.chain)
            }
            g.raft.advance(r)
            if g.recordsDeletedBelowRaised { recordsDeletedBelowRaised(g) }
            maybeCompact(g)
        }
        trimKafkaMemory()
        out.messages = merge(out.messages, outgoing)
        if ids.contains(controllerGroup) { reconcileGroups() }
    }

    /// The controller's state from a snapshot of group 0 (this node's own, or a peer's that
    /// `snapshotProblem` let in).
    private func restoreController(_ snap: Snapshot) {
        do {
            try controller.restore(snap, skipping: ReplicaState.snapshotBytes)
        } catch {
            committedStateUndecodable("controller snapshot", group: controllerGroup, index: snap.index, data: snap.data, error)
        }
    }

    /// Snapshot a group and let storage drop old log: every `compactEvery` applied entries, or —
    /// with retention on — once storage reports whole old segments past the limit.
    func maybeCompact(_ g: Group) {
        let applied = g.state.appliedIndex
        var keepFrom: LogIndex? = nil
        if g.isKafkaPartition {
            // Memory only: the log on disk stays (it is the data) until retention says otherwise.
            guard applied.value >= g.withRaft({ $0.snapshotIndex }).value + UInt64(config.kafkaCompactEvery)
                || g.appliedBytesSinceSnapshot >= config.kafkaMemoryBytes || g.retentionThrough != nil
                || g.snapshotWanted != nil
            else { return }
            keepFrom = g.retentionThrough?.next ?? LogIndex(1)
            if let through = g.retentionThrough, applied == g.withRaft({ $0.snapshotIndex }) {
                // Nothing applied since the last snapshot (an idle partition): it covers the point.
                g.retentionThrough = nil
                queued.append(.dropSegments(g.id, before: through.next))
                return
            }
        } else if g.retention != nil {
            guard let through = g.retentionThrough else { return }
            keepFrom = through.next
        } else {
            guard applied.value >= g.withRaft({ $0.snapshotIndex }).value + UInt64(config.compactEvery) else { return }
        }
        let (snapshotIndex, persisted, raftApplied) = g.withRaft { ($0.snapshotIndex, $0.persistedIndex, $0.appliedIndex) }
        guard applied > snapshotIndex, applied <= persisted, applied <= raftApplied else { return }
        var data = g.snapshotData
        if g.id == controllerGroup { data += controller.encode() }
        let snap = g.raft.compact(through: applied, data: data)
        g.retentionThrough = nil
        g.snapshotWanted = nil
        noteReleased(g)
        queued.append(.compact(g.id, snap, keepFrom: keepFrom))
    }

    /// Create the partition groups the controller assigns to this node, and remove those of
    /// deleted topics (with their data) and those moved off this node (`replicaDropped`).
    private func reconcileGroups() {
        for g in groups where g.isKafkaPartition {
            if controller.isDeleted(g.id) {
                removeGroup(g.id)
            } else if replicaDropped(g.id, membershipIndex: g.withRaft { $0.membershipIndex }) {
                let copy = g.withRaft { HardState(term: $0.term, vote: $0.vote, commit: max($0.lastIndex, $0.repairThrough)) }
                removeGroup(g.id, departed: copy)
            }
        }
        let dropped = recoveredPartitions.filter { controller.isDeleted($0.0) || replicaDropped($0.0, membershipIndex: $0.1.latestMembershipIndex) }
        for (gid, state) in dropped {
            if controller.isDeleted(gid) {
                queued.append(.removeGroup(gid))
                continue
            }
            let reached = max(state.entries.last?.index ?? state.snapshot?.index ?? .zero, state.repairThrough)
            let copy = HardState(term: state.hardState.term, vote: state.hardState.vote, commit: reached)
            departedCopies[gid] = copy
            queued.append(.removeGroup(gid, departed: copy))
        }
        recoveredPartitions.removeAll { p in dropped.contains { $0.0 == p.0 } }
        for a in controller.assignments(of: config.id) where group(a.group) == nil {
            if let k = recoveredPartitions.firstIndex(where: { $0.0 == a.group }) {
                let state = recoveredPartitions.remove(at: k).1
                // Its storage is open; this has it report the log start (`storedLogStart`).
                queued.append(.createGroup(a.group))
                addGroup(a.group, membership: controller.initialMembership(of: a, for: config.id, hasState: state.hasState), recovered: state)
            } else {
                queued.append(.createGroup(a.group))
                observer?.groupChanged(node: config.id, group: a.group, hosted: true)
                addGroup(a.group, membership: controller.initialMembership(of: a, for: config.id, hasState: false), recovered: RecoveredState())
                // A new partition's first replica is its preferred leader: it campaigns first.
                if a.moves == 0, a.replicas.first == config.id, let k = position(a.group) { groups[k].raft.campaignFirst() }
            }
        }
        refreshMovingGroups()
        refreshRetention()
        membershipApplied()
    }

    /// Until the controller holds this node's current registration, ask for it every few ticks:
    /// proposed here on the controller leader, forwarded to it from anywhere else.
    private func maybeRegister(_ out: inout NodeOutput) {
        guard ticks >= nextRegistrationTick, let g = group(controllerGroup) else { return }
        guard !controller.brokers.contains(registration), !controller.removedNodes.contains(config.id) else { return }
        nextRegistrationTick = ticks + BrokerLimits.registrationRetryTicks
        let command = ControllerCommand.registerBroker(registration)
        let (role, leader) = g.withRaft { ($0.role, $0.leader) }
        if role == .leader {
            _ = try? g.raft.propose(command.encode())
            for m in g.raft.takeMessages() { append(&out.messages, PeerEnvelope(group: g.id, message: m)) }
            if let k = position(controllerGroup) { touch(k) }
        } else if !leader.isNone && leader != config.id {
            out.forwards.append((leader, command))
        }
    }

    /// This node's registration with the controller.
    public var registration: BrokerRegistration {
        BrokerRegistration(node: config.id, host: config.kafkaHost, kafkaPort: config.kafkaPort)
    }

    // MARK: - Helpers

    /// `departed`: what the copy of a replica that moved off this node was (nil: the topic was
    /// deleted); remembered durably (`departedCopies`).
    private func removeGroup(_ gid: GroupID, departed: HardState? = nil) {
        guard let k = position(gid) else { return }
        // The latest departure covers any earlier one: a copy created again starts from it (its
        // term, vote and `repairThrough` at least the earlier copy's; `addGroup`).
        if let departed { departedCopies[gid] = departed }
        observer?.groupChanged(node: config.id, group: gid, hosted: false)
        noteReleased(groups[k])
        groups.remove(at: k)
        touched.remove(at: k)
        inActive.remove(at: k)
        touchedList = touched.indices.filter { touched[$0] }
        active = Array(groups.indices)  // positions moved
        for i in active { inActive[i] = true }
        queued.append(.removeGroup(gid, departed: departed))
    }

    private func addGroup(_ gid: GroupID, membership: Membership, recovered: RecoveredState) {
        var recovered = recovered
        if let copy = departedCopies[gid] {
            // A copy of this partition left this node before (a move took it off): what comes back
            // starts as a copy whose storage lost its log. It remembers its term and vote, does not
            // campaign, and votes only for a candidate at least as up to date as the log it had
            // (`RecoveredState.repairThrough`), until a leader has brought it past that log. Fresh,
            // it would answer votes with no log and no memory of its votes, and a candidate whose
            // stale membership still counts this node could win with it (simulator seeds 324 and
            // 408: a copy created again from a controller state that predated the move, two
            // leaders in one term; a removed node elected with the vote of a copy the partition
            // had just been moved back to, missing committed entries).
            recovered.hardState = HardState.later(recovered.hardState, HardState(term: copy.term, vote: copy.vote))
            recovered.repairThrough = max(recovered.repairThrough, copy.commit)
        }
        var rc = config.raftTemplate
        rc.id = config.id
        rc.initialMembership = membership
        rc.randomSeed = config.seed &+ UInt64(gid.value) &* 0x2545_F491_4F6C_DD1D
        let isKafka = gid != controllerGroup && !config.staticGroups.contains { $0.0 == gid }
        // A partition's storage keeps its log past memory snapshots: lagging followers read it.
        rc.catchUpFromStorage = isKafka && config.plantedBug != .snapshotLaggingFollowers
        // Idle partitions go quiet (RaftNode+Quiescence); the controller keeps ticking.
        rc.quiesceAfterTicks = isKafka ? config.quiesceAfterTicks : 0
        let raft: RaftNode
        do {
            raft = try RaftNode(config: rc, recovered: recovered)
        } catch {
            // The template passed `NodeConfig.validate` with this node's id and members, and the
            // controller places every partition on at least one replica: only a bug gets here.
            preconditionFailure("group \(gid.value) on node \(config.id.value) with membership \(membership): \(error)")
        }
        let special = InternalTopic.allCases.first { controller.topic($0.name)?.partitions.contains { $0.group == gid } ?? false }
        let g = Group(id: gid, raft: raft, isKafkaPartition: isKafka, internalTopic: special)
        g.offsetsOnAbort = config.plantedBug == .txnOffsetsOnAbort
        if raft.snapshotIndex > .zero { g.restore(raft.latestSnapshot) }
        let at = groups.firstIndex { $0.id > gid } ?? groups.endIndex
        groups.insert(g, at: at)
        touched.insert(true, at: at)
        inActive.insert(false, at: at)
        // Positions at and after `at` moved one up.
        for i in touchedList.indices where touchedList[i] >= at { touchedList[i] += 1 }
        for i in active.indices where active[i] >= at { active[i] += 1 }
        touchedList.append(at)
    }

    private func append(_ list: inout [(NodeID, [PeerEnvelope])], _ env: PeerEnvelope) {
        NodeOutput.add(env, to: &list)
    }

    private func merge(_ a: [(NodeID, [PeerEnvelope])], _ b: [(NodeID, [PeerEnvelope])]) -> [(NodeID, [PeerEnvelope])] {
        var out = a
        for (_, envs) in b { for e in envs { NodeOutput.add(e, to: &out) } }
        return out
    }
}
