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
        let frame = unwrapInboundIn(data)
        if case .hello(let node, let cluster, let version) = frame {
            if let reason = check(node: node, cluster: cluster, version: version) {
                runtime.refused(remote: context.remoteAddress, peer: dialed ?? certificateNode, reason: reason)
                context.close(promise: nil)
                return
            }
            peer = node
            runtime.peerConnected(node, channel: context.channel, dialed: dialed != nil)
            return
        }
        guard let peer else { return protocolError(context, "\(frame.kindName) before hello") }
        // A node speaks only for itself (its certificate's node): anything else closes the link.
        if let problem = frame.senderProblem(peer: peer) { return protocolError(context, problem) }
        switch frame {
        case .hello:
            break  // handled above
        case .raft(let envelopes):
            runtime.peerHeard(peer, channel: context.channel)
            // An empty one is the link's keepalive (NodeRuntime.watchLinks).
            if envelopes.isEmpty { return }
            runtime.receive(envelopes)
        case .forward(let command):
            runtime.peerHeard(peer, channel: context.channel)
            runtime.receiveForward(command)
        case .leaders(let hints):
            runtime.peerHeard(peer, channel: context.channel)
            runtime.receiveLeaders(hints)
        case .repair(let m):
            runtime.peerHeard(peer, channel: context.channel)
            runtime.receiveRepair(m)
        case .transaction(let m):
            runtime.peerHeard(peer, channel: context.channel)
            runtime.receiveTransaction(m, from: peer)
        case .alive(let run):
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
        if runtime.isRemoved(node) { return "node \(node) was removed from this cluster" }
        if runtime.isRemoved(runtime.settings.nodeID) { return "this node (\(runtime.settings.nodeID)) was removed from the cluster" }
        if dialed == nil && node > runtime.settings.nodeID && runtime.knowsAddress(of: node) {
            // Lower ids dial higher ones: one connection per pair. (A joining node, whose address
            // this node does not know yet, dials in.)
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
