import Broker
import KafkaProtocol
import NIOCore
import Primitives

/// A Kafka request frame (what follows the 4-byte size) read as the listener reads it, then
/// handed to a node's `handleKafka`, which decodes the body for its API and version and checks
/// what it decoded. The node is one of three (ids 1-3) whose storage never completes, so
/// requests meet the paths of a node with no controller leader yet; a fresh node every 10,000
/// inputs keeps what pending requests hold bounded.
enum KafkaRequestTarget {
    nonisolated(unsafe) static var node: NodeCore?
    nonisolated(unsafe) static var used = 0

    static func makeNode() -> NodeCore {
        let config = NodeConfig(id: 1, members: [1, 2, 3], kafkaHost: "127.0.0.1", kafkaPort: 9092, seed: 1)
        do {
            return try NodeCore(config: config, recovered: [])
        } catch {
            fatalError("the fuzz node's configuration is invalid: \(error)")
        }
    }

    /// True when the node answered (rather than closing the connection as for a malformed request).
    static func run(_ data: [UInt8]) -> Bool {
        var r = KafkaReader(ByteBuffer(bytes: data))
        guard let header = try? RequestHeader.decode(&r) else { return false }
        if node == nil || used >= 10_000 {
            node = makeNode()
            used = 0
        }
        used += 1
        let (reply, _) = node!.handleKafka(KafkaRequest(connection: 1, sequence: UInt64(used), header: header, body: r.buffer))
        if used % 100 == 0 { _ = node!.tick() }
        if case .close = reply { return false }
        return true
    }

    /// ApiVersions and Metadata as a client first sends them (the real clients' captures are
    /// under Fuzz/corpus/kafka-request).
    static func seeds() -> [[UInt8]] {
        /// A classic (v1) request header: key, version, correlation id, client id.
        func frame(_ key: ApiKey, _ version: Int16, _ body: (inout KafkaWriter) -> Void) -> [UInt8] {
            let client = Array("fuzz".utf8)
            var out: [UInt8] = []
            for v in [UInt16(bitPattern: key.rawValue), UInt16(bitPattern: version)] { out += [UInt8(v >> 8), UInt8(v & 0xFF)] }
            out += [0, 0, 0, 1, 0, UInt8(client.count)] + client
            var w = KafkaWriter()
            body(&w)
            return out + Array(w.buffer.readableBytesView)
        }
        return [
            frame(.apiVersions, 0) { _ in },
            frame(.metadata, 1) { MetadataRequest(topics: [.init(name: "t")]).encode(&$0, version: 1) },
        ]
    }
}
