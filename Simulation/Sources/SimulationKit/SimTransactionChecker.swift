/// Transactions, seen from the simulated clients (`Simulator+Transactions`): what the
/// transactional producer was told about each transaction, and what the read_committed consumer
/// read. A read_committed reader must never see an aborted transaction's record (G1a) nor a
/// transaction in part (torn, or read before it was decided and then aborted: G1b); every
/// committed transaction's records must be read, each once.
struct SimTransactionChecker {
    /// Transaction number → its values, as the producer wrote them.
    private(set) var written: [Int: [[UInt8]]] = [:]
    /// Decided transactions (the producer was answered): true committed, false aborted.
    private(set) var outcome: [Int: Bool] = [:]
    /// Value → (transaction, offset) of every transactional value the reader read.
    private var readAt: [[UInt8]: (transaction: Int, offset: Int64)] = [:]
    private var transactionOf: [[UInt8]: Int] = [:]
    private(set) var failure: SimFailure?
    /// Transaction number → the offset its batch was written at (the Produce answer).
    private var baseOffset: [Int: Int64] = [:]
    /// Retention or DeleteRecords removed records the reader had not read, below this offset:
    /// transactions written there are not owed to it.
    private var expiredBelow: Int64 = 0
    private(set) var committedCount = 0
    private(set) var abortedCount = 0
    /// The group offsets its transactions committed (each its own number), as stable OffsetFetches
    /// answered them: the last, and every one (none may be of a transaction that aborts).
    private var lastFetched: Int64?
    private var fetchedOffsets: Set<Int> = []

    mutating func fail(_ property: String, _ detail: String) {
        if failure == nil { failure = .safety(property: property, detail: detail) }
    }

    mutating func wrote(_ transaction: Int, _ values: [[UInt8]]) {
        written[transaction] = values
        for v in values { transactionOf[v] = transaction }
    }

    mutating func produced(_ transaction: Int, at offset: Int64) { baseOffset[transaction] = offset }

    mutating func expired(below offset: Int64) { expiredBelow = max(expiredBelow, offset) }

    private func excused(_ t: Int) -> Bool { baseOffset[t].map { $0 < expiredBelow } ?? false }

    mutating func decided(_ transaction: Int, committed: Bool) {
        if let before = outcome[transaction], before != committed {
            fail("txn-outcome-unique", "transaction \(transaction) was answered \(before ? "committed" : "aborted") and later \(committed ? "committed" : "aborted")")
        }
        outcome[transaction] = committed
        if committed { committedCount += 1 } else { abortedCount += 1 }
        if !committed, let v = written[transaction]?.first(where: { readAt[$0] != nil }) {
            fail("txn-no-aborted-read", "transaction \(transaction) was aborted, but read_committed read its record \(text(v)) at offset \(readAt[v]!.offset) (G1a)")
        }
        if !committed && fetchedOffsets.contains(transaction) {
            fail("txn-offsets-atomic", "transaction \(transaction) was aborted, but a stable OffsetFetch answered the offset it committed")
        }
    }

    /// A stable OffsetFetch (RequireStable) answered the group's offset: only a transaction that
    /// commits may have set it (-1: none yet).
    mutating func offsetFetched(_ offset: Int64) {
        lastFetched = offset
        guard offset >= 0 else { return }
        let t = Int(offset)
        if written[t] == nil {
            fail("txn-offsets-atomic", "a stable OffsetFetch answered offset \(offset), which no transaction committed")
        } else if outcome[t] == false {
            fail("txn-offsets-atomic", "a stable OffsetFetch answered offset \(offset), committed by transaction \(t), which aborted")
        }
        fetchedOffsets.insert(t)
    }

    /// The last committed transaction: the offset a stable fetch must find once all is decided.
    private var lastCommitted: Int64 { Int64(outcome.filter(\.value).keys.max() ?? -1) }

    /// Whether the group's offset, as last fetched, is the last committed transaction's (with no
    /// transaction committed, there is none to find: a run whose topic never came up).
    var offsetsSettled: Bool { lastCommitted < 0 ? (lastFetched ?? -1) < 0 : lastFetched == lastCommitted }

    /// A record the read_committed consumer read.
    mutating func read(_ value: [UInt8], offset: Int64) {
        guard let t = transactionOf[value] else { return }  // not a transactional record (the idempotent producer's)
        if let before = readAt[value], before.offset != offset {
            fail("txn-read-once", "\(text(value)) read at offsets \(before.offset) and \(offset)")
        }
        if outcome[t] == false {
            fail("txn-no-aborted-read", "read_committed read \(text(value)) of aborted transaction \(t) at offset \(offset) (G1a)")
        }
        readAt[value] = (t, offset)
    }

    /// Once the reader has caught up: every committed transaction wholly read, and no
    /// transaction read in part.
    func notConverged() -> String? {
        if let t = written.keys.sorted().first(where: { outcome[$0] == nil }) { return "transaction \(t) not decided yet" }
        if !offsetsSettled {
            let fetched = lastFetched.map { String($0) } ?? "not fetched"
            return "group offset \(fetched), the last committed transaction's is \(lastCommitted)"
        }
        for t in outcome.keys.sorted() where outcome[t] == true && !excused(t) {
            let missing = written[t]!.filter { readAt[$0] == nil }
            if !missing.isEmpty { return "committed transaction \(t): \(missing.count) of \(written[t]!.count) records not read yet" }
        }
        return nil
    }

    mutating func checkNoTornReads() {
        for t in written.keys.sorted() where !excused(t) {
            let values = written[t]!
            let read = values.filter { readAt[$0] != nil }.count
            if read > 0 && read < values.count {
                fail("txn-atomic", "transaction \(t): read_committed read \(read) of its \(values.count) records (torn)")
            }
        }
    }

    private func text(_ v: [UInt8]) -> String { String(decoding: v.prefix(40), as: UTF8.self) }
}
