import KafkaProtocol
import Primitives
import Raft

/// What Metadata and DescribeCluster read of their node.
protocol MetadataContext: NodeContext {
    /// This node's own registration (listed even before the controller committed it).
    var registration: BrokerRegistration { get }
    var defaultReplication: Int { get }
    /// The node named as controller.
    var advertisedController: NodeID { get }
    func group(_ g: GroupID) -> NodeCore.Group?
    func leaderHint(for g: GroupID) -> LeaderHint?
    /// The controller's state here is current (NodeCore+ControllerCatchUp): until then a topic
    /// it does not know may still exist.
    var controllerCaughtUp: Bool { get }
}

extension NodeCore: MetadataContext {
    /// The node named as controller: with no controller leader known (a node just restarted, or
    /// an election), this node: it takes admin requests and forwards them once it knows the
    /// leader. Naming none (-1) makes librdkafka wait for a controller until its request times out.
    var advertisedController: NodeID {
        let leader = raftOf(controllerGroup).map { $0.leader } ?? .none
        return leader.isNone ? config.id : leader
    }

    var defaultReplication: Int { min(config.defaultReplicationFactor, controller.members.count) }
}

/// Metadata (brokers, topics, partition leaders and in-sync replicas, topic auto-creation) and
/// DescribeCluster. Stateless: the controller state is replicated to every node, leaders come from
/// the groups this node replicates or from its peers' hints, and a topic to auto-create leaves as
/// an action (`TopicAutoCreation` keeps a client's polling from asking twice).
enum MetadataService {
    static func metadata(_ m: MetadataRequest, _ request: KafkaRequest, _ node: some MetadataContext) -> [KafkaAction] {
        let (response, actions) = metadata(m, version: request.header.apiVersion, node)
        return actions + [.complete(request.answer(response))]
    }

    static func metadata(_ m: MetadataRequest, version: Int16, _ node: some MetadataContext) -> (MetadataResponse, [KafkaAction]) {
        var actions: [KafkaAction] = []
        var topics: [MetadataResponse.MetadataResponseTopic] = []
        // Null asks for every topic (v1+; v0 sends an empty list for that).
        let wanted = m.topics ?? []
        if m.topics == nil || (version == 0 && wanted.isEmpty) {
            topics = node.controller.topics.map { topicMetadata($0, node) }
        }
        for t in m.topics ?? [] {
            // v10+ may name a topic by id alone.
            guard let name = t.name else {
                if let topic = node.controller.topic(id: t.topicID) {
                    topics.append(topicMetadata(topic, node))
                } else if !node.controllerCaughtUp {
                    topics.append(.init(errorCode: .leaderNotAvailable, name: nil, topicID: t.topicID))
                } else {
                    topics.append(.init(errorCode: .unknownTopicID, name: nil, topicID: t.topicID))
                }
                continue
            }
            guard let topic = node.controller.topic(name) else {
                guard node.controllerCaughtUp else {
                    // Retriable everywhere: the client asks again, by which time this node knows.
                    topics.append(.init(errorCode: .leaderNotAvailable, name: name))
                    continue
                }
                let valid = ControllerState.validateTopic(
                    name: name, partitions: node.config.defaultPartitions, replicationFactor: node.defaultReplication, members: node.controller.members.count) == nil
                if node.config.autoCreateTopics && m.allowAutoTopicCreation && valid && !InternalTopic.isInternal(name) {
                    actions.append(.autoCreateTopic(name: name, partitions: node.config.defaultPartitions, replicationFactor: node.defaultReplication))
                    topics.append(.init(errorCode: .leaderNotAvailable, name: name))
                } else {
                    topics.append(.init(errorCode: valid ? .unknownTopicOrPartition : .invalidTopic, name: name))
                }
                continue
            }
            topics.append(topicMetadata(topic, node))
        }
        let listed = brokers(node)
        let response = MetadataResponse(brokers: listed, clusterID: node.config.clusterName, controllerID: controllerID(node, listed), topics: topics)
        return (response, actions)
    }

    /// The controller named to clients: the controller leader when it is among the brokers
    /// listed, this node otherwise. Right after a cluster forms, the leader may not have
    /// registered its listener yet; naming a broker missing from the list leaves librdkafka's
    /// admin client waiting for it until its next full metadata refresh (minutes). This node
    /// takes admin requests and forwards them.
    static func controllerID(_ node: some MetadataContext, _ listed: [MetadataResponse.MetadataResponseBroker]) -> Int32 {
        let named = Int32(node.advertisedController.value)
        return listed.contains { $0.nodeID == named } ? named : Int32(node.config.id.value)
    }

    /// DescribeCluster (key 60): the brokers and controller, as Metadata has them.
    static func describeCluster(_ request: KafkaRequest, _ node: some MetadataContext) -> [KafkaAction] {
        let listed = brokers(node)
        let response = DescribeClusterResponse(
            clusterID: node.config.clusterName, controllerID: controllerID(node, listed),
            brokers: listed.map { .init(brokerID: $0.nodeID, host: $0.host, port: $0.port, rack: $0.rack) })
        return [.complete(request.answer(response))]
    }

    /// This node answers even before its registration is committed (a client that reached it must
    /// find it in the list) — unless the cluster removed it; everyone else as the controller has
    /// them.
    private static func brokers(_ node: some MetadataContext) -> [MetadataResponse.MetadataResponseBroker] {
        var registered = node.controller.brokers
        if !registered.contains(where: { $0.node == node.config.id }) && !node.controller.removedNodes.contains(node.config.id) {
            registered.append(node.registration)
            registered.sort { $0.node < $1.node }
        }
        return registered.map { MetadataResponse.MetadataResponseBroker(nodeID: Int32($0.node.value), host: $0.host, port: Int32($0.kafkaPort)) }
    }

    private static func topicMetadata(_ topic: TopicState, _ node: some MetadataContext) -> MetadataResponse.MetadataResponseTopic {
        .init(name: topic.name, topicID: topic.id, isInternal: InternalTopic.isInternal(topic.name), partitions: topic.partitions.map { partitionMetadata($0, node) })
    }

    private static func partitionMetadata(_ p: PartitionAssignment, _ node: some MetadataContext) -> MetadataResponse.MetadataResponsePartition {
        let replicas = p.replicas.map { Int32($0.value) }
        var leader = NodeID.none
        var term = Term.zero
        var isr = replicas
        if let g = node.group(p.group) {
            (leader, term) = g.withRaft { ($0.leader, $0.term) }
            if leader == node.config.id {
                // The leader knows who is caught up: replicas matching its commit index.
                let (commit, matches) = g.withRaft { r in (r.commitIndex, p.replicas.map { (id: $0, match: r.matchIndex(of: $0)) }) }
                isr = matches.filter { ($0.match ?? .zero) >= commit }.map { Int32($0.id.value) }
            }
        } else if let hint = node.leaderHint(for: p.group) {
            leader = hint.leader
            term = hint.term
        }
        if leader.isNone {
            return .init(errorCode: .leaderNotAvailable, partitionIndex: p.partition, leaderID: -1, leaderEpoch: -1,
                         replicaNodes: replicas, isrNodes: replicas)
        }
        return .init(partitionIndex: p.partition, leaderID: Int32(leader.value), leaderEpoch: Int32(truncatingIfNeeded: term.value),
                     replicaNodes: replicas, isrNodes: isr)
    }
}
