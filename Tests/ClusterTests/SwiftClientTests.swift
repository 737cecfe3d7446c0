import Foundation
import KafkaProtocol
import NIOCore
import RillClient
import Testing

/// The Swift client (`RillClient`) against three real `rill serve` processes.
@Suite(.serialized)
struct SwiftClientTests {
    func bootstrap(_ c: LocalCluster) -> [String] { (0..<c.nodes).map { "127.0.0.1:\(c.kafkaPort + $0)" } }

    /// The node leading `topic`'s partition 0, from the status listeners.
    func partitionLeader(_ c: LocalCluster, _ topic: String) -> Int? {
        for n in 1...c.nodes {
            if let s = c.status(n), let p = s.partitions.first(where: { $0.topic == topic && $0.partition == 0 }), let l = p.leader, l != 0 {
                return Int(l)
            }
        }
        return nil
    }

    @Test("the Swift producer keeps producing through a kill -9 of the partition leader; the consumer reads every acknowledged record once, in order")
    func produceThroughLeaderKill() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        try c.startAll()
        try await c.waitSettled()
        let client = try KafkaClient(bootstrap: bootstrap(c))
        let admin = Admin(client: client)
        try await admin.createTopic("swift-failover", partitions: 1)
        await expectKafkaError(.topicAlreadyExists) { try await admin.createTopic("swift-failover", partitions: 1) }
        #expect(try await admin.listTopics().contains("swift-failover"))

        var configuration = ProducerConfiguration()
        configuration.lingerMs = 2
        configuration.batchBytes = 4096  // many small batches: several requests in flight at the kill
        let producer = try Producer(client: client, configuration: configuration)
        let total = 4000
        var acknowledged: [(index: Int, offset: Int64)] = []
        var failed: [String] = []
        var killed: Int?
        var window: [(Int, EventLoopFuture<RecordMetadata>)] = []
        for i in 0..<total {
            window.append((i, try await producer.enqueue(ProducerRecord(topic: "swift-failover", value: Array("record-\(i)".utf8)))))
            if window.count == 200 || i == total - 1 {
                for (k, f) in window {
                    do {
                        acknowledged.append((k, try await f.get().offset))
                    } catch {
                        failed.append("record \(k): \(error)")
                    }
                }
                window.removeAll()
            }
            if i == 1100 {
                // Kill the leader with records in flight, restart it a little later.
                killed = partitionLeader(c, "swift-failover")
                if let killed { c.kill9(killed) }
            }
            if i == 2600, let killed { try c.start(killed) }
        }
        try await producer.flush()
        print("produced \(acknowledged.count) records, leader \(killed.map(String.init) ?? "-") killed at record 1100")
        #expect(killed != nil, "no partition leader found to kill")
        // With idempotence and a two-minute delivery timeout, a failover fails nothing.
        #expect(failed.isEmpty, "\(failed.count) records failed: \(failed.prefix(3))")
        // Offsets: one per record, increasing with the production order (one producer, one partition).
        let increasing = zip(acknowledged, acknowledged.dropFirst()).allSatisfy { $0.offset < $1.offset && $0.index < $1.index }
        #expect(increasing, "acknowledged offsets do not increase with the production order")

