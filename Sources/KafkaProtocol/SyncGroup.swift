import NIOCore

/// SyncGroup (key 14), v0-3: the leader hands out assignments; everyone receives theirs.
public struct SyncGroupRequest: Equatable, Sendable {
    public struct Assignment: Equatable, Sendable {
        public var memberID: String
        public var assignment: ByteBuffer
        public init(memberID: String, assignment: ByteBuffer) {
            self.memberID = memberID
            self.assignment = assignment
        }
    }

    public var groupID: String
    public var generationID: Int32
    public var memberID: String
    public var groupInstanceID: String?
    public var assignments: [Assignment]

    public init(groupID: String, generationID: Int32, memberID: String, groupInstanceID: String? = nil, assignments: [Assignment]) {
        self.groupID = groupID
        self.generationID = generationID
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
        self.assignments = assignments
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> SyncGroupRequest {
        let group = try r.string("group_id")
        let generation = try r.int32("generation_id")
        let member = try r.string("member_id")
        let instance = version >= 3 ? try r.nullableString("group_instance_id") : nil
        let assignments = try r.array("assignments", minElementBytes: 6) { r throws(KafkaWireError) in
            Assignment(memberID: try r.string("member_id"), assignment: try r.nullableBytes("assignment") ?? ByteBuffer())
        }
        return SyncGroupRequest(groupID: group, generationID: generation, memberID: member, groupInstanceID: instance, assignments: assignments)
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.string(groupID)
        w.int32(generationID)
        w.string(memberID)
        if version >= 3 { w.nullableString(groupInstanceID) }
        w.array(assignments) { w, a in
            w.string(a.memberID)
            w.nullableBytes(a.assignment)
        }
    }
}

public struct SyncGroupResponse: Equatable, Sendable {
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16
    public var assignment: ByteBuffer

    public init(errorCode: ErrorCode = .none, assignment: ByteBuffer) {
        self.errorCode = errorCode.rawValue
        self.assignment = assignment
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        if version >= 1 { w.int32(throttleTimeMs) }
        w.int16(errorCode)
        w.nullableBytes(assignment)
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> SyncGroupResponse {
        let throttle = version >= 1 ? try r.int32("throttle_time_ms") : 0
        let error = try r.int16("error_code")
        var out = SyncGroupResponse(assignment: try r.nullableBytes("assignment") ?? ByteBuffer())
        out.errorCode = error
        out.throttleTimeMs = throttle
        return out
    }
}
