import Broker
import CoreMetrics
import NIOCore
import Primitives
import RillTLS

/// The end of a peer connection's pipeline (after TLS and the frame codec): says hello once TLS
/// is up, checks the peer's hello against its certificate and the cluster, then hands frames to
/// the node runtime. Runs on the node's event loop.
final class PeerChannelHandler: ChannelInboundHandler {
    typealias InboundIn = PeerFrame
    typealias OutboundOut = ByteBuffer

    private let runtime: NodeRuntime
    /// The node this side dialed (nil on the accepting side).
    private let dialed: NodeID?
    private var certificateNode: NodeID?
    private var peer: NodeID?

    init(runtime: NodeRuntime, dialed: NodeID?) {
        self.runtime = runtime
        self.dialed = dialed
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSEvent, case .handshakeCompleted(let certificate) = tls {
            certificateNode = certificate?.nodeID.map { NodeID($0) }
            var hello = context.channel.allocator.buffer(capacity: 64)
            PeerFrame.hello(node: runtime.settings.nodeID, cluster: runtime.settings.cluster, version: PeerFrame.version)
                .encode(into: &hello)
            context.writeAndFlush(wrapOutboundOut(hello), promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .hello(let node, let cluster, let version):
            if let reason = check(node: node, cluster: cluster, version: version) {
                runtime.refused(remote: context.remoteAddress, peer: dialed ?? certificateNode, reason: reason)
                context.close(promise: nil)
                return
            }
            peer = node
            runtime.peerConnected(node, channel: context.channel, dialed: dialed != nil)
        case .raft(let envelopes):
            guard let peer else { return protocolError(context, "Raft messages before hello") }
            runtime.peerHeard(peer, channel: context.channel)
            // An empty one is the link's keepalive (NodeRuntime.watchLinks).
            if envelopes.isEmpty { return }
            // Messages must come from the node the certificate names.
            guard envelopes.allSatisfy({ $0.message.from == peer }) else {
                return protocolError(context, "messages claiming another sender")
            }
            runtime.receive(envelopes)
        case .forward(let command):
            guard let peer else { return protocolError(context, "forward before hello") }
            runtime.peerHeard(peer, channel: context.channel)
            // A node registers itself and asks for its own producer ids, never another's.
            switch command {
            case .registerBroker(let b) where b.node != peer:
                return protocolError(context, "broker registration for another node")
            case .allocateProducerIDs(let node, _) where node != peer:
                return protocolError(context, "producer ids for another node")
            default: break
            }
            runtime.receiveForward(command)
        case .leaders(let hints):
            guard let peer else { return protocolError(context, "leaders before hello") }
            runtime.peerHeard(peer, channel: context.channel)
            guard hints.allSatisfy({ $0.leader == peer }) else { return protocolError(context, "leadership claimed for another node") }
            runtime.receiveLeaders(hints)
        case .repair(let m):
            guard let peer else { return protocolError(context, "repair before hello") }
            runtime.peerHeard(peer, channel: context.channel)
            if case .request(_, let from, _) = m, from != peer { return protocolError(context, "repair request for another node") }
            runtime.receiveRepair(m)
        case .alive(let run):
            guard let peer else { return protocolError(context, "alive before hello") }
            runtime.peerHeard(peer, channel: context.channel, run: run)
        }
    }

    private func check(node: NodeID, cluster: String, version: UInt16) -> String? {
        if version != PeerFrame.version { return "peer speaks protocol version \(version), this node \(PeerFrame.version)" }
        if cluster != runtime.settings.cluster { return "peer belongs to cluster '\(LogText.safe(cluster))', this node to '\(runtime.settings.cluster)'" }
        guard let certified = certificateNode else { return "peer certificate names no node" }
        if node != certified { return "peer says it is node \(node) but its certificate is for node \(certified)" }
        if let dialed, node != dialed { return "dialed node \(dialed) but node \(node) answered" }
        if node == runtime.settings.nodeID { return "peer claims this node's own id \(node)" }
        if !runtime.settings.members.contains(node) { return "node \(node) is not a member of this cluster" }
        if dialed == nil && node > runtime.settings.nodeID {
            // Lower ids dial higher ones: one connection per pair.
            return "node \(node) has the higher id and must be dialed by this node, not dial it"
        }
        return nil
    }

    private func protocolError(_ context: ChannelHandlerContext, _ what: String) {
        runtime.refused(remote: context.remoteAddress, peer: peer ?? dialed, reason: "protocol error: \(what)")
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        runtime.refused(remote: context.remoteAddress, peer: dialed ?? peer, reason: LogText.safe("\(error)", cap: 400))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let peer { runtime.peerDisconnected(peer, channel: context.channel) }
        if let dialed { runtime.dialEnded(dialed, channel: context.channel) }
        context.fireChannelInactive()
    }
}

/// Counts the bytes that arrive (after TLS) on a peer link.
final class ByteCounter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let counter: CoreMetrics.Counter

    init(counter: CoreMetrics.Counter) { self.counter = counter }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        counter.increment(by: unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }
}
