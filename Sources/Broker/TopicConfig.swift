/// Kafka's config types, as DescribeConfigs v3+ reports them.
public enum ConfigType: Int8, Sendable {
    case unknown = 0, boolean, string, int, short, long, double, list, className, password
}

/// Where a config's value comes from, as DescribeConfigs v1+ reports it.
public enum ConfigSource: Int8, Sendable {
    case unknown = 0
    case topic = 1
    case dynamicBroker = 2
    /// A cluster-wide default set at runtime (a broker resource with an empty name).
    case dynamicDefaultBroker = 3
    case staticBroker = 4
    case defaultConfig = 5
}

/// One topic-level config Rill knows: its Kafka name, type, the value a topic has when nothing is
/// set, the broker-level key that sets it cluster-wide, and what Rill accepts.
///
/// Every standard Kafka topic config is listed (Spring Kafka's admin and Kafka Streams read them
/// all and fail on a missing key). What Rill acts on can be set; the others keep their value, and
/// a request to change them is refused with INVALID_CONFIG and the reason: a value accepted and
/// then ignored would be a lie to the application.
public struct TopicConfigDefinition: Sendable {
    public enum Acceptance: Sendable {
        /// Rill acts on any valid value.
        case honoured
        /// Stored and described, with Rill's behaviour fixed (the reason says how).
        case described(String)
        /// Only the listed values (Rill's behaviour); any other is refused with the reason.
        case only([String], String)
    }

    public let name: String
    public let type: ConfigType
    /// The value when neither the topic nor the cluster sets one: Kafka's default where Rill
    /// behaves as Kafka does, else what Rill does.
    public let defaultValue: String
    /// The broker-level key that sets it cluster-wide (`log.retention.ms` for `retention.ms`).
    public let brokerKey: String
    public let acceptance: Acceptance
    public let documentation: String
    /// Nil when `value` is well-formed for this config, else why not.
    let check: @Sendable (String) -> String?

    /// Nil when a topic may have `value`, else the INVALID_CONFIG message.
    public func problem(with value: String) -> String? {
        if let bad = check(value) { return "invalid value '\(value)' for \(name): \(bad)" }
        switch acceptance {
        case .honoured, .described: return nil
        case .only(let values, let why):
            return values.contains(value) ? nil : "\(name)=\(value) is not supported: \(why)"
        }
    }
}

