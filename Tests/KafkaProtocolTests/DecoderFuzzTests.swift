import KafkaProtocol
import NIOCore
import Testing

/// Hostile bytes for every generated decoder at every version: no input may crash a decoder or
/// make it allocate what the bytes do not back. Each input gives a `KafkaWireError`, or a value
/// that re-encodes to bytes that decode to the same value. Deterministic (a seeded PRNG).
struct DecoderFuzzTests {
    /// SplitMix64: the same sequence on every machine.
    struct PRNG {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    /// Decode `bytes`; nil when that went as it should (an error, or a stable value), else why not.
    static func probe(_ c: MessageCase, _ bytes: [UInt8], _ v: Int16) -> String? {
        do {
            let r = try c.redecode(ByteBuffer(bytes: bytes), v)
            return r.stable ? nil : "\(c.name) v\(v) \(hexString(ByteBuffer(bytes: bytes))): not stable: \(r.description)"
        } catch {
            return nil
        }
    }

    /// The filled encodings of a message at each version: with values, and with nulls where
    /// anything is nullable.
    static func samples(_ c: MessageCase) -> [(Int16, [UInt8])] {
        var out: [(Int16, [UInt8])] = []
        for v in c.versions {
            let values = Array(c.encodeFilled(v, Fill()).readableBytesView)
            let nulls = Array(c.encodeFilled(v, Fill(nulls: true)).readableBytesView)
            out.append((v, values))
            if nulls != values { out.append((v, nulls)) }
        }
        return out
    }

    @Test("every proper prefix of every filled message is refused as truncated or invalid", arguments: Filled.messages)
    func truncations(_ c: MessageCase) {
        for (v, bytes) in Self.samples(c) {
            for n in 0..<bytes.count {
                #expect(throws: KafkaWireError.self, "\(c.name) v\(v) prefix \(n)") { _ = try c.redecode(ByteBuffer(bytes: bytes[..<n]), v) }
            }
        }
    }

