import Primitives
import Testing

@testable import Raft

struct PeerMessageCodecTests {
    static func sample() -> [PeerEnvelope] {
        var append = Message(kind: .append, from: 1, to: 2, term: 7, logTerm: 6, index: 41, commit: 40)
        append.entries = [
            Entry(term: 7, index: 42, kind: .normal, data: Array("hello".utf8)),
            Entry(term: 7, index: 43, kind: .noop),
            Entry(term: 7, index: 44, kind: .membership,
                  data: MembershipEntry(change: .addLearner(4), membership: Membership(voters: [1, 2, 3], learners: [4])).encode()),
        ]
        var snap = Message(kind: .snapshot, from: 1, to: 3, term: 7)
        snap.snapshot = Snapshot(index: 30, term: 5, membership: Membership(voters: [1, 2, 3]), data: [1, 2, 3])
        let reject = Message(kind: .appendResponse, from: 2, to: 1, term: 7, logTerm: 3, index: 41, reject: true, rejectHint: 12)
        let vote = Message(kind: .vote, from: 3, to: 1, term: 8, logTerm: 7, index: 44, forceVote: true)
        let quiesce = Message(kind: .heartbeat, from: 1, to: 2, term: 8, commit: 44, quiesce: true)
        return [PeerEnvelope(group: 0, message: append), PeerEnvelope(group: 9, message: snap),
                PeerEnvelope(group: 2, message: reject), PeerEnvelope(group: 1, message: vote), PeerEnvelope(group: 4, message: quiesce)]
    }

    @Test("every field survives a round trip")
    func roundTrip() throws {
        let envelopes = Self.sample()
        let decoded = try PeerMessageCodec.decode(PeerMessageCodec.encode(envelopes))
        #expect(decoded == envelopes)
    }

    @Test("every truncation is refused, never crashes")
    func truncated() {
        let bytes = PeerMessageCodec.encode(Self.sample())
        for n in 0..<bytes.count {
            #expect(throws: WireError.self) { try PeerMessageCodec.decode(Array(bytes[0..<n])) }
        }
    }

    @Test("absurd counts are refused before allocating")
    func absurdCount() {
        var w = ByteWriter()
        w.u8(PeerMessageCodec.magic)
        w.u8(PeerMessageCodec.version)
        w.u32(UInt32.max)
        #expect(throws: WireError.invalid("count \(UInt32.max) cannot fit in 0 bytes")) {
            try PeerMessageCodec.decode(w.bytes)
        }
    }

    @Test("bad magic, version, kinds and trailing bytes are refused")
    func garbage() {
        var bytes = PeerMessageCodec.encode(Self.sample())
        #expect(throws: WireError.invalid("bad magic 0")) { try PeerMessageCodec.decode([0] + bytes.dropFirst()) }
        #expect(throws: WireError.invalid("unsupported version 9")) {
            try PeerMessageCodec.decode([bytes[0], 9] + bytes.dropFirst(2))
        }
        bytes.append(0)
        #expect(throws: WireError.invalid("1 trailing bytes")) { try PeerMessageCodec.decode(bytes) }
        var kind = PeerMessageCodec.encode([Self.sample()[2]])
        kind[6 + 4] = 99  // the message kind byte of the first envelope
        #expect(throws: WireError.invalid("message kind 99")) { try PeerMessageCodec.decode(kind) }
        // The flags byte: bits 0 (transfer vote) and 1 (quiesce) only.
        var flags = PeerMessageCodec.encode([Self.sample()[4]])
        flags[6 + 4 + 1 + 4 + 4 + 8 * 5 + 1] = 4
        #expect(throws: WireError.invalid("message flags 4")) { try PeerMessageCodec.decode(flags) }
    }

    @Test("an entry at the largest index is refused, not an overflow trap")
    func largestIndex() {
        var m = Message(kind: .append, from: 1, to: 2, term: 1, index: LogIndex(.max - 1))
        m.entries = [Entry(term: 1, index: LogIndex(.max)), Entry(term: 1, index: LogIndex(.max))]
        let bytes = PeerMessageCodec.encode([PeerEnvelope(group: 1, message: m)])
        #expect(throws: WireError.invalid("entry index \(UInt64.max)")) { try PeerMessageCodec.decode(bytes) }
    }

    @Test("random bytes never crash the decoder")
    func fuzz() {
        var rng = SeededRandom(seed: 7)
        let valid = PeerMessageCodec.encode(Self.sample())
        for _ in 0..<2000 {
            var b = valid
            for _ in 0..<Int(rng.below(4) + 1) { b[Int(rng.below(UInt64(b.count)))] = UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? PeerMessageCodec.decode(b)
        }
    }
}
