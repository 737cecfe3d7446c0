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
    private let handler: ReplyHandler

    static func connect(host: String, port: Int, group: EventLoopGroup, tls: TLSContext?) async throws -> KafkaConnection {
        let handler = ReplyHandler()
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
            return KafkaConnection(channel: channel, handler: handler)
        } catch {
            throw RillClientError.connection("\(host):\(port): \(error)")
        }
    }

    private init(channel: Channel, handler: ReplyHandler) {
        self.channel = channel
        self.handler = handler
    }

    /// Send a request and wait for its response body (after the correlation id).
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
        RequestHeader(apiKey: key.rawValue, apiVersion: version, correlationID: correlation, clientID: clientID).encode(&w)
        body(&w)
        var framed = channel.allocator.buffer(capacity: w.buffer.readableBytes + 4)
        KafkaFrame.frame(w.buffer, into: &framed)
        let frame = framed
        let handler = self.handler
        let channel = self.channel
        channel.eventLoop.execute {
            guard channel.isActive else {
                promise.fail(RillClientError.connection("connection to \(channel.remoteAddress.map { "\($0)" } ?? "?") is closed"))
                return
            }
            handler.expect(correlation, promise)
            channel.writeAndFlush(frame, promise: nil)
        }
        // A broker answers in order, so one unanswered request stalls every later one: close.
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(RillClientError.timedOut("\(key) to \(channel.remoteAddress.map { "\($0)" } ?? "?")"))
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
final class ReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private var waiting: [(Int32, EventLoopPromise<ByteBuffer>)] = []
    private let lock = NIOLockedCorrelation()

    func nextCorrelation() -> Int32 { lock.next() }

    func expect(_ correlation: Int32, _ promise: EventLoopPromise<ByteBuffer>) { waiting.append((correlation, promise)) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var body = unwrapInboundIn(data)
        guard let id = body.readInteger(endianness: .big, as: Int32.self), let k = waiting.firstIndex(where: { $0.0 == id }) else {
            context.fireErrorCaught(RillClientError.protocolError("a response nobody waits for"))
            return
        }
        let (_, promise) = waiting.remove(at: k)
        promise.succeed(body)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A TLS refusal or a socket error: callers see one error type, with the cause in it.
        let peer = context.remoteAddress.map { "\($0)" } ?? "the broker"
        failAll(error as? RillClientError ?? RillClientError.connection("\(peer): \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RillClientError.connection("closed by \(context.remoteAddress.map { "\($0)" } ?? "the broker")"))
    }

    private func failAll(_ error: Error) {
        let all = waiting
        waiting = []
        for (_, p) in all { p.fail(error) }
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
