import KafkaProtocol
import NIOCore
import Primitives
import Raft

/// What the group coordinator reads of its node and does there: the offsets partitions' Raft
/// groups, proposals to the ones it leads, and where the others' leaders are.
protocol CoordinatorContext: PartitionContext {
    /// The leader of a group this node does not replicate, as a peer last reported it.
    func leaderHint(for g: GroupID) -> LeaderHint?
}

extension NodeCore: CoordinatorContext {}

/// Whether this node coordinates a group now: the offsets partition's Raft group, or the error to
/// answer (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS).
enum CoordinatorLookup {
    case serving(NodeCore.Group)
    case refused(ErrorCode)
}

/// The group coordinator: the classic group protocol (Join/Sync/Heartbeat/
/// Leave), OffsetCommit/OffsetFetch (`GroupCoordinator+Offsets`) and the Describe/List tools'
/// APIs. A group belongs to the partition of `__consumer_offsets` its id hashes to (Kafka's rule),
/// and its coordinator is that partition's Raft leader: offsets and group metadata are records in
/// the partition, applied by every replica (`GroupOffsetStore`), so a new leader has them once it
/// has applied its log.
///
/// It owns the groups it coordinates (`ConsumerGroup`, each a pure state machine returning
/// replies), the writes in flight and the OffsetFetches waiting for them; every entry point
/// returns the `KafkaAction`s its node performs.
struct GroupCoordinator {
    /// Consumer groups this node coordinates (it leads their offsets partition), by id.
    var groups: [String: ConsumerGroup] = [:]
    /// Offsets partitions whose groups are loaded, with the term they were loaded in.
    var loaded: [GroupID: Term] = [:]
    /// Writes to offsets partitions waiting to be applied (`GroupCoordinator+Offsets`).
    var writes: [PendingGroupWrite] = []
    /// OffsetFetches waiting for their group's commits in flight.
    var waitingFetches: [(KafkaRequest, OffsetFetchRequest)] = []
    /// DeleteGroups waiting for their tombstones (`GroupCoordinator+Delete`).
    var deletions: [PendingGroupDeletion] = []
    /// Makes member ids unique on this node (with the node id and the term).
    private var memberCounter: UInt64 = 0
    /// What the current entry point asks of the node, taken when it returns (`taken()`).
    var actions: [KafkaAction] = []

    var hasPendingWrites: Bool { !writes.isEmpty }

    mutating func taken() -> [KafkaAction] {
        defer { actions.removeAll() }
        return actions
    }

    // MARK: - Placement

    /// Kafka's `abs(groupId.hashCode) % partitions` (`CoordinatorPlacement`).
    static func offsetsPartition(of groupID: String, partitions: Int32) -> Int32 {
        CoordinatorPlacement.partition(of: groupID, partitions: partitions)
    }

    /// The offsets partition's assignment for a group (nil until the topic exists).
    static func offsetsAssignment(of groupID: String, _ node: some CoordinatorContext) -> PartitionAssignment? {
        CoordinatorPlacement.assignment(of: groupID, in: .consumerOffsets, node)
    }

    /// Create `__consumer_offsets` the first time a group needs it.
    private mutating func ensureOffsetsTopic(_ node: some CoordinatorContext) {
        actions += CoordinatorPlacement.creation(of: .consumerOffsets, node)
    }

    /// The Raft group coordinating `groupID` here, or why this node cannot serve it.
    mutating func lookup(_ groupID: String, _ node: some CoordinatorContext) -> CoordinatorLookup {
        guard let a = Self.offsetsAssignment(of: groupID, node) else {
            ensureOffsetsTopic(node)
            return .refused(.coordinatorNotAvailable)
        }
        refreshCoordination(node)
        guard let g = node.group(a.group), g.withRaft({ $0.role }) == .leader else { return .refused(.notCoordinator) }
        guard loaded[g.id] != nil else { return .refused(.coordinatorLoadInProgress) }
        return .serving(g)
    }

