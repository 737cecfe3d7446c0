import KafkaProtocol

/// A partition written in a transaction (a data partition, or the offsets partition of a group
/// whose offsets the transaction commits).
public struct TransactionPartition: Hashable, Comparable, Sendable {
    public var topic: String
    public var partition: Int32
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }
    public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
}

/// The transaction coordinator's record of one transactional id (Kafka's `TransactionMetadata`,
/// KIP-98 with KIP-360's epoch recovery; the classic "V1" protocol both librdkafka 2.x and the Java
/// 4.x client speak unless a broker advertises `transaction.version` 2).
///
/// A value type: the coordinator asks it what a request does (`TransactionDecision`), replicates
/// the new record through the coordinator partition's Raft group, and only then answers — a
/// transition takes effect once committed, so a new coordinator rebuilds exactly what clients were
/// told from the log (`TransactionStateStore`).
///
/// Used by `TransactionCoordinator`.
public struct TransactionMetadata: Equatable, Sendable {
    /// Kafka's states and their ids. Kafka's PrepareEpochFence (7) is an in-memory step before an
    /// abort the coordinator starts itself; here the fence and the abort are one replicated change
    /// (`prepareAbort` under the bumped epoch), so it is never a state of the record.
    public enum State: UInt8, Sendable, CustomStringConvertible {
        case empty = 0
        case ongoing = 1
        case prepareCommit = 2
        case prepareAbort = 3
        case completeCommit = 4
        case completeAbort = 5
        case dead = 6

        /// Kafka's table of legal transitions (`TransactionState.validPreviousStates`).
        public func mayFollow(_ previous: State) -> Bool {
            switch self {
            case .empty: return [.empty, .completeCommit, .completeAbort].contains(previous)
            case .ongoing: return [.ongoing, .empty, .completeCommit, .completeAbort].contains(previous)
            case .prepareCommit, .prepareAbort: return previous == .ongoing
            case .completeCommit: return previous == .prepareCommit
            case .completeAbort: return previous == .prepareAbort
            case .dead: return [.empty, .completeCommit, .completeAbort].contains(previous)
            }
        }

        public var description: String {
            switch self {
            case .empty: "Empty"
            case .ongoing: "Ongoing"
            case .prepareCommit: "PrepareCommit"
            case .prepareAbort: "PrepareAbort"
            case .completeCommit: "CompleteCommit"
            case .completeAbort: "CompleteAbort"
            case .dead: "Dead"
            }
        }
    }

    public var producerID: Int64
    public var producerEpoch: Int16
    /// The epoch before the last bump, -1 if none: an InitProducerId retried after it succeeded
    /// (KIP-360) names this one and gets the current epoch back without another bump.
    public var lastProducerEpoch: Int16
    public var timeoutMs: Int32
    public var state: State
    /// The partitions of the open (or finishing) transaction, sorted.
    public var partitions: [TransactionPartition]
    /// When the first partition was added (the transaction timeout runs from here), -1 without one.
    public var startMs: Int64
    public var lastUpdateMs: Int64
    /// Transactions begun in the current epoch, this one included (0 before the first): with
    /// the epoch, what partitions fence late begins and markers by (`TransactionMark`).
    public var sequence: Int32

    /// The transaction's mark, as its begins and markers carry it to partitions.
    public var mark: TransactionMark { TransactionMark(epoch: producerEpoch, sequence: sequence) }

    public init(
        producerID: Int64, producerEpoch: Int16, lastProducerEpoch: Int16 = -1, timeoutMs: Int32, state: State,
        partitions: [TransactionPartition] = [], startMs: Int64 = -1, lastUpdateMs: Int64, sequence: Int32 = 0
    ) {
        self.sequence = sequence
        self.producerID = producerID
        self.producerEpoch = producerEpoch
        self.lastProducerEpoch = lastProducerEpoch
        self.timeoutMs = timeoutMs
        self.state = state
        self.partitions = partitions
        self.startMs = startMs
        self.lastUpdateMs = lastUpdateMs
    }

    /// The same record moved to `state`; a transition Kafka does not allow is a bug of the caller.
    func moved(to state: State, at nowMs: Int64) -> TransactionMetadata {
        precondition(state.mayFollow(self.state), "transaction state \(self.state) cannot move to \(state)")
        var next = self
        next.state = state
        next.lastUpdateMs = nowMs
        return next
    }

