import KafkaProtocol
import NIOCore
import NIOPosix
import RillTLS

/// A connection to a Kafka-protocol cluster (Rill or any Kafka): bootstrap addresses, a connection
/// per broker, and the cluster metadata, refreshed when a request meets a moved leader.
public actor KafkaClient {
    public let bootstrap: [(host: String, port: Int)]
    public let clientID: String
    let group: EventLoopGroup
    /// TLS to the brokers (their Kafka listener with `[kafka] tls`), or nil for plaintext.
    let tls: TLSContext?
    private var connections: [Int32: KafkaConnection] = [:]
    private var bootstrapConnection: KafkaConnection?
    public private(set) var metadata: MetadataResponse?

    /// `bootstrap`: `host:port` strings. `tls`: a client context (trusting the cluster's CA, and
    /// with a client certificate when the listener requires one), or nil for plaintext.
    public init(bootstrap: [String], clientID: String = "rill-swift", tls: TLSContext? = nil) throws {
        var parsed: [(String, Int)] = []
        for b in bootstrap {
            guard let colon = b.lastIndex(of: ":"), let port = Int(b[b.index(after: colon)...]) else {
                throw RillClientError.connection("bootstrap address '\(b)' is not host:port")
            }
            parsed.append((String(b[..<colon]), port))
        }
        guard !parsed.isEmpty else { throw RillClientError.connection("no bootstrap address") }
        self.bootstrap = parsed
        self.clientID = clientID
        self.tls = tls
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    public func shutdown() async {
        for c in connections.values { c.close() }
        bootstrapConnection?.close()
        connections = [:]
        try? await group.shutdownGracefully()
    }

    /// Any live connection (for Metadata): a bootstrap address that answers.
    func anyConnection() async throws -> KafkaConnection {
        if let c = bootstrapConnection, c.isActive { return c }
        var last: Error = RillClientError.connection("no bootstrap address answered")
        for b in bootstrap {
            do {
                let c = try await KafkaConnection.connect(host: b.host, port: b.port, group: group, tls: tls)
                bootstrapConnection = c
                return c
            } catch {
                last = error
            }
        }
        throw last
    }

    /// The connection to broker `node`, as Metadata advertises it.
    func connection(to node: Int32) async throws -> KafkaConnection {
        if let c = connections[node], c.isActive { return c }
        if metadata?.brokers.contains(where: { $0.nodeID == node }) != true { _ = try await refreshMetadata() }
        guard let b = metadata?.brokers.first(where: { $0.nodeID == node }) else {
            throw RillClientError.noLeader("broker \(node) is not in the cluster metadata")
        }
        let c = try await KafkaConnection.connect(host: b.host, port: Int(b.port), group: group, tls: tls)
        connections[node] = c
        return c
    }

    /// A new connection to broker `node` that the caller owns and closes: a consumer talks to its
    /// group coordinator on its own connection, because the coordinator holds a JoinGroup for a
    /// whole join phase and a broker answers one connection's requests in order — on a shared
    /// connection another member's heartbeats would wait behind it until their session expired.
    func dedicatedConnection(to node: Int32) async throws -> KafkaConnection {
        if metadata?.brokers.contains(where: { $0.nodeID == node }) != true { _ = try await refreshMetadata() }
        guard let b = metadata?.brokers.first(where: { $0.nodeID == node }) else {
            throw RillClientError.noLeader("broker \(node) is not in the cluster metadata")
        }
        return try await KafkaConnection.connect(host: b.host, port: Int(b.port), group: group, tls: tls)
    }

    /// Ask the cluster for its brokers and topics (all of them, or `topics`).
    @discardableResult
    public func refreshMetadata(topics: [String]? = nil, allowAutoCreate: Bool = false) async throws -> MetadataResponse {
        let c = try await anyConnection()
        do {
            var r = try await c.request(.metadata, version: 8, clientID: clientID) {
                MetadataRequest(topics: topics?.map { .init(name: $0) }, allowAutoTopicCreation: allowAutoCreate).encode(&$0, version: 8)
            }
            let m = try MetadataResponse.decode(&r, version: 8)
            if topics == nil { metadata = m } else { merge(m) }
            return m
        } catch {
            bootstrapConnection = nil
            throw error
        }
    }

    private func merge(_ m: MetadataResponse) {
        guard var all = metadata else {
            metadata = m
            return
        }
        all.brokers = m.brokers
        all.controllerID = m.controllerID
        for t in m.topics {
            all.topics.removeAll { $0.name == t.name }
            all.topics.append(t)
        }
        metadata = all
    }

    /// The partition's leader (refreshing metadata once when it is not known).
    func leader(topic: String, partition: Int32) async throws -> Int32 {
        for attempt in 0..<2 {
            if attempt == 1 || metadata?.topics.first(where: { $0.name == topic }) == nil {
                _ = try await refreshMetadata(topics: [topic], allowAutoCreate: true)
            }
            if let p = metadata?.topics.first(where: { $0.name == topic })?.partitions.first(where: { $0.partitionIndex == partition }),
                p.leaderID >= 0
            {
                return p.leaderID
            }
        }
        throw RillClientError.noLeader("\(topic)[\(partition)]")
    }

    /// Partitions of a topic (from metadata, refreshed when unknown).
    public func partitionCount(_ topic: String) async throws -> Int {
        if let t = metadata?.topics.first(where: { $0.name == topic }), !t.partitions.isEmpty { return t.partitions.count }
        for _ in 0..<50 {
            let m = try await refreshMetadata(topics: [topic], allowAutoCreate: true)
            if let t = m.topics.first(where: { $0.name == topic }), !t.partitions.isEmpty { return t.partitions.count }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RillClientError.noLeader("topic \(topic) has no partitions")
    }

    /// Forget where leaders are (after NOT_LEADER_OR_FOLLOWER or a lost connection).
    func invalidate(node: Int32?) {
        if let node { connections[node]?.close(); connections[node] = nil }
        metadata = nil
    }
}
