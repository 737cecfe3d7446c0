import Raft

/// Timestamps in simulated proposals. With retention by time on, a proposal starts with
/// `t<ms>-`, its simulated time: the stand-in for a Kafka batch's `maxTimestamp`, read back by
/// the partition log's `timestamp` hook on append and at recovery.
enum SimPayload {
    static func stamped(_ payload: [UInt8], at now: SimTime) -> [UInt8] {
        Array("t\(now / SimDuration.millisecond)-".utf8) + payload
    }

    @Sendable static func timestamp(_ e: Entry) -> Int64? {
        guard e.kind == .normal, e.data.first == UInt8(ascii: "t") else { return nil }
        var value: Int64 = 0
        for byte in e.data.dropFirst() {
            if byte == UInt8(ascii: "-") { return value }
            guard byte >= 48 && byte <= 57 else { return nil }
            value = value * 10 + Int64(byte - 48)
        }
        return nil
    }
}
