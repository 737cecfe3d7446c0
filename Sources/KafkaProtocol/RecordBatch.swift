import NIOCore
import Primitives

/// A RecordBatch v2 (magic 2), kept as the bytes the producer sent: the broker validates it,
/// rewrites the two fields outside the CRC (`baseOffset`, `partitionLeaderEpoch`) and stores it
/// whole, never decompressed.
///
///     0  baseOffset i64          17 crc u32 (CRC-32C over 21..<end)   35 maxTimestamp i64
///     8  batchLength i32         21 attributes i16                    43 producerId i64
///     12 partitionLeaderEpoch    23 lastOffsetDelta i32               51 producerEpoch i16
///     16 magic i8                27 baseTimestamp i64                 53 baseSequence i32
///                                                                      57 records count i32, 61 records
public struct RecordBatch: Equatable, Sendable {
    public static let headerBytes = 61
    /// The batch's bytes, exactly `12 + batchLength` of them.
    public private(set) var bytes: ByteBuffer

    public var baseOffset: Int64 { bytes.getInteger(at: bytes.readerIndex, endianness: .big)! }
    public var batchLength: Int32 { bytes.getInteger(at: bytes.readerIndex + 8, endianness: .big)! }
    public var partitionLeaderEpoch: Int32 { bytes.getInteger(at: bytes.readerIndex + 12, endianness: .big)! }
    public var magic: Int8 { bytes.getInteger(at: bytes.readerIndex + 16)! }
    public var crc: UInt32 { bytes.getInteger(at: bytes.readerIndex + 17, endianness: .big)! }
    public var attributes: Int16 { bytes.getInteger(at: bytes.readerIndex + 21, endianness: .big)! }
    public var lastOffsetDelta: Int32 { bytes.getInteger(at: bytes.readerIndex + 23, endianness: .big)! }
    public var baseTimestamp: Int64 { bytes.getInteger(at: bytes.readerIndex + 27, endianness: .big)! }
    public var maxTimestamp: Int64 { bytes.getInteger(at: bytes.readerIndex + 35, endianness: .big)! }
    public var producerID: Int64 { bytes.getInteger(at: bytes.readerIndex + 43, endianness: .big)! }
    public var producerEpoch: Int16 { bytes.getInteger(at: bytes.readerIndex + 51, endianness: .big)! }
    public var baseSequence: Int32 { bytes.getInteger(at: bytes.readerIndex + 53, endianness: .big)! }
    public var recordCount: Int32 { bytes.getInteger(at: bytes.readerIndex + 57, endianness: .big)! }

    public var compression: Int { Int(attributes & 0x7) }
    public var isTransactional: Bool { attributes & 0x10 != 0 }
    public var isControl: Bool { attributes & 0x20 != 0 }
    /// Timestamp type LogAppendTime (attribute bit 3): every record's timestamp is the batch's
    /// `maxTimestamp`, the time the leader appended it; otherwise CreateTime, the producer's.
    public var isLogAppendTime: Bool { attributes & 0x08 != 0 }
    /// The offset after the batch's last record.
    /// (Wrapping: the fields are a peer's or a client's bytes, which must not trap the reader.)
    public var nextOffset: Int64 { baseOffset &+ Int64(lastOffsetDelta) &+ 1 }

    public enum Invalid: Error, Equatable, CustomStringConvertible {
        case truncated(have: Int, need: Int)
        case magic(Int8)
        case length(Int32)
        case crc(stored: UInt32, computed: UInt32)
        case offsetDelta(lastOffsetDelta: Int32, count: Int32)

        public var description: String {
            switch self {
            case .truncated(let have, let need): return "record batch truncated: \(have) of \(need) bytes"
            case .magic(let m): return "record batch magic \(m) (only 2 is supported)"
            case .length(let l): return "record batch length \(l)"
            case .crc(let stored, let computed): return "record batch CRC mismatch (stored \(stored), computed \(computed))"
            case .offsetDelta(let d, let c): return "record batch lastOffsetDelta \(d) with \(c) records"
            }
        }
    }

