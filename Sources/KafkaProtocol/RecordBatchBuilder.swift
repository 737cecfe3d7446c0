import NIOCore
import Primitives

/// A record header: a string key and an optional byte value.
public struct RecordHeader: Equatable, Sendable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

/// Builds an uncompressed RecordBatch v2 one record at a time, so a producer can tell how big
/// the batch has grown before it closes it. Producer id, epoch and sequence are set at `build`,
/// because an idempotent producer stamps a batch only when it first sends it.
public struct RecordBatchBuilder {
    private var body = KafkaWriter()
    private var firstTimestamp: Int64 = 0
    private var maxTimestamp: Int64 = 0
    public private(set) var count: Int32 = 0

    public init() {}

    /// Bytes of the batch if it were built now.
    public var sizeInBytes: Int { RecordBatch.headerBytes + body.buffer.readableBytes }

    /// At least the bytes one more record adds: the worst case of every varint (length 5,
    /// attributes 1, timestamp delta 10, offset delta 5, key and value lengths 5 each, header
    /// count 5), so a batch sealed by this measure never exceeds its limit.
    public static func estimatedSize(key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader]) -> Int {
        var n = 36 + (key?.count ?? 0) + (value?.count ?? 0)
        for h in headers { n += 10 + h.key.utf8.count + (h.value?.count ?? 0) }
        return n
    }

    public mutating func append(key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = [], timestamp: Int64) {
        if count == 0 {
            firstTimestamp = timestamp
            maxTimestamp = timestamp
        }
        maxTimestamp = max(maxTimestamp, timestamp)
        // The record's length comes first, so it is computed before writing (no scratch buffer:
        // this runs once per record on the producer's hot path).
        let delta = timestamp &- firstTimestamp
        var length = 1 + Self.varlongSize(delta) + Self.varintSize(Int64(count))
        length += Self.blobSize(key) + Self.blobSize(value) + Self.varintSize(Int64(headers.count))
        for h in headers { length += Self.varintSize(Int64(h.key.utf8.count)) + h.key.utf8.count + Self.blobSize(h.value) }
        body.varint(Int32(length))
        let start = body.buffer.writerIndex
        body.int8(0)  // attributes
        body.varlong(delta)
        body.varint(count)  // offset delta
        Self.writeBlob(key, into: &body)
        Self.writeBlob(value, into: &body)
        body.varint(Int32(headers.count))
        for h in headers {
            Self.writeBlob(Array(h.key.utf8), into: &body)
            Self.writeBlob(h.value, into: &body)
        }
        precondition(body.buffer.writerIndex - start == length, "record length computed wrong")
        count += 1
    }

    /// Bytes of a zigzag varint/varlong.
    static func varlongSize(_ v: Int64) -> Int {
        var u = UInt64(bitPattern: (v << 1) ^ (v >> 63))
        var n = 1
        while u >= 0x80 {
            u >>= 7
            n += 1
        }
        return n
    }

    static func varintSize(_ v: Int64) -> Int { varlongSize(v) }

    static func blobSize(_ b: [UInt8]?) -> Int {
        guard let b else { return 1 }
        return varintSize(Int64(b.count)) + b.count
    }

    private static func writeBlob(_ b: [UInt8]?, into w: inout KafkaWriter) {
        if let b {
            w.varint(Int32(b.count))
            w.buffer.writeBytes(b)
        } else {
            w.varint(-1)
        }
    }

    /// The batch, stamped with the producer's identity (-1s for a non-idempotent producer);
    /// `attributes` only for the transactional (0x10) and control (0x20) bits.
    public func build(producerID: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1, attributes: Int16 = 0) -> RecordBatch {
        precondition(attributes & ~0x30 == 0, "attributes \(attributes): only the transactional and control bits are set here")
        precondition(count > 0, "an empty record batch is never sent")
        var w = KafkaWriter()
        w.int64(0)  // baseOffset: the broker assigns it
        w.int32(Int32(RecordBatch.headerBytes - 12 + body.buffer.readableBytes))
        w.int32(-1)  // partitionLeaderEpoch
        w.int8(2)
        w.int32(0)  // crc, below
        w.int16(attributes)  // no compression, create time
        w.int32(count - 1)
        w.int64(firstTimestamp)
        w.int64(maxTimestamp)
        w.int64(producerID)
        w.int16(producerEpoch)
        w.int32(baseSequence)
        w.int32(count)
        w.buffer.writeImmutableBuffer(body.buffer)
        var bytes = w.buffer
        let crc = bytes.withUnsafeReadableBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[21...])) }
        bytes.setInteger(crc, at: bytes.readerIndex + 17, endianness: .big)
        // Our own encoding: a failure to validate is a bug here, not bad input.
        guard let batch = try? RecordBatch(validating: bytes) else { preconditionFailure("built an invalid record batch") }
        return batch
    }
}

/// One record as a consumer sees it.
public struct DecodedRecord: Equatable, Sendable {
    public var offset: Int64
    public var timestamp: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]
}

extension RecordBatch {
    /// Every record of an uncompressed batch with its timestamp and headers; none of a control
    /// batch (a transaction marker is not a consumer's record) unless `includingControl`.
    public func decodedRecords(includingControl: Bool = false) throws(KafkaWireError) -> [DecodedRecord] {
        guard compression == 0 else { throw .invalid("compressed batch (codec \(compression)) is not supported by this client") }
        guard !isControl || includingControl else { return [] }
        var r = KafkaReader(bytes.getSlice(at: bytes.readerIndex + Self.headerBytes, length: bytes.readableBytes - Self.headerBytes)!)
        var out: [DecodedRecord] = []
        out.reserveCapacity(Self.plausibleRecordCount(recordCount, bytes: r.remaining))
        for _ in 0..<max(recordCount, 0) {
            let length = Int(try r.varint("record length"))
            guard length >= 0, length <= r.remaining else { throw .truncated("record of \(length) bytes") }
            var rec = KafkaReader(r.buffer.readSlice(length: length)!)
            _ = try rec.int8("record attributes")
            let timestampDelta = try rec.varlong("timestamp delta")
            let delta = try rec.varint("offset delta")
            func blob(_ what: String) throws(KafkaWireError) -> [UInt8]? {
                let n = Int(try rec.varint(what))
                if n == -1 { return nil }
                guard n >= 0, let b = rec.buffer.readBytes(length: n) else { throw .truncated(what) }
                return b
            }
            let key = try blob("key")
            let value = try blob("value")
            let headerCount = Int(try rec.varint("header count"))
            guard headerCount >= 0, headerCount <= rec.remaining else { throw .invalid("header count \(headerCount)") }
            var headers: [RecordHeader] = []
            for _ in 0..<headerCount {
                let k = try blob("header key") ?? []
                headers.append(RecordHeader(key: String(decoding: k, as: UTF8.self), value: try blob("header value")))
            }
            // LogAppendTime: the broker's time for every record, as Kafka's consumers read it.
            let timestamp = isLogAppendTime ? maxTimestamp : baseTimestamp &+ timestampDelta
            out.append(DecodedRecord(offset: baseOffset &+ Int64(delta), timestamp: timestamp, key: key, value: value, headers: headers))
        }
        return out
    }
}