        // Small fetches (below one batch: the broker still returns a whole first batch), so the
        // reading takes many polls and the kill below lands in the middle of it.
        var consumerConfiguration = Consumer.Configuration()
        consumerConfiguration.partitionMaxBytes = 1024
        let consumer = Consumer(client: client, configuration: consumerConfiguration)
        await consumer.assign(topic: "swift-failover", partition: 0, from: .earliest)
        var read: [ConsumerRecord] = []
        let deadline = Date().addingTimeInterval(60)
        var killedWhileReading: Int?
        while read.count < acknowledged.count && Date() < deadline {
            read += try await consumer.poll()
            if read.count >= acknowledged.count / 2 && killedWhileReading == nil {
                // The consumer must find the new leader and go on from its position.
                killedWhileReading = partitionLeader(c, "swift-failover")
                if let k = killedWhileReading { c.kill9(k) } else { killedWhileReading = 0 }
            }
        }
        #expect((killedWhileReading ?? 0) != 0, "no leader killed while reading")
        print("read \(read.count) records; leader \(killedWhileReading ?? 0) killed after \(acknowledged.count / 2)")
        let values = read.map { String(decoding: $0.value ?? [], as: UTF8.self) }
        let expected = acknowledged.map { "record-\($0.index)" }
        // Compact failure messages: the first difference, not four thousand values.
        let firstDifference = zip(values, expected).enumerated().first { $0.element.0 != $0.element.1 }
        let duplicates = values.count - Set(values).count
        #expect(duplicates == 0, "\(duplicates) records read twice")
        let allInOrder = values.count == expected.count && firstDifference == nil
        #expect(allInOrder,
                "read \(values.count) of \(expected.count) acknowledged records; first difference: \(String(describing: firstDifference))")
        let sameOffsets = read.map(\.offset) == acknowledged.map(\.offset)
        #expect(sameOffsets, "offsets read differ from the offsets acknowledged")
        await client.shutdown()
    }

    @Test("a follower down while the leader's memory log was snapshotted many times catches up from the leader's disk and keeps every record")
    func catchUpFromTheLeadersDisk() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        for n in 1...3 {
            let config = try String(contentsOfFile: c.configPath(n), encoding: .utf8)
                .replacingOccurrences(of: "auto_create_topics = true", with: "auto_create_topics = true\nmemory_snapshot_bytes = 65536")
            try config.write(toFile: c.configPath(n), atomically: true, encoding: .utf8)
        }
        try c.startAll()
        try await c.waitSettled()
        let client = try KafkaClient(bootstrap: bootstrap(c))
        try await Admin(client: client).createTopic("catch-up", partitions: 1)
        let leader = try #require(await c.waitUntil(seconds: 15) { partitionLeader(c, "catch-up") != nil }.flatMap { _ in partitionLeader(c, "catch-up") })
        let follower = leader % 3 + 1
        c.kill9(follower)
        // About 2 MB while the follower is down: the leader snapshots its memory every 64 KiB.
        var configuration = ProducerConfiguration()
        configuration.batchBytes = 16 * 1024  // about 130 Raft entries
        let producer = try Producer(client: client, configuration: configuration)
        for i in 0..<2000 { _ = try await producer.enqueue(ProducerRecord(topic: "catch-up", value: Array(repeating: UInt8(i % 251), count: 1000))) }
        try await producer.flush()
        try c.start(follower)
        func commit(_ n: Int) -> UInt64? { c.status(n)?.partitions.first { $0.topic == "catch-up" }?.commit }
        let group = try #require(c.status(leader)?.partitions.first { $0.topic == "catch-up" }?.group)
        func logBytes(_ n: Int) -> Int {
            let dir = c.dir + "/node-\(n)/data/group-\(group)/log"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            return names.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: dir + "/" + $1)[.size] as? Int) ?? 0) }
        }
        // Caught up: the same commit, and (its appends written a moment after the commit index
        // reached it: a status page can be read in between) the same bytes on disk.
        let caughtUp = await c.waitUntil(seconds: 60) {
            guard let mine = commit(follower), let theirs = commit(leader) else { return false }
            return mine == theirs && mine > 100 && logBytes(follower) == logBytes(leader)
        }
        #expect(caughtUp != nil, "follower \(follower) at \(String(describing: commit(follower))) with \(logBytes(follower)) bytes, leader \(leader) at \(String(describing: commit(leader))) with \(logBytes(leader)) bytes")
        // Its log still starts at the first entry: it got the records, not a snapshot in their place.
        let logDir = c.dir + "/node-\(follower)/data/group-\(group)/log"
        let segments = try FileManager.default.contentsOfDirectory(atPath: logDir).sorted()
        #expect(segments.first == "00000000000000000001.log", "segments of the follower: \(segments)")
        #expect(logBytes(follower) > 1_900_000, "log bytes: follower \(logBytes(follower)), leader \(logBytes(leader))")
        await client.shutdown()
    }

    @Test("keys land on Kafka's partitions; headers and timestamps survive; seek by timestamp, offset and latest")
    func keysHeadersAndSeek() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        try c.startAll()
        try await c.waitSettled()
        let client = try KafkaClient(bootstrap: bootstrap(c))
        try await Admin(client: client).createTopic("swift-keys", partitions: 3)
        let producer = try Producer(client: client)
        let early: Int64 = 1_700_000_000_000
        var sent: [RecordMetadata] = []
        for i in 0..<60 {
            let record = ProducerRecord(
                topic: "swift-keys", key: Array("key-\(i % 6)".utf8), value: Array("v\(i)".utf8),
                headers: [RecordHeader(key: "n", value: Array("\(i)".utf8)), RecordHeader(key: "empty", value: nil)],
                timestamp: early + Int64(i) * 1000)
            sent.append(try await producer.send(record))
        }
        for (i, m) in sent.enumerated() {
            #expect(m.partition == Int32(Partitioner.partition(forKey: Array("key-\(i % 6)".utf8), count: 3)))
        }
        let consumer = Consumer(client: client)
        try await consumer.assign(topic: "swift-keys", from: .earliest)
        var read: [ConsumerRecord] = []
        while read.count < 60 { read += try await consumer.poll() }
        #expect(read.count == 60)
        for r in read {
            let i = Int(String(decoding: r.value!, as: UTF8.self).dropFirst())!
            #expect(r.timestamp == early + Int64(i) * 1000)
            #expect(r.headers == [RecordHeader(key: "n", value: Array("\(i)".utf8)), RecordHeader(key: "empty", value: nil)])
            #expect(r.key == Array("key-\(i % 6)".utf8))
            #expect(sent[i].partition == r.partition && sent[i].offset == r.offset)
        }
        // Seek: the first record at or after record 30's timestamp, in its partition.
        let p = sent[30].partition
        await consumer.seek(topic: "swift-keys", partition: p, to: .timestamp(early + 30_000))
        #expect(try await consumer.position(topic: "swift-keys", partition: p) == sent[30].offset)
        await consumer.seek(topic: "swift-keys", partition: p, to: .offset(sent[30].offset))
        #expect(try await consumer.position(topic: "swift-keys", partition: p) == sent[30].offset)
        await consumer.seek(topic: "swift-keys", partition: p, to: .latest)
        let end = sent.filter { $0.partition == p }.map(\.offset).max()! + 1
        #expect(try await consumer.position(topic: "swift-keys", partition: p) == end)
        await consumer.seek(topic: "swift-keys", partition: p, to: .timestamp(early + 10_000_000))
        #expect(try await consumer.position(topic: "swift-keys", partition: p) == end, "a time after every record: the end")
        await client.shutdown()
    }

    @Test("rill produce reads lines (key:value) from standard input; rill consume prints them back; Admin describes the topic")
    func cli() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        try c.startAll()
        try await c.waitSettled()
        let brokers = bootstrap(c).joined(separator: ",")
        let lines = (0..<50).map { "k\($0 % 5):line \($0)" }.joined(separator: "\n") + "\n"
        let (status, output) = try await run(c.rill, ["produce", "-b", brokers, "cli-topic", "--key-separator", ":"], input: lines)
        #expect(status == 0, "rill produce failed: \(output)")
        #expect(output.contains("produced 50 records to cli-topic"))
        let (cStatus, printed) = try await run(c.rill, ["consume", "-b", brokers, "cli-topic", "--exit-at-end"])
        #expect(cStatus == 0)
        let values = printed.split(separator: "\n").map(String.init).filter { $0.hasPrefix("line ") }
        #expect(Set(values) == Set((0..<50).map { "line \($0)" }), "consumed: \(printed.prefix(500))")
        let client = try KafkaClient(bootstrap: bootstrap(c))
        let admin = Admin(client: client)
        let described = try await admin.describeTopics(["cli-topic"])
        #expect(described.first?.partitions.count == 1 && described.first?.partitions.first?.leader != nil)
        #expect(described.first?.partitions.first?.replicas.sorted() == [1, 2, 3])
        let cluster = try await admin.describeCluster()
        #expect(cluster.brokers.map(\.node) == [1, 2, 3] && cluster.controller != nil)
        await expectKafkaError(.unknownTopicOrPartition) { _ = try await admin.describeTopics(["no-such-topic"]) }
        await client.shutdown()
    }
}

