import Foundation
import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Testing

extension MiniCluster {
    /// Send one Kafka request to node `i`; returns the reply now, or after running until it is ready.
    func kafka(_ i: Int, key: ApiKey, version: Int16, correlation: Int32 = 1, _ body: (inout KafkaWriter) -> Void) -> ByteBuffer? {
        var w = KafkaWriter()
        body(&w)
        let request = KafkaRequest(
            connection: 1, sequence: UInt64(correlation),
            header: RequestHeader(apiKey: key.rawValue, apiVersion: version, correlationID: correlation, clientID: "test"), body: w.buffer)
        let (reply, out) = cores[i].handleKafka(request)
        take(i, out)
        switch reply {
        case .respond(let b): return b
        case .noResponse, .close: return nil
        case .pending:
            for _ in 0..<200 {
                if let c = completions.first(where: { $0.sequence == UInt64(correlation) }) { return c.response }
                run(ticks: 1)
            }
            return nil
        }
    }

    /// Unframe a response and check its correlation id; `flexible`: response header v1 (its
    /// tagged fields read past).
    static func body(_ framed: ByteBuffer?, correlation: Int32 = 1, flexible: Bool = false) throws -> KafkaReader {
        var f = try #require(framed)
        let inner = try #require(try KafkaFrame.next(from: &f))
        var r = KafkaReader(inner)
        #expect(try ResponseHeader.decode(&r, flexible: flexible) == correlation)
        return r
    }

    var controllerIndex: Int { controllerLeader ?? 0 }

    /// The Raft group of a topic's partition, as node 0 knows it.
    func groupOf(_ topic: String, _ partition: Int32) -> GroupID? {
        cores[0].controller.topic(topic)?.partitions.first { $0.partition == partition }?.group
    }

    /// The node leading a topic's partition.
    func leader(of topic: String, _ partition: Int32) -> Int? {
        guard let g = groupOf(topic, partition) else { return nil }
        return cores.indices.first { cores[$0].raftOf(g)?.role == .leader }
    }
}

struct KafkaServiceTests {
    @Test("ApiVersions advertises exactly what is served; v3+ gets error 35 in the v0 layout")
    func apiVersions() throws {
        let c = try MiniCluster(nodes: 3)
        var r = try MiniCluster.body(c.kafka(0, key: .apiVersions, version: 2) { _ in })
        let v = try ApiVersionsResponse.decode(&r, version: 2)
        #expect(v.errorCode == .none)
        #expect(v.apiKeys.map(\.apiKey) == ServedApis.versions.map(\.key.rawValue))
        // v3 is flexible in its body (and request header), never in its response header.
        var r3 = try MiniCluster.body(c.kafka(0, key: .apiVersions, version: 3) {
            ApiVersionsRequest(clientSoftwareName: "rill-tests", clientSoftwareVersion: "1").encode(&$0, version: 3)
        })
        let v3 = try ApiVersionsResponse.decode(&r3, version: 3)
        #expect(v3.errorCode == .none && v3.apiKeys == v.apiKeys && r3.remaining == 0)
        // Kafka's pattern for the software name and version: anything else is INVALID_REQUEST.
        var bad = try MiniCluster.body(c.kafka(0, key: .apiVersions, version: 4, correlation: 2) {
            ApiVersionsRequest(clientSoftwareName: "rill tests!", clientSoftwareVersion: "1").encode(&$0, version: 4)
        }, correlation: 2)
        let refused = try ApiVersionsResponse.decode(&bad, version: 4)
        #expect(refused.errorCode == ErrorCode.invalidRequest && refused.apiKeys.isEmpty)
        // A version newer than any served: error 35 in the v0 layout, whatever the body.
        var r5 = try MiniCluster.body(c.kafka(0, key: .apiVersions, version: 5) { $0.int8(0) })
        let fallback = try ApiVersionsResponse.decode(&r5, version: 0)
        #expect(fallback.errorCode == ErrorCode.unsupportedVersion)
        #expect(fallback.apiKeys.contains { $0.apiKey == 18 && $0.maxVersion == 4 })
        // Transactions off: their APIs are not advertised, and a request for one closes.
        let off = try MiniCluster(nodes: 3) { $0.servesTransactions = false }
        var ro = try MiniCluster.body(off.kafka(0, key: .apiVersions, version: 2) { _ in })
        let keys = try ApiVersionsResponse.decode(&ro, version: 2).apiKeys.map(\.apiKey)
        #expect(keys == ServedApis.versions.map(\.key.rawValue).filter { !ServedApis.transactionKeys.map(\.rawValue).contains($0) })
        #expect(v.apiKeys.contains { $0.apiKey == ApiKey.endTxn.rawValue && $0.maxVersion == 3 }, "on by default")
        #expect(off.kafka(0, key: .endTxn, version: 0) { EndTxnRequest(transactionalID: "x").encode(&$0, version: 0) } == nil)
    }

