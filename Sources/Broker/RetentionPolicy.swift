import Primitives

/// How much of a partition's log retention keeps (Kafka's `retention.bytes` and `retention.ms`):
/// whole closed segments go once the log is over `bytes`, or once all their records are older
/// than `ms`; nil is no limit. With `segmentMs` (Kafka's `segment.ms`) the active segment is
/// closed once its first record is older, so retention by time reaches it. Storage measures a log against it (`StorageBatch.Operation
/// .measureRetention`), and the node then snapshots and drops the segments (`NodeCore.maybeCompact`).
public struct RetentionPolicy: Equatable, Sendable {
    public var bytes: Int64?
    public var ms: Int64?
    public var segmentMs: Int64?
    /// DeleteRecords' floor: whole segments below this Kafka offset go too.
    public var belowOffset: UInt64?

    public init(bytes: Int64? = nil, ms: Int64? = nil, segmentMs: Int64? = nil, belowOffset: UInt64? = nil) {
        self.bytes = bytes
        self.ms = ms
        self.segmentMs = segmentMs
        self.belowOffset = belowOffset
    }

    /// Kafka's defaults: seven days, no size limit, segments rolled after seven days.
    public static let kafkaDefault = RetentionPolicy(ms: 7 * 24 * 3600 * 1000, segmentMs: 7 * 24 * 3600 * 1000)
    public static let keepEverything = RetentionPolicy()
    /// Every closed segment goes once the partition's snapshot covers it: `__consumer_offsets`,
    /// whose snapshot holds its whole state (every group's newest offsets and membership), so
    /// what Kafka's compaction keeps of it — each key's newest record — is in the snapshot, and a
    /// follower that needs more than the log holds is sent the snapshot.
    public static let belowSnapshot = RetentionPolicy(bytes: 0)

    public var limitsAnything: Bool { bytes != nil || ms != nil || belowOffset != nil }

    /// A topic's policy as its configs say (topic, else cluster, else the defaults): none unless
    /// `cleanup.policy` includes `delete`, since time and size retention do not apply to a
    /// compact-only topic. `__consumer_offsets` is never trimmed this way: its records are the
    /// groups' committed offsets (Kafka compacts it instead).
    static func of(_ topic: TopicState, in controller: ControllerState) -> RetentionPolicy {
        guard !InternalTopic.isInternal(topic.name) else { return .keepEverything }
        guard controller.cleanupPolicy(of: topic, includes: "delete") else { return .keepEverything }
        func limit(_ name: String) -> Int64? {
            // The catalog validated every stored value; -1 (or anything negative) is no limit.
            guard let v = controller.config(name, of: topic).flatMap({ Int64($0) }), v >= 0 else { return nil }
            return v
        }
        return RetentionPolicy(bytes: limit("retention.bytes"), ms: limit("retention.ms"), segmentMs: limit("segment.ms"))
    }
}

extension ControllerState {
    /// Whether a topic's `cleanup.policy` in force (its own, else the cluster's, else Kafka's
    /// `delete`) includes `policy` (`delete` or `compact`).
    func cleanupPolicy(of topic: TopicState, includes policy: String) -> Bool {
        let cleanup = config("cleanup.policy", of: topic) ?? "delete"
        return cleanup.split(separator: ",").contains { $0.trimmingSpaces == policy }
    }
}
