import KafkaProtocol
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
        guard let (index, term) = Self.write(records, to: g, node) else { return .notCoordinator }
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