/// The catalog of topic configs (Kafka 4.x names and defaults, `LogConfig`).
public enum TopicConfigs {
    public static let all: [TopicConfigDefinition] = [
        .init(name: "cleanup.policy", type: .list, defaultValue: "delete", brokerKey: "log.cleanup.policy", acceptance: .honoured,
              documentation: "delete, compact, or both (comma-separated): how old segments are removed.",
              check: list(of: ["compact", "delete"])),
        .init(name: "compression.type", type: .string, defaultValue: "producer", brokerKey: "compression.type",
              acceptance: .only(["producer"], "batches are stored as the producer compressed them; Rill does not recompress"),
              documentation: "The compression of stored batches; producer keeps the producer's.",
              check: oneOf(["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"])),
        .init(name: "delete.retention.ms", type: .long, defaultValue: "86400000", brokerKey: "log.cleaner.delete.retention.ms", acceptance: .honoured,
              documentation: "How long tombstones stay readable on a compacted topic.", check: long(0...)),
        .init(name: "file.delete.delay.ms", type: .long, defaultValue: "60000", brokerKey: "log.segment.delete.delay.ms",
              acceptance: .described("segments are removed at once"), documentation: "Delay before a deleted segment's file is removed.", check: long(0...)),
        .init(name: "flush.messages", type: .long, defaultValue: "1", brokerKey: "log.flush.interval.messages",
              acceptance: .only(["1"], "Rill makes every acknowledged write durable (fsync) before answering"),
              documentation: "Writes between fsyncs: Rill syncs every write it acknowledges.", check: long(1...)),
        .init(name: "flush.ms", type: .long, defaultValue: "0", brokerKey: "log.flush.interval.ms",
              acceptance: .only(["0"], "Rill makes every acknowledged write durable (fsync) before answering"),
              documentation: "Time between fsyncs: Rill syncs every write it acknowledges.", check: long(0...)),
        .init(name: "index.interval.bytes", type: .int, defaultValue: "4096", brokerKey: "log.index.interval.bytes",
              acceptance: .described("Rill indexes every batch in memory"), documentation: "Bytes between offset index entries.", check: long(0...Int64(Int32.max))),
        .init(name: "local.retention.bytes", type: .long, defaultValue: "-2", brokerKey: "log.local.retention.bytes",
              acceptance: .only(["-2"], "Rill has no tiered storage"), documentation: "Tiered storage: local retention by size.", check: long(Int64(-2)...)),
        .init(name: "local.retention.ms", type: .long, defaultValue: "-2", brokerKey: "log.local.retention.ms",
              acceptance: .only(["-2"], "Rill has no tiered storage"), documentation: "Tiered storage: local retention by time.", check: long(Int64(-2)...)),
        .init(name: "max.compaction.lag.ms", type: .long, defaultValue: "9223372036854775807", brokerKey: "log.cleaner.max.compaction.lag.ms",
              acceptance: .honoured, documentation: "Longest time a record may stay uncompacted.", check: long(1...)),
        .init(name: "max.message.bytes", type: .int, defaultValue: "1048588", brokerKey: "message.max.bytes", acceptance: .honoured,
              documentation: "Largest record batch a producer may write (MESSAGE_TOO_LARGE above it).",
              check: long(0...Int64(BrokerLimits.batchBytesConfigMax))),
        .init(name: "message.timestamp.after.max.ms", type: .long, defaultValue: "9223372036854775807", brokerKey: "log.message.timestamp.after.max.ms",
              acceptance: .only(["9223372036854775807"], "Rill does not check record timestamps against a clock"),
              documentation: "How far in the future a CreateTime timestamp may be.", check: long(0...)),
        .init(name: "message.timestamp.before.max.ms", type: .long, defaultValue: "9223372036854775807", brokerKey: "log.message.timestamp.before.max.ms",
              acceptance: .only(["9223372036854775807"], "Rill does not check record timestamps against a clock"),
              documentation: "How far in the past a CreateTime timestamp may be.", check: long(0...)),
        .init(name: "message.timestamp.type", type: .string, defaultValue: "CreateTime", brokerKey: "log.message.timestamp.type",
              acceptance: .honoured,
              documentation: "CreateTime (the producer's) or LogAppendTime (the broker's).", check: oneOf(["CreateTime", "LogAppendTime"])),
        .init(name: "min.cleanable.dirty.ratio", type: .double, defaultValue: "0.5", brokerKey: "log.cleaner.min.cleanable.ratio", acceptance: .honoured,
              documentation: "Share of a compacted log not yet cleaned before the cleaner takes it.", check: ratio),
        .init(name: "min.compaction.lag.ms", type: .long, defaultValue: "0", brokerKey: "log.cleaner.min.compaction.lag.ms", acceptance: .honoured,
              documentation: "Youngest a record may be and still be compacted.", check: long(0...)),
        .init(name: "min.insync.replicas", type: .int, defaultValue: "1", brokerKey: "min.insync.replicas",
              acceptance: .described("an acks=all write is committed by a Raft majority of the replicas, whatever this says"),
              documentation: "Kafka: replicas an acks=all write needs. Rill: a Raft majority always.", check: long(1...Int64(Int32.max))),
        .init(name: "preallocate", type: .boolean, defaultValue: "false", brokerKey: "log.preallocate",
              acceptance: .only(["false"], "segments are not preallocated"), documentation: "Preallocate segment files.", check: oneOf(["true", "false"])),
        .init(name: "remote.storage.enable", type: .boolean, defaultValue: "false", brokerKey: "remote.log.storage.system.enable",
              acceptance: .only(["false"], "Rill has no tiered storage"), documentation: "Tiered storage for this topic.", check: oneOf(["true", "false"])),
        .init(name: "retention.bytes", type: .long, defaultValue: "-1", brokerKey: "log.retention.bytes", acceptance: .honoured,
              documentation: "Largest a partition may grow before its oldest closed segments go; -1 = no limit.", check: long(Int64(-1)...)),
        .init(name: "retention.ms", type: .long, defaultValue: "604800000", brokerKey: "log.retention.ms", acceptance: .honoured,
              documentation: "Oldest a closed segment's newest record may get before the segment goes; -1 = forever.", check: long(Int64(-1)...)),
        .init(name: "segment.bytes", type: .int, defaultValue: "67108864", brokerKey: "log.segment.bytes", acceptance: .honoured,
              documentation: "Size at which a log segment closes and a new one starts (at least 1 MiB, as in Kafka 4).",
              check: long(1_048_576...Int64(Int32.max))),
        .init(name: "segment.index.bytes", type: .int, defaultValue: "10485760", brokerKey: "log.index.size.max.bytes",
              acceptance: .described("Rill keeps its index in memory"), documentation: "Size of a segment's offset index.", check: long(4...Int64(Int32.max))),
        .init(name: "segment.jitter.ms", type: .long, defaultValue: "0", brokerKey: "log.roll.jitter.ms",
              acceptance: .only(["0"], "segments roll without jitter"), documentation: "Random jitter on segment.ms.", check: long(0...)),
        .init(name: "segment.ms", type: .long, defaultValue: "604800000", brokerKey: "log.roll.ms", acceptance: .honoured,
              documentation: "Age at which the active segment closes (checked with retention).", check: long(1...)),
        .init(name: "unclean.leader.election.enable", type: .boolean, defaultValue: "false", brokerKey: "unclean.leader.election.enable",
              acceptance: .only(["false"], "a Raft leader always holds every committed record"),
              documentation: "Let an out-of-sync replica lead (loses data).", check: oneOf(["true", "false"])),
    ]

