import NIOCore

/// Produce (key 0), v3-8. Records stay a slice of the request buffer (one or more RecordBatch v2,
/// validated by `RecordBatch`), never decompressed.
public struct ProduceRequest: Equatable, Sendable {
    public struct Partition: Equatable, Sendable {
        public var index: Int32
        public var records: ByteBuffer?
        public init(index: Int32, records: ByteBuffer?) {
            self.index = index
            self.records = records
        }
    }

    public typealias Topic = TopicPartitions<Partition>

    public var transactionalID: String?
    /// -1 (all), 0 or 1; anything else is INVALID_REQUIRED_ACKS.
    public var acks: Int16
    public var timeoutMs: Int32
    public var topics: [Topic]

    public init(transactionalID: String? = nil, acks: Int16, timeoutMs: Int32, topics: [Topic]) {
        self.transactionalID = transactionalID
        self.acks = acks
        self.timeoutMs = timeoutMs
        self.topics = topics
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> ProduceRequest {
        let txn = try r.nullableString("transactional_id")
        let acks = try r.int16("acks")
        let timeout = try r.int32("timeout_ms")
        let topics = try r.topics("topic_data", minPartitionBytes: 8) { r throws(KafkaWireError) in
            Partition(index: try r.int32("partition index"), records: try r.nullableBytes("records"))
        }
        return ProduceRequest(transactionalID: txn, acks: acks, timeoutMs: timeout, topics: topics)
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.nullableString(transactionalID)
        w.int16(acks)
        w.int32(timeoutMs)
        w.topics(topics) { w, p in
            w.int32(p.index)
            w.nullableBytes(p.records)
        }
    }
}

public struct ProduceResponse: Equatable, Sendable {
    public struct RecordError: Equatable, Sendable {
        public var batchIndex: Int32
        public var message: String?
    }

    public struct Partition: Equatable, Sendable {
        public var index: Int32
        public var errorCode: Int16
        public var baseOffset: Int64
        /// -1 with CreateTime topics.
        public var logAppendTimeMs: Int64
        public var logStartOffset: Int64
        public var recordErrors: [RecordError]
        public var errorMessage: String?

        public init(index: Int32, errorCode: ErrorCode, baseOffset: Int64 = -1, logAppendTimeMs: Int64 = -1,
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

    public typealias Topic = TopicPartitions<Partition>

    public var topics: [Topic]
    public var throttleTimeMs: Int32 = 0

    public init(topics: [Topic]) { self.topics = topics }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.topics(topics) { w, p in
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

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> ProduceResponse {
        let topics = try r.topics("responses", minPartitionBytes: 22) { r throws(KafkaWireError) in
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
        var out = ProduceResponse(topics: topics)
        out.throttleTimeMs = try r.int32("throttle_time_ms")
        return out
    }
}
