import Broker
import NIOCore
import Primitives
import Raft

/// What travels between two nodes, one frame at a time:
///
///     u32 length   bytes after this field (kind + payload + 4)
///     u32 crc32c   over kind and payload
///     u8  kind     1 hello, 2 raft, 3 forward
///     payload
///
/// TLS already protects the bytes in flight; the checksum catches bugs on either end (a frame
/// cut or spliced by a faulty buffer), which would otherwise reach Raft as garbage.
public enum PeerFrame: Equatable, Sendable {
    /// Sent by both ends once TLS is up: who this is, of which cluster, speaking which version.
    case hello(node: NodeID, cluster: String, version: UInt16)
    /// Raft messages of any number of groups (the same codec the simulator uses).
    case raft([PeerEnvelope])
    /// A controller command for the controller leader to propose.
    case forward(ControllerCommand)

    public static let version: UInt16 = 1
    /// Largest frame accepted: a bound on what a peer can make this node allocate.
    public static let bytesMax = 64 * 1024 * 1024

    public func encode(into buffer: inout ByteBuffer) {
        var w = ByteWriter()
        switch self {
        case .hello(let node, let cluster, let version):
            w.u8(1)
            w.u32(UInt32(version))
            w.u32(node.value)
            w.blob(Array(cluster.utf8))
        case .raft(let envelopes):
            w.u8(2)
            w.raw(PeerMessageCodec.encode(envelopes))
        case .forward(let command):
            w.u8(3)
            w.raw(command.encode())
        }
        let body = w.bytes
        buffer.writeInteger(UInt32(body.count + 4), endianness: .little)
        buffer.writeInteger(CRC32C.checksum(body), endianness: .little)
        buffer.writeBytes(body)
    }

    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case tooLarge(Int)
        case checksumMismatch
        case malformed(String)

        public var description: String {
            switch self {
            case .tooLarge(let n): return "peer frame of \(n) bytes exceeds the \(PeerFrame.bytesMax)-byte limit"
            case .checksumMismatch: return "peer frame checksum mismatch"
            case .malformed(let why): return "malformed peer frame: \(why)"
            }
        }
    }

    /// Decode one frame from the front of `buffer`; nil when it is not all there yet.
    public static func decode(from buffer: inout ByteBuffer) throws(DecodeError) -> PeerFrame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else { return nil }
        let size = Int(length)
        guard size <= bytesMax else { throw .tooLarge(size) }
        guard size >= 5 else { throw .malformed("length \(size)") }
        guard buffer.readableBytes >= 4 + size else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        let crc: UInt32 = buffer.readInteger(endianness: .little)!
        let body = buffer.readBytes(length: size - 4)!
        guard CRC32C.checksum(body) == crc else { throw .checksumMismatch }
        var r = ByteReader(body)
        do {
            switch try r.u8() {
            case 1:
                let version = try r.u32()
                let node = NodeID(try r.u32())
                let cluster = String(decoding: try r.blob(), as: UTF8.self)
                try r.expectEnd()
                guard version <= UInt32(UInt16.max) else { throw WireError.invalid("version \(version)") }
                return .hello(node: node, cluster: cluster, version: UInt16(version))
            case 2:
                return .raft(try PeerMessageCodec.decode(Array(body.dropFirst())))
            case 3:
                return .forward(try ControllerCommand.decode(Array(body.dropFirst())))
            case let kind:
                throw WireError.invalid("frame kind \(kind)")
            }
        } catch {
            throw .malformed("\(error)")
        }
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

/// Frames to bytes.
final class PeerFrameEncoder: MessageToByteEncoder {
    typealias OutboundIn = PeerFrame

    func encode(data: PeerFrame, out: inout ByteBuffer) throws {
        data.encode(into: &out)
    }
}
