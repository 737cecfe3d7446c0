import Primitives

/// Kafka-level safety, seen from the simulated clients: what the producer was told was written,
/// what the consumer read, and the high watermarks it saw. Holds the ground truth no client has.
struct SimKafkaChecker {
    /// Offset → value the producer was acknowledged for (acks=all).
    private(set) var acked: [Int64: [UInt8]] = [:]
    /// Offset → value any read returned.
    private(set) var read: [Int64: [UInt8]] = [:]
    private(set) var highWatermark: Int64 = 0
    /// Offsets below this were deleted by retention before the consumer read them.
    private(set) var expiredBelow: Int64 = 0
    /// Value → the offset it was read at: an idempotent producer's record appears once.
    private var offsetOfValue: [[UInt8]: Int64] = [:]
    private(set) var failure: SimFailure?
    /// DeleteRecords answers: when each was received and the log start it reported.
    private var deletions: [(at: SimTime, logStart: Int64)] = []

    mutating func fail(_ property: String, _ detail: String) {
        if failure == nil { failure = .safety(property: property, detail: detail) }
    }

    mutating func acknowledged(offset: Int64, value: [UInt8]) {
        if let other = acked[offset], other != value {
            fail("kafka-ack-unique", "offset \(offset) acknowledged for two records (\(text(other)), \(text(value)))")
        }
        if let seen = read[offset], seen != value {
            fail("kafka-ack-read-agree", "offset \(offset) acknowledged as \(text(value)) but read as \(text(seen))")
        }
        acked[offset] = value
    }

    /// A record a consumer read: (offset → record) must be a function across all reads, and
    /// agree with what was acknowledged there.
    mutating func observedRead(offset: Int64, value: [UInt8]) {
        if let seen = read[offset], seen != value {
            fail("kafka-read-function", "offset \(offset) read as \(text(seen)) and later as \(text(value))")
        }
        if let a = acked[offset], a != value {
            fail("kafka-ack-read-agree", "offset \(offset) acknowledged as \(text(a)) but read as \(text(value))")
        }
        if let other = offsetOfValue[value], other != offset {
            fail("kafka-exactly-once", "\(text(value)) written twice, at offsets \(other) and \(offset) (an idempotent producer's retry)")
        }
        offsetOfValue[value] = offset
        read[offset] = value
        if rereading { reread[offset] = value }
    }

    /// Per producer id, the last of its batches the consumer read: epoch, last sequence and the
    /// offset after it.
    private var lastProducerBatch: [Int64: (epoch: Int16, lastSequence: Int32, nextOffset: Int64)] = [:]

    /// A batch of an idempotent producer, read in log order (a batch at or before one already
    /// checked is skipped: a re-read). In the log a producer's epochs never go down (a fenced
    /// epoch is refused), and within an epoch sequences go up; where the batch follows the last
    /// one read directly (`contiguityKnown`: nothing compacted away between), its sequence is the
    /// next one, or 0 in a new epoch — a gap or repeat there is a lost or duplicated batch.
    mutating func producerBatchRead(
        producerID: Int64, epoch: Int16, firstSequence: Int32, lastSequence: Int32, baseOffset: Int64, nextOffset: Int64, contiguityKnown: Bool
    ) {
        let previous = lastProducerBatch[producerID]
        if let previous, baseOffset < previous.nextOffset { return }
        lastProducerBatch[producerID] = (epoch, lastSequence, nextOffset)
        guard let last = previous else { return }
        let at = "producer \(producerID)'s batch at offset \(baseOffset) (epoch \(epoch), sequences \(firstSequence)-\(lastSequence))"
        if epoch < last.epoch {
            fail("kafka-producer-epoch-monotonic", "\(at) follows one of epoch \(last.epoch): a fenced producer wrote")
        } else if epoch == last.epoch && firstSequence <= last.lastSequence {
            fail("kafka-sequence-monotonic", "\(at) follows one ending at sequence \(last.lastSequence): a batch written twice")
        } else if contiguityKnown && baseOffset == last.nextOffset {
            let expected = epoch == last.epoch ? last.lastSequence &+ 1 : 0
            if firstSequence != expected {
                fail("kafka-sequence-contiguous", "\(at) directly follows epoch \(last.epoch) sequence \(last.lastSequence); expected sequence \(expected)")
            }
        }
    }

    mutating func observedHighWatermark(_ hwm: Int64, from node: Int) {
        if hwm < highWatermark {
            fail("kafka-hwm-monotonic", "n\(node + 1) reported high watermark \(hwm) after \(highWatermark) was seen")
        }
        highWatermark = max(highWatermark, hwm)
    }

