import ArgumentParser
import NIOCore
import NIOPosix
import RillTLS

import CMalloc

/// `rill-bench tls`: how fast a peer link moves bytes over loopback with TLS (the RillTLS handler
/// on the system OpenSSL, TLS 1.3, mutual) against the same link in plaintext, in the same run.
/// The figure that matters is the ratio (aim: TLS ≥ 0.7 × plaintext).
struct TLSBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls", abstract: "Peer-link throughput over loopback: TLS against plaintext, same run.")

    @Option(help: "MiB sent per run.") var mebibytes = 1024
    @Option(help: "Bytes per write (a peer frame).") var frameBytes = 65536
    @Option(help: "Runs of each kind (alternating); the best of each counts.") var runs = 3

    func run() throws {
        // As `rill serve` does: keep freed memory instead of returning it to the kernel at once
        // (otherwise every 64 KiB ciphertext buffer costs fresh page faults).
        _ = rill_keep_freed_memory()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let ca = try CertificateAuthority(name: "bench")
        let a = try ca.issueNodeCertificate(node: 1)
        let b = try ca.issueNodeCertificate(node: 2)
        let server = try TLSContext(
            role: .server, configuration: .peerLink(certificatePEM: b.certificatePEM, privateKeyPEM: b.privateKeyPEM, clusterCAPEM: ca.certificatePEM))
        let client = try TLSContext(
            role: .client, configuration: .peerLink(certificatePEM: a.certificatePEM, privateKeyPEM: a.privateKeyPEM, clusterCAPEM: ca.certificatePEM))
        let total = mebibytes * 1024 * 1024
        var best: [Bool: Double] = [false: 0, true: 0]
        for run in 0..<(2 * runs) {
            let tls = run % 2 == 1
            let rate = try measure(group: group, tls: tls ? (server, client) : nil, total: total)
            best[tls] = max(best[tls]!, rate)
            print("run \(run / 2 + 1) \(tls ? "tls      " : "plaintext"): \(Int(rate)) MiB/s")
        }
        let plain = best[false]!
        let secure = best[true]!
        let memory = try inMemory(server: server, client: client, total: total / 4)
        print("plaintext best: \(Int(plain)) MiB/s")
        print("tls best:       \(Int(secure)) MiB/s")
        print("tls in memory (encrypt + decrypt on one core, no sockets): \(Int(memory)) MiB/s")
        print("ratio tls/plaintext: \(Double(Int(secure / plain * 100)) / 100) (aim >= 0.70)")
    }

    /// Two sessions pumping records to each other in memory: the cost of TLS alone.
    func inMemory(server: TLSContext, client: TLSContext, total: Int) throws -> Double {
        let a = try client.makeSession()
        let b = try server.makeSession()
        var done = false
        for _ in 0..<20 where !done {
            _ = try a.handshake()
            b.receive(a.takeOutbound())
            _ = try b.handshake()
            a.receive(b.takeOutbound())
            done = a.handshakeComplete && b.handshakeComplete
        }
        let frame = [UInt8](repeating: 7, count: frameBytes)
        var out = [UInt8](repeating: 0, count: frameBytes + 1024)
        let clock = ContinuousClock()
        let start = clock.now
        var sent = 0
        while sent < total {
            try a.write(frame)
            b.receive(a.takeOutbound())
            var got = 0
            while got < frame.count {
                guard case .bytes(let n) = try out.withUnsafeMutableBytes({ try b.read(into: $0) }) else { break }
                got += n
            }
            sent += frame.count
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(total) / 1_048_576 / seconds
    }

    /// Send `total` bytes client → server; MiB/s from the first byte written to the last received.
    func measure(group: EventLoopGroup, tls: (server: TLSContext, client: TLSContext)?, total: Int) throws -> Double {
        let done = group.next().makePromise(of: Void.self)
        let sink = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(TLSHandler(context: tls.server)) }
                    try channel.pipeline.syncOperations.addHandler(Sink(expected: total, done: done))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? sink.close().wait() }
        let ready = group.next().makePromise(of: Void.self)
        let channel = try ClientBootstrap(group: group)
            .channelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 8 << 20))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(TLSHandler(context: tls.client)) }
                    try channel.pipeline.syncOperations.addHandler(ReadySignal(tls: tls != nil, ready: ready))
                }
            }
            .connect(to: sink.localAddress!).wait()
        defer { try? channel.close().wait() }
        try ready.futureResult.wait()  // the handshake is not part of the figure
        let clock = ContinuousClock()
        let start = clock.now
        let frame = frameBytes
        try channel.eventLoop.submit {
            let source = Source(channel: channel, remaining: total, frameBytes: frame)
            try channel.pipeline.syncOperations.addHandler(source)
            source.pump()
        }.wait()
        try done.futureResult.wait()
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(total) / 1_048_576 / seconds
    }
}

/// Counts bytes; completes `done` when all have arrived.
final class Sink: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let expected: Int
    var received = 0
    let done: EventLoopPromise<Void>
    init(expected: Int, done: EventLoopPromise<Void>) {
        self.expected = expected
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytes
        if received >= expected { done.succeed() }
    }
}

/// Completes `ready` when the channel can carry data (after the TLS handshake, if any).
final class ReadySignal: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let tls: Bool
    let ready: EventLoopPromise<Void>
    init(tls: Bool, ready: EventLoopPromise<Void>) {
        self.tls = tls
        self.ready = ready
    }

    func channelActive(context: ChannelHandlerContext) {
        if !tls { ready.succeed() }
        context.fireChannelActive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if !tls && context.channel.isActive { ready.succeed() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is TLSEvent { ready.succeed() }
    }
}

/// Writes frames while the channel is writable, resumes when it becomes writable again.
final class Source: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let channel: Channel
    var remaining: Int
    let frame: ByteBuffer

    init(channel: Channel, remaining: Int, frameBytes: Int) {
        self.channel = channel
        self.remaining = remaining
        var b = channel.allocator.buffer(capacity: frameBytes)
        for i in 0..<frameBytes { b.writeInteger(UInt8(truncatingIfNeeded: i &* 131)) }
        self.frame = b
    }

    func pump() {
        while remaining > 0 && channel.isWritable {
            let n = min(remaining, frame.readableBytes)
            remaining -= n
            channel.write(frame.getSlice(at: frame.readerIndex, length: n)!, promise: nil)
        }
        channel.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump() }
        context.fireChannelWritabilityChanged()
    }
}
