import NIOCore

/// Events the TLS handler sends up the pipeline.
public enum TLSEvent: Sendable {
    /// The handshake finished and the peer passed every check; its certificate, if it sent one.
    case handshakeCompleted(PeerCertificate?)
}

/// A SwiftNIO handler that runs a `TLSSession` (OpenSSL through memory BIOs) between the socket
/// and the handlers after it: ciphertext below, plaintext above. Structured like swift-nio-ssl's
/// `NIOSSLHandler`: a small state machine, writes held until the handshake completes, a
/// close_notify on close, and a handshake deadline.
///
/// Failures (a bad certificate, plaintext on the port, a stalled handshake, a peer the
/// `verifyPeer` check refuses) go up as a `TLSError` through `errorCaught`, once, and close the
/// connection; the alert OpenSSL prepared for the peer is sent first.
public final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Returns nil to accept the peer, or why it is refused.
    public typealias PeerCheck = @Sendable (PeerCertificate?) -> String?

    private enum State {
        case idle
        case handshaking
        case active
        case closed
    }

    private let session: TLSSession
    private let handshakeTimeout: TimeAmount
    private let verifyPeer: PeerCheck
    private var state = State.idle
    private var heldWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var deadline: Scheduled<Void>?
    /// The verified peer, once the handshake has completed.
    public private(set) var peer: PeerCertificate?

    public init(
        context tls: TLSContext, handshakeTimeout: TimeAmount = .seconds(10), verifyPeer: @escaping PeerCheck = { _ in nil }
    ) throws(TLSError) {
        self.session = try tls.makeSession()
        self.handshakeTimeout = handshakeTimeout
        self.verifyPeer = verifyPeer
    }

    // MARK: - Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if state == .handshaking || state == .idle {
            state = .closed
            deadline?.cancel()
            failHeldWrites(TLSError.closedDuringHandshake)
            context.fireErrorCaught(TLSError.closedDuringHandshake)
        }
        state = .closed
        context.fireChannelInactive()
    }

    private func start(context: ChannelHandlerContext) {
        guard state == .idle else { return }
        state = .handshaking
        let timeout = handshakeTimeout
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, self.state == .handshaking else { return }
            self.fail(context: context, TLSError.handshakeTimedOut(milliseconds: timeout.nanoseconds / 1_000_000))
        }
        if session.role == .client { handshakeStep(context: context) }
    }

    // MARK: - Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard state != .closed else { return }
        buffer.withUnsafeReadableBytes { session.receive($0) }
        switch state {
        case .idle, .handshaking:
            handshakeStep(context: context)
        case .active:
            readPlaintext(context: context)
        case .closed:
            break
        }
    }

    private func handshakeStep(context: ChannelHandlerContext) {
        let progress: TLSSession.HandshakeProgress
        do {
            progress = try session.handshake()
        } catch {
            fail(context: context, error)
            return
        }
        sendOutbound(context: context, flush: true)
        guard progress == .complete else { return }
        let certificate = session.peerCertificate
        if let reason = verifyPeer(certificate) {
            fail(context: context, TLSError.peerRejected(reason))
            return
        }
        deadline?.cancel()
        deadline = nil
        state = .active
        peer = certificate
        context.fireUserInboundEventTriggered(TLSEvent.handshakeCompleted(certificate))
        // Writes made during the handshake go now, in order.
        let held = heldWrites
        heldWrites = []
        for (data, promise) in held { encrypt(context: context, data, promise: promise) }
        if !held.isEmpty { context.flush() }
        // Application data may have come with the handshake's last flight.
        readPlaintext(context: context)
    }

    /// Decrypt everything buffered, into as few buffers as possible (one per call when it fits):
    /// each `fireChannelRead` and each allocation costs more than the bytes it carries.
    private func readPlaintext(context: ChannelHandlerContext) {
        var peerClosed = false
        var failure: TLSError?
        while state == .active && failure == nil && !peerClosed {
            // Plaintext is never longer than the ciphertext waiting for it.
            let capacity = max(16 * 1024, min(session.inboundCount, 1 << 20))
            var buffer = context.channel.allocator.buffer(capacity: capacity)
            var full = false
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { raw in
                var filled = 0
                while filled < raw.count {
                    let step: TLSSession.ReadStep
                    do throws(TLSError) {
                        step = try session.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
                    } catch {
                        failure = error
                        break
                    }
                    switch step {
                    case .bytes(let n): filled += n
                    case .wantMore: return filled
                    case .closed:
                        peerClosed = true
                        return filled
                    }
                }
                full = filled == raw.count
                return filled
            }
            if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
            if !full { break }
        }
        if let failure {
            fail(context: context, failure)
            return
        }
        sendOutbound(context: context, flush: true)
        if peerClosed {
            // The peer said close_notify: no more data will come.
            state = .closed
            context.close(promise: nil)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
    }

    // MARK: - Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        switch state {
        case .idle, .handshaking:
            heldWrites.append((buffer, promise))
        case .active:
            encrypt(context: context, buffer, promise: promise)
        case .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        if state == .active { context.flush() }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all && state == .active {
            session.shutdown()
            sendOutbound(context: context, flush: true)
        }
        if mode == .all {
            if state != .closed { deadline?.cancel() }
            state = .closed
            failHeldWrites(ChannelError.ioOnClosedChannel)
        }
        context.close(mode: mode, promise: promise)
    }

    private func encrypt(context: ChannelHandlerContext, _ data: ByteBuffer, promise: EventLoopPromise<Void>?) {
        var failure: TLSError?
        data.withUnsafeReadableBytes { raw in
            do throws(TLSError) { try session.write(raw) } catch { failure = error }
        }
        if let failure {
            promise?.fail(failure)
            fail(context: context, failure)
            return
        }
        guard let out = takeCiphertext(context: context) else {
            promise?.succeed()
            return
        }
        context.write(wrapOutboundOut(out), promise: promise)
    }

    /// Everything OpenSSL has queued for the peer, as one buffer.
    private func takeCiphertext(context: ChannelHandlerContext) -> ByteBuffer? {
        let count = session.outboundCount
        guard count > 0 else { return nil }
        var out = context.channel.allocator.buffer(capacity: count)
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { session.takeOutbound(into: $0) }
        return out
    }

    private func sendOutbound(context: ChannelHandlerContext, flush: Bool) {
        guard let out = takeCiphertext(context: context) else { return }
        context.write(wrapOutboundOut(out), promise: nil)
        if flush { context.flush() }
    }

    // MARK: - Failure

    private func fail(context: ChannelHandlerContext, _ error: Error) {
        guard state != .closed else { return }
        state = .closed
        deadline?.cancel()
        deadline = nil
        // An alert for the peer (unknown CA, bad certificate, ...) says why, on its side too.
        sendOutbound(context: context, flush: true)
        failHeldWrites(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func failHeldWrites(_ error: Error) {
        let held = heldWrites
        heldWrites = []
        for (_, promise) in held { promise?.fail(error) }
    }
}
