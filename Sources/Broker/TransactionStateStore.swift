import KafkaProtocol
import NIOCore
import Raft

/// The internal topic whose partitions hold the transaction coordinators' records.
public let transactionStateTopic = "__transaction_state"

/// What a replica of a `__transaction_state` partition has applied: each transactional id's
/// `TransactionMetadata`, rebuilt by replaying the partition's records (and carried in its
/// snapshot), so a new coordinator has every transaction's state — an open one, one whose markers
/// are half written — once it has applied its log. The layout of `GroupOffsetStore`: ordinary
/// Kafka records keyed by the transactional id; a record without a value removes the id.
/// Every replica of a `__transaction_state` partition keeps one (`NodeCore.Group.transactionStore`).
public struct TransactionStateStore: Sendable, Equatable {
    public private(set) var transactions: [String: TransactionMetadata] = [:]

    public init() {}

    private static let recordType: UInt8 = 1

    /// The partition of `__transaction_state` coordinating `transactionalID`: Kafka's
    /// `abs(transactionalId.hashCode) % partitions`, as for groups.
    public static func partition(of transactionalID: String, partitions: Int32) -> Int32 {
        GroupCoordinator.offsetsPartition(of: transactionalID, partitions: partitions)
    }

    // MARK: - Records

    public static func record(_ transactionalID: String, _ m: TransactionMetadata?) -> (key: [UInt8], value: [UInt8]?) {
        var k = ByteWriter()
        k.u8(recordType)
        k.blob(Array(transactionalID.utf8))
        guard let m else { return (k.bytes, nil) }
        var v = ByteWriter()
        v.u64(UInt64(bitPattern: m.producerID))
        v.u32(UInt32(UInt16(bitPattern: m.producerEpoch)))
        v.u32(UInt32(UInt16(bitPattern: m.lastProducerEpoch)))
        v.u32(UInt32(bitPattern: m.timeoutMs))
        v.u8(m.state.rawValue)
        v.u32(UInt32(m.partitions.count))
        for p in m.partitions {
            v.blob(Array(p.topic.utf8))
            v.u32(UInt32(bitPattern: p.partition))
        }
        v.u64(UInt64(bitPattern: m.startMs))
        v.u64(UInt64(bitPattern: m.lastUpdateMs))
        v.u32(UInt32(bitPattern: m.sequence))
        return (k.bytes, v.bytes)
    }

    /// Apply one record. Only the coordinator writes them (clients cannot produce to internal
    /// topics): one that does not decode is thrown, and the caller traps on it (committed state)
    /// or refuses it (a peer's snapshot).
    public mutating func apply(key: [UInt8]?, value: [UInt8]?) throws(WireError) {
        guard let key else { throw WireError.invalid("transaction state record without a key") }
        var k = ByteReader(key)
        let type = try k.u8()
        guard type == Self.recordType else { throw WireError.invalid("transaction state record type \(type)") }
        let id = String(decoding: try k.blob(), as: UTF8.self)
        guard let value else {
            transactions[id] = nil
            return
        }
        transactions[id] = try Self.decode(value)
    }

    private static func decode(_ value: [UInt8]) throws(WireError) -> TransactionMetadata {
        var v = ByteReader(value)
        let producerID = Int64(bitPattern: try v.u64())
        let epoch = Int16(bitPattern: UInt16(truncatingIfNeeded: try v.u32()))
        let lastEpoch = Int16(bitPattern: UInt16(truncatingIfNeeded: try v.u32()))
        let timeoutMs = Int32(bitPattern: try v.u32())
        let rawState = try v.u8()
        guard let state = TransactionMetadata.State(rawValue: rawState) else { throw WireError.invalid("transaction state \(rawState)") }
        let n = try v.count(minItemBytes: 8)
        var partitions: [TransactionPartition] = []
        for _ in 0..<n {
            partitions.append(TransactionPartition(topic: String(decoding: try v.blob(), as: UTF8.self), partition: Int32(bitPattern: try v.u32())))
        }
        return TransactionMetadata(
            producerID: producerID, producerEpoch: epoch, lastProducerEpoch: lastEpoch, timeoutMs: timeoutMs, state: state,
            partitions: partitions, startMs: Int64(bitPattern: try v.u64()), lastUpdateMs: Int64(bitPattern: try v.u64()),
            sequence: Int32(bitPattern: try v.u32()))
    }

    /// Apply a committed entry of a `__transaction_state` partition (one record batch).
    public mutating func apply(entryData: [UInt8]) throws(WireError) {
        for r in try InternalTopicRecords.records(ofEntry: entryData, "transaction state") { try apply(key: r.key, value: r.value) }
    }

    // MARK: - Snapshot

    /// Every transactional id as a record, sorted, so equal stores encode equally.
    public func encode(_ w: inout ByteWriter) {
        InternalTopicRecords.encode(transactions.keys.sorted().map { Self.record($0, transactions[$0]!) }, into: &w)
    }

    public static func decode(_ r: inout ByteReader) throws(WireError) -> TransactionStateStore {
        var store = TransactionStateStore()
        try InternalTopicRecords.decode(&r) { (key, value) throws(WireError) in try store.apply(key: key, value: value) }
        return store
    }
}
