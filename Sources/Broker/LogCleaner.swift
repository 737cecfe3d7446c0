import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Storage

/// Log compaction of a Kafka partition's replica, run by its node's storage (`StorageBatch
/// .Operation.clean`): every record whose key has a newer record in the cleanable part of the log
/// goes, and a tombstone (a null value) goes too once `delete.retention.ms` has passed since its
/// segment was last written. As in Kafka and Redpanda, each replica cleans its own log; offsets
/// never change (reads skip the gaps) and every batch stays, down to an empty one, so producer
/// sequences and leader epochs survive.
///
/// The cleanable part: closed segments (never the active one) wholly covered by the partition's
/// durable snapshot, so every state machine on this node has applied them and a restart never
/// replays a compacted entry; up to the first segment with records younger than
/// `min.compaction.lag.ms`. Compressed batches are kept whole (the broker does not decompress):
/// their records are never removed and never remove others; control batches likewise.
public struct LogCleaner {
    /// Per group, the last index cleaned: what lies beyond is dirty. In memory: after a restart
    /// the whole log counts as dirty and the first pass cleans it again.
    private var cleanedThrough: [GroupID: LogIndex] = [:]
    /// Per group, when a tombstone kept by the last pass may go: the log is cleaned again then,
    /// dirty or not.
    private var tombstonesDueMs: [GroupID: Int64] = [:]


    public init() {}

    mutating func forget(_ g: GroupID) {
        cleanedThrough[g] = nil
        tombstonesDueMs[g] = nil
    }

    /// Clean `log` up to `through` (the durable snapshot's index) if the policy says it is due.
    /// Nil when it was not; a read that meets damage throws `corrupt` (nothing rewritten after it).
    public mutating func clean(_ g: GroupID, log: PartitionLog, through: LogIndex, policy: CompactionPolicy, nowMs: Int64) throws(StorageError) -> CompactionPass? {
        var segments = log.closedSegments(through: through)
        if let young = segments.firstIndex(where: { ($0.maxTimestamp ?? .min) > nowMs &- policy.minLagMs }) {
            segments.removeSubrange(young...)
        }
        guard let last = segments.last else { return nil }
        let cleaned = cleanedThrough[g] ?? .zero
        let dirty = segments.filter { $0.lastIndex > cleaned }
        let total = segments.reduce(0) { $0 + $1.bytes }
        let dirtyBytes = dirty.reduce(0) { $0 + $1.bytes }
        let ratioDue = dirtyBytes > 0 && Double(dirtyBytes) >= policy.minDirtyRatio * Double(total)
        let lagDue = dirty.contains { ($0.maxTimestamp ?? .max) <= nowMs &- policy.maxLagMs }
        let tombstonesDue = tombstonesDueMs[g].map { $0 <= nowMs } ?? false
        guard ratioDue || lagDue || tombstonesDue else { return nil }

        // Pass 1: each key's newest offset in the cleanable part.
        var newest: [[UInt8]: Int64] = [:]
        for s in segments {
            var i = s.baseIndex
            while i <= s.lastIndex {
                for r in Self.records(of: try log.read(i).entry)?.spans ?? [] { if let key = r.key { newest[key] = r.offset } }
                i = i.next
            }
        }
        // Pass 2: rewrite each segment with what stays.
        var pass = CompactionPass()
        var nextDue: Int64? = nil
        for s in segments {
            let tombstonesExpire = s.lastWriteMs &+ policy.deleteRetentionMs
            let dropTombstones = tombstonesExpire <= nowMs
            let (before, after) = try log.rewriteSegment(at: s.baseIndex) { stored in
                guard let (batch, spans) = Self.records(of: stored.entry) else { return nil }
                var kept: [RecordBatch.RecordSpan] = []
                for r in spans {
                    guard let key = r.key, newest[key] == r.offset else {
                        pass.recordsRemoved += 1  // superseded, or without a key (invalid in a compacted log, as in Kafka)
                        continue
                    }
                    if !r.hasValue {
                        if dropTombstones {
                            pass.tombstonesRemoved += 1
                            continue
                        }
                        nextDue = min(nextDue ?? .max, tombstonesExpire)
                    }
                    kept.append(r)
                }
                guard kept.count < spans.count else { return nil }
                return KafkaEntry.compacted(stored.entry, to: batch.keeping(kept))
            }
            pass.segments += 1
            pass.bytesBefore += before
            pass.bytesAfter += after
        }
        cleanedThrough[g] = last.lastIndex
        tombstonesDueMs[g] = nextDue
        return pass
    }

    /// The entry's batch (without a compacted entry's trailer) and the records that take part in
    /// compaction: those of an uncompressed data batch. Nil for anything else (kept whole). The
    /// batch is validated (its CRC computed) once, for both passes' needs.
    private static func records(of e: Entry) -> (batch: RecordBatch, spans: [RecordBatch.RecordSpan])? {
        guard e.kind == .normal,
              let b = try? RecordBatch(validating: ByteBuffer(bytes: KafkaEntry.batchBytes(e.data)), from: .log),
              b.compression == 0, !b.isControl, !b.isTransactional,
              let spans = try? b.recordSpans()
        else { return nil }
        return (b, spans)
    }
}

/// What one cleaning pass over a partition's log did (`StorageCompletion.compacted`).
public struct CompactionPass: Equatable, Sendable {
    public var segments = 0
    public var bytesBefore = 0
    public var bytesAfter = 0
    public var recordsRemoved = 0
    public var tombstonesRemoved = 0
}
