import KafkaProtocol
import Primitives

/// TxnOffsetCommit (KIP-98, KIP-447): a transaction's consumed offsets, written to the group's
/// offsets partition as a transactional batch of the producer. Every replica holds them apart
/// (`GroupOffsetStore.pending`) until the transaction's marker reaches the partition (it joined
/// the transaction with AddOffsetsToTxn): committed with it, or dropped with its abort.
extension GroupCoordinator {
    mutating func txnOffsetCommit(_ request: KafkaRequest, _ t: TxnOffsetCommitRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        func response(_ code: (String, Int32) -> ErrorCode) -> TxnOffsetCommitResponse {
            TxnOffsetCommitResponse(
                topics: t.topics.map { tp in
                    .init(name: tp.name, partitions: tp.partitions.map { .init(partitionIndex: $0.partitionIndex, errorCode: code(tp.name, $0.partitionIndex)) })
                })
        }
        func fail(_ e: ErrorCode) -> [KafkaAction] {
            actions.append(.complete(request.answer(response { _, _ in e })))
            return taken()
        }
        guard !t.groupID.isEmpty else { return fail(.invalidGroupID) }
        let g: NodeCore.Group
        switch lookup(t.groupID, node) {
        case .refused(let e): return fail(e)
        case .serving(let found): g = found
        }
        // KIP-447 (v3): a member of the group's generation, when the producer names one; a
        // commit naming none (older clients, a producer outside the group) is not checked, as
        // in Kafka.
        if request.header.apiVersion >= 3 && (!t.memberID.isEmpty || t.generationID >= 0) {
            guard let group = groups[t.groupID] else { return fail(.illegalGeneration) }
            let check = group.commitCheck(memberID: t.memberID, generation: t.generationID, timing: Self.timing(node))
            guard check == .none else { return fail(check) }
        }
        // Only inside a transaction begun in this partition (AddOffsetsToTxn).
        let view = g.transactionsView
        guard view.mayWrite(t.producerID, epoch: t.producerEpoch) else {
            let newer = view.producers[t.producerID]?.begun.map { $0.epoch > t.producerEpoch } ?? false
            return fail(newer ? .producerFenced : .invalidTxnState)
        }
        let records = Self.offsetRecords(group: t.groupID, t.topics.flatMap { tp in
            tp.partitions.map { (tp.name, $0.partitionIndex, CommittedOffset(offset: $0.committedOffset, leaderEpoch: $0.committedLeaderEpoch, metadata: $0.committedMetadata, timestamp: 0)) }
        }, node)
        let answer = response { Self.partitionExists($0, $1, node) ? .none : .unknownTopicOrPartition }
        guard !records.isEmpty else {
            actions.append(.complete(request.answer(answer)))
            return taken()
        }
        guard let (index, term) = InternalTopicRecords.propose(records, to: g, node, transactionalProducer: (t.producerID, t.producerEpoch)) else {
            return fail(.notCoordinator)
        }
        var w = PendingGroupWrite(
            group: g.id, consumerGroup: t.groupID, lastIndex: index, term: term, request: request, version: request.header.apiVersion, topics: [],
            deadlineTick: node.ticks + node.config.ticks(milliseconds: BrokerLimits.groupWriteTimeoutMs))
        w.txnOffsetCommitAnswer = answer
        writes.append(w)
        return taken()
    }
}
