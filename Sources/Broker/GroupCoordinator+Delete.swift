import KafkaProtocol
import NIOCore
import Primitives
import Raft

/// A DeleteGroups waiting for its groups' tombstones to be applied: one answer per group, in the
/// request's order, nil while its write is in flight.
struct PendingGroupDeletion {
    var request: KafkaRequest
    var groups: [String]
    var results: [ErrorCode?]
}

/// DeleteGroups: an empty group's metadata and every committed offset become tombstones in its
/// offsets partition (Kafka's way: every replica's `GroupOffsetStore` drops the keys when it
/// applies them); the answer comes once they are applied on the coordinator.
extension GroupCoordinator {
    mutating func deleteGroups(_ request: KafkaRequest, _ d: DeleteGroupsRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        let k = deletions.count
        var pending = PendingGroupDeletion(request: request, groups: d.groupsNames, results: [])
        for (i, id) in d.groupsNames.enumerated() {
            pending.results.append(deletion(of: id, in: d.groupsNames[..<i], part: (k, i), node))
        }
        deletions.append(pending)
        finishDeletions()
        return taken()
    }

    /// The error for group `id` now, or nil when its tombstones were proposed.
    private mutating func deletion(of id: String, in earlier: ArraySlice<String>, part: (Int, Int), _ node: some CoordinatorContext) -> ErrorCode? {
        guard !id.isEmpty else { return .invalidGroupID }
        if earlier.contains(id) { return .invalidRequest }
        let g: NodeCore.Group
        switch lookup(id, node) {
        case .refused(let e): return e
        case .serving(let found): g = found
        }
        if let live = groups[id], live.state != .empty { return .nonEmptyGroup }
        let committed = g.offsetStore?.offsets[id] ?? [:]
        guard groups[id] != nil || !committed.isEmpty || g.offsetStore?.groups[id] != nil else { return .groupIDNotFound }
        if writes.contains(where: { $0.consumerGroup == id }) {
            // A commit or a membership write of the group is in flight: its outcome would race the
            // tombstones. The client retries (as for a rebalance).
            return .rebalanceInProgress
        }
        var records = [GroupOffsetStore.groupRecord(group: id, nil)]
        for key in committed.keys.sorted() {
            records.append(GroupOffsetStore.offsetRecord(group: id, topic: key.topic, partition: key.partition, nil))
        }
        guard let (index, term) = InternalTopicRecords.propose(records, to: g, node) else { return .notCoordinator }
        var w = PendingGroupWrite(
            group: g.id, consumerGroup: id, lastIndex: index, term: term, request: nil, version: 0, topics: [],
            deadlineTick: node.ticks + node.config.ticks(milliseconds: BrokerLimits.groupWriteTimeoutMs))
        w.deletion = PendingGroupWrite.DeletionPart(deletion: part.0, group: part.1)
        writes.append(w)
        return nil
    }

    /// A deletion's write finished with `code`.
    mutating func deletionWritten(_ part: PendingGroupWrite.DeletionPart, id: String, _ code: ErrorCode) {
        if code == .none, let g = groups[id], g.state == .empty { groups[id] = nil }
        guard part.deletion < deletions.count else { return }
        deletions[part.deletion].results[part.group] = code
    }

    /// Answer the deletions whose every group has its result; the list stays in arrival order
    /// (writes refer to deletions by position), so answered ones are emptied, and the list is
    /// cleared once all are.
    mutating func finishDeletions() {
        for k in deletions.indices where !deletions[k].groups.isEmpty && deletions[k].results.allSatisfy({ $0 != nil }) {
            let d = deletions[k]
            actions.append(.complete(d.request.answer(DeleteGroupsResponse(results: zip(d.groups, d.results).map { .init(groupID: $0, errorCode: $1!) }))))
            deletions[k].groups = []
        }
        if deletions.allSatisfy({ $0.groups.isEmpty }) { deletions.removeAll() }
    }
}

