import KafkaProtocol
import NIOCore
import Primitives
import Raft

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
    /// A DeleteGroups' tombstones for one group (`GroupCoordinator+Delete`).
    struct DeletionPart {
        /// Position in `GroupCoordinator.deletions`, and of the group in its request.
        var deletion: Int
        var group: Int
    }

    var deletion: DeletionPart?
    /// An OffsetDelete's answer, its partitions' codes filled in when the write finishes (its
    /// `request` is the OffsetDelete).
    var offsetDeleteAnswer: OffsetDeleteResponse?
    /// A TxnOffsetCommit's answer, likewise.
    var txnOffsetCommitAnswer: TxnOffsetCommitResponse?
}

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

/// Committed offsets and group membership as records of the offsets partitions: OffsetCommit
/// answered once its entry is applied, OffsetFetch held while a commit of its group is in flight,
/// membership written at the end of a rebalance.
extension GroupCoordinator {
    // MARK: - OffsetFetch

    /// The groups an OffsetFetch asks about: one (v1-7) or several (v8+).
    static func groupIDs(of f: OffsetFetchRequest, version: Int16) -> [String] { version >= 8 ? f.groups.map(\.groupID) : [f.groupID] }

    /// Whether a commit of one of the request's groups is still being written.
    private func commitsInFlight(for f: OffsetFetchRequest, version: Int16) -> Bool {
        let ids = Self.groupIDs(of: f, version: version)
        return writes.contains { $0.request != nil && ids.contains($0.consumerGroup) }
    }

    mutating func offsetFetch(_ request: KafkaRequest, _ f: OffsetFetchRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        if node.config.plantedBug != .fetchBeforeCommits, commitsInFlight(for: f, version: request.header.apiVersion) {
            // A commit of this group is still being written: answer once it is, so a member
            // taking over a partition never starts before an acknowledged commit.
            waitingFetches.append((request, f))
            return taken()
        }
        answerOffsetFetch(request, f, node)
        return taken()
    }

    private mutating func answerOffsetFetch(_ request: KafkaRequest, _ f: OffsetFetchRequest, _ node: some CoordinatorContext) {
        if request.header.apiVersion >= 8 {
            let groups = f.groups.map { g in
                let fetched = committedOffsets(group: g.groupID, topics: g.topics.map { $0.map { ($0.name, $0.partitionIndexes) } }, requireStable: f.requireStable, node)
                return OffsetFetchResponse.OffsetFetchResponseGroup(
                    groupID: g.groupID,
                    topics: fetched.topics.map { t in
                        .init(name: t.name, partitions: t.partitions.map {
                            .init(partitionIndex: $0.index, committedOffset: $0.offset, committedLeaderEpoch: $0.leaderEpoch,
                                  metadata: $0.metadata, errorCode: $0.error)
                        })
                    },
                    errorCode: fetched.error)
            }
            actions.append(.complete(request.answer(OffsetFetchResponse(groups: groups))))
            return
        }
        let fetched = committedOffsets(group: f.groupID, topics: f.topics.map { $0.map { ($0.name, $0.partitionIndexes) } }, requireStable: request.header.apiVersion >= 7 && f.requireStable, node)
        let response = OffsetFetchResponse(
            topics: fetched.topics.map { t in
                .init(name: t.name, partitions: t.partitions.map {
                    .init(partitionIndex: $0.index, committedOffset: $0.offset, committedLeaderEpoch: $0.leaderEpoch, metadata: $0.metadata,
                          errorCode: $0.error)
                })
            },
            errorCode: fetched.error)
        actions.append(.complete(request.answer(response)))
    }

