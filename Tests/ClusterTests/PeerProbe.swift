import Foundation
import NIOCore
import NIOPosix
import Primitives
import RillTLS
import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// Connections a misbehaving or foreign peer would make.
enum PeerProbe {
    /// Connect, send plaintext, read until the node closes.
    static func plaintext(port: Int, bytes: [UInt8]) throws {
        let fd = try openSilent(port: port)
        defer { close(fd) }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        var tv = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        while recv(fd, &buffer, buffer.count, 0) > 0 {}
    }

    /// A TCP connection that sends nothing.
    static func openSilent(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let ok = withLoopbackAddress(port: port) { connect(fd, $0, $1) == 0 }
        guard ok else {
            close(fd)
            throw TestError("connect to \(port) failed")
        }
        return fd
    }

    /// TLS with the given certificate; once the handshake completes, a hello claiming `hello`.
    /// Returns when the node has closed the connection (or after 5 s), without holding a thread.
    static func tls(group: EventLoopGroup, port: Int, certificate: IssuedCertificate, trust: [UInt8], hello: UInt32) async throws {
        let context = try TLSContext(
            role: .client,
            configuration: .peerLink(certificatePEM: certificate.certificatePEM, privateKeyPEM: certificate.privateKeyPEM, clusterCAPEM: trust))
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(HelloSender(node: hello))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let closed = channel.closeFuture
        let timeout = group.next().scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
        try? await closed.get()
        timeout.cancel()
    }
}

/// Says hello as `node` of cluster "dev" once TLS is up.
final class HelloSender: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let node: UInt32
    init(node: UInt32) { self.node = node }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is TLSEvent {
            var b = context.channel.allocator.buffer(capacity: 64)
            PeerFrame.hello(node: NodeID(node), cluster: "dev", version: PeerFrame.version).encode(into: &b)
            context.writeAndFlush(wrapOutboundOut(b), promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}
