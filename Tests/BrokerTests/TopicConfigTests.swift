@testable import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Testing

/// Topic configuration through the Kafka APIs: CreateTopics' configs, DescribeConfigs,
/// IncrementalAlterConfigs and AlterConfigs, cluster-wide defaults, and max.message.bytes honoured.
struct TopicConfigTests {
    typealias Op = ConfigChange.Operation

    /// A cluster with topic "t" (1 partition, 3 replicas) created with `configs`.
    func cluster(_ configs: [(String, String?)] = []) throws -> MiniCluster {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        var r = try MiniCluster.body(c.kafka(c.controllerIndex, key: .createTopics, version: 7, correlation: 90) {
            CreateTopicsRequest(
                topics: [.init(name: "t", numPartitions: 1, replicationFactor: 3, configs: configs.map { .init(name: $0.0, value: $0.1) })],
                timeoutMs: 5000
            ).encode(&$0, version: 7)
        }, correlation: 90, flexible: true)
        let created = try #require(try CreateTopicsResponse.decode(&r, version: 7).topics.first)
        #expect(created.errorCode == ErrorCode.none, "\(created)")
        c.run(ticks: 40)
        return c
    }

    func describe(_ c: MiniCluster, node: Int = 0, type: Int8 = 2, name: String = "t", keys: [String]? = nil, version: Int16 = 4, correlation: Int32 = 2) throws
        -> DescribeConfigsResponse.DescribeConfigsResult
    {
        var r = try MiniCluster.body(c.kafka(node, key: .describeConfigs, version: version, correlation: correlation) {
            DescribeConfigsRequest(resources: [.init(resourceType: type, resourceName: name, configurationKeys: keys)], includeSynonyms: true,
                                   includeDocumentation: true).encode(&$0, version: version)
        }, correlation: correlation, flexible: version >= 4)
        return try #require(try DescribeConfigsResponse.decode(&r, version: version).results.first)
    }

    func incremental(_ c: MiniCluster, node: Int = 0, type: Int8 = 2, name: String = "t", _ changes: [(String, Int8, String?)], validateOnly: Bool = false,
                     correlation: Int32 = 3) throws -> IncrementalAlterConfigsResponse.AlterConfigsResourceResponse {
        var r = try MiniCluster.body(c.kafka(node, key: .incrementalAlterConfigs, version: 1, correlation: correlation) {
            IncrementalAlterConfigsRequest(
                resources: [.init(resourceType: type, resourceName: name, configs: changes.map { .init(name: $0.0, configOperation: $0.1, value: $0.2) })],
                validateOnly: validateOnly
            ).encode(&$0, version: 1)
        }, correlation: correlation, flexible: true)
        return try #require(try IncrementalAlterConfigsResponse.decode(&r, version: 1).responses.first)
    }

    @Test("CreateTopics with configs; DescribeConfigs answers every topic config with value, source, synonyms, type and documentation")
    func createAndDescribe() throws {
        let c = try cluster([("cleanup.policy", "compact"), ("max.message.bytes", "2000")])
        let d = try describe(c, node: 1)
        #expect(d.errorCode == ErrorCode.none)
        #expect(d.configs.map(\.name) == TopicConfigs.all.map(\.name))
        let policy = try #require(d.configs.first { $0.name == "cleanup.policy" })
        #expect(policy.value == "compact" && policy.configSource == ConfigSource.topic.rawValue && !policy.readOnly)
        #expect(policy.synonyms.map(\.name) == ["cleanup.policy", "log.cleanup.policy"] && policy.synonyms.last?.value == "delete")
        #expect(policy.configType == ConfigType.list.rawValue && policy.documentation?.isEmpty == false)
        let retention = try #require(d.configs.first { $0.name == "retention.ms" })
        #expect(retention.value == "604800000" && retention.configSource == ConfigSource.defaultConfig.rawValue)
        // Named keys only; an unknown key is left out, as Kafka does; v1 (classic) reads the same.
        let some = try describe(c, keys: ["max.message.bytes", "no.such.key"], version: 1, correlation: 4)
        #expect(some.configs.map(\.name) == ["max.message.bytes"] && some.configs.first?.value == "2000")
        let missing = try describe(c, name: "nope", correlation: 5)
        #expect(missing.errorCode == ErrorCode.unknownTopicOrPartition && missing.configs.isEmpty)
        let group = try describe(c, type: 32, name: "g", correlation: 6)
        #expect(group.errorCode == ErrorCode.invalidRequest)
    }