    /// `topics` nil (v2+): every partition the group has an offset for. `requireStable` (v7+):
    /// a partition whose offset a transaction holds undecided is UNSTABLE_OFFSET_COMMIT
    /// (retriable), so a consumer taking it over waits for the outcome (KIP-447).
    private mutating func committedOffsets(
        group groupID: String, topics: [(String, [Int32])]?, requireStable: Bool = false, _ node: some CoordinatorContext
    ) -> FetchedOffsets {
        let g: NodeCore.Group
        switch lookup(groupID, node) {
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
            // Offsets of a deleted topic whose tombstones did not get written are not listed.
            for k in committed.keys.sorted() where node.controller.topic(k.topic) != nil {
                if byTopic.last?.0 == k.topic { byTopic[byTopic.count - 1].1.append(k.partition) } else { byTopic.append((k.topic, [k.partition])) }
            }
            wanted = byTopic
        }
        return FetchedOffsets(topics: wanted.map { name, partitions in
            (name, partitions.map { p in
                if requireStable && g.offsetStore?.hasPending(group: groupID, topic: name, partition: p) == true {
                    return .init(index: p, error: .unstableOffsetCommit)
                }
                // No commit: offset -1 and no error; the client applies its reset policy.
                guard let c = committed[.init(topic: name, partition: p)] else { return .init(index: p) }
                return .init(index: p, offset: c.offset, leaderEpoch: c.leaderEpoch, metadata: c.metadata ?? "")
            })
        })
    }

    // MARK: - OffsetCommit

