import KafkaProtocol
import NIOCore
import Raft
import Storage

/// How a Kafka partition's Raft entries carry data: a normal entry's data is one RecordBatch v2,
/// with `baseOffset` set by the leader to the partition's next Kafka offset and
/// `partitionLeaderEpoch` to the Raft term. No-op and membership entries take no offsets.
public enum KafkaEntry {
    /// Records in an entry: `lastOffsetDelta + 1` of its batch; 0 for control entries and for
    /// data that is not a batch (which never reaches a Kafka partition's log).
    public static func recordCount(_ e: Entry) -> UInt32 {
        guard e.kind == .normal, let h = header(e.data) else { return 0 }
        return UInt32(h.lastOffsetDelta) + 1
    }

    /// The batch's newest timestamp (for retention by time).
    public static func maxTimestamp(_ e: Entry) -> Int64? {
        guard e.kind == .normal, let h = header(e.data) else { return nil }
        return h.maxTimestamp
    }

    public struct Header: Equatable, Sendable {
        public var baseOffset: Int64
        public var lastOffsetDelta: Int32
        public var maxTimestamp: Int64
        /// -1 when the producer is not idempotent.
        public var producerID: Int64
        public var producerEpoch: Int16
        public var baseSequence: Int32

        public var lastSequence: Int32 { ProducerState.lastSequence(first: baseSequence, count: lastOffsetDelta + 1) }
    }

    /// The few header fields the broker reads without copying the batch.
    public static func header(_ data: [UInt8]) -> Header? {
        guard data.count >= RecordBatch.headerBytes, data[16] == 2 else { return nil }
        func int(_ at: Int, _ n: Int) -> Int64 {
            var v: Int64 = 0
            for k in 0..<n { v = v << 8 | Int64(data[at + k]) }
            return v
        }
        let delta = Int32(truncatingIfNeeded: int(23, 4))
        guard delta >= 0 else { return nil }
        return Header(
            baseOffset: int(0, 8), lastOffsetDelta: delta, maxTimestamp: int(35, 8), producerID: int(43, 8),
            producerEpoch: Int16(truncatingIfNeeded: int(51, 2)), baseSequence: Int32(truncatingIfNeeded: int(53, 4)))
    }

    /// Storage settings for a Kafka partition's log: offsets and timestamps from batch headers.
    public static func logConfig(_ base: PartitionLogConfig = PartitionLogConfig()) -> PartitionLogConfig {
        var c = base
        c.recordCount = { KafkaEntry.recordCount($0) }
        c.timestamp = { KafkaEntry.maxTimestamp($0) }
        return c
    }
}