    /// Where a batch comes from, which decides how its record count may relate to its offsets.
    public enum Origin: Sendable {
        /// A producer's batch: one record per offset (`lastOffsetDelta == recordCount - 1`).
        case producer
        /// A batch read from a log: compaction may have removed records (even all of them) while
        /// the batch keeps its offsets, as Kafka's cleaner does (`recordCount <= lastOffsetDelta + 1`).
        case log
    }

    /// The smallest a record can be: length, attributes, timestamp delta, offset delta, key
    /// length, value length and header count, one byte each.
    static let recordBytesMin = 7

    /// How many records to make room for: the batch's count, but never more than its bytes can
    /// hold (a count of 2^31 from a client must not reserve 28 GB; found by fuzzing).
    static func plausibleRecordCount(_ count: Int32, bytes: Int) -> Int {
        min(Int(max(count, 0)), bytes / recordBytesMin)
    }

    /// Validate one batch occupying all of `bytes`: magic, length, CRC-32C, offset delta.
    public init(validating bytes: ByteBuffer, from origin: Origin = .producer) throws(Invalid) {
        guard bytes.readableBytes >= Self.headerBytes else { throw .truncated(have: bytes.readableBytes, need: Self.headerBytes) }
        self.bytes = bytes
        guard magic == 2 else { throw .magic(magic) }
        let length = batchLength
        guard length >= Int32(Self.headerBytes - 12), Int(length) + 12 == bytes.readableBytes else { throw .length(length) }
        let computed = bytes.withUnsafeReadableBytes { raw in
            CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[21...]))
        }
        guard computed == crc else { throw .crc(stored: crc, computed: computed) }
        let counted: Bool
        switch origin {
        // (In 64 bits: a record count of Int32.min from a client must be refused, not overflow.)
        case .producer: counted = Int64(lastOffsetDelta) == Int64(recordCount) - 1 || (recordCount == 0 && lastOffsetDelta >= 0 && isControl)
        case .log: counted = lastOffsetDelta >= 0 && Int64(recordCount) <= Int64(lastOffsetDelta) + 1
        }
        guard recordCount >= 0, counted else { throw .offsetDelta(lastOffsetDelta: lastOffsetDelta, count: recordCount) }
    }

    /// Split a Produce request's records into batches, validating each.
    public static func batches(in records: ByteBuffer, from origin: Origin = .producer) throws(Invalid) -> [RecordBatch] {
        var rest = records
        var out: [RecordBatch] = []
        while rest.readableBytes > 0 {
            guard rest.readableBytes >= 12 else { throw .truncated(have: rest.readableBytes, need: 12) }
            let length: Int32 = rest.getInteger(at: rest.readerIndex + 8, endianness: .big)!
            guard length >= Int32(headerBytes - 12) else { throw .length(length) }
            let total = 12 + Int(length)
            guard rest.readableBytes >= total else { throw .truncated(have: rest.readableBytes, need: total) }
            out.append(try RecordBatch(validating: rest.readSlice(length: total)!, from: origin))
        }
        return out
    }

    /// The same batch at `offset` in leader epoch `epoch`. Neither field is covered by the CRC.
    public func assigned(baseOffset offset: Int64, leaderEpoch epoch: Int32) -> RecordBatch {
        var copy = self
        var b = ByteBuffer(buffer: bytes)  // own storage: the request buffer is not ours to change
        b.setInteger(offset, at: b.readerIndex, endianness: .big)
        b.setInteger(epoch, at: b.readerIndex + 12, endianness: .big)
        copy.bytes = b
        return copy
    }

    /// The same batch stamped with the leader's append time (a topic with
    /// `message.timestamp.type=LogAppendTime`): timestamp type bit set, `maxTimestamp` = `ms`, CRC
    /// recomputed, records untouched (compressed ones too), as Kafka's leader stamps a v2 batch.
    public func stampedLogAppendTime(_ ms: Int64) -> RecordBatch {
        var copy = self
        var b = ByteBuffer(buffer: bytes)
        b.setInteger(attributes | 0x08, at: b.readerIndex + 21, endianness: .big)
        b.setInteger(ms, at: b.readerIndex + 35, endianness: .big)
        let crc = b.withUnsafeReadableBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[21...])) }
        b.setInteger(crc, at: b.readerIndex + 17, endianness: .big)
        copy.bytes = b
        return copy
    }

    /// Build an uncompressed batch of `records` (key, value) pairs (tests and the Swift client).
    public static func build(
        baseOffset: Int64 = 0, records: [(key: [UInt8]?, value: [UInt8]?)], timestamp: Int64, producerID: Int64 = -1,
        producerEpoch: Int16 = -1, baseSequence: Int32 = -1
    ) -> RecordBatch {
        var body = KafkaWriter()
        for (i, r) in records.enumerated() {
            var rec = KafkaWriter()
            rec.int8(0)  // attributes
            rec.varlong(0)  // timestamp delta
            rec.varint(Int32(i))  // offset delta
            if let k = r.key {
                rec.varint(Int32(k.count))
                rec.buffer.writeBytes(k)
            } else {
                rec.varint(-1)
            }
            if let v = r.value {
                rec.varint(Int32(v.count))
                rec.buffer.writeBytes(v)
            } else {
                rec.varint(-1)
            }
            rec.varint(0)  // headers
            body.varint(Int32(rec.buffer.readableBytes))
            body.buffer.writeImmutableBuffer(rec.buffer)
        }
        var w = KafkaWriter()
        w.int64(baseOffset)
        w.int32(Int32(headerBytes - 12 + body.buffer.readableBytes))
        w.int32(-1)  // partitionLeaderEpoch
        w.int8(2)
        w.int32(0)  // crc, below
        w.int16(0)  // attributes
        w.int32(Int32(max(records.count - 1, 0)))
        w.int64(timestamp)
        w.int64(timestamp)
        w.int64(producerID)
        w.int16(producerEpoch)
        w.int32(baseSequence)
        w.int32(Int32(records.count))
        w.buffer.writeImmutableBuffer(body.buffer)
        var bytes = w.buffer
        let crc = bytes.withUnsafeReadableBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[21...])) }
        bytes.setInteger(crc, at: bytes.readerIndex + 17, endianness: .big)
        return try! RecordBatch(validating: bytes)
    }

    /// The records of an uncompressed batch: offset, key, value.
    public func records() throws(KafkaWireError) -> [(offset: Int64, key: [UInt8]?, value: [UInt8]?)] {
        var ignored: [Int64] = []
        return try records(timestamps: &ignored)
    }

    /// The records, and each one's timestamp into `timestamps`.
    public func records(timestamps: inout [Int64]) throws(KafkaWireError) -> [(offset: Int64, key: [UInt8]?, value: [UInt8]?)] {
        guard compression == 0 else { throw .invalid("compressed batch (codec \(compression)) not decoded by the broker") }
        let decoded = try decodedRecords()
        timestamps += decoded.map(\.timestamp)
        return decoded.map { ($0.offset, $0.key, $0.value) }
    }

    /// The first record at or after `timestamp` (ms): its offset and timestamp. For a compressed
    /// batch (not decoded by the broker) the batch's first offset and newest timestamp.
    public func firstRecord(atOrAfter timestamp: Int64) -> (offset: Int64, timestamp: Int64)? {
        guard maxTimestamp >= timestamp else { return nil }
        // Every record carries the batch's append time.
        if isLogAppendTime { return (baseOffset, maxTimestamp) }
        var stamps: [Int64] = []
        guard compression == 0, let recs = try? records(timestamps: &stamps) else { return (baseOffset, maxTimestamp) }
        for (k, r) in recs.enumerated() where stamps[k] >= timestamp { return (r.offset, stamps[k]) }
        return (baseOffset, maxTimestamp)
    }
}
