import Broker
import NIOCore
import NIOEmbedded
import Primitives
import Raft
import Testing

@testable import Transport

/// What a peer can make a node hold before and after its hello (issue 12 item 3): a frame that
/// promised 64 MiB and stalled before the hello held 65 MiB per connection.
struct PeerLinkLimitTests {
    /// The pipeline after TLS, up to (not including) the peer handler.
    func link(timeout: TimeAmount = .seconds(5)) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(PeerFrameDecoder()))
        try channel.pipeline.syncOperations.addHandler(PeerHelloDeadline(timeout: timeout))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7000)).wait()
        return channel
    }

    func bytes(_ frame: PeerFrame) -> ByteBuffer {
        var b = ByteBuffer()
        frame.encode(into: &b)
        return b
    }

    let hello = PeerFrame.hello(node: 2, cluster: "prod", version: PeerFrame.version)

    @Test("a 64 MiB length before the hello is refused on its four bytes and closes the link")
    func hugeLengthBeforeHello() throws {
        let channel = try link()
        var prefix = ByteBuffer()
        prefix.writeInteger(UInt32(64 * 1024 * 1024), endianness: .little)
        // Refused on the length alone: nothing of the promised payload is waited for or kept.
        #expect(throws: PeerFrame.DecodeError.self) { try channel.writeInbound(prefix) }
        #expect(!channel.isActive)
        // A length just over the hello bound is refused too; one within it waits for its bytes.
        let other = try link()
        var over = ByteBuffer()
        over.writeInteger(UInt32(PeerFrame.helloBytesMax + 1), endianness: .little)
        #expect(throws: PeerFrame.DecodeError.self) { try other.writeInbound(over) }
        let third = try link()
        var within = ByteBuffer()
        within.writeInteger(UInt32(1000), endianness: .little)
        try third.writeInbound(within)
        #expect(third.isActive)
        _ = try? third.finish()
    }

    @Test("the first frame must be a hello (a Raft message, a keepalive naming a run)")
    func firstFrameNotHello() throws {
        let frames: [PeerFrame] = [
            .raft([PeerEnvelope(group: 1, message: Message(kind: .heartbeat, from: 2, to: 1, term: 1))]),
            .alive(run: 7),
        ]
        for frame in frames {
            let channel = try link()
            #expect(throws: PeerFrame.DecodeError.self) { try channel.writeInbound(bytes(frame)) }
            #expect(!channel.isActive)
        }
    }

    @Test("a link with no hello is closed at the deadline; one that said hello stays")
    func helloDeadline() throws {
        let stalled = try link(timeout: .seconds(5))
        var partial = ByteBuffer()
        partial.writeInteger(UInt32(50), endianness: .little)
        partial.writeBytes([UInt8](repeating: 0, count: 10))
        try stalled.writeInbound(partial)
        stalled.embeddedEventLoop.advanceTime(by: .milliseconds(4900))
        #expect(stalled.isActive)
        stalled.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        #expect(!stalled.isActive)
        #expect(throws: PeerLinkError.self) { try stalled.throwIfErrorCaught() }

        let greeted = try link(timeout: .seconds(5))
        try greeted.writeInbound(bytes(hello))
        #expect(try greeted.readInbound(as: PeerFrame.self) == hello)
        greeted.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(greeted.isActive)
        _ = try? greeted.finish()
    }

    @Test("after the hello, frames up to the peer limit pass and a longer one is refused")
    func afterHello() throws {
        let channel = try link()
        try channel.writeInbound(bytes(hello))
        _ = try channel.readInbound(as: PeerFrame.self)
        // Larger than a hello may be: fine now.
        var app = Message(kind: .append, from: 2, to: 1, term: 1)
        app.entries = [Entry(term: 1, index: 1, data: [UInt8](repeating: 7, count: 200 * 1024))]
        let big = PeerFrame.raft([PeerEnvelope(group: 1, message: app)])
        try channel.writeInbound(bytes(big))
        #expect(try channel.readInbound(as: PeerFrame.self) == big)
        var over = ByteBuffer()
        over.writeInteger(UInt32(PeerFrame.bytesMax + 1), endianness: .little)
        #expect(throws: PeerFrame.DecodeError.tooLarge(PeerFrame.bytesMax + 1)) { try channel.writeInbound(over) }
        #expect(!channel.isActive)
    }

    @Test("a sender splits many groups' messages into frames the peer accepts, in order")
    func senderSplits() {
        let envelopes = (1...10).map { g in
            var m = Message(kind: .append, from: 1, to: 2, term: 1)
            m.entries = [Entry(term: 1, index: 1, data: [UInt8](repeating: UInt8(g), count: 1000))]
            return PeerEnvelope(group: GroupID(UInt32(g)), message: m)
        }
        let one = PeerMessageCodec.encodedBytesBound([envelopes[0]])
        let frames = PeerFrame.raftFrames(envelopes, boundMax: 3 * one)
        #expect(frames.map(\.count) == [3, 3, 3, 1])
        #expect(Array(frames.joined()) == envelopes)
        #expect(frames.allSatisfy { PeerMessageCodec.encodedBytesBound($0) - 6 <= 3 * one })
        #expect(PeerFrame.raftFrames(envelopes).count == 1)
    }
}
