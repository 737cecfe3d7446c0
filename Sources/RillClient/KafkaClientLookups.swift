import KafkaProtocol

/// Look-ups shared by the consumer and the admin: a group's coordinator, a partition's offset
/// for a time.
extension KafkaClient {
    /// The broker coordinating `group` (FindCoordinator, retried while the cluster creates its
    /// offsets topic or elects the partition's leader).
    public func findCoordinator(group: String) async throws -> Int32 {
        var last: Error = RillClientError.timedOut("finding the coordinator of group \(group)")
        for _ in 0..<100 {
            do {
                let c = try await anyConnection()
                var r = try await c.request(.findCoordinator, version: 2, clientID: clientID) {
                    FindCoordinatorRequest(key: group).encode(&$0, version: 2)
                }
                let f = try FindCoordinatorResponse.decode(&r, version: 2)
                let code = f.errorCode
                if code == .none {
                    // The coordinator may be a broker this client has not seen in Metadata yet.
                    if metadata?.brokers.contains(where: { $0.nodeID == f.nodeID }) != true { invalidate(node: nil) }
                    return f.nodeID
                }
                guard [.coordinatorNotAvailable, .notCoordinator, .coordinatorLoadInProgress].contains(code) else {
                    throw RillClientError.kafka(code, "find the coordinator of group \(group)" + (f.errorMessage.map { " (\($0))" } ?? ""))
                }
                last = RillClientError.kafka(code, "find the coordinator of group \(group)")
            } catch let error as RillClientError {
                if case .kafka(let code, _) = error, ![.coordinatorNotAvailable, .notCoordinator, .coordinatorLoadInProgress].contains(code) { throw error }
                last = error
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw last
    }

    /// ListOffsets at the partition's leader: -2 (the earliest offset), -1 (the latest), or a
    /// time in ms (the first offset at or after it; -1 when there is none).
    public func listOffset(topic: String, partition: Int32, timestamp: Int64) async throws -> Int64 {
        let leader = try await leader(topic: topic, partition: partition)
        let c = try await connection(to: leader)
        var r = try await c.request(.listOffsets, version: 5, clientID: clientID) {
            ListOffsetsRequest(replicaID: -1, topics: [.init(name: topic, partitions: [.init(partitionIndex: partition, timestamp: timestamp)])])
                .encode(&$0, version: 5)
        }
        guard let p = try ListOffsetsResponse.decode(&r, version: 5).topics.first?.partitions.first else {
            throw RillClientError.protocolError("empty ListOffsets response")
        }
        let code = p.errorCode
        guard code == .none else { throw RillClientError.kafka(code, "list offsets of \(topic)[\(partition)]") }
        return p.offset
    }
}
