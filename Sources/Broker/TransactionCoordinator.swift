import KafkaProtocol
import Primitives
import Raft

/// A record proposed to a `__transaction_state` partition, waiting to be applied on its leader.
struct PendingTransactionWrite {
    var group: GroupID
    var transactionalID: String
    var lastIndex: LogIndex
    var term: Term
    /// The record proposed (nil: the id's removal, once it expired).
    var record: TransactionMetadata?
    /// The code to answer once the record is applied (the decision's `then`).
    var code: ErrorCode
    /// Partitions to begin the transaction in once the record is applied, before answering
    /// (AddPartitionsToTxn, AddOffsetsToTxn).
    var begins: [TransactionPartition] = []
    /// The client's answer, given the code (nil for the coordinator's own writes — a timed-out
    /// transaction's abort — and once answered after the deadline).
    var answer: ((ErrorCode) -> KafkaCompletion)?
    var deadlineTick: UInt64
}

/// The transaction coordinator (KIP-98): InitProducerId with a transactional id,
/// AddPartitionsToTxn, AddOffsetsToTxn and EndTxn (`TransactionCoordinator+Requests`), and the
/// transaction timeouts. A transactional id belongs to the partition of `__transaction_state` its
/// hash names (`CoordinatorPlacement`), and its coordinator is that partition's Raft leader.
///
/// What a request does is `TransactionRules`' pure decision over the id's record as the partition
/// has applied it (`Group.transactionStore`); a change is a new record, replicated through the
/// partition's Raft group, and the client is answered only once it is applied — so a new leader,
/// having applied its log, knows every transaction exactly as clients were told. While a record
/// of an id is in flight, other requests for the id are answered CONCURRENT_TRANSACTIONS (Kafka's
/// pending state), so every decision is made over the newest record.
///
/// Begins and markers are `TransactionCoordinator+Partitions`; the tools' DescribeTransactions and
/// ListTransactions, `TransactionCoordinator+Describe`. `NodeConfig.servesTransactions` (on by
/// default) turns all of it off.
struct TransactionCoordinator {
    /// `__transaction_state` partitions this node coordinates, with the term they were loaded in.
    var loaded: [GroupID: Term] = [:]
    /// Records in flight, in the order they were proposed.
    var writes: [PendingTransactionWrite] = []
    /// Begins and markers asked of partition leaders and not yet answered
    /// (`TransactionCoordinator+Partitions`).
    var partitionRequests: [PartitionRequest] = []
    /// AddPartitionsToTxn and AddOffsetsToTxn requests waiting for their begins.
    var beginWaiters: [BeginWaiter] = []
    /// The next request id: from the node's run, so an answer to the node's previous process
    /// never matches a request of this one.
    var nextRequest: UInt64

    init(firstRequest: UInt64) { nextRequest = firstRequest }
    /// What the current entry point asks of the node, taken when it returns (`taken()`).
    var actions: [KafkaAction] = []
    /// Log lines for the node's output (`takeNotices()`).
    private(set) var notices: [String] = []

    mutating func takeNotices() -> [String] {
        defer { notices.removeAll() }
        return notices
    }

    var hasPendingWrites: Bool { !writes.isEmpty }

    mutating func taken() -> [KafkaAction] {
        defer { actions.removeAll() }
        return actions
    }

    /// The partition coordinating an id here, or why this node cannot serve it.
    enum Lookup {
        case serving(NodeCore.Group, TransactionMetadata?)
        case refused(ErrorCode)
    }

    /// A producer's request: it creates `__transaction_state` the first time an id needs it, and
    /// waits (CONCURRENT_TRANSACTIONS, which the client retries) while the id has a record or
    /// begins in flight.
    mutating func lookup(_ transactionalID: String, _ node: some CoordinatorContext) -> Lookup {
        refreshCoordination(node)
        switch coordination(of: transactionalID, node) {
        case .unplaced:
            actions += CoordinatorPlacement.creation(of: .transactionState, node)
            return .refused(.coordinatorNotAvailable)
        case .refused(let code):
            return .refused(code)
        case .serving(let g, let store):
            guard !isBusy(transactionalID) else { return .refused(.concurrentTransactions) }
            return .serving(g, store.transactions[transactionalID])
        }
    }

