import KafkaProtocol
import NIOCore
import Primitives

/// A request waiting for its answer (a JoinGroup held for the join phase, a SyncGroup held until
/// the leader's assignment arrives).
struct HeldRequest {
    var request: KafkaRequest
    var version: Int16
}

/// Answers a group produces; the node frames and sends them.
enum GroupReply {
    case join(HeldRequest, JoinGroupResponse)
    case sync(HeldRequest, SyncGroupResponse)
}

/// Timing rules of the group coordinator, in ticks.
struct GroupTiming {
    var now: UInt64
    var tickMs: Int
    /// Kafka's `group.initial.rebalance.delay.ms`: the first rebalance of an empty group waits
    /// this long for more members.
    var initialRebalanceDelayMs: Int

    func ticks(_ ms: Int32) -> UInt64 { Ticks.from(milliseconds: Int(ms), tickMilliseconds: tickMs) }
}

/// One consumer group on its coordinator: the classic protocol's states (Empty →
/// PreparingRebalance → CompletingRebalance → Stable), members, generations, and the held
/// Join/Sync requests. Pure: time is the tick count passed in, answers are returned as values.
/// Kafka's GroupCoordinator is the model (see ../shared/notes/kafka-protocol.md (beside the repository) §7).
final class ConsumerGroup {
    enum State: String {
        case empty = "Empty"
        case preparingRebalance = "PreparingRebalance"
        case completingRebalance = "CompletingRebalance"
        case stable = "Stable"
    }

    struct Member {
        var id: String
        var instanceID: String?
        var clientID: String
        var clientHost: String
        var sessionTimeoutMs: Int32
        var rebalanceTimeoutMs: Int32
        var protocolType: String
        var protocols: [(name: String, metadata: [UInt8])]
        var assignment: [UInt8] = []
        var lastSeen: UInt64
        var join: HeldRequest?
        var sync: HeldRequest?

        func metadata(for name: String) -> [UInt8] { protocols.first { $0.name == name }?.metadata ?? [] }
        func sameProtocols(_ other: [(name: String, metadata: [UInt8])]) -> Bool {
            protocols.count == other.count && zip(protocols, other).allSatisfy { $0.name == $1.name && $0.metadata == $1.metadata }
        }
    }

    let id: String
    private(set) var state = State.empty
    private(set) var generation: Int32 = 0
    private(set) var protocolType: String?
    private(set) var protocolName: String?
    private(set) var leader: String?
    /// In join order: the first is the leader when the old one is gone.
    private(set) var members: [Member] = []
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they join or expire.
    private var pendingMembers: [(id: String, expires: UInt64)] = []
    private var joinDeadline: UInt64 = 0
    private var initialDelayUntil: UInt64?
    /// Set when membership or assignments changed in a way a new coordinator must know.
    var needsPersist = false
    /// What an operator should see in the log (Kafka's coordinator logs the same moments): a
    /// member expired or left, a generation formed. Taken by the node after each event.
    var notices: [String] = []

    init(id: String) { self.id = id }

    /// A group as a previous coordinator persisted it: members continue in the same generation.
    init(id: String, persisted p: PersistedGroup, now: UInt64) {
        self.id = id
        generation = p.generation
        if p.members.isEmpty {
            state = .empty
        } else {
            state = .stable
            protocolType = p.protocolType
            protocolName = p.protocolName
            leader = p.leader
            members = p.members.map {
                Member(
                    id: $0.id, instanceID: $0.instanceID, clientID: $0.clientID, clientHost: $0.clientHost,
                    sessionTimeoutMs: $0.sessionTimeoutMs, rebalanceTimeoutMs: $0.rebalanceTimeoutMs, protocolType: p.protocolType,
                    protocols: [(p.protocolName, $0.subscription)], assignment: $0.assignment, lastSeen: now)
            }
        }
    }

    var persisted: PersistedGroup {
        PersistedGroup(
            protocolType: protocolType ?? "", generation: generation, protocolName: protocolName ?? "", leader: leader ?? "",
            members: state == .stable || state == .completingRebalance
                ? members.map {
                    .init(
                        id: $0.id, instanceID: $0.instanceID, clientID: $0.clientID, clientHost: $0.clientHost, sessionTimeoutMs: $0.sessionTimeoutMs,
                        rebalanceTimeoutMs: $0.rebalanceTimeoutMs, subscription: $0.metadata(for: protocolName ?? ""), assignment: $0.assignment)
                } : [])
    }

    func member(_ id: String) -> Member? { members.first { $0.id == id } }
    private func index(_ id: String) -> Int? { members.firstIndex { $0.id == id } }

    // MARK: - JoinGroup

