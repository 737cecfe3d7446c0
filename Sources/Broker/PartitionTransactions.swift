import NIOCore
import KafkaProtocol
import Raft

/// One transaction of a producer, in the order a partition sees them: the producer epoch, then
/// the coordinator's sequence number of the transaction (`TransactionMetadata.sequence`). A
/// fenced abort raises the epoch of the same transaction; the next transaction has a higher
/// sequence.
public struct TransactionMark: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var epoch: Int16
    public var sequence: Int32

    public init(epoch: Int16, sequence: Int32) {
        self.epoch = epoch
        self.sequence = sequence
    }

    public static func < (a: Self, b: Self) -> Bool { (a.epoch, a.sequence) < (b.epoch, b.sequence) }
    public var description: String { "epoch \(epoch) transaction \(sequence)" }
}

/// What a partition knows of transactions, derived from its log so every replica and every new
/// leader has the same (Kafka's `ProducerStateEntry.currentTxnFirstOffset` and transaction
/// index): per producer, the last transaction begun here (`KafkaEntry.transactionBegin`) and the
/// last one ended here (a marker, `ControlRecord`), and where the open one's records start; and
/// the aborted transactions whose records the log may still hold.
///
/// The marks fence late messages, the class of bug in KAFKA-17754: a begin or a marker of a
/// transaction at or below the last one ended here is refused, so a delayed marker can never end
/// the next transaction, and a delayed begin can never reopen an ended one for a zombie's batches.
public struct PartitionTransactions: Equatable, Sendable {
    public struct Producer: Equatable, Sendable {
        public var begun: TransactionMark?
        public var ended: TransactionMark?
        /// The first offset of the open transaction's records here; nil before its first batch.
        public var firstOffset: Int64?

        public var isOpen: Bool {
            guard let begun else { return false }
            return ended.map { begun > $0 } ?? true
        }
    }

    /// An aborted transaction's records: read_committed consumers drop the producer's records
    /// from `firstOffset` up to its marker at `lastOffset` (Fetch's aborted transactions).
    public struct Aborted: Equatable, Sendable {
        public var producerID: Int64
        public var firstOffset: Int64
        public var lastOffset: Int64
    }

    /// By producer id. Looked up, never iterated for output (encoding sorts).
    public private(set) var producers: [Int64: Producer] = [:]
    /// In the order their markers were written (so by `lastOffset`).
    public private(set) var aborted: [Aborted] = []

    public init() {}

    public var isEmpty: Bool { producers.isEmpty && aborted.isEmpty }

    // MARK: - What may be written

    /// Whether a begin of `mark` may be written: not for a transaction ended here or older than
    /// the one begun (a late message).
    public func mayBegin(_ producerID: Int64, _ mark: TransactionMark) -> Bool {
        guard let p = producers[producerID] else { return true }
        if let ended = p.ended, mark <= ended { return false }
        if let begun = p.begun, mark < begun { return false }
        return true
    }

    /// Whether a marker of `mark` ends something: not one ended already, nor one older than the
    /// transaction open here.
    public func mayEnd(_ producerID: Int64, _ mark: TransactionMark) -> Bool {
        guard let p = producers[producerID] else { return true }
        if let ended = p.ended, mark <= ended { return false }
        if p.isOpen, let begun = p.begun, mark < begun { return false }
        return true
    }

    /// Whether the producer's transactional batch at `epoch` belongs to the transaction open here.
    public func mayWrite(_ producerID: Int64, epoch: Int16) -> Bool {
        guard let p = producers[producerID], p.isOpen, let begun = p.begun else { return false }
        return begun.epoch == epoch
    }

    // MARK: - Applying the log (every replica)

    mutating func begin(_ producerID: Int64, _ mark: TransactionMark) {
        guard mayBegin(producerID, mark) else { return }
        producers[producerID, default: Producer()].begun = mark
    }

    /// A transactional batch of the producer was appended at `baseOffset`.
    mutating func appended(_ producerID: Int64, epoch: Int16, baseOffset: Int64) {
        // The leader wrote it only if it may (`mayWrite` over its whole log); one that may not is
        // outside every transaction, as a non-transactional batch is.
        guard mayWrite(producerID, epoch: epoch), producers[producerID]?.firstOffset == nil else { return }
        producers[producerID]?.firstOffset = baseOffset
    }