    @Test("an error message quoting a longest-possible name is shortened, not a trap (classic strings hold 32,767 bytes)")
    func longNamesInMessages() throws {
        let c = try MiniCluster(nodes: 1)
        c.run(ticks: 30)
        let name = String(repeating: "é", count: 16_383)  // 32,766 bytes: the most a request may carry
        var r = try MiniCluster.body(c.kafka(0, key: .createTopics, version: 4) {
            CreateTopicsRequest(topics: [.init(name: name, numPartitions: 1, replicationFactor: 1), .init(name: name, numPartitions: 1, replicationFactor: 1)],
                                timeoutMs: 1000).encode(&$0, version: 4)
        })
        let answer = try CreateTopicsResponse.decode(&r, version: 4)
        #expect(answer.topics.map(\.errorCode) == [ErrorCode.invalidTopic, ErrorCode.invalidRequest])
        let message = try #require(answer.topics.last?.errorMessage)
        #expect(message.utf8.count <= 32_767 && message.hasPrefix("topic '") && message.unicodeScalars.allSatisfy { $0 != "\u{FFFD}" })
    }

    @Test("docs/kafka.md's table of served versions is what ApiVersions advertises")
    func docsTable() throws {
        let c = try MiniCluster(nodes: 1)
        var r = try MiniCluster.body(c.kafka(0, key: .apiVersions, version: 3) {
            ApiVersionsRequest(clientSoftwareName: "rill-tests", clientSoftwareVersion: "1.0").encode(&$0, version: 3)
        })
        let advertised = try ApiVersionsResponse.decode(&r, version: 3).apiKeys
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/kafka.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let table = try #require(text.components(separatedBy: "<!-- served-versions").dropFirst().first)
        // Rows like "| Produce (0) | 3-11 | notes |", up to the first line that is not a row.
        var rows: [Int16: (name: String, versions: String)] = [:]
        for line in table.split(separator: "\n").dropFirst(3) {
            guard line.hasPrefix("| ") else { break }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let api = cells[0]
            guard let open = api.lastIndex(of: "("), let key = Int16(api[api.index(after: open)...].dropLast()) else {
                Issue.record("unreadable row: \(line)")
                continue
            }
            rows[key] = (api, cells[1])
        }
        #expect(rows.count == advertised.count, "docs list \(rows.count) APIs, ApiVersions \(advertised.count)")
        for a in advertised {
            let key = try #require(ApiKey(rawValue: a.apiKey))
            let served = try #require(ServedApis.served(key))
            #expect(rows[a.apiKey]?.name == "\(key.name) (\(a.apiKey))")
            #expect(rows[a.apiKey]?.versions == "\(served.lowerBound)-\(a.maxVersion)", "\(key.name)")
            #expect(a.maxVersion == served.upperBound && a.minVersion <= served.lowerBound)
        }
    }

