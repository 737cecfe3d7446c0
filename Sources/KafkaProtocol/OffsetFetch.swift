/// OffsetFetch (key 9), v1-5: a group's committed offsets. No committed offset: -1, metadata "",
/// error NONE (the client then applies its `auto.offset.reset`).
public struct OffsetFetchRequest: Equatable, Sendable {
    public struct Topic: Equatable, Sendable {
        public var name: String
        public var partitionIndexes: [Int32]
        public init(name: String, partitionIndexes: [Int32]) {
            self.name = name
            self.partitionIndexes = partitionIndexes
        }
    }

    public var groupID: String
    /// nil: every topic the group committed (v2+).
    public var topics: [Topic]?

    public init(groupID: String, topics: [Topic]?) {
        self.groupID = groupID
        self.topics = topics
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> OffsetFetchRequest {
        let group = try r.string("group_id")
        let topics = try r.nullableArray("topics", minElementBytes: 6) { r throws(KafkaWireError) in
            Topic(name: try r.string("name"),
                  partitionIndexes: try r.array("partition_indexes", minElementBytes: 4) { r throws(KafkaWireError) in try r.int32() })
        }
        if topics == nil && version < 2 { throw .invalid("OffsetFetch v\(version) topics is null") }
        return OffsetFetchRequest(groupID: group, topics: topics)
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.string(groupID)
        w.nullableArray(topics) { w, t in
            w.string(t.name)
            w.array(t.partitionIndexes) { w, p in w.int32(p) }
        }
    }
}

public struct OffsetFetchResponse: Equatable, Sendable {
    public struct Partition: Equatable, Sendable {
        public var partitionIndex: Int32
        public var committedOffset: Int64
        public var committedLeaderEpoch: Int32
        public var metadata: String?
        public var errorCode: Int16
        public init(partitionIndex: Int32, committedOffset: Int64, committedLeaderEpoch: Int32 = -1, metadata: String? = "",
                    errorCode: ErrorCode = .none) {
            self.partitionIndex = partitionIndex
            self.committedOffset = committedOffset
            self.committedLeaderEpoch = committedLeaderEpoch
            self.metadata = metadata
            self.errorCode = errorCode.rawValue
        }
    }

    public typealias Topic = TopicPartitions<Partition>

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic]
    /// v2+.
    public var errorCode: Int16 = 0

    public init(topics: [Topic]) { self.topics = topics }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        if version >= 3 { w.int32(throttleTimeMs) }
        w.topics(topics) { w, p in
            w.int32(p.partitionIndex)
            w.int64(p.committedOffset)
            if version >= 5 { w.int32(p.committedLeaderEpoch) }
            w.nullableString(p.metadata)
            w.int16(p.errorCode)
        }
        if version >= 2 { w.int16(errorCode) }
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> OffsetFetchResponse {
        let throttle = version >= 3 ? try r.int32("throttle_time_ms") : 0
        var out = OffsetFetchResponse(
            topics: try r.topics("topics", minPartitionBytes: 16) { r throws(KafkaWireError) in
                let index = try r.int32("partition_index")
                let offset = try r.int64("committed_offset")
                let epoch = version >= 5 ? try r.int32("committed_leader_epoch") : -1
                var p = Partition(partitionIndex: index, committedOffset: offset, committedLeaderEpoch: epoch,
                                  metadata: try r.nullableString("metadata"))
                p.errorCode = try r.int16("error_code")
                return p
            })
        out.throttleTimeMs = throttle
        if version >= 2 { out.errorCode = try r.int16("error_code") }
        return out
    }
}
