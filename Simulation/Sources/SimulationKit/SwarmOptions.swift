import Primitives

/// Everything a seed decides about a run, drawn per seed (swarm testing: each seed picks its own
/// fault mix and switches some fault classes off entirely). Printed at the start of every run.
public struct SwarmOptions: Sendable, CustomStringConvertible {
    public var nodes: Int
    public var groups: Int
    // Network
    public var latencyMin: SimTime
    public var latencyMean: SimTime
    /// Chance of a packet taking the heavy-tail path, and that path's mean extra delay.
    public var tailPPM: UInt32
    public var tailMean: SimTime
    public var lossPPM: UInt32
    public var duplicatePPM: UInt32
    // Faults, as chances per fault check (one check every `faultCheckInterval`)
    public var partitionPPM: UInt32
    public var partitionMean: SimTime
    public var clogPPM: UInt32
    public var clogMean: SimTime
    public var crashPPM: UInt32
    /// Chance per disk write that the node crashes before that write's fsync completes: aims crashes
    /// at the window where unsynced state is lost (FoundationDB's BUGGIFY-style targeting).
    public var crashInFlightPPM: UInt32 = 0
    public var restartMean: SimTime
    public var pausePPM: UInt32
    public var pauseMean: SimTime
    /// Per node, the tick interval is stretched or shrunk by up to this many ppm (clock skew).
    public var clockSkewPPM: UInt32
    // Disk
    public var fsyncMin: SimTime
    public var fsyncMean: SimTime
    public var slowFsyncPPM: UInt32
    public var tornWritePPM: UInt32
    // Workload
    public var proposalInterval: SimTime
    public var payloadBytesMax: Int
    public var compactEvery: Int
    public var transferPPM: UInt32
    /// Chance per fault check of a membership change in a random group (5-node runs only): remove
    /// a voter, add a non-member as learner, or promote a caught-up learner.
    public var membershipPPM: UInt32 = 0
    /// Chance per fault check of a partition move (5-node runs only): the controller leader is
    /// asked to move a random Kafka partition to 3-5 random nodes, or to cancel its move
    /// (`Simulator+Moves`).
    public var movePPM: UInt32 = 0
    /// The nodes' move throttle (`NodeConfig.moveThrottleBytesPerSec`) when moves are on: half
    /// the seeds 16 KiB-1 MiB per second, so catch-up reads are held back and cut short.
    public var moveThrottleBytesPerSec = 100 << 20
    /// Nodes join and leave (5-node runs with moves): nodes 4 and 5 join the cluster nodes 1-3
    /// found (they announce themselves and become the controller's learners, then voters), and
    /// members are decommissioned during the run — every partition moved off, then removed
    /// (`Simulator+Moves`).
    public var joinAndLeave = false
    /// Chance per fault check of crashing the leader of a random group (leader churn: the
    /// Figure 8 family of bugs needs several leaders in quick succession).
    public var leaderCrashPPM: UInt32 = 0
    /// Segment size of the partition logs: small, so segments roll and retention deletes files.
    public var segmentBytesMax = 64 * 1024
    /// Chance per crash that a bit of the node's durable log flips (bit rot found at restart),
    /// on at most a minority of nodes at a time so the cluster can always repair.
    public var bitFlipPPM: UInt32 = 0
    /// Chance per node write that its fsync fails; the node then stops and restarts.
    public var fsyncFailPPM: UInt32 = 0
    /// Chance per crash that a sector of the node's durable log is overwritten by a misdirected
    /// write (same minority rule as bit flips).
    public var misdirectPPM: UInt32 = 0
    /// Retention by size per group log (0: compact every `compactEvery` entries instead).
    public var retentionBytes = 0
    /// Retention by time per group log, in simulated ms (0: off). Proposals then carry their
    /// time as a record timestamp, the way a Kafka batch carries `maxTimestamp`.
    public var retentionMs: Int64 = 0
    /// Kafka partitions snapshot their memory every this many applied entries (0: never, the
    /// whole log stays in memory). Their storage keeps the log: lagging followers read it there.
    public var kafkaCompactEvery = 0
    /// The Kafka topic is compacted (`cleanup.policy=compact`): the producer keys its records
    /// (13 keys), each replica cleans its closed segments, and the consumer's checker allows the
    /// gaps of records a later one with the same key superseded.
    public var kafkaCompaction = false
    /// An admin client deletes the Kafka partition's records below a random offset it has seen
    /// acknowledged, about once a second (DeleteRecords); the consumer's checker allows what was
    /// deleted before it read it, and checks that deleted records stay deleted.
    public var kafkaDeleteRecords = false
    /// The admin also creates topic `idle` with this many partitions, which no client touches:
    /// they quiesce, and the liveness phase requires each to have a leader in the core (a
    /// quiesced group whose leader's node stayed down must be woken by the failure detector).
    public var idlePartitions = 0
    /// Nodes hand partitions back to their first replica every this many ms (0: never).
    public var leaderBalanceMs = 0
    // Clients that misbehave the way real ones do (`ClientBehaviour`).
    /// Produce requests the producer keeps in flight (1 in the older runs; Kafka's clients allow 5).
    public var producerInFlight = 1
    /// The producer gives batches up after a delivery timeout and bumps its epoch; a zombie copy
    /// of it re-sends the given-up batches with the old epoch.
    public var producerZombies = false
    /// A member back from a pause acts on its old generation (commit, sync, fetch) before it
    /// heartbeats.
    public var staleMembers = false
    /// Client requests and answers are lost, delayed and duplicated like peer packets.
    public var clientNetworkFaults = false
    /// A transactional producer and a read_committed consumer (`Simulator+Transactions`).
    public var transactions = false
    // Raft
    public var electionTicks: Int
    public var heartbeatTicks: Int
    public var appendBytesMax: Int
    public var inflightMessagesMax: Int

