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
    }

    mutating func observedHighWatermark(_ hwm: Int64, from node: Int) {
        if hwm < highWatermark {
            fail("kafka-hwm-monotonic", "n\(node + 1) reported high watermark \(hwm) after \(highWatermark) was seen")
        }
        highWatermark = max(highWatermark, hwm)
    }

    /// Records below `offset` were deleted by retention before the consumer read them.
    mutating func expired(below offset: Int64) { expiredBelow = max(expiredBelow, offset) }

    /// At the end: every acknowledged record was read back at its offset (except those retention
    /// deleted before the consumer got to them).
    mutating func checkNothingLost() {
        for offset in acked.keys.sorted() where offset >= expiredBelow && read[offset] != acked[offset] {
            fail("kafka-acked-not-lost", "acknowledged offset \(offset) (\(text(acked[offset]!))) was never read back")
            return
        }
    }

    private func text(_ v: [UInt8]) -> String { String(decoding: v, as: UTF8.self) }
}
