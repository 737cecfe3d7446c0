import Broker
import KafkaProtocol
import Primitives
import Raft
import Storage

/// What to run.
public struct SimConfig: Sendable {
    public var seed: UInt64
    /// Length of the safety phase (faults on); the liveness phase follows.
    public var safetySeconds: UInt64 = 60
    public var nodes: Int? = nil
    public var groups: Int? = nil
    /// A bug to plant: Raft's, the broker's or a simulated client's.
    public var plantedBug: SimPlantedBug? = nil
    /// Budget for the healed core to converge, in multiples of the maximum election timeout.
    public var livenessElectionTimeouts: UInt64 = 40
    /// Benchmark mode: every fault off and a steady load (a proposal every `benchmarkIntervalMicros`
    /// with 100-byte payloads), so runs measure the simulator's own speed.
    public var benchmark = false
    /// Upper bound of events in one run: a message storm is a failure, not a hang.
    public var eventsMax = 20_000_000
    /// Trace every delivered message too (very verbose).
    public var traceMessages = false
    public var benchmarkIntervalMicros: UInt64 = 2000
    /// Scale mode (0: off): the idle topic gets this many partitions instead of the drawn few,
    /// and the liveness phase keeps the node leading the most quiesced ones down (see
    /// `Simulator.startLiveness`): thousands of quiesced groups must elect through the failure
    /// detector alone.
    public var scalePartitions = 0
    /// Turn exactly these client behaviours on instead of drawing them (nil: drawn per seed).
    public var clientBehaviours: Set<ClientBehaviour>? = nil
    /// Transactional clients (`Simulator+Transactions`): nil draws them for half the seeds,
    /// except in planted-bug runs, which keep the workload their catching seeds were found with.
    public var transactions: Bool? = nil

    public init(seed: UInt64) { self.seed = seed }
}

/// Counters reported at the end of a run.
public struct SimStats: Sendable {
    public var events = 0
    public var packetsSent = 0
    public var packetsDropped = 0
    public var proposalsAccepted = 0
    public var entriesCommitted = 0
    public var leaderChanges = 0
    public var crashes = 0
    public var pauses = 0
    public var partitions = 0
    public var snapshotsSent = 0
    public var transfers = 0
    /// Partition moves asked of the controller (cancels included).
    public var movesAsked = 0
    /// Nodes decommissioned (drained, then removed from the cluster) in join/leave runs.
    public var nodesRemoved = 0
    /// New replicas' catch-up reads the move throttle held back (`NodeCore+MoveThrottle`).
    public var catchUpReadsHeld = 0
    public var repairs = 0
    public var fsyncFailures = 0
    public var kafkaAcked = 0
    public var kafkaRead = 0
    public var groupCommits = 0
    public var groupGenerations = 0
    /// Client misbehaviour: the producer's epoch bumps, the zombie's sends and acknowledged
    /// ones, stale members' requests, and client messages lost, late or doubled.
    public var producerEpochBumps = 0
    public var zombieSends = 0
    public var zombieAcked = 0
    public var staleMemberRequests = 0
    public var clientMessagesLost = 0
    public var clientMessagesLate = 0
    public var clientMessagesDuplicated = 0
    /// Bit flips in closed segments of running nodes, damage reads found, and damage mended.
    public var runningBitFlips = 0
    /// Transactions the transactional producer was told committed and aborted, and the records
    /// the read_committed consumer read.
    public var transactionsCommitted = 0
    public var transactionsAborted = 0
    public var committedRead = 0
    public var readDamageFound = 0
    public var readDamageMended = 0
    /// Replicas that went quiet (RaftNode+Quiescence) and that woke again.
    public var quiescences = 0
    public var wakes = 0
    /// Scale mode: quiesced groups whose leader's node the liveness phase crashed and kept down.
    public var quiescedLeadersCrashed = 0
    /// Groups whose acknowledged entries a restart checked directly (Simulator+Durability).
    public var durabilityChecks = 0
}

public struct SimResult: Sendable {
    public var seed: UInt64
    public var options: SwarmOptions
    public var failure: SimFailure?
    public var traceHash: UInt64
    public var simulatedTime: SimTime
    public var stats: SimStats
}