/// OffsetDelete: some of a group's committed offsets become tombstones. Refused for a partition
/// of a topic the live group subscribes to (GROUP_SUBSCRIBED_TO_TOPIC, Kafka's rule: its members
/// would commit it again), and for a live group that is not a consumer group (NON_EMPTY_GROUP).
extension GroupCoordinator {
    mutating func offsetDelete(_ request: KafkaRequest, _ d: OffsetDeleteRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        func answer(_ group: ErrorCode, _ code: (String, Int32) -> ErrorCode) -> [KafkaAction] {
            let topics = d.topics.map { t in
                OffsetDeleteResponse.OffsetDeleteResponseTopic(name: t.name, partitions: t.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: code(t.name, $0.partitionIndex)) })
            }
            actions.append(.complete(request.answer(OffsetDeleteResponse(errorCode: group, topics: topics))))
            return taken()
        }
        guard !d.groupID.isEmpty else { return answer(.invalidGroupID) { _, _ in .none } }
        let g: NodeCore.Group
        switch lookup(d.groupID, node) {
        case .refused(let e): return answer(e) { _, _ in .none }
        case .serving(let found): g = found
        }
        let committed = g.offsetStore?.offsets[d.groupID] ?? [:]
        let live = groups[d.groupID].flatMap { $0.state == .empty ? nil : $0 }
        guard live != nil || !committed.isEmpty || groups[d.groupID] != nil else { return answer(.groupIDNotFound) { _, _ in .none } }
        if let live, live.protocolType != "consumer" { return answer(.nonEmptyGroup) { _, _ in .none } }
        let subscribed = live.map { Self.subscribedTopics($0) } ?? []
        // Partitions of subscribed topics are refused one by one; the rest become tombstones
        // (one that had no commit is answered as deleted, as in Kafka).
        var records: [(key: [UInt8], value: [UInt8]?)] = []
        for t in d.topics where !subscribed.contains(t.name) {
            for p in t.partitions where committed[.init(topic: t.name, partition: p.partitionIndex)] != nil {
                records.append(GroupOffsetStore.offsetRecord(group: d.groupID, topic: t.name, partition: p.partitionIndex, nil))
            }
        }
        func code(_ topic: String, _ p: Int32) -> ErrorCode { subscribed.contains(topic) ? .groupSubscribedToTopic : .none }
        guard !records.isEmpty else { return answer(.none, code) }
        guard let (index, term) = InternalTopicRecords.propose(records, to: g, node) else { return answer(.notCoordinator) { _, _ in .none } }
        var w = PendingGroupWrite(
            group: g.id, consumerGroup: d.groupID, lastIndex: index, term: term, request: request, version: request.header.apiVersion, topics: [],
            deadlineTick: node.ticks + node.config.ticks(milliseconds: BrokerLimits.groupWriteTimeoutMs))
        w.offsetDeleteAnswer = OffsetDeleteResponse(topics: d.topics.map { t in
            .init(name: t.name, partitions: t.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: code(t.name, $0.partitionIndex)) })
        })
        writes.append(w)
        return taken()
    }

    /// The topics a consumer group's members subscribe to, from their subscriptions (Kafka's
    /// ConsumerProtocolSubscription: int16 version, then the topic names). A subscription that
    /// does not parse is a client's input: it counts as no topics, never a trap.
    static func subscribedTopics(_ group: ConsumerGroup) -> Set<String> {
        var topics: Set<String> = []
        for m in group.members {
            var r = KafkaReader(ByteBuffer(bytes: m.metadata(for: group.protocolName ?? "")))
            guard (try? r.int16()) != nil, let n = try? r.int32(), n >= 0, n <= 100_000 else { continue }
            for _ in 0..<n {
                guard let name = try? r.string() else { break }
                topics.insert(name)
            }
        }
        return topics
    }
}

extension GroupCoordinator {
    /// A topic was deleted: its partitions' committed offsets go too, as Kafka's coordinator
    /// removes them on the metadata change, so a topic created again under the name starts
    /// without old commits. Tombstones in each offsets partition this node coordinates; nobody
    /// waits for them. A write lost with a leadership change leaves those offsets in the store,
    /// where OffsetFetch does not list them while the topic does not exist.
    mutating func topicDeleted(_ name: String, _ node: some CoordinatorContext) -> [KafkaAction] {
        guard let topic = node.controller.topic(offsetsTopic) else { return [] }
        for a in topic.partitions where loaded[a.group] != nil {
            guard let g = node.group(a.group), g.withRaft({ $0.role }) == .leader, let store = g.offsetStore else { continue }
            var records: [(key: [UInt8], value: [UInt8]?)] = []
            for id in store.offsets.keys.sorted() {
                for key in store.offsets[id]!.keys.sorted() where key.topic == name {
                    records.append(GroupOffsetStore.offsetRecord(group: id, topic: name, partition: key.partition, nil))
                }
            }
            if !records.isEmpty { _ = InternalTopicRecords.propose(records, to: g, node) }
        }
        return taken()
    }
}