    /// Whether the id has had no transaction open and no change for longer than `expirationMs`
    /// (Kafka's `transactional.id.expiration.ms`): its coordinator then removes it.
    public func idle(at nowMs: Int64, expirationMs: Int64) -> Bool {
        (state == .empty || state == .completeCommit || state == .completeAbort) && nowMs - lastUpdateMs > expirationMs
    }

    /// Whether an open transaction ran past its timeout at `nowMs`.
    public func timedOut(at nowMs: Int64) -> Bool {
        state == .ongoing && startMs >= 0 && nowMs > startMs + Int64(timeoutMs)
    }
}

/// What a transactional request does to a transactional id's record.
public enum TransactionDecision: Equatable, Sendable {
    /// Answer with this error (or NONE) and change nothing.
    case answer(ErrorCode)
    /// Replicate this record; once it is committed, answer with `then`. A record in a Prepare
    /// state also means: write the markers to its partitions, then complete it.
    case write(TransactionMetadata, then: ErrorCode)
}

/// The coordinator's rules, as Kafka's `TransactionCoordinator` applies them (the notes in
/// shared/notes/kafka-transactions-broker.md §2-§5 and §7). Pure: time and new producer ids are
/// passed in.
public enum TransactionRules {
    /// Kafka's `transaction.max.timeout.ms` default: 15 minutes.
    public static let maxTimeoutMs: Int32 = 900_000

    /// InitProducerId with a transactional id. `current` is the id's record (nil if unknown);
    /// `producerID`/`epoch` are what a v3+ client sent to recover (-1 when starting afresh);
    /// `newProducerID` gives an unused producer id. An answer of NONE carries the record's
    /// current producer id and epoch.
    public static func initProducerID(
        _ current: TransactionMetadata?, timeoutMs: Int32, producerID: Int64 = -1, epoch: Int16 = -1, nowMs: Int64,
        maxTimeoutMs: Int32 = maxTimeoutMs, newProducerID: () -> Int64
    ) -> TransactionDecision {
        guard timeoutMs > 0 && timeoutMs <= maxTimeoutMs else { return .answer(.invalidTransactionTimeout) }
        guard var m = current else {
            if producerID != -1 { return .answer(.invalidProducerIDMapping) }
            return .write(
                TransactionMetadata(producerID: newProducerID(), producerEpoch: 0, timeoutMs: timeoutMs, state: .empty, lastUpdateMs: nowMs),
                then: .none)
        }
        switch m.state {
        case .prepareCommit, .prepareAbort, .dead:
            // Markers are being written (or the id is being removed): the client retries.
            return .answer(.concurrentTransactions)
        case .ongoing:
            // A new instance of the producer (or one recovering): fence the old one by bumping the
            // epoch and abort what it left open; the client retries and gets a bump of its own.
            if producerID != -1 && (producerID != m.producerID || epoch != m.producerEpoch) { return .answer(.producerFenced) }
            return .write(fencedAbort(m, nowMs: nowMs, newProducerID: newProducerID), then: .concurrentTransactions)
        case .empty, .completeCommit, .completeAbort:
            if producerID != -1 {
                guard producerID == m.producerID else { return .answer(.producerFenced) }
                // The same request again after it succeeded (its answer was lost): the client
                // still holds the epoch before the bump, and gets the current one, unbumped.
                if m.lastProducerEpoch >= 0 && epoch == m.lastProducerEpoch { return .answer(.none) }
                guard epoch == m.producerEpoch else { return .answer(.producerFenced) }
            }
            m = bumped(m, newProducerID: newProducerID)
            m.sequence = 0
            m.timeoutMs = timeoutMs
            m.partitions = []
            m.startMs = -1
            m.lastUpdateMs = nowMs
            if m.state != .empty { m = m.moved(to: .empty, at: nowMs) }
            return .write(m, then: .none)
        }
    }