    @Test("CreateTopics refuses an unknown config, a bad value, a value Rill cannot honour and a name given twice, and creates nothing")
    func createRefusals() throws {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        let cases: [([(String, String?)], ErrorCode, String)] = [
            ([("no.such.config", "1")], .invalidConfig, "unknown config 'no.such.config'"),
            ([("cleanup.policy", "sometimes")], .invalidConfig, "invalid value 'sometimes' for cleanup.policy"),
            ([("max.message.bytes", "-5")], .invalidConfig, "must be 0 to"),
            ([("segment.jitter.ms", "1000")], .invalidConfig, "segment.jitter.ms=1000 is not supported"),
            ([("retention.ms", "-2")], .invalidConfig, "invalid value '-2' for retention.ms"),
            ([("compression.type", "gzip")], .invalidConfig, "compression.type=gzip is not supported"),
            ([("message.timestamp.type", "BrokerTime")], .invalidConfig, "invalid value"),
            ([("cleanup.policy", "compact"), ("cleanup.policy", "delete")], .invalidRequest, "given twice"),
            ([("cleanup.policy", nil)], .invalidRequest, "null value"),
        ]
        for (k, (configs, code, message)) in cases.enumerated() {
            let correlation = Int32(10 + k)
            var r = try MiniCluster.body(c.kafka(c.controllerIndex, key: .createTopics, version: 7, correlation: correlation) {
                CreateTopicsRequest(
                    topics: [.init(name: "bad\(k)", numPartitions: 1, replicationFactor: 1, configs: configs.map { .init(name: $0.0, value: $0.1) })],
                    timeoutMs: 5000
                ).encode(&$0, version: 7)
            }, correlation: correlation, flexible: true)
            let t = try #require(try CreateTopicsResponse.decode(&r, version: 7).topics.first)
            #expect(t.errorCode == code && (t.errorMessage ?? "").contains(message), "\(configs): \(t)")
            #expect(c.cores[c.controllerIndex].controller.topic("bad\(k)") == nil)
        }
    }

    @Test("IncrementalAlterConfigs: SET, APPEND, SUBTRACT and DELETE from any node; bad operations and values refused; validate-only changes nothing")
    func incrementalAlter() throws {
        let c = try cluster()
        let follower = (c.controllerIndex + 1) % 3
        #expect(try incremental(c, node: follower, [("max.message.bytes", Op.set.rawValue, "500")]).errorCode == ErrorCode.none)
        #expect(try incremental(c, [("cleanup.policy", Op.append.rawValue, "compact")], correlation: 4).errorCode == ErrorCode.none)
        c.run(ticks: 5)
        var d = try describe(c, node: 2, correlation: 5)
        #expect(d.configs.first { $0.name == "max.message.bytes" }?.value == "500")
        #expect(d.configs.first { $0.name == "cleanup.policy" }?.value == "delete,compact")
        #expect(try incremental(c, [("cleanup.policy", Op.subtract.rawValue, "delete")], correlation: 6).errorCode == ErrorCode.none)
        #expect(try incremental(c, [("max.message.bytes", Op.delete.rawValue, nil)], correlation: 7).errorCode == ErrorCode.none)
        c.run(ticks: 5)
        d = try describe(c, correlation: 8)
        #expect(d.configs.first { $0.name == "cleanup.policy" }?.value == "compact")
        let max = try #require(d.configs.first { $0.name == "max.message.bytes" })
        #expect(max.value == "1048588" && max.configSource == ConfigSource.defaultConfig.rawValue)

        let refused: [([(String, Int8, String?)], ErrorCode)] = [
            ([("max.message.bytes", Op.append.rawValue, "1")], .invalidConfig),
            ([("max.message.bytes", 9, "1")], .invalidRequest),
            ([("max.message.bytes", Op.set.rawValue, "lots")], .invalidConfig),
            ([("max.message.bytes", Op.set.rawValue, nil)], .invalidRequest),
            ([("cleanup.policy", Op.subtract.rawValue, "compact")], .invalidConfig),  // would leave an empty policy
            ([("no.such", Op.set.rawValue, "1")], .invalidConfig),
            ([("segment.ms", Op.set.rawValue, "1"), ("segment.ms", Op.delete.rawValue, nil)], .invalidRequest),
        ]
        for (k, (changes, code)) in refused.enumerated() {
            let answer = try incremental(c, changes, correlation: Int32(20 + k))
            #expect(answer.errorCode == code && answer.errorMessage?.isEmpty == false, "\(changes): \(answer)")
        }
        #expect(try incremental(c, name: "nope", [("cleanup.policy", Op.set.rawValue, "delete")], correlation: 30).errorCode == ErrorCode.unknownTopicOrPartition)
        #expect(try incremental(c, [("cleanup.policy", Op.set.rawValue, "delete")], validateOnly: true, correlation: 31).errorCode == ErrorCode.none)
        #expect(c.cores[0].controller.topic("t")?.configs["cleanup.policy"] == "compact")
    }

    @Test("AlterConfigs replaces the topic's whole set: what it does not name reverts to the default")
    func alterReplaces() throws {
        let c = try cluster([("cleanup.policy", "compact"), ("max.message.bytes", "2000")])
        var r = try MiniCluster.body(c.kafka(0, key: .alterConfigs, version: 0, correlation: 3) {
            AlterConfigsRequest(resources: [.init(resourceType: 2, resourceName: "t", configs: [.init(name: "max.message.bytes", value: "3000")])])
                .encode(&$0, version: 0)
        }, correlation: 3)
        #expect(try AlterConfigsResponse.decode(&r, version: 0).responses.map(\.errorCode) == [ErrorCode.none])
        c.run(ticks: 5)
        for core in c.cores {
            #expect(core.controller.topic("t")?.configs == ConfigOverrides([("max.message.bytes", "3000")]))
        }
    }

