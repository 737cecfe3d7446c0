import KafkaProtocol

/// One config as DescribeConfigs describes it.
public struct ConfigDescription: Equatable, Sendable {
    public var name: String
    public var value: String?
    /// Kafka's source numbers: 1 set on the topic, 3 a cluster-wide default set at runtime,
    /// 4 the node's static setting, 5 the default.
    public var source: Int8
    public var readOnly: Bool
    public var documentation: String?

    /// Kafka's name for the source (as rpk and kafka-configs.sh print it).
    public var sourceName: String {
        switch source {
        case 1: return "DYNAMIC_TOPIC_CONFIG"
        case 2: return "DYNAMIC_BROKER_CONFIG"
        case 3: return "DYNAMIC_DEFAULT_BROKER_CONFIG"
        case 4: return "STATIC_BROKER_CONFIG"
        case 5: return "DEFAULT_CONFIG"
        default: return "UNKNOWN"
        }
    }
}

/// What to change: `set` values by name, `delete` names (back to the cluster's or the default).
public struct ConfigChanges: Sendable {
    public var set: [(String, String)]
    public var delete: [String]

    public init(set: [(String, String)] = [], delete: [String] = []) {
        self.set = set
        self.delete = delete
    }
}

extension Admin {
    static let topicResource: Int8 = 2
    static let brokerResource: Int8 = 4

    /// Every config of a topic, in force, with its source.
    public func describeConfigs(topic: String) async throws -> [ConfigDescription] {
        try await describeConfigs(type: Self.topicResource, name: topic)
    }

    /// The cluster-wide defaults set at runtime (none set: empty).
    public func describeClusterConfigs() async throws -> [ConfigDescription] {
        try await describeConfigs(type: Self.brokerResource, name: "")
    }

    /// Change a topic's configs (IncrementalAlterConfigs: what is not named stays).
    public func alterConfigs(topic: String, _ changes: ConfigChanges) async throws {
        try await alterConfigs(type: Self.topicResource, name: topic, changes, context: "alter configs of \(topic)")
    }

    /// Change cluster-wide defaults, by broker-level key (`log.cleanup.policy`, `message.max.bytes`).
    public func alterClusterConfigs(_ changes: ConfigChanges) async throws {
        try await alterConfigs(type: Self.brokerResource, name: "", changes, context: "alter cluster configs")
    }

    private func describeConfigs(type: Int8, name: String) async throws -> [ConfigDescription] {
        let c = try await client.anyConnection()
        var r = try await c.request(.describeConfigs, version: 4, clientID: client.clientID) {
            DescribeConfigsRequest(resources: [.init(resourceType: type, resourceName: name, configurationKeys: nil)], includeDocumentation: true)
                .encode(&$0, version: 4)
        }
        guard let result = try DescribeConfigsResponse.decode(&r, version: 4).results.first else {
            throw RillClientError.kafka(.unknownServerError, "describe configs of \(name): no result")
        }
        guard result.errorCode == .none else {
            throw RillClientError.kafka(result.errorCode, "describe configs of '\(name)'" + (result.errorMessage.map { " (\($0))" } ?? ""))
        }
        return result.configs.map {
            ConfigDescription(name: $0.name, value: $0.value, source: $0.configSource, readOnly: $0.readOnly, documentation: $0.documentation)
        }
    }

    private func alterConfigs(type: Int8, name: String, _ changes: ConfigChanges, context: String) async throws {
        let configs = changes.set.map { IncrementalAlterConfigsRequest.AlterableConfig(name: $0.0, configOperation: 0, value: $0.1) }
            + changes.delete.map { IncrementalAlterConfigsRequest.AlterableConfig(name: $0, configOperation: 1, value: nil) }
        let c = try await client.anyConnection()
        var r = try await c.request(.incrementalAlterConfigs, version: 1, clientID: client.clientID) {
            IncrementalAlterConfigsRequest(resources: [.init(resourceType: type, resourceName: name, configs: configs)]).encode(&$0, version: 1)
        }
        guard let result = try IncrementalAlterConfigsResponse.decode(&r, version: 1).responses.first else {
            throw RillClientError.kafka(.unknownServerError, "\(context): no result")
        }
        guard result.errorCode == .none else {
            throw RillClientError.kafka(result.errorCode, context + (result.errorMessage.map { ": \($0)" } ?? ""))
        }
    }
}
