import KafkaProtocol
import Primitives
import Raft

/// A begin or marker proposed on a partition this node leads, waiting to be applied here.
struct PendingPartitionTransactionWrite {
    var request: UInt64
    var coordinator: NodeID
    var group: GroupID
    var index: LogIndex
    var term: Term
}

/// The partition leader's side of transactions: writes the begins and markers coordinators ask
/// for (`TransactionPartitionMessage.write`) into the partition's Raft log and answers once they
/// are applied here. It judges a request against the partition's whole log, applied and not
/// (`Group.transactionsView`), so a request repeated while its entry is in flight waits for that
/// entry instead of writing another, and a late one is fenced (`PartitionTransactions`).
struct TransactionPartitionService {
    private(set) var pending: [PendingPartitionTransactionWrite] = []

    var isEmpty: Bool { pending.isEmpty }

    /// A coordinator's request: the answer now, or nil when it comes once an entry is applied
    /// (`check`).
    mutating func write(
        request: UInt64, from coordinator: NodeID, group gid: GroupID, producerID: Int64, mark: TransactionMark,
        action: TransactionPartitionMessage.Action, _ node: some PartitionContext
    ) -> TransactionPartitionMessage? {
        func answer(_ e: ErrorCode) -> TransactionPartitionMessage { .written(request: request, group: gid, error: e) }
        // A data or offsets partition led here, having applied an entry of its term (so its view
        // of the log is whole). `__transaction_state` never joins a transaction.
        guard let g = node.group(gid), g.isKafkaPartition, g.transactionStore == nil else { return answer(.notLeaderOrFollower) }
        guard g.isServing else { return answer(.notLeaderOrFollower) }
        let view = g.transactionsView
        let done: Bool
        switch action {
        case .begin:
            guard view.mayBegin(producerID, mark) else { return answer(.producerFenced) }
            done = view.producers[producerID]?.begun == mark
        case .commit, .abort:
            // Ended already (this marker, or a later transaction's): nothing more to write.
            done = !view.mayEnd(producerID, mark)
        }
        if done {
            // Written, maybe not applied yet: answer once everything in the log now is.
            let (last, term) = g.withRaft { ($0.lastIndex, $0.term(at: $0.lastIndex) ?? $0.term) }
            if g.state.appliedIndex >= last { return answer(.none) }
            pending.append(.init(request: request, coordinator: coordinator, group: gid, index: last, term: term))
            return nil
        }
        guard !node.diskFull else { return answer(.kafkaStorageError) }
        let data: [UInt8]
        if action == .begin {
            data = KafkaEntry.transactionBegin(producerID: producerID, mark)
        } else {
            let term = g.withRaft { $0.term }
            let batch = ControlRecord(commit: action == .commit, coordinatorEpoch: mark.sequence)
                .batch(producerID: producerID, producerEpoch: mark.epoch, timestamp: node.nowMs)
                .assigned(baseOffset: Int64(g.logEndOffset), leaderEpoch: Int32(truncatingIfNeeded: term.value))
            data = Array(batch.bytes.readableBytesView)
        }
        guard let at = try? node.propose(data, to: gid) else { return answer(.notLeaderOrFollower) }
        pending.append(.init(request: request, coordinator: coordinator, group: gid, index: at.index, term: at.term))
        return nil
    }

    /// After entries may have been applied: the answers for writes applied here (NONE) or lost
    /// with a change of leader (NOT_LEADER_OR_FOLLOWER: the coordinator asks the new leader).
    mutating func check(_ node: some PartitionContext) -> [(NodeID, TransactionPartitionMessage)] {
        var answers: [(NodeID, TransactionPartitionMessage)] = []
        var remaining: [PendingPartitionTransactionWrite] = []
        for w in pending {
            switch node.proposalOutcome(group: w.group, index: w.index, term: w.term) {
            case .applied: answers.append((w.coordinator, .written(request: w.request, group: w.group, error: .none)))
            case .lost: answers.append((w.coordinator, .written(request: w.request, group: w.group, error: .notLeaderOrFollower)))
            case nil: remaining.append(w)
            }
        }
        pending = remaining
        return answers
    }
}

extension NodeCore.Group {
    /// What an entry means for the partition's transactions.
    enum TransactionEffect {
        case begin(producerID: Int64, TransactionMark)
        case marker(KafkaEntry.Header, ControlRecord)
        case batch(KafkaEntry.Header)
    }

    static func transactionEffect(_ e: Entry) -> TransactionEffect? {
        guard e.kind == .normal else { return nil }
        guard let h = KafkaEntry.header(e.data) else {
            return KafkaEntry.transactionBegun(e.data).map { .begin(producerID: $0.producerID, $0.mark) }
        }
        if h.isControl { return marker(e.data).map { .marker(h, $0) } }
        return h.isTransactional ? .batch(h) : nil
    }

    /// The partition's transactions as of its whole Raft log: the applied state plus the
    /// unapplied tail (what a leader decides a request by, as `producerVerdict` does).
    var transactionsView: PartitionTransactions {
        var view = transactions
        var producers = ProducerState()  // (only the transactions matter here)
        let last = withRaft { $0.lastIndex }
        var i = state.appliedIndex.next
        while i <= last {
            if let e = withRaft({ $0.entry(at: i) }), let effect = Self.transactionEffect(e) {
                switch effect {
                case .begin(let producerID, let mark): view.begin(producerID, mark)
                case .marker(let h, let marker): Self.applyMarker(h, marker, producers: &producers, transactions: &view)
                case .batch(let h): view.appended(h.producerID, epoch: h.producerEpoch, baseOffset: h.baseOffset)
                }
            }
            i = i.next
        }
        return view
    }
}
