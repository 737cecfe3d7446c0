@testable import Broker
import KafkaProtocol
import Primitives
import Raft
import Testing

/// The controller id Metadata and DescribeCluster name must be a broker they list: librdkafka's
/// admin client sends CreateTopics only to a controller it can connect to, and waits for one it
/// has no address for until its next full metadata refresh (minutes).
struct MetadataControllerTests {
    /// A node whose controller group has elected node 3, before node 3 registered its listener.
    struct EarlyNode: MetadataContext {
        var controller = ControllerState(members: [1, 2, 3])
        var ticks: UInt64 = 0
        var config = NodeConfig(id: 1, members: [1, 2, 3], kafkaHost: "127.0.0.1", kafkaPort: 9092, seed: 1)
        var registration: BrokerRegistration { BrokerRegistration(node: 1, host: "127.0.0.1", kafkaPort: 9092) }
        var defaultReplication: Int { 3 }
        var advertisedController: NodeID
        var controllerCaughtUp = true
        func group(_ g: GroupID) -> NodeCore.Group? { nil }
        func leaderHint(for g: GroupID) -> LeaderHint? { nil }
    }

    @Test("a controller leader not registered yet is not named: the answering node is, as it is listed and forwards admin requests")
    func unregisteredController() {
        let early = EarlyNode(advertisedController: 3)
        let (m, _) = MetadataService.metadata(MetadataRequest(topics: []), version: 12, early)
        #expect(m.brokers.map(\.nodeID) == [1] && m.controllerID == 1)
        var registered = early
        registered.controller.apply(Entry(term: 1, index: 1, data: ControllerCommand.registerBroker(BrokerRegistration(node: 3, host: "127.0.0.1", kafkaPort: 9094)).encode()))
        let (after, _) = MetadataService.metadata(MetadataRequest(topics: []), version: 12, registered)
        #expect(after.brokers.map(\.nodeID) == [1, 3] && after.controllerID == 3)
    }

    @Test("before its controller state is current a node says LEADER_NOT_AVAILABLE for a topic it does not know, never UNKNOWN_TOPIC_OR_PARTITION, and creates nothing")
    func unknownTopicBeforeCatchUp() {
        var node = EarlyNode(advertisedController: 1)
        node.config.autoCreateTopics = true
        node.controllerCaughtUp = false
        let named = MetadataRequest(topics: [.init(name: "orders")], allowAutoTopicCreation: true)
        let (before, actions) = MetadataService.metadata(named, version: 12, node)
        #expect(before.topics.map(\.errorCode) == [.leaderNotAvailable])
        #expect(actions.isEmpty, "no auto-creation of a topic that may exist")
        let byID = MetadataRequest(topics: [.init(topicID: KafkaUUID(high: 1, low: 2))])
        #expect(MetadataService.metadata(byID, version: 12, node).0.topics.map(\.errorCode) == [.leaderNotAvailable])

        node.controllerCaughtUp = true
        let (after, created) = MetadataService.metadata(named, version: 12, node)
        #expect(after.topics.map(\.errorCode) == [.leaderNotAvailable] && created.count == 1, "caught up: auto-created")
        node.config.autoCreateTopics = false
        #expect(MetadataService.metadata(named, version: 12, node).0.topics.map(\.errorCode) == [.unknownTopicOrPartition])
        #expect(MetadataService.metadata(byID, version: 12, node).0.topics.map(\.errorCode) == [.unknownTopicID])
    }
}
