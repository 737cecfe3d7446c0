@testable import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Testing

/// The transaction coordinator inside `NodeCore`, on three in-process cores (no sockets), with
/// `servesTransactions` on.
@Suite(.serialized)
struct TransactionCoordinatorTests {
    /// The cores' wall clock (transaction timeouts run on it).
    final class Clock: @unchecked Sendable { var ms: Int64 = 1_000_000 }

    final class Client: MiniClient {
        override var coordinatorKeyType: Int8 { 1 }

        func initProducer(_ node: Int, _ id: String?, timeoutMs: Int32 = 60_000) throws -> InitProducerIDResponse {
            let i = InitProducerIDRequest(transactionalID: id, transactionTimeoutMs: timeoutMs)
            return try call(node, .initProducerID, 1, { i.encode(&$0, version: 1) }) { try InitProducerIDResponse.decode(&$0, version: 1) }
        }

        func add(_ node: Int, _ id: String, _ p: InitProducerIDResponse, _ partitions: [(String, Int32)]) throws -> [ErrorCode] {
            var topics: [AddPartitionsToTxnRequest.AddPartitionsToTxnTopic] = []
            for (t, n) in partitions {
                if topics.last?.name == t { topics[topics.count - 1].partitions.append(n) } else { topics.append(.init(name: t, partitions: [n])) }
            }
            let a = AddPartitionsToTxnRequest(
                v3AndBelowTransactionalID: id, v3AndBelowProducerID: p.producerID, v3AndBelowProducerEpoch: p.producerEpoch, v3AndBelowTopics: topics)
            return try call(node, .addPartitionsToTxn, 2, { a.encode(&$0, version: 2) }) {
                try AddPartitionsToTxnResponse.decode(&$0, version: 2).resultsByTopicV3AndBelow.flatMap { $0.resultsByPartition.map(\.partitionErrorCode) }
            }
        }

        func addOffsets(_ node: Int, _ id: String, _ p: InitProducerIDResponse, group: String) throws -> ErrorCode {
            let a = AddOffsetsToTxnRequest(transactionalID: id, producerID: p.producerID, producerEpoch: p.producerEpoch, groupID: group)
            return try call(node, .addOffsetsToTxn, 2, { a.encode(&$0, version: 2) }) { try AddOffsetsToTxnResponse.decode(&$0, version: 2).errorCode }
        }

        /// A transactional batch of `values` from producer `p` to "t" partition `partition` on its leader.
        func produce(_ partition: Int32, _ p: InitProducerIDResponse, sequence: Int32, _ values: [String]) throws -> ProduceResponse.PartitionProduceResponse {
            var builder = RecordBatchBuilder()
            for v in values { builder.append(key: nil, value: Array(v.utf8), timestamp: 1000) }
            let batch = builder.build(producerID: p.producerID, producerEpoch: p.producerEpoch, baseSequence: sequence, attributes: 0x10)
            let request = ProduceRequest(
                transactionalID: "x", acks: -1, timeoutMs: 5000, topicData: [.init(name: "t", partitionData: [.init(index: partition, records: batch.bytes)])])
            let leader = try #require(cluster.leader(of: "t", partition))
            return try call(leader, .produce, 8, { request.encode(&$0, version: 8) }) {
                try #require(try ProduceResponse.decode(&$0, version: 8).responses.first?.partitionResponses.first)
            }
        }

        func end(_ node: Int, _ id: String, _ p: InitProducerIDResponse, commit: Bool) throws -> ErrorCode {
            let e = EndTxnRequest(transactionalID: id, producerID: p.producerID, producerEpoch: p.producerEpoch, committed: commit)
            return try call(node, .endTxn, 2, { e.encode(&$0, version: 2) }) { try EndTxnResponse.decode(&$0, version: 2).errorCode }
        }
    }

