import NIOCore
import NIOEmbedded
import RillTLS

/// Records what reaches the end of a pipeline: plaintext, TLS events, errors.
final class Collector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var received: [UInt8] = []
    var completedPeers: [PeerCertificate?] = []
    var errors: [Error] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var b = unwrapInboundIn(data)
        received += b.readBytes(length: b.readableBytes) ?? []
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSEvent.handshakeCompleted(let peer) = event as? TLSEvent ?? .handshakeCompleted(nil), event is TLSEvent {
            completedPeers.append(peer)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { errors.append(error) }

    var tlsErrors: [TLSError] { errors.compactMap { $0 as? TLSError } }
}

/// A client and a server `EmbeddedChannel`, each with a `TLSHandler`, and a pump that carries
/// ciphertext between them (whole, or dripped a byte at a time).
final class TLSPair {
    let client = EmbeddedChannel()
    let server = EmbeddedChannel()
    let clientSeen = Collector()
    let serverSeen = Collector()

    init(
        client clientContext: TLSContext, server serverContext: TLSContext,
        clientCheck: @escaping TLSHandler.PeerCheck = { _ in nil },
        serverCheck: @escaping TLSHandler.PeerCheck = { _ in nil },
        timeout: TimeAmount = .seconds(10)
    ) throws {
        try client.pipeline.syncOperations.addHandler(
            TLSHandler(context: clientContext, handshakeTimeout: timeout, verifyPeer: clientCheck))
        try client.pipeline.syncOperations.addHandler(clientSeen)
        try server.pipeline.syncOperations.addHandler(
            TLSHandler(context: serverContext, handshakeTimeout: timeout, verifyPeer: serverCheck))
        try server.pipeline.syncOperations.addHandler(serverSeen)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 9)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
    }

    /// Carry bytes both ways until neither side has anything to send. Returns the bytes moved.
    @discardableResult
    func pump(drip: Bool = false) throws -> Int {
        var moved = 0
        while true {
            let a = try carry(from: client, to: server, drip: drip)
            let b = try carry(from: server, to: client, drip: drip)
            moved += a + b
            if a == 0 && b == 0 { return moved }
        }
    }

    private func carry(from: EmbeddedChannel, to: EmbeddedChannel, drip: Bool) throws -> Int {
        var moved = 0
        while let buffer = try from.readOutbound(as: ByteBuffer.self) {
            moved += buffer.readableBytes
            guard to.isActive else { continue }
            if drip {
                for byte in buffer.readableBytesView {
                    var one = to.allocator.buffer(capacity: 1)
                    one.writeInteger(byte)
                    try to.writeInbound(one)
                }
            } else {
                try to.writeInbound(buffer)
            }
        }
        return moved
    }

    func send(from channel: EmbeddedChannel, _ text: String) throws {
        var b = channel.allocator.buffer(capacity: text.utf8.count)
        b.writeString(text)
        try channel.writeAndFlush(b).wait()
    }

    func finish() {
        _ = try? client.finish()
        _ = try? server.finish()
    }
}
