import Primitives

/// The binary encoding of peer messages. The simulator sends every message through it, exactly as
/// the TLS transport will, so codec bugs show up in simulation too.
///
/// A packet is `magic u8, version u8, count u32, envelope*`; all integers little-endian. Decoding
/// checks every count and length against the bytes present before allocating.
public enum PeerMessageCodec {
    static let magic: UInt8 = 0xA7
    static let version: UInt8 = 1
    /// Smallest possible encoded envelope: group + fixed message fields.
    static let envelopeBytesMin = 4 + 1 + 4 + 4 + 8 + 8 + 8 + 8 + 1 + 8 + 1 + 4 + 1

    public static func encode(_ envelopes: [PeerEnvelope]) -> [UInt8] {
        var w = ByteWriter(capacity: encodedBytesBound(envelopes))
        encode(envelopes, into: &w)
        return w.bytes
    }

    /// Append the encoding to `w`. Callers size `w` with `encodedBytesBound` first: a MsgApp
    /// carries megabytes of records, and growing the array by doubling copies them again and
    /// again (a leader's event loop spent a tenth of its time on that at full load).
    public static func encode(_ envelopes: [PeerEnvelope], into w: inout ByteWriter) {
        w.u8(magic)
        w.u8(version)
        w.u32(UInt32(envelopes.count))
        for e in envelopes { encode(e, into: &w) }
    }

    /// At least the encoded size of `envelopes` (fixed fields are over-counted).
    public static func encodedBytesBound(_ envelopes: [PeerEnvelope]) -> Int {
        var n = 6
        for e in envelopes {
            n += 128 + e.message.entries.count * 32
            for entry in e.message.entries { n += entry.data.count }
            if let s = e.message.snapshot { n += 64 + 4 * (s.membership.voters.count + s.membership.learners.count) + s.data.count }
        }
        return n
    }

    /// Decode the envelopes encoded at `offset` and on (to the end of `bytes`).
    public static func decode(_ bytes: [UInt8], offset: Int = 0) throws(WireError) -> [PeerEnvelope] {
        var r = ByteReader(bytes, offset: offset)
        let m = try r.u8()
        guard m == magic else { throw WireError.invalid("bad magic \(m)") }
        let v = try r.u8()
        guard v == version else { throw WireError.invalid("unsupported version \(v)") }
        let n = try r.count(minItemBytes: envelopeBytesMin)
        var out: [PeerEnvelope] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try decodeEnvelope(&r)) }
        try r.expectEnd()
        return out
    }

    static func encode(_ e: PeerEnvelope, into w: inout ByteWriter) {
        let m = e.message
        w.u32(e.group.value)
        w.u8(m.kind.rawValue)
        w.u32(m.from.value)
        w.u32(m.to.value)
        w.u64(m.term.value)
        w.u64(m.logTerm.value)
        w.u64(m.index.value)
        w.u64(m.commit.value)
        w.bool(m.reject)
        w.u64(m.rejectHint.value)
        // Flags: bit 0 a transfer's vote, bit 1 a quiescing heartbeat.
        w.u8((m.forceVote ? 1 : 0) | (m.quiesce ? 2 : 0))
        w.u32(UInt32(m.entries.count))
        for entry in m.entries {
            w.u64(entry.term.value)
            w.u64(entry.index.value)
            w.u8(entry.kind.rawValue)
            w.blob(entry.data)
        }
        if let s = m.snapshot {
            w.u8(1)
            w.u64(s.index.value)
            w.u64(s.term.value)
            w.membership(s.membership)
            w.blob(s.data)
        } else {
            w.u8(0)
        }
    }

    static func decodeEnvelope(_ r: inout ByteReader) throws(WireError) -> PeerEnvelope {
        let group = GroupID(try r.u32())
        let kindByte = try r.u8()
        guard let kind = MessageKind(rawValue: kindByte) else { throw WireError.invalid("message kind \(kindByte)") }
        var m = Message(kind: kind, from: NodeID(try r.u32()), to: NodeID(try r.u32()), term: Term(try r.u64()))
        m.logTerm = Term(try r.u64())
        m.index = LogIndex(try r.u64())
        m.commit = LogIndex(try r.u64())
        m.reject = try r.bool()
        m.rejectHint = LogIndex(try r.u64())
        let flags = try r.u8()
        guard flags & ~3 == 0 else { throw WireError.invalid("message flags \(flags)") }
        m.forceVote = flags & 1 != 0
        m.quiesce = flags & 2 != 0
        let entryCount = try r.count(minItemBytes: 8 + 8 + 1 + 4)
        m.entries.reserveCapacity(entryCount)
        var expected: LogIndex? = nil
        for _ in 0..<entryCount {
            let term = Term(try r.u64())
            let index = LogIndex(try r.u64())
            let kindByte = try r.u8()
            guard let entryKind = EntryKind(rawValue: kindByte) else { throw WireError.invalid("entry kind \(kindByte)") }
            if let e = expected, e != index { throw WireError.invalid("entries not contiguous at \(index)") }
            // (`next` of the largest index would trap: no real log gets there.)
            guard index.value < UInt64.max else { throw WireError.invalid("entry index \(index)") }
            expected = index.next
            m.entries.append(Entry(term: term, index: index, kind: entryKind, data: try r.blob()))
        }
        switch try r.u8() {
        case 0: break
        case 1:
            let index = LogIndex(try r.u64())
            let term = Term(try r.u64())
            let membership = try r.membership()
            m.snapshot = Snapshot(index: index, term: term, membership: membership, data: try r.blob())
        case let b: throw WireError.invalid("snapshot flag \(b)")
        }
        return PeerEnvelope(group: group, message: m)
    }
}