    /// A marker at `offset` ended the producer's transaction `mark`.
    mutating func end(_ producerID: Int64, _ mark: TransactionMark, commit: Bool, offset: Int64) {
        guard mayEnd(producerID, mark) else { return }
        var p = producers[producerID] ?? Producer()
        if !commit, p.isOpen, let first = p.firstOffset { aborted.append(Aborted(producerID: producerID, firstOffset: first, lastOffset: offset)) }
        p.ended = mark
        p.firstOffset = nil
        producers[producerID] = p
    }

    /// Forget aborted transactions wholly below the log start (DeleteRecords took their records;
    /// those retention takes are left out of Fetch's answers by offset, `aborted(from:upTo:)`).
    mutating func trim(below logStart: Int64) {
        guard let first = aborted.first, first.lastOffset < logStart else { return }
        aborted.removeAll { $0.lastOffset < logStart }
    }

    // MARK: - Reading

    /// The last stable offset: below it every transaction is decided (Kafka's LSO): the first
    /// offset of the oldest open transaction, else the high watermark.
    public func lastStableOffset(highWatermark: Int64) -> Int64 {
        var lso = highWatermark
        for p in producers.values where p.isOpen { if let f = p.firstOffset, f < lso { lso = f } }
        return lso
    }

    /// The aborted transactions with records in `[from, upTo)`, in marker order (Fetch's list
    /// for read_committed consumers).
    public func aborted(from: Int64, upTo: Int64) -> [Aborted] {
        aborted.filter { $0.lastOffset >= from && $0.firstOffset < upTo }
    }

    // MARK: - Snapshot

    public func encode(_ w: inout ByteWriter) {
        let ids = producers.keys.sorted()
        w.u32(UInt32(ids.count))
        for id in ids {
            let p = producers[id]!
            w.u64(UInt64(bitPattern: id))
            w.u8((p.begun != nil ? 1 : 0) | (p.ended != nil ? 2 : 0) | (p.firstOffset != nil ? 4 : 0))
            for m in [p.begun, p.ended].compactMap({ $0 }) {
                w.u32(UInt32(UInt16(bitPattern: m.epoch)))
                w.u32(UInt32(bitPattern: m.sequence))
            }
            if let f = p.firstOffset { w.u64(UInt64(bitPattern: f)) }
        }
        w.u32(UInt32(aborted.count))
        for a in aborted {
            w.u64(UInt64(bitPattern: a.producerID))
            w.u64(UInt64(bitPattern: a.firstOffset))
            w.u64(UInt64(bitPattern: a.lastOffset))
        }
    }

    public static func decode(_ r: inout ByteReader) throws(WireError) -> PartitionTransactions {
        var t = PartitionTransactions()
        func mark() throws(WireError) -> TransactionMark {
            TransactionMark(epoch: Int16(bitPattern: UInt16(truncatingIfNeeded: try r.u32())), sequence: Int32(bitPattern: try r.u32()))
        }
        let n = try r.count(minItemBytes: 9)
        for _ in 0..<n {
            let id = Int64(bitPattern: try r.u64())
            let flags = try r.u8()
            guard flags & ~7 == 0 else { throw WireError.invalid("transaction flags \(flags) for producer \(id)") }
            var p = Producer()
            if flags & 1 != 0 { p.begun = try mark() }
            if flags & 2 != 0 { p.ended = try mark() }
            if flags & 4 != 0 { p.firstOffset = Int64(bitPattern: try r.u64()) }
            t.producers[id] = p
        }
        let m = try r.count(minItemBytes: 24)
        for _ in 0..<m {
            t.aborted.append(Aborted(producerID: Int64(bitPattern: try r.u64()), firstOffset: Int64(bitPattern: try r.u64()), lastOffset: Int64(bitPattern: try r.u64())))
        }
        return t
    }
}

extension NodeCore.Group {
    /// The marker a control batch entry holds (nil: not a commit or abort marker).
    static func marker(_ data: [UInt8]) -> ControlRecord? {
        guard let batch = try? RecordBatch(validating: ByteBuffer(bytes: KafkaEntry.batchBytes(data)), from: .log) else { return nil }
        return ControlRecord.of(batch)
    }

    /// A marker's effect: the transaction ends (`PartitionTransactions.end`), and a raised epoch (a
    /// fenced abort) fences the producer's older epochs here too.
    static func applyMarker(_ h: KafkaEntry.Header, _ marker: ControlRecord, producers: inout ProducerState, transactions: inout PartitionTransactions) {
        producers.fence(producerID: h.producerID, epoch: h.producerEpoch)
        transactions.end(h.producerID, TransactionMark(epoch: h.producerEpoch, sequence: marker.coordinatorEpoch), commit: marker.commit, offset: h.baseOffset)
    }
}