    /// Three cores with topic "t" (2 partitions) and `__transaction_state`; the index of the core
    /// coordinating `id`.
    func setUp(_ id: String, clock: Clock = Clock(), expirationMs: Int64? = nil) throws -> (MiniCluster, Client, Int) {
        let cluster = try MiniCluster(nodes: 3) {
            $0.servesTransactions = true
            if let expirationMs {
                $0.transactionMaxTimeoutMs = Int32(expirationMs)
                $0.transactionalIDExpirationMs = expirationMs
            }
        }
        for core in cluster.cores { core.clockMs = { clock.ms } }
        cluster.run(ticks: 40)
        let leader = try #require(cluster.controllerLeader)
        let (out, _) = try cluster.cores[leader].proposeToController(.createTopic(name: "t", partitions: 2, replicationFactor: 3))
        cluster.take(leader, out)
        cluster.run(ticks: 40)
        let client = Client(cluster)
        // The first FindCoordinator creates the topic and says to come back.
        #expect(try client.find(0, id).errorCode == .coordinatorNotAvailable)
        var found: FindCoordinatorResponse?
        for _ in 0..<20 {
            cluster.run(ticks: 10)
            let f = try client.find(0, id)
            if f.errorCode == .none {
                found = f
                break
            }
        }
        let f = try #require(found, "no coordinator found")
        let c = Int(f.nodeID) - 1
        // Serving once its leader applied an entry of its term.
        let unknown = InitProducerIDResponse(producerID: 1 << 40, producerEpoch: 0)
        for _ in 0..<20 where try client.end(c, id, unknown, commit: false) != .invalidProducerIDMapping { cluster.run(ticks: 5) }
        // An idempotent producer's id first: the node then holds a block of producer ids.
        #expect(try client.initProducer(c, nil).errorCode == .none)
        return (cluster, client, c)
    }

    /// The id's record on every replica of its partition.
    func records(_ cluster: MiniCluster, _ id: String) -> [TransactionMetadata?] {
        cluster.cores.compactMap { core in
            guard let topic = core.controller.topic(transactionStateTopic) else { return nil }
            let p = TransactionStateStore.partition(of: id, partitions: Int32(topic.partitions.count))
            let gid = topic.partitions.first { $0.partition == p }!.group
            return core.group(gid)?.transactionStore.map { $0.transactions[id] }
        }
    }

    @Test("InitProducerId gives epoch 0 and bumps it on every new instance; a transaction opens with its partitions and is prepared by EndTxn; every replica holds each record")
    func lifecycle() throws {
        let (cluster, client, c) = try setUp("orders")
        let first = try client.initProducer(c, "orders")
        #expect(first.errorCode == .none && first.producerEpoch == 0 && first.producerID >= 0, "\(first)")
        let second = try client.initProducer(c, "orders")
        #expect(second.errorCode == .none && second.producerID == first.producerID && second.producerEpoch == 1)
        #expect(try client.add(c, "orders", second, [("t", 0), ("t", 1)]) == [.none, .none])
        #expect(try client.addOffsets(c, "orders", second, group: "g") == .coordinatorNotAvailable, "the offsets topic is created first")
        cluster.run(ticks: 40)
        #expect(try client.addOffsets(c, "orders", second, group: "g") == .none)
        cluster.settle()
        let open = records(cluster, "orders")
        #expect(open.count == 3 && Set(open.map { $0?.state }) == [.ongoing])
        let offsetsPartition = GroupCoordinator.offsetsPartition(of: "g", partitions: cluster.cores[c].config.offsetsPartitions)
        #expect(open[0]?.partitions == [.init(topic: offsetsTopic, partition: offsetsPartition), .init(topic: "t", partition: 0), .init(topic: "t", partition: 1)])
        // The zombie (epoch 0) is fenced.
        #expect(try client.add(c, "orders", first, [("t", 0)]) == [.producerFenced])
        #expect(try client.end(c, "orders", first, commit: true) == .producerFenced)
        #expect(try client.end(c, "orders", second, commit: true) == .none)
        cluster.run(ticks: 5)
        #expect(records(cluster, "orders").allSatisfy { $0?.state == .completeCommit && $0?.producerEpoch == 1 })
        // A retry after the commit is a success; the other outcome is refused.
        #expect(try client.end(c, "orders", second, commit: true) == .none)
        #expect(try client.end(c, "orders", second, commit: false) == .invalidTxnState)
        #expect(try client.initProducer(c, "orders").producerEpoch == 2)
    }

