import Foundation
import KafkaProtocol
import NIOCore
import NIOPosix
import RillClient
import RillTLS
import Testing
import Transport

/// The Kafka listener with `kafka.tls` (and `kafka.tls_client_auth`), on a real one-node process.
@Suite(.serialized)
struct KafkaTLSTests {
    /// Answers to one ApiVersions v2 request over TLS, or nil when the connection failed.
    final class Catcher: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        var received = ByteBuffer()
        let done: EventLoopPromise<ByteBuffer?>
        init(done: EventLoopPromise<ByteBuffer?>) { self.done = done }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard event is TLSEvent else { return }
            var w = KafkaWriter()
            RequestHeader(apiKey: ApiKey.apiVersions.rawValue, apiVersion: 2, correlationID: 7, clientID: "tls-test").encode(&w)
            var framed = ByteBuffer()
            KafkaFrame.frame(w.buffer, into: &framed)
            context.writeAndFlush(wrapOutboundOut(framed), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var b = unwrapInboundIn(data)
            received.writeBuffer(&b)
            if let frame = try? KafkaFrame.next(from: &received) { done.succeed(frame) }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) { done.succeed(nil) }
        func channelInactive(context: ChannelHandlerContext) { done.succeed(nil) }
    }

    func apiVersions(port: Int, ca: [UInt8], clientCertificate: IssuedCertificate?, group: EventLoopGroup) async throws -> ByteBuffer? {
        let tls = try TLSContext(
            role: .client,
            configuration: TLSConfiguration(
                certificatePEM: clientCertificate?.certificatePEM, privateKeyPEM: clientCertificate?.privateKeyPEM, trustedCAPEM: ca,
                requireClientCertificate: false, minimumVersion: .tls12))
        let done = group.next().makePromise(of: ByteBuffer?.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSHandler(context: tls))
                    try channel.pipeline.syncOperations.addHandler(Catcher(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let timeout = group.next().scheduleTask(in: .seconds(5)) { done.succeed(nil) }
        defer {
            timeout.cancel()
            channel.close(promise: nil)
        }
        return try await done.futureResult.get()
    }

    @Test("TLS on the Kafka listener, then client certificates required: answered with one, refused without")
    func kafkaTLS() async throws {
        let c = try LocalCluster(nodes: 1)
        defer { c.stop() }
        let config = try String(contentsOfFile: c.configPath(1), encoding: .utf8)
            .replacingOccurrences(of: "auto_create_topics = true", with: "auto_create_topics = true\ntls = true\ntls_client_auth = true")
        try config.write(toFile: c.configPath(1), atomically: true, encoding: .utf8)
        try c.start(1)
        try #require(await c.waitUntil(seconds: 15) { c.status(1)?.controllerLeader == 1 } != nil)
        let ca = try CertificateAuthority(
            certificatePEM: Array(FileManager.default.contents(atPath: c.dir + "/ca.pem")!),
            privateKeyPEM: Array(FileManager.default.contents(atPath: c.dir + "/ca.key")!))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }
        let client = try ca.issue(commonName: "a-client", hosts: [])
        let answer = try #require(try await apiVersions(port: c.kafkaPort, ca: ca.certificatePEM, clientCertificate: client, group: group))
        var r = KafkaReader(answer)
        #expect(try r.int32() == 7)
        #expect(try ApiVersionsResponse.decode(&r, version: 2).errorCode == .none)
        #expect(try await apiVersions(port: c.kafkaPort, ca: ca.certificatePEM, clientCertificate: nil, group: group) == nil)
        let logged = await c.waitUntil(seconds: 5) { c.log(1).contains("Kafka connection closed: TLS handshake failed") }
        #expect(logged != nil, "the refusal was not logged:\n\(c.log(1).suffix(1500))")
    }

    @Test("the Swift client over TLS: produce and consume with the cluster's CA; another CA is refused with a clear error")
    func swiftClientTLS() async throws {
        let c = try LocalCluster(nodes: 1)
        defer { c.stop() }
        let config = try String(contentsOfFile: c.configPath(1), encoding: .utf8)
            .replacingOccurrences(of: "auto_create_topics = true", with: "auto_create_topics = true\ntls = true")
        try config.write(toFile: c.configPath(1), atomically: true, encoding: .utf8)
        try c.start(1)
        try #require(await c.waitUntil(seconds: 15) { c.status(1)?.controllerLeader == 1 } != nil)
        let caPEM = Array(FileManager.default.contents(atPath: c.dir + "/ca.pem")!)
        let tls = try TLSContext(
            role: .client,
            configuration: TLSConfiguration(certificatePEM: nil, privateKeyPEM: nil, trustedCAPEM: caPEM, requireClientCertificate: false, minimumVersion: .tls12))
        let client = try KafkaClient(bootstrap: ["127.0.0.1:\(c.kafkaPort)"], tls: tls)
        let producer = try Producer(client: client)
        for i in 0..<20 { try await producer.send(topic: "over-tls", value: Array("secret-\(i)".utf8)) }
        let consumer = Consumer(client: client)
        await consumer.assign(topic: "over-tls", partition: 0)
        var read: [ConsumerRecord] = []
        while read.count < 20 { read += try await consumer.poll() }
        #expect(read.map { String(decoding: $0.value!, as: UTF8.self) } == (0..<20).map { "secret-\($0)" })
        await client.shutdown()

        let otherCA = try CertificateAuthority(name: "someone else")
        let wrongTLS = try TLSContext(
            role: .client,
            configuration: TLSConfiguration(
                certificatePEM: nil, privateKeyPEM: nil, trustedCAPEM: otherCA.certificatePEM, requireClientCertificate: false, minimumVersion: .tls12))
        let refused = try KafkaClient(bootstrap: ["127.0.0.1:\(c.kafkaPort)"], tls: wrongTLS)
        await #expect {
            try await Admin(client: refused).listTopics()
        } throws: { error in
            guard case RillClientError.connection(let why) = error else { return false }
            return why.contains("certificate verify failed")
        }
        await refused.shutdown()
    }
}
