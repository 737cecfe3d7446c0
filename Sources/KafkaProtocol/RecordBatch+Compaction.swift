import NIOCore
import Primitives

/// What log compaction needs of a batch: each record's key and whether it has a value, without
/// copying it, and the same batch with only some of its records.
extension RecordBatch {
    /// One record of an uncompressed batch, as the bytes it occupies.
    public struct RecordSpan: Equatable, Sendable {
        /// The record's offset (the batch's base offset plus its offset delta).
        public var offset: Int64
        /// Nil for a record without a key.
        public var key: [UInt8]?
        /// False for a tombstone (a null value).
        public var hasValue: Bool
        /// Where the record lies in the batch's bytes, its length prefix included (relative to
        /// the batch's first byte).
        public var bytes: Range<Int>
    }

    /// Every record's span. Throws for a compressed batch (the broker does not decompress) and
    /// for records that do not parse; a control batch has none that take part in compaction.
    public func recordSpans() throws(KafkaWireError) -> [RecordSpan] {
        guard compression == 0 else { throw .invalid("compressed batch (codec \(compression)) not decoded by the broker") }
        guard !isControl else { return [] }
        let start = bytes.readerIndex
        var r = KafkaReader(bytes.getSlice(at: start + Self.headerBytes, length: bytes.readableBytes - Self.headerBytes)!)
        var out: [RecordSpan] = []
        out.reserveCapacity(Self.plausibleRecordCount(recordCount, bytes: r.remaining))
        for _ in 0..<max(recordCount, 0) {
            let begin = Self.headerBytes + (bytes.readableBytes - Self.headerBytes - r.remaining)
            let length = Int(try r.varint("record length"))
            guard length >= 0, length <= r.remaining else { throw .truncated("record of \(length) bytes") }
            var rec = KafkaReader(r.buffer.readSlice(length: length)!)
            _ = try rec.int8("record attributes")
            _ = try rec.varlong("timestamp delta")
            let delta = try rec.varint("offset delta")
            guard delta >= 0, delta <= lastOffsetDelta else { throw .invalid("record offset delta \(delta) outside the batch's \(lastOffsetDelta)") }
            let keyLength = Int(try rec.varint("key length"))
            var key: [UInt8]? = nil
            if keyLength >= 0 {
                guard let k = rec.buffer.readBytes(length: keyLength) else { throw .truncated("key") }
                key = k
            } else if keyLength != -1 {
                throw .invalid("key length \(keyLength)")
            }
            let valueLength = Int(try rec.varint("value length"))
            guard valueLength >= -1, valueLength <= rec.remaining else { throw .invalid("value length \(valueLength)") }
            let end = Self.headerBytes + (bytes.readableBytes - Self.headerBytes - r.remaining)
            out.append(RecordSpan(offset: baseOffset &+ Int64(delta), key: key, hasValue: valueLength >= 0, bytes: begin..<end))
        }
        guard r.remaining == 0 else { throw .invalid("\(r.remaining) bytes after the batch's \(recordCount) records") }
        return out
    }

    /// The same batch with only `kept` of its records (spans from `recordSpans()`, in order): the
    /// header stays — base offset, last offset delta, timestamps, producer id, epoch and base
    /// sequence — so offsets and the producer's sequence never change; the record count, length
    /// and CRC are set anew. Kafka's cleaner keeps batches the same way, down to empty ones.
    public func keeping(_ kept: [RecordSpan]) -> RecordBatch {
        var w = ByteBuffer()
        w.reserveCapacity(Self.headerBytes + kept.reduce(0) { $0 + $1.bytes.count })
        let start = bytes.readerIndex
        w.writeImmutableBuffer(bytes.getSlice(at: start, length: Self.headerBytes)!)
        for span in kept { w.writeImmutableBuffer(bytes.getSlice(at: start + span.bytes.lowerBound, length: span.bytes.count)!) }
        w.setInteger(Int32(w.readableBytes - 12), at: 8, endianness: .big)
        w.setInteger(Int32(kept.count), at: 57, endianness: .big)
        let crc = w.withUnsafeReadableBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[21...])) }
        w.setInteger(crc, at: 17, endianness: .big)
        guard let batch = try? RecordBatch(validating: w, from: .log) else { preconditionFailure("compaction built an invalid batch") }
        return batch
    }
}
