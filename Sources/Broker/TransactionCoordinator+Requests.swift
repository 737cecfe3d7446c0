import KafkaProtocol
import Primitives

/// The transactional requests a producer sends its coordinator: each is looked up
/// (`TransactionCoordinator.lookup`), decided by `TransactionRules` over the id's applied record,
/// and answered now or once the new record is applied (`carryOut`).
extension TransactionCoordinator {
    /// InitProducerId with a transactional id: a producer id and epoch for the id, fencing any
    /// earlier producer of it (a bumped epoch), after aborting what one left open.
    mutating func initProducerID(
        _ i: InitProducerIDRequest, _ request: KafkaRequest, _ node: some CoordinatorContext, producerIDs: inout ProducerIDService
    ) -> [KafkaAction] {
        let id = i.transactionalID ?? ""
        func answer(_ code: ErrorCode, _ m: TransactionMetadata?) -> KafkaCompletion {
            guard code == .none, let m else { return request.answer(InitProducerIDResponse(errorCode: code, producerID: -1, producerEpoch: -1)) }
            return request.answer(InitProducerIDResponse(producerID: m.producerID, producerEpoch: m.producerEpoch))
        }
        // Kafka's answer to an empty transactional id (a null one asks for an idempotent id).
        guard !id.isEmpty else {
            actions.append(.complete(answer(.invalidRequest, nil)))
            return taken()
        }
        switch lookup(id, node) {
        case .refused(let e):
            actions.append(.complete(answer(e, nil)))
        case .serving(let g, let current):
            var short = false
            let decision = TransactionRules.initProducerID(
                current, timeoutMs: i.transactionTimeoutMs, producerID: i.producerID, epoch: i.producerEpoch, nowMs: node.nowMs,
                maxTimeoutMs: node.config.transactionMaxTimeoutMs
            ) {
                let (pid, more) = producerIDs.takeNow(controller: node.controller)
                actions += more
                short = short || pid == nil
                return pid ?? -1
            }
            if short {
                // No block of producer ids yet (one is asked for): the client retries.
                actions.append(.complete(answer(.coordinatorNotAvailable, nil)))
            } else {
                carryOut(decision, id, current: current, in: g, node, answer: answer)
            }
        }
        return taken()
    }

    /// AddPartitionsToTxn v0-3 (the client's form): partitions the transaction writes join it
    /// before the producer sends to them; answered once the record is applied and the
    /// transaction begun in each (`startBegins`), so every batch the producer then sends is
    /// accepted. Partitions that do not exist fail the request: those
    /// get UNKNOWN_TOPIC_OR_PARTITION (an internal topic's, INVALID_TOPIC), the rest
    /// OPERATION_NOT_ATTEMPTED, as Kafka answers.
    mutating func addPartitions(_ a: AddPartitionsToTxnRequest, _ request: KafkaRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        func answer(_ code: (TransactionPartition) -> ErrorCode) -> KafkaCompletion {
            request.answer(
                AddPartitionsToTxnResponse(
                    resultsByTopicV3AndBelow: a.v3AndBelowTopics.map { t in
                        .init(name: t.name, resultsByPartition: t.partitions.map {
                            .init(partitionIndex: $0, partitionErrorCode: code(TransactionPartition(topic: t.name, partition: $0)))
                        })
                    }))
        }
        var partitions: [TransactionPartition] = []
        var refused: [TransactionPartition: ErrorCode] = [:]
        for t in a.v3AndBelowTopics {
            let topic = node.controller.topic(t.name)
            for p in t.partitions {
                let tp = TransactionPartition(topic: t.name, partition: p)
                if InternalTopic.isInternal(t.name) {
                    refused[tp] = .invalidTopic
                } else if topic?.partitions.contains(where: { $0.partition == p }) != true {
                    refused[tp] = .unknownTopicOrPartition
                } else {
                    partitions.append(tp)
                }
            }
        }
        guard refused.isEmpty else {
            actions.append(.complete(answer { refused[$0] ?? .operationNotAttempted }))
            return taken()
        }
        let id = a.v3AndBelowTransactionalID
        switch lookup(id, node) {
        case .refused(let e):
            actions.append(.complete(answer { _ in e }))
        case .serving(let g, let current):
            let decision = TransactionRules.addPartitions(
                current, producerID: a.v3AndBelowProducerID, epoch: a.v3AndBelowProducerEpoch, partitions, nowMs: node.nowMs)
            carryOut(decision, id, current: current, in: g, node, begins: partitions) { code, _ in answer { _ in code } }
        }
        return taken()
    }

    /// AddOffsetsToTxn: the group's offsets partition joins the transaction, so the offsets the
    /// producer commits in it (TxnOffsetCommit) take effect with the transaction's commit.
    mutating func addOffsets(_ a: AddOffsetsToTxnRequest, _ request: KafkaRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        func answer(_ code: ErrorCode) -> KafkaCompletion { request.answer(AddOffsetsToTxnResponse(errorCode: code)) }
        guard !a.groupID.isEmpty else {
            actions.append(.complete(answer(.invalidGroupID)))
            return taken()
        }
        guard let offsets = CoordinatorPlacement.assignment(of: a.groupID, in: .consumerOffsets, node) else {
            actions += CoordinatorPlacement.creation(of: .consumerOffsets, node)
            actions.append(.complete(answer(.coordinatorNotAvailable)))
            return taken()
        }
        switch lookup(a.transactionalID, node) {
        case .refused(let e):
            actions.append(.complete(answer(e)))
        case .serving(let g, let current):
            let partition = TransactionPartition(topic: offsetsTopic, partition: offsets.partition)
            let decision = TransactionRules.addPartitions(current, producerID: a.producerID, epoch: a.producerEpoch, [partition], nowMs: node.nowMs)
            carryOut(decision, a.transactionalID, current: current, in: g, node, begins: [partition]) { code, _ in answer(code) }
        }
        return taken()
    }

    /// EndTxn: commit or abort. Answered once the Prepare record is applied: from then on the
    /// outcome is decided, whatever fails, and the markers carry it to the partitions.
    mutating func endTransaction(_ e: EndTxnRequest, _ request: KafkaRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        func answer(_ code: ErrorCode) -> KafkaCompletion { request.answer(EndTxnResponse(errorCode: code)) }
        switch lookup(e.transactionalID, node) {
        case .refused(let code):
            actions.append(.complete(answer(code)))
        case .serving(let g, let current):
            let decision = TransactionRules.endTransaction(
                current, producerID: e.producerID, epoch: e.producerEpoch, commit: e.committed, nowMs: node.nowMs)
            carryOut(decision, e.transactionalID, current: current, in: g, node) { code, _ in answer(code) }
        }
        return taken()
    }
}
