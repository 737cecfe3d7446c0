@testable import Broker
import KafkaProtocol
import Primitives
import Raft
import Testing

/// The transaction coordinator's rules (`TransactionRules`) and their log records
/// (`TransactionStateStore`), as pure functions: Kafka's state table, fencing, KIP-360 recovery.
struct TransactionRulesTests {
    let orders = [TransactionPartition(topic: "orders", partition: 0), TransactionPartition(topic: "orders", partition: 1)]

    /// Producer ids handed out in order from 1000.
    final class Ids {
        var next: Int64 = 1000
        func take() -> Int64 {
            defer { next += 1 }
            return next
        }
    }

    /// The record a decision writes (failing the test when it only answers).
    func written(_ d: TransactionDecision, then expected: ErrorCode = .none, sourceLocation: SourceLocation = #_sourceLocation) throws -> TransactionMetadata {
        guard case .write(let m, let then) = d else {
            Issue.record("expected a write, got \(d)", sourceLocation: sourceLocation)
            throw TransactionTestError()
        }
        #expect(then == expected, sourceLocation: sourceLocation)
        return m
    }
    struct TransactionTestError: Error {}

    @Test("a new transactional id gets a fresh producer id at epoch 0; a timeout of 0 or above the maximum is INVALID_TRANSACTION_TIMEOUT")
    func newID() throws {
        let ids = Ids()
        let m = try written(TransactionRules.initProducerID(nil, timeoutMs: 60_000, nowMs: 5, newProducerID: ids.take))
        #expect(m == TransactionMetadata(producerID: 1000, producerEpoch: 0, timeoutMs: 60_000, state: .empty, lastUpdateMs: 5))
        #expect(TransactionRules.initProducerID(nil, timeoutMs: 0, nowMs: 5, newProducerID: ids.take) == .answer(.invalidTransactionTimeout))
        #expect(TransactionRules.initProducerID(nil, timeoutMs: 900_001, nowMs: 5, newProducerID: ids.take) == .answer(.invalidTransactionTimeout))
        // Recovering (KIP-360) with an id this coordinator never gave.
        #expect(TransactionRules.initProducerID(nil, timeoutMs: 1000, producerID: 7, epoch: 3, nowMs: 5, newProducerID: ids.take)
            == .answer(.invalidProducerIDMapping))
    }

    @Test("a transaction: partitions added (open from the first), commit prepared, retried, markers written, complete; the wrong direction is INVALID_TXN_STATE")
    func commitLifecycle() throws {
        let ids = Ids()
        var m = try written(TransactionRules.initProducerID(nil, timeoutMs: 60_000, nowMs: 0, newProducerID: ids.take))
        #expect(TransactionRules.endTransaction(m, producerID: 1000, epoch: 0, commit: true, nowMs: 1) == .answer(.invalidTxnState))
        m = try written(TransactionRules.addPartitions(m, producerID: 1000, epoch: 0, [orders[1]], nowMs: 10))
        #expect(m.state == .ongoing && m.startMs == 10 && m.partitions == [orders[1]] && m.sequence == 1)
        #expect(TransactionRules.addPartitions(m, producerID: 1000, epoch: 0, [orders[1]], nowMs: 11) == .answer(.none))
        m = try written(TransactionRules.addPartitions(m, producerID: 1000, epoch: 0, [orders[0]], nowMs: 12))
        #expect(m.partitions == orders && m.startMs == 10, "the union, sorted; the start stays")
        #expect(TransactionRules.addPartitions(m, producerID: 1001, epoch: 0, orders, nowMs: 12) == .answer(.invalidProducerIDMapping))
        #expect(TransactionRules.addPartitions(m, producerID: 1000, epoch: 1, orders, nowMs: 12) == .answer(.producerFenced))

        m = try written(TransactionRules.endTransaction(m, producerID: 1000, epoch: 0, commit: true, nowMs: 20))
        #expect(m.state == .prepareCommit && m.partitions == orders)
        #expect(TransactionRules.endTransaction(m, producerID: 1000, epoch: 0, commit: true, nowMs: 21) == .answer(.concurrentTransactions))
        #expect(TransactionRules.endTransaction(m, producerID: 1000, epoch: 0, commit: false, nowMs: 21) == .answer(.invalidTxnState))
        #expect(TransactionRules.addPartitions(m, producerID: 1000, epoch: 0, orders, nowMs: 21) == .answer(.concurrentTransactions))
        #expect(TransactionRules.initProducerID(m, timeoutMs: 60_000, nowMs: 21, newProducerID: ids.take) == .answer(.concurrentTransactions))

        m = TransactionRules.markersWritten(m, nowMs: 30)
        #expect(m.state == .completeCommit && m.partitions.isEmpty && m.startMs == -1)
        #expect(TransactionRules.endTransaction(m, producerID: 1000, epoch: 0, commit: true, nowMs: 31) == .answer(.none))
        #expect(TransactionRules.endTransaction(m, producerID: 1000, epoch: 0, commit: false, nowMs: 31) == .answer(.invalidTxnState))
        // The next transaction under the same epoch starts afresh.
        m = try written(TransactionRules.addPartitions(m, producerID: 1000, epoch: 0, [orders[0]], nowMs: 40))
        #expect(m.state == .ongoing && m.partitions == [orders[0]] && m.startMs == 40 && m.sequence == 2, "the next transaction's mark is higher")
        #expect(TransactionRules.addPartitions(m, producerID: 1000, epoch: 0, orders, nowMs: 40) == .write({ var n = m; n.partitions = orders; return n }(), then: .none), "adding to an open transaction keeps its sequence")
        m = try written(TransactionRules.endTransaction(m, producerID: 1000, epoch: 0, commit: false, nowMs: 41))
        #expect(m.state == .prepareAbort)
        #expect(TransactionRules.markersWritten(m, nowMs: 42).state == .completeAbort)
    }

    @Test("a new instance fences the old: InitProducerId bumps the epoch; with a transaction open it aborts it under the bumped epoch and says retry; the zombie cannot commit")
    func fencing() throws {
        let ids = Ids()
        var m = try written(TransactionRules.initProducerID(nil, timeoutMs: 60_000, nowMs: 0, newProducerID: ids.take))
        m = try written(TransactionRules.addPartitions(m, producerID: 1000, epoch: 0, orders, nowMs: 1))
        // The second instance arrives while the first has a transaction open.
        let fenced = try written(TransactionRules.initProducerID(m, timeoutMs: 30_000, nowMs: 2, newProducerID: ids.take), then: .concurrentTransactions)
        #expect(fenced.state == .prepareAbort && fenced.producerEpoch == 1 && fenced.lastProducerEpoch == 0 && fenced.partitions == orders)
        #expect(fenced.mark == TransactionMark(epoch: 1, sequence: 1) && fenced.mark > m.mark, "its markers end what the fenced transaction began")
        #expect(TransactionRules.endTransaction(fenced, producerID: 1000, epoch: 0, commit: true, nowMs: 3) == .answer(.producerFenced))
        #expect(TransactionRules.addPartitions(fenced, producerID: 1000, epoch: 0, orders, nowMs: 3) == .answer(.producerFenced))
        m = TransactionRules.markersWritten(fenced, nowMs: 4)
        // The retry gets an epoch of its own, its timeout, and no partitions.
        m = try written(TransactionRules.initProducerID(m, timeoutMs: 30_000, nowMs: 5, newProducerID: ids.take))
        #expect(m.state == .empty && m.producerID == 1000 && m.producerEpoch == 2 && m.timeoutMs == 30_000 && m.partitions.isEmpty)
        #expect(m.sequence == 0, "transactions count afresh in the new epoch")
        #expect(TransactionRules.addPartitions(m, producerID: 1000, epoch: 1, orders, nowMs: 6) == .answer(.producerFenced))
    }

    @Test("KIP-360: the current (id, epoch) bumps; the epoch before the last bump is a retried success, answered unbumped; anything else is PRODUCER_FENCED")
    func recovery() throws {
        let ids = Ids()
        var m = try written(TransactionRules.initProducerID(nil, timeoutMs: 60_000, nowMs: 0, newProducerID: ids.take))
        m = try written(TransactionRules.initProducerID(m, timeoutMs: 60_000, producerID: 1000, epoch: 0, nowMs: 1, newProducerID: ids.take))
        #expect(m.producerEpoch == 1 && m.lastProducerEpoch == 0)
        #expect(TransactionRules.initProducerID(m, timeoutMs: 60_000, producerID: 1000, epoch: 0, nowMs: 2, newProducerID: ids.take) == .answer(.none))
        #expect(TransactionRules.initProducerID(m, timeoutMs: 60_000, producerID: 999, epoch: 1, nowMs: 2, newProducerID: ids.take) == .answer(.producerFenced))
        #expect(TransactionRules.initProducerID(m, timeoutMs: 60_000, producerID: 1000, epoch: 5, nowMs: 2, newProducerID: ids.take) == .answer(.producerFenced))
        // With a transaction open, a recovery from another (id, epoch) is a zombie's: fenced.
        m = try written(TransactionRules.addPartitions(m, producerID: 1000, epoch: 1, orders, nowMs: 3))
        #expect(TransactionRules.initProducerID(m, timeoutMs: 60_000, producerID: 1000, epoch: 0, nowMs: 4, newProducerID: ids.take) == .answer(.producerFenced))
        let aborted = try written(
            TransactionRules.initProducerID(m, timeoutMs: 60_000, producerID: 1000, epoch: 1, nowMs: 4, newProducerID: ids.take), then: .concurrentTransactions)
        #expect(aborted.state == .prepareAbort && aborted.producerEpoch == 2)
    }

    @Test("a transaction open past its timeout is aborted under a bumped epoch (its partitions kept for the markers); not before")
    func timeout() throws {
        let ids = Ids()
        var m = try written(TransactionRules.initProducerID(nil, timeoutMs: 1000, nowMs: 0, newProducerID: ids.take))
        #expect(TransactionRules.expire(m, nowMs: 10_000, newProducerID: ids.take) == nil, "nothing open")
        m = try written(TransactionRules.addPartitions(m, producerID: 1000, epoch: 0, orders, nowMs: 100))
        #expect(TransactionRules.expire(m, nowMs: 1100, newProducerID: ids.take) == nil)
        let expired = try #require(TransactionRules.expire(m, nowMs: 1101, newProducerID: ids.take))
        #expect(expired.state == .prepareAbort && expired.producerEpoch == 1 && expired.partitions == orders)
        #expect(TransactionRules.endTransaction(expired, producerID: 1000, epoch: 0, commit: true, nowMs: 1102) == .answer(.producerFenced))
    }

    @Test("at the last epoch a bump takes a new producer id at epoch 0")
    func epochExhausted() throws {
        let ids = Ids()
        let m = TransactionMetadata(producerID: 5, producerEpoch: Int16.max - 1, lastProducerEpoch: Int16.max - 2, timeoutMs: 1000, state: .completeCommit, lastUpdateMs: 0)
        let next = try written(TransactionRules.initProducerID(m, timeoutMs: 1000, nowMs: 1, newProducerID: ids.take))
        #expect(next.producerID == 1000 && next.producerEpoch == 0 && next.lastProducerEpoch == -1 && next.state == .empty)
    }

    @Test("Kafka's transition table: Prepare states follow only Ongoing, Complete only their Prepare")
    func transitions() {
        typealias S = TransactionMetadata.State
        #expect(S.prepareCommit.mayFollow(.ongoing) && !S.prepareCommit.mayFollow(.empty) && !S.prepareCommit.mayFollow(.prepareAbort))
        #expect(S.completeAbort.mayFollow(.prepareAbort) && !S.completeAbort.mayFollow(.prepareCommit))
        #expect(S.ongoing.mayFollow(.completeCommit) && !S.ongoing.mayFollow(.prepareCommit))
        #expect(S.empty.mayFollow(.completeAbort) && !S.empty.mayFollow(.ongoing))
    }

    @Test("records: every field survives the log and a snapshot; no value removes the id; a bad type, state or truncated value is refused")
    func records() throws {
        var store = TransactionStateStore()
        let open = TransactionMetadata(
            producerID: 1 << 40, producerEpoch: 7, lastProducerEpoch: 6, timeoutMs: 60_000, state: .ongoing, partitions: orders, startMs: 123,
            lastUpdateMs: 456, sequence: 1 << 30)
        let done = TransactionMetadata(producerID: 3, producerEpoch: 0, timeoutMs: 1000, state: .completeAbort, lastUpdateMs: 9)
        for (id, m) in [("b-txn", open), ("a-txn", done), ("gone", done)] {
            let r = TransactionStateStore.record(id, m)
            try store.apply(key: r.key, value: r.value)
        }
        let removal = TransactionStateStore.record("gone", nil)
        try store.apply(key: removal.key, value: removal.value)
        #expect(store.transactions == ["b-txn": open, "a-txn": done])

        var w = ByteWriter()
        store.encode(&w)
        var r = ByteReader(w.bytes)
        #expect(try TransactionStateStore.decode(&r) == store)

        var value = try #require(TransactionStateStore.record("x", open).value)
        #expect(throws: WireError.self) { var s = TransactionStateStore(); try s.apply(key: [2, 0, 0, 0, 1, 120], value: value) }
        #expect(throws: WireError.self) { var s = TransactionStateStore(); try s.apply(key: nil, value: value) }
        let key = TransactionStateStore.record("x", open).key
        #expect(throws: WireError.self) { var s = TransactionStateStore(); try s.apply(key: key, value: Array(value.dropLast())) }
        value[20] = 9  // the state byte: no such state
        #expect(throws: WireError.self) { var s = TransactionStateStore(); try s.apply(key: key, value: value) }
    }

    @Test("a transactional id's coordinator partition is Kafka's hash placement, as for groups")
    func placement() {
        #expect(TransactionStateStore.partition(of: "orders-txn", partitions: 50) == GroupCoordinator.offsetsPartition(of: "orders-txn", partitions: 50))
        #expect((0..<200).allSatisfy { (0..<50).contains(TransactionStateStore.partition(of: "t\($0)", partitions: 50)) })
    }
}
