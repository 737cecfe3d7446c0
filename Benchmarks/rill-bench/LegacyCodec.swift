// The Produce and Fetch codecs as they were hand-written before the schema (commit 3ce54da),
// kept only as the benchmark's baseline: `rill-bench codec` runs them and the generated codecs
// on the same messages in the same run. Types renamed with a `Legacy` prefix; nothing else uses
// them.
import KafkaProtocol
import NIOCore

/// The shape most Kafka APIs share: per topic name, a list of per-partition entries.
struct LegacyTopicPartitions<Partition: Equatable & Sendable>: Equatable, Sendable {
    var name: String
    var partitions: [Partition]

    init(name: String, partitions: [Partition]) {
        self.name = name
        self.partitions = partitions
    }
}

extension KafkaWriter {
    /// `[name, [partition]]`.
    mutating func legacyTopics<P>(_ topics: [LegacyTopicPartitions<P>], _ partition: (inout KafkaWriter, P) -> Void) {
        array(topics) { w, t in
            w.string(t.name)
            w.array(t.partitions, partition)
        }
    }
}

extension KafkaReader {
    /// `[name, [partition]]`; `minPartitionBytes` bounds the partition count by the bytes left.
    mutating func legacyTopics<P>(
        _ field: String, minPartitionBytes: Int, _ partition: (inout KafkaReader) throws(KafkaWireError) -> P
    ) throws(KafkaWireError) -> [LegacyTopicPartitions<P>] {
        try array(field, minElementBytes: 6) { r throws(KafkaWireError) in
            LegacyTopicPartitions(name: try r.string("\(field) name"), partitions: try r.array("partitions", minElementBytes: minPartitionBytes, partition))
        }
    }
}


/// Produce (key 0), v3-8. Records stay a slice of the request buffer (one or more RecordBatch v2,
/// validated by `RecordBatch`), never decompressed.
struct LegacyProduceRequest: Equatable, Sendable {
    struct Partition: Equatable, Sendable {
        var index: Int32
        var records: ByteBuffer?
        init(index: Int32, records: ByteBuffer?) {
            self.index = index
            self.records = records
        }
    }

    typealias Topic = LegacyTopicPartitions<Partition>

    var transactionalID: String?
    /// -1 (all), 0 or 1; anything else is INVALID_REQUIRED_ACKS.
    var acks: Int16
    var timeoutMs: Int32
    var topics: [Topic]

    init(transactionalID: String? = nil, acks: Int16, timeoutMs: Int32, topics: [Topic]) {
        self.transactionalID = transactionalID
        self.acks = acks
        self.timeoutMs = timeoutMs
        self.topics = topics
    }

    static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> LegacyProduceRequest {
        let txn = try r.nullableString("transactional_id")
        let acks = try r.int16("acks")
        let timeout = try r.int32("timeout_ms")
        let topics = try r.legacyTopics("topic_data", minPartitionBytes: 8) { r throws(KafkaWireError) in
            Partition(index: try r.int32("partition index"), records: try r.nullableBytes("records"))
        }
        return LegacyProduceRequest(transactionalID: txn, acks: acks, timeoutMs: timeout, topics: topics)
    }

    func encode(_ w: inout KafkaWriter, version: Int16) {
        w.nullableString(transactionalID)
        w.int16(acks)
        w.int32(timeoutMs)
        w.legacyTopics(topics) { w, p in
            w.int32(p.index)
            w.nullableBytes(p.records)
        }
    }
}

struct LegacyProduceResponse: Equatable, Sendable {
    struct RecordError: Equatable, Sendable {
        var batchIndex: Int32
        var message: String?
    }

    struct Partition: Equatable, Sendable {
        var index: Int32
        var errorCode: Int16
        var baseOffset: Int64
        /// -1 with CreateTime topics.
        var logAppendTimeMs: Int64
        var logStartOffset: Int64
        var recordErrors: [RecordError]
        var errorMessage: String?

        init(index: Int32, errorCode: ErrorCode, baseOffset: Int64 = -1, logAppendTimeMs: Int64 = -1,
                    logStartOffset: Int64 = -1, errorMessage: String? = nil) {
            self.index = index
            self.errorCode = errorCode.rawValue
            self.baseOffset = baseOffset
            self.logAppendTimeMs = logAppendTimeMs
            self.logStartOffset = logStartOffset
            self.recordErrors = []
            self.errorMessage = errorMessage
        }
    }

    typealias Topic = LegacyTopicPartitions<Partition>

    var topics: [Topic]
    var throttleTimeMs: Int32 = 0

    init(topics: [Topic]) { self.topics = topics }

    func encode(_ w: inout KafkaWriter, version: Int16) {
        w.legacyTopics(topics) { w, p in
            w.int32(p.index)
            w.int16(p.errorCode)
            w.int64(p.baseOffset)
            w.int64(p.logAppendTimeMs)  // v2+
            if version >= 5 { w.int64(p.logStartOffset) }
            if version >= 8 {
                w.array(p.recordErrors) { w, e in
                    w.int32(e.batchIndex)
                    w.nullableString(e.message)
                }
                w.nullableString(p.errorMessage)
            }
        }
        // The field-order trap: throttle_time_ms comes after the responses in Produce.
        w.int32(throttleTimeMs)
    }

