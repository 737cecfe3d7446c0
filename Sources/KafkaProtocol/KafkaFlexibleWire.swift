import NIOCore

/// What every generated request and response is: its API, the versions its codec speaks, and a
/// decoder and encoder that take the version.
public protocol KafkaMessage: Equatable, Sendable {
    static var apiKey: Int16 { get }
    static var versions: ClosedRange<Int16> { get }
    /// The first flexible (KIP-482) version, if any.
    static var flexibleFrom: Int16? { get }
    static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> Self
    func encode(_ w: inout KafkaWriter, version: Int16)
}

extension KafkaMessage {
    public static func isFlexible(_ version: Int16) -> Bool { flexibleFrom.map { version >= $0 } ?? false }
}

/// A Kafka UUID (topic ids): 16 bytes, big-endian on the wire; all zeros means "none".
public struct KafkaUUID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static let zero = KafkaUUID(high: 0, low: 0)

    public var isZero: Bool { high == 0 && low == 0 }

    public static func < (a: KafkaUUID, b: KafkaUUID) -> Bool { (a.high, a.low) < (b.high, b.low) }

    /// Kafka's spelling: URL-safe base64 of the 16 bytes, no padding (22 characters).
    public var description: String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var bytes: [UInt8] = []
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: high >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: low >> UInt64(shift))) }
        var out = ""
        var i = 0
        while i < bytes.count {
            let chunk = bytes[i..<min(i + 3, bytes.count)]
            var n: UInt32 = 0
            for (k, b) in chunk.enumerated() { n |= UInt32(b) << UInt32(16 - 8 * k) }
            let chars = chunk.count + 1
            for k in 0..<chars { out.append(alphabet[Int((n >> UInt32(18 - 6 * k)) & 63)]) }
            i += 3
        }
        return out
    }

    /// Parses Kafka's spelling (see `description`).
    public init?(_ text: String) {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let chars = Array(text)
        guard chars.count == 22 else { return nil }
        var bits: [UInt8] = []
        var acc: UInt32 = 0
        var n = 0
        for c in chars {
            guard let v = alphabet.firstIndex(of: c) else { return nil }
            acc = acc << 6 | UInt32(v)
            n += 6
            if n >= 8 {
                n -= 8
                bits.append(UInt8(truncatingIfNeeded: acc >> UInt32(n)))
            }
        }
        guard bits.count == 16 else { return nil }
        high = bits[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = bits[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }
}

// MARK: - Reading both encodings

extension KafkaReader {
    public mutating func uint16(_ field: @autoclosure () -> String = "uint16") throws(KafkaWireError) -> UInt16 {
        guard let v = buffer.readInteger(endianness: .big, as: UInt16.self) else { throw .truncated(field()) }
        return v
    }

    public mutating func float64(_ field: @autoclosure () -> String = "float64") throws(KafkaWireError) -> Double {
        guard let v = buffer.readInteger(endianness: .big, as: UInt64.self) else { throw .truncated(field()) }
        return Double(bitPattern: v)
    }

    public mutating func uuid(_ field: @autoclosure () -> String = "uuid") throws(KafkaWireError) -> KafkaUUID {
        guard let high = buffer.readInteger(endianness: .big, as: UInt64.self),
              let low = buffer.readInteger(endianness: .big, as: UInt64.self) else { throw .truncated(field()) }
        return KafkaUUID(high: high, low: low)
    }

    /// A length or count: int16/int32 classic (-1 = null), or compact uvarint N+1 (0 = null).
    /// nil for null; never negative otherwise.
    private mutating func length(flexible: Bool, classicInt16: Bool, _ field: @autoclosure () -> String) throws(KafkaWireError) -> Int? {
        if flexible {
            let n = try unsignedVarint(field())
            return n == 0 ? nil : Int(n - 1)
        }
        let n = classicInt16 ? Int(try int16(field())) : Int(try int32(field()))
        if n == -1 { return nil }
        guard n >= 0 else { throw .invalid("\(field()): length \(n)") }
        return n
    }

    public mutating func nullableString(flexible: Bool, _ field: @autoclosure () -> String) throws(KafkaWireError) -> String? {
        guard let n = try length(flexible: flexible, classicInt16: true, field()) else { return nil }
        // Kafka's readers refuse a string over 0x7fff bytes in either encoding; so must we, or a
        // string read from a flexible request could not be written in a classic answer.
        guard n <= Int(Int16.max) else { throw .invalid("\(field()): string of \(n) bytes") }
        guard let s = buffer.readString(length: n) else { throw .truncated("\(field()): \(n) bytes, \(buffer.readableBytes) left") }
        // Invalid UTF-8 is repaired (U+FFFD, as Kafka's Java readers do), which can make it longer.
        guard s.utf8.count <= Int(Int16.max) else { throw .invalid("\(field()): \(n) bytes of invalid UTF-8") }
        return s
    }

    public mutating func string(flexible: Bool, _ field: @autoclosure () -> String) throws(KafkaWireError) -> String {
        guard let s = try nullableString(flexible: flexible, field()) else { throw .invalid("\(field()) is null") }
        return s
    }

    /// A slice of the buffer, not a copy.
    public mutating func nullableBytes(flexible: Bool, _ field: @autoclosure () -> String) throws(KafkaWireError) -> ByteBuffer? {
        guard let n = try length(flexible: flexible, classicInt16: false, field()) else { return nil }
        guard let b = buffer.readSlice(length: n) else { throw .truncated("\(field()): \(n) bytes, \(buffer.readableBytes) left") }
        return b
    }

    public mutating func bytes(flexible: Bool, _ field: @autoclosure () -> String) throws(KafkaWireError) -> ByteBuffer {
        guard let b = try nullableBytes(flexible: flexible, field()) else { throw .invalid("\(field()) is null") }
        return b
    }

    /// A nullable array. `minElementBytes` bounds the count by the bytes left, so a hostile count
    /// cannot make the decoder reserve memory the frame does not back.
    public mutating func nullableArray<T>(
        flexible: Bool, _ field: @autoclosure () -> String, minElementBytes: Int,
        _ element: (inout KafkaReader) throws(KafkaWireError) -> T
    ) throws(KafkaWireError) -> [T]? {
        guard let count = try length(flexible: flexible, classicInt16: false, "\(field()) count") else { return nil }
        guard count <= buffer.readableBytes / max(1, minElementBytes) else {
            throw .truncated("\(field()): \(count) elements cannot fit in \(buffer.readableBytes) bytes")
        }
        var out: [T] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(try element(&self)) }
        return out
    }

    public mutating func array<T>(
        flexible: Bool, _ field: @autoclosure () -> String, minElementBytes: Int,
        _ element: (inout KafkaReader) throws(KafkaWireError) -> T
    ) throws(KafkaWireError) -> [T] {
        guard let a = try nullableArray(flexible: flexible, field(), minElementBytes: minElementBytes, element) else {
            throw .invalid("\(field()) is null")
        }
        return a
    }

    /// A tagged-field section: each field's bytes go to `known` as a reader of their own; it
    /// returns false for a tag it does not know, which is skipped (never an error: newer peers
    /// add tags). A known field must use exactly the bytes its size says.
    public mutating func taggedFields(_ known: (UInt32, inout KafkaReader) throws(KafkaWireError) -> Bool) throws(KafkaWireError) {
        let count = try unsignedVarint("tagged field count")
        guard Int(count) <= buffer.readableBytes / 2 else { throw .truncated("\(count) tagged fields in \(buffer.readableBytes) bytes") }
        var previous: UInt32? = nil
        for _ in 0..<count {
            let tag = try unsignedVarint("tag")
            if let p = previous, tag <= p { throw .invalid("tagged fields out of order: \(tag) after \(p)") }
            previous = tag
            let size = Int(try unsignedVarint("tagged field size"))
            guard let slice = buffer.readSlice(length: size) else { throw .truncated("tagged field \(tag) of \(size) bytes") }
            var sub = KafkaReader(slice)
            if try known(tag, &sub) {
                if sub.remaining != 0 { throw .invalid("tagged field \(tag): \(sub.remaining) bytes left over") }
            }
        }
    }
}

