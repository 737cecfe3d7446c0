import KafkaProtocol
import NIOCore
import Primitives
import Raft

/// Whether this node coordinates a group now: the offsets partition's Raft group, or the error to
/// answer (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS).
enum CoordinatorLookup {
    case serving(NodeCore.Group)
    case refused(ErrorCode)
}

/// A write to an offsets partition (committed offsets, or a group's membership) waiting to be
/// applied on the leader; `request` is answered then (OffsetCommit) or nothing is (metadata).
struct PendingGroupWrite {
    var group: GroupID
    /// The consumer group whose records these are.
    var consumerGroup: String
    var lastIndex: LogIndex
    var term: Term
    var request: KafkaRequest?
    var version: Int16
    var topics: [OffsetCommitResponse.OffsetCommitResponseTopic]
    var deadlineTick: UInt64
    /// SyncGroup answers held until the new generation's membership is durable, so no member
    /// acts in a generation a later coordinator would not know.
    var replies: [GroupReply] = []
}

/// The group coordinator: FindCoordinator, the classic group protocol (Join/Sync/Heartbeat/
/// Leave), OffsetCommit/OffsetFetch and the Describe/List tools' APIs. A group belongs to the
/// partition of `__consumer_offsets` its id hashes to (Kafka's rule), and its coordinator is that
/// partition's Raft leader: offsets and group metadata are records in the partition, applied by
/// every replica (`GroupOffsetStore`), so a new leader has them once it has applied its log.
extension NodeCore {
    // MARK: - Placement

    /// Kafka's `abs(groupId.hashCode) % partitions`, with Java's String.hashCode over UTF-16.
    public static func offsetsPartition(of groupID: String, partitions: Int32) -> Int32 {
        var h: Int32 = 0
        for unit in groupID.utf16 { h = h &* 31 &+ Int32(unit) }
        return (h & 0x7fff_ffff) % partitions
    }

    /// The offsets partition's assignment for a group (nil until the topic exists).
    func offsetsAssignment(of groupID: String) -> PartitionAssignment? {
        guard let topic = controller.topic(offsetsTopic), !topic.partitions.isEmpty else { return nil }
        let p = Self.offsetsPartition(of: groupID, partitions: Int32(topic.partitions.count))
        return topic.partitions.first { $0.partition == p }
    }

    /// Create `__consumer_offsets` the first time a group needs it.
    func ensureOffsetsTopic() {
        guard controller.topic(offsetsTopic) == nil else { return }
        guard startAutoCreate(offsetsTopic) else { return }
        submitToController(
            .createTopic(name: offsetsTopic, partitions: config.offsetsPartitions, replicationFactor: min(config.offsetsReplicationFactor, config.members.count)))
    }

    /// The Raft group coordinating `groupID` here, or why this node cannot serve it.
    func coordinatorGroup(for groupID: String) -> CoordinatorLookup {
        guard let a = offsetsAssignment(of: groupID) else {
            ensureOffsetsTopic()
            return .refused(.coordinatorNotAvailable)
        }
        refreshCoordination()
        guard let g = group(a.group), g.withRaft({ $0.role }) == .leader else { return .refused(.notCoordinator) }
        guard kafka.coordinating[g.id] != nil else { return .refused(.coordinatorLoadInProgress) }
        return .serving(g)
    }

    /// Load the groups of offsets partitions this node has come to lead (once it has applied an
    /// entry of its term, so its store holds everything committed before), and let go of those it
    /// no longer leads.
    func refreshCoordination() {
        guard let topic = controller.topic(offsetsTopic) else { return }
        for a in topic.partitions {
            guard let g = group(a.group) else { continue }
            let (role, term) = g.withRaft { ($0.role, $0.term) }
            let loadedIn = kafka.coordinating[g.id]
            if role == .leader && loadedIn == term { continue }
            if let loadedIn, role != .leader || loadedIn != term {
                // Leadership moved (or came back in a new term): the in-memory groups are stale.
                for id in kafka.consumerGroups.keys.sorted() where Self.offsetsPartition(of: id, partitions: Int32(topic.partitions.count)) == a.partition {
                    emit(kafka.consumerGroups[id]!.abandon())
                    kafka.consumerGroups[id] = nil
                }
                kafka.coordinating[g.id] = nil
            }
            if role == .leader && g.isServing, let store = g.offsetStore {
                for id in store.groups.keys.sorted() where kafka.consumerGroups[id] == nil {
                    kafka.consumerGroups[id] = ConsumerGroup(id: id, persisted: store.groups[id]!, now: ticks)
                }
                kafka.coordinating[g.id] = term
            }
        }
    }

