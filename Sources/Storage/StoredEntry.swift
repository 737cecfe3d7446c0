import Primitives
import Raft

/// A Kafka offset. Dense per partition: data entries take one offset per record; Raft control
/// entries (no-op, membership) take none. A different type from `LogIndex` on purpose.
public struct KafkaOffset: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public static func < (a: KafkaOffset, b: KafkaOffset) -> Bool { a.value < b.value }
    public static let zero = KafkaOffset(0)
    public var description: String { String(value) }
}

/// One log entry as stored: the Raft entry plus where it sits in the Kafka offset space.
public struct StoredEntry: Equatable, Sendable {
    public var entry: Entry
    /// The first Kafka offset this entry takes (for control entries: the next offset, unused).
    public var kafkaOffset: KafkaOffset
    /// Kafka records in the entry (0 for control entries).
    public var recordCount: UInt32

    public init(entry: Entry, kafkaOffset: KafkaOffset, recordCount: UInt32) {
        self.entry = entry
        self.kafkaOffset = kafkaOffset
        self.recordCount = recordCount
    }

    /// The offset after this entry's records.
    public var nextOffset: KafkaOffset { KafkaOffset(kafkaOffset.value + UInt64(recordCount)) }
}

/// On-disk layout of one entry (little-endian), checksummed as a whole so a torn or flipped byte
/// anywhere is caught:
///
///     0  u32 size        bytes after this field (checksum through payload)
///     4  u32 crc32c      over bytes 8 ..< 4 + size
///     8  u64 term
///     16 u64 index
///     24 u8  kind
///     25 u64 kafkaOffset
///     33 u32 recordCount
///     37 u32 payloadLength
///     41 payload
///     .. footer: u64 index | u32 crc32c (copy) | u32 magic "RILL"   (outside the checksum)
///
/// The footer tells a torn write from damage. A torn write stops at a sector boundary, so the
/// footer of a torn entry is missing; an entry that fails its checksum but whose footer is intact
/// was written whole and then damaged — data that may have been acknowledged, never to be cut.
enum EntryFormat {
    static let headerBytes = 41
    static let footerBytes = 16
    static let footerMagic: UInt32 = 0x4C4C_4952  // "RILL" little-endian
    /// Largest payload accepted when reading: a size field beyond it is corruption, not data.
    static let payloadBytesMax = 64 * 1024 * 1024

    static func encode(_ e: StoredEntry, into out: inout [UInt8]) {
        let start = out.count
        let size = UInt32(headerBytes - 4 + e.entry.data.count + footerBytes)
        append(&out, size)
        append(&out, UInt32(0))  // checksum, filled below
        append(&out, e.entry.term.value)
        append(&out, e.entry.index.value)
        out.append(e.entry.kind.rawValue)
        append(&out, e.kafkaOffset.value)
        append(&out, e.recordCount)
        append(&out, UInt32(e.entry.data.count))
        out.append(contentsOf: e.entry.data)
        let crc = out.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[(start + 8)...])) }
        withUnsafeBytes(of: crc.littleEndian) { b in
            for i in 0..<4 { out[start + 4 + i] = b[i] }
        }
        append(&out, e.entry.index.value)
        append(&out, crc)
        append(&out, footerMagic)
    }

    static func encodedSize(_ e: StoredEntry) -> Int { headerBytes + e.entry.data.count + footerBytes }

    /// The footer an entry whose checksum is `crc` must end with.
    static func footer(index: LogIndex, crc: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        append(&out, index.value)
        append(&out, crc)
        append(&out, footerMagic)
        return out
    }

    /// The index in the footer that ends at `end`, if a footer is there.
    static func footerIndex(_ bytes: UnsafeRawBufferPointer, endingAt end: Int) -> LogIndex? {
        guard end >= footerBytes, end <= bytes.count else { return nil }
        let magic = bytes.loadUnaligned(fromByteOffset: end - 4, as: UInt32.self).littleEndian
        guard magic == footerMagic else { return nil }
        return LogIndex(bytes.loadUnaligned(fromByteOffset: end - footerBytes, as: UInt64.self).littleEndian)
    }

    private static func append<T: FixedWidthInteger>(_ out: inout [UInt8], _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    enum DecodeResult {
        case entry(StoredEntry, size: Int)
        /// Not enough bytes for a whole entry: a torn tail, or the end.
        case truncated
        /// Bytes present but wrong: checksum mismatch or impossible fields.
        case corrupt(String)
    }

    /// Decode the entry at `offset` of `bytes`.
    static func decode(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> DecodeResult {
        let available = bytes.count - offset
        guard available >= headerBytes else { return .truncated }
        func u32(_ at: Int) -> UInt32 { bytes.loadUnaligned(fromByteOffset: offset + at, as: UInt32.self).littleEndian }
        func u64(_ at: Int) -> UInt64 { bytes.loadUnaligned(fromByteOffset: offset + at, as: UInt64.self).littleEndian }
        let size = Int(u32(0))
        let payloadLength = Int(u32(37))
        guard payloadLength <= payloadBytesMax, size == headerBytes - 4 + payloadLength + footerBytes else {
            return .corrupt("entry size \(size) does not match payload length \(payloadLength)")
        }
        guard available >= 4 + size else { return .truncated }
        let crcEnd = offset + 4 + size - footerBytes
        let crc = CRC32C.update(0, UnsafeRawBufferPointer(rebasing: bytes[(offset + 8)..<crcEnd]))
        guard crc == u32(4) else { return .corrupt("checksum mismatch") }
        guard let kind = EntryKind(rawValue: bytes[offset + 24]) else { return .corrupt("entry kind \(bytes[offset + 24])") }
        let data = Array(bytes[(offset + headerBytes)..<(offset + headerBytes + payloadLength)])
        let entry = Entry(term: Term(u64(8)), index: LogIndex(u64(16)), kind: kind, data: data)
        return .entry(
            StoredEntry(entry: entry, kafkaOffset: KafkaOffset(u64(25)), recordCount: u32(33)), size: 4 + size)
    }
}
