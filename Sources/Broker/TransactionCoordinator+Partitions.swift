import KafkaProtocol
import Primitives
import Raft

/// A begin or marker the coordinator asked of a partition's leader.
struct PartitionRequest {
    var id: UInt64
    var transactionalID: String
    /// The `__transaction_state` partition whose record this serves.
    var stateGroup: GroupID
    var partition: TransactionPartition
    /// The partition's Raft group (nil: its topic is gone, so there is nothing to write).
    var group: GroupID?
    var producerID: Int64
    var mark: TransactionMark
    var action: TransactionPartitionMessage.Action
    /// When it was last sent (nil: not yet, or to be sent again).
    var sentTick: UInt64?
    var done = false
}

/// An AddPartitionsToTxn or AddOffsetsToTxn whose record is applied, waiting for its begins.
struct BeginWaiter {
    var transactionalID: String
    var requests: [UInt64]
    var answer: (ErrorCode) -> KafkaCompletion
    var deadlineTick: UInt64
}

/// The coordinator's requests to partition leaders: a transaction's begin in each partition it
/// adds (answered to the client once every one is written, so the producer never writes to a
/// partition that would refuse it), and once a Prepare record is applied, its commit or abort
/// marker in each of its partitions, then the Complete record. Markers are sent until written,
/// however long that takes, as Kafka's coordinator does: the outcome is decided, and a partition
/// without its marker holds its consumers' last stable offset back.
extension TransactionCoordinator {
    /// Resend what was not answered after this many ticks.
    static func resendTicks(_ node: some CoordinatorContext) -> UInt64 { max(1, node.config.ticks(milliseconds: 500)) }

    mutating func startBegins(
        _ partitions: [TransactionPartition], of m: TransactionMetadata, _ transactionalID: String, stateGroup: GroupID,
        _ node: some CoordinatorContext, answer: @escaping (ErrorCode) -> KafkaCompletion
    ) {
        let ids = partitions.map { request($0, of: m, transactionalID, action: .begin, stateGroup: stateGroup, node) }
        beginWaiters.append(.init(
            transactionalID: transactionalID, requests: ids, answer: answer,
            deadlineTick: node.ticks + node.config.ticks(milliseconds: BrokerLimits.transactionWriteTimeoutMs)))
        settle(node)
    }

    /// A Prepare record is applied: its markers go to every partition of the transaction.
    mutating func startMarkers(_ m: TransactionMetadata, _ transactionalID: String, stateGroup: GroupID, _ node: some CoordinatorContext) {
        guard !partitionRequests.contains(where: { $0.transactionalID == transactionalID && $0.action != .begin }) else { return }
        let action: TransactionPartitionMessage.Action = m.state == .prepareCommit ? .commit : .abort
        for p in m.partitions { _ = request(p, of: m, transactionalID, action: action, stateGroup: stateGroup, node) }
        settle(node)
    }

    private mutating func request(
        _ p: TransactionPartition, of m: TransactionMetadata, _ transactionalID: String, action: TransactionPartitionMessage.Action,
        stateGroup: GroupID, _ node: some CoordinatorContext
    ) -> UInt64 {
        let id = nextRequest
        nextRequest &+= 1
        let group = node.controller.topic(p.topic)?.partitions.first { $0.partition == p.partition }?.group
        var r = PartitionRequest(
            id: id, transactionalID: transactionalID, stateGroup: stateGroup, partition: p, group: group, producerID: m.producerID,
            mark: m.mark, action: action)
        // A deleted topic's partition has nothing to begin or end (Kafka skips it too).
        if group == nil { r.done = true }
        partitionRequests.append(r)
        send(at: partitionRequests.count - 1, node)
        return id
    }

    /// Send request `k` to its partition's leader, if one is known (else the tick tries again).
    /// A partition whose topic was deleted meanwhile has nothing left to write.
    private mutating func send(at k: Int, _ node: some CoordinatorContext) {
        let r = partitionRequests[k]
        guard !r.done else { return }
        let current = node.controller.topic(r.partition.topic)?.partitions.first { $0.partition == r.partition.partition }?.group
        guard let group = r.group, current == group else {
            partitionRequests[k].done = true
            return
        }
        var leader = NodeID.none
        if let g = node.group(group) {
            leader = g.withRaft { $0.leader }
        } else if let hint = node.leaderHint(for: group) {
            leader = hint.leader
        }
        guard !leader.isNone else { return }
        partitionRequests[k].sentTick = node.ticks
        actions.append(.sendTransaction(
            to: leader,
            .write(request: r.id, from: node.config.id, group: group, producerID: r.producerID, mark: r.mark, action: r.action)))
    }