    @Test("cluster-wide defaults (broker resource, empty name) apply to every topic without its own value; one broker's configs cannot be changed")
    func clusterDefaults() throws {
        let c = try cluster()
        #expect(try incremental(c, type: 4, name: "", [("message.max.bytes", Op.set.rawValue, "700")]).errorCode == ErrorCode.none)
        #expect(try incremental(c, type: 4, name: "1", [("message.max.bytes", Op.set.rawValue, "800")], correlation: 4).errorCode == ErrorCode.invalidRequest)
        #expect(try incremental(c, type: 4, name: "", [("max.message.bytes", Op.set.rawValue, "800")], correlation: 5).errorCode == ErrorCode.invalidConfig)
        c.run(ticks: 5)
        let topic = try #require(try describe(c, correlation: 6).configs.first { $0.name == "max.message.bytes" })
        #expect(topic.value == "700" && topic.configSource == ConfigSource.dynamicDefaultBroker.rawValue)
        #expect(topic.synonyms.map(\.source) == [ConfigSource.dynamicDefaultBroker.rawValue, ConfigSource.defaultConfig.rawValue])
        let broker = try describe(c, type: 4, name: "2", correlation: 7)
        #expect(broker.configs.first { $0.name == "message.max.bytes" }?.value == "700")
        #expect(broker.configs.first { $0.name == "broker.id" }.map { $0.value == "2" && $0.readOnly } == true)
        let defaults = try describe(c, type: 4, name: "", correlation: 8)
        #expect(defaults.configs.map(\.name) == ["message.max.bytes"])
        #expect(try describe(c, type: 4, name: "9", correlation: 9).errorCode == ErrorCode.invalidRequest)
    }

    @Test("max.message.bytes is honoured: a larger batch gets MESSAGE_TOO_LARGE, a smaller one is written")
    func maxMessageBytes() throws {
        let c = try cluster([("max.message.bytes", "300")])
        let leader = try #require(c.cores.firstIndex { core in core.controller.topic("t").flatMap { t in core.raftOf(t.partitions[0].group) }?.role == .leader })
        func produce(_ size: Int, correlation: Int32) throws -> ErrorCode {
            let batch = RecordBatch.build(records: [(nil, [UInt8](repeating: 1, count: size))], timestamp: 1000)
            var r = try MiniCluster.body(c.kafka(leader, key: .produce, version: 9, correlation: correlation) {
                ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: batch.bytes)])]).encode(&$0, version: 9)
            }, correlation: correlation, flexible: true)
            return try #require(try ProduceResponse.decode(&r, version: 9).responses.first?.partitionResponses.first).errorCode
        }
        #expect(try produce(400, correlation: 3) == ErrorCode.messageTooLarge)
        #expect(try produce(100, correlation: 4) == ErrorCode.none)
    }

    @Test("configs survive the controller's snapshot, and a create command written before configs existed still decodes")
    func snapshotAndOldEntries() throws {
        var s = ControllerState(members: [NodeID(1), NodeID(2), NodeID(3)])
        let commands: [ControllerCommand] = [
            .createTopic(name: "a", partitions: 1, replicationFactor: 1, configs: ConfigOverrides([("cleanup.policy", "compact")])),
            .createTopic(name: "b", partitions: 2, replicationFactor: 3),
            .alterConfigs(.cluster, [ConfigChange(name: "log.cleanup.policy", operation: .set, value: "compact,delete")], replacing: false),
            .alterConfigs(.topic("b"), [ConfigChange(name: "max.message.bytes", operation: .set, value: "5000")], replacing: false),
        ]
        for (k, command) in commands.enumerated() {
            #expect(try ControllerCommand.decode(command.encode()) == command)
            #expect(s.apply(Entry(term: 1, index: LogIndex(UInt64(k + 1)), kind: .normal, data: command.encode())) == nil)
        }
        var restored = ControllerState(members: s.members)
        try restored.restore(Snapshot(index: s.appliedIndex, term: 1, membership: Membership(voters: s.members), data: s.encode()))
        #expect(restored == s)
        #expect(restored.topic("a")?.configs["cleanup.policy"] == "compact" && restored.topic("b")?.configs["max.message.bytes"] == "5000")
        #expect(restored.clusterConfigs["log.cleanup.policy"] == "compact,delete")
        #expect(restored.config("cleanup.policy", of: restored.topic("b")!) == "compact,delete")
        // kind 2 as written before: name, partitions, replication factor, nothing after.
        var w = ByteWriter()
        w.u8(2)
        w.blob(Array("old".utf8))
        w.u32(3)
        w.u32(1)
        #expect(try ControllerCommand.decode(w.bytes) == .createTopic(name: "old", partitions: 3, replicationFactor: 1))
    }
}
