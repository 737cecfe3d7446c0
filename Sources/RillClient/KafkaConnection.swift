import KafkaProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RillTLS

/// Why a client request failed.
public enum RillClientError: Error, CustomStringConvertible, Sendable {
    case connection(String)
    case protocolError(String)
    /// The broker answered with a Kafka error code.
    case kafka(ErrorCode, String)
    case timedOut(String)
    case noLeader(String)
    case configuration(String)
    case recordTooLarge(Int)
    case closed

    public var description: String {
        switch self {
        case .connection(let s): return "connection failed: \(s)"
        case .protocolError(let s): return "protocol error: \(s)"
        case .kafka(let code, let context): return "\(context): Kafka error \(code)"
        case .timedOut(let s): return "timed out: \(s)"
        case .noLeader(let s): return "no leader: \(s)"
        case .configuration(let s): return "bad configuration: \(s)"
        case .recordTooLarge(let n): return "record of \(n) bytes exceeds the 1 MiB batch limit"
        case .closed: return "the producer is closed"
        }
    }
}

/// One connection to one broker: requests go out framed with a correlation id; replies come back
/// in order and complete the matching request (a broker answers in request order).
final class KafkaConnection: @unchecked Sendable {
    let channel: Channel
    /// `host:port` as dialed: a closed channel no longer knows its remote address.
    let address: String
    private let handler: ReplyHandler

    /// Connects and, with TLS, waits for the handshake: a refused certificate is reported here,
    /// with OpenSSL's reason, rather than racing the first request as a bare "closed".
    static func connect(host: String, port: Int, group: EventLoopGroup, tls: TLSContext?) async throws -> KafkaConnection {
        let address = "\(host):\(port)"
        let handler = ReplyHandler(address: address)
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(3))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // A TLS session per connection; writes wait in it until the handshake is done.
                        if let tls { try channel.pipeline.syncOperations.addHandler(TLSHandler(context: tls)) }
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ResponseFrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(host: host, port: port).get()
            do {
                if tls != nil { try await channel.eventLoop.flatSubmit { handler.handshakeDone(channel.eventLoop) }.get() }
            } catch {
                channel.close(promise: nil)
                throw error
            }
            return KafkaConnection(channel: channel, address: address, handler: handler)
        } catch let error as RillClientError {
            throw error
        } catch {
            throw RillClientError.connection("\(address): \(error)")
        }
    }

    private init(channel: Channel, address: String, handler: ReplyHandler) {
        self.channel = channel
        self.address = address
        self.handler = handler
    }

    /// Send a request and wait for its response body (after the response header).
    func request(_ key: ApiKey, version: Int16, clientID: String, timeout: TimeAmount = .seconds(30), _ body: (inout KafkaWriter) -> Void)
        async throws -> KafkaReader
    {
        KafkaReader(try await requestFuture(key, version: version, clientID: clientID, timeout: timeout, body).get())
    }

    /// Send a request now; the future completes with its response body. Requests written from one
    /// thread go out in the order of the calls (the event loop runs submitted work in order), which
    /// the producer relies on for its pipelined batches.
    func requestFuture(_ key: ApiKey, version: Int16, clientID: String, timeout: TimeAmount = .seconds(30), _ body: (inout KafkaWriter) -> Void)
        -> EventLoopFuture<ByteBuffer>
    {
        var w = KafkaWriter()
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let correlation = handler.nextCorrelation()
        let header = RequestHeader(apiKey: key.rawValue, apiVersion: version, correlationID: correlation, clientID: clientID)
        header.encode(&w)
        body(&w)
        var framed = channel.allocator.buffer(capacity: w.buffer.readableBytes + 4)
        KafkaFrame.frame(w.buffer, into: &framed)
        let frame = framed
        let handler = self.handler
        let channel = self.channel
        let address = self.address
        let flexibleReply = header.responseHeaderIsFlexible
        channel.eventLoop.execute {
            guard channel.isActive else {
                promise.fail(handler.closeReason ?? RillClientError.connection("connection to \(address) is closed"))
                return
            }
            handler.expect(correlation, flexibleHeader: flexibleReply, promise)
            channel.writeAndFlush(frame, promise: nil)
        }
        // A broker answers in order, so one unanswered request stalls every later one: close.
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(RillClientError.timedOut("\(key) to \(address)"))
            channel.close(promise: nil)
        }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        return promise.futureResult
    }

    /// Send a request that gets no response (Produce with acks=0).
    func send(_ key: ApiKey, version: Int16, clientID: String, _ body: (inout KafkaWriter) -> Void) {
        var w = KafkaWriter()
        RequestHeader(apiKey: key.rawValue, apiVersion: version, correlationID: handler.nextCorrelation(), clientID: clientID).encode(&w)
        body(&w)
        var framed = ByteBuffer()
        KafkaFrame.frame(w.buffer, into: &framed)
        channel.writeAndFlush(framed, promise: nil)
    }

    var isActive: Bool { channel.isActive }

    func close() { channel.close(promise: nil) }
}

