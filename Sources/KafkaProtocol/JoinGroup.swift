import NIOCore

/// JoinGroup (key 11), v0-5 (classic protocol; v4+ uses the KIP-394 member id handshake).
public struct JoinGroupRequest: Equatable, Sendable {
    public struct AssignmentProtocol: Equatable, Sendable {
        public var name: String
        /// Opaque to the broker.
        public var metadata: ByteBuffer
        public init(name: String, metadata: ByteBuffer) {
            self.name = name
            self.metadata = metadata
        }
    }

    public var groupID: String
    public var sessionTimeoutMs: Int32
    /// v1+; v0 uses the session timeout.
    public var rebalanceTimeoutMs: Int32
    public var memberID: String
    public var groupInstanceID: String?
    public var protocolType: String
    public var protocols: [AssignmentProtocol]

    public init(groupID: String, sessionTimeoutMs: Int32, rebalanceTimeoutMs: Int32, memberID: String, groupInstanceID: String? = nil,
                protocolType: String, protocols: [AssignmentProtocol]) {
        self.groupID = groupID
        self.sessionTimeoutMs = sessionTimeoutMs
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
        self.protocolType = protocolType
        self.protocols = protocols
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> JoinGroupRequest {
        let group = try r.string("group_id")
        let session = try r.int32("session_timeout_ms")
        let rebalance = version >= 1 ? try r.int32("rebalance_timeout_ms") : session
        let member = try r.string("member_id")
        let instance = version >= 5 ? try r.nullableString("group_instance_id") : nil
        let type = try r.string("protocol_type")
        let protocols = try r.array("protocols", minElementBytes: 6) { r throws(KafkaWireError) in
            AssignmentProtocol(name: try r.string("protocol name"), metadata: try r.nullableBytes("protocol metadata") ?? ByteBuffer())
        }
        return JoinGroupRequest(groupID: group, sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance, memberID: member,
                                groupInstanceID: instance, protocolType: type, protocols: protocols)
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.string(groupID)
        w.int32(sessionTimeoutMs)
        if version >= 1 { w.int32(rebalanceTimeoutMs) }
        w.string(memberID)
        if version >= 5 { w.nullableString(groupInstanceID) }
        w.string(protocolType)
        w.array(protocols) { w, p in
            w.string(p.name)
            w.nullableBytes(p.metadata)
        }
    }
}

public struct JoinGroupResponse: Equatable, Sendable {
    public struct Member: Equatable, Sendable {
        public var memberID: String
        public var groupInstanceID: String?
        public var metadata: ByteBuffer
        public init(memberID: String, groupInstanceID: String? = nil, metadata: ByteBuffer) {
            self.memberID = memberID
            self.groupInstanceID = groupInstanceID
            self.metadata = metadata
        }
    }

    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16
    public var generationID: Int32
    public var protocolName: String
    public var leader: String
    public var memberID: String
    /// Only the leader gets the members.
    public var members: [Member]

    public init(errorCode: ErrorCode = .none, generationID: Int32, protocolName: String, leader: String, memberID: String, members: [Member]) {
        self.errorCode = errorCode.rawValue
        self.generationID = generationID
        self.protocolName = protocolName
        self.leader = leader
        self.memberID = memberID
        self.members = members
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        if version >= 2 { w.int32(throttleTimeMs) }
        w.int16(errorCode)
        w.int32(generationID)
        w.string(protocolName)
        w.string(leader)
        w.string(memberID)
        w.array(members) { w, m in
            w.string(m.memberID)
            if version >= 5 { w.nullableString(m.groupInstanceID) }
            w.nullableBytes(m.metadata)
        }
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> JoinGroupResponse {
        let throttle = version >= 2 ? try r.int32("throttle_time_ms") : 0
        let error = try r.int16("error_code")
        var out = JoinGroupResponse(
            generationID: try r.int32("generation_id"), protocolName: try r.string("protocol_name"), leader: try r.string("leader"),
            memberID: try r.string("member_id"),
            members: try r.array("members", minElementBytes: 6) { r throws(KafkaWireError) in
                let id = try r.string("member_id")
                let instance = version >= 5 ? try r.nullableString("group_instance_id") : nil
                return Member(memberID: id, groupInstanceID: instance, metadata: try r.nullableBytes("metadata") ?? ByteBuffer())
            })
        out.errorCode = error
        out.throttleTimeMs = throttle
        return out
    }
}
