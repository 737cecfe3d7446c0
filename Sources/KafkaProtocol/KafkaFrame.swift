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

/// Request header v1 (v0 plus `client_id`). Every version this broker advertises is
/// non-flexible, so header v2 appears only on requests it refuses (ApiVersions v3+ and newer
/// versions of other APIs); their `client_id` is still an int16 string, so it is read the same way.
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

    public static func decode(_ r: inout KafkaReader) throws(KafkaWireError) -> RequestHeader {
        let key = try r.int16("api_key")
        let version = try r.int16("api_version")
        let correlation = try r.int32("correlation_id")
        let client = try r.nullableString("client_id")
        return RequestHeader(apiKey: key, apiVersion: version, correlationID: correlation, clientID: client)
    }

    public func encode(_ w: inout KafkaWriter) {
        w.int16(apiKey)
        w.int16(apiVersion)
        w.int32(correlationID)
        w.nullableString(clientID)
    }
}