    var groupTiming: GroupTiming {
        GroupTiming(now: ticks, tickMs: config.tickMilliseconds, initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs)
    }

    /// Every tick: expire members, end join phases, follow leadership of offsets partitions.
    func tickGroups() {
        refreshCoordination()
        if !kafka.pendingGroupWrites.isEmpty { checkGroupWrites(expired: true) }
        guard !kafka.consumerGroups.isEmpty else { return }
        for id in kafka.consumerGroups.keys.sorted() {
            let g = kafka.consumerGroups[id]!
            emit(g.tick(groupTiming))
            persistIfNeeded(g)
        }
    }

    // MARK: - Requests

    func handleGroupRequest(_ key: ApiKey, _ r: inout KafkaReader, request: KafkaRequest) throws(KafkaWireError) -> (KafkaReply, NodeOutput) {
        let version = request.header.apiVersion
        let held = HeldRequest(request: request, version: version)
        switch key {
        case .findCoordinator:
            let f = try FindCoordinatorRequest.decode(&r, version: version)
            let response = findCoordinator(f, version: version)
            return (.respond(Self.frame(request.header) { response.encode(&$0, version: version) }), drain())
        case .joinGroup:
            var j = try JoinGroupRequest.decode(&r, version: version)
            // v0 has no rebalance timeout: the session timeout is it.
            if version == 0 { j.rebalanceTimeoutMs = j.sessionTimeoutMs }
            emit(joinGroup(j, held: held, clientID: request.header.clientID ?? ""))
        case .syncGroup:
            let s = try SyncGroupRequest.decode(&r, version: version)
            switch coordinatorGroup(for: s.groupID) {
            case .refused(let e): emit([.sync(held, SyncGroupResponse(errorCode: e, assignment: ByteBuffer()))])
            case .serving:
                if let g = kafka.consumerGroups[s.groupID] {
                    let replies = g.sync(s, held: held, timing: groupTiming)
                    if config.plantedBug == .syncBeforePersist {
                        emit(replies)
                        persistIfNeeded(g)
                    } else {
                        // Answered once the generation is written (also when an earlier sync
                        // started the write).
                        persistIfNeeded(g, holding: replies)
                    }
                } else {
                    emit([.sync(held, SyncGroupResponse(errorCode: .unknownMemberID, assignment: ByteBuffer()))])
                }
            }
        case .heartbeat:
            let h = try HeartbeatRequest.decode(&r, version: version)
            var code = ErrorCode.unknownMemberID
            switch coordinatorGroup(for: h.groupID) {
            case .refused(let e): code = e
            case .serving: code = kafka.consumerGroups[h.groupID]?.heartbeat(memberID: h.memberID, generation: h.generationID, timing: groupTiming) ?? .unknownMemberID
            }
            let response = HeartbeatResponse(errorCode: code)
            return (.respond(Self.frame(request.header) { response.encode(&$0, version: version) }), drain())
        case .leaveGroup:
            let l = try LeaveGroupRequest.decode(&r, version: version)
            let response = leaveGroup(l, version: version)
            return (.respond(Self.frame(request.header) { response.encode(&$0, version: version) }), drain())
        case .offsetCommit:
            let c = try OffsetCommitRequest.decode(&r, version: version)
            offsetCommit(c, request: request)
        case .offsetFetch:
            let f = try OffsetFetchRequest.decode(&r, version: version)
            if config.plantedBug != .fetchBeforeCommits, commitsInFlight(for: f, version: version) {
                // A commit of this group is still being written: answer once it is, so a member
                // taking over a partition never starts before an acknowledged commit.
                kafka.pendingOffsetFetches.append((request, f))
                return (.pending, drain())
            }
            let response = offsetFetch(f, version: version)
            return (.respond(Self.frame(request.header) { response.encode(&$0, version: version) }), drain())
        case .describeGroups:
            let d = try DescribeGroupsRequest.decode(&r, version: version)
            let response = describeGroups(d)
            return (.respond(Self.frame(request.header) { response.encode(&$0, version: version) }), drain())
        case .listGroups:
            let l = try ListGroupsRequest.decode(&r, version: version)
            let response = listGroups(l)
            return (.respond(Self.frame(request.header) { response.encode(&$0, version: version) }), drain())
        default:
            return (.close("\(key) is not a group API"), NodeOutput())
        }
        // Answered already (an error, a known generation, a one-member join phase): reply now.
        return (takeReply(for: request), drain())
    }

