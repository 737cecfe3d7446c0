/// ListOffsets (key 2), v1-5. Timestamp -1: the latest offset (the high watermark, which is also
/// the last stable offset without transactions); -2: the log start offset; ≥ 0: the first offset
/// whose timestamp is at or after it.
public struct ListOffsetsRequest: Equatable, Sendable {
    public static let latest: Int64 = -1
    public static let earliest: Int64 = -2

    public struct Partition: Equatable, Sendable {
        public var partitionIndex: Int32
        public var currentLeaderEpoch: Int32
        public var timestamp: Int64
        public init(partitionIndex: Int32, currentLeaderEpoch: Int32 = -1, timestamp: Int64) {
            self.partitionIndex = partitionIndex
            self.currentLeaderEpoch = currentLeaderEpoch
            self.timestamp = timestamp
        }
    }

    public typealias Topic = TopicPartitions<Partition>

    public var replicaID: Int32 = -1
    public var isolationLevel: Int8 = 0
    public var topics: [Topic]

    public init(topics: [Topic]) { self.topics = topics }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> ListOffsetsRequest {
        var req = ListOffsetsRequest(topics: [])
        req.replicaID = try r.int32("replica_id")
        if version >= 2 { req.isolationLevel = try r.int8("isolation_level") }
        let partitionBytes = version >= 4 ? 16 : 12
        req.topics = try r.topics("topics", minPartitionBytes: partitionBytes) { r throws(KafkaWireError) in
            let index = try r.int32("partition_index")
            let epoch = version >= 4 ? try r.int32("current_leader_epoch") : -1
            return Partition(partitionIndex: index, currentLeaderEpoch: epoch, timestamp: try r.int64("timestamp"))
        }
        return req
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.int32(replicaID)
        if version >= 2 { w.int8(isolationLevel) }
        w.topics(topics) { w, p in
            w.int32(p.partitionIndex)
            if version >= 4 { w.int32(p.currentLeaderEpoch) }
            w.int64(p.timestamp)
        }
    }
}

public struct ListOffsetsResponse: Equatable, Sendable {
    public struct Partition: Equatable, Sendable {
        public var partitionIndex: Int32
        public var errorCode: Int16
        public var timestamp: Int64
        public var offset: Int64
        public var leaderEpoch: Int32
        public init(partitionIndex: Int32, errorCode: ErrorCode = .none, timestamp: Int64 = -1, offset: Int64 = -1,
                    leaderEpoch: Int32 = -1) {
            self.partitionIndex = partitionIndex
            self.errorCode = errorCode.rawValue
            self.timestamp = timestamp
            self.offset = offset
            self.leaderEpoch = leaderEpoch
        }
    }

    public typealias Topic = TopicPartitions<Partition>

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic]

    public init(topics: [Topic]) { self.topics = topics }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        if version >= 2 { w.int32(throttleTimeMs) }
        w.topics(topics) { w, p in
            w.int32(p.partitionIndex)
            w.int16(p.errorCode)
            w.int64(p.timestamp)
            w.int64(p.offset)
            if version >= 4 { w.int32(p.leaderEpoch) }
        }
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> ListOffsetsResponse {
        var out = ListOffsetsResponse(topics: [])
        if version >= 2 { out.throttleTimeMs = try r.int32("throttle_time_ms") }
        out.topics = try r.topics("topics", minPartitionBytes: 22) { r throws(KafkaWireError) in
            var p = Partition(partitionIndex: try r.int32("partition_index"))
            p.errorCode = try r.int16("error_code")
            p.timestamp = try r.int64("timestamp")
            p.offset = try r.int64("offset")
            if version >= 4 { p.leaderEpoch = try r.int32("leader_epoch") }
            return p
        }
        return out
    }
}