    /// Load the groups of offsets partitions this node has come to lead (once it has applied an
    /// entry of its term, so its store holds everything committed before), and let go of those it
    /// no longer leads.
    private mutating func refreshCoordination(_ node: some CoordinatorContext) {
        guard let topic = node.controller.topic(offsetsTopic) else { return }
        for a in topic.partitions {
            guard let g = node.group(a.group) else { continue }
            let (role, term) = g.withRaft { ($0.role, $0.term) }
            let loadedIn = loaded[g.id]
            if role == .leader && loadedIn == term { continue }
            if let loadedIn, role != .leader || loadedIn != term {
                // Leadership moved (or came back in a new term): the in-memory groups are stale.
                for id in groups.keys.sorted() where Self.offsetsPartition(of: id, partitions: Int32(topic.partitions.count)) == a.partition {
                    emit(groups[id]!.abandon())
                    groups[id] = nil
                }
                loaded[g.id] = nil
            }
            if role == .leader && g.isServing, let store = g.offsetStore {
                for id in store.groups.keys.sorted() where groups[id] == nil {
                    groups[id] = ConsumerGroup(id: id, persisted: store.groups[id]!, now: node.ticks)
                }
                loaded[g.id] = term
            }
        }
    }

    static func timing(_ node: some CoordinatorContext) -> GroupTiming {
        GroupTiming(now: node.ticks, tickMs: node.config.tickMilliseconds, initialRebalanceDelayMs: node.config.groupInitialRebalanceDelayMs)
    }

    /// Every tick: expire members, end join phases, follow leadership of offsets partitions.
    mutating func tick(_ node: some CoordinatorContext) -> [KafkaAction] {
        refreshCoordination(node)
        if !writes.isEmpty { checkWrites(expired: true, node) }
        for id in groups.keys.sorted() {
            let g = groups[id]!
            emit(g.tick(Self.timing(node)))
            persistIfNeeded(g, node)
        }
        return taken()
    }

    /// The groups' log lines, in group order (a Dictionary's order must not reach output); the
    /// order-free check first keeps the sort off the per-event path.
    mutating func takeNotices() -> [String] {
        guard groups.values.contains(where: { !$0.notices.isEmpty }) else { return [] }
        var notices: [String] = []
        for id in groups.keys.sorted() {
            notices += groups[id]!.notices
            groups[id]!.notices.removeAll()
        }
        return notices
    }

    // MARK: - Requests

    /// Queue answers to held (or current) requests.
    mutating func emit(_ replies: [GroupReply]) {
        for reply in replies {
            switch reply {
            case .join(let h, let response): actions.append(.complete(h.request.answer(response)))
            case .sync(let h, let response): actions.append(.complete(h.request.answer(response)))
            }
        }
    }

    mutating func joinGroup(_ request: KafkaRequest, _ joining: JoinGroupRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        var j = joining
        let version = request.header.apiVersion
        // v0 has no rebalance timeout: the session timeout is it.
        if version == 0 { j.rebalanceTimeoutMs = j.sessionTimeoutMs }
        let held = HeldRequest(request: request, version: version)
        let clientID = request.header.clientID ?? ""
        func fail(_ e: ErrorCode) -> [KafkaAction] {
            emit([.join(held, JoinGroupResponse(errorCode: e, generationID: -1, protocolName: "", leader: "", memberID: j.memberID, members: []))])
            return taken()
        }
        guard !j.groupID.isEmpty else { return fail(.invalidGroupID) }
        if case .refused(let e) = lookup(j.groupID, node) { return fail(e) }
        guard j.sessionTimeoutMs >= node.config.groupMinSessionTimeoutMs && j.sessionTimeoutMs <= node.config.groupMaxSessionTimeoutMs else {
            return fail(.invalidSessionTimeout)
        }
        let g: ConsumerGroup
        if let existing = groups[j.groupID] {
            g = existing
        } else {
            guard j.memberID.isEmpty else { return fail(.unknownMemberID) }
            g = ConsumerGroup(id: j.groupID)
            groups[j.groupID] = g
        }
        memberCounter += 1
        let term = node.group(Self.offsetsAssignment(of: j.groupID, node)!.group)!.withRaft { $0.term }
        // The client id starts the member id (as in Kafka), shortened: a member id must fit in
        // a Kafka string however long a client made its id.
        let prefix = clientID.isEmpty ? "member" : String(String.UnicodeScalarView(clientID.unicodeScalars.prefix(128)))
        let newID = "\(prefix)-\(node.config.id.value)-\(term.value)-\(memberCounter)"
        let replies = g.join(j, held: held, clientID: clientID, newMemberID: newID, timing: Self.timing(node))
        persistIfNeeded(g, node)
        emit(replies)
        return taken()
    }

