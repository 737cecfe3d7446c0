import KafkaProtocol
import Raft

/// What a partition remembers about idempotent producers (Kafka's `ProducerStateEntry`): per
/// producer id, the current epoch and the last five batches appended (Kafka keeps five, the
/// clients' cap on requests in flight). It decides, in Kafka's order, whether a batch is new, a
/// retry of one already written (answered with its original offset, never written twice), or an
/// error. Deterministic; derived from the log, so every replica and every new leader has it.
public struct ProducerState: Equatable, Sendable {
    public struct Batch: Equatable, Sendable {
        public var firstSequence: Int32
        public var lastSequence: Int32
        public var baseOffset: Int64
        public init(firstSequence: Int32, lastSequence: Int32, baseOffset: Int64) {
            self.firstSequence = firstSequence
            self.lastSequence = lastSequence
            self.baseOffset = baseOffset
        }
    }

    public struct Producer: Equatable, Sendable {
        public var epoch: Int16
        /// Oldest first, at most `BrokerLimits.producerBatchesKept`.
        public var batches: [Batch]
        public init(epoch: Int16, batches: [Batch]) {
            self.epoch = epoch
            self.batches = batches
        }
    }

    /// By producer id. Looked up, never iterated for output (encoding sorts).
    public private(set) var producers: [Int64: Producer] = [:]

    public init() {}

    public enum Verdict: Equatable, Sendable {
        /// New and in order: append it.
        case append
        /// A retry of a batch already in the log: answer success with its original offset.
        case duplicate(baseOffset: Int64)
        case reject(ErrorCode)
    }

    /// The last sequence of a batch that starts at `first` and holds `count` records (sequences
    /// wrap from Int32.max to 0).
    public static func lastSequence(first: Int32, count: Int32) -> Int32 {
        let last = Int64(first) + Int64(count) - 1
        return Int32(truncatingIfNeeded: last > Int64(Int32.max) ? last - Int64(Int32.max) - 1 : last)
    }

    public func check(producerID: Int64, epoch: Int16, firstSequence: Int32, lastSequence: Int32) -> Verdict {
        guard producerID >= 0 else { return .append }  // not idempotent
        guard let p = producers[producerID] else {
            // Unknown producer (new, or its state expired): any sequence starts it (post KIP-360).
            return .append
        }
        if epoch == p.epoch, let b = p.batches.first(where: { $0.firstSequence == firstSequence && $0.lastSequence == lastSequence }) {
            return .duplicate(baseOffset: b.baseOffset)
        }
        if epoch < p.epoch { return .reject(.invalidProducerEpoch) }
        if epoch > p.epoch {
            // A bumped epoch (librdkafka bumps it locally after a sequence error) starts at 0.
            return firstSequence == 0 ? .append : .reject(.outOfOrderSequenceNumber)
        }
        guard let last = p.batches.last else { return .append }
        let expected = last.lastSequence == Int32.max ? 0 : last.lastSequence + 1
        if firstSequence == expected { return .append }
        if firstSequence <= last.lastSequence && firstSequence >= 0 {
            // At or below what was written, but not one of the remembered batches: an old retry.
            // Both clients take DUPLICATE_SEQUENCE_NUMBER as success; OUT_OF_ORDER would be fatal.
            return .reject(.duplicateSequenceNumber)
        }
        return .reject(.outOfOrderSequenceNumber)
    }

    /// A batch was appended (on the leader when proposed, on every replica when applied).
    public mutating func record(producerID: Int64, epoch: Int16, firstSequence: Int32, lastSequence: Int32, baseOffset: Int64) {
        guard producerID >= 0 else { return }
        var p = producers[producerID] ?? Producer(epoch: epoch, batches: [])
        if epoch > p.epoch { p = Producer(epoch: epoch, batches: []) }
        p.batches.append(Batch(firstSequence: firstSequence, lastSequence: lastSequence, baseOffset: baseOffset))
        if p.batches.count > BrokerLimits.producerBatchesKept { p.batches.removeFirst(p.batches.count - BrokerLimits.producerBatchesKept) }
        producers[producerID] = p
    }

    /// A transaction marker written under `epoch` (a fenced abort raises it): from now on the
    /// producer's older epochs are refused here, and its new epoch starts at sequence 0.
    public mutating func fence(producerID: Int64, epoch: Int16) {
        guard producerID >= 0 else { return }
        if let p = producers[producerID], p.epoch >= epoch { return }
        producers[producerID] = Producer(epoch: epoch, batches: [])
    }

    /// For the partition's snapshot: producers sorted by id.
    public func encode(_ w: inout ByteWriter) {
        let ids = producers.keys.sorted()
        w.u32(UInt32(ids.count))
        for id in ids {
            let p = producers[id]!
            w.u64(UInt64(bitPattern: id))
            w.u32(UInt32(UInt16(bitPattern: p.epoch)))
            w.u32(UInt32(p.batches.count))
            for b in p.batches {
                w.u32(UInt32(bitPattern: b.firstSequence))
                w.u32(UInt32(bitPattern: b.lastSequence))
                w.u64(UInt64(bitPattern: b.baseOffset))
            }
        }
    }

    public static func decode(_ r: inout ByteReader) throws(WireError) -> ProducerState {
        var s = ProducerState()
        let n = try r.count(minItemBytes: 16)
        for _ in 0..<n {
            let id = Int64(bitPattern: try r.u64())
            let epoch = Int16(bitPattern: UInt16(truncatingIfNeeded: try r.u32()))
            let m = try r.count(minItemBytes: 16)
            guard m <= BrokerLimits.producerBatchesKept else { throw WireError.invalid("\(m) batches for producer \(id)") }
            var batches: [Batch] = []
            for _ in 0..<m {
                batches.append(Batch(
                    firstSequence: Int32(bitPattern: try r.u32()), lastSequence: Int32(bitPattern: try r.u32()),
                    baseOffset: Int64(bitPattern: try r.u64())))
            }
            s.producers[id] = Producer(epoch: epoch, batches: batches)
        }
        return s
    }
}
