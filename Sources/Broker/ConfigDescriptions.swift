import KafkaProtocol
import Primitives

/// DescribeConfigs: every config of a topic or broker with its value, source, synonyms and
/// documentation, as Kafka answers them (`ConfigHelper`). Stateless: the controller state, which
/// every node holds, has the topics' and the cluster's overrides.
enum ConfigDescriptions {
    typealias Described = DescribeConfigsResponse.DescribeConfigsResourceResult

    static let topicResource: Int8 = 2
    static let brokerResource: Int8 = 4

    static func describe(_ d: DescribeConfigsRequest, _ request: KafkaRequest, _ node: some NodeContext) -> [KafkaAction] {
        let version = request.header.apiVersion
        let results = d.resources.map { r -> DescribeConfigsResponse.DescribeConfigsResult in
            func fail(_ code: ErrorCode, _ message: String) -> DescribeConfigsResponse.DescribeConfigsResult {
                .init(errorCode: code, errorMessage: message, resourceType: r.resourceType, resourceName: r.resourceName, configs: [])
            }
            let documentation = version >= 3 && d.includeDocumentation
            switch r.resourceType {
            case topicResource:
                guard let state = node.controller.topic(r.resourceName) else {
                    return fail(.unknownTopicOrPartition, "topic '\(r.resourceName)' does not exist")
                }
                let configs = topic(state, controller: node.controller, keys: r.configurationKeys, synonyms: d.includeSynonyms, documentation: documentation)
                return .init(resourceType: r.resourceType, resourceName: r.resourceName, configs: configs)
            case brokerResource:
                guard r.resourceName.isEmpty || UInt32(r.resourceName).map({ id in node.controller.members.contains { $0.value == id } }) == true else {
                    return fail(.invalidRequest, "no broker '\(r.resourceName)' in this cluster")
                }
                let configs = broker(r.resourceName, node, keys: r.configurationKeys, synonyms: d.includeSynonyms, documentation: documentation)
                return .init(resourceType: r.resourceType, resourceName: r.resourceName, configs: configs)
            default:
                return fail(.invalidRequest, "resource type \(r.resourceType) is not supported (topics 2 and brokers 4 are)")
            }
        }
        return [.complete(request.answer(DescribeConfigsResponse(results: results)))]
    }

    /// Every topic config (or the `keys` asked for), in the catalog's order: the topic's value,
    /// else the cluster's, else the default; synonyms in that order of precedence.
    static func topic(_ topic: TopicState, controller: ControllerState, keys: [String]?, synonyms: Bool, documentation: Bool) -> [Described] {
        TopicConfigs.all.filter { keys == nil || keys!.contains($0.name) }.map { def in
            var chain: [DescribeConfigsResponse.DescribeConfigsSynonym] = []
            if let v = topic.configs[def.name] { chain.append(.init(name: def.name, value: v, source: ConfigSource.topic.rawValue)) }
            if let v = controller.clusterConfigs[def.brokerKey] {
                chain.append(.init(name: def.brokerKey, value: v, source: ConfigSource.dynamicDefaultBroker.rawValue))
            }
            chain.append(.init(name: def.brokerKey, value: def.defaultValue, source: ConfigSource.defaultConfig.rawValue))
            return Described(
                name: def.name, value: chain[0].value, readOnly: false, configSource: chain[0].source, isSensitive: false,
                synonyms: synonyms ? chain : [], configType: def.type.rawValue, documentation: documentation ? def.documentation : nil)
        }
    }

    /// A broker's configs: the cluster-wide defaults of topic configs (settable, dynamic) and the
    /// node's static settings (read-only). The empty name describes the cluster-wide defaults set.
    static func broker(_ name: String, _ node: some NodeContext, keys: [String]?, synonyms: Bool, documentation: Bool) -> [Described] {
        let cluster = node.controller.clusterConfigs
        var out: [Described] = []
        for def in TopicConfigs.all where keys == nil || keys!.contains(def.brokerKey) {
            let set = cluster[def.brokerKey]
            if name.isEmpty && set == nil { continue }
            var chain: [DescribeConfigsResponse.DescribeConfigsSynonym] = []
            if let set { chain.append(.init(name: def.brokerKey, value: set, source: ConfigSource.dynamicDefaultBroker.rawValue)) }
            if !name.isEmpty { chain.append(.init(name: def.brokerKey, value: def.defaultValue, source: ConfigSource.defaultConfig.rawValue)) }
            out.append(Described(
                name: def.brokerKey, value: chain[0].value, readOnly: false, configSource: chain[0].source, isSensitive: false,
                synonyms: synonyms ? chain : [], configType: def.type.rawValue, documentation: documentation ? def.documentation : nil))
        }
        guard !name.isEmpty else { return out }
        let c = node.config
        let statics: [(String, String, ConfigType, String)] = [
            ("broker.id", name, .int, "This node's id."),
            ("node.id", name, .int, "This node's id."),
            ("num.partitions", "\(c.defaultPartitions)", .int, "Partitions of an auto-created topic (kafka.default_partitions)."),
            ("default.replication.factor", "\(min(c.defaultReplicationFactor, node.controller.members.count))", .short, "Replicas of an auto-created topic."),
            ("auto.create.topics.enable", c.autoCreateTopics ? "true" : "false", .boolean, "Create a topic a client asks Metadata for."),
            ("offsets.topic.num.partitions", "\(c.offsetsPartitions)", .int, "Partitions of __consumer_offsets."),
            ("offsets.topic.replication.factor", "\(min(c.offsetsReplicationFactor, node.controller.members.count))", .short, "Replicas of __consumer_offsets."),
        ]
        for (key, value, type, doc) in statics where keys == nil || keys!.contains(key) {
            let source = ConfigSource.staticBroker.rawValue
            out.append(Described(
                name: key, value: value, readOnly: true, configSource: source, isSensitive: false,
                synonyms: synonyms ? [.init(name: key, value: value, source: source)] : [], configType: type.rawValue,
                documentation: documentation ? doc : nil))
        }
        return out
    }
}

extension ControllerState {
    /// A topic config's value in force: the topic's, else the cluster's, else the default.
    public func config(_ name: String, of topic: TopicState) -> String? {
        guard let def = TopicConfigs.definition(named: name) else { return nil }
        // __consumer_offsets is kept compact (its snapshot holds each key's newest record; see
        // `RetentionPolicy.belowSnapshot`), as Kafka creates it.
        if InternalTopic.isInternal(topic.name) && name == "cleanup.policy" { return topic.configs[name] ?? "compact" }
        return topic.configs[name] ?? clusterConfigs[def.brokerKey] ?? def.defaultValue
    }
}
