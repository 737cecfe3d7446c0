/// OffsetForLeaderEpoch (key 23), v2-3: for a leader epoch (a Raft term), the first offset after
/// it — the end offset of that epoch — so a consumer can check its position after a leader change.
public struct OffsetForLeaderEpochRequest: Equatable, Sendable {
    public struct Partition: Equatable, Sendable {
        public var partition: Int32
        public var currentLeaderEpoch: Int32
        public var leaderEpoch: Int32
        public init(partition: Int32, currentLeaderEpoch: Int32 = -1, leaderEpoch: Int32) {
            self.partition = partition
            self.currentLeaderEpoch = currentLeaderEpoch
            self.leaderEpoch = leaderEpoch
        }
    }

    public struct Topic: Equatable, Sendable {
        public var topic: String
        public var partitions: [Partition]
        public init(topic: String, partitions: [Partition]) {
            self.topic = topic
            self.partitions = partitions
        }
    }

    public var replicaID: Int32 = -1
    public var topics: [Topic]

    public init(topics: [Topic]) { self.topics = topics }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> OffsetForLeaderEpochRequest {
        var req = OffsetForLeaderEpochRequest(topics: [])
        if version >= 3 { req.replicaID = try r.int32("replica_id") }
        req.topics = try r.array("topics", minElementBytes: 6) { r throws(KafkaWireError) in
            Topic(
                topic: try r.string("topic"),
                partitions: try r.array("partitions", minElementBytes: 12) { r throws(KafkaWireError) in
                    Partition(partition: try r.int32("partition"), currentLeaderEpoch: try r.int32("current_leader_epoch"),
                              leaderEpoch: try r.int32("leader_epoch"))
                })
        }
        return req
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        if version >= 3 { w.int32(replicaID) }
        w.array(topics) { w, t in
            w.string(t.topic)
            w.array(t.partitions) { w, p in
                w.int32(p.partition)
                w.int32(p.currentLeaderEpoch)
                w.int32(p.leaderEpoch)
            }
        }
    }
}

public struct OffsetForLeaderEpochResponse: Equatable, Sendable {
    public struct Partition: Equatable, Sendable {
        public var errorCode: Int16
        public var partition: Int32
        public var leaderEpoch: Int32
        public var endOffset: Int64
        public init(errorCode: ErrorCode = .none, partition: Int32, leaderEpoch: Int32, endOffset: Int64) {
            self.errorCode = errorCode.rawValue
            self.partition = partition
            self.leaderEpoch = leaderEpoch
            self.endOffset = endOffset
        }
    }

    public struct Topic: Equatable, Sendable {
        public var topic: String
        public var partitions: [Partition]
        public init(topic: String, partitions: [Partition]) {
            self.topic = topic
            self.partitions = partitions
        }
    }

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic]

    public init(topics: [Topic]) { self.topics = topics }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.int32(throttleTimeMs)
        w.array(topics) { w, t in
            w.string(t.topic)
            w.array(t.partitions) { w, p in
                w.int16(p.errorCode)
                w.int32(p.partition)
                w.int32(p.leaderEpoch)
                w.int64(p.endOffset)
            }
        }
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> OffsetForLeaderEpochResponse {
        var out = OffsetForLeaderEpochResponse(topics: [])
        out.throttleTimeMs = try r.int32("throttle_time_ms")
        out.topics = try r.array("topics", minElementBytes: 6) { r throws(KafkaWireError) in
            Topic(
                topic: try r.string("topic"),
                partitions: try r.array("partitions", minElementBytes: 18) { r throws(KafkaWireError) in
                    let error = try r.int16("error_code")
                    var p = Partition(partition: try r.int32("partition"), leaderEpoch: try r.int32("leader_epoch"),
                                      endOffset: try r.int64("end_offset"))
                    p.errorCode = error
                    return p
                })
        }
        return out
    }
}