    /// `newMemberID` is the id to hand out when the request has none.
    func join(_ j: JoinGroupRequest, held: HeldRequest, clientID: String, newMemberID: String, timing t: GroupTiming) -> [GroupReply] {
        func fail(_ e: ErrorCode, memberID: String = "") -> [GroupReply] {
            [.join(held, JoinGroupResponse(errorCode: e, generationID: -1, protocolName: "", leader: "", memberID: memberID, members: []))]
        }
        let protocols = j.protocols.map { (name: $0.name, metadata: Array($0.metadata.readableBytesView)) }
        if j.protocolType.isEmpty || protocols.isEmpty { return fail(.inconsistentGroupProtocol, memberID: j.memberID) }
        if state != .empty {
            // The member must speak the group's protocol type and share a protocol with everyone.
            let shared = Set(members.filter { $0.id != j.memberID }.map { Set($0.protocols.map(\.name)) }.reduce(Set(protocols.map(\.name))) { $0.intersection($1) })
            if protocolType != j.protocolType || shared.isEmpty { return fail(.inconsistentGroupProtocol, memberID: j.memberID) }
        }
        var replies: [GroupReply] = []
        if j.memberID.isEmpty {
            if held.version >= 4 {
                // KIP-394: the client must come back with this id; until then it is only pending,
                // and one that never comes back expires without holding up a rebalance.
                pendingMembers.append((newMemberID, t.now + t.ticks(j.sessionTimeoutMs)))
                return fail(.memberIDRequired, memberID: newMemberID)
            }
            replies += addMember(newMemberID, j, protocols, held, clientID, t)
        } else if let k = pendingMembers.firstIndex(where: { $0.id == j.memberID }) {
            pendingMembers.remove(at: k)
            replies += addMember(j.memberID, j, protocols, held, clientID, t)
        } else if let k = index(j.memberID) {
            members[k].lastSeen = t.now
            switch state {
            case .preparingRebalance:
                if let old = members[k].join { replies.append(rejoinSuperseded(old)) }
                members[k].protocols = protocols
                members[k].join = held
            case .completingRebalance, .stable:
                if members[k].sameProtocols(protocols) && (state == .completingRebalance || j.memberID != leader) {
                    // It missed the answer (or asks again): the current generation, unchanged.
                    return [.join(held, joinResponse(for: members[k].id))]
                }
                members[k].protocols = protocols
                members[k].join = held
                replies += prepareRebalance(t)
            case .empty:
                return fail(.unknownMemberID, memberID: j.memberID)
            }
        } else {
            return fail(.unknownMemberID, memberID: j.memberID)
        }
        return replies + tryCompleteJoin(t)
    }

    private func rejoinSuperseded(_ old: HeldRequest) -> GroupReply {
        .join(old, JoinGroupResponse(errorCode: .rebalanceInProgress, generationID: -1, protocolName: "", leader: "", memberID: "", members: []))
    }

    private func addMember(
        _ id: String, _ j: JoinGroupRequest, _ protocols: [(name: String, metadata: [UInt8])], _ held: HeldRequest, _ clientID: String,
        _ t: GroupTiming
    ) -> [GroupReply] {
        if state == .empty { protocolType = j.protocolType }
        members.append(
            Member(
                id: id, instanceID: j.groupInstanceID, clientID: clientID, clientHost: "/127.0.0.1", sessionTimeoutMs: j.sessionTimeoutMs,
                rebalanceTimeoutMs: j.rebalanceTimeoutMs, protocolType: j.protocolType, protocols: protocols, lastSeen: t.now, join: held))
        if leader == nil { leader = id }
        return prepareRebalance(t)
    }

    /// Start (or keep) a join phase: held syncs of the last one are told to rejoin.
    private func prepareRebalance(_ t: GroupTiming) -> [GroupReply] {
        var replies: [GroupReply] = []
        if state == .completingRebalance {
            for k in members.indices {
                if let s = members[k].sync {
                    replies.append(.sync(s, SyncGroupResponse(errorCode: .rebalanceInProgress, assignment: ByteBuffer())))
                    members[k].sync = nil
                }
            }
        }
        if state == .preparingRebalance { return replies }
        let rebalanceTimeout = members.map(\.rebalanceTimeoutMs).max() ?? 0
        joinDeadline = t.now + t.ticks(rebalanceTimeout)
        if state == .empty {
            initialDelayUntil = t.now + t.ticks(Int32(min(t.initialRebalanceDelayMs, Int(rebalanceTimeout))))
        }
        state = .preparingRebalance
        return replies
    }

