import Primitives
import Raft

/// What a node core needs to know about itself and its cluster (static membership for now).
public struct NodeConfig: Sendable {
    public var id: NodeID
    /// Every member of the cluster, this node included (1, 3 or 5 nodes).
    public var members: [NodeID]
    /// Where this node's Kafka listener is reached (registered with the controller).
    public var kafkaHost: String
    public var kafkaPort: UInt16
    public var electionTicks = 10
    public var heartbeatTicks = 1
    /// A snapshot of a group's state every this many applied entries (the controller's log stays short).
    public var compactEvery = 10_000
    /// Seeds election jitter; the simulator passes its own, production a random one.
    public var seed: UInt64

    public init(id: NodeID, members: [NodeID], kafkaHost: String, kafkaPort: UInt16, seed: UInt64) {
        self.id = id
        self.members = members.sorted()
        self.kafkaHost = kafkaHost
        self.kafkaPort = kafkaPort
        self.seed = seed
    }
}

/// The controller's Raft group.
public let controllerGroup = GroupID(0)
