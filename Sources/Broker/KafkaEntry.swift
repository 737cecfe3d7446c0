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
        public var attributes: Int16

        /// A transaction's batch: its producer's records or (`isControl`) a marker.
        public var isTransactional: Bool { attributes & 0x10 != 0 }
        public var isControl: Bool { attributes & 0x20 != 0 }
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
            producerEpoch: Int16(truncatingIfNeeded: int(51, 2)), baseSequence: Int32(truncatingIfNeeded: int(53, 4)),
            attributes: Int16(truncatingIfNeeded: int(21, 2)))
    }

    // MARK: - Compacted entries

    /// A compacted entry's data: the batch with fewer records (`RecordBatch.keeping`), then a
    /// trailer with the identity of the entry it replaced (`ReplicaState.entryHash` of the
    /// original) and a magic number:
    ///
    ///     batch (12 + batchLength bytes) | u64 identity | u32 reserved (0) | u32 magic "RCMP"
    ///
    /// Why the trailer: each replica compacts on its own, yet a follower catching up from its
    /// leader's storage receives compacted entries and must chain the same history as replicas
    /// that applied the originals (`ReplicaState.chain`, the simulator's log-matching checks).
    /// Term, index, offsets and producer fields stay in the entry and its header, so Raft and the
    /// producer state see the same entry. A produced entry is exactly one batch, so it never
    /// looks like this; Fetch serves only the batch (`batchBytes`).
    public static let compactedTrailerBytes = 16
    static let compactedMagic: [UInt8] = Array("RCMP".utf8)

    /// The identity a compacted entry carries, or nil for any other data.
    public static func compactedIdentity(_ data: [UInt8]) -> UInt64? {
        let n = data.count
        guard n >= RecordBatch.headerBytes + compactedTrailerBytes, data[16] == 2,
              data[(n - 4)...].elementsEqual(compactedMagic) else { return nil }
        var length = 0
        for k in 8..<12 { length = length << 8 | Int(data[k]) }
        guard length + 12 == n - compactedTrailerBytes else { return nil }
        var identity: UInt64 = 0
        for k in (n - 16)..<(n - 8) { identity = identity << 8 | UInt64(data[k]) }
        return identity
    }

    /// The record batch an entry's data holds, without a compacted entry's trailer: what Fetch
    /// serves.
    public static func batchBytes(_ data: [UInt8]) -> [UInt8] {
        compactedIdentity(data) == nil ? data : Array(data.dropLast(compactedTrailerBytes))
    }

    /// `original` with its batch replaced by `batch` (the same offsets, fewer records), carrying
    /// the original's identity (kept from an earlier compaction).
    public static func compacted(_ original: Entry, to batch: RecordBatch) -> Entry {
        var data = Array(batch.bytes.readableBytesView)
        let identity = ReplicaState.entryHash(original)
        for k in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: identity >> UInt64(k))) }
        data += [0, 0, 0, 0]
        data += compactedMagic
        return Entry(term: original.term, index: original.index, kind: original.kind, data: data)
    }

    /// Storage settings for a Kafka partition's log: offsets and timestamps from batch headers.
    public static func logConfig(_ base: PartitionLogConfig = PartitionLogConfig()) -> PartitionLogConfig {
        var c = base
        c.recordCount = { KafkaEntry.recordCount($0) }
        c.timestamp = { KafkaEntry.maxTimestamp($0) }
        // A peer's copy may be compacted where this replica's is not, or the other way round.
        c.sameEntry = { a, b in a.term == b.term && a.index == b.index && a.kind == b.kind && ReplicaState.entryHash(a) == ReplicaState.entryHash(b) }
        return c
    }
}
