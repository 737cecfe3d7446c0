import Primitives
import Broker

/// A `host:port` to listen on or dial.
public struct HostPort: Equatable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parse `host:port` (IPv6 in brackets: `[::1]:9092`); nil when it is not one.
    public init?(parsing s: String) {
        guard let colon = s.lastIndex(of: ":") else { return nil }
        var host = String(s[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Everything `rill serve` needs to run one node (read from node.toml, see `NodeSettings.parse`).
public struct NodeSettings: Sendable {
    public var nodeID: NodeID
    public var cluster: String
    public var dataDirectory: String
    /// Where peers connect (TLS, mutual).
    public var peerListener: HostPort
    /// Where Kafka clients connect.
    public var kafkaListener: HostPort
    /// The Kafka address given to clients (defaults to the listener's).
    public var advertisedKafka: HostPort
    /// `/metrics`, `/health`, `/status` (plain HTTP).
    public var metricsListener: HostPort
    /// PEM file paths.
    public var caFile: String
    public var certificateFile: String
    public var keyFile: String
    /// The founding members' peer addresses, by node id (sorted): the cluster's initial members,
    /// and where a node first looks for its peers. A node not among them joins the cluster; the
    /// addresses of nodes that joined come from the controller's state.
    public var peers: [(NodeID, HostPort)]
    /// Where peers dial this node (`listeners.advertised_peer`; a founder's own `[peers]` entry,
    /// else the peer listener's address).
    public var advertisedPeerOverride: HostPort?
    /// One Raft tick; elections time out after `electionTicks` of them.
    public var tickMilliseconds = 100
    public var electionTicks = 10
    /// A TLS handshake with a peer must finish within this.
    public var handshakeTimeoutMilliseconds = 5000
    /// Kafka's `auto.create.topics.enable`: Metadata for a missing topic creates it.
    public var autoCreateTopics = true
    /// Partitions and replication factor of topics created without them.
    public var defaultPartitions: Int32 = 1
    /// Partitions of `__consumer_offsets`, created when the first group appears.
    public var offsetsPartitions: Int32 = 4
    /// Serve Kafka transactions (`NodeConfig.servesTransactions`).
    public var transactions = true
    /// Partitions of `__transaction_state`, created when the first transactional id appears.
    public var transactionStatePartitions: Int32 = 4
    /// How long a transactional id may go unused before its coordinator removes it
    /// (`NodeConfig.transactionalIDExpirationMs`).
    public var transactionalIDExpirationMs: Int64 = 604_800_000
    /// Bytes a partition's Raft log holds in memory before it is snapshotted (the storage keeps
    /// the records; followers further behind read them from the leader's storage).
    public var kafkaMemorySnapshotBytes = 256 * 1024 * 1024
    /// Bytes all partitions' Raft logs hold in memory together before those holding the most are
    /// snapshotted.
    public var kafkaMemoryTotalBytes = 256 * 1024 * 1024
    /// How often every partition is measured for retention by time (Kafka's
    /// `log.retention.check.interval.ms`).
    public var retentionCheckMs = 300_000
    /// How often each compacted partition is offered to the log cleaner (Kafka's
    /// `log.cleaner.backoff.ms`).
    public var compactionCheckMs = 15_000
    /// How often a node hands partitions back to their first replica (`kafka.leader_rebalance_ms`,
    /// Kafka's auto leader rebalance; 0: never).
    public var leaderRebalanceMs = 10_000
    /// Bytes per second read from storage to catch up a move's new replicas
    /// (`kafka.move_throttle_bytes_per_sec`; 0: no limit).
    public var moveThrottleBytesPerSec = 100 << 20
    public var groupInitialRebalanceDelayMs = 3000
    public var groupMinSessionTimeoutMs: Int32 = 6000
    public var groupMaxSessionTimeoutMs: Int32 = 1_800_000
    public var defaultReplicationFactor = 3
    /// TLS on the Kafka listener (with this node's certificate), and whether clients must present
    /// a certificate of the cluster CA. Plaintext by default, for local development.
    public var kafkaTLS = false
    public var kafkaTLSClientAuth = false
    /// `/metrics` carries every partition's Raft series (five per group) when set; otherwise the
    /// controller group's and node-wide aggregates only, so a node with thousands of partitions
    /// does not expose (and scrape) tens of thousands of series.
    public var metricsPerPartition = false
    /// Where the node logs (`[log]`): standard error unless `log.file` is set; a file is rotated by
    /// size, keeping at most `files × max_bytes`.
    public var log: LogOutput.Target = .standardError
    /// Below this many free bytes on the data disk the node takes no new Kafka writes and hands
    /// its partitions' leadership away (nil: 5 % of the file system, 16 MiB to 1 GiB).
    public var minFreeBytes: UInt64?
    /// Below this many free bytes a warning is logged (nil: twice `minFreeBytes`); writes resume
    /// once free space is back above it.
    public var warnFreeBytes: UInt64?
    /// A file this large is kept in the data directory and released when the disk is nearly full,
    /// so the node can still write its own Raft state (0: none).
    public var reserveBytes: UInt64 = 8 << 20
    /// `testing.planted_bug`: a deliberate bug, for the nemesis suite to prove it catches one
    /// (docs/nemesis.md). Never in production; the node logs it as an error at start.
    public var plantedBug: BrokerPlantedBug?
    public static let logMaxBytesDefault = 64 * 1024 * 1024
    public static let logFilesDefault = 3

    public init(
        nodeID: NodeID, cluster: String, dataDirectory: String, peerListener: HostPort, kafkaListener: HostPort,
        metricsListener: HostPort, caFile: String, certificateFile: String, keyFile: String, peers: [(NodeID, HostPort)]
    ) {
        self.nodeID = nodeID
        self.cluster = cluster
        self.dataDirectory = dataDirectory
        self.peerListener = peerListener
        self.kafkaListener = kafkaListener
        self.advertisedKafka = kafkaListener
        self.metricsListener = metricsListener
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.peers = peers.sorted { $0.0 < $1.0 }
    }

    /// The founding members.
    public var members: [NodeID] { peers.map(\.0) }

    /// Whether this node is among the founders (else it joins a running cluster).
    public var isFounder: Bool { peers.contains { $0.0 == nodeID } }

    /// Where peers dial this node: `listeners.advertised_peer`, else its `[peers]` entry, else the
    /// peer listener's address.
    public var advertisedPeer: HostPort {
        advertisedPeerOverride ?? peers.first { $0.0 == nodeID }?.1 ?? peerListener
    }
}
