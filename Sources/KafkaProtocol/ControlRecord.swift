import NIOCore

/// A transaction marker: the one record of a control batch (attributes: transactional and
/// control) that a partition's leader writes when a transaction commits or aborts. Consumers skip
/// it; read_committed ones use it to know where an aborted transaction ends.
///
///     key:   version i16 (0) | type i16 (0 abort, 1 commit)
///     value: version i16 (0) | coordinatorEpoch i32
///
/// Kafka fences stale coordinators with `coordinatorEpoch`; Rill puts the transaction's sequence
/// number there (`TransactionMetadata.sequence`), which the partition uses to refuse a late
/// marker of an earlier transaction (`PartitionTransactions`).
public struct ControlRecord: Equatable, Sendable {
    public var commit: Bool
    public var coordinatorEpoch: Int32

    public init(commit: Bool, coordinatorEpoch: Int32) {
        self.commit = commit
        self.coordinatorEpoch = coordinatorEpoch
    }

    /// The marker's batch for a producer's transaction (offsets assigned by the leader).
    public func batch(producerID: Int64, producerEpoch: Int16, timestamp: Int64) -> RecordBatch {
        var key = KafkaWriter()
        key.int16(0)
        key.int16(commit ? 1 : 0)
        var value = KafkaWriter()
        value.int16(0)
        value.int32(coordinatorEpoch)
        var builder = RecordBatchBuilder()
        builder.append(key: Array(key.buffer.readableBytesView), value: Array(value.buffer.readableBytesView), timestamp: timestamp)
        return builder.build(producerID: producerID, producerEpoch: producerEpoch, baseSequence: -1, attributes: 0x30)
    }

    /// The marker a control batch holds, or nil when it is not one (or not a marker Kafka
    /// defines: control types other than commit and abort are skipped by consumers too).
    public static func of(_ batch: RecordBatch) -> ControlRecord? {
        guard batch.isControl, let records = try? batch.decodedRecords(includingControl: true), let r = records.first, let key = r.key, key.count >= 4 else { return nil }
        let version = Int16(key[0]) << 8 | Int16(key[1])
        let type = Int16(key[2]) << 8 | Int16(key[3])
        guard version == 0, type == 0 || type == 1 else { return nil }
        var epoch: Int32 = -1
        if let v = r.value, v.count >= 6 {
            epoch = Int32(v[2]) << 24 | Int32(v[3]) << 16 | Int32(v[4]) << 8 | Int32(v[5])
        }
        return ControlRecord(commit: type == 1, coordinatorEpoch: epoch)
    }
}