/// Response frames (`int32 size` + body) out of the byte stream.
final class ResponseFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try KafkaFrame.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }
}

/// Matches responses to waiting requests by correlation id, in order.
/// Its state is touched on the channel's event loop only (the lock guards the correlation counter,
/// which callers take from any thread).
final class ReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    /// Correlation id, whether the response header is v1 (flexible versions), the promise.
    private var waiting: [(correlation: Int32, flexibleHeader: Bool, promise: EventLoopPromise<ByteBuffer>)] = []
    private let lock = NIOLockedCorrelation()
    private let address: String
    /// With TLS: whether the handshake has completed, and who waits for it (the promise is made
    /// only once the channel exists, so a failed connect leaks none).
    private var handshakeCompleted = false
    private var handshake: EventLoopPromise<Void>?
    /// The first error that closed the connection, for requests that arrive after it.
    private(set) var closeReason: RillClientError?

    init(address: String) { self.address = address }

    func nextCorrelation() -> Int32 { lock.next() }

    func expect(_ correlation: Int32, flexibleHeader: Bool, _ promise: EventLoopPromise<ByteBuffer>) {
        waiting.append((correlation, flexibleHeader, promise))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !reply(unwrapInboundIn(data)) {
            context.fireErrorCaught(RillClientError.protocolError("a response nobody waits for"))
        }
    }

    /// Completes the request that `frame` answers with the body after the response header; false
    /// when no request waits for it.
    func reply(_ frame: ByteBuffer) -> Bool {
        // Both header versions start with the correlation id; the request it answers tells which follows.
        guard let id = frame.getInteger(at: frame.readerIndex, endianness: .big, as: Int32.self),
            let k = waiting.firstIndex(where: { $0.correlation == id })
        else { return false }
        let (_, flexibleHeader, promise) = waiting.remove(at: k)
        var r = KafkaReader(frame)
        do {
            _ = try ResponseHeader.decode(&r, flexible: flexibleHeader)
            promise.succeed(r.buffer)
        } catch {
            promise.fail(RillClientError.protocolError("response header from \(address): \(error)"))
        }
        return true
    }

    /// A future for the end of the TLS handshake (on the channel's event loop).
    func handshakeDone(_ loop: EventLoop) -> EventLoopFuture<Void> {
        if handshakeCompleted { return loop.makeSucceededVoidFuture() }
        if let closeReason { return loop.makeFailedFuture(closeReason) }
        let promise = handshake ?? loop.makePromise()
        handshake = promise
        return promise.futureResult
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSEvent {
            handshakeCompleted = true
            handshake?.succeed()
            handshake = nil
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A TLS refusal or a socket error: callers see one error type, with the cause in it.
        failAll(error as? RillClientError ?? RillClientError.connection("\(address): \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RillClientError.connection("closed by \(address)"))
        context.fireChannelInactive()
    }

    /// Fails everything waiting; the first reason is kept for later requests.
    private func failAll(_ error: RillClientError) {
        if closeReason == nil { closeReason = error }
        handshake?.fail(closeReason!)
        handshake = nil
        let all = waiting
        waiting = []
        for w in all { w.promise.fail(closeReason!) }
    }
}

/// A correlation id counter usable from any thread.
final class NIOLockedCorrelation: @unchecked Sendable {
    private let lock = NIOLock()
    private var value: Int32 = 0
    func next() -> Int32 {
        lock.withLock {
            value = value == Int32.max ? 1 : value + 1
            return value
        }
    }
}