// MARK: - Writing both encodings

extension KafkaWriter {
    public mutating func uint16(_ v: UInt16) { buffer.writeInteger(v, endianness: .big) }
    public mutating func float64(_ v: Double) { buffer.writeInteger(v.bitPattern, endianness: .big) }

    public mutating func uuid(_ v: KafkaUUID) {
        buffer.writeInteger(v.high, endianness: .big)
        buffer.writeInteger(v.low, endianness: .big)
    }

    private mutating func length(_ n: Int?, flexible: Bool, classicInt16: Bool) {
        if flexible {
            unsignedVarint(n.map { UInt32($0 + 1) } ?? 0)
        } else if classicInt16 {
            int16(n.map { Int16($0) } ?? -1)
        } else {
            int32(n.map { Int32($0) } ?? -1)
        }
    }

    public mutating func nullableString(_ s: String?, flexible: Bool) {
        guard let s else { return length(nil, flexible: flexible, classicInt16: true) }
        let text = Self.capped(s)
        length(text.utf8.count, flexible: flexible, classicInt16: true)
        buffer.writeString(text)
    }

    public mutating func string(_ s: String, flexible: Bool) { nullableString(s, flexible: flexible) }

    public mutating func nullableBytes(_ b: ByteBuffer?, flexible: Bool) {
        guard var b else { return length(nil, flexible: flexible, classicInt16: false) }
        length(b.readableBytes, flexible: flexible, classicInt16: false)
        buffer.writeBuffer(&b)
    }

    public mutating func bytes(_ b: ByteBuffer, flexible: Bool) { nullableBytes(b, flexible: flexible) }

    public mutating func nullableArray<T>(_ a: [T]?, flexible: Bool, _ element: (inout KafkaWriter, T) -> Void) {
        guard let a else { return length(nil, flexible: flexible, classicInt16: false) }
        length(a.count, flexible: flexible, classicInt16: false)
        for e in a { element(&self, e) }
    }

    public mutating func array<T>(_ a: [T], flexible: Bool, _ element: (inout KafkaWriter, T) -> Void) {
        nullableArray(a, flexible: flexible, element)
    }
}

/// The tagged fields of one struct, collected so the count can go first; written in tag order.
public struct TaggedFieldsWriter {
    var fields: [(tag: UInt32, bytes: ByteBuffer)] = []

    public init() {}

    public mutating func add(_ tag: UInt32, _ body: (inout KafkaWriter) -> Void) {
        var w = KafkaWriter()
        body(&w)
        fields.append((tag, w.buffer))
    }

    public func write(to w: inout KafkaWriter) {
        w.unsignedVarint(UInt32(fields.count))
        for f in fields.sorted(by: { $0.tag < $1.tag }) {
            var bytes = f.bytes
            w.unsignedVarint(f.tag)
            w.unsignedVarint(UInt32(bytes.readableBytes))
            w.buffer.writeBuffer(&bytes)
        }
    }
}
