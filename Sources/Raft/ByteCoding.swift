import Primitives

/// Why bytes from the network or disk could not be decoded. Decoders never trust a length or count
/// before checking it against the bytes that are actually there.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    case invalid(String)

    public var description: String {
        switch self {
        case .truncated(let needed, let available): return "truncated: needed \(needed) bytes, \(available) left"
        case .invalid(let why): return "invalid: \(why)"
        }
    }
}

/// Little-endian writer over a byte array.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    public mutating func blob(_ v: [UInt8]) {
        u32(UInt32(v.count))
        bytes.append(contentsOf: v)
    }
    public mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }
    public mutating func nodes(_ ids: [NodeID]) {
        u32(UInt32(ids.count))
        for id in ids { u32(id.value) }
    }
    public mutating func membership(_ m: Membership) {
        nodes(m.voters)
        nodes(m.learners)
    }
}

/// Little-endian reader that checks every length against what remains.
public struct ByteReader: Sendable {
    private let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    private mutating func need(_ n: Int) throws(WireError) {
        if n < 0 || n > remaining { throw WireError.truncated(needed: n, available: remaining) }
    }

    public mutating func u8() throws(WireError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func u32() throws(WireError) -> UInt32 {
        try need(4)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[offset + i]) << (8 * UInt32(i)) }
        offset += 4
        return v
    }

    public mutating func u64() throws(WireError) -> UInt64 {
        try need(8)
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return v
    }

    public mutating func bool() throws(WireError) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        case let b: throw WireError.invalid("bool byte \(b)")
        }
    }

    public mutating func raw(count: Int) throws(WireError) -> [UInt8] {
        try need(count)
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    public mutating func blob() throws(WireError) -> [UInt8] {
        let n = Int(try u32())
        return try raw(count: n)
    }

    /// A count of items that each take at least `minItemBytes`: refused before any allocation when
    /// the remaining bytes cannot hold that many (absurd counts from hostile input).
    public mutating func count(minItemBytes: Int) throws(WireError) -> Int {
        let n = Int(try u32())
        if n > remaining / max(minItemBytes, 1) {
            throw WireError.invalid("count \(n) cannot fit in \(remaining) bytes")
        }
        return n
    }

    public mutating func nodes() throws(WireError) -> [NodeID] {
        let n = try count(minItemBytes: 4)
        var ids: [NodeID] = []
        ids.reserveCapacity(n)
        for _ in 0..<n { ids.append(NodeID(try u32())) }
        return ids
    }

    public mutating func membership() throws(WireError) -> Membership {
        let voters = try nodes()
        let learners = try nodes()
        guard Set(voters).count == voters.count, Set(learners).count == learners.count,
            Set(voters).isDisjoint(with: learners), !voters.contains(.none), !learners.contains(.none)
        else { throw WireError.invalid("membership voters=\(voters) learners=\(learners)") }
        return Membership(voters: voters, learners: learners)
    }

    public func expectEnd() throws(WireError) {
        if remaining != 0 { throw WireError.invalid("\(remaining) trailing bytes") }
    }
}
