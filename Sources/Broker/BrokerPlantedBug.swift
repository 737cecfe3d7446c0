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
}
