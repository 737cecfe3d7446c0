import KafkaProtocol
import NIOCore
import Testing

func hex(_ s: String) -> ByteBuffer {
    var out = ByteBuffer()
    var chars = Array(s.utf8)
    if chars.count % 2 == 1 { chars.insert(48, at: 0) }
    for i in stride(from: 0, to: chars.count, by: 2) {
        out.writeInteger(UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16)!)
    }
    return out
}

func hexString(_ b: ByteBuffer) -> String {
    let digits = Array("0123456789abcdef")
    return String(b.readableBytesView.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
}

/// Unframe a golden request and read its header.
func request(_ golden: String) throws -> (RequestHeader, KafkaReader) {
    var framed = hex(golden)
    let body = try #require(try KafkaFrame.next(from: &framed))
    #expect(framed.readableBytes == 0)
    var r = KafkaReader(body)
    return (try RequestHeader.decode(&r), r)
}

/// `value` encoded at `version`.
func encoded<T: KafkaMessage>(_ value: T, _ version: Int16) -> ByteBuffer {
    var w = KafkaWriter()
    value.encode(&w, version: version)
    return w.buffer
}

/// `bytes` decoded at `version`, every byte used.
func decoded<T: KafkaMessage>(_ type: T.Type, _ bytes: ByteBuffer, _ version: Int16) throws(KafkaWireError) -> T {
    var r = KafkaReader(bytes)
    let value = try T.decode(&r, version: version)
    try r.expectEnd("\(T.self) v\(version)")
    return value
}

/// How `Filled` (FilledMessages.swift, generated from Kafka's JSON) fills a message: the fields
/// of version `v` only, or every field of every version (`all`), which the encoder of version
/// `v` must drop where they do not exist; nullable fields nil where nullable (`nulls`).
struct Fill: Sendable {
    var all = false
    var nulls = false
    /// No field set: the type's default value.
    var none = false

    func has(_ v: Int16, _ lo: Int16, _ hi: Int16) -> Bool { !none && (all || (lo...hi).contains(v)) }
    func null(_ v: Int16, _ lo: Int16, _ hi: Int16) -> Bool { nulls && (lo...hi).contains(v) }
}

/// What the generic checks do with bytes that decode: the decoded value, re-encoded; and whether
/// that re-encoding decodes to the same value.
struct Redecoded {
    var bytes: ByteBuffer
    var stable: Bool
    var description: String
}

/// One generated request or response type, with its filled builder, type-erased so every check
/// can run over all of them.
struct MessageCase: Sendable, CustomTestStringConvertible {
    let name: String
    let apiKey: Int16
    let versions: ClosedRange<Int16>
    let flexibleFrom: Int16?
    /// The filled value of version `v`, encoded at `v`.
    let encodeFilled: @Sendable (Int16, Fill) -> ByteBuffer
    /// Whether `bytes` decode at `v` to exactly the filled value (every byte used); a
    /// description of both when not.
    let decodesToFilled: @Sendable (ByteBuffer, Int16, Fill) throws(KafkaWireError) -> (Bool, String)
    /// Decode (every byte used), re-encode, decode again.
    let redecode: @Sendable (ByteBuffer, Int16) throws(KafkaWireError) -> Redecoded
    /// Whether the filled value of `v` differs from the type's default value.
    let filledIsNotDefault: @Sendable (Int16, Fill) -> Bool

    var testDescription: String { name }

    static func make<T: KafkaMessage>(_ type: T.Type, _ build: @escaping @Sendable (Int16, Fill) -> T) -> MessageCase {
        MessageCase(
            name: "\(T.self)", apiKey: T.apiKey, versions: T.versions, flexibleFrom: T.flexibleFrom,
            encodeFilled: { v, f in encoded(build(v, f), v) },
            decodesToFilled: { bytes, v, f throws(KafkaWireError) in
                let got = try decoded(T.self, bytes, v)
                let want = build(v, f)
                return got == want ? (true, "") : (false, "decoded \(got)\nexpected \(want)")
            },
            redecode: { bytes, v throws(KafkaWireError) in
                let first = try decoded(T.self, bytes, v)
                let again = encoded(first, v)
                do {
                    let second = try decoded(T.self, again, v)
                    // (Described only when it matters: describing a value is slow.)
                    return Redecoded(bytes: again, stable: first == second, description: first == second ? "" : "\(first)\nthen \(second)")
                } catch {
                    return Redecoded(bytes: again, stable: false, description: "\(first)\nre-encoded does not decode: \(error)")
                }
            },
            filledIsNotDefault: { v, f in build(v, f) != build(v, Fill(none: true)) })
    }
}