    /// A partition leader's answer.
    mutating func partitionWritten(request: UInt64, group: GroupID, _ error: ErrorCode, _ node: some CoordinatorContext) -> [KafkaAction] {
        guard let k = partitionRequests.firstIndex(where: { $0.id == request && $0.group == group }), !partitionRequests[k].done else {
            return taken()  // answered before, or a request this coordinator dropped
        }
        if error == .none {
            partitionRequests[k].done = true
        } else if error == .producerFenced && partitionRequests[k].action == .begin {
            // The partition ended this transaction already: the begin can never be written.
            failBegins(of: partitionRequests[k].transactionalID, .producerFenced)
        } else {
            partitionRequests[k].sentTick = nil  // to the leader the tick finds next
        }
        settle(node)
        return taken()
    }

    /// Every tick: drop what this node no longer coordinates, time out begins, resend.
    mutating func partitionsTick(_ node: some CoordinatorContext) {
        guard !partitionRequests.isEmpty || !beginWaiters.isEmpty else { return }
        let dropped = partitionRequests.filter { loaded[$0.stateGroup] == nil }.map(\.transactionalID)
        for id in Set(dropped).sorted() { failBegins(of: id, .notCoordinator) }
        partitionRequests.removeAll { loaded[$0.stateGroup] == nil }
        for w in beginWaiters where node.ticks >= w.deadlineTick {
            // A partition without a leader for that long: the client retries the request.
            failBegins(of: w.transactionalID, .concurrentTransactions)
        }
        let resend = Self.resendTicks(node)
        for k in partitionRequests.indices where !partitionRequests[k].done {
            if let sent = partitionRequests[k].sentTick, node.ticks < sent + resend { continue }
            send(at: k, node)
        }
        settle(node)
    }

    private mutating func failBegins(of transactionalID: String, _ code: ErrorCode) {
        for w in beginWaiters where w.transactionalID == transactionalID { actions.append(.complete(w.answer(code))) }
        beginWaiters.removeAll { $0.transactionalID == transactionalID }
        partitionRequests.removeAll { $0.transactionalID == transactionalID && $0.action == .begin }
    }

    /// Answer the begin waiters whose begins are all written, and complete the transactions
    /// whose markers all are (the Complete record, no client waiting on it). Linear in the
    /// requests: a busy coordinator holds thousands.
    private mutating func settle(_ node: some CoordinatorContext) {
        let written = Set(partitionRequests.lazy.filter(\.done).map(\.id))
        var answered = Set<UInt64>()
        var waiting: [BeginWaiter] = []
        for w in beginWaiters {
            if w.requests.allSatisfy(written.contains) {
                actions.append(.complete(w.answer(.none)))
                answered.formUnion(w.requests)
            } else {
                waiting.append(w)
            }
        }
        beginWaiters = waiting
        if !answered.isEmpty { partitionRequests.removeAll { answered.contains($0.id) } }
        // Each transaction with markers out, in the order its first was asked for, and whether
        // every one of them is written.
        var order: [(id: String, stateGroup: GroupID)] = []
        var allWritten: [String: Bool] = [:]
        for r in partitionRequests where r.action != .begin {
            if allWritten[r.transactionalID] == nil { order.append((r.transactionalID, r.stateGroup)) }
            allWritten[r.transactionalID] = (allWritten[r.transactionalID] ?? true) && r.done
        }
        var finished = Set<String>()
        for (id, stateGroup) in order where allWritten[id] == true {
            guard !writes.contains(where: { $0.transactionalID == id }), let g = node.group(stateGroup),
                  let m = g.transactionStore?.transactions[id], m.state == .prepareCommit || m.state == .prepareAbort
            else { continue }
            // Written: the requests go; not (no longer leader, a full disk): the tick finds the
            // Prepare record again and starts over (markers are idempotent).
            _ = propose(TransactionRules.markersWritten(m, nowMs: node.nowMs), id, in: g, node, code: .none, answer: nil)
            finished.insert(id)
        }
        if !finished.isEmpty { partitionRequests.removeAll { $0.action != .begin && finished.contains($0.transactionalID) } }
    }
}
