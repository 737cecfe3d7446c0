import Broker
import Primitives
import Raft
import Testing

/// `NodeConfig.validate`: checked once when a core starts, each bad value refused by its field's name.
struct NodeConfigTests {
    static func config() -> NodeConfig {
        NodeConfig(id: 2, members: [1, 2, 3], kafkaHost: "h", kafkaPort: 9093, seed: 1)
    }

    @Test("the defaults and the simulator's kind of settings pass")
    func valid() throws {
        try Self.config().validate()
        var c = Self.config()
        c.staticGroups = [(GroupID(1), [1, 2, 3]), (GroupID(2), [1, 2, 3])]
        c.firstTopicGroup = 3
        c.groupInitialRebalanceDelayMs = 0
        try c.validate()
    }

    @Test("a bad value is refused with the name of its field")
    func refused() {
        let cases: [(String, (inout NodeConfig) -> Void)] = [
            ("id", { (c: inout NodeConfig) in c.id = .none }),
            ("peerAddress", { (c: inout NodeConfig) in c.members = [1, 3] }),
            ("members", { (c: inout NodeConfig) in c.members = [1, 2, 2] }),
            ("kafkaHost", { (c: inout NodeConfig) in c.kafkaHost = "" }),
            ("kafkaPort", { (c: inout NodeConfig) in c.kafkaPort = 0 }),
            ("clusterName", { (c: inout NodeConfig) in c.clusterName = "" }),
            ("raftTemplate", { (c: inout NodeConfig) in c.electionTicks = 2; c.heartbeatTicks = 2 }),
            ("tickMilliseconds", { (c: inout NodeConfig) in c.tickMilliseconds = 0 }),
            ("compactEvery", { (c: inout NodeConfig) in c.compactEvery = 0 }),
            ("kafkaCompactEvery", { (c: inout NodeConfig) in c.kafkaCompactEvery = -1 }),
            ("kafkaMemoryBytes", { (c: inout NodeConfig) in c.kafkaMemoryBytes = 0 }),
            ("firstTopicGroup", { (c: inout NodeConfig) in c.firstTopicGroup = 0 }),
            ("staticGroups", { (c: inout NodeConfig) in c.staticGroups = [(GroupID(1), [1, 2])] }),
            ("staticGroups", { (c: inout NodeConfig) in c.firstTopicGroup = 3; c.staticGroups = [(GroupID(1), [1, 9])] }),
            ("staticGroups", { (c: inout NodeConfig) in c.firstTopicGroup = 3; c.staticGroups = [(GroupID(1), [1]), (GroupID(1), [2])] }),
            ("defaultPartitions", { (c: inout NodeConfig) in c.defaultPartitions = 0 }),
            ("defaultReplicationFactor", { (c: inout NodeConfig) in c.defaultReplicationFactor = 0 }),
            ("offsetsPartitions", { (c: inout NodeConfig) in c.offsetsPartitions = BrokerLimits.topicPartitionsMax + 1 }),
            ("offsetsReplicationFactor", { (c: inout NodeConfig) in c.offsetsReplicationFactor = 0 }),
            ("groupInitialRebalanceDelayMs", { (c: inout NodeConfig) in c.groupInitialRebalanceDelayMs = -1 }),
            ("groupMinSessionTimeoutMs", { (c: inout NodeConfig) in c.groupMinSessionTimeoutMs = 0 }),
            ("groupMaxSessionTimeoutMs", { (c: inout NodeConfig) in c.groupMaxSessionTimeoutMs = 5999 }),
            ("transactionStatePartitions", { (c: inout NodeConfig) in c.transactionStatePartitions = 0 }),
            ("transactionMaxTimeoutMs", { (c: inout NodeConfig) in c.transactionMaxTimeoutMs = 0 }),
            ("transactionalIDExpirationMs", { (c: inout NodeConfig) in c.transactionalIDExpirationMs = 899_999 }),
        ]
        for (field, change) in cases {
            var c = Self.config()
            change(&c)
            #expect(throws: NodeConfigError.self, "\(field)") { try c.validate() }
            do {
                try c.validate()
            } catch {
                #expect(error.field == field, "\(error)")
                #expect(error.description.hasPrefix("invalid node config: \(field) "))
            }
        }
    }

    @Test("a core does not start with a bad config: the error names the field")
    func coreRefuses() {
        var c = Self.config()
        c.tickMilliseconds = 0
        #expect(throws: NodeConfigError(field: "tickMilliseconds", problem: "must be at least 1, got 0")) {
            _ = try NodeCore(config: c, recovered: [])
        }
    }
}
