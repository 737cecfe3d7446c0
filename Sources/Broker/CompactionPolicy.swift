/// How a compacted topic's partitions are cleaned (Kafka's `cleanup.policy=compact` with
/// `delete.retention.ms`, `min.compaction.lag.ms`, `max.compaction.lag.ms` and
/// `min.cleanable.dirty.ratio`). Storage's `LogCleaner` applies it to each replica's log.
public struct CompactionPolicy: Equatable, Sendable {
    /// How long a tombstone stays after its segment was last written.
    public var deleteRetentionMs: Int64
    /// A segment whose newest record is younger than this is not cleaned yet (nor any after it).
    public var minLagMs: Int64
    /// A log with dirty records older than this is cleaned whatever its dirty ratio.
    public var maxLagMs: Int64
    /// Share of the cleanable bytes not cleaned yet above which the log is cleaned.
    public var minDirtyRatio: Double

    public init(deleteRetentionMs: Int64 = 86_400_000, minLagMs: Int64 = 0, maxLagMs: Int64 = .max, minDirtyRatio: Double = 0.5) {
        self.deleteRetentionMs = deleteRetentionMs
        self.minLagMs = minLagMs
        self.maxLagMs = maxLagMs
        self.minDirtyRatio = minDirtyRatio
    }

    /// A topic's policy as its configs say (topic, else cluster, else Kafka's defaults); nil
    /// unless `cleanup.policy` includes `compact`.
    static func of(_ topic: TopicState, in controller: ControllerState) -> CompactionPolicy? {
        guard controller.cleanupPolicy(of: topic, includes: "compact") else { return nil }
        // The catalog validated every stored value.
        func long(_ name: String, _ fallback: Int64) -> Int64 { controller.config(name, of: topic).flatMap { Int64($0) } ?? fallback }
        return CompactionPolicy(
            deleteRetentionMs: long("delete.retention.ms", 86_400_000), minLagMs: long("min.compaction.lag.ms", 0),
            maxLagMs: long("max.compaction.lag.ms", .max),
            minDirtyRatio: controller.config("min.cleanable.dirty.ratio", of: topic).flatMap { Double($0) } ?? 0.5)
    }
}
