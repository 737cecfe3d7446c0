import KafkaProtocol

/// Topic administration through the controller.
public struct Admin: Sendable {
    public let client: KafkaClient

    public init(client: KafkaClient) { self.client = client }

    /// Create a topic (-1: the cluster's defaults); throws the broker's error, e.g.
    /// TOPIC_ALREADY_EXISTS.
    public func createTopic(_ name: String, partitions: Int32 = -1, replicationFactor: Int16 = -1) async throws {
        try await controllerCall(.createTopics, version: 4, context: "create topic \(name)") {
            CreateTopicsRequest(topics: [.init(name: name, numPartitions: partitions, replicationFactor: replicationFactor)], timeoutMs: 10_000)
                .encode(&$0, version: 4)
        } decode: { r throws(KafkaWireError) in
            let t = try CreateTopicsResponse.decode(&r, version: 4).topics.first
            return (t?.errorCode ?? .unknownServerError, t?.errorMessage)
        }
    }

    public func deleteTopic(_ name: String) async throws {
        try await controllerCall(.deleteTopics, version: 3, context: "delete topic \(name)") {
            DeleteTopicsRequest(topicNames: [name], timeoutMs: 10_000).encode(&$0, version: 3)
        } decode: { r throws(KafkaWireError) in
            (try DeleteTopicsResponse.decode(&r, version: 3).responses.first?.errorCode ?? .unknownServerError, nil)
        }
    }

    /// Grow a topic to `count` partitions (Kafka's CreatePartitions): new partitions get new
    /// replicas; keyed records of later writes may then go to other partitions, as in Kafka.
    /// Throws the broker's error, e.g. INVALID_PARTITIONS for a count that does not grow.
    public func createPartitions(_ name: String, count: Int32) async throws {
        try await controllerCall(.createPartitions, version: 3, context: "add partitions to \(name)") {
            CreatePartitionsRequest(topics: [.init(name: name, count: count, assignments: nil)], timeoutMs: 10_000).encode(&$0, version: 3)
        } decode: { r throws(KafkaWireError) in
            let t = try CreatePartitionsResponse.decode(&r, version: 3).results.first
            return (t?.errorCode ?? .unknownServerError, t?.errorMessage)
        }
    }

    /// Topic names, sorted.
    public func listTopics() async throws -> [String] {
        try await client.refreshMetadata().topics.compactMap(\.name).sorted()
    }

    /// Partitions of each topic: leader, replicas, in-sync replicas. A topic that does not exist
    /// throws UNKNOWN_TOPIC_OR_PARTITION.
    public func describeTopics(_ names: [String]) async throws -> [TopicDescription] {
        let m = try await client.refreshMetadata(topics: names)
        return try names.map { name in
            guard let t = m.topics.first(where: { $0.name == name }) else { throw RillClientError.kafka(.unknownTopicOrPartition, "describe \(name)") }
            let code = t.errorCode
            guard code == .none else { throw RillClientError.kafka(code, "describe \(name)") }
            let partitions = t.partitions.sorted { $0.partitionIndex < $1.partitionIndex }.map {
                TopicDescription.Partition(partition: $0.partitionIndex, leader: $0.leaderID >= 0 ? $0.leaderID : nil, replicas: $0.replicaNodes, inSync: $0.isrNodes)
            }
            return TopicDescription(name: name, partitions: partitions)
        }
    }

    /// The brokers, the controller and the cluster id.
    public func describeCluster() async throws -> ClusterDescription {
        let m = try await client.refreshMetadata(topics: [])
        return ClusterDescription(
            clusterID: m.clusterID, controller: m.controllerID >= 0 ? m.controllerID : nil,
            brokers: m.brokers.sorted { $0.nodeID < $1.nodeID }.map { .init(node: $0.nodeID, host: $0.host, port: Int($0.port)) })
    }

    /// Send to the controller; retry while it moves (NOT_CONTROLLER) or is being elected.
    func controllerCall(
        _ key: ApiKey, version: Int16, context: String, _ body: @escaping (inout KafkaWriter) -> Void,
        decode: (inout KafkaReader) throws(KafkaWireError) -> (ErrorCode, String?)
    ) async throws {
        for attempt in 0..<30 {
            let m = try await client.refreshMetadata()
            if m.controllerID >= 0 {
                let c = try await client.connection(to: m.controllerID)
                var r = try await c.request(key, version: version, clientID: client.clientID, body)
                let (error, message) = try decode(&r)
                if error == .none { return }
                if error != .notController && error != .requestTimedOut || attempt == 29 {
                    throw RillClientError.kafka(error, context + (message.map { " (\($0))" } ?? ""))
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RillClientError.timedOut(context)
    }
}

public struct TopicDescription: Equatable, Sendable {
    public struct Partition: Equatable, Sendable {
        public var partition: Int32
        /// Nil while the partition has no leader (an election is under way).
        public var leader: Int32?
        public var replicas: [Int32]
        public var inSync: [Int32]
    }

    public var name: String
    public var partitions: [Partition]
}

public struct ClusterDescription: Equatable, Sendable {
    public struct Broker: Equatable, Sendable {
        public var node: Int32
        public var host: String
        public var port: Int
    }

    public var clusterID: String?
    public var controller: Int32?
    public var brokers: [Broker]
}
