/// What `/status` reports and `rill cluster status` prints: one node's view of the cluster.
public struct NodeStatus: Codable, Equatable, Sendable {
    public struct Broker: Codable, Equatable, Sendable {
        public var node: UInt32
        public var host: String
        public var port: Int
    }

    public struct Peer: Codable, Equatable, Sendable {
        public var node: UInt32
        public var connected: Bool
    }

    public struct Partition: Codable, Equatable, Sendable {
        public var topic: String
        public var partition: Int32
        public var group: UInt32
        public var replicas: [UInt32]
        /// This node's view of the leader (nil when it is not a replica; 0 when unknown).
        public var leader: UInt32?
        public var commit: UInt64?
        /// A move in progress: the replicas the partition is going to (nil when none is).
        public var movingTo: [UInt32]? = nil
    }

    public var node: UInt32
    public var cluster: String
    /// 0 while no leader is known.
    public var controllerLeader: UInt32
    public var controllerTerm: UInt64
    public var controllerCommit: UInt64
    public var brokers: [Broker]
    public var peers: [Peer]
    public var partitions: [Partition]
    public var framesDropped: Int
    /// Free bytes on the data disk, and whether the node refuses Kafka writes for want of space.
    public var freeBytes: UInt64?
    public var diskFull: Bool?
}
