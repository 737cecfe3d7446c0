import KafkaProtocol
import Primitives

/// AlterConfigs and IncrementalAlterConfigs: each resource's change is checked against the
/// controller state here (unknown names, bad values and operations get Kafka's errors at once),
/// then becomes one controller command, answered when it is applied (`TopicAdmin`'s flow: it
/// may be proposed, forwarded and asked again like a CreateTopics).
extension TopicAdmin {
    /// One resource of either request, as the changes it asks for.
    struct ConfigRequest {
        var resourceType: Int8
        var resourceName: String
        var changes: [ConfigChange]
    }

    mutating func alterConfigs(_ a: AlterConfigsRequest, _ request: KafkaRequest, _ node: some AdminContext) -> [KafkaAction] {
        // AlterConfigs replaces the whole set: every name given is set, every other one reverts.
        let asked = a.resources.map { r in
            ConfigRequest(
                resourceType: r.resourceType, resourceName: r.resourceName,
                changes: r.configs.map { ConfigChange(name: $0.name, operation: .set, value: $0.value) })
        }
        return alter(asked, incremental: false, validateOnly: a.validateOnly, request, node)
    }

    mutating func incrementalAlterConfigs(_ a: IncrementalAlterConfigsRequest, _ request: KafkaRequest, _ node: some AdminContext) -> [KafkaAction] {
        var asked: [ConfigRequest] = []
        var badOperation: [Int] = []
        for (k, r) in a.resources.enumerated() {
            var changes: [ConfigChange] = []
            for c in r.configs {
                guard let op = ConfigChange.Operation(rawValue: c.configOperation) else {
                    badOperation.append(k)
                    break
                }
                changes.append(ConfigChange(name: c.name, operation: op, value: c.value))
            }
            asked.append(ConfigRequest(resourceType: r.resourceType, resourceName: r.resourceName, changes: changes))
        }
        return alter(asked, incremental: true, validateOnly: a.validateOnly, request, node, badOperation: badOperation)
    }

    private mutating func alter(
        _ asked: [ConfigRequest], incremental: Bool, validateOnly: Bool, _ request: KafkaRequest, _ node: some AdminContext, badOperation: [Int] = []
    ) -> [KafkaAction] {
        var p = PendingAdmin(
            request: request, version: request.header.apiVersion, kind: .alterConfigs(incremental: incremental), topics: [],
            deadlineTick: node.ticks + node.config.ticks(milliseconds: BrokerLimits.configChangeWaitMs))
        for (k, r) in asked.enumerated() {
            func answered(_ code: ErrorCode, _ message: String?) {
                var t = PendingAdmin.Topic.answered(r.resourceName, code, message)
                t.resourceType = r.resourceType
                p.topics.append(t)
            }
            if badOperation.contains(k) {
                answered(.invalidRequest, "unknown config operation (SET 0, DELETE 1, APPEND 2, SUBTRACT 3)")
                continue
            }
            if asked[..<k].contains(where: { $0.resourceType == r.resourceType && $0.resourceName == r.resourceName }) {
                answered(.invalidRequest, "resource '\(r.resourceName)' appears twice in the request")
                continue
            }
            var names: Set<String> = []
            if let twice = r.changes.first(where: { !names.insert($0.name).inserted }) {
                answered(.invalidRequest, "config \(twice.name) appears twice for '\(r.resourceName)'")
                continue
            }
            let resource: ConfigResource
            let current: ConfigOverrides
            let key: (String) -> TopicConfigDefinition?
            switch r.resourceType {
            case ConfigDescriptions.topicResource:
                guard let topic = node.controller.topic(r.resourceName) else {
                    answered(.unknownTopicOrPartition, "topic '\(r.resourceName)' does not exist")
                    continue
                }
                (resource, current, key) = (.topic(r.resourceName), topic.configs, { TopicConfigs.definition(named: $0) })
            case ConfigDescriptions.brokerResource:
                guard r.resourceName.isEmpty else {
                    answered(.invalidRequest, "configs of one broker cannot be changed: set the cluster-wide default (a broker resource with an empty name)")
                    continue
                }
                (resource, current, key) = (.cluster, node.controller.clusterConfigs, { TopicConfigs.definition(forBrokerKey: $0) })
            default:
                answered(.invalidRequest, "resource type \(r.resourceType) is not supported (topics 2 and brokers 4 are)")
                continue
            }
            if case .failure(let e) = current.applying(r.changes, replacing: !incremental, key: key) {
                answered(e.code, e.message)
                continue
            }
            if validateOnly {
                answered(.none, nil)
                continue
            }
            var topic = PendingAdmin.Topic(name: r.resourceName, command: .alterConfigs(resource, r.changes, replacing: !incremental))
            topic.resourceType = r.resourceType
            Self.ask(&topic, node)
            p.topics.append(topic)
        }
        return wait(p, node)
    }
}
