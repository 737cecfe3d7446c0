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
            return (t?.errorCode ?? -1, t?.errorMessage)
        }
    }

    public func deleteTopic(_ name: String) async throws {
        try await controllerCall(.deleteTopics, version: 3, context: "delete topic \(name)") {
            DeleteTopicsRequest(topicNames: [name], timeoutMs: 10_000).encode(&$0, version: 3)
        } decode: { r throws(KafkaWireError) in
            (try DeleteTopicsResponse.decode(&r, version: 3).responses.first?.errorCode ?? -1, nil)
        }
    }

    /// Topic names, sorted.
    public func listTopics() async throws -> [String] {
        try await client.refreshMetadata().topics.map(\.name).sorted()
    }

    /// Send to the controller; retry while it moves (NOT_CONTROLLER) or is being elected.
    private func controllerCall(
        _ key: ApiKey, version: Int16, context: String, _ body: @escaping (inout KafkaWriter) -> Void,
        decode: (inout KafkaReader) throws(KafkaWireError) -> (Int16, String?)
    ) async throws {
        for attempt in 0..<30 {
            let m = try await client.refreshMetadata()
            if m.controllerID >= 0 {
                let c = try await client.connection(to: m.controllerID)
                var r = try await c.request(key, version: version, clientID: client.clientID, body)
                let (code, message) = try decode(&r)
                if code == 0 { return }
                let error = ErrorCode(rawValue: code) ?? .unknownServerError
                if error != .notController && error != .requestTimedOut || attempt == 29 {
                    throw RillClientError.kafka(error, context + (message.map { " (\($0))" } ?? ""))
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RillClientError.timedOut(context)
    }
}
