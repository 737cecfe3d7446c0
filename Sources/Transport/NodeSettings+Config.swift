import Broker
import Primitives

extension NodeSettings {
    /// Known keys; any other is refused (a typo must not silently fall back to a default).
    static let knownKeys: Set<String> = [
        "node_id", "cluster", "data_dir", "listeners.peer", "listeners.kafka", "listeners.metrics",
        "listeners.advertised_kafka", "listeners.advertised_peer", "tls.ca", "tls.cert", "tls.key", "raft.tick_ms", "raft.election_ticks",
        "raft.handshake_timeout_ms", "kafka.auto_create_topics", "kafka.default_partitions",
        "kafka.default_replication_factor", "kafka.tls", "kafka.tls_client_auth", "kafka.offsets_partitions", "kafka.memory_snapshot_bytes", "kafka.memory_total_bytes",
        "kafka.retention_check_ms", "kafka.compaction_check_ms", "kafka.leader_rebalance_ms", "kafka.move_throttle_bytes_per_sec",
        "kafka.group_initial_rebalance_delay_ms", "kafka.group_min_session_timeout_ms", "kafka.group_max_session_timeout_ms",
        "log.file", "log.max_bytes", "log.files", "metrics.per_partition", "storage.min_free_bytes", "storage.warn_free_bytes", "storage.reserve_bytes",
        "testing.planted_bug",
    ]