    mutating func syncGroup(_ request: KafkaRequest, _ s: SyncGroupRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        let held = HeldRequest(request: request, version: request.header.apiVersion)
        switch lookup(s.groupID, node) {
        case .refused(let e): emit([.sync(held, SyncGroupResponse(errorCode: e, assignment: ByteBuffer()))])
        case .serving:
            guard let g = groups[s.groupID] else {
                emit([.sync(held, SyncGroupResponse(errorCode: .unknownMemberID, assignment: ByteBuffer()))])
                break
            }
            let replies = g.sync(s, held: held, timing: Self.timing(node))
            if node.config.plantedBug == .syncBeforePersist {
                emit(replies)
                persistIfNeeded(g, node)
            } else {
                // Answered once the generation is written (also when an earlier sync started the
                // write).
                persistIfNeeded(g, holding: replies, node)
            }
        }
        return taken()
    }

    mutating func heartbeat(_ request: KafkaRequest, _ h: HeartbeatRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        let code: ErrorCode
        switch lookup(h.groupID, node) {
        case .refused(let e): code = e
        case .serving: code = groups[h.groupID]?.heartbeat(memberID: h.memberID, generation: h.generationID, timing: Self.timing(node)) ?? .unknownMemberID
        }
        actions.append(.complete(request.answer(HeartbeatResponse(errorCode: code))))
        return taken()
    }

    /// LeaveGroup: v0-2 name one member and answer with a top-level error; v3+ name several and
    /// answer per member.
    mutating func leaveGroup(_ request: KafkaRequest, _ l: LeaveGroupRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        let leaving = request.header.apiVersion >= 3 ? l.members : [.init(memberID: l.memberID)]
        func answer(_ e: ErrorCode, _ errors: [ErrorCode]) -> [KafkaAction] {
            let members = zip(leaving, errors).map { LeaveGroupResponse.MemberResponse(memberID: $0.memberID, groupInstanceID: $0.groupInstanceID, errorCode: $1) }
            actions.append(.complete(request.answer(LeaveGroupResponse(errorCode: e, members: members))))
            return taken()
        }
        switch lookup(l.groupID, node) {
        case .refused(let e):
            return answer(e, leaving.map { _ in e })
        case .serving:
            guard let g = groups[l.groupID] else { return answer(.unknownMemberID, leaving.map { _ in .unknownMemberID }) }
            let (errors, replies) = g.leave(leaving.map(\.memberID), timing: Self.timing(node))
            emit(replies)
            persistIfNeeded(g, node)
            return answer(leaving.count == 1 ? errors[0] : .none, errors)
        }
    }

    mutating func describeGroups(_ request: KafkaRequest, _ d: DescribeGroupsRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        var described: [DescribeGroupsResponse.DescribedGroup] = []
        for id in d.groups {
            switch lookup(id, node) {
            case .refused(let e):
                described.append(.init(errorCode: e, groupID: id))
            case .serving:
                guard let g = groups[id] else {
                    described.append(.init(groupID: id, groupState: "Dead"))
                    continue
                }
                let members = g.members.map {
                    DescribeGroupsResponse.DescribedGroupMember(
                        memberID: $0.id, groupInstanceID: $0.instanceID, clientID: $0.clientID, clientHost: $0.clientHost,
                        memberMetadata: ByteBuffer(bytes: $0.metadata(for: g.protocolName ?? "")), memberAssignment: ByteBuffer(bytes: $0.assignment))
                }
                described.append(.init(groupID: id, groupState: g.state.rawValue, protocolType: g.protocolType ?? "", protocolData: g.protocolName ?? "", members: members))
            }
        }
        actions.append(.complete(request.answer(DescribeGroupsResponse(groups: described))))
        return taken()
    }

    /// ListGroups: the groups this node coordinates, filtered by state (v4+) and type (v5+: only
    /// the classic protocol exists here).
    mutating func listGroups(_ request: KafkaRequest, _ l: ListGroupsRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        refreshCoordination(node)
        let states = Set(l.statesFilter.map { $0.lowercased() })
        let types = Set(l.typesFilter.map { $0.lowercased() })
        var listed: [ListGroupsResponse.ListedGroup] = []
        for id in groups.keys.sorted() {
            let g = groups[id]!
            if !states.isEmpty && !states.contains(g.state.rawValue.lowercased()) { continue }
            if !types.isEmpty && !types.contains("classic") { continue }
            listed.append(.init(groupID: id, protocolType: g.protocolType ?? "consumer", groupState: g.state.rawValue, groupType: "classic"))
        }
        actions.append(.complete(request.answer(ListGroupsResponse(groups: listed))))
        return taken()
    }
}
