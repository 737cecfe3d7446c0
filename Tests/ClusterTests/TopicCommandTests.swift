import Foundation
import NIOCore
import RillClient
import Testing

/// `rill topic list / describe / alter-config / add-partitions / trim-prefix / delete` and `rill cluster config get / set`
/// against three real `rill serve` processes, and the Swift client's config calls under them.
@Suite(.serialized)
struct TopicCommandTests {
    /// Start the three nodes, wait until they are settled; the bootstrap list and a client.
    static func start(_ c: LocalCluster) async throws -> (String, KafkaClient, Admin) {
        try c.startAll()
        try await c.waitSettled()
        let brokers = (0..<3).map { "127.0.0.1:\(c.kafkaPort + $0)" }.joined(separator: ",")
        let client = try KafkaClient(bootstrap: brokers.split(separator: ",").map(String.init))
        return (brokers, client, Admin(client: client))
    }

    @Test("topic configs through the CLI: set, describe with sources, refused values, cluster-wide defaults, add partitions, list and delete")
    func topicCommands() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        let (brokers, client, admin) = try await Self.start(c)
        try await admin.createTopic("cfg", partitions: 2)

        let (setStatus, set) = try await run(c.rill, ["topic", "alter-config", "-b", brokers, "cfg", "--set", "max.message.bytes=2000", "--set", "cleanup.policy=compact"])
        #expect(setStatus == 0, "\(set)")
        var configs: [ConfigDescription] = []
        for _ in 0..<50 {
            configs = try await admin.describeConfigs(topic: "cfg")
            if configs.first(where: { $0.name == "max.message.bytes" })?.value == "2000" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(configs.first { $0.name == "max.message.bytes" }.map { $0.value == "2000" && $0.sourceName == "DYNAMIC_TOPIC_CONFIG" } == true)
        let (_, described) = try await run(c.rill, ["topic", "describe", "-b", brokers, "cfg"])
        let rows = described.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(rows.contains(["max.message.bytes", "2000", "DYNAMIC_TOPIC_CONFIG"]), "\(described)")
        #expect(rows.contains(["cleanup.policy", "compact", "DYNAMIC_TOPIC_CONFIG"]), "\(described)")
        #expect(!rows.contains { $0.first == "retention.ms" }, "defaults are shown only with --all: \(described)")

        let (badStatus, bad) = try await run(c.rill, ["topic", "alter-config", "-b", brokers, "cfg", "--set", "preallocate=true"])
        #expect(badStatus != 0 && bad.contains("INVALID_CONFIG") && bad.contains("preallocate"), "\(bad)")

        let (clusterStatus, clusterSet) = try await run(c.rill, ["cluster", "config", "set", "-b", brokers, "--set", "message.max.bytes=3000"])
        #expect(clusterStatus == 0, "\(clusterSet)")
        try await admin.alterConfigs(topic: "cfg", ConfigChanges(delete: ["max.message.bytes"]))
        var value: String?
        for _ in 0..<50 {
            value = try await admin.describeConfigs(topic: "cfg").first { $0.name == "max.message.bytes" }?.value
            if value == "3000" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(value == "3000", "the topic falls back to the cluster-wide default")
        let (_, got) = try await run(c.rill, ["cluster", "config", "get", "-b", brokers])
        #expect(got.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }.contains(["message.max.bytes", "3000"]), "\(got)")

        let (growStatus, grown) = try await run(c.rill, ["topic", "add-partitions", "-b", brokers, "cfg", "--count", "4"])
        #expect(growStatus == 0 && grown.contains("cfg now has 4 partitions"), "\(grown)")
        var partitions = 0
        for _ in 0..<50 {
            partitions = try await admin.describeTopics(["cfg"]).first?.partitions.count ?? 0
            if partitions == 4 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(partitions == 4)
        let (shrinkStatus, shrink) = try await run(c.rill, ["topic", "add-partitions", "-b", brokers, "cfg", "--count", "3"])
        #expect(shrinkStatus != 0 && shrink.contains("INVALID_PARTITIONS"), "\(shrink)")

        // trim-prefix (DeleteRecords): the log start moves; a compact-only topic refuses.
        try await admin.createTopic("trim", partitions: 2)
        let producer = try Producer(client: client)
        for i in 0..<20 { _ = try await producer.send(topic: "trim", partition: Int32(i % 2), value: [UInt8(i)]) }
        try await producer.close()
        let (trimStatus, trimmed) = try await run(c.rill, ["topic", "trim-prefix", "-b", brokers, "trim", "--offset", "4", "-p", "0"])
        let trimRows = trimmed.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(trimStatus == 0 && trimRows.contains(["trim", "0", "4", "-"]), "\(trimmed)")
        #expect(try await client.listOffset(topic: "trim", partition: 0, timestamp: -2) == 4)
        #expect(try await client.listOffset(topic: "trim", partition: 1, timestamp: -2) == 0)
        let (endStatus, ended) = try await run(c.rill, ["topic", "trim-prefix", "-b", brokers, "trim", "--offset", "end"])
        let endRows = ended.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(endStatus == 0 && endRows.contains(["trim", "0", "10", "-"]) && endRows.contains(["trim", "1", "10", "-"]), "\(ended)")
        let (pastStatus, past) = try await run(c.rill, ["topic", "trim-prefix", "-b", brokers, "trim", "--offset", "11", "-p", "1"])
        #expect(pastStatus != 0 && past.contains("OFFSET_OUT_OF_RANGE"), "\(past)")
        let (policyStatus, policy) = try await run(c.rill, ["topic", "trim-prefix", "-b", brokers, "cfg", "--offset", "0"])
        #expect(policyStatus != 0 && policy.contains("POLICY_VIOLATION"), "\(policy)")

        let (_, list) = try await run(c.rill, ["topic", "list", "-b", brokers])
        #expect(list.split(separator: "\n").contains { $0.hasPrefix("cfg ") }, "\(list)")
        let (deleteStatus, deleted) = try await run(c.rill, ["topic", "delete", "-b", brokers, "cfg"])
        #expect(deleteStatus == 0, "\(deleted)")
        await client.shutdown()
    }

    @Test("rill topic move: a single-replica partition moves to another node while a producer writes; every acknowledged record is read from the new replica, the move is listed until done")
    func moveWhileProducing() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        let (brokers, client, admin) = try await Self.start(c)
        try await admin.createTopic("mv", partitions: 1, replicationFactor: 1)
        let from = try #require(try await admin.describeTopics(["mv"]).first?.partitions.first?.replicas.first)
        let to = from % 3 + 1
        var configuration = ProducerConfiguration()
        configuration.lingerMs = 2
        configuration.batchBytes = 4096
        let producer = try Producer(client: client, configuration: configuration)
        var acknowledged: [Int64] = []
        var failed = 0
        var window: [EventLoopFuture<RecordMetadata>] = []
        let total = 3000
        for i in 0..<total {
            window.append(try await producer.enqueue(ProducerRecord(topic: "mv", value: Array("move-\(i)".utf8))))
            if window.count == 100 || i == total - 1 {
                for f in window { if let m = try? await f.get() { acknowledged.append(m.offset) } else { failed += 1 } }
                window.removeAll()
            }
            if i == 1000 {
                let (status, out) = try await run(c.rill, ["topic", "move", "-b", brokers, "mv", "--to", "\(to)"])
                #expect(status == 0 && out.contains("moving to \(to)"), "\(out)")
            }
        }
        try await producer.flush()
        #expect(failed == 0, "\(failed) records failed during the move")
        var replicas: [Int32] = []
        var moving: [PartitionMoveStatus]?
        for _ in 0..<100 {
            moving = try await admin.listPartitionMoves()
            replicas = try await admin.describeTopics(["mv"]).first?.partitions.first?.replicas ?? []
            if moving?.isEmpty == true && replicas == [to] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(moving?.isEmpty == true && replicas == [to], "moves \(String(describing: moving)), replicas \(replicas)")
        let (_, listed) = try await run(c.rill, ["topic", "moves", "-b", brokers])
        #expect(listed.contains("no partition is moving"), "\(listed)")
        let (badStatus, bad) = try await run(c.rill, ["topic", "move", "-b", brokers, "mv", "--to", "9"])
        #expect(badStatus != 0 && bad.contains("INVALID_REPLICA_ASSIGNMENT"), "\(bad)")
        // Every acknowledged record, from the new replica (the only one now).
        let consumer = Consumer(client: client)
        await consumer.assign(topic: "mv", partition: 0, from: .earliest)
        var read: [ConsumerRecord] = []
        let deadline = Date().addingTimeInterval(30)
        while read.count < acknowledged.count && Date() < deadline { read += try await consumer.poll() }
        #expect(read.map(\.offset) == acknowledged.sorted(), "read \(read.count) of \(acknowledged.count) acknowledged records")
        #expect(Set(read.map { String(decoding: $0.value ?? [], as: UTF8.self) }).count == total)

        // rill node drain: a replication-3 topic cannot lose a node of three (refused, naming the
        // partition); once it is gone, every replica leaves the node.
        try await admin.createTopic("dr3", partitions: 1, replicationFactor: 3)
        let (refusedStatus, refused) = try await run(c.rill, ["node", "drain", "-b", brokers, "\(to)"])
        #expect(refusedStatus != 0 && refused.contains("dr3[0]") && refused.contains("replication factor"), "\(refused)")
        try await admin.deleteTopic("dr3")
        let gone = Date().addingTimeInterval(5)
        while try await admin.listTopics().contains("dr3") && Date() < gone { try await Task.sleep(for: .milliseconds(100)) }
        try await admin.createTopic("dr", partitions: 3, replicationFactor: 1)
        let (drainStatus, drained) = try await run(c.rill, ["node", "drain", "-b", brokers, "\(to)", "--wait"])
        #expect(drainStatus == 0 && drained.contains("done in"), "\(drained)")
        let left = try await admin.describeTopics(["mv", "dr"]).flatMap(\.partitions).filter { $0.replicas.contains(to) }
        #expect(left.isEmpty, "node \(to) still holds \(left)")
        await client.shutdown()
    }
}