    public static func definition(named name: String) -> TopicConfigDefinition? { all.first { $0.name == name } }

    /// The topic config a broker-level key sets cluster-wide.
    public static func definition(forBrokerKey brokerKey: String) -> TopicConfigDefinition? { all.first { $0.brokerKey == brokerKey } }

    // MARK: - Value checks

    static func long(_ range: PartialRangeFrom<Int64>) -> @Sendable (String) -> String? {
        { v in
            guard let n = Int64(v) else { return "not a whole number" }
            return n < range.lowerBound ? "must be at least \(range.lowerBound)" : nil
        }
    }

    static func long(_ range: ClosedRange<Int64>) -> @Sendable (String) -> String? {
        { v in
            guard let n = Int64(v) else { return "not a whole number" }
            return range.contains(n) ? nil : "must be \(range.lowerBound) to \(range.upperBound)"
        }
    }

    static func oneOf(_ values: [String]) -> @Sendable (String) -> String? {
        { v in values.contains(v) ? nil : "must be one of \(values.joined(separator: ", "))" }
    }

    static func list(of values: [String]) -> @Sendable (String) -> String? {
        { v in
            let items = v.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
            guard !items.isEmpty, items.allSatisfy({ values.contains($0) }) else { return "a comma-separated list of \(values.joined(separator: ", "))" }
            return Set(items).count == items.count ? nil : "a value is listed twice"
        }
    }

    static let ratio: @Sendable (String) -> String? = { v in
        guard let d = Double(v), d.isFinite else { return "not a number" }
        return d >= 0 && d <= 1 ? nil : "must be 0 to 1"
    }
}

extension Substring {
    var trimmingSpaces: String {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
