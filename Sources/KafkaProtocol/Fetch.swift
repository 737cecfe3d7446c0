import NIOCore

/// Fetch (key 1), v4-11. Sessionless: the broker always answers session_id 0 and includes every
/// requested partition.
public struct FetchRequest: Equatable, Sendable {
    public struct Partition: Equatable, Sendable {
        public var partition: Int32
        /// -1: do not check (v9+).
        public var currentLeaderEpoch: Int32
        public var fetchOffset: Int64
        public var logStartOffset: Int64
        public var partitionMaxBytes: Int32
        public init(partition: Int32, currentLeaderEpoch: Int32 = -1, fetchOffset: Int64, logStartOffset: Int64 = -1,
                    partitionMaxBytes: Int32) {
            self.partition = partition
            self.currentLeaderEpoch = currentLeaderEpoch
            self.fetchOffset = fetchOffset
            self.logStartOffset = logStartOffset
            self.partitionMaxBytes = partitionMaxBytes
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

    public struct Forgotten: Equatable, Sendable {
        public var topic: String
        public var partitions: [Int32]
    }

    public var replicaID: Int32 = -1
    public var maxWaitMs: Int32
    public var minBytes: Int32
    public var maxBytes: Int32 = Int32.max
    /// 0 read_uncommitted, 1 read_committed (librdkafka's default).
    public var isolationLevel: Int8 = 0
    public var sessionID: Int32 = 0
    public var sessionEpoch: Int32 = -1
    public var topics: [Topic]
    public var forgottenTopics: [Forgotten] = []
    public var rackID: String = ""

    public init(maxWaitMs: Int32, minBytes: Int32, maxBytes: Int32 = Int32.max, topics: [Topic]) {
        self.maxWaitMs = maxWaitMs
        self.minBytes = minBytes
        self.maxBytes = maxBytes
        self.topics = topics
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> FetchRequest {
        let replica = try r.int32("replica_id")
        let wait = try r.int32("max_wait_ms")
        let minBytes = try r.int32("min_bytes")
        let maxBytes = try r.int32("max_bytes")
        let isolation = try r.int8("isolation_level")
        var req = FetchRequest(maxWaitMs: wait, minBytes: minBytes, maxBytes: maxBytes, topics: [])
        req.replicaID = replica
        req.isolationLevel = isolation
        if version >= 7 {
            req.sessionID = try r.int32("session_id")
            req.sessionEpoch = try r.int32("session_epoch")
        }
        let partitionBytes = 4 + (version >= 9 ? 4 : 0) + 8 + (version >= 5 ? 8 : 0) + 4
        req.topics = try r.array("topics", minElementBytes: 6) { r throws(KafkaWireError) in
            Topic(
                topic: try r.string("topic"),
                partitions: try r.array("partitions", minElementBytes: partitionBytes) { r throws(KafkaWireError) in
                    let partition = try r.int32("partition")
                    let epoch = version >= 9 ? try r.int32("current_leader_epoch") : -1
                    let offset = try r.int64("fetch_offset")
                    let start = version >= 5 ? try r.int64("log_start_offset") : -1
                    let max = try r.int32("partition_max_bytes")
                    return Partition(partition: partition, currentLeaderEpoch: epoch, fetchOffset: offset, logStartOffset: start,
                                     partitionMaxBytes: max)
                })
        }
        if version >= 7 {
            req.forgottenTopics = try r.array("forgotten_topics_data", minElementBytes: 6) { r throws(KafkaWireError) in
                Forgotten(
                    topic: try r.string("topic"),
                    partitions: try r.array("partitions", minElementBytes: 4) { r throws(KafkaWireError) in try r.int32() })
            }
        }
        if version >= 11 { req.rackID = try r.string("rack_id") }
        return req
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.int32(replicaID)
        w.int32(maxWaitMs)
        w.int32(minBytes)
        w.int32(maxBytes)
        w.int8(isolationLevel)
        if version >= 7 {
            w.int32(sessionID)
            w.int32(sessionEpoch)
        }
        w.array(topics) { w, t in
            w.string(t.topic)
            w.array(t.partitions) { w, p in
                w.int32(p.partition)
                if version >= 9 { w.int32(p.currentLeaderEpoch) }
                w.int64(p.fetchOffset)
                if version >= 5 { w.int64(p.logStartOffset) }
                w.int32(p.partitionMaxBytes)
            }
        }
        if version >= 7 {
            w.array(forgottenTopics) { w, f in
                w.string(f.topic)
                w.array(f.partitions) { w, p in w.int32(p) }
            }
        }
        if version >= 11 { w.string(rackID) }
    }
}

public struct FetchResponse: Equatable, Sendable {
    public struct AbortedTransaction: Equatable, Sendable {
        public var producerID: Int64
        public var firstOffset: Int64
    }

    public struct Partition: Equatable, Sendable {
        public var partitionIndex: Int32
        public var errorCode: Int16
        public var highWatermark: Int64
        /// Equals the high watermark without transactions (librdkafka reads up to it).
        public var lastStableOffset: Int64
        public var logStartOffset: Int64
        public var abortedTransactions: [AbortedTransaction]?
        public var preferredReadReplica: Int32 = -1
        /// Whole RecordBatch v2 batches, or empty.
        public var records: ByteBuffer?

        public init(partitionIndex: Int32, errorCode: ErrorCode = .none, highWatermark: Int64, lastStableOffset: Int64,
                    logStartOffset: Int64, records: ByteBuffer?) {
            self.partitionIndex = partitionIndex
            self.errorCode = errorCode.rawValue
            self.highWatermark = highWatermark
            self.lastStableOffset = lastStableOffset
            self.logStartOffset = logStartOffset
            self.abortedTransactions = nil
            self.records = records
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
    public var errorCode: Int16 = 0
    /// Always 0: sessionless.
    public var sessionID: Int32 = 0
    public var topics: [Topic]

    public init(topics: [Topic]) { self.topics = topics }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.int32(throttleTimeMs)
        if version >= 7 {
            w.int16(errorCode)
            w.int32(sessionID)
        }
        w.array(topics) { w, t in
            w.string(t.topic)
            w.array(t.partitions) { w, p in
                w.int32(p.partitionIndex)
                w.int16(p.errorCode)
                w.int64(p.highWatermark)
                w.int64(p.lastStableOffset)
                if version >= 5 { w.int64(p.logStartOffset) }
                w.nullableArray(p.abortedTransactions) { w, a in
                    w.int64(a.producerID)
                    w.int64(a.firstOffset)
                }
                if version >= 11 { w.int32(p.preferredReadReplica) }
                w.nullableBytes(p.records)
            }
        }
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> FetchResponse {
        let throttle = try r.int32("throttle_time_ms")
        var out = FetchResponse(topics: [])
        out.throttleTimeMs = throttle
        if version >= 7 {
            out.errorCode = try r.int16("error_code")
            out.sessionID = try r.int32("session_id")
        }
        out.topics = try r.array("responses", minElementBytes: 6) { r throws(KafkaWireError) in
            Topic(
                topic: try r.string("topic"),
                partitions: try r.array("partitions", minElementBytes: 34) { r throws(KafkaWireError) in
                    let index = try r.int32("partition_index")
                    let error = try r.int16("error_code")
                    let hwm = try r.int64("high_watermark")
                    let lso = try r.int64("last_stable_offset")
                    let start = version >= 5 ? try r.int64("log_start_offset") : -1
                    let aborted = try r.nullableArray("aborted_transactions", minElementBytes: 16) { r throws(KafkaWireError) in
                        AbortedTransaction(producerID: try r.int64("producer_id"), firstOffset: try r.int64("first_offset"))
                    }
                    let preferred = version >= 11 ? try r.int32("preferred_read_replica") : -1
                    var p = Partition(partitionIndex: index, highWatermark: hwm, lastStableOffset: lso, logStartOffset: start,
                                      records: try r.nullableBytes("records"))
                    p.errorCode = error
                    p.abortedTransactions = aborted
                    p.preferredReadReplica = preferred
                    return p
                })
        }
        return out
    }
}
