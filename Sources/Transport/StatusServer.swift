import Broker
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The node's small HTTP listener: `/metrics` (Prometheus text), `/health` (is the node up),
/// `/status` (its view of the cluster, JSON), and `POST /v1/topics?name=&partitions=&replication_factor=` (create a topic
/// through the controller, until Kafka's CreateTopics arrives).
enum StatusServer {
    static func bind(runtime: NodeRuntime, on loop: EventLoop, at address: HostPort) throws -> Channel {
        try ServerBootstrap(group: loop)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(StatusHandler(runtime: runtime))
                }
            }
            .bind(host: address.host, port: address.port).wait()
    }
}

final class StatusHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let runtime: NodeRuntime
    private var head: HTTPRequestHead?

    init(runtime: NodeRuntime) { self.runtime = runtime }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            break
        case .end:
            guard let head else { return }
            let (status, body, type) = respond(head)
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: type)
            headers.add(name: "content-length", value: String(body.utf8.count))
            headers.add(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in }
            context.close(promise: nil)
            self.head = nil
        }
    }

    private func respond(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String, String) {
        let parts = head.uri.split(separator: "?", maxSplits: 1)
        let path = parts.first.map(String.init) ?? "/"
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { query[String(kv[0])] = String(kv[1]).removingPercentEncoding ?? String(kv[1]) }
            }
        }
        switch (head.method, path) {
        case (.GET, "/metrics"):
            return (.ok, runtime.metricsText(), "text/plain; version=0.0.4")
        case (.GET, "/health"):
            return (.ok, "{\"node\":\(runtime.settings.nodeID.value),\"status\":\"up\"}\n", "application/json")
        case (.GET, "/status"):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = (try? encoder.encode(runtime.status())) ?? Data()
            return (.ok, String(decoding: data, as: UTF8.self) + "\n", "application/json")
        case (.POST, "/v1/topics"):
            guard let name = query["name"], let partitions = Int32(query["partitions"] ?? "1"),
                let rf = Int(query["replication_factor"] ?? "\(runtime.memberCount)")
            else {
                return (.badRequest, "need name=, partitions= and replication_factor=\n", "text/plain")
            }
            if let reason = ControllerState.validateTopic(
                name: name, partitions: partitions, replicationFactor: rf, members: runtime.memberCount)
            {
                return (.badRequest, reason + "\n", "text/plain")
            }
            if let problem = runtime.submitToController(.createTopic(name: name, partitions: partitions, replicationFactor: rf)) {
                return (.serviceUnavailable, problem + "\n", "text/plain")
            }
            return (.accepted, "creating topic \(name)\n", "text/plain")
        default:
            return (.notFound, "not found: \(head.method) \(path)\n", "text/plain")
        }
    }
}
