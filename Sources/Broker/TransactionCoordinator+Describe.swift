import KafkaProtocol
import Primitives

/// The tools' view of the transactions a node coordinates (KIP-664): DescribeTransactions for
/// given ids, ListTransactions for all of them, as `kafka-transactions.sh` and the Admin client
/// ask. Reads only: each answer is the id's record as the `__transaction_state` partition has
/// applied it, so what a tool sees is what producers were told.
extension TransactionCoordinator {
    /// Every state name Kafka knows, for ListTransactions' filter: PrepareEpochFence is one though
    /// no record here is ever in it (`TransactionMetadata.State`), so filtering by it lists nothing
    /// rather than calling the name unknown.
    static let stateNames: Set<String> = Set(
        [TransactionMetadata.State.empty, .ongoing, .prepareCommit, .prepareAbort, .completeCommit, .completeAbort, .dead].map(\.description)
    ).union(["PrepareEpochFence"])

    /// DescribeTransactions: each id's state, or why this node cannot tell it — NOT_COORDINATOR
    /// (the Admin client then finds the coordinator again), COORDINATOR_LOAD_IN_PROGRESS,
    /// TRANSACTIONAL_ID_NOT_FOUND for an id the coordinator has no record of.
    mutating func describe(_ d: DescribeTransactionsRequest, _ request: KafkaRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        refreshCoordination(node)
        let states = d.transactionalIDs.map { id -> DescribeTransactionsResponse.TransactionState in
            switch record(of: id, node) {
            case .refused(let code):
                return .init(errorCode: code, transactionalID: id)
            case .found(let m):
                return .init(
                    transactionalID: id, transactionState: m.state.description, transactionTimeoutMs: m.timeoutMs,
                    transactionStartTimeMs: m.startMs, producerID: m.producerID, producerEpoch: m.producerEpoch,
                    topics: topics(of: m, id))
            }
        }
        actions.append(.complete(request.answer(DescribeTransactionsResponse(transactionStates: states))))
        return taken()
    }

    /// ListTransactions: the transactions of every `__transaction_state` partition this node
    /// coordinates, filtered by state, producer id and (v1) how long they have run — only an open
    /// or finishing transaction has run at all; an Empty or Complete one has no start. Kafka leaves
    /// out Dead records (being removed), and so does this.
    mutating func list(_ l: ListTransactionsRequest, _ request: KafkaRequest, _ node: some CoordinatorContext) -> [KafkaAction] {
        refreshCoordination(node)
        let unknown = l.stateFilters.filter { !Self.stateNames.contains($0) }
        let states = Set(l.stateFilters)
        let producers = Set(l.producerIDFilters)
        let now = node.nowMs
        var response = ListTransactionsResponse(unknownStateFilters: unknown)
        if isLoading(node) {
            response.errorCode = .coordinatorLoadInProgress
        } else {
            for gid in loaded.keys.sorted() {
                guard let store = node.group(gid)?.transactionStore else { continue }
                for id in store.transactions.keys.sorted() {
                    let m = store.transactions[id]!
                    if m.state == .dead { continue }
                    if !states.isEmpty && !states.contains(m.state.description) { continue }
                    if !producers.isEmpty && !producers.contains(m.producerID) { continue }
                    if l.durationFilter >= 0 && (m.startMs < 0 || now - m.startMs <= l.durationFilter) { continue }
                    response.transactionStates.append(.init(transactionalID: id, producerID: m.producerID, transactionState: m.state.description))
                }
            }
        }
        actions.append(.complete(request.answer(response)))
        return taken()
    }

    private enum Described {
        case found(TransactionMetadata)
        case refused(ErrorCode)
    }

    /// The id's applied record on this coordinator. Unlike a producer's request, a tool's neither
    /// creates `__transaction_state` nor waits for a record in flight.
    private func record(of id: String, _ node: some CoordinatorContext) -> Described {
        guard !id.isEmpty else { return .refused(.invalidRequest) }
        switch coordination(of: id, node) {
        case .unplaced:
            return .refused(.notCoordinator)
        case .refused(let code):
            return .refused(code)
        case .serving(_, let store):
            guard let m = store.transactions[id], m.state != .dead else { return .refused(.transactionalIDNotFound) }
            return .found(m)
        }
    }

    /// The transaction's partitions by topic; while it is being committed or aborted, only those
    /// still without their marker (Kafka's answer).
    private func topics(of m: TransactionMetadata, _ id: String) -> [DescribeTransactionsResponse.TopicData] {
        var partitions = m.partitions
        if m.state == .prepareCommit || m.state == .prepareAbort {
            let marked = Set(partitionRequests.filter { $0.transactionalID == id && $0.action != .begin && $0.done }.map(\.partition))
            partitions.removeAll { marked.contains($0) }
        }
        var topics: [DescribeTransactionsResponse.TopicData] = []
        for p in partitions {  // sorted by topic, then partition
            if topics.last?.topic == p.topic {
                topics[topics.count - 1].partitions.append(p.partition)
            } else {
                topics.append(.init(topic: p.topic, partitions: [p.partition]))
            }
        }
        return topics
    }

    /// This node leads a `__transaction_state` partition it has not loaded yet: a list would miss
    /// that partition's transactions.
    private func isLoading(_ node: some CoordinatorContext) -> Bool {
        guard let topic = node.controller.topic(transactionStateTopic) else { return false }
        return topic.partitions.contains { a in
            guard let g = node.group(a.group) else { return false }
            return g.withRaft { $0.role } == .leader && loaded[a.group] == nil
        }
    }
}
