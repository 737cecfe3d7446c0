/// Every fixed bound and interval of the broker, in one place. What a deployment may choose is a
/// `NodeConfig` field (validated at start); what it may not is here.
public enum BrokerLimits {
    // MARK: - Peer links

    /// Largest peer packet accepted (`PeerPacket.decode`): a bound on what a peer can make this
    /// node allocate.
    public static let peerPacketBytesMax = 64 * 1024 * 1024
    /// `PeerMessageCodec.encodedBytesBound` a frame of Raft envelopes may reach (room left for
    /// the frame's own header); larger output to one peer is cut into several frames.
    public static let raftFrameBoundMax = peerPacketBytesMax - 64

    // MARK: - The Ready loop and the controller

    /// Rounds of the Ready loop in one event (`flush`): each round collects messages, readies
    /// and their after-persist work; more would mean a group that never settles.
    public static let flushRoundsMax = 64
    /// A node tells its peers which groups it leads every this many ticks.
    public static let leaderGossipTicks: UInt64 = 10
    /// Until the controller holds this node's registration, it is asked again every this many ticks.
    public static let registrationRetryTicks: UInt64 = 10
    /// A command this node asked the controller for (a topic to create or delete) is asked for
    /// again after this many election timeouts: it can be lost with a controller leader.
    public static let controllerRetryElectionTimeouts = 4

    // MARK: - Repair of damaged entries

    /// Entries asked for or sent in one `RepairMessage`: a damaged run is mended whole, and runs
    /// are short (a sector or a misdirected write's worth), so this bounds one answer, not the repair.
    public static let repairEntriesMax: UInt64 = 512
    /// Bytes of one storage read that answers a repair request.
    public static let repairReadBytesMax = 8 * 1024 * 1024
    /// Election timeouts a leader waits for a peer's copy of damage found at read time before it
    /// hands the partition's leadership to a replica that holds the entries.
    public static let readDamageHandOffElectionTimeouts = 3

    // MARK: - Kafka

    /// Largest record batch a Produce may carry (Kafka's `message.max.bytes` default, 1 MiB
    /// plus overhead).
    public static let batchBytesMax = 1_048_588
    /// The largest `max.message.bytes` a topic may set: a batch is one Raft entry, and entries
    /// travel to followers in peer frames of at most `peerPacketBytesMax`.
    public static let batchBytesConfigMax = 8 * 1024 * 1024
    /// An AlterConfigs or IncrementalAlterConfigs waiting for the controller is answered with
    /// REQUEST_TIMED_OUT after this long (they carry no timeout of their own).
    public static let configChangeWaitMs = 30_000
    /// How long a request answered when the controller applies its command (UnregisterBroker)
    /// waits for that before it is answered REQUEST_TIMED_OUT.
    public static let controllerRequestWaitMs = 30_000
    /// Topic names: 1 to this many bytes (Kafka's rule).
    public static let topicNameBytesMax = 249
    /// Partitions of one topic (each is a Raft group here).
    public static let topicPartitionsMax: Int32 = 10_000
    /// Producer ids the controller hands a node at once (one block per node and process run).
    public static let producerIDBlockSize: Int64 = 1000
    /// Batches remembered per idempotent producer and partition (Kafka's five in flight).
    public static let producerBatchesKept = 5
    /// An InitProducerId waiting for a block of producer ids is answered with an error after this long.
    public static let producerIDWaitMs = 5000
    /// An OffsetCommit, or a group's membership write, waiting to be committed in its offsets
    /// partition is answered with an error after this long.
    public static let groupWriteTimeoutMs = 5000
    /// A transaction coordinator's write (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
    /// EndTxn) not committed after this long is answered COORDINATOR_NOT_AVAILABLE, which the
    /// client retries; the id takes no other request until the write commits or is lost.
    public static let transactionWriteTimeoutMs = 5000
}
