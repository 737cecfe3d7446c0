import NIOCore

/// Why bytes could not be read as a Kafka message. Every count and length is checked against the
/// bytes actually present before anything is allocated for it.
public enum KafkaWireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes than a field needs.
    case truncated(String)
    /// A field holds a value the protocol does not allow.
    case invalid(String)

    public var description: String {
        switch self {
        case .truncated(let what): return "truncated Kafka message: \(what)"
        case .invalid(let what): return "invalid Kafka message: \(what)"
        }
    }
}

/// Reads the non-flexible (pre-KIP-482) Kafka encodings from a buffer: big-endian integers,
/// int16-length strings, int32-length bytes, int32-count arrays, and the zigzag varints of
/// RecordBatch records.
public struct KafkaReader {
    public var buffer: ByteBuffer

    public init(_ buffer: ByteBuffer) { self.buffer = buffer }

    public var remaining: Int { buffer.readableBytes }

    public mutating func int8(_ field: @autoclosure () -> String = "int8") throws(KafkaWireError) -> Int8 {
        guard let v = buffer.readInteger(as: Int8.self) else { throw .truncated(field()) }
        return v
    }

    public mutating func int16(_ field: @autoclosure () -> String = "int16") throws(KafkaWireError) -> Int16 {
        guard let v = buffer.readInteger(endianness: .big, as: Int16.self) else { throw .truncated(field()) }
        return v
    }

    public mutating func int32(_ field: @autoclosure () -> String = "int32") throws(KafkaWireError) -> Int32 {
        guard let v = buffer.readInteger(endianness: .big, as: Int32.self) else { throw .truncated(field()) }
        return v
    }

    public mutating func int64(_ field: @autoclosure () -> String = "int64") throws(KafkaWireError) -> Int64 {
        guard let v = buffer.readInteger(endianness: .big, as: Int64.self) else { throw .truncated(field()) }
        return v
    }

    public mutating func bool(_ field: @autoclosure () -> String = "boolean") throws(KafkaWireError) -> Bool {
        try int8(field()) != 0
    }

    /// A nullable string: int16 length (-1 = null) and UTF-8.
    public mutating func nullableString(_ field: @autoclosure () -> String = "string") throws(KafkaWireError) -> String? {
        let length = Int(try int16(field()))
        if length == -1 { return nil }
        guard length >= 0 else { throw .invalid("\(field()): length \(length)") }
        guard let s = buffer.readString(length: length) else {
            throw .truncated("\(field()): \(length) bytes, \(buffer.readableBytes) left")
        }
        // Invalid UTF-8 is repaired (U+FFFD), which can make it longer than an int16 length allows.
        guard s.utf8.count <= Int(Int16.max) else { throw .invalid("\(field()): \(length) bytes of invalid UTF-8") }
        return s
    }

    public mutating func string(_ field: @autoclosure () -> String = "string") throws(KafkaWireError) -> String {
        guard let s = try nullableString(field()) else { throw .invalid("\(field()) is null") }
        return s
    }

    /// Nullable bytes: int32 length (-1 = null). A slice of the buffer, not a copy.
    public mutating func nullableBytes(_ field: @autoclosure () -> String = "bytes") throws(KafkaWireError) -> ByteBuffer? {
        let length = Int(try int32(field()))
        if length == -1 { return nil }
        guard length >= 0 else { throw .invalid("\(field()): length \(length)") }
        guard let b = buffer.readSlice(length: length) else {
            throw .truncated("\(field()): \(length) bytes, \(buffer.readableBytes) left")
        }
        return b
    }

