import KafkaProtocol

/// Deliberate broker bugs, one at a time, to prove the simulator and the nemesis suite catch them
/// (see docs/simulation.md, docs/nemesis.md). Set in `NodeConfig.plantedBug` (node.toml's
/// `testing.planted_bug` for a real node); never in production. Raft's own are
/// `PlantedBug` (Raft), the simulated clients' `ClientPlantedBug` (SimulationKit).
public enum BrokerPlantedBug: String, Sendable, CaseIterable {
    /// Answer SyncGroup before the new generation's membership is written: a new coordinator
    /// may hand the same generation out again, to other owners.
    case syncBeforePersist = "sync-before-persist"
    /// Answer OffsetFetch while the group's commits are still being written: a member taking a
    /// partition over starts before an acknowledged commit.
    case fetchBeforeCommits = "fetch-before-commits"
    /// Send a Kafka partition's lagging follower the memory snapshot instead of reading the
    /// entries from storage: the follower's log is replaced and its older records are gone.
    case snapshotLaggingFollowers = "snapshot-lagging-followers"
    /// The failure detector never wakes quiesced groups when a peer goes down: followers of a
    /// quiesced group whose leader's node died wait for it forever.
    case deafFailureDetector = "deaf-failure-detector"
    /// Answer acks=all Produce once the leader's own log holds the batch durably (acks=1's rule),
    /// not once a quorum committed it: a leader cut off from its followers acknowledges records
    /// the next leader overwrites.
    case ackOnAppend = "ack-on-append"
    /// Append an idempotent batch whose sequence is below the last one written but older than
    /// the five batches remembered, instead of refusing it with DUPLICATE_SEQUENCE_NUMBER: a
    /// retry that arrives after newer batches is written twice.
    case acceptOldSequences = "accept-old-sequences"
    /// Append a batch whose producer epoch is older than the partition's, instead of refusing
    /// it with INVALID_PRODUCER_EPOCH: a zombie producer writes after it was fenced.
    case acceptFencedEpoch = "accept-fenced-epoch"
    /// Store any OffsetCommit that names the group, whatever its member id and generation: a
    /// member back from a pause commits over the partition's new owner.
    case commitAnyMember = "commit-any-member"
    /// Report a partition move done once every target node is a member (learners included),
    /// before the learners are promoted and the old voters removed: the nodes moved off drop
    /// copies that Raft still counts as voters'.
    case moveCompletesEarly = "move-completes-early"
    /// Report the high watermark as the last stable offset, open transactions or not: a
    /// read_committed consumer reads records of transactions not decided yet, and of some that
    /// then abort.
    case lsoAtHighWatermark = "lso-at-high-watermark"
    /// An abort marker applies the transaction's pending offsets (TxnOffsetCommit) as a commit
    /// marker does: a consume-transform-produce loop skips input whose output was aborted.
    case txnOffsetsOnAbort = "txn-offsets-on-abort"

    /// Whether the bug shows only with transactional clients (the simulator runs them then).
    public var needsTransactions: Bool { self == .lsoAtHighWatermark || self == .txnOffsetsOnAbort }

    /// Whether this bug turns a Produce refusal into an append.
    func appends(despite code: ErrorCode) -> Bool {
        switch self {
        case .acceptOldSequences: return code == .duplicateSequenceNumber
        case .acceptFencedEpoch: return code == .invalidProducerEpoch
        default: return false
        }
    }
}