    public static let tick: SimTime = 10 * SimDuration.millisecond
    public static let faultCheckInterval: SimTime = 100 * SimDuration.millisecond

    /// Draw a swarm configuration. `nodes`/`groups` override the draw when given.
    public static func draw(_ rng: inout SeededRandom, nodes: Int? = nil, groups: Int? = nil) -> SwarmOptions {
        func on(_ r: inout SeededRandom) -> Bool { r.chance(2, in: 3) }  // each fault class on in 2 of 3 seeds
        let ms = SimDuration.millisecond
        let us = SimDuration.microsecond
        var o = SwarmOptions(
            nodes: nodes ?? (rng.chance(1, in: 2) ? 3 : 5),
            groups: groups ?? rng.int(in: 1...4),
            latencyMin: UInt64(rng.int(in: 50...1000)) * us,
            latencyMean: UInt64(rng.int(in: 100...5000)) * us,
            tailPPM: 0, tailMean: 0, lossPPM: 0, duplicatePPM: 0,
            partitionPPM: 0, partitionMean: 0, clogPPM: 0, clogMean: 0,
            crashPPM: 0, restartMean: 0, pausePPM: 0, pauseMean: 0, clockSkewPPM: 0,
            fsyncMin: UInt64(rng.int(in: 50...500)) * us,
            fsyncMean: UInt64(rng.int(in: 100...5000)) * us,
            slowFsyncPPM: 0, tornWritePPM: 0,
            proposalInterval: UInt64(rng.int(in: 2...50)) * ms,
            payloadBytesMax: rng.int(in: 8...512),
            compactEvery: rng.int(in: 20...400),
            transferPPM: 0,
            electionTicks: rng.int(in: 10...30),
            heartbeatTicks: rng.int(in: 1...3),
            appendBytesMax: rng.int(in: 256...16384),
            inflightMessagesMax: rng.int(in: 1...64))
        if on(&rng) {
            o.tailPPM = UInt32(rng.int(in: 1000...20000))
            o.tailMean = UInt64(rng.int(in: 20...300)) * ms
        }
        if on(&rng) { o.lossPPM = UInt32(rng.int(in: 1000...100_000)) }
        if on(&rng) { o.duplicatePPM = UInt32(rng.int(in: 1000...100_000)) }
        if on(&rng) {
            o.partitionPPM = UInt32(rng.int(in: 5000...60000))
            o.partitionMean = UInt64(rng.int(in: 300...5000)) * ms
        }
        if on(&rng) {
            o.clogPPM = UInt32(rng.int(in: 5000...50000))
            o.clogMean = UInt64(rng.int(in: 100...3000)) * ms
        }
        if on(&rng) {
            o.crashPPM = UInt32(rng.int(in: 2000...40000))
            o.restartMean = UInt64(rng.int(in: 100...5000)) * ms
        }
        if on(&rng) {
            o.pausePPM = UInt32(rng.int(in: 2000...30000))
            o.pauseMean = UInt64(rng.int(in: 100...3000)) * ms
        }
        if on(&rng) { o.clockSkewPPM = UInt32(rng.int(in: 1000...50000)) }
        if on(&rng) { o.slowFsyncPPM = UInt32(rng.int(in: 100...20000)) }
        if on(&rng) { o.tornWritePPM = UInt32(rng.int(in: 100_000...1_000_000)) }
        if on(&rng) { o.transferPPM = UInt32(rng.int(in: 1000...20000)) }
        if o.crashPPM > 0 && on(&rng) { o.crashInFlightPPM = UInt32(rng.int(in: 100...5000)) }
        if o.nodes == 5 && on(&rng) { o.membershipPPM = UInt32(rng.int(in: 5000...50000)) }
        if o.crashPPM > 0 && on(&rng) { o.leaderCrashPPM = UInt32(rng.int(in: 10000...100_000)) }
        // One entry per MsgApp in a quarter of the seeds: acknowledgements then arrive entry by
        // entry, the shape the commit rules must survive.
        if rng.chance(1, in: 4) { o.appendBytesMax = 1 }
        o.segmentBytesMax = rng.int(in: 1...64) * 1024
        if o.crashPPM > 0 && on(&rng) { o.bitFlipPPM = UInt32(rng.int(in: 100_000...1_000_000)) }
        if on(&rng) { o.fsyncFailPPM = UInt32(rng.int(in: 100...3000)) }
        if rng.chance(1, in: 2) { o.retentionBytes = rng.int(in: 2...20) * o.segmentBytesMax }
        // Drawn last so the draws above (and the seeds recorded with them) stay as they were.
        if o.retentionBytes == 0 && rng.chance(1, in: 2) { o.retentionMs = Int64(rng.int(in: 1...20)) * 1000 }
        if o.crashPPM > 0 && on(&rng) { o.misdirectPPM = UInt32(rng.int(in: 100_000...1_000_000)) }
        if rng.chance(1, in: 2) { o.kafkaCompactEvery = rng.int(in: 5...100) }
        if o.retentionBytes == 0 && o.retentionMs == 0 && rng.chance(1, in: 2) { o.kafkaCompaction = true }
        if !o.kafkaCompaction && rng.chance(1, in: 3) { o.kafkaDeleteRecords = true }
        if rng.chance(1, in: 2) { o.idlePartitions = rng.int(in: 2...8) }
        if rng.chance(1, in: 3) { o.leaderBalanceMs = rng.int(in: 1...10) * 1000 }
        // Client misbehaviour, drawn after everything above (those draws stay as they were).
        if rng.chance(1, in: 2) { o.producerInFlight = rng.int(in: 2...5) }
        o.producerZombies = on(&rng)
        o.staleMembers = on(&rng)
        o.clientNetworkFaults = on(&rng)
        // Partition moves, drawn after everything above (those draws stay as they were).
        if o.nodes == 5 && rng.chance(1, in: 2) { o.movePPM = UInt32(rng.int(in: 2000...20000)) }
        if o.movePPM > 0 && rng.chance(1, in: 2) { o.moveThrottleBytesPerSec = rng.int(in: 16...1024) * 1024 }
        // Nodes joining and leaving, drawn last (every draw above stays as it was).
        if o.movePPM > 0 && rng.chance(1, in: 2) { o.joinAndLeave = true }
        return o
    }

