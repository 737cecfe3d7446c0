import Foundation
import NIOCore
import NIOPosix
import RillClient
import RillTLS
import Testing

/// What a producer had acknowledged, and when.
private actor Acks {
    var values: [String] = []
    var times: [Date] = []
    var failed = 0
    var stopped = false

    func add(_ value: String) {
        values.append(value)
        times.append(Date())
    }

    func fail() { failed += 1 }
    func stop() { stopped = true }

    /// Acknowledgements per second between two instants.
    func rate(from: Date, to: Date) -> Double {
        let n = times.filter { $0 >= from && $0 < to }.count
        return Double(n) / max(to.timeIntervalSince(from), 0.001)
    }
}

/// What a consumer group member read (every delivery, redeliveries included).
private actor Deliveries {
    var counts: [String: Int] = [:]
    func add(_ values: [String]) { for v in values { counts[v, default: 0] += 1 } }
}

/// The elastic cluster end to end, with real processes: nodes join (`rill node add`), replicas
/// move onto them (`rill cluster balance`), a node leaves (`rill node decommission`), another
/// restarts — while an idempotent producer writes and a consumer group reads.
@Suite(.serialized)
struct ElasticClusterTests {
    @Test("3 nodes, add node 4, balance replicas onto it, decommission node 1, restart node 2 — under an idempotent producer and a consumer group: no acknowledged record lost or duplicated, leaders even within 30 s")
    func growShrinkRestart() async throws {
        let c = try LocalCluster(nodes: 3, spareNodes: 1)
        defer { c.stop() }
        let (brokers, client, admin) = try await TopicCommandTests.start(c)
        try await admin.createTopic("el", partitions: 6, replicationFactor: 3)
        let acks = Acks()
        let producing = Task { try await Self.produce(client, acks) }
        var consumerConfiguration = Consumer.Configuration()
        consumerConfiguration.groupID = "el-group"
        consumerConfiguration.heartbeatIntervalMs = 300
        consumerConfiguration.sessionTimeoutMs = 6000
        consumerConfiguration.maxWaitMs = 100
        consumerConfiguration.autoCommitIntervalMs = 1000
        let member = Consumer(client: client, configuration: consumerConfiguration)
        try await member.subscribe(["el"])
        let deliveries = Deliveries()
        let consuming = Task {
            while !Task.isCancelled {
                let records = (try? await member.poll()) ?? []
                await deliveries.add(records.map { String(decoding: $0.value ?? [], as: UTF8.self) })
            }
        }
        try await Task.sleep(for: .seconds(3))
        var steps: [(String, Double)] = []
        func step(_ name: String, _ body: () async throws -> Void) async throws {
            let began = Date()
            try await body()
            steps.append((name, Date().timeIntervalSince(began)))
        }

        // An id a node of the cluster has: refused, and nothing written.
        let (takenStatus, taken) = try await run(c.rill, [
            "node", "add", "--id", "2", "--from", c.configPath(1), "--out", c.dir + "/node-x",
            "--peer", "127.0.0.1:1", "--kafka", "127.0.0.1:2", "--metrics", "127.0.0.1:3",
        ])
        #expect(takenStatus != 0 && taken.contains("node 2 is a founder"), "\(taken)")
        #expect(!FileManager.default.fileExists(atPath: c.dir + "/node-x"))
        // Node 4 joins: a certificate and a node.toml from node 1's, then `rill serve`.
        try await step("add node 4") {
            let (status, out) = try await run(c.rill, [
                "node", "add", "--id", "4", "--from", c.configPath(1), "--out", c.dir + "/node-4",
                "--peer", "127.0.0.1:\(c.peerPort(4))", "--kafka", "127.0.0.1:\(c.kafkaPort + 3)", "--metrics", "127.0.0.1:\(c.statusPort(4))",
            ])
            try #require(status == 0, "\(out)")
            try c.start(4)
            let joined = await c.waitUntil(seconds: 30) {
                [1, 2, 3, 4].allSatisfy { n in c.status(n).map { $0.brokers.count == 4 && $0.controllerLeader != 0 } ?? false }
            }
            try #require(joined != nil, "node 4 did not join; its log:\n\(c.log(4))")
        }
        let beforeMoves = Date()
        try await step("balance onto node 4") {
            let (status, out) = try await run(c.rill, ["cluster", "balance", "-b", brokers, "--wait"])
            #expect(status == 0 && out.contains("done in"), "\(out)")
        }
        let afterMoves = Date()
        // el's and __consumer_offsets' replicas, spread over four nodes to within one.
        let replicas = try await admin.describeTopics(try await admin.listTopics()).flatMap(\.partitions).flatMap(\.replicas)
        let onFour = replicas.filter { $0 == 4 }.count
        #expect(onFour >= replicas.count / 4, "node 4 holds \(onFour) of \(replicas.count) replicas after balancing")

        let survivors = (1..<4).map { "127.0.0.1:\(c.kafkaPort + $0)" }.joined(separator: ",")
        try await step("decommission node 1") {
            let (status, out) = try await run(c.rill, ["node", "decommission", "-b", survivors, "1"])
            #expect(status == 0 && out.contains("node 1 removed"), "\(out)")
        }
        // Node 1's id is gone for good: a link from it (its own certificate) is refused.
        let ca = try CertificateAuthority(
            certificatePEM: Array(FileManager.default.contents(atPath: c.dir + "/ca.pem")!),
            privateKeyPEM: Array(FileManager.default.contents(atPath: c.dir + "/ca.key")!))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        try await PeerProbe.tls(group: group, port: c.peerPort(3), certificate: ca.issueNodeCertificate(node: 1), trust: ca.certificatePEM, hello: 1)
        #expect(await c.waitUntil(seconds: 8) { c.log(3).contains("node 1 was removed from this cluster") } != nil, "node 3 took a link from removed node 1")
        try await group.shutdownGracefully()
        _ = await c.terminate(1)
        let topics = try await admin.listTopics()
        let held = try await admin.describeTopics(topics).flatMap(\.partitions).filter { $0.replicas.contains(1) }
        #expect(held.isEmpty, "node 1 still holds \(held)")
        // Its preferred leaderships went to whichever node took each replica: spread them again.
        try await step("balance after decommission") {
            let (status, out) = try await run(c.rill, ["cluster", "balance", "-b", survivors, "--wait"])
            #expect(status == 0, "\(out)")
        }

        var leaders: [Int32: Int] = [:]
        try await step("restart node 2") {
            #expect(await c.terminate(2) == 0)
            try c.start(2)
            let balanced = await c.waitUntil(seconds: 30) {
                leaders = [:]
                for s in [2, 3, 4].compactMap({ c.status($0) }) {
                    for p in s.partitions where p.leader == s.node { leaders[Int32(s.node), default: 0] += 1 }
                }
                let counts = [2, 3, 4].map { leaders[$0] ?? 0 }
                return c.status(2) != nil && counts.max()! - counts.min()! <= 1
            }
            #expect(balanced != nil, "leaders per node 30 s after node 2 restarted: \(leaders)")
        }

        await acks.stop()
        try await producing.value
        let acked = await acks.values
        let failed = await acks.failed
        // The group catches up with everything acknowledged, then stops.
        let caughtUp = Date().addingTimeInterval(60)
        while Date() < caughtUp {
            let seen = await deliveries.counts
            if acked.allSatisfy({ seen[$0] != nil }) { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        consuming.cancel()
        _ = await consuming.value
        let seen = await deliveries.counts
        let unseen = acked.filter { seen[$0] == nil }
        #expect(unseen.isEmpty, "the consumer group never got \(unseen.count) acknowledged records, e.g. \(unseen.prefix(5))")
        await member.close()

        // The log: every acknowledged record exactly once (the producer is idempotent).
        let reader = Consumer(client: client)
        try await reader.assign(topic: "el", from: .earliest)
        var read: [String: Int] = [:]
        let deadline = Date().addingTimeInterval(60)
        while read.count < acked.count && Date() < deadline {
            for r in try await reader.poll() { read[String(decoding: r.value ?? [], as: UTF8.self), default: 0] += 1 }
        }
        let lost = acked.filter { read[$0] == nil }
        let twice = read.filter { $0.value > 1 }
        #expect(lost.isEmpty, "\(lost.count) acknowledged records lost, e.g. \(lost.prefix(5))")
        #expect(twice.isEmpty, "\(twice.count) records in the log twice, e.g. \(twice.prefix(5))")
        let redelivered = seen.values.filter { $0 > 1 }.count
        let before = await acks.rate(from: beforeMoves.addingTimeInterval(-3), to: beforeMoves)
        let during = await acks.rate(from: beforeMoves, to: afterMoves)
        print("""
            elastic cluster: \(acked.count) records acknowledged (\(failed) sends failed, not acknowledged), \
            \(read.count) in the log, \(redelivered) redelivered to the group; \
            steps: \(steps.map { "\($0.0) \(String(format: "%.1f", $0.1)) s" }.joined(separator: ", ")); \
            producer \(String(format: "%.0f", before))/s before the moves, \(String(format: "%.0f", during))/s during (\(String(format: "%.2f", during / max(before, 1)))); \
            leaders after the restart \(leaders.sorted { $0.key < $1.key })
            """)
        await client.shutdown()
    }

    /// Write `e-0`, `e-1`, ... in windows of 50 until told to stop; what is acknowledged is noted.
    private static func produce(_ client: KafkaClient, _ acks: Acks) async throws {
        var configuration = ProducerConfiguration()
        configuration.lingerMs = 2
        let producer = try Producer(client: client, configuration: configuration)
        var i = 0
        while await !acks.stopped {
            var window: [(String, EventLoopFuture<RecordMetadata>)] = []
            for _ in 0..<50 {
                let value = "e-\(i)"
                i += 1
                window.append((value, try await producer.enqueue(ProducerRecord(topic: "el", key: Array(value.utf8), value: Array(value.utf8)))))
            }
            for (value, f) in window {
                if (try? await f.get()) != nil { await acks.add(value) } else { await acks.fail() }
            }
        }
        try await producer.close()
    }
}