    /// Whether this node serves an id's `__transaction_state` partition now, as its leader with
    /// every earlier record applied — shared by producers' requests (`lookup`) and tools' reads
    /// (`describe`), after `refreshCoordination`.
    enum Coordination {
        /// `__transaction_state` does not exist yet.
        case unplaced
        case refused(ErrorCode)
        case serving(NodeCore.Group, TransactionStateStore)
    }

    func coordination(of transactionalID: String, _ node: some CoordinatorContext) -> Coordination {
        guard let a = CoordinatorPlacement.assignment(of: transactionalID, in: .transactionState, node) else { return .unplaced }
        guard let g = node.group(a.group), g.withRaft({ $0.role }) == .leader else { return .refused(.notCoordinator) }
        guard loaded[g.id] != nil, let store = g.transactionStore else { return .refused(.coordinatorLoadInProgress) }
        return .serving(g, store)
    }

    /// Serve the partitions this node has come to lead once it has applied an entry of its term
    /// (its store then holds every record committed before), and let go of the others.
    mutating func refreshCoordination(_ node: some CoordinatorContext) {
        guard let topic = node.controller.topic(transactionStateTopic) else { return }
        for a in topic.partitions {
            guard let g = node.group(a.group) else {
                loaded[a.group] = nil
                continue
            }
            let term = g.withRaft { $0.term }
            if g.isServing {
                loaded[g.id] = term
            } else if loaded[g.id] != nil && (g.withRaft { $0.role } != .leader || loaded[g.id] != term) {
                loaded[g.id] = nil
            }
        }
    }

    // MARK: - Writes

    /// Carry out a decision for `transactionalID`: answer now, or propose its new record and
    /// answer once it is applied. `answer` builds the client's response from a code and the
    /// record it then has.
    /// A record of the id is in flight, or its begins are: its next request must wait for them
    /// (Kafka's pending state), and so must its timeout.
    func isBusy(_ transactionalID: String) -> Bool {
        writes.contains { $0.transactionalID == transactionalID } || beginWaiters.contains { $0.transactionalID == transactionalID }
    }

    /// `begins`: partitions to begin the transaction in before a NONE is answered.
    mutating func carryOut(
        _ decision: TransactionDecision, _ transactionalID: String, current: TransactionMetadata?, in g: NodeCore.Group,
        _ node: some CoordinatorContext, begins: [TransactionPartition] = [],
        answer: @escaping (ErrorCode, TransactionMetadata?) -> KafkaCompletion
    ) {
        switch decision {
        case .answer(let code):
            if code == .none, let current, !begins.isEmpty {
                startBegins(begins, of: current, transactionalID, stateGroup: g.id, node) { answer($0, current) }
            } else {
                actions.append(.complete(answer(code, current)))
            }
        case .write(let m, let then):
            if !propose(m, transactionalID, in: g, node, code: then, begins: begins, answer: { code in answer(code, code == .none ? m : nil) }) {
                actions.append(.complete(answer(.notCoordinator, nil)))
            }
        }
    }

    /// Propose `m` as the id's record; false when this node cannot (no longer the leader, or a
    /// nearly full disk).
    mutating func propose(
        _ m: TransactionMetadata?, _ transactionalID: String, in g: NodeCore.Group, _ node: some CoordinatorContext, code: ErrorCode,
        begins: [TransactionPartition] = [], answer: ((ErrorCode) -> KafkaCompletion)?
    ) -> Bool {
        guard let (index, term) = InternalTopicRecords.propose([TransactionStateStore.record(transactionalID, m)], to: g, node) else { return false }
        writes.append(
            PendingTransactionWrite(
                group: g.id, transactionalID: transactionalID, lastIndex: index, term: term, record: m, code: code, begins: begins,
                answer: answer, deadlineTick: node.ticks + node.config.ticks(milliseconds: BrokerLimits.transactionWriteTimeoutMs)))
        return true
    }

    /// After new entries may have been applied (`expired` false) or on a tick (`expired` true).
    mutating func writesProgressed(expired: Bool, _ node: some CoordinatorContext) -> [KafkaAction] {
        checkWrites(expired: expired, node)
        return taken()
    }