    /// End the join phase when every member has rejoined (and the initial delay is over), or at
    /// the deadline, dropping those that did not.
    private func tryCompleteJoin(_ t: GroupTiming) -> [GroupReply] {
        guard state == .preparingRebalance else { return [] }
        let everyone = members.allSatisfy { $0.join != nil }
        let delayed = initialDelayUntil.map { t.now < $0 } ?? false
        guard (everyone && !delayed) || t.now >= joinDeadline else { return [] }
        initialDelayUntil = nil
        let dropped = members.filter { $0.join == nil }.map(\.id)
        if !dropped.isEmpty {
            let named = dropped.prefix(10).map { LogText.safe($0) }.joined(separator: ", ") + (dropped.count > 10 ? " and \(dropped.count - 10) more" : "")
            notices.append("group '\(LogText.safe(id))': \(named) did not rejoin within the rebalance timeout; removed")
        }
        members.removeAll { $0.join == nil }
        generation += 1
        guard !members.isEmpty else {
            state = .empty
            protocolName = nil
            protocolType = nil
            leader = nil
            needsPersist = true
            return []
        }
        protocolName = selectProtocol()
        if leader == nil || member(leader!) == nil { leader = members[0].id }
        state = .completingRebalance
        notices.append(
            "group '\(LogText.safe(id))': generation \(generation) formed with \(members.count) member(s), leader \(LogText.safe(leader!)), "
                + "protocol \(LogText.safe(protocolName ?? ""))")
        var replies: [GroupReply] = []
        for k in members.indices {
            replies.append(.join(members[k].join!, joinResponse(for: members[k].id)))
            members[k].join = nil
            members[k].lastSeen = t.now
            members[k].assignment = []
        }
        return replies
    }

    /// Kafka's vote: every member votes for the first protocol on its list that all members
    /// support; the most votes wins (ties to the earlier candidate).
    private func selectProtocol() -> String {
        var candidates = members[0].protocols.map(\.name)
        for m in members.dropFirst() { candidates = candidates.filter { c in m.protocols.contains { $0.name == c } } }
        var votes: [(String, Int)] = candidates.map { ($0, 0) }
        for m in members {
            if let choice = m.protocols.first(where: { p in candidates.contains(p.name) }), let k = votes.firstIndex(where: { $0.0 == choice.name }) {
                votes[k].1 += 1
            }
        }
        return votes.max { $0.1 < $1.1 || ($0.1 == $1.1 && candidates.firstIndex(of: $0.0)! > candidates.firstIndex(of: $1.0)!) }?.0 ?? candidates[0]
    }

    private func joinResponse(for memberID: String) -> JoinGroupResponse {
        let name = protocolName ?? ""
        let list = memberID == leader
            ? members.map { JoinGroupResponse.JoinGroupResponseMember(memberID: $0.id, groupInstanceID: $0.instanceID, metadata: ByteBuffer(bytes: $0.metadata(for: name))) }
            : []
        return JoinGroupResponse(
            errorCode: .none, generationID: generation, protocolType: protocolType, protocolName: name, leader: leader ?? "", memberID: memberID,
            members: list)
    }

    // MARK: - SyncGroup

    func sync(_ s: SyncGroupRequest, held: HeldRequest, timing t: GroupTiming) -> [GroupReply] {
        func answer(_ e: ErrorCode, _ assignment: [UInt8] = []) -> [GroupReply] {
            [.sync(held, syncResponse(e, assignment))]
        }
        guard let k = index(s.memberID) else { return answer(.unknownMemberID) }
        guard s.generationID == generation else { return answer(.illegalGeneration) }
        // v5+ name the protocol the member chose: it must be the group's (Kafka's check).
        if let type = s.protocolType, type != protocolType { return answer(.inconsistentGroupProtocol) }
        if let name = s.protocolName, name != protocolName { return answer(.inconsistentGroupProtocol) }
        members[k].lastSeen = t.now
        switch state {
        case .empty: return answer(.unknownMemberID)
        case .preparingRebalance: return answer(.rebalanceInProgress)
        case .stable: return answer(.none, members[k].assignment)
        case .completingRebalance:
            members[k].sync = held
            guard s.memberID == leader else { return [] }
            for m in members.indices {
                members[m].assignment = s.assignments.first { $0.memberID == members[m].id }.map { Array($0.assignment.readableBytesView) } ?? []
            }
            state = .stable
            needsPersist = true
            var replies: [GroupReply] = []
            for m in members.indices {
                if let h = members[m].sync {
                    replies.append(.sync(h, syncResponse(.none, members[m].assignment)))
                    members[m].sync = nil
                }
            }
            return replies
        }
    }