    /// AddPartitionsToTxn (v0-3, from the client) and AddOffsetsToTxn (its group's offsets
    /// partition): the partitions join the transaction, which is open from the first.
    public static func addPartitions(
        _ current: TransactionMetadata?, producerID: Int64, epoch: Int16, _ partitions: [TransactionPartition], nowMs: Int64
    ) -> TransactionDecision {
        guard let m = current, m.producerID == producerID, m.state != .dead else { return .answer(.invalidProducerIDMapping) }
        guard epoch == m.producerEpoch else { return .answer(.producerFenced) }
        switch m.state {
        case .prepareCommit, .prepareAbort:
            return .answer(.concurrentTransactions)
        case .ongoing where Set(partitions).isSubset(of: Set(m.partitions)):
            return .answer(.none)
        case .ongoing, .empty, .completeCommit, .completeAbort:
            var next = m.moved(to: .ongoing, at: nowMs)
            if m.state != .ongoing {
                // 2^31 - 1 transactions in one epoch: the producer must start a new epoch
                // (InitProducerId), whose transactions count from 1 again.
                guard m.sequence < Int32.max else { return .answer(.producerFenced) }
                next.partitions = []
                next.startMs = nowMs
                next.sequence = m.sequence + 1
            }
            next.partitions = Array(Set(next.partitions).union(partitions)).sorted()
            return .write(next, then: .none)
        case .dead:
            return .answer(.invalidProducerIDMapping)
        }
    }

    /// EndTxn: commit or abort. Answered once the Prepare record is committed (the markers follow,
    /// as in Kafka); a retry while they are written is CONCURRENT_TRANSACTIONS, one after they are
    /// NONE, the other direction INVALID_TXN_STATE.
    public static func endTransaction(
        _ current: TransactionMetadata?, producerID: Int64, epoch: Int16, commit: Bool, nowMs: Int64
    ) -> TransactionDecision {
        guard let m = current, m.producerID == producerID, m.state != .dead else { return .answer(.invalidProducerIDMapping) }
        guard epoch == m.producerEpoch else { return .answer(.producerFenced) }
        switch (m.state, commit) {
        case (.ongoing, _):
            return .write(m.moved(to: commit ? .prepareCommit : .prepareAbort, at: nowMs), then: .none)
        case (.prepareCommit, true), (.prepareAbort, false):
            return .answer(.concurrentTransactions)
        case (.completeCommit, true), (.completeAbort, false):
            return .answer(.none)
        default:
            return .answer(.invalidTxnState)
        }
    }

    /// Every marker of a Prepare record is written: the transaction is complete.
    public static func markersWritten(_ m: TransactionMetadata, nowMs: Int64) -> TransactionMetadata {
        precondition(m.state == .prepareCommit || m.state == .prepareAbort, "markers written in state \(m.state)")
        var next = m.moved(to: m.state == .prepareCommit ? .completeCommit : .completeAbort, at: nowMs)
        next.partitions = []
        next.startMs = -1
        return next
    }

    /// A transaction open past its timeout: aborted by the coordinator under a bumped epoch, so the
    /// producer that left it (a zombie) is fenced at its next request.
    public static func expire(_ m: TransactionMetadata, nowMs: Int64, newProducerID: () -> Int64) -> TransactionMetadata? {
        guard m.timedOut(at: nowMs) else { return nil }
        return fencedAbort(m, nowMs: nowMs, newProducerID: newProducerID)
    }

    /// Ongoing → PrepareAbort under epoch + 1 (Kafka's PrepareEpochFence and abort, as one record).
    private static func fencedAbort(_ m: TransactionMetadata, nowMs: Int64, newProducerID: () -> Int64) -> TransactionMetadata {
        precondition(m.state == .ongoing)
        // The partitions and start stay: the markers go to what the fenced transaction wrote.
        return bumped(m, newProducerID: newProducerID).moved(to: .prepareAbort, at: nowMs)
    }

    /// The next epoch; at the last one (Short.MAX_VALUE - 1) a new producer id at epoch 0. A
    /// fenced abort keeps the transaction's sequence (its markers must end what it began, and the
    /// raised epoch orders them after it); a new producer instance's epoch counts from 0.
    private static func bumped(_ m: TransactionMetadata, newProducerID: () -> Int64) -> TransactionMetadata {
        var next = m
        if m.producerEpoch >= Int16.max - 1 {
            next.producerID = newProducerID()
            next.producerEpoch = 0
            next.lastProducerEpoch = -1
        } else {
            next.lastProducerEpoch = m.producerEpoch
            next.producerEpoch = m.producerEpoch + 1
        }
        return next
    }
}
