import Broker
import NIOCore

/// A peer packet on a byte stream: `u32 length` (little-endian) then the packet (`PeerPacket`:
/// checksum, kind, payload). One name for both, since a frame is just a packet with a length.
public typealias PeerFrame = PeerPacket

extension PeerPacket {
    /// Largest frame before the peer's hello arrived: a hello is a few dozen bytes. Until a peer
    /// has said who it is, it cannot make this node buffer more than this (a frame promising
    /// 64 MiB and stalling held 65 MiB per connection).
    public static let helloBytesMax = 64 * 1024

    public func encode(into buffer: inout ByteBuffer) {
        let bytes = encode()
        buffer.reserveCapacity(minimumWritableBytes: 4 + bytes.count)  // one allocation, no regrowth copies
        buffer.writeInteger(UInt32(bytes.count), endianness: .little)
        buffer.writeBytes(bytes)
    }

    /// Decode one frame from the front of `buffer`; nil when it is not all there yet. The length
    /// is checked against `limit` before anything is read or allocated.
    public static func decode(from buffer: inout ByteBuffer, limit: Int = bytesMax) throws(DecodeError) -> PeerPacket? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else { return nil }
        let size = Int(length)
        guard size <= limit else { throw .tooLarge(size) }
        guard size >= 5 else { throw .malformed("length \(size)") }
        guard buffer.readableBytes >= 4 + size else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return try decode(buffer.readBytes(length: size)!)
    }
}

/// Bytes to frames, for NIO pipelines. The first frame must be the hello, and may be at most
/// `helloBytesMax` long; later frames at most `bytesMax`. A length beyond the bound is refused
/// as soon as its four bytes arrive, so what a link buffers is bounded by the frame limit.
final class PeerFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = PeerFrame
    private var helloSeen = false

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if !helloSeen, let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self),
            Int(length) > PeerFrame.helloBytesMax
        {
            throw PeerFrame.DecodeError.malformed("first frame of \(length) bytes, but a hello is at most \(PeerFrame.helloBytesMax)")
        }
        guard let frame = try PeerFrame.decode(from: &buffer) else { return .needMoreData }
        if !helloSeen {
            guard case .hello = frame else { throw PeerFrame.DecodeError.malformed("first frame is not a hello") }
            helloSeen = true
        }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }
}

/// Why a peer link was closed before it was of any use.
enum PeerLinkError: Error, CustomStringConvertible {
    case noHello(milliseconds: Int64)

    var description: String {
        switch self {
        case .noHello(let ms): return "no hello within \(ms) ms of connecting"
        }
    }
}

/// Closes a peer link whose hello has not arrived within `timeout` of the connection (TLS
/// handshake included), and closes the link on any error (a frame too long, malformed, a
/// checksum mismatch) after passing it on for the log. Sits right after the frame decoder.
final class PeerHelloDeadline: ChannelInboundHandler {
    typealias InboundIn = PeerFrame
    typealias InboundOut = PeerFrame

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var helloSeen = false

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard deadline == nil, !helloSeen else { return }
        let timeout = timeout
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, !self.helloSeen else { return }
            context.fireErrorCaught(PeerLinkError.noHello(milliseconds: timeout.nanoseconds / 1_000_000))
            context.close(promise: nil)
        }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !helloSeen, case .hello = unwrapInboundIn(data) {
            helloSeen = true
            disarm()
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        disarm()
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}
