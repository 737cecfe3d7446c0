import NIOCore

/// DescribeGroups (key 15), v0-4 (v5 is flexible): state, protocol and members of groups, for
/// tools (`kafka-consumer-groups --describe`, `rill group describe`).
public struct DescribeGroupsRequest: Equatable, Sendable {
    public var groups: [String]
    /// v3+.
    public var includeAuthorizedOperations = false

    public init(groups: [String]) { self.groups = groups }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> DescribeGroupsRequest {
        var out = DescribeGroupsRequest(groups: try r.array("groups", minElementBytes: 2) { r throws(KafkaWireError) in try r.string("group") })
        if version >= 3 { out.includeAuthorizedOperations = try r.bool("include_authorized_operations") }
        return out
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.array(groups) { w, g in w.string(g) }
        if version >= 3 { w.bool(includeAuthorizedOperations) }
    }
}

public struct DescribeGroupsResponse: Equatable, Sendable {
    public struct Member: Equatable, Sendable {
        public var memberID: String
        /// v4+.
        public var groupInstanceID: String?
        public var clientID: String
        public var clientHost: String
        public var metadata: ByteBuffer
        public var assignment: ByteBuffer

        public init(memberID: String, groupInstanceID: String? = nil, clientID: String, clientHost: String, metadata: ByteBuffer, assignment: ByteBuffer) {
            self.memberID = memberID
            self.groupInstanceID = groupInstanceID
            self.clientID = clientID
            self.clientHost = clientHost
            self.metadata = metadata
            self.assignment = assignment
        }
    }

    public struct Group: Equatable, Sendable {
        public var errorCode: Int16
        public var groupID: String
        /// "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead".
        public var state: String
        public var protocolType: String
        /// The chosen assignor ("range", "roundrobin", ...).
        public var protocolData: String
        public var members: [Member]
        /// v3+; Int32.min when not asked for.
        public var authorizedOperations: Int32 = Int32.min

        public init(errorCode: ErrorCode = .none, groupID: String, state: String, protocolType: String, protocolData: String, members: [Member]) {
            self.errorCode = errorCode.rawValue
            self.groupID = groupID
            self.state = state
            self.protocolType = protocolType
            self.protocolData = protocolData
            self.members = members
        }
    }

    public var throttleTimeMs: Int32 = 0
    public var groups: [Group]

    public init(groups: [Group]) { self.groups = groups }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        if version >= 1 { w.int32(throttleTimeMs) }
        w.array(groups) { w, g in
            w.int16(g.errorCode)
            w.string(g.groupID)
            w.string(g.state)
            w.string(g.protocolType)
            w.string(g.protocolData)
            w.array(g.members) { w, m in
                w.string(m.memberID)
                if version >= 4 { w.nullableString(m.groupInstanceID) }
                w.string(m.clientID)
                w.string(m.clientHost)
                w.nullableBytes(m.metadata)
                w.nullableBytes(m.assignment)
            }
            if version >= 3 { w.int32(g.authorizedOperations) }
        }
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> DescribeGroupsResponse {
        let throttle = version >= 1 ? try r.int32("throttle_time_ms") : 0
        let groups = try r.array("groups", minElementBytes: 14) { r throws(KafkaWireError) -> Group in
            let code = try r.int16("error_code")
            var g = Group(
                groupID: try r.string("group_id"), state: try r.string("group_state"), protocolType: try r.string("protocol_type"),
                protocolData: try r.string("protocol_data"),
                members: try r.array("members", minElementBytes: 16) { r throws(KafkaWireError) -> Member in
                    let id = try r.string("member_id")
                    let instance = version >= 4 ? try r.nullableString("group_instance_id") : nil
                    return Member(
                        memberID: id, groupInstanceID: instance, clientID: try r.string("client_id"), clientHost: try r.string("client_host"),
                        metadata: try r.nullableBytes("member_metadata") ?? ByteBuffer(), assignment: try r.nullableBytes("member_assignment") ?? ByteBuffer())
                })
            g.errorCode = code
            if version >= 3 { g.authorizedOperations = try r.int32("authorized_operations") }
            return g
        }
        var out = DescribeGroupsResponse(groups: groups)
        out.throttleTimeMs = throttle
        return out
    }
}

/// ListGroups (key 16), v0-2 (v3 is flexible): the groups a broker coordinates.
public struct ListGroupsRequest: Equatable, Sendable {
    public init() {}
    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> ListGroupsRequest { ListGroupsRequest() }
    public func encode(_ w: inout KafkaWriter, version: Int16) {}
}

public struct ListGroupsResponse: Equatable, Sendable {
    public struct Group: Equatable, Sendable {
        public var groupID: String
        public var protocolType: String
        public init(groupID: String, protocolType: String) {
            self.groupID = groupID
            self.protocolType = protocolType
        }
    }

    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16
    public var groups: [Group]

    public init(errorCode: ErrorCode = .none, groups: [Group]) {
        self.errorCode = errorCode.rawValue
        self.groups = groups
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        if version >= 1 { w.int32(throttleTimeMs) }
        w.int16(errorCode)
        w.array(groups) { w, g in
            w.string(g.groupID)
            w.string(g.protocolType)
        }
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> ListGroupsResponse {
        let throttle = version >= 1 ? try r.int32("throttle_time_ms") : 0
        let code = try r.int16("error_code")
        let groups = try r.array("groups", minElementBytes: 4) { r throws(KafkaWireError) in
            Group(groupID: try r.string("group_id"), protocolType: try r.string("protocol_type"))
        }
        var out = ListGroupsResponse(groups: groups)
        out.errorCode = code
        out.throttleTimeMs = throttle
        return out
    }
}
