import Primitives
import Raft

/// What a node core needs to know about itself and its cluster.
public struct NodeConfig: Sendable {
    public var id: NodeID
    /// The cluster's founding members (1, 3 or 5 nodes; node.toml's `[peers]`), the same on every
    /// node: the controller's initial state. A node not among them joins the cluster
    /// (`ControllerState+Membership`); the members now are the controller's `members`.
    public var members: [NodeID]
    /// Where peers reach this node, announced to the controller (`announceNode`). Nil: not
    /// announced (the simulator and in-memory tests route by node id); a joining node needs it.
    public var peerAddress: PeerRegistration?
    /// Where this node's Kafka listener is reached (registered with the controller).
    public var kafkaHost: String
    public var kafkaPort: UInt16
    /// Settings every group's Raft node starts from (id, membership and seed are set per group).
    public var raftTemplate: RaftConfig
    /// A snapshot of a group's state every this many applied entries (keeps logs short).
    public var compactEvery = 10_000
    /// Kafka partitions quiesce after this many quiet ticks (`RaftConfig.quiesceAfterTicks`;
    /// the controller group never does). 0: never.
    public var quiesceAfterTicks = 10
    /// Every this many ms a node hands the partitions it leads back to their first replica when
    /// that one is up and caught up (`NodeCore+LeaderBalance`). 0: never.
    public var leaderBalanceMs = 10_000
    /// Bytes per second this node reads from storage to catch up the learners of the groups it
    /// leads (a move's new replicas; `NodeCore+MoveThrottle`); 0: no limit.
    public var moveThrottleBytesPerSec = 100 << 20
    /// The same for Kafka partitions, whose snapshots only free memory: their log on disk is the
    /// data and stays until retention removes it. (Entries since the last snapshot stay in
    /// memory, so a follower further behind than this is sent a snapshot: see docs/kafka.md.)
    public var kafkaCompactEvery = 100_000
    /// ... or once this many bytes of a partition's entries were applied since its last snapshot:
    /// the bound on what a partition's Raft log keeps in memory.
    public var kafkaMemoryBytes = 256 * 1024 * 1024
    /// ... and all Kafka partitions together hold at most about this much: past it, those holding
    /// the most are snapshotted (`NodeCore+KafkaMemory`).
    public var kafkaMemoryBytesTotal = 256 * 1024 * 1024
    /// The first group id the controller gives a topic's partition (the simulator's static groups
    /// come before it).
    public var firstTopicGroup: UInt32 = 1
    /// When set (the simulator), every partition and static group is kept by this policy,
    /// whatever its topic's configs say; production leaves it nil and reads the topic's
    /// `retention.ms` / `retention.bytes` (`RetentionPolicy.of`). `__consumer_offsets` is never trimmed.
    public var retentionOverride: RetentionPolicy?
    /// How often retention by time is measured on every partition, written to or not (Kafka's
    /// `log.retention.check.interval.ms`); a partition written to is measured after each write.
    public var retentionCheckMs = 300_000
    /// How often storage is asked to clean each compacted partition (Kafka's
    /// `log.cleaner.backoff.ms`); it cleans only a log that is due (`LogCleaner`).
    public var compactionCheckMs = 15_000
    /// When set (the simulator), every Kafka partition is compacted by this policy, whatever its
    /// topic's configs say; production leaves it nil and reads `cleanup.policy` and its companions.
    public var compactionOverride: CompactionPolicy?
    /// Groups with a fixed replica set that exist from the start, outside the controller's
    /// topics (the simulator's partitions).
    public var staticGroups: [(GroupID, [NodeID])] = []
    /// Seeds election jitter; the simulator passes its own, production a random one.
    public var seed: UInt64
    /// Which run of the node's process this is (the simulator counts restarts; production leaves
    /// it to the random seed): producer id blocks are never reused across runs.
    public var incarnation: UInt64 = 0
    /// The cluster's name (Kafka's `cluster_id` in Metadata).
    public var clusterName = "rill"
    /// The data directory's path, as DescribeLogDirs names it.
    public var dataDirectory = "data"
    /// Length of one tick, so Kafka timeouts in ms become ticks.
    public var tickMilliseconds = 100
    /// Create a topic a client asks Metadata about, when it allows it (Kafka's
    /// `auto.create.topics.enable`; on in `rill dev`).
    public var autoCreateTopics = true
    /// Partitions and replication factor of topics created without them (-1 in CreateTopics v4+,
    /// or auto-created).
    public var defaultPartitions: Int32 = 1
    public var defaultReplicationFactor = 3
    /// Partitions of `__consumer_offsets` (Kafka: 50; each is a Raft group here, so fewer).
    public var offsetsPartitions: Int32 = 4
    /// Replicas of each offsets partition (at most the cluster's size).
    public var offsetsReplicationFactor = 3
    /// Partitions of `__transaction_state` (Kafka: 50) and replicas of each (Kafka: 3).
    public var transactionStatePartitions: Int32 = 4
    public var transactionStateReplicationFactor = 3
    /// Kafka's `transaction.max.timeout.ms`: the longest transaction timeout InitProducerId takes.
    public var transactionMaxTimeoutMs: Int32 = TransactionRules.maxTimeoutMs
    /// Kafka's `transactional.id.expiration.ms` (7 days): a transactional id with no transaction
    /// open and no change for this long is removed by its coordinator.
    public var transactionalIDExpirationMs: Int64 = 604_800_000
    /// Serve transactions (FindCoordinator key type 1, transactional InitProducerId,
    /// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit, transactional batches).
    /// Off: those APIs are not advertised in ApiVersions, and a transactional client gets a clear
    /// error at once (Redpanda's `enable_transactions`).
    public var servesTransactions = true
    /// Segment size of `__consumer_offsets` partitions: their closed segments go once snapshotted
    /// (`RetentionPolicy.belowSnapshot`), so this bounds what a partition keeps on disk beyond its
    /// state. Nil: storage's own (the simulator's small segments).
    public var offsetsSegmentBytes: Int? = 8 * 1024 * 1024
    /// Kafka's `group.initial.rebalance.delay.ms`: an empty group's first rebalance waits this
    /// long for more members to join.
    public var groupInitialRebalanceDelayMs = 3000
    /// Kafka's `group.min.session.timeout.ms` and `group.max.session.timeout.ms`.
    public var groupMinSessionTimeoutMs: Int32 = 6000
    public var groupMaxSessionTimeoutMs: Int32 = 1_800_000
    /// A broker bug switched on for the simulator's self-test; never set in production, `nil` is
    /// the correct broker. (Raft's planted bugs are in `raftTemplate`.)
    public var plantedBug: BrokerPlantedBug? = nil