    /// Settings from node.toml. Relative file paths are taken from `baseDirectory` (the config
    /// file's directory). Every problem names its key and what is wrong with it.
    public static func parse(_ file: ConfigFile, baseDirectory: String) throws(ConfigFile.Error) -> NodeSettings {
        let place = file.name
        for e in file.entries where !knownKeys.contains(e.key) && !e.key.hasPrefix("peers.") {
            throw ConfigFile.Error("\(place):\(e.line): unknown key '\(e.key)'")
        }
        func string(_ key: String) throws(ConfigFile.Error) -> String {
            guard let v = file.value(key) else { throw ConfigFile.Error("\(place): missing '\(key)'") }
            guard case .string(let s) = v, !s.isEmpty else {
                throw ConfigFile.Error("\(place): '\(key)' must be a non-empty string, not \(v)")
            }
            return s
        }
        func integer(_ key: String, default d: Int, in range: ClosedRange<Int>) throws(ConfigFile.Error) -> Int {
            guard let v = file.value(key) else { return d }
            guard case .integer(let i) = v, range.contains(i) else {
                throw ConfigFile.Error("\(place): '\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound), not \(v)")
            }
            return i
        }
        func address(_ key: String) throws(ConfigFile.Error) -> HostPort {
            let s = try string(key)
            guard let hp = HostPort(parsing: s) else {
                throw ConfigFile.Error("\(place): '\(key)' must be host:port, not \"\(s)\"")
            }
            return hp
        }
        func path(_ key: String) throws(ConfigFile.Error) -> String {
            let p = try string(key)
            return p.hasPrefix("/") ? p : baseDirectory + "/" + p
        }
        let id = try integer("node_id", default: 0, in: 1...Int(UInt32.max))
        let cluster = try string("cluster")
        guard cluster.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw ConfigFile.Error("\(place): 'cluster' may hold only letters, digits, '-' and '_', not \"\(cluster)\"")
        }
        var peers: [(NodeID, HostPort)] = []
        for key in file.keys(in: "peers") {
            guard let peerID = UInt32(key), peerID > 0 else {
                throw ConfigFile.Error("\(place): 'peers.\(key)': peer keys are node ids (1, 2, ...)")
            }
            peers.append((NodeID(peerID), try address("peers.\(key)")))
        }
        guard [1, 3, 5].contains(peers.count) else {
            throw ConfigFile.Error("\(place): [peers] must list 1, 3 or 5 nodes (this one included), not \(peers.count)")
        }
        // A node not among [peers] (the founders) joins the running cluster they founded.
        var s = NodeSettings(
            nodeID: NodeID(UInt32(id)), cluster: cluster, dataDirectory: try path("data_dir"),
            peerListener: try address("listeners.peer"), kafkaListener: try address("listeners.kafka"),
            metricsListener: try address("listeners.metrics"), caFile: try path("tls.ca"),
            certificateFile: try path("tls.cert"), keyFile: try path("tls.key"), peers: peers)
        if file.value("listeners.advertised_kafka") != nil { s.advertisedKafka = try address("listeners.advertised_kafka") }
        if file.value("listeners.advertised_peer") != nil { s.advertisedPeerOverride = try address("listeners.advertised_peer") }
        if !s.isFounder && s.advertisedPeerOverride == nil && ["0.0.0.0", "::"].contains(s.peerListener.host) {
            throw ConfigFile.Error("\(place): a node joining the cluster (node_id \(id) is not in [peers]) listening on \(s.peerListener) needs 'listeners.advertised_peer', the address peers dial")
        }
        s.tickMilliseconds = try integer("raft.tick_ms", default: 100, in: 10...10_000)
        s.electionTicks = try integer("raft.election_ticks", default: 10, in: 3...1000)
        s.handshakeTimeoutMilliseconds = try integer("raft.handshake_timeout_ms", default: 5000, in: 100...600_000)
        func flag(_ key: String, default d: Bool) throws(ConfigFile.Error) -> Bool {
            guard let v = file.value(key) else { return d }
            guard case .bool(let b) = v else { throw ConfigFile.Error("\(place): '\(key)' must be true or false, not \(v)") }
            return b
        }
        s.autoCreateTopics = try flag("kafka.auto_create_topics", default: true)
        s.kafkaTLS = try flag("kafka.tls", default: false)
        s.metricsPerPartition = try flag("metrics.per_partition", default: false)
        s.kafkaTLSClientAuth = try flag("kafka.tls_client_auth", default: false)
        if s.kafkaTLSClientAuth && !s.kafkaTLS {
            throw ConfigFile.Error("\(place): 'kafka.tls_client_auth' needs 'kafka.tls = true'")
        }
        s.defaultPartitions = Int32(try integer("kafka.default_partitions", default: 1, in: 1...Int(BrokerLimits.topicPartitionsMax)))
        s.defaultReplicationFactor = try integer("kafka.default_replication_factor", default: min(3, peers.count), in: 1...peers.count)
        s.offsetsPartitions = Int32(try integer("kafka.offsets_partitions", default: 4, in: 1...1000))
        s.transactions = try flag("kafka.transactions", default: true)
        s.transactionStatePartitions = Int32(try integer("kafka.transaction_state_partitions", default: 4, in: 1...1000))
        s.transactionalIDExpirationMs = Int64(try integer("kafka.transactional_id_expiration_ms", default: 604_800_000, in: 1000...(1 << 40)))
        s.kafkaMemorySnapshotBytes = try integer("kafka.memory_snapshot_bytes", default: 256 * 1024 * 1024, in: 4096...(1 << 40))
        s.kafkaMemoryTotalBytes = try integer("kafka.memory_total_bytes", default: 256 * 1024 * 1024, in: 65536...(1 << 40))
        s.retentionCheckMs = try integer("kafka.retention_check_ms", default: 300_000, in: 100...86_400_000)
        s.compactionCheckMs = try integer("kafka.compaction_check_ms", default: 15_000, in: 100...86_400_000)
        s.leaderRebalanceMs = try integer("kafka.leader_rebalance_ms", default: 10_000, in: 0...86_400_000)
        s.moveThrottleBytesPerSec = try integer("kafka.move_throttle_bytes_per_sec", default: 100 << 20, in: 0...(1 << 40))
        s.groupInitialRebalanceDelayMs = try integer("kafka.group_initial_rebalance_delay_ms", default: 3000, in: 0...300_000)
        s.groupMinSessionTimeoutMs = Int32(try integer("kafka.group_min_session_timeout_ms", default: 6000, in: 1...3_600_000))
        s.groupMaxSessionTimeoutMs = Int32(try integer("kafka.group_max_session_timeout_ms", default: 1_800_000, in: 1...3_600_000))
        if s.groupMinSessionTimeoutMs > s.groupMaxSessionTimeoutMs {
            throw ConfigFile.Error("\(place): 'kafka.group_min_session_timeout_ms' exceeds 'kafka.group_max_session_timeout_ms'")
        }
        if file.value("storage.min_free_bytes") != nil {
            s.minFreeBytes = UInt64(try integer("storage.min_free_bytes", default: 0, in: 1 << 20...(1 << 50)))
        }
        if file.value("storage.warn_free_bytes") != nil {
            s.warnFreeBytes = UInt64(try integer("storage.warn_free_bytes", default: 0, in: 1 << 20...(1 << 50)))
        }
        s.reserveBytes = UInt64(try integer("storage.reserve_bytes", default: 8 << 20, in: 0...(1 << 40)))
        if let min = s.minFreeBytes, let warn = s.warnFreeBytes, warn <= min {
            throw ConfigFile.Error("\(place): 'storage.warn_free_bytes' (\(warn)) must exceed 'storage.min_free_bytes' (\(min))")
        }
        if file.value("testing.planted_bug") != nil {
            let name = try string("testing.planted_bug")
            guard let bug = BrokerPlantedBug(rawValue: name) else {
                let known = BrokerPlantedBug.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigFile.Error("\(place): 'testing.planted_bug' must be one of \(known), not \"\(name)\"")
            }
            s.plantedBug = bug
        }
        let logMaxBytes = try integer("log.max_bytes", default: logMaxBytesDefault, in: 65536...(1 << 40))
        let logFiles = try integer("log.files", default: logFilesDefault, in: 1...100)
        if file.value("log.file") != nil {
            let logFile = try path("log.file")
            if logFile.hasPrefix(s.dataDirectory.hasSuffix("/") ? s.dataDirectory : s.dataDirectory + "/") {
                throw ConfigFile.Error("\(place): 'log.file' must not be inside 'data_dir' (\(s.dataDirectory))")
            }
            s.log = .file(path: logFile, maxBytes: logMaxBytes, files: logFiles)
        } else if file.value("log.max_bytes") != nil || file.value("log.files") != nil {
            throw ConfigFile.Error("\(place): 'log.max_bytes' and 'log.files' need 'log.file' (without it the node logs to standard error)")
        }
        let ports = [s.peerListener, s.kafkaListener, s.metricsListener].filter { $0.port != 0 }
        for (i, a) in ports.enumerated() where ports[(i + 1)...].contains(a) {
            throw ConfigFile.Error("\(place): two listeners share \(a)")
        }
        return s
    }
}
