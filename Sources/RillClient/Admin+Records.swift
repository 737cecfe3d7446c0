import KafkaProtocol

extension Admin {
    /// Delete a partition's records below `offset` (Kafka's DeleteRecords; -1: every record up to
    /// the high watermark) and return its new log start offset. Sent to the partition's leader,
    /// retried while leadership moves; throws the broker's error otherwise (OFFSET_OUT_OF_RANGE
    /// past the high watermark, POLICY_VIOLATION on a compact-only topic, UNKNOWN_TOPIC_OR_PARTITION).
    public func deleteRecords(topic: String, partition: Int32, before offset: Int64) async throws -> Int64 {
        let context = "delete records of \(topic)[\(partition)]"
        let retriable: [ErrorCode] = [.notLeaderOrFollower, .leaderNotAvailable, .requestTimedOut]
        var last: Error = RillClientError.timedOut(context)
        for _ in 0..<50 {
            // Not `client.leader`: that creates a topic it does not find.
            let m = try await client.refreshMetadata(topics: [topic])
            guard let t = m.topics.first(where: { $0.name == topic }), t.errorCode != .unknownTopicOrPartition,
                  let p = t.partitions.first(where: { $0.partitionIndex == partition }) else {
                throw RillClientError.kafka(.unknownTopicOrPartition, context)
            }
            if p.leaderID >= 0 {
                do {
                    let c = try await client.connection(to: p.leaderID)
                    var r = try await c.request(.deleteRecords, version: 2, clientID: client.clientID) {
                        DeleteRecordsRequest(topics: [.init(name: topic, partitions: [.init(partitionIndex: partition, offset: offset)])], timeoutMs: 10_000)
                            .encode(&$0, version: 2)
                    }
                    guard let answer = try DeleteRecordsResponse.decode(&r, version: 2).topics.first?.partitions.first else {
                        throw RillClientError.protocolError("empty DeleteRecords response")
                    }
                    let code = answer.errorCode
                    if code == .none { return answer.lowWatermark }
                    guard retriable.contains(code) else { throw RillClientError.kafka(code, context) }
                    last = RillClientError.kafka(code, context)
                } catch let error as RillClientError {
                    if case .kafka(let code, _) = error, !retriable.contains(code) { throw error }
                    last = error
                }
                await client.invalidate(node: p.leaderID)
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw last
    }
}