    /// Queue answers to held (or current) requests.
    func emit(_ replies: [GroupReply]) {
        for reply in replies {
            switch reply {
            case .join(let h, let response):
                kafka.completions.append(
                    .init(connection: h.request.connection, sequence: h.request.sequence,
                          response: Self.frame(h.request.header) { response.encode(&$0, version: h.version) }))
            case .sync(let h, let response):
                kafka.completions.append(
                    .init(connection: h.request.connection, sequence: h.request.sequence,
                          response: Self.frame(h.request.header) { response.encode(&$0, version: h.version) }))
            }
        }
    }

    /// FindCoordinator: one key (v0-3) or several (v4+, KIP-699), each answered on its own.
    func findCoordinator(_ f: FindCoordinatorRequest, version: Int16) -> FindCoordinatorResponse {
        if version >= 4 {
            return FindCoordinatorResponse(coordinators: f.coordinatorKeys.map { coordinator(for: $0, keyType: f.keyType) })
        }
        let c = coordinator(for: f.key, keyType: f.keyType)
        return FindCoordinatorResponse(errorCode: c.errorCode, errorMessage: c.errorMessage, nodeID: c.nodeID, host: c.host, port: c.port)
    }

    private func coordinator(for key: String, keyType: Int8) -> FindCoordinatorResponse.Coordinator {
        func fail(_ e: ErrorCode, _ message: String) -> FindCoordinatorResponse.Coordinator {
            .init(key: key, nodeID: -1, host: "", port: -1, errorCode: e, errorMessage: message)
        }
        guard keyType == 0 else { return fail(.coordinatorNotAvailable, "transactions are not supported") }
        guard !key.isEmpty else { return fail(.invalidGroupID, "empty group id") }
        guard let a = offsetsAssignment(of: key) else {
            ensureOffsetsTopic()
            return fail(.coordinatorNotAvailable, "the offsets topic is being created")
        }
        var leader = NodeID.none
        if let g = group(a.group) {
            leader = g.withRaft { $0.leader }
        } else if let hint = kafka.hints.first(where: { $0.group == a.group }) {
            leader = hint.leader
        }
        guard !leader.isNone, let b = controller.brokers.first(where: { $0.node == leader }) else {
            return fail(.coordinatorNotAvailable, "the group's offsets partition has no leader yet")
        }
        return .init(key: key, nodeID: Int32(b.node.value), host: b.host, port: Int32(b.kafkaPort))
    }