/// One deterministic run of a whole cluster in one thread: the VOPR shape. A seed fixes the swarm
/// options, every network, disk and fault decision, and the Raft nodes' own election jitter.
public final class Simulator {
    /// Every group a node hosts: the controller (index 0), the static partitions 1...G, the
    /// Kafka topic's partition G+1 once created, the idle topic's partitions after it (created
    /// by the same request), and the consumer groups' offsets partition (created by the members'
    /// first FindCoordinator, after the topics).
    var groupCount: Int { options.groups + 3 + options.idlePartitions + (options.transactions ? 1 : 0) }

    enum Phase { case safety, liveness }

    let config: SimConfig
    public let options: SwarmOptions
    var queue = EventQueue<SimEvent>()
    var now: SimTime = 0
    var nodes: [SimNode] = []
    var checker: SafetyChecker
    var stats = SimStats()
    var phase = Phase.safety
    var finished = false
    var failure: SimFailure?
    var traceHash = FNV64()
    let traceSink: ((String) -> Void)?

    // Random streams, one per subsystem (TigerBeetle's layout): a draw in one never shifts another.
    var networkRandom: SeededRandom
    var faultRandom: SeededRandom
    var workloadRandom: SeededRandom
    let raftSeeds: [UInt64]
    /// The Kafka clients' own stream (forked last, so the older streams stay as they were).
    var kafkaRandom: SeededRandom
    /// The group members' stream (forked after the Kafka clients').
    var groupRandom: SeededRandom
    /// Bit flips in running nodes' logs (forked after the group members').
    var runningDamageRandom: SeededRandom
    /// The clients' misbehaviour: pipelining, zombies, stale members, lost and late client
    /// traffic (forked last; drawn from only when a behaviour is on, so a seed with all of them
    /// off runs as it did before they existed).
    var clientFaultRandom: SeededRandom
    /// Partition moves (forked after the clients' misbehaviour; drawn from only when moves are
    /// on, so a seed without them runs as it did before they existed).
    var moveRandom: SeededRandom
    /// The node being decommissioned in a join/leave run (its partitions moving off), if any.
    var draining: NodeID?

    // Kafka clients.
    var kafkaClients: [SimKafkaClient] = [
        SimKafkaClient(role: .admin), SimKafkaClient(role: .producer), SimKafkaClient(role: .consumer),
        SimKafkaClient(role: .member), SimKafkaClient(role: .member), SimKafkaClient(role: .member),
    ]
    var kafkaTopicReady = false
    /// When the admin learnt the topic exists (its later requests are DeleteRecords).
    var kafkaTopicReadyAt: SimTime = 0
    var checkerKafka = SimKafkaChecker()
    var checkerTransactions = SimTransactionChecker()
    var checkerGroups = SimGroupChecker()

    // Network state.
    var blocked: [[Bool]]
    var clogUntil: [[SimTime]]
    var clogExtra: [[SimTime]]
    var partitionSerial = 0
    var partitionActive = false

    // Workload and liveness.
    var clientLeaderGuess: [Int?]
    var proposalSeq: UInt64 = 0
    var core: [Int] = []
    var livenessDeadline: SimTime = 0
    var livenessStallBudget: SimTime = 0
    var livenessHardDeadline: SimTime = 0
    /// Scale mode's liveness stages (`Simulator.scaleStep`).
    var scaleStage = ScaleStage.off
    /// Sum of the core's applied indexes at the last liveness check (progress detection).
    var livenessAppliedSeen: UInt64 = 0
    var probes: [(index: LogIndex, term: Term)?] = []

