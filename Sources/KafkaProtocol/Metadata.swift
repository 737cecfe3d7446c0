/// Metadata (key 3), v0-8.
public struct MetadataRequest: Equatable, Sendable {
    /// nil: all topics (v1+); v0 sends [] for all.
    public var topics: [String]?
    public var allowAutoTopicCreation: Bool
    public var includeClusterAuthorizedOperations: Bool
    public var includeTopicAuthorizedOperations: Bool

    public init(topics: [String]?, allowAutoTopicCreation: Bool = true, includeClusterAuthorizedOperations: Bool = false,
                includeTopicAuthorizedOperations: Bool = false) {
        self.topics = topics
        self.allowAutoTopicCreation = allowAutoTopicCreation
        self.includeClusterAuthorizedOperations = includeClusterAuthorizedOperations
        self.includeTopicAuthorizedOperations = includeTopicAuthorizedOperations
    }

    /// Whether the request asks for every topic (null in v1+, empty in v0).
    public func wantsAllTopics(version: Int16) -> Bool {
        guard let topics else { return true }
        return version == 0 && topics.isEmpty
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> MetadataRequest {
        let topics = try r.nullableArray("topics", minElementBytes: 2) { r throws(KafkaWireError) in try r.string("topic name") }
        if version == 0 && topics == nil { throw .invalid("v0 topics is null") }
        var req = MetadataRequest(topics: topics, allowAutoTopicCreation: true)
        if version >= 4 { req.allowAutoTopicCreation = try r.bool("allow_auto_topic_creation") }
        if version >= 8 {
            req.includeClusterAuthorizedOperations = try r.bool("include_cluster_authorized_operations")
            req.includeTopicAuthorizedOperations = try r.bool("include_topic_authorized_operations")
        }
        return req
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.nullableArray(version == 0 ? (topics ?? []) : topics) { w, t in w.string(t) }
        if version >= 4 { w.bool(allowAutoTopicCreation) }
        if version >= 8 {
            w.bool(includeClusterAuthorizedOperations)
            w.bool(includeTopicAuthorizedOperations)
        }
    }
}

public struct MetadataResponse: Equatable, Sendable {
    public struct Broker: Equatable, Sendable {
        public var nodeID: Int32
        public var host: String
        public var port: Int32
        public var rack: String?
        public init(nodeID: Int32, host: String, port: Int32, rack: String? = nil) {
            self.nodeID = nodeID
            self.host = host
            self.port = port
            self.rack = rack
        }
    }

    public struct Partition: Equatable, Sendable {
        public var errorCode: Int16
        public var partitionIndex: Int32
        public var leaderID: Int32
        /// The Raft term of the partition's group (-1: unknown).
        public var leaderEpoch: Int32
        public var replicaNodes: [Int32]
        public var isrNodes: [Int32]
        public var offlineReplicas: [Int32]
        public init(errorCode: ErrorCode = .none, partitionIndex: Int32, leaderID: Int32, leaderEpoch: Int32,
                    replicaNodes: [Int32], isrNodes: [Int32], offlineReplicas: [Int32] = []) {
            self.errorCode = errorCode.rawValue
            self.partitionIndex = partitionIndex
            self.leaderID = leaderID
            self.leaderEpoch = leaderEpoch
            self.replicaNodes = replicaNodes
            self.isrNodes = isrNodes
            self.offlineReplicas = offlineReplicas
        }
    }

    public struct Topic: Equatable, Sendable {
        public var errorCode: Int16
        public var name: String
        public var isInternal: Bool
        public var partitions: [Partition]
        public var topicAuthorizedOperations: Int32
        public init(errorCode: ErrorCode = .none, name: String, isInternal: Bool = false, partitions: [Partition],
                    topicAuthorizedOperations: Int32 = Int32.min) {
            self.errorCode = errorCode.rawValue
            self.name = name
            self.isInternal = isInternal
            self.partitions = partitions
            self.topicAuthorizedOperations = topicAuthorizedOperations
        }
    }

