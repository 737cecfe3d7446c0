import Primitives

/// Settings of one Raft group member. Validated once, at init (`validate()`), like etcd's
/// `Config.validate`: every limit has a bound.
public struct RaftConfig: Sendable {
    public var id: NodeID
    /// The membership a brand-new group starts with (the same on every initial member).
    public var initialMembership: Membership
    /// A follower campaigns after a randomized timeout in [electionTicks, 2 * electionTicks).
    public var electionTicks: Int = 10
    public var heartbeatTicks: Int = 1
    public var preVote: Bool = true
    public var checkQuorum: Bool = true
    /// Upper bound of entry bytes in one MsgApp (at least one entry is always sent).
    public var appendBytesMax: Int = 64 * 1024
    /// In-flight MsgApp per follower in the replicate state, by count and by bytes.
    public var inflightMessagesMax: Int = 64
    public var inflightBytesMax: Int = 4 * 1024 * 1024
    /// A follower behind the in-memory log gets the missing entries read from storage
    /// (`takeLogReads` / `logReadCompleted`) instead of a snapshot that would replace its log.
    /// For logs whose storage keeps entries past the snapshot (Kafka partitions); a failed read
    /// still falls back to the snapshot.
    public var catchUpFromStorage: Bool = false
    /// Quiescence (CockroachDB's, see RaftNode+Quiescence): a leader whose group has been fully
    /// replicated and applied for this many ticks tells its followers, and they all stop ticking
    /// and heartbeating until a message, a proposal or `wake()` (the owner's failure detector)
    /// brings them back. 0: never. For thousands of mostly idle groups.
    public var quiesceAfterTicks: Int = 0
    /// Seed of the generator that draws election timeouts. The caller injects it: no system randomness.
    public var randomSeed: UInt64 = 0
    /// A classic bug switched on for the simulator's self-test ("does it have teeth?"). Never set in
    /// production; `nil` is correct Raft.
    public var plantedBug: PlantedBug? = nil

    public init(id: NodeID, initialMembership: Membership) {
        self.id = id
        self.initialMembership = initialMembership
    }

    public func validate() throws(RaftError) {
        func bad(_ why: String) -> RaftError { RaftError.invalidConfig(why) }
        if id.isNone { throw bad("id must not be 0") }
        if heartbeatTicks < 1 { throw bad("heartbeatTicks must be >= 1, got \(heartbeatTicks)") }
        if electionTicks <= heartbeatTicks {
            throw bad("electionTicks (\(electionTicks)) must be greater than heartbeatTicks (\(heartbeatTicks))")
        }
        if appendBytesMax < 1 { throw bad("appendBytesMax must be >= 1") }
        if quiesceAfterTicks < 0 { throw bad("quiesceAfterTicks must be >= 0") }
        if inflightMessagesMax < 1 { throw bad("inflightMessagesMax must be >= 1") }
        if inflightBytesMax < appendBytesMax { throw bad("inflightBytesMax must be >= appendBytesMax") }
        if initialMembership.voters.isEmpty { throw bad("initialMembership needs at least one voter") }
    }
}

/// Deliberate Raft bugs, one at a time, to prove the simulator catches them (see
/// docs/simulation.md). Only Raft's own: the broker's are `BrokerPlantedBug`, the simulated
/// clients' `ClientPlantedBug` (SimulationKit), and rill-sim's `--plant-bug` takes any of them.
public enum PlantedBug: String, Sendable, CaseIterable {
    /// Commit an entry of an earlier term by counting replicas (the Figure 8 bug, Raft §5.4.2).
    case commitPreviousTerm = "commit-previous-term"
    /// Grant a vote before the vote is durable: a crash can forget it and vote twice in one term.
    case voteBeforeDurable = "vote-before-durable"
    /// Acknowledge appended entries before they are durable: a crash loses committed entries.
    case ackBeforeDurable = "ack-before-durable"
    /// Drop the CheckQuorum step-down: a leader cut off from its followers never steps down.
    case noCheckQuorumStepDown = "no-check-quorum-step-down"
    /// A follower takes the leader's commit index beyond the entries the MsgApp verified (Raft's
    /// AppendEntries rule 5 broken): it may commit a stale, conflicting tail of its own log.
    case commitBeyondVerified = "commit-beyond-verified"
}

/// Operating errors of the Raft API (programmer errors trap instead).
public enum RaftError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidConfig(String)
    case notLeader(leaderHint: NodeID)
    case transferInProgress
    case membershipChangeInProgress
    /// The leader has not yet committed an entry of its own term (raft-dev 2015: a leader must do so
    /// before it changes the configuration).
    case leaderNotReady
    case invalidMembershipChange(String)
    case learnerNotCaughtUp(NodeID)

    public var description: String {
        switch self {
        case .invalidConfig(let why): return "invalid raft config: \(why)"
        case .notLeader(let hint): return hint.isNone ? "not leader (leader unknown)" : "not leader (leader is \(hint))"
        case .transferInProgress: return "leadership transfer in progress"
        case .membershipChangeInProgress: return "a membership change is not yet committed"
        case .leaderNotReady: return "leader has not committed an entry of its term yet"
        case .invalidMembershipChange(let why): return "invalid membership change: \(why)"
        case .learnerNotCaughtUp(let id): return "learner \(id) has not caught up"
        }
    }
}