/// The call must fail with Kafka error `code`.
func expectKafkaError(_ code: ErrorCode, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected Kafka error \(code), got success")
    } catch RillClientError.kafka(let got, _) {
        #expect(got == code)
    } catch {
        Issue.record("expected Kafka error \(code), got \(error)")
    }
}

/// Consumer groups with the Swift consumer against three real nodes.
@Suite(.serialized)
struct SwiftGroupTests {
    func groupConsumer(_ c: LocalCluster, _ client: KafkaClient, autoCommit: Bool, group: String = "swift-group", sessionMs: Int32 = 10_000) -> Consumer {
        var configuration = Consumer.Configuration()
        configuration.groupID = group
        configuration.autoCommit = autoCommit
        configuration.heartbeatIntervalMs = 300
        configuration.sessionTimeoutMs = sessionMs
        configuration.maxWaitMs = 100
        return Consumer(client: client, configuration: configuration)
    }

    /// Polls each consumer from its own task, as applications do: a member's JoinGroup is held
    /// until every member has rejoined, so polling them in turn from one loop would keep the
    /// others from rejoining (the cause of a CI failure: one-member generations flipping).
    static func pollEach(_ consumers: [Consumer], until done: @escaping @Sendable () async -> Bool, deadline: Date, seen: Seen, commit: Bool = true) async {
        await withTaskGroup(of: Void.self) { group in
            for consumer in consumers {
                group.addTask {
                    while Date() < deadline, !(await done()) {
                        if let records = try? await consumer.poll() { await seen.take(records) }
                        // While members join, a commit may meet a rebalance (the next poll rejoins).
                        if commit { try? await consumer.commit() }
                    }
                }
            }
        }
    }

