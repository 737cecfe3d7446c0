// CRC-32C (Castagnoli), the checksum Kafka's RecordBatch v2 and Rill's on-disk records use.
// The CPU's CRC32 instruction (through the CCRC32C C target) when present, else a table.

import CCRC32C

public enum CRC32C {
    /// Whether the instruction path is in use (decided once per process).
    public static let isAccelerated: Bool = rill_crc32c_hw_available() == 1

    static let table: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[i] = c
        }
        return t
    }()

    /// Continue a checksum over more bytes (start from 0).
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        if isAccelerated {
            return rill_crc32c_hw(crc, bytes.baseAddress, bytes.count)
        }
        return updatePortable(crc, bytes)
    }

    /// The table-driven path, used without the instruction and tested against it.
    public static func updatePortable(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c = ~crc
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return ~c
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { update(0, $0) }
    }
}

/// FNV-1a 64-bit, for cheap content fingerprints in checkers and trace hashes (not for integrity).
public struct FNV64: Sendable {
    public var value: UInt64 = 0xcbf2_9ce4_8422_2325
    public init() {}
    @inlinable public mutating func add(_ byte: UInt8) {
        value ^= UInt64(byte)
        value &*= 0x100_0000_01b3
    }
    @inlinable public mutating func add(_ v: UInt64) {
        var x = v
        for _ in 0..<8 {
            add(UInt8(truncatingIfNeeded: x))
            x >>= 8
        }
    }
    public mutating func add(bytes: [UInt8]) {
        var v = value
        bytes.withUnsafeBufferPointer { buffer in
            for b in buffer {
                v ^= UInt64(b)
                v &*= 0x100_0000_01b3
            }
        }
        value = v
    }
}
