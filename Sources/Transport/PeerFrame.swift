import Broker
import NIOCore

/// A peer packet on a byte stream: `u32 length` (little-endian) then the packet (`PeerPacket`:
/// checksum, kind, payload). One name for both, since a frame is just a packet with a length.
public typealias PeerFrame = PeerPacket

extension PeerPacket {
    public func encode(into buffer: inout ByteBuffer) {
        let bytes = encode()
        buffer.reserveCapacity(minimumWritableBytes: 4 + bytes.count)  // one allocation, no regrowth copies
        buffer.writeInteger(UInt32(bytes.count), endianness: .little)
        buffer.writeBytes(bytes)
    }

    /// Decode one frame from the front of `buffer`; nil when it is not all there yet. The length
    /// is checked before anything is read or allocated.
    public static func decode(from buffer: inout ByteBuffer) throws(DecodeError) -> PeerPacket? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else { return nil }
        let size = Int(length)
        guard size <= bytesMax else { throw .tooLarge(size) }
        guard size >= 5 else { throw .malformed("length \(size)") }
        guard buffer.readableBytes >= 4 + size else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return try decode(buffer.readBytes(length: size)!)
    }
}

/// Bytes to frames, for NIO pipelines.
final class PeerFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = PeerFrame

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try PeerFrame.decode(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }
}
