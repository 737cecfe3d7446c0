/// Heartbeat (key 12), v0-3: a member is alive in the given generation.
public struct HeartbeatRequest: Equatable, Sendable {
    public var groupID: String
    public var generationID: Int32
    public var memberID: String
    public var groupInstanceID: String?

    public init(groupID: String, generationID: Int32, memberID: String, groupInstanceID: String? = nil) {
        self.groupID = groupID
        self.generationID = generationID
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> HeartbeatRequest {
        let group = try r.string("group_id")
        let generation = try r.int32("generation_id")
        let member = try r.string("member_id")
        return HeartbeatRequest(groupID: group, generationID: generation, memberID: member,
                                groupInstanceID: version >= 3 ? try r.nullableString("group_instance_id") : nil)
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.string(groupID)
        w.int32(generationID)
        w.string(memberID)
        if version >= 3 { w.nullableString(groupInstanceID) }
    }
}

public struct HeartbeatResponse: Equatable, Sendable {
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16

    public init(errorCode: ErrorCode = .none) { self.errorCode = errorCode.rawValue }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        if version >= 1 { w.int32(throttleTimeMs) }
        w.int16(errorCode)
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> HeartbeatResponse {
        let throttle = version >= 1 ? try r.int32("throttle_time_ms") : 0
        var out = HeartbeatResponse()
        out.errorCode = try r.int16("error_code")
        out.throttleTimeMs = throttle
        return out
    }
}