    public var throttleTimeMs: Int32 = 0
    public var brokers: [Broker]
    public var clusterID: String?
    public var controllerID: Int32
    public var topics: [Topic]
    /// INT32_MIN: not requested.
    public var clusterAuthorizedOperations: Int32 = Int32.min

    public init(brokers: [Broker], clusterID: String?, controllerID: Int32, topics: [Topic]) {
        self.brokers = brokers
        self.clusterID = clusterID
        self.controllerID = controllerID
        self.topics = topics
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        if version >= 3 { w.int32(throttleTimeMs) }
        w.array(brokers) { w, b in
            w.int32(b.nodeID)
            w.string(b.host)
            w.int32(b.port)
            if version >= 1 { w.nullableString(b.rack) }
        }
        if version >= 2 { w.nullableString(clusterID) }
        if version >= 1 { w.int32(controllerID) }
        w.array(topics) { w, t in
            w.int16(t.errorCode)
            w.string(t.name)
            if version >= 1 { w.bool(t.isInternal) }
            w.array(t.partitions) { w, p in
                w.int16(p.errorCode)
                w.int32(p.partitionIndex)
                w.int32(p.leaderID)
                if version >= 7 { w.int32(p.leaderEpoch) }
                w.array(p.replicaNodes) { w, n in w.int32(n) }
                w.array(p.isrNodes) { w, n in w.int32(n) }
                if version >= 5 { w.array(p.offlineReplicas) { w, n in w.int32(n) } }
            }
            if version >= 8 { w.int32(t.topicAuthorizedOperations) }
        }
        if version >= 8 { w.int32(clusterAuthorizedOperations) }
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> MetadataResponse {
        let throttle = version >= 3 ? try r.int32("throttle_time_ms") : 0
        let brokers = try r.array("brokers", minElementBytes: 10) { r throws(KafkaWireError) in
            Broker(nodeID: try r.int32("node_id"), host: try r.string("host"), port: try r.int32("port"),
                   rack: version >= 1 ? try r.nullableString("rack") : nil)
        }
        let cluster = version >= 2 ? try r.nullableString("cluster_id") : nil
        let controller = version >= 1 ? try r.int32("controller_id") : -1
        let topics = try r.array("topics", minElementBytes: 8) { r throws(KafkaWireError) in
            let error = try r.int16("error_code")
            let name = try r.string("name")
            let isInternal = version >= 1 ? try r.bool("is_internal") : false
            let partitions = try r.array("partitions", minElementBytes: 18) { r throws(KafkaWireError) in
                var p = Partition(partitionIndex: 0, leaderID: -1, leaderEpoch: -1, replicaNodes: [], isrNodes: [])
                p.errorCode = try r.int16("error_code")
                p.partitionIndex = try r.int32("partition_index")
                p.leaderID = try r.int32("leader_id")
                if version >= 7 { p.leaderEpoch = try r.int32("leader_epoch") }
                p.replicaNodes = try r.array("replica_nodes", minElementBytes: 4) { r throws(KafkaWireError) in try r.int32() }
                p.isrNodes = try r.array("isr_nodes", minElementBytes: 4) { r throws(KafkaWireError) in try r.int32() }
                if version >= 5 {
                    p.offlineReplicas = try r.array("offline_replicas", minElementBytes: 4) { r throws(KafkaWireError) in try r.int32() }
                }
                return p
            }
            var t = Topic(name: name, isInternal: isInternal, partitions: partitions)
            t.errorCode = error
            if version >= 8 { t.topicAuthorizedOperations = try r.int32("topic_authorized_operations") }
            return t
        }
        var out = MetadataResponse(brokers: brokers, clusterID: cluster, controllerID: controller, topics: topics)
        out.throttleTimeMs = throttle
        if version >= 8 { out.clusterAuthorizedOperations = try r.int32("cluster_authorized_operations") }
        return out
    }
}