    @Test("read_committed: Fetch and ListOffsets stop at the last stable offset while a transaction is open; after an abort the fetch lists it, with its first offset")
    func readCommitted() throws {
        let (cluster, client, c) = try setUp("rc")
        let p = try client.initProducer(c, "rc")
        let leader = try #require(cluster.leader(of: "t", 0))
        func fetch(committed: Bool) throws -> FetchResponse.PartitionData {
            let f = FetchRequest(maxWaitMs: 0, minBytes: 0, isolationLevel: committed ? 1 : 0, topics: [.init(topic: "t", partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)])])
            return try client.call(leader, .fetch, 11, { f.encode(&$0, version: 11) }) { try #require(try FetchResponse.decode(&$0, version: 11).responses.first?.partitions.first) }
        }
        func latest(committed: Bool) throws -> Int64 {
            let l = ListOffsetsRequest(isolationLevel: committed ? 1 : 0, topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: -1)])])
            return try client.call(leader, .listOffsets, 5, { l.encode(&$0, version: 5) }) { try #require(try ListOffsetsResponse.decode(&$0, version: 5).topics.first?.partitions.first?.offset) }
        }
        #expect(try client.add(c, "rc", p, [("t", 0)]) == [.none])
        #expect(try client.produce(0, p, sequence: 0, ["a", "b"]).errorCode == .none)
        let open = try fetch(committed: true)
        #expect(open.highWatermark == 2 && open.lastStableOffset == 0 && (open.records?.readableBytes ?? 0) == 0, "nothing is decided yet")
        #expect(try fetch(committed: false).records.map { try RecordBatch.batches(in: $0).count } == 1, "read_uncommitted sees the open transaction")
        #expect(try latest(committed: true) == 0 && latest(committed: false) == 2)
        #expect(try client.end(c, "rc", p, commit: false) == .none)
        cluster.run(ticks: 5)
        let done = try fetch(committed: true)
        #expect(done.highWatermark == 3 && done.lastStableOffset == 3)
        #expect(done.abortedTransactions == [.init(producerID: p.producerID, firstOffset: 0)])
        let batches = try RecordBatch.batches(in: try #require(done.records))
        #expect(batches.map(\.isControl) == [false, true], "the records, then the abort marker")
        #expect(try latest(committed: true) == 3)
    }

    @Test("TxnOffsetCommit: the offsets take effect with the commit marker, never with an abort; meanwhile RequireStable is told UNSTABLE_OFFSET_COMMIT")
    func transactionalOffsets() throws {
        let (cluster, client, c) = try setUp("eos")
        // The group's coordinator (the offsets topic is created on first use).
        var groupNode: Int?
        for _ in 0..<30 where groupNode == nil {
            let f = try client.call(0, .findCoordinator, 2, { FindCoordinatorRequest(key: "grp").encode(&$0, version: 2) }) { try FindCoordinatorResponse.decode(&$0, version: 2) }
            if f.errorCode == .none { groupNode = Int(f.nodeID) - 1 } else { cluster.run(ticks: 10) }
        }
        let gc = try #require(groupNode)
        func commit(_ p: InitProducerIDResponse, _ offset: Int64) throws -> [ErrorCode] {
            let t = TxnOffsetCommitRequest(
                transactionalID: "eos", groupID: "grp", producerID: p.producerID, producerEpoch: p.producerEpoch,
                topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, committedOffset: offset)])])
            return try client.call(gc, .txnOffsetCommit, 2, { t.encode(&$0, version: 2) }) {
                try TxnOffsetCommitResponse.decode(&$0, version: 2).topics.flatMap { $0.partitions.map(\.errorCode) }
            }
        }
        func fetch(stable: Bool) throws -> OffsetFetchResponse.OffsetFetchResponsePartition {
            let f = OffsetFetchRequest(groupID: "grp", topics: [.init(name: "t", partitionIndexes: [0])], requireStable: stable)
            return try client.call(gc, .offsetFetch, 7, flexible: true, { f.encode(&$0, version: 7) }) {
                try #require(try OffsetFetchResponse.decode(&$0, version: 7).topics.first?.partitions.first)
            }
        }
        let p = try client.initProducer(c, "eos")
        #expect(try commit(p, 5) == [.invalidTxnState], "not before the group's partition joined the transaction")
        var added = ErrorCode.coordinatorNotAvailable
        for _ in 0..<10 where added != .none {
            added = try client.addOffsets(c, "eos", p, group: "grp")
            cluster.run(ticks: 5)
        }
        #expect(added == .none)
        #expect(try commit(p, 5) == [.none])
        #expect(try fetch(stable: true).errorCode == .unstableOffsetCommit)
        #expect(try fetch(stable: false).committedOffset == -1, "not visible before the commit")
        #expect(try client.end(c, "eos", p, commit: true) == .none)
        cluster.run(ticks: 5)
        #expect(try fetch(stable: true).committedOffset == 5)
        // An aborted transaction's offsets never take effect.
        #expect(try client.addOffsets(c, "eos", p, group: "grp") == .none)
        #expect(try commit(p, 9) == [.none])
        #expect(try client.end(c, "eos", p, commit: false) == .none)
        cluster.run(ticks: 5)
        let after = try fetch(stable: true)
        #expect(after.errorCode == .none && after.committedOffset == 5)
    }

    @Test("markers are sent until the partition's leader writes them: meanwhile the outcome is decided, a retry is told to wait, a new producer too")
    func markersWaitForLeaders() throws {
        let (cluster, client, c) = try setUp("wait")
        let p = try client.initProducer(c, "wait")
        // Partitions led elsewhere than the coordinator: their markers travel between nodes.
        let remote = try #require(Optional([Int32(0), 1].filter { cluster.leader(of: "t", $0) != c }).flatMap { $0.isEmpty ? nil : $0 })
        #expect(try client.add(c, "wait", p, remote.map { ("t", $0) }) == remote.map { _ in .none })
        cluster.holdTransactionMessages = true
        #expect(try client.end(c, "wait", p, commit: true) == .none, "answered once the decision is recorded")
        cluster.run(ticks: 20)
        #expect(records(cluster, "wait").allSatisfy { $0?.state == .prepareCommit })
        #expect(try client.end(c, "wait", p, commit: true) == .concurrentTransactions)
        #expect(try client.end(c, "wait", p, commit: false) == .invalidTxnState)
        #expect(try client.initProducer(c, "wait").errorCode == .concurrentTransactions)
        cluster.holdTransactionMessages = false
        cluster.run(ticks: 20)
        #expect(records(cluster, "wait").allSatisfy { $0?.state == .completeCommit })
        #expect(try client.end(c, "wait", p, commit: true) == .none)
    }

    @Test("commit: each added partition is begun before AddPartitionsToTxn is answered; the batches hold the last stable offset; EndTxn's markers end them in every partition, then the record is complete")
    func commitWritesMarkers() throws {
        let (cluster, client, c) = try setUp("pay")
        let p = try client.initProducer(c, "pay")
        // Before the partition is added, a transactional batch is refused: no transaction is open there.
        #expect(try client.produce(0, p, sequence: 0, ["early"]).errorCode == .invalidTxnState)
        #expect(try client.add(c, "pay", p, [("t", 0), ("t", 1)]) == [.none, .none])
        for core in cluster.cores {
            for partition: Int32 in [0, 1] {
                #expect(core.group(try #require(cluster.groupOf("t", partition)))?.transactions.mayWrite(p.producerID, epoch: p.producerEpoch) == true)
            }
        }
        #expect(try client.produce(0, p, sequence: 0, ["a", "b"]).errorCode == .none)
        #expect(try client.produce(1, p, sequence: 0, ["c"]).errorCode == .none)
        let g0 = try #require(cluster.groupOf("t", 0))
        let leader0 = try #require(cluster.leader(of: "t", 0))
        #expect(cluster.cores[leader0].group(g0)?.transactions.lastStableOffset(highWatermark: 2) == 0, "the open transaction holds the LSO")
        #expect(try client.end(c, "pay", p, commit: true) == .none)
        cluster.run(ticks: 5)
        #expect(records(cluster, "pay").allSatisfy { $0?.state == .completeCommit && $0?.partitions == [] }, "\(records(cluster, "pay"))")
        for core in cluster.cores {
            let g = try #require(core.group(g0))
            #expect(g.state.nextOffset == 3, "two records and the marker")
            #expect(g.transactions.lastStableOffset(highWatermark: 3) == 3 && g.transactions.aborted.isEmpty)
            #expect(!g.transactions.mayWrite(p.producerID, epoch: p.producerEpoch), "a zombie's batch after the marker is refused")
        }
        #expect(try client.produce(0, p, sequence: 2, ["late"]).errorCode == .invalidTxnState)
        // The next transaction: begun again, aborted, listed as aborted.
        #expect(try client.add(c, "pay", p, [("t", 0)]) == [.none])
        #expect(try client.produce(0, p, sequence: 2, ["x"]).errorCode == .none)
        #expect(try client.end(c, "pay", p, commit: false) == .none)
        cluster.run(ticks: 5)
        #expect(records(cluster, "pay").allSatisfy { $0?.state == .completeAbort })
        for core in cluster.cores {
            #expect(core.group(g0)?.transactions.aborted == [.init(producerID: p.producerID, firstOffset: 3, lastOffset: 4)])
        }
    }

    @Test("DescribeTransactions and ListTransactions: the coordinator's applied records, filtered by state, producer id and duration; other nodes are not its coordinator")
    func describeAndList() throws {
        let clock = Clock()
        let (cluster, client, c) = try setUp("tools", clock: clock)
        func describe(_ node: Int, _ ids: [String]) throws -> [DescribeTransactionsResponse.TransactionState] {
            try client.call(node, .describeTransactions, 0, flexible: true, { DescribeTransactionsRequest(transactionalIDs: ids).encode(&$0, version: 0) }) {
                try DescribeTransactionsResponse.decode(&$0, version: 0).transactionStates
            }
        }
        func list(_ node: Int, _ l: ListTransactionsRequest) throws -> ListTransactionsResponse {
            try client.call(node, .listTransactions, 1, flexible: true, { l.encode(&$0, version: 1) }) { try ListTransactionsResponse.decode(&$0, version: 1) }
        }
        let p = try client.initProducer(c, "tools")
        let start = clock.ms
        #expect(try client.add(c, "tools", p, [("t", 1), ("t", 0)]) == [.none, .none])
        let d = try describe(c, ["tools", "", "never"])
        #expect(d.map(\.errorCode) == [.none, .invalidRequest, .transactionalIDNotFound])
        #expect(d[0].transactionalID == "tools" && d[0].transactionState == "Ongoing" && d[0].producerID == p.producerID)
        #expect(d[0].producerEpoch == p.producerEpoch && d[0].transactionTimeoutMs == 60_000 && d[0].transactionStartTimeMs == start)
        #expect(d[0].topics == [.init(topic: "t", partitions: [0, 1])])
        for n in 0..<3 where n != c { #expect(try describe(n, ["tools"]).map(\.errorCode) == [.notCoordinator]) }

        // Listed by its coordinator only, as the Admin client (which asks every broker) expects.
        clock.ms += 5_000
        cluster.run(ticks: 2)
        let all = try list(c, ListTransactionsRequest())
        #expect(all.errorCode == .none && all.transactionStates == [.init(transactionalID: "tools", producerID: p.producerID, transactionState: "Ongoing")])
        for n in 0..<3 where n != c { #expect(try list(n, ListTransactionsRequest()).transactionStates.isEmpty) }
        let unknown = try list(c, ListTransactionsRequest(stateFilters: ["CompleteCommit", "Bogus", "PrepareEpochFence"]))
        #expect(unknown.unknownStateFilters == ["Bogus"] && unknown.transactionStates.isEmpty)
        #expect(try list(c, ListTransactionsRequest(stateFilters: ["Ongoing"])).transactionStates.count == 1)
        #expect(try list(c, ListTransactionsRequest(producerIDFilters: [p.producerID + 1])).transactionStates.isEmpty)
        #expect(try list(c, ListTransactionsRequest(producerIDFilters: [p.producerID])).transactionStates.count == 1)
        #expect(try list(c, ListTransactionsRequest(durationFilter: 10_000)).transactionStates.isEmpty, "open for 5 s")
        #expect(try list(c, ListTransactionsRequest(durationFilter: 1_000)).transactionStates.count == 1)

        // Committed: no partitions, no start; a transaction without a start has run for no time.
        #expect(try client.end(c, "tools", p, commit: true) == .none)
        cluster.run(ticks: 5)
        let done = try describe(c, ["tools"])[0]
        #expect(done.transactionState == "CompleteCommit" && done.topics.isEmpty && done.transactionStartTimeMs == -1)
        #expect(try list(c, ListTransactionsRequest(durationFilter: 0)).transactionStates.isEmpty)
        #expect(try list(c, ListTransactionsRequest(stateFilters: ["CompleteCommit"])).transactionStates.map(\.transactionalID) == ["tools"])
    }

    @Test("an id unused for longer than transactional.id.expiration.ms is removed on every replica; an open one is not; its producer, back, starts afresh")
    func idleIDsExpire() throws {
        let clock = Clock()
        let (cluster, client, c) = try setUp("once", clock: clock, expirationMs: 60_000)
        let p = try client.initProducer(c, "once")
        #expect(try client.add(c, "once", p, [("t", 0)]) == [.none])
        #expect(try client.end(c, "once", p, commit: true) == .none)
        cluster.run(ticks: 5)
        clock.ms += 30_000
        // (Its own coordinator: another partition of __transaction_state, maybe another node.)
        var o = c
        var open = InitProducerIDResponse(errorCode: .notCoordinator)
        for _ in 0..<20 where open.errorCode != .none {
            let f = try client.find(c, "open")
            if f.errorCode == .none { o = Int(f.nodeID) - 1 }
            open = try client.initProducer(o, "open", timeoutMs: 60_000)
            if open.errorCode != .none { cluster.run(ticks: 5) }
        }
        #expect(try client.add(o, "open", open, [("t", 1)]) == [.none])
        cluster.run(ticks: 5)
        clock.ms += 29_000
        cluster.run(ticks: 5)
        #expect(records(cluster, "once").allSatisfy { $0?.state == .completeCommit }, "not idle for long enough yet")
        clock.ms += 2_000
        cluster.run(ticks: 5)
        #expect(records(cluster, "once").count == 3 && records(cluster, "once").allSatisfy { $0 == nil }, "\(records(cluster, "once"))")
        #expect(cluster.notices.contains {
            $0.contains("transactional id 'once' (producer \(p.producerID), CompleteCommit) unused for ") && $0.hasSuffix("over transactional_id_expiration_ms (60000): removed")
        }, "\(cluster.notices)")
        #expect(records(cluster, "open").allSatisfy { $0?.state == .ongoing }, "an open transaction is never removed (open 31 s of its 60)")
        // Back with the producer id it held: Kafka's answer; without: a new producer id.
        let back = InitProducerIDRequest(transactionalID: "once", transactionTimeoutMs: 60_000, producerID: p.producerID, producerEpoch: p.producerEpoch)
        #expect(try client.call(c, .initProducerID, 3, flexible: true, { back.encode(&$0, version: 3) }) {
            try InitProducerIDResponse.decode(&$0, version: 3).errorCode
        } == .invalidProducerIDMapping)
        let fresh = try client.initProducer(c, "once")
        #expect(fresh.errorCode == .none && fresh.producerID != p.producerID && fresh.producerEpoch == 0)
    }

    @Test("a new producer of an id with an open transaction fences the old one and aborts what it left, under a bumped epoch")
    func newInstanceFencesAndAborts() throws {
        let (cluster, client, c) = try setUp("fence")
        let old = try client.initProducer(c, "fence")
        #expect(try client.add(c, "fence", old, [("t", 1)]) == [.none])
        // The new instance is told to retry while the old transaction is aborted.
        #expect(try client.initProducer(c, "fence").errorCode == .concurrentTransactions)
        cluster.settle()
        let aborting = try #require(records(cluster, "fence").first ?? nil)
        #expect(aborting.state == .prepareAbort && aborting.producerEpoch == old.producerEpoch + 1)
        #expect(aborting.partitions == [.init(topic: "t", partition: 1)], "the markers go to what the fenced transaction wrote")
        #expect(try client.add(c, "fence", old, [("t", 0)]) == [.producerFenced])
    }

    @Test("a transaction open past its timeout is aborted by the coordinator under a bumped epoch, and its producer fenced")
    func timeoutAborts() throws {
        let clock = Clock()
        let (cluster, client, c) = try setUp("slow", clock: clock)
        let p = try client.initProducer(c, "slow", timeoutMs: 10_000)
        #expect(try client.add(c, "slow", p, [("t", 0)]) == [.none])
        clock.ms += 9_000
        cluster.run(ticks: 5)
        #expect(records(cluster, "slow").allSatisfy { $0?.state == .ongoing })
        clock.ms += 2_000
        cluster.run(ticks: 5)
        #expect(records(cluster, "slow").allSatisfy { $0?.state == .completeAbort && $0?.producerEpoch == p.producerEpoch + 1 })
        let g0 = try #require(cluster.groupOf("t", 0))
        #expect(cluster.cores.allSatisfy { !($0.group(g0)?.transactions.mayWrite(p.producerID, epoch: p.producerEpoch) ?? true) }, "its abort marker ended it")
        #expect(cluster.notices.contains { $0.contains("transaction 'slow' (producer \(p.producerID) epoch 0) timed out after 10000 ms") }, "\(cluster.notices)")
        #expect(try client.end(c, "slow", p, commit: true) == .producerFenced)
    }

    @Test("the coordinator's node is cut off: the new coordinator knows every transaction as clients were told")
    func failover() throws {
        let (cluster, client, c) = try setUp("moving")
        let p = try client.initProducer(c, "moving")
        #expect(try client.add(c, "moving", p, [("t", 0)]) == [.none])
        cluster.isolated = c
        var next: Int?
        for _ in 0..<30 where next == nil {
            cluster.run(ticks: 10)
            for n in 0..<3 where n != c {
                if let f = try? client.find(n, "moving"), f.errorCode == .none, Int(f.nodeID) - 1 != c { next = Int(f.nodeID) - 1 }
            }
        }
        let n = try #require(next, "no new coordinator")
        var code = ErrorCode.coordinatorLoadInProgress
        for _ in 0..<20 where code == .coordinatorLoadInProgress || code == .notCoordinator {
            code = try client.end(n, "moving", p, commit: false)
            cluster.run(ticks: 2)
        }
        #expect(code == .none, "the open transaction and its epoch are known there")
        #expect(try client.end(c, "moving", p, commit: false) == .notCoordinator, "the cut-off node no longer coordinates")
    }

    @Test("bad requests get Kafka's errors: empty id, unknown and internal partitions, a timeout over the maximum, an unknown producer id")
    func badRequests() throws {
        let (cluster, client, c) = try setUp("bad")
        #expect(try client.initProducer(c, "").errorCode == .invalidRequest)
        #expect(try client.initProducer(c, "bad", timeoutMs: TransactionRules.maxTimeoutMs + 1).errorCode == .invalidTransactionTimeout)
        #expect(try client.initProducer(c, "bad", timeoutMs: 0).errorCode == .invalidTransactionTimeout)
        let p = try client.initProducer(c, "bad")
        #expect(try client.add(c, "bad", p, [("t", 0), ("t", 7), ("nope", 0)]) == [.operationNotAttempted, .unknownTopicOrPartition, .unknownTopicOrPartition])
        #expect(try client.add(c, "bad", p, [("t", 0), (transactionStateTopic, 0)]) == [.operationNotAttempted, .invalidTopic])
        var other = p
        other.producerID += 1000
        #expect(try client.add(c, "bad", other, [("t", 0)]) == [.invalidProducerIDMapping])
        // An id this coordinator holds no record of (in the same partition as "bad").
        let partitions = cluster.cores[c].config.transactionStatePartitions
        let stranger = try #require((0..<100).map { "stranger-\($0)" }.first {
            TransactionStateStore.partition(of: $0, partitions: partitions) == TransactionStateStore.partition(of: "bad", partitions: partitions)
        })
        #expect(try client.end(c, stranger, p, commit: true) == .invalidProducerIDMapping)
        #expect(try client.end(c, "bad", p, commit: true) == .invalidTxnState, "nothing open to commit")
        // On any other node: NOT_COORDINATOR, which sends the client to FindCoordinator.
        #expect(try client.end((c + 1) % 3, "bad", p, commit: true) == .notCoordinator)
    }

    @Test("clients cannot create, write or grow __transaction_state")
    func internalTopic() throws {
        let (_, client, c) = try setUp("internal")
        let create = CreateTopicsRequest(topics: [.init(name: transactionStateTopic, numPartitions: 1, replicationFactor: 1)], timeoutMs: 1000)
        let created = try client.call(c, .createTopics, 4, { create.encode(&$0, version: 4) }) { try CreateTopicsResponse.decode(&$0, version: 4) }
        #expect(created.topics.map(\.errorCode) == [.invalidRequest])
        #expect(created.topics.first?.errorMessage == "Creation of internal topic __transaction_state is prohibited.")
        let batch = RecordBatch.build(records: [(nil, Array("forged".utf8))], timestamp: 1000)
        let produce = ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [.init(name: transactionStateTopic, partitionData: [.init(index: 0, records: batch.bytes)])])
        let produced = try client.call(c, .produce, 8, { produce.encode(&$0, version: 8) }) { try ProduceResponse.decode(&$0, version: 8) }
        #expect(produced.responses.first?.partitionResponses.first?.errorCode == .invalidTopic)
        let grow = CreatePartitionsRequest(topics: [.init(name: transactionStateTopic, count: 9)], timeoutMs: 1000)
        let grown = try client.call(c, .createPartitions, 1, { grow.encode(&$0, version: 1) }) { try CreatePartitionsResponse.decode(&$0, version: 1) }
        #expect(grown.results.map(\.errorCode) == [.invalidRequest], "\(grown.results)")
    }

    @Test("a transaction state partition's snapshot holds its records")
    func snapshot() throws {
        var store = TransactionStateStore()
        let m = TransactionMetadata(producerID: 7, producerEpoch: 3, timeoutMs: 1000, state: .ongoing, partitions: [.init(topic: "t", partition: 2)], startMs: 5, lastUpdateMs: 6)
        let r = TransactionStateStore.record("x", m)
        try store.apply(key: r.key, value: r.value)
        var w = ByteWriter()
        w.u64(5)
        w.u64(1)
        w.u64(3)
        ProducerState().encode(&w)
        store.encode(&w)
        let state = try NodeCore.Group.decodeKafkaState(w.bytes, internal: .transactionState)
        #expect(state.transactionStore == store && state.offsetStore == nil)
        #expect(throws: WireError.self) { try NodeCore.Group.decodeKafkaState(w.bytes, internal: nil) }
    }
}