    /// A SyncGroup answer; v5+ also name the group's protocol type and name.
    private func syncResponse(_ e: ErrorCode, _ assignment: [UInt8]) -> SyncGroupResponse {
        e == .none
            ? SyncGroupResponse(errorCode: e, protocolType: protocolType, protocolName: protocolName, assignment: ByteBuffer(bytes: assignment))
            : SyncGroupResponse(errorCode: e, assignment: ByteBuffer(bytes: assignment))
    }

    // MARK: - Heartbeat, LeaveGroup, commits

    func heartbeat(memberID: String, generation g: Int32, timing t: GroupTiming) -> ErrorCode {
        guard state != .empty, let k = index(memberID) else { return .unknownMemberID }
        guard g == generation else { return .illegalGeneration }
        members[k].lastSeen = t.now
        return state == .preparingRebalance ? .rebalanceInProgress : .none
    }

    /// Remove members (LeaveGroup): their held requests are told they are unknown now.
    func leave(_ ids: [String], timing t: GroupTiming) -> (errors: [ErrorCode], replies: [GroupReply]) {
        var errors: [ErrorCode] = []
        var replies: [GroupReply] = []
        for id in ids {
            if let k = pendingMembers.firstIndex(where: { $0.id == id }) {
                pendingMembers.remove(at: k)
                errors.append(.none)
            } else if index(id) != nil {
                notices.append("group '\(LogText.safe(self.id))': member \(LogText.safe(id)) left")
                replies += remove(id, t)
                errors.append(.none)
            } else {
                errors.append(.unknownMemberID)
            }
        }
        return (errors, replies)
    }

    private func remove(_ id: String, _ t: GroupTiming) -> [GroupReply] {
        guard let k = index(id) else { return [] }
        var replies: [GroupReply] = []
        let m = members.remove(at: k)
        if let j = m.join {
            replies.append(.join(j, JoinGroupResponse(errorCode: .unknownMemberID, generationID: -1, protocolName: "", leader: "", memberID: id, members: [])))
        }
        if let s = m.sync { replies.append(.sync(s, SyncGroupResponse(errorCode: .unknownMemberID, assignment: ByteBuffer()))) }
        if leader == id { leader = members.first?.id }
        switch state {
        case .stable, .completingRebalance:
            if members.isEmpty {
                generation += 1
                state = .empty
                protocolName = nil
                protocolType = nil
                leader = nil
                needsPersist = true
            } else {
                replies += prepareRebalance(t)
            }
        case .preparingRebalance:
            replies += tryCompleteJoin(t)
        case .empty:
            break
        }
        return replies
    }

    /// Whether an OffsetCommit with this generation and member may be stored; a known member's
    /// commit also counts as a sign of life.
    func commitCheck(memberID: String, generation g: Int32, timing t: GroupTiming) -> ErrorCode {
        if g < 0 && memberID.isEmpty {
            // A consumer outside the group protocol (assign + commit): only while nobody is in it.
            return state == .empty ? .none : .unknownMemberID
        }
        guard let k = index(memberID) else { return .unknownMemberID }
        guard g == generation else { return .illegalGeneration }
        members[k].lastSeen = t.now
        return state == .completingRebalance ? .rebalanceInProgress : .none
    }

    // MARK: - Time

    /// Expire silent members and pending ids; end a join phase at its deadline.
    func tick(_ t: GroupTiming) -> [GroupReply] {
        pendingMembers.removeAll { t.now >= $0.expires }
        var replies: [GroupReply] = []
        // A member waiting in a join phase is held by the rebalance deadline, not its session;
        // one whose SyncGroup is held waits for the leader's assignment (Kafka keeps both alive).
        let expired = members.filter { $0.join == nil && $0.sync == nil && t.now >= $0.lastSeen + t.ticks($0.sessionTimeoutMs) }.map(\.id)
        for id in expired {
            let timeout = member(id)?.sessionTimeoutMs ?? 0
            notices.append("group '\(LogText.safe(self.id))': member \(LogText.safe(id)) sent no heartbeat for \(timeout) ms (its session timeout); removed, rebalancing")
            replies += remove(id, t)
        }
        replies += tryCompleteJoin(t)
        return replies
    }

    /// The coordinator moved away: every held request is told to find the new one.
    func abandon() -> [GroupReply] {
        var replies: [GroupReply] = []
        for k in members.indices {
            if let j = members[k].join {
                replies.append(.join(j, JoinGroupResponse(errorCode: .notCoordinator, generationID: -1, protocolName: "", leader: "", memberID: members[k].id, members: [])))
                members[k].join = nil
            }
            if let s = members[k].sync {
                replies.append(.sync(s, SyncGroupResponse(errorCode: .notCoordinator, assignment: ByteBuffer())))
                members[k].sync = nil
            }
        }
        return replies
    }
}