    mutating func offsetCommit(_ request: KafkaRequest, _ c: OffsetCommitRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        func answer(_ code: (String, Int32) -> ErrorCode) -> [KafkaAction] {
            let response = OffsetCommitResponse(
                topics: c.topics.map { t in
                    .init(name: t.name, partitions: t.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: code(t.name, $0.partitionIndex)) })
                })
            actions.append(.complete(request.answer(response)))
            return taken()
        }
        guard !c.groupID.isEmpty else { return answer { _, _ in .invalidGroupID } }
        let g: NodeCore.Group
        switch lookup(c.groupID, node) {
        case .refused(let e): return answer { _, _ in e }
        case .serving(let found): g = found
        }
        let group: ConsumerGroup
        if let existing = groups[c.groupID] {
            group = existing
        } else {
            group = ConsumerGroup(id: c.groupID)
            groups[c.groupID] = group
        }
        var check = group.commitCheck(memberID: c.memberID, generation: c.generationIDOrMemberEpoch, timing: Self.timing(node))
        if node.config.plantedBug == .commitAnyMember { check = .none }
        guard check == .none else { return answer { _, _ in check } }
        // Offsets of partitions that do not exist are refused one by one, the rest written.
        func exists(_ topic: String, _ p: Int32) -> Bool { Self.partitionExists(topic, p, node) }
        let records = Self.offsetRecords(group: c.groupID, c.topics.flatMap { t in
            t.partitions.map { (t.name, $0.partitionIndex, CommittedOffset(offset: $0.committedOffset, leaderEpoch: $0.committedLeaderEpoch, metadata: $0.committedMetadata, timestamp: 0)) }
        }, node)
        let topics = c.topics.map { t in
            OffsetCommitResponse.OffsetCommitResponseTopic(
                name: t.name, partitions: t.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: exists(t.name, $0.partitionIndex) ? .none : .unknownTopicOrPartition) })
        }
        guard !records.isEmpty else { return answer { t, p in exists(t, p) ? .none : .unknownTopicOrPartition } }
        guard let (index, term) = InternalTopicRecords.propose(records, to: g, node) else { return answer { _, _ in .notCoordinator } }
        writes.append(
            PendingGroupWrite(
                group: g.id, consumerGroup: c.groupID, lastIndex: index, term: term, request: request, version: request.header.apiVersion, topics: topics,
                deadlineTick: node.ticks + node.config.ticks(milliseconds: BrokerLimits.groupWriteTimeoutMs)))
        return taken()
    }

    // MARK: - Writes

    /// Record a group's membership (end of a rebalance, or emptied) for a future coordinator;
    /// `holding` are answers to send once it is written.
    mutating func persistIfNeeded(_ cg: ConsumerGroup, holding replies: [GroupReply] = [], _ node: some CoordinatorContext) {
        guard cg.needsPersist else {
            // A member whose SyncGroup comes after the leader's gets its assignment from memory,
            // but the generation is only real once written: answered before that, a new
            // coordinator could hand the same generation number out again (simulator seed 293).
            if !replies.isEmpty, let k = writes.lastIndex(where: { $0.consumerGroup == cg.id && $0.request == nil && $0.deletion == nil }) {
                writes[k].replies += replies
                return
            }
            return emit(replies)
        }
        cg.needsPersist = false
        guard let a = Self.offsetsAssignment(of: cg.id, node), let g = node.group(a.group), g.withRaft({ $0.role }) == .leader,
            let (index, term) = InternalTopicRecords.propose([GroupOffsetStore.groupRecord(group: cg.id, cg.persisted)], to: g, node)
        else {
            // Not written: the state in memory is not real yet, so no later SyncGroup may be
            // answered from it before a write succeeds (simulator seed 427).
            cg.needsPersist = true
            return emit(Self.failed(replies, .notCoordinator))
        }
        writes.append(
            PendingGroupWrite(
                group: g.id, consumerGroup: cg.id, lastIndex: index, term: term, request: nil, version: 0, topics: [],
                deadlineTick: node.ticks + node.config.ticks(milliseconds: BrokerLimits.groupWriteTimeoutMs), replies: replies))
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

    /// After new entries may have been applied (`expired` false) or on a tick (`expired` true).
    mutating func writesProgressed(expired: Bool, _ node: some CoordinatorContext) -> [KafkaAction] {
        checkWrites(expired: expired, node)
        return taken()
    }

    /// Answer commits whose entry is applied here (so OffsetFetch sees them), lost with a term
    /// change, or past their deadline.
    mutating func checkWrites(expired: Bool, _ node: some CoordinatorContext) {
        var remaining: [PendingGroupWrite] = []
        for w in writes {
            var code: ErrorCode?
            switch node.proposalOutcome(group: w.group, index: w.lastIndex, term: w.term) {
            case .applied: code = ErrorCode.none
            case .lost: code = .notCoordinator
            case nil: if expired && node.ticks >= w.deadlineTick { code = .requestTimedOut }
            }
            guard let code else {
                remaining.append(w)
                continue
            }
            if let part = w.deletion {
                deletionWritten(part, id: w.consumerGroup, code)
                continue
            }
            emit(code == .none ? w.replies : Self.failed(w.replies, code))
            // A membership write that failed must be made again before its state is answered from.
            if code != .none && w.request == nil { groups[w.consumerGroup]?.needsPersist = true }
            guard let request = w.request else { continue }
            if var answer = w.txnOffsetCommitAnswer {
                for t in answer.topics.indices {
                    for p in answer.topics[t].partitions.indices where answer.topics[t].partitions[p].errorCode == .none {
                        answer.topics[t].partitions[p].errorCode = code
                    }
                }
                actions.append(.complete(request.answer(answer)))
                continue
            }
            if var answer = w.offsetDeleteAnswer {
                for t in answer.topics.indices {
                    for p in answer.topics[t].partitions.indices where answer.topics[t].partitions[p].errorCode == .none {
                        answer.topics[t].partitions[p].errorCode = code
                    }
                }
                actions.append(.complete(request.answer(answer)))
                continue
            }
            var topics = w.topics
            for t in topics.indices {
                for p in topics[t].partitions.indices where topics[t].partitions[p].errorCode == .none { topics[t].partitions[p].errorCode = code }
            }
            actions.append(.complete(request.answer(OffsetCommitResponse(topics: topics))))
        }
        writes = remaining
        if !deletions.isEmpty { finishDeletions() }
        answerWaitingFetches(node)
    }

    /// OffsetFetches that waited for their group's commits.
    private mutating func answerWaitingFetches(_ node: some CoordinatorContext) {
        guard !waitingFetches.isEmpty else { return }
        var waiting: [(KafkaRequest, OffsetFetchRequest)] = []
        for (request, f) in waitingFetches {
            if commitsInFlight(for: f, version: request.header.apiVersion) {
                waiting.append((request, f))
                continue
            }
            answerOffsetFetch(request, f, node)
        }
        waitingFetches = waiting
    }

    static func partitionExists(_ topic: String, _ p: Int32, _ node: some CoordinatorContext) -> Bool {
        node.controller.topic(topic)?.partitions.contains { $0.partition == p } ?? false
    }

    /// The records committing `offsets` (OffsetCommit's, or a transaction's TxnOffsetCommit) of
    /// the partitions that exist; the others are answered UNKNOWN_TOPIC_OR_PARTITION.
    static func offsetRecords(
        group: String, _ offsets: [(topic: String, partition: Int32, offset: CommittedOffset)], _ node: some CoordinatorContext
    ) -> [(key: [UInt8], value: [UInt8]?)] {
        offsets.filter { partitionExists($0.topic, $0.partition, node) }.map {
            GroupOffsetStore.offsetRecord(group: group, topic: $0.topic, partition: $0.partition, $0.offset)
        }
    }
}
