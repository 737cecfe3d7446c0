/// OffsetCommit (key 8), v2-7: a group member commits the next offsets to read.
public struct OffsetCommitRequest: Equatable, Sendable {
    public struct Partition: Equatable, Sendable {
        public var partitionIndex: Int32
        public var committedOffset: Int64
        /// v6+; -1 unknown.
        public var committedLeaderEpoch: Int32
        public var metadata: String?
        public init(partitionIndex: Int32, committedOffset: Int64, committedLeaderEpoch: Int32 = -1, metadata: String? = nil) {
            self.partitionIndex = partitionIndex
            self.committedOffset = committedOffset
            self.committedLeaderEpoch = committedLeaderEpoch
            self.metadata = metadata
        }
    }

    public typealias Topic = TopicPartitions<Partition>

    public var groupID: String
    public var generationID: Int32
    public var memberID: String
    /// v2-4 only; -1 is the broker's default.
    public var retentionTimeMs: Int64 = -1
    public var groupInstanceID: String?
    public var topics: [Topic]

    public init(groupID: String, generationID: Int32, memberID: String, groupInstanceID: String? = nil, topics: [Topic]) {
        self.groupID = groupID
        self.generationID = generationID
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
        self.topics = topics
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> OffsetCommitRequest {
        let group = try r.string("group_id")
        let generation = try r.int32("generation_id")
        let member = try r.string("member_id")
        var req = OffsetCommitRequest(groupID: group, generationID: generation, memberID: member, topics: [])
        if version <= 4 { req.retentionTimeMs = try r.int64("retention_time_ms") }
        if version >= 7 { req.groupInstanceID = try r.nullableString("group_instance_id") }
        let partitionBytes = 4 + 8 + (version >= 6 ? 4 : 0) + 2
        req.topics = try r.topics("topics", minPartitionBytes: partitionBytes) { r throws(KafkaWireError) in
            let index = try r.int32("partition_index")
            let offset = try r.int64("committed_offset")
            let epoch = version >= 6 ? try r.int32("committed_leader_epoch") : -1
            return Partition(partitionIndex: index, committedOffset: offset, committedLeaderEpoch: epoch,
                             metadata: try r.nullableString("committed_metadata"))
        }
        return req
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.string(groupID)
        w.int32(generationID)
        w.string(memberID)
        if version <= 4 { w.int64(retentionTimeMs) }
        if version >= 7 { w.nullableString(groupInstanceID) }
        w.topics(topics) { w, p in
            w.int32(p.partitionIndex)
            w.int64(p.committedOffset)
            if version >= 6 { w.int32(p.committedLeaderEpoch) }
            w.nullableString(p.metadata)
        }
    }
}

public struct OffsetCommitResponse: Equatable, Sendable {
    public struct Partition: Equatable, Sendable {
        public var partitionIndex: Int32
        public var errorCode: Int16
        public init(partitionIndex: Int32, errorCode: ErrorCode = .none) {
            self.partitionIndex = partitionIndex
            self.errorCode = errorCode.rawValue
        }
    }

    public typealias Topic = TopicPartitions<Partition>

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic]

    public init(topics: [Topic]) { self.topics = topics }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        if version >= 3 { w.int32(throttleTimeMs) }
        w.topics(topics) { w, p in
            w.int32(p.partitionIndex)
            w.int16(p.errorCode)
        }
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> OffsetCommitResponse {
        let throttle = version >= 3 ? try r.int32("throttle_time_ms") : 0
        var out = OffsetCommitResponse(
            topics: try r.topics("topics", minPartitionBytes: 6) { r throws(KafkaWireError) in
                var p = Partition(partitionIndex: try r.int32("partition_index"))
                p.errorCode = try r.int16("error_code")
                return p
            })
        out.throttleTimeMs = throttle
        return out
    }
}
