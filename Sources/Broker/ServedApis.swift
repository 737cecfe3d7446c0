import KafkaProtocol

/// What this broker serves of the generated codec: the ApiVersions it advertises. Each range is
/// within the codec's (`ApiKey.codecVersions`) and holds only versions whose meaning the broker
/// implements end to end; docs/kafka.md's table is checked against it by a test.
public enum ServedApis {
    /// Served versions per API, in key order.
    public static let versions: [(key: ApiKey, versions: ClosedRange<Int16>)] = [
        (.produce, 3...11),
        (.fetch, 4...17),
        (.listOffsets, 1...9),
        (.metadata, 0...12),
        (.offsetCommit, 2...9),
        (.offsetFetch, 1...9),
        (.findCoordinator, 0...5),
        (.joinGroup, 0...9),
        (.heartbeat, 0...4),
        (.leaveGroup, 0...5),
        (.syncGroup, 0...5),
        (.describeGroups, 0...5),
        (.listGroups, 0...5),
        (.apiVersions, 0...4),
        (.createTopics, 2...7),
        (.deleteTopics, 1...6),
        (.deleteRecords, 0...2),
        (.initProducerID, 0...5),
        (.offsetForLeaderEpoch, 2...4),
        (.addPartitionsToTxn, 0...3),
        (.addOffsetsToTxn, 0...3),
        (.endTxn, 0...3),
        (.txnOffsetCommit, 0...3),
        (.describeConfigs, 1...4),
        (.alterConfigs, 0...2),
        (.describeLogDirs, 1...5),
        (.createPartitions, 0...3),
        (.deleteGroups, 0...2),
        (.electLeaders, 0...2),
        (.incrementalAlterConfigs, 0...1),
        (.alterPartitionReassignments, 0...0),
        (.listPartitionReassignments, 0...0),
        (.offsetDelete, 0...0),
        (.describeCluster, 0...1),
        (.unregisterBroker, 0...0),
        (.describeTransactions, 0...0),
        (.listTransactions, 0...1),
    ]

    /// The transaction APIs, served only with `NodeConfig.servesTransactions`: the classic (v1)
    /// protocol the Java 4.x client and librdkafka 2.x speak. AddPartitionsToTxn v4+ is the
    /// brokers' own verify-only form; EndTxn v5, AddOffsetsToTxn v4 and TxnOffsetCommit v4+ are
    /// `transaction.version` 2's, a feature Rill does not advertise (ApiVersions lists no features,
    /// so clients speak the classic protocol). DescribeTransactions and ListTransactions are the
    /// tools' view of the coordinator.
    public static let transactionKeys: [ApiKey] = [
        .addPartitionsToTxn, .addOffsetsToTxn, .endTxn, .txnOffsetCommit, .describeTransactions, .listTransactions,
    ]

    public static func served(_ key: ApiKey, transactions: Bool = true) -> ClosedRange<Int16>? {
        guard transactions || !transactionKeys.contains(key) else { return nil }
        return versions.first { $0.key == key }?.versions
    }

    /// The advertised minimum can be lower than the served one: Kafka 4 advertises Produce from
    /// v0 though it serves from v3, because old librdkafka versions turn compression off against a
    /// broker whose Produce minimum is above 0 (KAFKA-18659); a v0-2 request is still refused.
    static func advertisedMin(_ key: ApiKey, served: ClosedRange<Int16>) -> Int16 { key == .produce ? 0 : served.lowerBound }

    /// The ApiVersions answer, in any version (`errorCode` 35 for the v0-layout fallback).
    public static func apiVersionsResponse(errorCode: ErrorCode = .none, transactions: Bool = true) -> ApiVersionsResponse {
        let all = transactions ? versions : versions.filter { !transactionKeys.contains($0.key) }
        return ApiVersionsResponse(
            errorCode: errorCode,
            apiKeys: all.map { .init(apiKey: $0.key.rawValue, minVersion: advertisedMin($0.key, served: $0.versions), maxVersion: $0.versions.upperBound) })
    }

    /// Kafka's rule for ApiVersions v3+'s client software name and version:
    /// `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
    static func isValidSoftwareName(_ s: String) -> Bool {
        func alnum(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) }
        let b = Array(s.utf8)
        guard let first = b.first, let last = b.last, alnum(first), alnum(last) else { return false }
        return b.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }
}