    /// Turn exactly these client behaviours on (`rill-sim --clients`), to measure what each one
    /// finds on its own.
    public mutating func setClientBehaviours(_ on: Set<ClientBehaviour>) {
        producerInFlight = on.contains(.pipelining) ? 5 : 1
        producerZombies = on.contains(.zombies)
        staleMembers = on.contains(.staleMembers)
        clientNetworkFaults = on.contains(.clientFaults)
    }

    /// No faults at all and a steady load: the benchmark configuration.
    public mutating func disableFaults(proposalInterval: SimTime) {
        tailPPM = 0
        lossPPM = 0
        duplicatePPM = 0
        partitionPPM = 0
        clogPPM = 0
        crashPPM = 0
        crashInFlightPPM = 0
        leaderCrashPPM = 0
        bitFlipPPM = 0
        fsyncFailPPM = 0
        misdirectPPM = 0
        pausePPM = 0
        slowFsyncPPM = 0
        transferPPM = 0
        membershipPPM = 0
        movePPM = 0
        joinAndLeave = false
        setClientBehaviours([])
        self.proposalInterval = proposalInterval
        payloadBytesMax = 100
    }

    public var description: String {
        func ms(_ t: SimTime) -> String {
            let tenths = t / (SimDuration.millisecond / 10)
            return "\(tenths / 10).\(tenths % 10)ms"
        }
        func pct(_ p: UInt32) -> String { "\(p / 10000).\((p % 10000) / 1000)%" }
        var parts = ["nodes=\(nodes) groups=\(groups)"]
        parts.append("net: latency \(ms(latencyMin))+exp(\(ms(latencyMean)))")
        parts.append(tailPPM == 0 ? "tail off" : "tail \(pct(tailPPM)) +\(ms(tailMean))")
        parts.append(lossPPM == 0 ? "loss off" : "loss \(pct(lossPPM))")
        parts.append(duplicatePPM == 0 ? "dup off" : "dup \(pct(duplicatePPM))")
        parts.append(partitionPPM == 0 ? "partitions off" : "partitions \(pct(partitionPPM)) ~\(ms(partitionMean))")
        parts.append(clogPPM == 0 ? "clogs off" : "clogs \(pct(clogPPM)) ~\(ms(clogMean))")
        parts.append(crashPPM == 0 ? "crashes off" : "crashes \(pct(crashPPM)) restart ~\(ms(restartMean))")
        parts.append(leaderCrashPPM == 0 ? "leader crashes off" : "leader crashes \(pct(leaderCrashPPM))")
        parts.append(crashInFlightPPM == 0 ? "mid-write crashes off" : "mid-write crashes \(pct(crashInFlightPPM))/write")
        parts.append(pausePPM == 0 ? "pauses off" : "pauses \(pct(pausePPM)) ~\(ms(pauseMean))")
        parts.append(clockSkewPPM == 0 ? "skew off" : "skew ±\(pct(clockSkewPPM))")
        parts.append("disk: fsync \(ms(fsyncMin))+exp(\(ms(fsyncMean)))")
        parts.append(slowFsyncPPM == 0 ? "slow-fsync off" : "slow-fsync \(pct(slowFsyncPPM))")
        parts.append(tornWritePPM == 0 ? "torn off" : "torn \(pct(tornWritePPM))")
        parts.append("load: every \(ms(proposalInterval)) ≤\(payloadBytesMax)B compact/\(compactEvery)")
        parts.append(transferPPM == 0 ? "transfers off" : "transfers \(pct(transferPPM))")
        parts.append(membershipPPM == 0 ? "membership off" : "membership \(pct(membershipPPM))")
        parts.append(movePPM == 0 ? "moves off" : "moves \(pct(movePPM)) throttle \(moveThrottleBytesPerSec / 1024)KiB/s")
        parts.append(joinAndLeave ? "join/leave on" : "join/leave off")
        parts.append("segments \(segmentBytesMax / 1024)KiB")
        if retentionMs > 0 {
            parts.append("retention \(retentionMs)ms")
        } else {
            parts.append(retentionBytes == 0 ? "retention off" : "retention \(retentionBytes / 1024)KiB")
        }
        parts.append(kafkaCompactEvery == 0 ? "kafka snapshots off" : "kafka snapshots/\(kafkaCompactEvery)")
        parts.append(kafkaCompaction ? "compaction on" : "compaction off")
        parts.append(kafkaDeleteRecords ? "delete-records on" : "delete-records off")
        parts.append("idle partitions \(idlePartitions)")
        parts.append(leaderBalanceMs == 0 ? "leader balance off" : "leader balance \(leaderBalanceMs)ms")
        parts.append("producer in flight \(producerInFlight)")
        parts.append(producerZombies ? "zombies on" : "zombies off")
        parts.append(staleMembers ? "stale members on" : "stale members off")
        parts.append(clientNetworkFaults ? "client faults on" : "client faults off")
        parts.append(transactions ? "transactions on" : "transactions off")
        parts.append(bitFlipPPM == 0 ? "bit flips off" : "bit flips \(pct(bitFlipPPM))/crash")
        parts.append(misdirectPPM == 0 ? "misdirected writes off" : "misdirected writes \(pct(misdirectPPM))/crash")
        parts.append(fsyncFailPPM == 0 ? "fsync errors off" : "fsync errors \(pct(fsyncFailPPM))/write")
        parts.append("raft: election \(electionTicks)t heartbeat \(heartbeatTicks)t msg \(appendBytesMax)B inflight \(inflightMessagesMax)")
        return parts.joined(separator: ", ")
    }
}

/// The ways simulated clients misbehave, each switchable on its own (`rill-sim --clients`).
public enum ClientBehaviour: String, Sendable, CaseIterable {
    /// Up to five Produce requests in flight; a retry may arrive after newer batches.
    case pipelining
    /// Epoch bumps after a delivery timeout, and a zombie that re-sends with the old epoch.
    case zombies
    /// Group members that act on an old generation after a pause.
    case staleMembers = "stale-members"
    /// Lost, delayed and duplicated client requests and answers.
    case clientFaults = "client-faults"
}