    @Test("a member that polls late during a rebalance keeps its session by heartbeating and gives its partitions up before the other gets them")
    func latePollKeepsMembership() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        try c.startAll()
        try await c.waitSettled()
        let client = try KafkaClient(bootstrap: (0..<3).map { "127.0.0.1:\(c.kafkaPort + $0)" })
        try await Admin(client: client).createTopic("late", partitions: 6)
        let events = EventLog()
        // A 6 s session (the cluster's minimum); c1 then stays away from poll for 15 s while c2 joins.
        let c1 = groupConsumer(c, client, autoCommit: true, group: "late-group", sessionMs: 6000)
        let c2 = groupConsumer(c, client, autoCommit: true, group: "late-group", sessionMs: 6000)
        try await c1.subscribe(["late"]) { await events.add("c1", $0) }
        let alone = Date().addingTimeInterval(60)
        while await c1.assignment.count != 6 && Date() < alone { _ = try await c1.poll() }
        let first = await events.all
        try #require(await c1.assignment.count == 6, "c1 alone did not get the six partitions: \(first)")
        try await c2.subscribe(["late"]) { await events.add("c2", $0) }
        let seen = Seen()
        let c2Polls = Task { await Self.pollEach([c2], until: { await c2.assignment.count == 3 }, deadline: Date().addingTimeInterval(60), seen: seen) }
        try await Task.sleep(for: .seconds(15))
        await Self.pollEach([c1], until: {
            let (a1, a2) = (await c1.assignment, await c2.assignment)
            return a1.count == 3 && a2.count == 3
        }, deadline: Date().addingTimeInterval(60), seen: seen)
        await c2Polls.value
        let (a1, a2, log) = (await c1.assignment, await c2.assignment, await events.all)
        #expect(a1.count == 3 && a2.count == 3 && Set(a1).isDisjoint(with: Set(a2)), "no 3/3 split: \(a1) / \(a2); events \(log)")
        let overlap = await events.overlap
        #expect(overlap == nil, "two members held a partition at once: \(overlap ?? ""); events \(log)")
        #expect(!log.contains { $0.hasPrefix("c1 lost") }, "c1 was expelled while it heartbeated: \(log)")
        await c1.close()
        await c2.close()
        await client.shutdown()
    }

    @Test("two Swift consumers split six partitions; one leaves and the other takes all; restarted members resume from the commits")
    func splitLeaveResume() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        try c.startAll()
        try await c.waitSettled()
        let client = try KafkaClient(bootstrap: (0..<3).map { "127.0.0.1:\(c.kafkaPort + $0)" })
        try await Admin(client: client).createTopic("groups", partitions: 6)
        let producer = try Producer(client: client)
        for i in 0..<600 { _ = try await producer.enqueue(ProducerRecord(topic: "groups", key: Array("k\(i)".utf8), value: Array("a-\(i)".utf8))) }
        try await producer.flush()

        let events = EventLog()
        let seen = Seen()
        let c1 = groupConsumer(c, client, autoCommit: false)
        let c2 = groupConsumer(c, client, autoCommit: false)
        try await c1.subscribe(["groups"]) { await events.add("c1", $0) }
        try await c2.subscribe(["groups"]) { await events.add("c2", $0) }
        await Self.pollEach([c1, c2], until: {
            let (a1, a2) = (await c1.assignment, await c2.assignment)
            return a1.count == 3 && a2.count == 3 && Set(a1).isDisjoint(with: Set(a2))
        }, deadline: Date().addingTimeInterval(90), seen: seen)
        let (a1, a2, log) = (await c1.assignment, await c2.assignment, await events.all)
        #expect(a1.count == 3 && a2.count == 3 && Set(a1).isDisjoint(with: Set(a2)), "no 3/3 split: \(a1) / \(a2); events \(log)")
        let overlap = await events.overlap
        #expect(overlap == nil, "two members held a partition at once: \(overlap ?? ""); events \(log)")
        await c2.close()
        let takeover = Date().addingTimeInterval(60)
        while await c1.assignment.count != 6 && Date() < takeover {
            await seen.take(try await c1.poll())
            try? await c1.commit()
        }
        let all = await c1.assignment
        #expect(all.count == 6, "c1 did not take over: \(all)")
        let rest = Date().addingTimeInterval(60)
        while await seen.count < 600 && Date() < rest {
            await seen.take(try await c1.poll())
            try? await c1.commit()
        }
        await seen.take(try await c1.poll())
        try await c1.commit()  // alone and stable now: this one must succeed
        let (read, overlapLater) = (await seen.count, await events.overlap)
        #expect(read == 600, "\(read) of 600 read")
        #expect(overlapLater == nil, "two members held a partition at once: \(overlapLater ?? "")")
        await c1.close()

        for i in 0..<60 { _ = try await producer.enqueue(ProducerRecord(topic: "groups", key: Array("k\(i)".utf8), value: Array("b-\(i)".utf8))) }
        try await producer.flush()
        let r1 = groupConsumer(c, client, autoCommit: true)
        let r2 = groupConsumer(c, client, autoCommit: true)
        try await r1.subscribe(["groups"])
        try await r2.subscribe(["groups"])
        let resumed = Seen()
        await Self.pollEach([r1, r2], until: { await resumed.count >= 60 }, deadline: Date().addingTimeInterval(90), seen: resumed, commit: false)
        let again = await resumed.counts
        let old = again.keys.filter { $0.hasPrefix("a-") }
        #expect(Set(again.keys) == Set((0..<60).map { "b-\($0)" }), "read \(again.count), \(old.count) of them old")
        await r1.close()
        await r2.close()
        // Auto-commit at close: a third run finds nothing new.
        let r3 = groupConsumer(c, client, autoCommit: true)
        try await r3.subscribe(["groups"])
        var third: [ConsumerRecord] = []
        let quiet = Date().addingTimeInterval(6)
        while Date() < quiet { third += try await r3.poll() }
        #expect(third.isEmpty, "\(third.count) records read again after auto-commit at close")
        await r3.close()
        await client.shutdown()
    }
}