    private func joinGroup(_ j: JoinGroupRequest, held: HeldRequest, clientID: String) -> [GroupReply] {
        func fail(_ e: ErrorCode) -> [GroupReply] {
            [.join(held, JoinGroupResponse(errorCode: e, generationID: -1, protocolName: "", leader: "", memberID: j.memberID, members: []))]
        }
        guard !j.groupID.isEmpty else { return fail(.invalidGroupID) }
        if case .refused(let e) = coordinatorGroup(for: j.groupID) { return fail(e) }
        guard j.sessionTimeoutMs >= config.groupMinSessionTimeoutMs && j.sessionTimeoutMs <= config.groupMaxSessionTimeoutMs else {
            return fail(.invalidSessionTimeout)
        }
        let g: ConsumerGroup
        if let existing = kafka.consumerGroups[j.groupID] {
            g = existing
        } else {
            guard j.memberID.isEmpty else { return fail(.unknownMemberID) }
            g = ConsumerGroup(id: j.groupID)
            kafka.consumerGroups[j.groupID] = g
        }
        kafka.memberCounter += 1
        let term = group(offsetsAssignment(of: j.groupID)!.group)!.withRaft { $0.term }
        // The client id starts the member id (as in Kafka), shortened: a member id must fit in
        // a Kafka string however long a client made its id.
        let prefix = clientID.isEmpty ? "member" : String(String.UnicodeScalarView(clientID.unicodeScalars.prefix(128)))
        let newID = "\(prefix)-\(config.id.value)-\(term.value)-\(kafka.memberCounter)"
        let replies = g.join(j, held: held, clientID: clientID, newMemberID: newID, timing: groupTiming)
        persistIfNeeded(g)
        return replies
    }

    /// LeaveGroup: v0-2 name one member and answer with a top-level error; v3+ name several and
    /// answer per member.
    private func leaveGroup(_ l: LeaveGroupRequest, version: Int16) -> LeaveGroupResponse {
        let leaving = version >= 3 ? l.members : [.init(memberID: l.memberID)]
        switch coordinatorGroup(for: l.groupID) {
        case .refused(let e):
            return LeaveGroupResponse(errorCode: e, members: leaving.map { .init(memberID: $0.memberID, groupInstanceID: $0.groupInstanceID, errorCode: e) })
        case .serving:
            guard let g = kafka.consumerGroups[l.groupID] else {
                return LeaveGroupResponse(
                    errorCode: .unknownMemberID,
                    members: leaving.map { .init(memberID: $0.memberID, groupInstanceID: $0.groupInstanceID, errorCode: .unknownMemberID) })
            }
            let (errors, replies) = g.leave(leaving.map(\.memberID), timing: groupTiming)
            emit(replies)
            persistIfNeeded(g)
            let members = zip(leaving, errors).map { LeaveGroupResponse.MemberResponse(memberID: $0.memberID, groupInstanceID: $0.groupInstanceID, errorCode: $1) }
            return LeaveGroupResponse(errorCode: leaving.count == 1 ? errors[0] : .none, members: members)
        }
    }

    private func describeGroups(_ d: DescribeGroupsRequest) -> DescribeGroupsResponse {
        DescribeGroupsResponse(
            groups: d.groups.map { id in
                switch coordinatorGroup(for: id) {
                case .refused(let e):
                    return .init(errorCode: e, groupID: id)
                case .serving:
                    guard let g = kafka.consumerGroups[id] else {
                        return .init(groupID: id, groupState: "Dead")
                    }
                    let members = g.members.map {
                        DescribeGroupsResponse.DescribedGroupMember(
                            memberID: $0.id, groupInstanceID: $0.instanceID, clientID: $0.clientID, clientHost: $0.clientHost,
                            memberMetadata: ByteBuffer(bytes: $0.metadata(for: g.protocolName ?? "")), memberAssignment: ByteBuffer(bytes: $0.assignment))
                    }
                    return .init(groupID: id, groupState: g.state.rawValue, protocolType: g.protocolType ?? "", protocolData: g.protocolName ?? "", members: members)
                }
            })
    }

    /// ListGroups: the groups this node coordinates, filtered by state (v4+) and type (v5+: only
    /// the classic protocol exists here).
    private func listGroups(_ l: ListGroupsRequest) -> ListGroupsResponse {
        refreshCoordination()
        let states = Set(l.statesFilter.map { $0.lowercased() })
        let types = Set(l.typesFilter.map { $0.lowercased() })
        var groups: [ListGroupsResponse.ListedGroup] = []
        for id in kafka.consumerGroups.keys.sorted() {
            let g = kafka.consumerGroups[id]!
            if !states.isEmpty && !states.contains(g.state.rawValue.lowercased()) { continue }
            if !types.isEmpty && !types.contains("classic") { continue }
            groups.append(.init(groupID: id, protocolType: g.protocolType ?? "consumer", groupState: g.state.rawValue, groupType: "classic"))
        }
        return ListGroupsResponse(groups: groups)
    }

