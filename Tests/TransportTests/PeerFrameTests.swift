import Broker
import NIOCore
import Primitives
import Raft
import Testing
import Transport

struct PeerFrameTests {
    static let frames: [PeerFrame] = [
        .hello(node: 3, cluster: "prod", version: PeerFrame.version),
        .raft([PeerEnvelope(group: 7, message: Message(kind: .heartbeat, from: 1, to: 2, term: 5))]),
        .forward(.createTopic(name: "t", partitions: 2, replicationFactor: 3)),
        .alive(run: 0x1234_5678_9ABC_DEF0),
        .raft([PeerEnvelope(group: 9, message: Message(kind: .heartbeat, from: 2, to: 3, term: 4, commit: 8, quiesce: true))]),
    ]

    @Test("frames round-trip, also when they arrive a byte at a time")
    func roundTrip() throws {
        var all = ByteBuffer()
        for f in Self.frames { f.encode(into: &all) }
        var whole = all
        var decoded: [PeerFrame] = []
        while let f = try PeerFrame.decode(from: &whole) { decoded.append(f) }
        #expect(decoded == Self.frames)
        // Dripped: nil until a frame is whole, and nothing consumed before.
        var drip = ByteBuffer()
        decoded = []
        for byte in all.readableBytesView {
            drip.writeInteger(byte)
            while let f = try PeerFrame.decode(from: &drip) { decoded.append(f) }
        }
        #expect(decoded == Self.frames)
    }

    @Test("a flipped bit anywhere in a frame is caught")
    func flippedBits() throws {
        var one = ByteBuffer()
        Self.frames[1].encode(into: &one)
        let bytes = Array(one.readableBytesView)
        for i in 4..<bytes.count {
            for bit in [0, 7] {
                var damaged = bytes
                damaged[i] ^= UInt8(1 << bit)
                var b = ByteBuffer(bytes: damaged)
                #expect(throws: PeerFrame.DecodeError.self) { _ = try PeerFrame.decode(from: &b) }
            }
        }
    }

    @Test("an oversized or impossible length is refused before anything is allocated")
    func lengths() throws {
        var huge = ByteBuffer()
        huge.writeInteger(UInt32(PeerFrame.bytesMax + 1), endianness: .little)
        #expect(throws: PeerFrame.DecodeError.tooLarge(PeerFrame.bytesMax + 1)) { _ = try PeerFrame.decode(from: &huge) }
        var tiny = ByteBuffer()
        tiny.writeInteger(UInt32(2), endianness: .little)
        tiny.writeBytes([0, 0])
        #expect(throws: PeerFrame.DecodeError.self) { _ = try PeerFrame.decode(from: &tiny) }
    }

    @Test("an unknown kind or a bad payload is malformed, not a crash")
    func malformed() throws {
        for body: [UInt8] in [[9], [1, 1], [2, 0xFF, 0xFF, 0xFF, 0xFF], [3, 42]] {
            var b = ByteBuffer()
            b.writeInteger(UInt32(body.count + 4), endianness: .little)
            b.writeInteger(CRC32C.checksum(body), endianness: .little)
            b.writeBytes(body)
            #expect(throws: PeerFrame.DecodeError.self) { _ = try PeerFrame.decode(from: &b) }
        }
    }
}
