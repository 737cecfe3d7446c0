/// Deliberate broker bugs, one at a time, to prove the simulator catches them (see
/// docs/simulation.md). Set in `NodeConfig.plantedBug`; never in production. Raft's own are
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
}
