import KafkaProtocol
import Primitives
import Raft

/// Where a coordinator key lives: a consumer group's id (key type 0) in a partition of
/// `__consumer_offsets`, a transactional id (key type 1) in one of `__transaction_state`, each by
/// Kafka's hash of the key over the topic's partitions; its coordinator is that partition's Raft
/// leader. FindCoordinator answers from here, and both coordinators look up their keys here.
enum CoordinatorPlacement {
    /// Kafka's `abs(key.hashCode) % partitions`, with Java's String.hashCode over UTF-16.
    static func partition(of key: String, partitions: Int32) -> Int32 {
        var h: Int32 = 0
        for unit in key.utf16 { h = h &* 31 &+ Int32(unit) }
        return (h & 0x7fff_ffff) % partitions
    }

    /// The partition of `topic` holding `key` (nil until the topic exists).
    static func assignment(of key: String, in topic: InternalTopic, _ node: some NodeContext) -> PartitionAssignment? {
        guard let t = node.controller.topic(topic.name), !t.partitions.isEmpty else { return nil }
        let p = partition(of: key, partitions: Int32(t.partitions.count))
        return t.partitions.first { $0.partition == p }
    }

    /// Create `topic` the first time a key needs it (nothing once it exists).
    static func creation(of topic: InternalTopic, _ node: some NodeContext) -> [KafkaAction] {
        guard node.controller.topic(topic.name) == nil else { return [] }
        let (partitions, replication) = switch topic {
        case .consumerOffsets: (node.config.offsetsPartitions, node.config.offsetsReplicationFactor)
        case .transactionState: (node.config.transactionStatePartitions, node.config.transactionStateReplicationFactor)
        }
        return [.autoCreateTopic(name: topic.name, partitions: partitions, replicationFactor: min(replication, node.controller.members.count))]
    }

    /// FindCoordinator: one key (v0-3) or several (v4+, KIP-699), each answered on its own.
    static func findCoordinator(_ f: FindCoordinatorRequest, _ request: KafkaRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        var actions: [KafkaAction] = []
        let response: FindCoordinatorResponse
        if request.header.apiVersion >= 4 {
            response = FindCoordinatorResponse(coordinators: f.coordinatorKeys.map { coordinator(for: $0, keyType: f.keyType, node, &actions) })
        } else {
            let c = coordinator(for: f.key, keyType: f.keyType, node, &actions)
            response = FindCoordinatorResponse(errorCode: c.errorCode, errorMessage: c.errorMessage, nodeID: c.nodeID, host: c.host, port: c.port)
        }
        actions.append(.complete(request.answer(response)))
        return actions
    }

    private static func coordinator(
        for key: String, keyType: Int8, _ node: some CoordinatorContext, _ actions: inout [KafkaAction]
    ) -> FindCoordinatorResponse.Coordinator {
        func fail(_ e: ErrorCode, _ message: String) -> FindCoordinatorResponse.Coordinator {
            .init(key: key, nodeID: -1, host: "", port: -1, errorCode: e, errorMessage: message)
        }
        let topic: InternalTopic
        switch keyType {
        case 0:
            guard !key.isEmpty else { return fail(.invalidGroupID, "empty group id") }
            topic = .consumerOffsets
        case 1 where node.config.servesTransactions:
            guard !key.isEmpty else { return fail(.invalidRequest, "empty transactional id") }
            topic = .transactionState
        case 1:
            // COORDINATOR_NOT_AVAILABLE would be retriable: the Java client's initTransactions()
            // then retried for its whole 60 s max.block.ms and failed with "did not complete
            // coordinator discovery". A non-retriable error ends it at once, and the Java client
            // puts this message in its exception.
            return fail(
                .unsupportedVersion,
                "Rill does not support transactions yet (transactional.id '\(LogText.safe(String(key.prefix(200))))'): use an idempotent producer without transactional.id")
        default:
            return fail(.unsupportedVersion, "coordinator key type \(keyType) is not supported")
        }
        guard let a = assignment(of: key, in: topic, node) else {
            actions += creation(of: topic, node)
            return fail(.coordinatorNotAvailable, "\(topic.name) is being created")
        }
        var leader = NodeID.none
        if let g = node.group(a.group) {
            leader = g.withRaft { $0.leader }
        } else if let hint = node.leaderHint(for: a.group) {
            leader = hint.leader
        }
        guard !leader.isNone, let b = node.controller.brokers.first(where: { $0.node == leader }) else {
            return fail(.coordinatorNotAvailable, "the key's partition of \(topic.name) has no leader yet")
        }
        return .init(key: key, nodeID: Int32(b.node.value), host: b.host, port: Int32(b.kafkaPort))
    }
}