extension SwiftGroupTests {
    @Test("rill group list, describe (lag per partition) and reset-offsets (refused while a member is in the group)")
    func groupCommands() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        try c.startAll()
        try await c.waitSettled()
        let brokers = (0..<3).map { "127.0.0.1:\(c.kafkaPort + $0)" }
        let client = try KafkaClient(bootstrap: brokers)
        try await Admin(client: client).createTopic("cli-groups", partitions: 2)
        let producer = try Producer(client: client)
        for i in 0..<40 { try await producer.send(ProducerRecord(topic: "cli-groups", partition: Int32(i % 2), value: [UInt8(i)])) }
        var configuration = Consumer.Configuration()
        configuration.groupID = "cli-group"
        configuration.autoCommit = false
        configuration.maxWaitMs = 100
        let consumer = Consumer(client: client, configuration: configuration)
        try await consumer.subscribe(["cli-groups"])
        var read = 0
        let deadline = Date().addingTimeInterval(60)
        while read < 30 && Date() < deadline { read += try await consumer.poll().count }
        // Each partition ends at 20: committing 10 and 20 gives lags 10 and 0.
        try await consumer.commit([(TopicPartition(topic: "cli-groups", partition: 0), 10), (TopicPartition(topic: "cli-groups", partition: 1), 20)])
        let brokersArg = brokers.joined(separator: ",")
        let (_, list) = try await run(c.rill, ["group", "list", "-b", brokersArg])
        #expect(list.split(separator: "\n").contains("cli-group"), "\(list)")
        let (_, described) = try await run(c.rill, ["group", "describe", "-b", brokersArg, "cli-group"])
        #expect(described.contains("Stable"), "\(described)")
        let lines = described.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(lines.contains { $0.count >= 5 && $0[0] == "cli-groups" && $0[1] == "0" && $0[2] == "10" && $0[3] == "20" && $0[4] == "10" }, "\(described)")
        #expect(lines.contains { $0.count >= 5 && $0[0] == "cli-groups" && $0[1] == "1" && $0[2] == "20" && $0[4] == "0" }, "\(described)")
        let (refusedStatus, refused) = try await run(c.rill, ["group", "reset-offsets", "-b", brokersArg, "cli-group", "--topic", "cli-groups", "--to", "earliest"])
        #expect(refusedStatus != 0 && refused.contains("stop its consumers"), "\(refused)")
        await consumer.close()
        let (okStatus, reset) = try await run(c.rill, ["group", "reset-offsets", "-b", brokersArg, "cli-group", "--topic", "cli-groups", "--to", "earliest"])
        #expect(okStatus == 0 && reset.contains("cli-groups[0]: 0") && reset.contains("cli-groups[1]: 0"), "\(reset)")
        let again = Consumer(client: client, configuration: configuration)
        try await again.subscribe(["cli-groups"])
        var reread = 0
        let until = Date().addingTimeInterval(60)
        while reread < 40 && Date() < until { reread += try await again.poll().count }
        #expect(reread == 40, "after the reset to earliest every record is read again")
        await again.close()
        await client.shutdown()
    }
}

