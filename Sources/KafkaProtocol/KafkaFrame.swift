import NIOCore

/// Kafka's framing: `int32 size` (big-endian, the bytes after it) and the message. The size is
/// checked against a hard limit before anything is read or allocated (Kafka's own default for
/// `socket.request.max.bytes` is 100 MiB).
public enum KafkaFrame {
    public static let requestBytesMaxDefault = 100 * 1024 * 1024

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case tooLarge(size: Int, limit: Int)
        case negativeSize(Int)

        public var description: String {
            switch self {
            case .tooLarge(let size, let limit): return "request of \(size) bytes exceeds the \(limit)-byte limit"
            case .negativeSize(let size): return "negative request size \(size)"
            }
        }
    }

    /// The next whole message (without its size), or nil when it has not all arrived.
    public static func next(from buffer: inout ByteBuffer, limit: Int = requestBytesMaxDefault) throws(Problem) -> ByteBuffer? {
        guard let size = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else { return nil }
        guard size >= 0 else { throw .negativeSize(Int(size)) }
        guard Int(size) <= limit else { throw .tooLarge(size: Int(size), limit: limit) }
        guard buffer.readableBytes >= 4 + Int(size) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(size))
    }

    /// Prefix `body` with its size.
    public static func frame(_ body: ByteBuffer, into out: inout ByteBuffer) {
        var body = body
        out.writeInteger(Int32(body.readableBytes), endianness: .big)
        out.writeBuffer(&body)
    }
}

/// Request header v1 or v2 (KIP-482). v2, for flexible request versions, adds a tagged-field
/// section after `client_id`, which stays an int16 string in both, so any broker can read the
/// header of any version: the API and version decide whether tags follow (Kafka's rule).
public struct RequestHeader: Equatable, Sendable {
    public var apiKey: Int16
    public var apiVersion: Int16
    public var correlationID: Int32
    public var clientID: String?

    public init(apiKey: Int16, apiVersion: Int16, correlationID: Int32, clientID: String?) {
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.correlationID = correlationID
        self.clientID = clientID
    }

    /// Whether this request uses header v2: a known API at one of its flexible versions (the
    /// versions past the codec's range count too, so a newer request is still framed right).
    public var isFlexible: Bool {
        guard let key = ApiKey(rawValue: apiKey), let from = key.flexibleFrom else { return false }
        return apiVersion >= from
    }

    /// Reads the header, and its tagged fields when the version is flexible (unknown tags are
    /// skipped; header v2 defines none Rill uses).
    public static func decode(_ r: inout KafkaReader) throws(KafkaWireError) -> RequestHeader {
        let key = try r.int16("api_key")
        let version = try r.int16("api_version")
        let correlation = try r.int32("correlation_id")
        let client = try r.nullableString("client_id")
        let header = RequestHeader(apiKey: key, apiVersion: version, correlationID: correlation, clientID: client)
        if header.isFlexible { try r.skipTaggedFields() }
        return header
    }

    public func encode(_ w: inout KafkaWriter) {
        w.int16(apiKey)
        w.int16(apiVersion)
        w.int32(correlationID)
        w.nullableString(clientID)
        if isFlexible { w.unsignedVarint(0) }
    }

    /// Whether the response to this request uses header v1 (with tagged fields): flexible
    /// versions, except ApiVersions, whose response header is always v0 so a client can read
    /// it before it knows what the broker speaks.
    public var responseHeaderIsFlexible: Bool { isFlexible && apiKey != ApiKey.apiVersions.rawValue }
}

/// Response header v0 (`correlation_id`) or v1 (plus tagged fields).
public enum ResponseHeader {
    public static func encode(_ w: inout KafkaWriter, correlationID: Int32, flexible: Bool) {
        w.int32(correlationID)
        if flexible { w.unsignedVarint(0) }
    }

    /// Reads the header and returns the correlation id.
    public static func decode(_ r: inout KafkaReader, flexible: Bool) throws(KafkaWireError) -> Int32 {
        let correlation = try r.int32("correlation_id")
        if flexible { try r.skipTaggedFields() }
        return correlation
    }
}
