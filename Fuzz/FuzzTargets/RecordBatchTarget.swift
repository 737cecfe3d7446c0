import KafkaProtocol
import NIOCore
import Primitives

/// RecordBatch validation as Produce does it (`RecordBatch(validating:)`), the batches of a log
/// as Fetch and the cleaner re-read them (`batches(in:from: .log)`), then every record of what
/// passed. The input's CRC is made to match first (when it is long enough to hold one), so the
/// fuzzer explores past the checksum, as a client with a buggy encoder would.
enum RecordBatchTarget {
    static func run(_ data: [UInt8]) -> Bool {
        let fixed = withMatchingCRC(data)
        var valid = false
        for origin in [RecordBatch.Origin.producer, .log] {
            if let b = try? RecordBatch(validating: ByteBuffer(bytes: fixed), from: origin) {
                exercise(b)
                valid = true
            }
            if let all = try? RecordBatch.batches(in: ByteBuffer(bytes: fixed), from: origin), !all.isEmpty {
                all.forEach(exercise)
                valid = true
            }
        }
        return valid
    }

    static func exercise(_ b: RecordBatch) {
        var timestamps: [Int64] = []
        _ = try? b.records(timestamps: &timestamps)
        _ = b.firstRecord(atOrAfter: 0)
        _ = b.assigned(baseOffset: 1000, leaderEpoch: 3).stampedLogAppendTime(1)
    }

    /// Every batch in the input gets the CRC-32C of its bytes after the CRC field.
    static func withMatchingCRC(_ data: [UInt8]) -> [UInt8] {
        var out = data
        var at = 0
        while at + RecordBatch.headerBytes <= out.count {
            let length = Int(Int32(bitPattern: UInt32(out[at + 8]) << 24 | UInt32(out[at + 9]) << 16 | UInt32(out[at + 10]) << 8 | UInt32(out[at + 11])))
            let end = at + 12 + length
            guard length >= RecordBatch.headerBytes - 12, end <= out.count else { break }
            let crc = out.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[(at + 21)..<end])) }
            for i in 0..<4 { out[at + 17 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(i))) }
            at = end
        }
        return out
    }

    static func seeds() -> [[UInt8]] {
        let records: [(key: [UInt8]?, value: [UInt8]?)] = [(Array("k".utf8), Array("v".utf8)), (nil, Array("value two".utf8)), (Array("k3".utf8), nil)]
        let plain = RecordBatch.build(records: records, timestamp: 1_700_000_000_000)
        let idempotent = RecordBatch.build(baseOffset: 5, records: records, timestamp: 1_700_000_000_000, producerID: 42, producerEpoch: 1, baseSequence: 7)
        var two = plain.bytes
        var second = idempotent.bytes
        two.writeBuffer(&second)
        return [plain.bytes, idempotent.bytes, two].map { Array($0.readableBytesView) }
    }
}