/// Rebalance events of several members, in the order they happened, and the first moment two
/// members held the same partition (a member's partitions are its from `assigned` until
/// `revoked` or `lost`).
actor EventLog {
    var all: [String] = []
    private var held: [String: Set<TopicPartition>] = [:]
    private(set) var overlap: String?
    func add(_ member: String, _ e: RebalanceEvent) {
        switch e {
        case .assigned(let p):
            all.append("\(member) assigned \(p)")
            for (other, theirs) in held.sorted(by: { $0.key < $1.key }) where other != member && !theirs.isDisjoint(with: p) && overlap == nil {
                overlap = "\(member) was assigned \(theirs.intersection(p).sorted { $0.partition < $1.partition }) while \(other) held them"
            }
            held[member, default: []].formUnion(p)
        case .revoked(let p):
            all.append("\(member) revoked \(p)")
            held[member, default: []].subtract(p)
        case .lost(let p):
            all.append("\(member) lost \(p)")
            held[member, default: []].subtract(p)
        }
    }
}

/// Values read, with how often each was returned.
actor Seen {
    var counts: [String: Int] = [:]
    var count: Int { counts.count }
    func take(_ records: [ConsumerRecord]) { for r in records { counts[String(decoding: r.value!, as: UTF8.self), default: 0] += 1 } }
}