    /// A nullable array: int32 count (-1 = null). `minElementBytes` bounds the count by the bytes
    /// left, so a hostile count cannot make us reserve memory.
    public mutating func nullableArray<T>(
        _ field: @autoclosure () -> String, minElementBytes: Int, _ element: (inout KafkaReader) throws(KafkaWireError) -> T
    ) throws(KafkaWireError) -> [T]? {
        let count = Int(try int32("\(field()) count"))
        if count == -1 { return nil }
        guard count >= 0 else { throw .invalid("\(field()): count \(count)") }
        guard count <= buffer.readableBytes / max(1, minElementBytes) else {
            throw .truncated("\(field()): \(count) elements cannot fit in \(buffer.readableBytes) bytes")
        }
        var out: [T] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(try element(&self)) }
        return out
    }

    public mutating func array<T>(
        _ field: @autoclosure () -> String, minElementBytes: Int, _ element: (inout KafkaReader) throws(KafkaWireError) -> T
    ) throws(KafkaWireError) -> [T] {
        guard let a = try nullableArray(field(), minElementBytes: minElementBytes, element) else {
            throw .invalid("\(field()) is null")
        }
        return a
    }

    /// An unsigned LEB128 varint of at most 5 bytes (a uint32).
    public mutating func unsignedVarint(_ field: @autoclosure () -> String = "varint") throws(KafkaWireError) -> UInt32 {
        var value: UInt32 = 0
        for shift in stride(from: 0, to: 35, by: 7) {
            guard let byte = buffer.readInteger(as: UInt8.self) else { throw .truncated(field()) }
            value |= UInt32(byte & 0x7F) << UInt32(shift)
            if byte & 0x80 == 0 { return value }
        }
        throw .invalid("\(field()): varint longer than 5 bytes")
    }

    /// A zigzag varint (int32), as RecordBatch records use.
    public mutating func varint(_ field: @autoclosure () -> String = "varint") throws(KafkaWireError) -> Int32 {
        let raw = try unsignedVarint(field())
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A zigzag varlong (int64) of at most 10 bytes.
    public mutating func varlong(_ field: @autoclosure () -> String = "varlong") throws(KafkaWireError) -> Int64 {
        var raw: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard let byte = buffer.readInteger(as: UInt8.self) else { throw .truncated(field()) }
            raw |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte & 0x80 == 0 { return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1))) }
        }
        throw .invalid("\(field()): varlong longer than 10 bytes")
    }

    /// Skip a flexible tagged-field section (uvarint count, then tag, size, bytes each).
    public mutating func skipTaggedFields() throws(KafkaWireError) {
        let count = try unsignedVarint("tagged field count")
        for _ in 0..<count {
            _ = try unsignedVarint("tag")
            let size = Int(try unsignedVarint("tagged field size"))
            guard buffer.readSlice(length: size) != nil else { throw .truncated("tagged field of \(size) bytes") }
        }
    }

    /// Nothing may follow the last field.
    public func expectEnd(_ what: String) throws(KafkaWireError) {
        if buffer.readableBytes != 0 { throw .invalid("\(buffer.readableBytes) unexpected bytes after \(what)") }
    }
}

/// Writes the non-flexible Kafka encodings.
public struct KafkaWriter {
    public var buffer: ByteBuffer

    public init(_ buffer: ByteBuffer = ByteBuffer()) { self.buffer = buffer }

    public mutating func int8(_ v: Int8) { buffer.writeInteger(v) }
    public mutating func int16(_ v: Int16) { buffer.writeInteger(v, endianness: .big) }
    public mutating func int32(_ v: Int32) { buffer.writeInteger(v, endianness: .big) }
    public mutating func int64(_ v: Int64) { buffer.writeInteger(v, endianness: .big) }
    public mutating func bool(_ v: Bool) { buffer.writeInteger(Int8(v ? 1 : 0)) }

    public mutating func nullableString(_ s: String?) {
        guard let s else {
            int16(-1)
            return
        }
        let text = Self.capped(s)
        int16(Int16(text.utf8.count))
        buffer.writeString(text)
    }

    /// At most 32,767 UTF-8 bytes, cut at a character boundary: the most a Kafka string may hold
    /// (readers refuse more, as ours do). Only text this broker composes can be longer (an error
    /// message quoting a name a client sent), and a shortened message beats a refused response.
    static func capped(_ s: String) -> String {
        guard s.utf8.count > Int(Int16.max) else { return s }
        var bytes = 0
        var end = s.unicodeScalars.endIndex
        for i in s.unicodeScalars.indices {
            let width = UTF8.width(s.unicodeScalars[i])
            if bytes + width > Int(Int16.max) {
                end = i
                break
            }
            bytes += width
        }
        return String(s.unicodeScalars[..<end])
    }

    public mutating func string(_ s: String) { nullableString(s) }

    public mutating func nullableBytes(_ b: ByteBuffer?) {
        guard var b else {
            int32(-1)
            return
        }
        int32(Int32(b.readableBytes))
        buffer.writeBuffer(&b)
    }

    public mutating func nullableArray<T>(_ a: [T]?, _ element: (inout KafkaWriter, T) -> Void) {
        guard let a else {
            int32(-1)
            return
        }
        int32(Int32(a.count))
        for e in a { element(&self, e) }
    }

    public mutating func array<T>(_ a: [T], _ element: (inout KafkaWriter, T) -> Void) { nullableArray(a, element) }

    public mutating func unsignedVarint(_ v: UInt32) {
        var v = v
        while v >= 0x80 {
            buffer.writeInteger(UInt8(v & 0x7F | 0x80))
            v >>= 7
        }
        buffer.writeInteger(UInt8(v))
    }

    public mutating func varint(_ v: Int32) { unsignedVarint(UInt32(bitPattern: (v << 1) ^ (v >> 31))) }

    public mutating func varlong(_ v: Int64) {
        var raw = UInt64(bitPattern: (v << 1) ^ (v >> 63))
        while raw >= 0x80 {
            buffer.writeInteger(UInt8(raw & 0x7F | 0x80))
            raw >>= 7
        }
        buffer.writeInteger(UInt8(raw))
    }
}