    static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> LegacyProduceResponse {
        let topics = try r.legacyTopics("responses", minPartitionBytes: 22) { r throws(KafkaWireError) in
            var p = Partition(index: try r.int32("index"), errorCode: .none)
            p.errorCode = try r.int16("error_code")
            p.baseOffset = try r.int64("base_offset")
            p.logAppendTimeMs = try r.int64("log_append_time_ms")
            if version >= 5 { p.logStartOffset = try r.int64("log_start_offset") }
            if version >= 8 {
                p.recordErrors = try r.array("record_errors", minElementBytes: 6) { r throws(KafkaWireError) in
                    RecordError(batchIndex: try r.int32("batch_index"), message: try r.nullableString("message"))
                }
                p.errorMessage = try r.nullableString("error_message")
            }
            return p
        }
        var out = LegacyProduceResponse(topics: topics)
        out.throttleTimeMs = try r.int32("throttle_time_ms")
        return out
    }
}


/// Fetch (key 1), v4-11. Sessionless: the broker always answers session_id 0 and includes every
/// requested partition.
struct LegacyFetchRequest: Equatable, Sendable {
    struct Partition: Equatable, Sendable {
        var partition: Int32
        /// -1: do not check (v9+).
        var currentLeaderEpoch: Int32
        var fetchOffset: Int64
        var logStartOffset: Int64
        var partitionMaxBytes: Int32
        init(partition: Int32, currentLeaderEpoch: Int32 = -1, fetchOffset: Int64, logStartOffset: Int64 = -1,
                    partitionMaxBytes: Int32) {
            self.partition = partition
            self.currentLeaderEpoch = currentLeaderEpoch
            self.fetchOffset = fetchOffset
            self.logStartOffset = logStartOffset
            self.partitionMaxBytes = partitionMaxBytes
        }
    }

    struct Topic: Equatable, Sendable {
        var topic: String
        var partitions: [Partition]
        init(topic: String, partitions: [Partition]) {
            self.topic = topic
            self.partitions = partitions
        }
    }

    struct Forgotten: Equatable, Sendable {
        var topic: String
        var partitions: [Int32]
    }

    var replicaID: Int32 = -1
    var maxWaitMs: Int32
    var minBytes: Int32
    var maxBytes: Int32 = Int32.max
    /// 0 read_uncommitted, 1 read_committed (librdkafka's default).
    var isolationLevel: Int8 = 0
    var sessionID: Int32 = 0
    var sessionEpoch: Int32 = -1
    var topics: [Topic]
    var forgottenTopics: [Forgotten] = []
    var rackID: String = ""

    init(maxWaitMs: Int32, minBytes: Int32, maxBytes: Int32 = Int32.max, topics: [Topic]) {
        self.maxWaitMs = maxWaitMs
        self.minBytes = minBytes
        self.maxBytes = maxBytes
        self.topics = topics
    }

    static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> LegacyFetchRequest {
        let replica = try r.int32("replica_id")
        let wait = try r.int32("max_wait_ms")
        let minBytes = try r.int32("min_bytes")
        let maxBytes = try r.int32("max_bytes")
        let isolation = try r.int8("isolation_level")
        var req = LegacyFetchRequest(maxWaitMs: wait, minBytes: minBytes, maxBytes: maxBytes, topics: [])
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

    func encode(_ w: inout KafkaWriter, version: Int16) {
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

struct LegacyFetchResponse: Equatable, Sendable {
    struct AbortedTransaction: Equatable, Sendable {
        var producerID: Int64
        var firstOffset: Int64
    }

    struct Partition: Equatable, Sendable {
        var partitionIndex: Int32
        var errorCode: Int16
        var highWatermark: Int64
        /// Equals the high watermark without transactions (librdkafka reads up to it).
        var lastStableOffset: Int64
        var logStartOffset: Int64
        var abortedTransactions: [AbortedTransaction]?
        var preferredReadReplica: Int32 = -1
        /// Whole RecordBatch v2 batches, or empty.
        var records: ByteBuffer?

        init(partitionIndex: Int32, errorCode: ErrorCode = .none, highWatermark: Int64, lastStableOffset: Int64,
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

    struct Topic: Equatable, Sendable {
        var topic: String
        var partitions: [Partition]
        init(topic: String, partitions: [Partition]) {
            self.topic = topic
            self.partitions = partitions
        }
    }

    var throttleTimeMs: Int32 = 0
    var errorCode: Int16 = 0
    /// Always 0: sessionless.
    var sessionID: Int32 = 0
    var topics: [Topic]

    init(topics: [Topic]) { self.topics = topics }

    func encode(_ w: inout KafkaWriter, version: Int16) {
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

    static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> LegacyFetchResponse {
        let throttle = try r.int32("throttle_time_ms")
        var out = LegacyFetchResponse(topics: [])
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