    // MARK: - Offsets

    /// A group's committed offsets as OffsetFetch answers them, whatever the version's shape.
    struct FetchedOffsets {
        struct Partition {
            var index: Int32
            var offset: Int64 = -1
            var leaderEpoch: Int32 = -1
            var metadata: String? = ""
            var error: ErrorCode = .none
        }

        var error: ErrorCode = .none
        var topics: [(name: String, partitions: [Partition])] = []
    }

    /// The groups an OffsetFetch asks about: one (v1-7) or several (v8+).
    func groupIDs(of f: OffsetFetchRequest, version: Int16) -> [String] { version >= 8 ? f.groups.map(\.groupID) : [f.groupID] }

    /// Whether a commit of one of the request's groups is still being written.
    func commitsInFlight(for f: OffsetFetchRequest, version: Int16) -> Bool {
        let ids = groupIDs(of: f, version: version)
        return kafka.pendingGroupWrites.contains { $0.request != nil && ids.contains($0.consumerGroup) }
    }

    func offsetFetch(_ f: OffsetFetchRequest, version: Int16) -> OffsetFetchResponse {
        if version >= 8 {
            return OffsetFetchResponse(groups: f.groups.map { g in
                let fetched = committedOffsets(group: g.groupID, topics: g.topics.map { $0.map { ($0.name, $0.partitionIndexes) } })
                return .init(
                    groupID: g.groupID,
                    topics: fetched.topics.map { t in
                        .init(name: t.name, partitions: t.partitions.map {
                            .init(partitionIndex: $0.index, committedOffset: $0.offset, committedLeaderEpoch: $0.leaderEpoch,
                                  metadata: $0.metadata, errorCode: $0.error)
                        })
                    },
                    errorCode: fetched.error)
            })
        }
        let fetched = committedOffsets(group: f.groupID, topics: f.topics.map { $0.map { ($0.name, $0.partitionIndexes) } })
        return OffsetFetchResponse(
            topics: fetched.topics.map { t in
                .init(name: t.name, partitions: t.partitions.map {
                    .init(partitionIndex: $0.index, committedOffset: $0.offset, committedLeaderEpoch: $0.leaderEpoch, metadata: $0.metadata,
                          errorCode: $0.error)
                })
            },
            errorCode: fetched.error)
    }

    /// `topics` nil (v2+): every partition the group has an offset for.
    func committedOffsets(group groupID: String, topics: [(String, [Int32])]?) -> FetchedOffsets {
        let g: Group
        switch coordinatorGroup(for: groupID) {
        case .refused(let e):
            return FetchedOffsets(error: e, topics: (topics ?? []).map { name, partitions in (name, partitions.map { .init(index: $0, error: e) }) })
        case .serving(let found): g = found
        }
        let committed = g.offsetStore?.offsets[groupID] ?? [:]
        let wanted: [(String, [Int32])]
        if let topics {
            wanted = topics
        } else {
            var byTopic: [(String, [Int32])] = []
            for k in committed.keys.sorted() {
                if byTopic.last?.0 == k.topic { byTopic[byTopic.count - 1].1.append(k.partition) } else { byTopic.append((k.topic, [k.partition])) }
            }
            wanted = byTopic
        }
        return FetchedOffsets(topics: wanted.map { name, partitions in
            (name, partitions.map { p in
                // No commit: offset -1 and no error; the client applies its reset policy.
                guard let c = committed[.init(topic: name, partition: p)] else { return .init(index: p) }
                return .init(index: p, offset: c.offset, leaderEpoch: c.leaderEpoch, metadata: c.metadata ?? "")
            })
        })
    }

