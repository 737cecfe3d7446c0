/// LeaveGroup (key 13), v0-3: v0-2 carry one member id (librdkafka stops at v1); v3 a list of
/// members (kafka-python sends v3) and answers per member.
public struct LeaveGroupRequest: Equatable, Sendable {
    public struct Member: Equatable, Sendable {
        public var memberID: String
        public var groupInstanceID: String?
        public init(memberID: String, groupInstanceID: String? = nil) {
            self.memberID = memberID
            self.groupInstanceID = groupInstanceID
        }
    }

    public var groupID: String
    /// v0-2: exactly one.
    public var members: [Member]

    public init(groupID: String, members: [Member]) {
        self.groupID = groupID
        self.members = members
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> LeaveGroupRequest {
        let group = try r.string("group_id")
        if version <= 2 { return LeaveGroupRequest(groupID: group, members: [Member(memberID: try r.string("member_id"))]) }
        return LeaveGroupRequest(
            groupID: group,
            members: try r.array("members", minElementBytes: 4) { r throws(KafkaWireError) in
                Member(memberID: try r.string("member_id"), groupInstanceID: try r.nullableString("group_instance_id"))
            })
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.string(groupID)
        if version <= 2 {
            w.string(members.first?.memberID ?? "")
        } else {
            w.array(members) { w, m in
                w.string(m.memberID)
                w.nullableString(m.groupInstanceID)
            }
        }
    }
}

public struct LeaveGroupResponse: Equatable, Sendable {
    public struct Member: Equatable, Sendable {
        public var memberID: String
        public var groupInstanceID: String?
        public var errorCode: Int16
        public init(memberID: String, groupInstanceID: String? = nil, errorCode: ErrorCode = .none) {
            self.memberID = memberID
            self.groupInstanceID = groupInstanceID
            self.errorCode = errorCode.rawValue
        }
    }

    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16
    /// v3 only.
    public var members: [Member]

    public init(errorCode: ErrorCode = .none, members: [Member] = []) {
        self.errorCode = errorCode.rawValue
        self.members = members
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        if version >= 1 { w.int32(throttleTimeMs) }
        w.int16(errorCode)
        if version >= 3 {
            w.array(members) { w, m in
                w.string(m.memberID)
                w.nullableString(m.groupInstanceID)
                w.int16(m.errorCode)
            }
        }
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> LeaveGroupResponse {
        let throttle = version >= 1 ? try r.int32("throttle_time_ms") : 0
        let error = try r.int16("error_code")
        var members: [Member] = []
        if version >= 3 {
            members = try r.array("members", minElementBytes: 6) { r throws(KafkaWireError) in
                var m = Member(memberID: try r.string("member_id"), groupInstanceID: try r.nullableString("group_instance_id"))
                m.errorCode = try r.int16("error_code")
                return m
            }
        }
        var out = LeaveGroupResponse(members: members)
        out.errorCode = error
        out.throttleTimeMs = throttle
        return out
    }
}