    public init(config: SimConfig, trace: ((String) -> Void)? = nil) {
        self.config = config
        self.traceSink = trace
        var root = SeededRandom(seed: config.seed)
        var swarmRandom = root.fork()
        var drawn = SwarmOptions.draw(&swarmRandom, nodes: config.nodes, groups: config.groups)
        if let b = config.clientBehaviours { drawn.setClientBehaviours(b) }
        if config.benchmark { drawn.disableFaults(proposalInterval: config.benchmarkIntervalMicros * SimDuration.microsecond) }
        if config.scalePartitions > 0 {
            drawn.idlePartitions = config.scalePartitions
            // Crashing one node must leave every group a quorum: all groups keep three voters.
            drawn.membershipPPM = 0
            drawn.movePPM = 0
            drawn.joinAndLeave = false
        }
        // Transactions in half the seeds, drawn apart (a seed without them runs as before they
        // existed); not in benchmark or scale runs.
        var transactionDraw = SeededRandom(seed: config.seed ^ 0x7472_616E_7361_6374)
        let drawTransactions = transactionDraw.chance(1, in: 2)
        let planted = config.plantedBug.map { $0.broker?.needsTransactions ?? false }
        drawn.transactions = config.transactions ?? planted ?? (!config.benchmark && config.scalePartitions == 0 && drawTransactions)
        self.options = drawn
        if drawn.transactions { kafkaClients += [SimKafkaClient(role: .transactional), SimKafkaClient(role: .committedReader)] }
        self.networkRandom = root.fork()
        self.faultRandom = root.fork()
        self.workloadRandom = root.fork()
        var seeds: [UInt64] = []
        var diskRandoms: [SeededRandom] = []
        var skews: [Int64] = []
        for _ in 0..<options.nodes {
            seeds.append(root.next())
            diskRandoms.append(root.fork())
            let skew = options.clockSkewPPM == 0 ? 0 : Int64(root.below(UInt64(2 * options.clockSkewPPM + 1))) - Int64(options.clockSkewPPM)
            skews.append(skew)
        }
        self.raftSeeds = seeds
        self.kafkaRandom = root.fork()
        self.groupRandom = root.fork()
        self.runningDamageRandom = root.fork()
        self.clientFaultRandom = root.fork()
        self.moveRandom = root.fork()
        let n = options.nodes
        self.blocked = Array(repeating: Array(repeating: false, count: n), count: n)
        self.clogUntil = Array(repeating: Array(repeating: 0, count: n), count: n)
        self.clogExtra = Array(repeating: Array(repeating: 0, count: n), count: n)
        let groupTotal = options.groups + 3 + options.idlePartitions + (options.transactions ? 1 : 0)
        self.clientLeaderGuess = Array(repeating: nil, count: groupTotal)
        self.probes = Array(repeating: nil, count: groupTotal)
        // Groups: the controller (0), the static partitions 1...G, the Kafka topic's partition G+1.
        self.checker = SafetyChecker(nodes: options.nodes, groups: groupTotal)
        for i in 0..<n {
            var diskRandom = diskRandoms[i]
            let fs = SimFileSystem(random: diskRandom.fork(), tornWritePPM: options.tornWritePPM)
            fs.deferSyncs = true  // fsyncs finish when the simulated device says so
            if config.traceMessages, let sink = trace {
                let node = i + 1
                fs.traceSink = { sink("n\(node) fs: \($0)") }
            }
            let disk = SimDisk(
                random: diskRandom, fsyncLatencyMin: options.fsyncMin, fsyncLatencyMean: options.fsyncMean,
                slowFsyncPPM: options.slowFsyncPPM)
            let interval = UInt64(Int64(SwarmOptions.tick) + Int64(SwarmOptions.tick) * skews[i] / 1_000_000)
            nodes.append(
                SimNode(id: NodeID(UInt32(i + 1)), index: i, disk: disk, fs: fs, up: false, tickInterval: interval))
        }
    }

    func logConfig() -> PartitionLogConfig {
        var c = PartitionLogConfig()
        c.segmentBytesMax = options.segmentBytesMax
        if options.retentionMs > 0 { c.timestamp = SimPayload.timestamp }
        return c
    }

    /// Raft settings every group of node `node` starts from (NodeCore sets each group's id,
    /// members and seed).
    func raftConfig(node: Int) -> RaftConfig {
        var c = RaftConfig(id: NodeID(UInt32(node + 1)), initialMembership: Membership(voters: nodes.map(\.id)))
        c.electionTicks = options.electionTicks
        c.heartbeatTicks = options.heartbeatTicks
        c.appendBytesMax = options.appendBytesMax
        c.inflightMessagesMax = options.inflightMessagesMax
        c.inflightBytesMax = max(c.inflightBytesMax, options.appendBytesMax)
        c.plantedBug = config.plantedBug?.raft
        return c
    }

    // MARK: - Tracing

    func trace(_ line: @autoclosure () -> String) {
        guard let sink = traceSink else { return }
        let t = now / SimDuration.microsecond
        let secs = t / 1_000_000
        let micros = String(t % 1_000_000)
        sink("[\(secs).\(String(repeating: "0", count: 6 - micros.count))\(micros)] \(line())")
    }

    // MARK: - Run