    private func offsetCommit(_ c: OffsetCommitRequest, request: KafkaRequest) {
        let version = request.header.apiVersion
        func answer(_ code: (String, Int32) -> ErrorCode) {
            let response = OffsetCommitResponse(
                topics: c.topics.map { t in
                    .init(name: t.name, partitions: t.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: code(t.name, $0.partitionIndex)) })
                })
            kafka.completions.append(
                .init(connection: request.connection, sequence: request.sequence, response: Self.frame(request.header) { response.encode(&$0, version: version) }))
        }
        guard !c.groupID.isEmpty else { return answer { _, _ in .invalidGroupID } }
        let g: Group
        switch coordinatorGroup(for: c.groupID) {
        case .refused(let e): return answer { _, _ in e }
        case .serving(let found): g = found
        }
        let group: ConsumerGroup
        if let existing = kafka.consumerGroups[c.groupID] {
            group = existing
        } else {
            group = ConsumerGroup(id: c.groupID)
            kafka.consumerGroups[c.groupID] = group
        }
        let check = group.commitCheck(memberID: c.memberID, generation: c.generationIDOrMemberEpoch, timing: groupTiming)
        guard check == .none else { return answer { _, _ in check } }
        // Offsets of partitions that do not exist are refused one by one, the rest written.
        func exists(_ topic: String, _ p: Int32) -> Bool { controller.topic(topic)?.partitions.contains { $0.partition == p } ?? false }
        var records: [(key: [UInt8], value: [UInt8]?)] = []
        for t in c.topics {
            for p in t.partitions where exists(t.name, p.partitionIndex) {
                records.append(
                    GroupOffsetStore.offsetRecord(
                        group: c.groupID, topic: t.name, partition: p.partitionIndex,
                        CommittedOffset(offset: p.committedOffset, leaderEpoch: p.committedLeaderEpoch, metadata: p.committedMetadata, timestamp: 0)))
            }
        }
        let topics = c.topics.map { t in
            OffsetCommitResponse.OffsetCommitResponseTopic(
                name: t.name, partitions: t.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: exists(t.name, $0.partitionIndex) ? .none : .unknownTopicOrPartition) })
        }
        guard !records.isEmpty else { return answer { t, p in exists(t, p) ? .none : .unknownTopicOrPartition } }
        guard let (index, term) = writeGroupRecords(records, to: g) else { return answer { _, _ in .notCoordinator } }
        kafka.pendingGroupWrites.append(
            PendingGroupWrite(
                group: g.id, consumerGroup: c.groupID, lastIndex: index, term: term, request: request, version: version, topics: topics,
                deadlineTick: ticks + config.ticks(milliseconds: BrokerLimits.groupWriteTimeoutMs)))
    }

    /// Append records to an offsets partition this node leads (one batch, one Raft entry).
    func writeGroupRecords(_ records: [(key: [UInt8], value: [UInt8]?)], to g: Group) -> (LogIndex, Term)? {
        var builder = RecordBatchBuilder()
        // Timestamps: the node has no wall clock (determinism); offsets do not expire by time yet.
        for r in records { builder.append(key: r.key, value: r.value, timestamp: 0) }
        let term = g.withRaft { $0.term }
        let batch = builder.build().assigned(baseOffset: Int64(g.logEndOffset), leaderEpoch: Int32(truncatingIfNeeded: term.value))
        // A nearly full disk takes no group writes (the member finds the next coordinator).
        guard !diskFull, let at = try? g.raft.propose(Array(batch.bytes.readableBytesView)) else { return nil }
        if let k = position(g.id) { markTouched(k) }
        return (at.index, at.term)
    }

    /// Record a group's membership (end of a rebalance, or emptied) for a future coordinator;
    /// `holding` are answers to send once it is written.
    func persistIfNeeded(_ cg: ConsumerGroup, holding replies: [GroupReply] = []) {
        guard cg.needsPersist else {
            // A member whose SyncGroup comes after the leader's gets its assignment from memory,
            // but the generation is only real once written: answered before that, a new
            // coordinator could hand the same generation number out again (simulator seed 293).
            if !replies.isEmpty, let k = kafka.pendingGroupWrites.lastIndex(where: { $0.consumerGroup == cg.id && $0.request == nil }) {
                kafka.pendingGroupWrites[k].replies += replies
                return
            }
            return emit(replies)
        }
        cg.needsPersist = false
        guard let a = offsetsAssignment(of: cg.id), let g = group(a.group), g.withRaft({ $0.role }) == .leader,
            let (index, term) = writeGroupRecords([GroupOffsetStore.groupRecord(group: cg.id, cg.persisted)], to: g)
        else {
            // Not written: the state in memory is not real yet, so no later SyncGroup may be
            // answered from it before a write succeeds (simulator seed 427).
            cg.needsPersist = true
            return emit(Self.failed(replies, .notCoordinator))
        }
        kafka.pendingGroupWrites.append(
            PendingGroupWrite(
                group: g.id, consumerGroup: cg.id, lastIndex: index, term: term, request: nil, version: 0, topics: [],
                deadlineTick: ticks + config.ticks(milliseconds: BrokerLimits.groupWriteTimeoutMs), replies: replies))
    }

    /// The same answers as errors (their write did not happen).
    static func failed(_ replies: [GroupReply], _ code: ErrorCode) -> [GroupReply] {
        replies.map {
            switch $0 {
            case .join(let h, _): return .join(h, JoinGroupResponse(errorCode: code, generationID: -1, protocolName: "", leader: "", memberID: "", members: []))
            case .sync(let h, _): return .sync(h, SyncGroupResponse(errorCode: code, assignment: ByteBuffer()))
            }
        }
    }

    /// Answer commits whose entry is applied here (so OffsetFetch sees them), lost with a term
    /// change, or past their deadline.
    func checkGroupWrites(expired: Bool) {
        var remaining: [PendingGroupWrite] = []
        for w in kafka.pendingGroupWrites {
            var code: ErrorCode?
            if let g = group(w.group) {
                let (role, termAt) = g.withRaft { ($0.role, $0.term(at: w.lastIndex)) }
                if let termAt, termAt != w.term {
                    code = .notCoordinator
                } else if g.state.appliedIndex >= w.lastIndex {
                    code = ErrorCode.none
                } else if role != .leader {
                    code = .notCoordinator
                } else if expired && ticks >= w.deadlineTick {
                    code = .requestTimedOut
                }
            } else {
                code = .notCoordinator
            }
            guard let code else {
                remaining.append(w)
                continue
            }
            emit(code == .none ? w.replies : Self.failed(w.replies, code))
            // A membership write that failed must be made again before its state is answered from.
            if code != .none && w.request == nil { kafka.consumerGroups[w.consumerGroup]?.needsPersist = true }
            guard let request = w.request else { continue }
            var topics = w.topics
            for t in topics.indices {
                for p in topics[t].partitions.indices where topics[t].partitions[p].errorCode == .none { topics[t].partitions[p].errorCode = code }
            }
            let response = OffsetCommitResponse(topics: topics)
            kafka.completions.append(
                .init(connection: request.connection, sequence: request.sequence,
                      response: Self.frame(request.header) { response.encode(&$0, version: w.version) }))
        }
        kafka.pendingGroupWrites = remaining
        answerOffsetFetches()
    }

    /// OffsetFetches that waited for their group's commits.
    func answerOffsetFetches() {
        guard !kafka.pendingOffsetFetches.isEmpty else { return }
        var waiting: [(KafkaRequest, OffsetFetchRequest)] = []
        for (request, f) in kafka.pendingOffsetFetches {
            let version = request.header.apiVersion
            if commitsInFlight(for: f, version: version) {
                waiting.append((request, f))
                continue
            }
            let response = offsetFetch(f, version: version)
            kafka.completions.append(
                .init(connection: request.connection, sequence: request.sequence,
                      response: Self.frame(request.header) { response.encode(&$0, version: version) }))
        }
        kafka.pendingOffsetFetches = waiting
    }
}