    /// Answer writes applied here, lost with a term change or a lost leadership, or past their
    /// deadline. One past its deadline is answered COORDINATOR_NOT_AVAILABLE (Kafka's answer to a
    /// log append that timed out; the client retries) but stays until it is applied or lost: it
    /// may still commit, and its id takes no other request before then.
    mutating func checkWrites(expired: Bool, _ node: some CoordinatorContext) {
        var remaining: [PendingTransactionWrite] = []
        for var w in writes {
            var code: ErrorCode?
            switch node.proposalOutcome(group: w.group, index: w.lastIndex, term: w.term) {
            case .applied: code = w.code
            case .lost: code = .notCoordinator
            case nil: break
            }
            if let code {
                if code == .none && !w.begins.isEmpty, let answer = w.answer, let record = w.record {
                    startBegins(w.begins, of: record, w.transactionalID, stateGroup: w.group, node, answer: answer)
                } else if let answer = w.answer {
                    actions.append(.complete(answer(code)))
                }
                // A Prepare record applied: its markers go out now (the tick would, later).
                if code == .none, let record = w.record, record.state == .prepareCommit || record.state == .prepareAbort {
                    startMarkers(record, w.transactionalID, stateGroup: w.group, node)
                }
                continue
            }
            if expired && node.ticks >= w.deadlineTick, let answer = w.answer {
                actions.append(.complete(answer(.coordinatorNotAvailable)))
                w.answer = nil
            }
            remaining.append(w)
        }
        writes = remaining
    }

    // MARK: - Timeouts

    /// Every tick: follow leadership, time out writes, and abort transactions open past their
    /// timeout (under a bumped epoch, so the producer that left one is fenced).
    mutating func tick(_ node: some CoordinatorContext, producerIDs: inout ProducerIDService) -> [KafkaAction] {
        refreshCoordination(node)
        if !writes.isEmpty { checkWrites(expired: true, node) }
        partitionsTick(node)
        let now = node.nowMs
        let busy = Set(writes.map(\.transactionalID)).union(beginWaiters.map(\.transactionalID))
        let asked = Set(partitionRequests.map(\.transactionalID))
        for gid in loaded.keys.sorted() {
            guard let g = node.group(gid), let store = g.transactionStore else { continue }
            // The ids needing something, sorted (a dictionary's order must not reach the log or
            // the order of writes): sorting only these keeps a tick linear in the ids.
            var due: [String] = []
            let expiration = node.config.transactionalIDExpirationMs
            for (id, m) in store.transactions where !busy.contains(id) {
                let prepared = m.state == .prepareCommit || m.state == .prepareAbort
                if prepared ? !asked.contains(id) : m.timedOut(at: now) || m.idle(at: now, expirationMs: expiration) { due.append(id) }
            }
            for id in due.sorted() {
                let m = store.transactions[id]!
                // Idle past `transactional.id.expiration.ms`: removed, as Kafka does, so ids
                // used once (a Flink sink makes new ones all the time) do not pile up. A producer
                // of it coming back later starts afresh; one that kept its producer id is told
                // INVALID_PRODUCER_ID_MAPPING.
                if m.idle(at: now, expirationMs: expiration) {
                    if propose(nil, id, in: g, node, code: .none, answer: nil) {
                        notices.append("transactional id '\(LogText.safe(String(id.prefix(200))))' (producer \(m.producerID), \(m.state)) unused for \(now - m.lastUpdateMs) ms, over transactional_id_expiration_ms (\(expiration)): removed")
                    }
                    continue
                }
                // A decided transaction whose markers are not on their way (this node just took
                // the partition over, or its Complete record was lost): send them.
                if m.state == .prepareCommit || m.state == .prepareAbort {
                    startMarkers(m, id, stateGroup: gid, node)
                    continue
                }
                var short = false
                let aborted = TransactionRules.expire(m, nowMs: now) {
                    let (pid, more) = producerIDs.takeNow(controller: node.controller)
                    actions += more
                    short = pid == nil
                    return pid ?? -1
                }
                // Out of producer ids (epochs exhausted): the next tick tries again.
                guard let aborted, !short, propose(aborted, id, in: g, node, code: .none, answer: nil) else { continue }
                notices.append("transaction '\(LogText.safe(String(id.prefix(200))))' (producer \(m.producerID) epoch \(m.producerEpoch)) timed out after \(m.timeoutMs) ms: aborting it under epoch \(aborted.producerEpoch)")
            }
        }
        return taken()
    }
}
