/// FindCoordinator (key 10), v0-2: which node coordinates a consumer group.
public struct FindCoordinatorRequest: Equatable, Sendable {
    public var key: String
    /// 0 group, 1 transaction (v1+).
    public var keyType: Int8

    public init(key: String, keyType: Int8 = 0) {
        self.key = key
        self.keyType = keyType
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> FindCoordinatorRequest {
        let key = try r.string("key")
        return FindCoordinatorRequest(key: key, keyType: version >= 1 ? try r.int8("key_type") : 0)
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.string(key)
        if version >= 1 { w.int8(keyType) }
    }
}

public struct FindCoordinatorResponse: Equatable, Sendable {
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16
    public var errorMessage: String?
    public var nodeID: Int32
    public var host: String
    public var port: Int32

    public init(errorCode: ErrorCode = .none, errorMessage: String? = nil, nodeID: Int32, host: String, port: Int32) {
        self.errorCode = errorCode.rawValue
        self.errorMessage = errorMessage
        self.nodeID = nodeID
        self.host = host
        self.port = port
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        if version >= 1 { w.int32(throttleTimeMs) }
        w.int16(errorCode)
        if version >= 1 { w.nullableString(errorMessage) }
        w.int32(nodeID)
        w.string(host)
        w.int32(port)
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> FindCoordinatorResponse {
        let throttle = version >= 1 ? try r.int32("throttle_time_ms") : 0
        let error = try r.int16("error_code")
        let message = version >= 1 ? try r.nullableString("error_message") : nil
        var out = FindCoordinatorResponse(errorMessage: message, nodeID: try r.int32("node_id"), host: try r.string("host"), port: try r.int32("port"))
        out.errorCode = error
        out.throttleTimeMs = throttle
        return out
    }
}
