@testable import Broker
import KafkaProtocol

/// A Kafka client of a `MiniCluster`: one request at a time to a node's core, with its own
/// correlation ids. Tests subclass it with the requests they send.
class MiniClient {
    let cluster: MiniCluster
    var correlation: Int32 = 100
    init(_ cluster: MiniCluster) { self.cluster = cluster }

    func call<T>(
        _ node: Int, _ key: ApiKey, _ version: Int16, flexible: Bool = false, _ body: (inout KafkaWriter) -> Void, decode: (inout KafkaReader) throws -> T
    ) throws -> T {
        correlation += 1
        let c = correlation
        var r = try MiniCluster.body(cluster.kafka(node, key: key, version: version, correlation: c, body), correlation: c, flexible: flexible)
        return try decode(&r)
    }

    /// What `find` looks up: groups (0) unless a subclass says transactional ids (1).
    var coordinatorKeyType: Int8 { 0 }

    /// FindCoordinator v2 for a key of `coordinatorKeyType`.
    func find(_ node: Int, _ key: String) throws -> FindCoordinatorResponse {
        try call(node, .findCoordinator, 2, { FindCoordinatorRequest(key: key, keyType: self.coordinatorKeyType).encode(&$0, version: 2) }) {
            try FindCoordinatorResponse.decode(&$0, version: 2)
        }
    }
}