    /// DeleteRecords below `requested` was answered with `logStart` at `at`: the log start is at
    /// least what was asked, and never moves back.
    mutating func recordsDeleted(requested: Int64, logStart: Int64, at: SimTime) {
        if logStart < requested {
            fail("kafka-delete-records-floor", "records deleted below \(requested) answered with log start \(logStart)")
        }
        if let last = deletions.last, logStart < last.logStart {
            fail("kafka-log-start-monotonic", "a DeleteRecords answered log start \(logStart) after \(last.logStart)")
        }
        deletions.append((at, logStart))
    }

    /// The highest log start a DeleteRecords answer reported before `time`: a request sent after
    /// that must find the partition starting there or later (deleted records stay deleted, through
    /// leader changes and crashes).
    func deletedBelow(before time: SimTime) -> Int64 {
        deletions.last { $0.at < time }?.logStart ?? 0
    }

    /// Offsets a consumer of a compacted topic found no record at.
    private(set) var skippedOffsets: [Int64] = []

    /// The key the producer gives the record whose value is `p<sequence>` on a compacted topic:
    /// odd sequences share 13 keys, so most of them are superseded; even ones have a key of their
    /// own, so compaction must keep every one of them (they lie in closed segments, where the
    /// cleaner works, unlike the newest record of a shared key).
    static func key(ofValue value: [UInt8]) -> [UInt8] {
        let sequence = Int(String(decoding: value.dropFirst(), as: UTF8.self)) ?? 0
        return Array((sequence % 2 == 0 ? "u\(sequence)" : "k\(sequence % 13)").utf8)
    }

    /// Whether the consumer is reading the compacted partition again from its start (the
    /// liveness phase), and what it read since.
    private(set) var rereading = false
    private var reread: [Int64: [UInt8]] = [:]

    mutating func beginReread() {
        rereading = true
        reread = [:]
    }

    /// After a read from the start of a compacted partition: for every key, its newest
    /// acknowledged record or a newer one of the key was read.
    mutating func checkCompactedReread() {
        guard rereading else { return }
        var newestRead: [[UInt8]: Int64] = [:]
        for (offset, value) in reread {
            let key = Self.key(ofValue: value)
            newestRead[key] = max(newestRead[key] ?? offset, offset)
        }
        var newestAcked: [[UInt8]: Int64] = [:]
        for (offset, value) in acked {
            let key = Self.key(ofValue: value)
            newestAcked[key] = max(newestAcked[key] ?? offset, offset)
        }
        for (key, offset) in newestAcked.sorted(by: { $0.value < $1.value }) where (newestRead[key] ?? -1) < offset {
            fail("kafka-compaction-keeps-newest",
                 "key \(text(key)): newest acknowledged at offset \(offset), but a read from the start saw \(newestRead[key].map { "only up to \($0)" } ?? "none")")
            return
        }
    }

    /// Compaction left no record at these offsets.
    mutating func skipped(_ offsets: Range<Int64>) { skippedOffsets += offsets }

    /// Records below `offset` were deleted by retention before the consumer read them.
    mutating func expired(below offset: Int64) { expiredBelow = max(expiredBelow, offset) }

    /// At the end: every acknowledged record was read back at its offset (except those retention
    /// deleted before the consumer got to them).
    ///
    /// On a compacted topic a record may be missing where a later record with its key was
    /// acknowledged or read (compaction keeps every key's newest record, so the consumer read
    /// that one or a newer one): "a consumer reading from the start sees, for every key, its
    /// latest acknowledged value or a newer one".
    mutating func checkNothingLost() {
        var newest: [[UInt8]: Int64] = [:]
        if !skippedOffsets.isEmpty {
            for (offset, value) in acked.merging(read, uniquingKeysWith: { a, _ in a }) {
                let key = Self.key(ofValue: value)
                newest[key] = max(newest[key] ?? offset, offset)
            }
        }
        let skipped = Set(skippedOffsets)
        for offset in acked.keys.sorted() where offset >= expiredBelow && read[offset] != acked[offset] {
            if skipped.contains(offset), let later = newest[Self.key(ofValue: acked[offset]!)], later > offset, read[later] != nil {
                continue  // superseded and compacted away; the newer record was read
            }
            fail("kafka-acked-not-lost", "acknowledged offset \(offset) (\(text(acked[offset]!))) was never read back")
            return
        }
    }

    private func text(_ v: [UInt8]) -> String { String(decoding: v, as: UTF8.self) }
}