    @Test("flexible versions through the broker: Metadata v12 with topic ids, DescribeCluster, Produce v11 and Fetch v17 by topic id")
    func flexibleVersions() throws {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        let leader = c.controllerIndex
        var cr = try MiniCluster.body(c.kafka(leader, key: .createTopics, version: 7) {
            CreateTopicsRequest(topics: [.init(name: "flex", numPartitions: 1, replicationFactor: 3)], timeoutMs: 5000).encode(&$0, version: 7)
        }, flexible: true)
        let created = try #require(try CreateTopicsResponse.decode(&cr, version: 7).topics.first)
        #expect(created.errorCode == ErrorCode.none && !created.topicID.isZero && created.numPartitions == 1 && created.replicationFactor == 3)
        c.run(ticks: 60)
        var mr = try MiniCluster.body(c.kafka(leader, key: .metadata, version: 12, correlation: 2) {
            MetadataRequest(topics: [.init(topicID: created.topicID)]).encode(&$0, version: 12)
        }, correlation: 2, flexible: true)
        let meta = try MetadataResponse.decode(&mr, version: 12)
        #expect(mr.remaining == 0)
        #expect(meta.topics.map(\.name) == ["flex"] && meta.topics.first?.topicID == created.topicID)
        let partitionLeader = Int(try #require(meta.topics.first?.partitions.first?.leaderID)) - 1
        var dr = try MiniCluster.body(c.kafka(leader, key: .describeCluster, version: 1, correlation: 3) {
            DescribeClusterRequest().encode(&$0, version: 1)
        }, correlation: 3, flexible: true)
        let cluster = try DescribeClusterResponse.decode(&dr, version: 1)
        #expect(cluster.brokers.map(\.brokerID) == [1, 2, 3] && cluster.controllerID == Int32(leader + 1))
        // ListPartitionReassignments (flexible only): none in progress, for all topics or named ones.
        for (k, topics) in [nil, [ListPartitionReassignmentsRequest.ListPartitionReassignmentsTopics(name: "flex", partitionIndexes: [0])]].enumerated() {
            let correlation = Int32(30 + k)
            var lr = try MiniCluster.body(c.kafka(leader, key: .listPartitionReassignments, version: 0, correlation: correlation) {
                ListPartitionReassignmentsRequest(topics: topics).encode(&$0, version: 0)
            }, correlation: correlation, flexible: true)
            let reassignments = try ListPartitionReassignmentsResponse.decode(&lr, version: 0)
            #expect(reassignments.errorCode == ErrorCode.none && reassignments.topics.isEmpty)
        }

        let batch = RecordBatch.build(records: [(nil, Array("v".utf8))], timestamp: 1000)
        var pr = try MiniCluster.body(c.kafka(partitionLeader, key: .produce, version: 11, correlation: 4) {
            ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [.init(name: "flex", partitionData: [.init(index: 0, records: batch.bytes)])])
                .encode(&$0, version: 11)
        }, correlation: 4, flexible: true)
        let produced = try #require(try ProduceResponse.decode(&pr, version: 11).responses.first?.partitionResponses.first)
        #expect(produced.errorCode == ErrorCode.none && produced.baseOffset == 0)
        var fr = try MiniCluster.body(c.kafka(partitionLeader, key: .fetch, version: 17, correlation: 5) {
            FetchRequest(maxWaitMs: 0, minBytes: 1, topics: [
                .init(topicID: created.topicID, partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)]),
                .init(topicID: KafkaUUID(high: 1, low: 2), partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)]),
            ]).encode(&$0, version: 17)
        }, correlation: 5, flexible: true)
        let fetched = try FetchResponse.decode(&fr, version: 17)
        #expect(fetched.responses.map(\.topicID) == [created.topicID, KafkaUUID(high: 1, low: 2)])
        #expect(fetched.responses.map { $0.partitions[0].errorCode } == [ErrorCode.none, ErrorCode.unknownTopicID])
        #expect(fetched.responses[0].partitions[0].highWatermark == 1 && (fetched.responses[0].partitions[0].records?.readableBytes ?? 0) > 0)
    }

    @Test("Metadata: all brokers, the controller, and every partition's leader and epoch on every node")
    func metadata() throws {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        let (out, _) = try c.cores[c.controllerIndex].proposeToController(.createTopic(name: "t", partitions: 3, replicationFactor: 2))
        c.take(c.controllerIndex, out)
        c.run(ticks: 60)
        for i in 0..<3 {
            var r = try MiniCluster.body(c.kafka(i, key: .metadata, version: 8) { MetadataRequest(topics: nil, allowAutoTopicCreation: false).encode(&$0, version: 8) })
            let m = try MetadataResponse.decode(&r, version: 8)
            #expect(m.brokers.map(\.nodeID) == [1, 2, 3])
            #expect(m.controllerID == Int32(c.controllerIndex + 1))
            #expect(m.clusterID == "rill")
            let t = try #require(m.topics.first)
            #expect(t.name == "t" && t.partitions.count == 3)
            for p in t.partitions {
                // Nodes outside a partition's replica set know its leader from gossip.
                #expect(p.leaderID > 0, "node \(i + 1) partition \(p.partitionIndex)")
                #expect(p.replicaNodes.contains(p.leaderID) && p.leaderEpoch >= 1)
            }
        }
    }

    @Test("after every node restarts, a topic is never answered UNKNOWN_TOPIC_OR_PARTITION while the controller's log is catching up")
    func metadataAfterWholeClusterRestart() throws {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        let (out, _) = try c.cores[c.controllerIndex].proposeToController(.createTopic(name: "t", partitions: 3, replicationFactor: 3))
        c.take(c.controllerIndex, out)
        c.run(ticks: 60)
        for i in 0..<3 { try c.start(i, members: [1, 2, 3], fs: c.filesystems[i]) }
        func ask(_ i: Int) throws -> MetadataResponse.MetadataResponseTopic? {
            var r = try MiniCluster.body(c.kafka(i, key: .metadata, version: 8) {
                MetadataRequest(topics: [.init(name: "t")], allowAutoTopicCreation: false).encode(&$0, version: 8)
            })
            return try MetadataResponse.decode(&r, version: 8).topics.first
        }
        for i in 0..<3 {
            #expect(!c.cores[i].controllerCaughtUp)
            let t = try #require(try ask(i))
            #expect(t.errorCode == .leaderNotAvailable || (t.errorCode == .none && t.partitions.count == 3), "node \(i + 1): \(t.errorCode)")
        }
        c.run(ticks: 60)
        for i in 0..<3 {
            #expect(c.cores[i].controllerCaughtUp)
            let t = try #require(try ask(i))
            #expect(t.errorCode == .none && t.partitions.count == 3)
        }
    }

    @Test("Metadata for a missing topic auto-creates it (LEADER_NOT_AVAILABLE until it exists), or says UNKNOWN when not allowed")
    func autoCreate() throws {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        var r = try MiniCluster.body(c.kafka(1, key: .metadata, version: 8) { MetadataRequest(topics: [.init(name: "nope")], allowAutoTopicCreation: false).encode(&$0, version: 8) })
        #expect(try MetadataResponse.decode(&r, version: 8).topics.first?.errorCode == ErrorCode.unknownTopicOrPartition)
        var r2 = try MiniCluster.body(c.kafka(1, key: .metadata, version: 8) { MetadataRequest(topics: [.init(name: "auto")]).encode(&$0, version: 8) })
        #expect(try MetadataResponse.decode(&r2, version: 8).topics.first?.errorCode == ErrorCode.leaderNotAvailable)
        c.run(ticks: 60)
        for core in c.cores { #expect(core.controller.topic("auto")?.partitions.count == 1) }
    }

    @Test("CreateTopics: created, already exists, invalid name, bad replication factor, validate-only, forwarded from a non-controller")
    func createTopics() throws {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        let leader = c.controllerIndex
        let request = CreateTopicsRequest(
            topics: [.init(name: "ok", numPartitions: 2, replicationFactor: 3), .init(name: "bad name", numPartitions: 1, replicationFactor: 1),
                     .init(name: "rf", numPartitions: 1, replicationFactor: 4), .init(name: "dflt", numPartitions: -1, replicationFactor: -1)],
            timeoutMs: 5000)
        var r = try MiniCluster.body(c.kafka(leader, key: .createTopics, version: 4) { request.encode(&$0, version: 4) })
        let resp = try CreateTopicsResponse.decode(&r, version: 4)
        #expect(resp.topics.map(\.errorCode) == [.none, ErrorCode.invalidTopic, ErrorCode.invalidReplicationFactor, .none])
        #expect(c.cores[leader].controller.topic("ok")?.partitions.count == 2)
        #expect(c.cores[leader].controller.topic("dflt")?.partitions.first?.replicas.count == 3)
        var again = try MiniCluster.body(c.kafka(leader, key: .createTopics, version: 4, correlation: 2) {
            CreateTopicsRequest(topics: [.init(name: "ok", numPartitions: 1, replicationFactor: 1)], timeoutMs: 1000).encode(&$0, version: 4)
        }, correlation: 2)
        #expect(try CreateTopicsResponse.decode(&again, version: 4).topics.first?.errorCode == ErrorCode.topicAlreadyExists)
        var dry = try MiniCluster.body(c.kafka(leader, key: .createTopics, version: 4, correlation: 3) {
            CreateTopicsRequest(topics: [.init(name: "dry", numPartitions: 1, replicationFactor: 1)], timeoutMs: 1000, validateOnly: true).encode(&$0, version: 4)
        }, correlation: 3)
        let dryAnswer = try CreateTopicsResponse.decode(&dry, version: 4)
        #expect(dryAnswer.topics.first?.errorCode == ErrorCode.none, "\(dryAnswer)")
        #expect(c.cores[leader].controller.topic("dry") == nil)
        // A node that is not the controller leader forwards the command and answers once its own
        // copy of the controller log applied it.
        let follower = (leader + 1) % 3
        var fw = try MiniCluster.body(c.kafka(follower, key: .createTopics, version: 4, correlation: 4) {
            CreateTopicsRequest(topics: [.init(name: "x", numPartitions: 1, replicationFactor: 1), .init(name: "ok", numPartitions: 1, replicationFactor: 1)],
                                timeoutMs: 1000).encode(&$0, version: 4)
        }, correlation: 4)
        #expect(try CreateTopicsResponse.decode(&fw, version: 4).topics.map(\.errorCode) == [.none, ErrorCode.topicAlreadyExists])
        #expect(c.cores[follower].controller.topic("x")?.partitions.count == 1)
        #expect(c.cores[leader].controller.topic("x")?.partitions.count == 1)
    }

    @Test("CreateTopics at a node that knows no controller leader waits for one, then forwards; Metadata names that node meanwhile")
    func createTopicsWithoutLeader() throws {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        let leader = c.controllerIndex
        let asker = (leader + 1) % 3
        // Cut the asker off: it loses its leader at the next election timeout.
        c.isolated = asker
        c.run(ticks: 60)
        var meta = try MiniCluster.body(c.kafka(asker, key: .metadata, version: 1) { MetadataRequest(topics: []).encode(&$0, version: 1) })
        let m = try MetadataResponse.decode(&meta, version: 1)
        #expect(m.controllerID == Int32(asker + 1))
        let request = KafkaRequest(
            connection: 1, sequence: 7,
            header: RequestHeader(apiKey: ApiKey.createTopics.rawValue, apiVersion: 4, correlationID: 7, clientID: "test"),
            body: { var w = KafkaWriter(); CreateTopicsRequest(topics: [.init(name: "late", numPartitions: 1, replicationFactor: 3)], timeoutMs: 30_000).encode(&w, version: 4); return w.buffer }())
        let (reply, out) = c.cores[asker].handleKafka(request)
        c.take(asker, out)
        guard case .pending = reply else { Issue.record("answered at once: \(reply)"); return }
        c.run(ticks: 30)
        #expect(!c.completions.contains { $0.sequence == 7 }, "answered while cut off")
        c.isolated = nil
        for _ in 0..<300 where !c.completions.contains(where: { $0.sequence == 7 }) { c.run(ticks: 1) }
        var r = try MiniCluster.body(c.completions.first { $0.sequence == 7 }?.response, correlation: 7)
        #expect(try CreateTopicsResponse.decode(&r, version: 4).topics.first?.errorCode == ErrorCode.none)
        #expect(c.cores[leader].controller.topic("late") != nil)
    }

    @Test("unknown API keys, unsupported versions and garbage bodies close the connection with a reason")
    func refusals() throws {
        let c = try MiniCluster(nodes: 1)
        c.run(ticks: 30)
        func reply(_ key: Int16, _ version: Int16, _ body: [UInt8]) -> KafkaReply {
            c.cores[0].handleKafka(KafkaRequest(connection: 9, sequence: 0, header: RequestHeader(apiKey: key, apiVersion: version, correlationID: 5, clientID: nil),
                                                body: ByteBuffer(bytes: body))).0
        }
        guard case .close(let why) = reply(99, 0, []) else { Issue.record("unknown key answered"); return }
        #expect(why.contains("unsupported API key 99"))
        guard case .close(let v) = reply(3, 13, []) else { Issue.record("Metadata v13 answered"); return }
        #expect(v.contains("not supported"))
        guard case .close(let g) = reply(3, 8, [0xFF, 0xFF, 0xFF, 0x7F]) else { Issue.record("garbage answered"); return }
        #expect(g.contains("malformed"))
    }
}

