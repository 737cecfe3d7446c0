import KafkaProtocol

/// A partition's move in progress (ListPartitionReassignments).
public struct PartitionMoveStatus: Equatable, Sendable {
    public var topic: String
    public var partition: Int32
    /// Every node holding or getting a replica while the move runs.
    public var replicas: [Int32]
    public var adding: [Int32]
    public var removing: [Int32]
}

extension Admin {
    /// Move partitions to new replicas (the first is the preferred leader), or cancel a
    /// partition's move with nil (Kafka's AlterPartitionReassignments). Returns once the
    /// controller recorded the moves; the partitions' leaders then carry them out
    /// (`listPartitionMoves` shows them until they are done). Throws the first partition's error
    /// (INVALID_REPLICA_ASSIGNMENT, NO_REASSIGNMENT_IN_PROGRESS, UNKNOWN_TOPIC_OR_PARTITION).
    public func movePartitions(_ moves: [(topic: String, partition: Int32, replicas: [Int32]?)]) async throws {
        var topics: [AlterPartitionReassignmentsRequest.ReassignableTopic] = []
        for m in moves {
            let p = AlterPartitionReassignmentsRequest.ReassignablePartition(partitionIndex: m.partition, replicas: m.replicas)
            if let k = topics.firstIndex(where: { $0.name == m.topic }) { topics[k].partitions.append(p) } else { topics.append(.init(name: m.topic, partitions: [p])) }
        }
        let request = AlterPartitionReassignmentsRequest(timeoutMs: 30_000, topics: topics)
        try await controllerCall(.alterPartitionReassignments, version: 0, context: "move partitions") {
            request.encode(&$0, version: 0)
        } decode: { r throws(KafkaWireError) in
            let response = try AlterPartitionReassignmentsResponse.decode(&r, version: 0)
            if response.errorCode != .none { return (response.errorCode, response.errorMessage) }
            for t in response.responses {
                for p in t.partitions where p.errorCode != .none {
                    return (p.errorCode, "\(t.name)[\(p.partitionIndex)]: " + (p.errorMessage ?? ""))
                }
            }
            return (.none, nil)
        }
    }

    /// The moves in progress (Kafka's ListPartitionReassignments), by topic and partition.
    public func listPartitionMoves() async throws -> [PartitionMoveStatus] {
        let m = try await client.refreshMetadata()
        let node = m.controllerID >= 0 ? m.controllerID : (m.brokers.first?.nodeID ?? -1)
        guard node >= 0 else { throw RillClientError.timedOut("list partition moves: no broker known") }
        let c = try await client.connection(to: node)
        var r = try await c.request(.listPartitionReassignments, version: 0, clientID: client.clientID) {
            ListPartitionReassignmentsRequest(timeoutMs: 10_000, topics: nil).encode(&$0, version: 0)
        }
        let response = try ListPartitionReassignmentsResponse.decode(&r, version: 0)
        guard response.errorCode == .none else { throw RillClientError.kafka(response.errorCode, "list partition moves") }
        return response.topics.flatMap { t in
            t.partitions.map { PartitionMoveStatus(topic: t.name, partition: $0.partitionIndex, replicas: $0.replicas, adding: $0.addingReplicas, removing: $0.removingReplicas) }
        }.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }
}