    @Test("random mutations (flips, overwrites, inserts, deletions; 200 a version) give an error or a stable value", arguments: Filled.messages)
    func mutations(_ c: MessageCase) {
        var rng = PRNG(state: UInt64(UInt16(bitPattern: c.apiKey)) &* 7919 &+ (c.name.hasSuffix("Request") ? 1 : 2))
        var failures: [String] = []
        let samples = Self.samples(c).filter { !$0.1.isEmpty }
        for v in c.versions {
            let here = samples.filter { $0.0 == v }.map(\.1)
            guard !here.isEmpty else { continue }
            for _ in 0..<200 {
                var m = here[rng.below(here.count)]
                for _ in 0..<(1 + rng.below(3)) {
                    let pos = rng.below(m.count + 1)
                    switch rng.below(5) {
                    case 0 where pos < m.count: m[pos] ^= UInt8(1 << rng.below(8))
                    case 1 where pos < m.count: m[pos] = UInt8(truncatingIfNeeded: rng.next())
                    case 2: m.insert(UInt8(truncatingIfNeeded: rng.next()), at: pos)
                    case 3 where pos < m.count: m.remove(at: pos)
                    default:
                        if pos < m.count { m[pos] = [0x00, 0x7F, 0x80, 0xFF][rng.below(4)] }
                    }
                    if m.isEmpty { m = [0] }
                }
                if let f = Self.probe(c, m, v) { failures.append(f) }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) unstable decodes, first: \(failures.first ?? "")")
    }

    /// Counts and lengths no honest peer sends, for both encodings: an int32 count or length of
    /// 0x7fffffff and a negative one, a negative int16 length, a compact (uvarint N+1) null, a
    /// uvarint of 0xFFFFFFFF, and a varint longer than five bytes.
    static let hostile: [[UInt8]] = [
        [0x7F, 0xFF, 0xFF, 0xFF], [0x80, 0x00, 0x00, 0x00], [0x00], [0xFF, 0xFE],
        [0xFF, 0xFF, 0xFF, 0xFF, 0x0F], [0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
    ]

    @Test("hostile counts and lengths written over, and inserted at, every offset (lowest, last non-flexible and highest versions)", arguments: Filled.messages)
    func hostileCounts(_ c: MessageCase) {
        var failures: [String] = []
        // The lowest, the last non-flexible and the highest version: each encoding's shapes once.
        var versions: Set<Int16> = [c.versions.lowerBound, c.versions.upperBound]
        if let f = c.flexibleFrom, f > c.versions.lowerBound { versions.insert(f - 1) }
        for v in versions.sorted() {
            let bytes = Array(c.encodeFilled(v, Fill()).readableBytesView)
            for pos in 0...bytes.count {
                for (i, pattern) in Self.hostile.enumerated() {
                    if i % 2 == 0 {  // inserted: half the patterns, for time; written over: all
                        var inserted = bytes
                        inserted.insert(contentsOf: pattern, at: pos)
                        if let f = Self.probe(c, inserted, v) { failures.append(f) }
                    }
                    guard pos < bytes.count else { continue }
                    var over = bytes
                    for (k, b) in pattern.enumerated() where pos + k < over.count { over[pos + k] = b }
                    if let f = Self.probe(c, over, v) { failures.append(f) }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) unstable decodes, first: \(failures.first ?? "")")
    }

    @Test("crafted: huge counts and lengths are refused before anything is allocated, in both encodings")
    func craftedCounts() {
        func reader(_ bytes: [UInt8]) -> KafkaReader { KafkaReader(ByteBuffer(bytes: bytes)) }
        // A classic int32 array count of 0x7fffffff with 4 bytes behind it.
        var r = reader([0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1])
        #expect(throws: KafkaWireError.self) { _ = try r.array(flexible: false, "a", minElementBytes: 4) { r throws(KafkaWireError) in try r.int32() } }
        // A compact count of 0xFFFFFFFF - 1 elements.
        r = reader([0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0, 0])
        #expect(throws: KafkaWireError.self) { _ = try r.array(flexible: true, "a", minElementBytes: 1) { r throws(KafkaWireError) in try r.int8() } }
        // Compact null (0) where the field may not be null: an error, not a crash.
        r = reader([0x00])
        #expect(throws: KafkaWireError.invalid("s is null")) { _ = try r.string(flexible: true, "s") }
        r = reader([0x00])
        #expect(throws: KafkaWireError.invalid("a is null")) { _ = try r.array(flexible: true, "a", minElementBytes: 1) { r throws(KafkaWireError) in try r.int8() } }
        r = reader([0x00])
        #expect(throws: KafkaWireError.invalid("b is null")) { _ = try r.bytes(flexible: true, "b") }
        // A compact string of 0xFFFFFFFF - 1 bytes, and of 0x7FFFFFFF.
        r = reader([0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x41])
        #expect(throws: KafkaWireError.self) { _ = try r.string(flexible: true, "s") }
        r = reader([0x80, 0x80, 0x80, 0x80, 0x08, 0x41])
        #expect(throws: KafkaWireError.self) { _ = try r.nullableBytes(flexible: true, "b") }
        // A varint longer than five bytes.
        r = reader([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])
        #expect(throws: KafkaWireError.self) { _ = try r.unsignedVarint() }
        r = reader([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])
        #expect(throws: KafkaWireError.self) { _ = try r.string(flexible: true, "s") }
        // Classic negative lengths other than -1.
        r = reader([0xFF, 0xFE])
        #expect(throws: KafkaWireError.self) { _ = try r.nullableString(flexible: false, "s") }
        r = reader([0x80, 0, 0, 0])
        #expect(throws: KafkaWireError.self) { _ = try r.nullableBytes(flexible: false, "b") }
        r = reader([0xFF, 0xFF, 0xFF, 0xFE])
        #expect(throws: KafkaWireError.self) { _ = try r.nullableArray(flexible: false, "a", minElementBytes: 1) { r throws(KafkaWireError) in try r.int8() } }
    }

    @Test("crafted: tagged-field sections with huge counts and sizes, out-of-order or duplicate tags, and left-over bytes")
    func craftedTags() throws {
        func tags(_ bytes: [UInt8]) throws(KafkaWireError) -> [UInt32] {
            var r = KafkaReader(ByteBuffer(bytes: bytes))
            var seen: [UInt32] = []
            try r.taggedFields { tag, r throws(KafkaWireError) -> Bool in
                guard tag == 0 else { return false }
                seen.append(UInt32(try r.int8()))
                return true
            }
            try r.expectEnd("tags")
            return seen
        }
        #expect(throws: KafkaWireError.self) { _ = try tags([0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) }  // 4 billion fields
        #expect(throws: KafkaWireError.self) { _ = try tags([0x01, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00]) }  // a 4 GB field
        #expect(throws: KafkaWireError.self) { _ = try tags([0x02, 0x05, 0x00, 0x03, 0x00]) }  // tag 5 then tag 3
        #expect(throws: KafkaWireError.self) { _ = try tags([0x02, 0x05, 0x00, 0x05, 0x00]) }  // tag 5 twice
        #expect(throws: KafkaWireError.self) { _ = try tags([0x01, 0x00, 0x02, 0x07, 0x07]) }  // a known field with a byte left over
        #expect(throws: KafkaWireError.self) { _ = try tags([0x01, 0x00, 0x00]) }  // a known field without its byte
        #expect(try tags([0x02, 0x00, 0x01, 0x07, 0x09, 0x02, 0xAA, 0xBB]) == [7])  // an unknown tag is skipped
        var r = KafkaReader(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]))
        #expect(throws: KafkaWireError.self) { try r.skipTaggedFields() }
        // Through a generated decoder: ProduceResponse v10's node_endpoints (tag 0) with a huge count.
        var w = KafkaWriter()
        w.unsignedVarint(1)  // responses: none
        w.int32(0)  // throttle_time_ms
        w.unsignedVarint(1)  // one tagged field
        w.unsignedVarint(0)  // tag 0
        w.unsignedVarint(5)
        w.buffer.writeBytes([0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        #expect(throws: KafkaWireError.self) { _ = try decoded(ProduceResponse.self, w.buffer, 10) }
        w.buffer.moveWriterIndex(to: w.buffer.writerIndex - 6)
        w.unsignedVarint(1)
        w.unsignedVarint(1)  // an empty array: fine
        #expect(try decoded(ProduceResponse.self, w.buffer, 10) == ProduceResponse())
    }

    @Test("crafted: every string read can be written back at its version (at most 0x7fff bytes, invalid UTF-8 included)")
    func craftedStrings() throws {
        // Produce v8 (classic) naming its topic with 12000 bytes of 0xFF: repaired to U+FFFD, 3
        // bytes each, that is 36000 bytes, which no int16 length can carry: echoing the name in the
        // v8 answer trapped (KafkaWriter's precondition) before the reader refused it.
        func produceV8(_ name: [UInt8]) -> ByteBuffer {
            var w = KafkaWriter()
            w.nullableString(nil)
            w.int16(-1)
            w.int32(1000)
            w.int32(1)
            w.int16(Int16(name.count))
            w.buffer.writeBytes(name)
            w.int32(0)
            return w.buffer
        }
        #expect(throws: KafkaWireError.self) { _ = try decoded(ProduceRequest.self, produceV8(Array(repeating: 0xFF, count: 12000)), 8) }
        // A little invalid UTF-8 is repaired, as Kafka's readers do, and writes back.
        let p = try decoded(ProduceRequest.self, produceV8([0x61, 0xFF, 0x62]), 8)
        #expect(p.topicData[0].name == "a\u{FFFD}b")
        #expect(try decoded(ProduceResponse.self, encoded(ProduceResponse(responses: [.init(name: p.topicData[0].name)]), 8), 8).responses[0].name == "a\u{FFFD}b")
        var r = KafkaReader(ByteBuffer(bytes: [0x7F, 0xFF] + Array(repeating: 0xC0, count: 0x7FFF)))
        #expect(throws: KafkaWireError.self) { _ = try r.nullableString() }  // the classic header reader too
        // A compact string over 0x7fff bytes (Kafka refuses it too), though every byte is there.
        var w = KafkaWriter()
        w.unsignedVarint(0x8000 + 1)
        w.buffer.writeBytes(Array(repeating: 0x61, count: 0x8000))
        r = KafkaReader(w.buffer)
        #expect(throws: KafkaWireError.invalid("s: string of 32768 bytes")) { _ = try r.string(flexible: true, "s") }
        w = KafkaWriter()
        w.unsignedVarint(0x7FFF + 1)
        w.buffer.writeBytes(Array(repeating: 0x61, count: 0x7FFF))
        r = KafkaReader(w.buffer)
        #expect(try r.string(flexible: true, "s").utf8.count == 0x7FFF)
    }

    @Test("a version outside the codec's range is refused by every decoder")
    func versionsOutside() {
        for c in Filled.messages {
            for v in [c.versions.lowerBound - 1, c.versions.upperBound + 1, -1, Int16.max] where !c.versions.contains(v) {
                #expect(throws: KafkaWireError.self, "\(c.name) v\(v)") { _ = try c.redecode(ByteBuffer(bytes: [0, 0, 0, 0]), v) }
            }
        }
    }
}
