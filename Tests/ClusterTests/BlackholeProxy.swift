import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP proxy on loopback that can turn into a black hole: while `blackhole` is on, bytes in
/// either direction are dropped and connections stay open — a silent partition, as a firewall
/// that drops packets makes one (TCP sees no reset and calls the connection established for
/// many minutes). Connections accepted while it is on get no upstream (as if their SYN was
/// dropped) and are closed when it goes off, so the dialer tries again.
final class BlackholeProxy: @unchecked Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var server: Channel?
    private let state = NIOLockedValueBox(State())
    let upstreamPort: Int

    struct State {
        var blackhole = false
        var held: [Channel] = []
    }

    var port: Int { server?.localAddress?.port ?? 0 }

    init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        server = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] inbound in inbound.pipeline.addHandler(Inbound(proxy: self)) }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    var blackhole: Bool {
        get { state.withLockedValue { $0.blackhole } }
        set {
            let held = state.withLockedValue { s -> [Channel] in
                s.blackhole = newValue
                if newValue { return [] }
                defer { s.held = [] }
                return s.held
            }
            for c in held { c.close(promise: nil) }
        }
    }

    /// The accepted side: connects upstream when active (or is held, in a black hole), keeps
    /// what arrives before the upstream connection is up, then relays.
    final class Inbound: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let proxy: BlackholeProxy
        var partner: Channel?
        var pending: [ByteBuffer] = []
        init(proxy: BlackholeProxy) { self.proxy = proxy }

        func channelActive(context: ChannelHandlerContext) {
            let inbound = context.channel
            if proxy.blackhole {
                proxy.state.withLockedValue { $0.held.append(inbound) }
                return
            }
            ClientBootstrap(group: context.eventLoop)
                .channelInitializer { upstream in upstream.pipeline.addHandler(Relay(proxy: self.proxy, partner: inbound)) }
                .connect(host: "127.0.0.1", port: proxy.upstreamPort)
                .whenComplete { result in
                    switch result {
                    case .success(let upstream):
                        self.partner = upstream
                        for b in self.pending { upstream.write(b, promise: nil) }
                        self.pending = []
                        upstream.flush()
                    case .failure:
                        inbound.close(promise: nil)
                    }
                }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data)
            if proxy.blackhole { return }
            if let partner { partner.writeAndFlush(bytes, promise: nil) } else { pending.append(bytes) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            if let partner { proxy.closeOrOrphan(partner) }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
    }

    /// One side closed: the other hears of it, unless the proxy is a black hole (a FIN is dropped
    /// too); then it is closed at the heal, as the first segment it sends would meet a reset.
    func closeOrOrphan(_ other: Channel) {
        let now = state.withLockedValue { s -> Bool in
            if s.blackhole { s.held.append(other) }
            return !s.blackhole
        }
        if now { other.close(promise: nil) }
    }

    func stop() {
        try? server?.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// Copies what one side reads to the other (unless the proxy is a black hole now) and
    /// closes the other side when this one closes.
    final class Relay: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let proxy: BlackholeProxy
        let partner: Channel
        init(proxy: BlackholeProxy, partner: Channel) {
            self.proxy = proxy
            self.partner = partner
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data)
            if !proxy.blackhole { partner.writeAndFlush(bytes, promise: nil) }
        }
        func channelInactive(context: ChannelHandlerContext) {
            proxy.closeOrOrphan(partner)
            context.fireChannelInactive()
        }
        func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
    }
}