    public func run() -> SimResult {
        trace("seed \(config.seed): \(options)")
        for i in nodes.indices {
            if options.joinAndLeave && i >= 3 {
                // Join/leave runs: the joining nodes start later, into a running cluster (0-20 s).
                nodes[i].up = false
                let delay = moveRandom.below(20_000) * SimDuration.millisecond
                trace("n\(i + 1) starts at \(delay / SimDuration.millisecond) ms, to join the cluster")
                queue.schedule(.restart(node: i), at: delay)
            } else {
                restart(i)
            }
        }
        queue.schedule(.propose, at: options.proposalInterval)
        queue.schedule(.faultCheck, at: SwarmOptions.faultCheckInterval)
        for c in kafkaClients.indices { queue.schedule(.kafkaClientStep(client: c), at: 50 * SimDuration.millisecond + UInt64(c)) }
        let safetyEnd = config.safetySeconds * SimDuration.second
        while !finished, failure == nil, let (time, event) = queue.pop() {
            precondition(time >= now, "time went back from \(now) to \(time)")
            now = time
            if phase == .safety && now >= safetyEnd { startLiveness() }
            stats.events += 1
            if stats.events > config.eventsMax {
                failure = .liveness(detail: "event budget of \(config.eventsMax) exhausted at \(now / SimDuration.millisecond) ms (a message storm?)")
                break
            }
            traceHash.add(now)
            traceHash.add(event.code)
            handle(event)
            if failure == nil, let f = checker.failure { failure = f }
            if failure == nil, let f = checkerKafka.failure { failure = f }
            if failure == nil, let f = checkerTransactions.failure { failure = f }
            if failure == nil, let f = checkerGroups.failure { failure = f }
        }
        if let f = failure { trace("\(f)") }
        stats.groupGenerations = checkerGroups.generations
        for node in nodes where node.up { stats.catchUpReadsHeld += node.core?.catchUpReadsHeld ?? 0 }
        traceHash.add(UInt64(stats.events))
        // Fold in the final state too, so a run that differs only in content (not timing) differs.
        for node in nodes where node.up {
            for g in node.groups {
                traceHash.add(g.withRaft { $0.commitIndex.value })
                traceHash.add(g.state.chain)
            }
        }
        return SimResult(
            seed: config.seed, options: options, failure: failure, traceHash: traceHash.value, simulatedTime: now,
            stats: stats)
    }

    func handle(_ event: SimEvent) {
        switch event {
        case .tick(let i, let epoch):
            guard nodes[i].alive, nodes[i].tickEpoch == epoch, let core = nodes[i].core else { return }
            carryOut(i, core.tick())
            queue.schedule(.tick(node: i, epoch: epoch), at: now + nodes[i].tickInterval)
        case .deliver(let i, let from, let bytes):
            guard nodes[i].up else { return }
            if nodes[i].paused {
                nodes[i].deferred.append(event)
                return
            }
            deliver(to: i, from: from, bytes)
        case .diskDone(let i, let incarnation, let token):
            guard nodes[i].up, nodes[i].incarnation == incarnation else { return }
            if nodes[i].paused {
                nodes[i].deferred.append(event)
                return
            }
            diskDone(i, token: token)
        case .propose:
            guard phase == .safety else { return }
            proposeRandom()
            queue.schedule(.propose, at: now + 1 + workloadRandom.exponential(mean: options.proposalInterval))
        case .faultCheck:
            guard phase == .safety else { return }
            injectFaults()
            queue.schedule(.faultCheck, at: now + SwarmOptions.faultCheckInterval)
        case .restart(let i):
            // In the liveness phase, nodes left out of the core stay as the phase put them.
            if phase == .liveness && !core.contains(i) { return }
            if !nodes[i].up { restart(i) }
        case .unpause(let i):
            unpause(i)
        case .heal(let serial):
            if serial == partitionSerial && partitionActive { healPartition() }
        case .livenessCheck:
            checkLiveness()
        case .crash(let i, let incarnation):
            guard phase == .safety, nodes[i].up, nodes[i].incarnation == incarnation else { return }
            crashUntilRestart(i)
        case .kafkaClientStep(let c):
            kafkaClientStep(c)
        case .kafkaRequest(let i, let c, let header, let body):
            guard nodes[i].up else { return }
            if nodes[i].paused {
                nodes[i].deferred.append(event)
                return
            }
            kafkaRequest(i, client: c, header: header, body: body)
        case .kafkaReply(let c, let correlation, let bytes):
            kafkaReply(client: c, correlation: correlation, bytes: bytes)
        }
    }
}