struct DeleteTopicsTests {
    @Test("DeleteTopics removes the partitions' groups and their data on every replica; unknown topics say so; a non-controller forwards")
    func delete() throws {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        let leader = c.controllerIndex
        let (out, _) = try c.cores[leader].proposeToController(.createTopic(name: "gone", partitions: 2, replicationFactor: 3))
        c.take(leader, out)
        c.run(ticks: 40)
        let groups = c.cores[0].controller.topic("gone")!.partitions.map(\.group)
        for (i, fs) in c.filesystems.enumerated() {
            for g in groups { #expect(fs.isDirectory("/data/group-\(g.value)"), "node \(i + 1) group \(g)") }
        }
        var r = try MiniCluster.body(c.kafka(leader, key: .deleteTopics, version: 3) {
            DeleteTopicsRequest(topicNames: ["gone", "never"], timeoutMs: 5000).encode(&$0, version: 3)
        })
        let resp = try DeleteTopicsResponse.decode(&r, version: 3)
        #expect(resp.responses.map(\.errorCode) == [.none, ErrorCode.unknownTopicOrPartition])
        c.run(ticks: 20)
        for (i, core) in c.cores.enumerated() {
            #expect(core.controller.topic("gone") == nil)
            for g in groups {
                #expect(core.group(g) == nil, "node \(i + 1) still has group \(g)")
                #expect(!c.filesystems[i].isDirectory("/data/group-\(g.value)"), "node \(i + 1) kept the data of group \(g)")
            }
        }
        // From a node that is not the controller leader: forwarded.
        let (again, _) = try c.cores[leader].proposeToController(.createTopic(name: "again", partitions: 1, replicationFactor: 3))
        c.take(leader, again)
        c.run(ticks: 20)
        var fw = try MiniCluster.body(c.kafka((leader + 1) % 3, key: .deleteTopics, version: 3, correlation: 2) {
            DeleteTopicsRequest(topicNames: ["again", "x"], timeoutMs: 5000).encode(&$0, version: 3)
        }, correlation: 2)
        #expect(try DeleteTopicsResponse.decode(&fw, version: 3).responses.map(\.errorCode) == [.none, ErrorCode.unknownTopicOrPartition])
        #expect(c.cores[leader].controller.topic("again") == nil)
    }

    @Test("a node that was down while a topic was deleted removes the leftover data once its controller catches up")
    func deletedWhileDown() throws {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        let leader = c.controllerIndex
        let (out, _) = try c.cores[leader].proposeToController(.createTopic(name: "t", partitions: 1, replicationFactor: 3))
        c.take(leader, out)
        c.run(ticks: 40)
        let gid = c.cores[0].controller.topic("t")!.partitions[0].group
        // Node `down` stops hearing anything: drop what reaches it while the topic is deleted.
        let down = (leader + 1) % 3
        let frozen = c.cores[down]
        let (del, _) = try c.cores[leader].proposeToController(.deleteTopic(name: "t"))
        c.take(leader, del)
        c.isolated = down
        c.run(ticks: 30)
        #expect(c.filesystems[down].isDirectory("/data/group-\(gid.value)"))
        _ = frozen
        // Restart it from its disk and let it catch up.
        c.isolated = nil
        try c.start(down, members: [1, 2, 3], fs: c.filesystems[down])
        c.run(ticks: 60)
        #expect(c.cores[down].controller.topic("t") == nil)
        #expect(c.cores[down].group(gid) == nil)
        #expect(!c.filesystems[down].isDirectory("/data/group-\(gid.value)"))
    }
}

struct InitProducerIDTests {
    func initProducerID(_ c: MiniCluster, _ i: Int, correlation: Int32) throws -> InitProducerIDResponse {
        var r = try MiniCluster.body(c.kafka(i, key: .initProducerID, version: 1, correlation: correlation) {
            InitProducerIDRequest(transactionTimeoutMs: 60000).encode(&$0, version: 1)
        }, correlation: correlation)
        return try InitProducerIDResponse.decode(&r, version: 1)
    }

    @Test("producer ids are unique across nodes and across a node's restart; each node gets a block through the controller")
    func unique() throws {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        var seen: [Int64] = []
        var correlation: Int32 = 1
        for round in 0..<3 {
            for i in 0..<3 {
                let r = try initProducerID(c, i, correlation: correlation)
                correlation += 1
                #expect(r.errorCode == .none && r.producerEpoch == 0, "node \(i + 1) round \(round)")
                seen.append(r.producerID)
            }
        }
        // Node 2 restarts (a new run of its process): it must not hand out its old ids again.
        var config = c.cores[1].config
        config.incarnation += 1
        try c.start(1, members: [1, 2, 3], fs: c.filesystems[1], incarnation: config.incarnation)
        c.run(ticks: 40)
        for _ in 0..<3 {
            let r = try initProducerID(c, 1, correlation: correlation)
            correlation += 1
            #expect(r.errorCode == .none)
            seen.append(r.producerID)
        }
        #expect(Set(seen).count == seen.count, "duplicate producer ids: \(seen)")
    }
}