    public init(id: NodeID, members: [NodeID], kafkaHost: String, kafkaPort: UInt16, seed: UInt64) {
        self.id = id
        self.members = members.sorted()
        self.kafkaHost = kafkaHost
        self.kafkaPort = kafkaPort
        self.seed = seed
        self.raftTemplate = RaftConfig(id: id, initialMembership: Membership(voters: members.sorted()))
    }

    public var electionTicks: Int {
        get { raftTemplate.electionTicks }
        set { raftTemplate.electionTicks = newValue }
    }

    public var heartbeatTicks: Int {
        get { raftTemplate.heartbeatTicks }
        set { raftTemplate.heartbeatTicks = newValue }
    }
}

/// The controller's Raft group.
public let controllerGroup = GroupID(0)

/// A `NodeConfig` field with a value the node cannot run with.
public struct NodeConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The field, as `NodeConfig` names it.
    public var field: String
    /// What is wrong with its value.
    public var problem: String

    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String { "invalid node config: \(field) \(problem)" }
}

extension NodeConfig {
    /// Check every field, once, before the node starts (`NodeCore.init`): a bad value is refused
    /// with the field's name, instead of a division by zero or a group that never forms later.
    /// Fixed bounds the values are checked against are in `BrokerLimits`.
    public func validate() throws(NodeConfigError) {
        func bad(_ field: String, _ problem: String) -> NodeConfigError { NodeConfigError(field: field, problem: problem) }
        func atLeast<T: BinaryInteger>(_ field: String, _ value: T, _ least: T) throws(NodeConfigError) {
            if value < least { throw bad(field, "must be at least \(least), got \(value)") }
        }
        if id.isNone { throw bad("id", "must not be 0") }
        if members.isEmpty { throw bad("members", "must name at least one node") }
        if members.contains(where: \.isNone) { throw bad("members", "must not hold node 0") }
        if Set(members).count != members.count { throw bad("members", "must not name a node twice, got \(members.map(\.value))") }
        if !members.contains(id) && peerAddress == nil {
            throw bad("peerAddress", "must be set on a node joining the cluster (node \(id.value) is not among the founders \(members.map(\.value)))")
        }
        if let p = peerAddress, p.node != id || p.host.isEmpty || p.port == 0 {
            throw bad("peerAddress", "must name this node (\(id.value)), a host and a port, got node \(p.node.value) at '\(p.host)':\(p.port)")
        }
        if kafkaHost.isEmpty { throw bad("kafkaHost", "must not be empty") }
        if kafkaPort == 0 { throw bad("kafkaPort", "must not be 0") }
        if clusterName.isEmpty { throw bad("clusterName", "must not be empty") }
        try atLeast("quiesceAfterTicks", quiesceAfterTicks, 0)
        try atLeast("leaderBalanceMs", leaderBalanceMs, 0)
        try atLeast("moveThrottleBytesPerSec", moveThrottleBytesPerSec, 0)
        // Each group's Raft node starts from the template with its own id, members and seed.
        var raft = raftTemplate
        raft.id = id
        raft.initialMembership = Membership(voters: members)
        do {
            try raft.validate()
        } catch {
            throw bad("raftTemplate", "is refused by Raft: \(error)")
        }
        try atLeast("tickMilliseconds", tickMilliseconds, 1)
        try atLeast("compactEvery", compactEvery, 1)
        try atLeast("kafkaCompactEvery", kafkaCompactEvery, 1)
        try atLeast("kafkaMemoryBytes", kafkaMemoryBytes, 1)
        try atLeast("kafkaMemoryBytesTotal", kafkaMemoryBytesTotal, 1)
        try atLeast("compactionCheckMs", compactionCheckMs, 1)
        try atLeast("firstTopicGroup", firstTopicGroup, 1)
        var seen: [GroupID] = []
        for (gid, replicas) in staticGroups {
            if gid == controllerGroup || gid.value >= firstTopicGroup {
                throw bad("staticGroups", "group \(gid.value) must lie between the controller (0) and firstTopicGroup (\(firstTopicGroup))")
            }
            if seen.contains(gid) { throw bad("staticGroups", "name group \(gid.value) twice") }
            seen.append(gid)
            // (Among the founders or not: in the simulator's join/leave runs nodes join later.)
            if replicas.contains(where: \.isNone) || Set(replicas).count != replicas.count || !replicas.contains(id) {
                throw bad("staticGroups", "group \(gid.value) must have distinct replicas including this node (\(id.value)), got \(replicas.map(\.value))")
            }
        }
        if defaultPartitions < 1 || defaultPartitions > BrokerLimits.topicPartitionsMax {
            throw bad("defaultPartitions", "must be 1 to \(BrokerLimits.topicPartitionsMax), got \(defaultPartitions)")
        }
        try atLeast("defaultReplicationFactor", defaultReplicationFactor, 1)
        if offsetsPartitions < 1 || offsetsPartitions > BrokerLimits.topicPartitionsMax {
            throw bad("offsetsPartitions", "must be 1 to \(BrokerLimits.topicPartitionsMax), got \(offsetsPartitions)")
        }
        try atLeast("offsetsReplicationFactor", offsetsReplicationFactor, 1)
        if transactionStatePartitions < 1 || transactionStatePartitions > BrokerLimits.topicPartitionsMax {
            throw bad("transactionStatePartitions", "must be 1 to \(BrokerLimits.topicPartitionsMax), got \(transactionStatePartitions)")
        }
        try atLeast("transactionStateReplicationFactor", transactionStateReplicationFactor, 1)
        try atLeast("transactionMaxTimeoutMs", transactionMaxTimeoutMs, 1)
        // An id must outlive every retry its producer may still send: a commit whose answer was
        // lost is retried for up to the transaction's timeout, and a retry finding the id gone
        // would be told INVALID_PRODUCER_ID_MAPPING instead of its outcome.
        if transactionalIDExpirationMs < Int64(transactionMaxTimeoutMs) {
            throw bad("transactionalIDExpirationMs", "(\(transactionalIDExpirationMs)) must not be below transactionMaxTimeoutMs (\(transactionMaxTimeoutMs)): a producer's retry could find its id removed")
        }
        try atLeast("groupInitialRebalanceDelayMs", groupInitialRebalanceDelayMs, 0)
        try atLeast("groupMinSessionTimeoutMs", groupMinSessionTimeoutMs, 1)
        if groupMaxSessionTimeoutMs < groupMinSessionTimeoutMs {
            throw bad("groupMaxSessionTimeoutMs", "(\(groupMaxSessionTimeoutMs)) must not be below groupMinSessionTimeoutMs (\(groupMinSessionTimeoutMs))")
        }
    }
}
