import Broker
import KafkaProtocol
import RillTLS
import NIOCore
import NIOPosix
import Primitives

/// The Kafka client listener: plaintext by default, TLS when configured (`kafka.tls`). Each
/// connection's requests are answered in the order they came, however long each takes: Kafka
/// clients pipeline requests and match responses by order.
enum KafkaListener {
    static func bind(runtime: NodeRuntime, on loop: EventLoop, at address: HostPort, tls: TLSContext?) throws -> Channel {
        try ServerBootstrap(group: loop)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(TLSHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(KafkaConnectionHandler(runtime: runtime))
                }
            }
            .bind(host: address.host, port: address.port).wait()
    }
}

/// Whole Kafka frames out of the byte stream; a size beyond the limit closes the connection
/// before anything is read for it.
final class KafkaFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let limit: Int

    init(limit: Int = KafkaFrame.requestBytesMaxDefault) { self.limit = limit }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try KafkaFrame.next(from: &buffer, limit: limit) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }
}

/// One client connection: parses each request's header, hands the request to the node, and
/// writes replies strictly in request order (a reply that is ready early waits for the ones before
/// it; a Produce with acks=0 takes its turn without writing anything). Reads stop while the
/// unanswered requests exceed `KafkaReadBudget` and resume as answers go out (NIO's idiom: the
/// `read` event is held, not passed on).
final class KafkaConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let runtime: NodeRuntime
    private var id: UInt64 = 0
    private var nextSequence: UInt64 = 0
    private var nextToWrite: UInt64 = 0
    /// Replies ready out of order, by sequence (nil: no reply to write).
    private var ready: [UInt64: ByteBuffer?] = [:]
    private var context: ChannelHandlerContext?

    /// Produce requests in flight and when they were read (for `rill_kafka_produce_seconds`).
    private var produceStarted: [(UInt64, NIODeadline)] = []
    /// What is read and not yet answered; a `read` held while it is over budget.
    private var budget = KafkaReadBudget()
    private var readHeld = false

    init(runtime: NodeRuntime) { self.runtime = runtime }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        id = runtime.kafkaConnectionOpened(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        runtime.kafkaConnectionClosed(id)
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        var r = KafkaReader(frame)
        budget.read(nextSequence, size: frame.readableBytes)
        let header: RequestHeader
        do {
            header = try RequestHeader.decode(&r)
        } catch {
            refuse(context, "unreadable request header: \(LogText.safe("\(error)"))")
            return
        }
        let sequence = nextSequence
        nextSequence += 1
        if header.apiKey == ApiKey.produce.rawValue { produceStarted.append((sequence, .now())) }
        switch runtime.kafka(KafkaRequest(connection: id, sequence: sequence, header: header, body: r.buffer)) {
        case .respond(let bytes): complete(sequence, bytes)
        case .noResponse: complete(sequence, nil)
        case .pending: break
        case .close(let reason):
            refuse(context, "\(LogText.safe(reason, cap: 400, escapeBackslash: false)) (client \(header.clientID.map { LogText.safe($0) } ?? "-"))")
        }
    }

    /// A reply is ready; write it and any that were waiting behind it.
    func complete(_ sequence: UInt64, _ response: ByteBuffer?) {
        guard let context else { return }
        if let k = produceStarted.firstIndex(where: { $0.0 == sequence }) {
            // acks=0 has no response: only answered produces count.
            if response != nil { runtime.metrics.produceLatency.recordNanoseconds((NIODeadline.now() - produceStarted[k].1).nanoseconds) }
            produceStarted.remove(at: k)
        }
        ready[sequence] = .some(response)
        budget.answered(sequence)
        var wrote = false
        while let next = ready.removeValue(forKey: nextToWrite) {
            if let bytes = next {
                context.write(wrapOutboundOut(bytes), promise: nil)
                wrote = true
            }
            nextToWrite += 1
        }
        if wrote { context.flush() }
        if readHeld && budget.mayRead {
            readHeld = false
            context.read()
        }
    }

    /// Reads pass only while the connection is within its budget of unanswered requests.
    func read(context: ChannelHandlerContext) {
        if budget.mayRead {
            context.read()
        } else {
            readHeld = true
        }
    }

    private func refuse(_ context: ChannelHandlerContext, _ reason: String) {
        runtime.kafkaRefused(remote: context.remoteAddress, reason: reason)
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        refuse(context, LogText.safe("\(error)", cap: 400))
    }
}
