import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Testing

/// Produce, Fetch and ListOffsets through the node cores of an in-memory cluster.
struct KafkaDataTests {
    /// A three-node cluster with topic `t` (one partition, three replicas) and its leader's index.
    static func cluster(configure: @escaping (inout NodeConfig) -> Void = { _ in }) throws -> (MiniCluster, Int) {
        let c = try MiniCluster(nodes: 3, configure: configure)
        c.run(ticks: 40)
        let (out, _) = try c.cores[c.controllerIndex].proposeToController(.createTopic(name: "t", partitions: 1, replicationFactor: 3))
        c.take(c.controllerIndex, out)
        c.run(ticks: 60)
        let gid = try #require(c.cores[0].controller.topic("t")?.partitions.first?.group)
        let leader = try #require(c.cores.indices.first { c.cores[$0].raftOf(gid)?.role == .leader })
        return (c, leader)
    }

    static func produce(_ c: MiniCluster, to i: Int, acks: Int16, correlation: Int32, values: [String]) throws -> ProduceResponse.PartitionProduceResponse? {
        let batch = RecordBatch.build(records: values.map { (nil, Array($0.utf8)) }, timestamp: 1000)
        let request = ProduceRequest(acks: acks, timeoutMs: 5000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: batch.bytes)])])
        guard let reply = c.kafka(i, key: .produce, version: 8, correlation: correlation, { request.encode(&$0, version: 8) }) else { return nil }
        var r = try MiniCluster.body(reply, correlation: correlation)
        return try ProduceResponse.decode(&r, version: 8).responses.first?.partitionResponses.first
    }

    static func fetch(_ c: MiniCluster, from i: Int, offset: Int64, correlation: Int32, maxWaitMs: Int32 = 0) throws -> FetchResponse.PartitionData {
        let request = FetchRequest(maxWaitMs: maxWaitMs, minBytes: 1, topics: [.init(topic: "t", partitions: [.init(partition: 0, fetchOffset: offset, partitionMaxBytes: 1 << 20)])])
        var r = try MiniCluster.body(c.kafka(i, key: .fetch, version: 11, correlation: correlation) { request.encode(&$0, version: 11) }, correlation: correlation)
        return try #require(try FetchResponse.decode(&r, version: 11).responses.first?.partitions.first)
    }

    @Test("acks=all: offsets are dense from 0, the batch is committed on a majority, and a fetch returns it from the leader")
    func produceAndFetch() throws {
        let (c, leader) = try Self.cluster()
        let first = try #require(try Self.produce(c, to: leader, acks: -1, correlation: 1, values: ["a", "b", "c"]))
        #expect(first.errorCode == .none && first.baseOffset == 0)
        let second = try #require(try Self.produce(c, to: leader, acks: -1, correlation: 2, values: ["d"]))
        #expect(second.baseOffset == 3)
        let p = try Self.fetch(c, from: leader, offset: 0, correlation: 3)
        #expect(p.errorCode == .none && p.highWatermark == 4 && p.lastStableOffset == 4 && p.logStartOffset == 0)
        let batches = try RecordBatch.batches(in: try #require(p.records))
        #expect(batches.map(\.baseOffset) == [0, 3])
        #expect(try batches.flatMap { try $0.records() }.map { String(decoding: $0.value!, as: UTF8.self) } == ["a", "b", "c", "d"])
        // From the middle of a batch: the batch holding the offset comes first.
        #expect(try RecordBatch.batches(in: try #require(try Self.fetch(c, from: leader, offset: 1, correlation: 4).records)).first?.baseOffset == 0)
        // Every replica stored the same offsets.
        for core in c.cores {
            let gid = core.controller.topic("t")!.partitions[0].group
            #expect(core.group(gid)?.state.nextOffset == 4)
        }
    }

    @Test("errors: a follower says NOT_LEADER_OR_FOLLOWER, an unknown topic UNKNOWN_TOPIC_OR_PARTITION, a bad CRC CORRUPT_MESSAGE, acks=2 INVALID_REQUIRED_ACKS, an offset past the end OFFSET_OUT_OF_RANGE")
    func errors() throws {
        let (c, leader) = try Self.cluster()
        let follower = (leader + 1) % 3
        #expect(try Self.produce(c, to: follower, acks: -1, correlation: 1, values: ["x"])?.errorCode == ErrorCode.notLeaderOrFollower)
        #expect(try Self.fetch(c, from: follower, offset: 0, correlation: 2).errorCode == ErrorCode.notLeaderOrFollower)
        #expect(try Self.produce(c, to: leader, acks: 2, correlation: 3, values: ["x"])?.errorCode == ErrorCode.invalidRequiredAcks)
        var bad = RecordBatch.build(records: [(nil, Array("x".utf8))], timestamp: 1).bytes
        bad.setInteger(UInt8(0xFF), at: bad.writerIndex - 1)
        let corrupt = ProduceRequest(acks: -1, timeoutMs: 1000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: bad)]),
                                                                       .init(name: "nope", partitionData: [.init(index: 0, records: bad)])])
        var r = try MiniCluster.body(c.kafka(leader, key: .produce, version: 8, correlation: 4) { corrupt.encode(&$0, version: 8) }, correlation: 4)
        let resp = try ProduceResponse.decode(&r, version: 8)
        #expect(resp.responses.map { $0.partitionResponses[0].errorCode } == [ErrorCode.corruptMessage, ErrorCode.unknownTopicOrPartition])
        #expect(try Self.fetch(c, from: leader, offset: 5, correlation: 5).errorCode == ErrorCode.offsetOutOfRange)
    }

    @Test("a control batch (a commit or abort marker) from a client is INVALID_RECORD with the reason, and not written; a transactional batch too with transactions off")
    func controlAndTransactionalBatchesRefused() throws {
        let (c, leader) = try Self.cluster { $0.servesTransactions = false }
        /// A batch of "x" with attribute `bit` set (CRC recomputed: the refusal is for the bit, not a bad CRC).
        func batch(_ bit: Int16) -> ByteBuffer {
            var b = RecordBatch.build(records: [(nil, Array("x".utf8))], timestamp: 1, producerID: 7, producerEpoch: 0, baseSequence: 0).bytes
            let attributes: Int16 = b.getInteger(at: b.readerIndex + 21)!
            b.setInteger(attributes | bit, at: b.readerIndex + 21)
            let crc = b.withUnsafeReadableBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[21...])) }
            b.setInteger(crc, at: b.readerIndex + 17)
            return b
        }
        for (correlation, bit, reason) in [(Int32(1), Int16(0x30), "Clients are not allowed to write control records"),
                                           (2, 0x10, "Rill does not support transactions yet")] {
            let request = ProduceRequest(acks: -1, timeoutMs: 1000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: batch(bit))])])
            var r = try MiniCluster.body(c.kafka(leader, key: .produce, version: 8, correlation: correlation) { request.encode(&$0, version: 8) }, correlation: correlation)
            let p = try #require(try ProduceResponse.decode(&r, version: 8).responses.first?.partitionResponses.first)
            #expect(p.errorCode == .invalidRecord)
            #expect(p.errorMessage?.contains(reason) == true, "\(p.errorMessage ?? "nil")")
        }
        c.run(ticks: 20)
        #expect(try Self.fetch(c, from: leader, offset: 0, correlation: 3).highWatermark == 0)
        #expect(try Self.produce(c, to: leader, acks: -1, correlation: 4, values: ["y"])?.errorCode == ErrorCode.none)
    }

    @Test("acks=0 gets no response, and the records still land")
    func acksZero() throws {
        let (c, leader) = try Self.cluster()
        #expect(try Self.produce(c, to: leader, acks: 0, correlation: 1, values: ["fire", "forget"]) == nil)
        c.run(ticks: 10)
        #expect(try Self.fetch(c, from: leader, offset: 0, correlation: 2).highWatermark == 2)
    }

    @Test("a fetch at the high watermark waits (long poll) and is answered when a produce commits")
    func longPoll() throws {
        let (c, leader) = try Self.cluster()
        _ = try Self.produce(c, to: leader, acks: -1, correlation: 1, values: ["one"])
        let request = FetchRequest(maxWaitMs: 5000, minBytes: 1, topics: [.init(topic: "t", partitions: [.init(partition: 0, fetchOffset: 1, partitionMaxBytes: 1 << 20)])])
        var w = KafkaWriter()
        request.encode(&w, version: 11)
        let (reply, out) = c.cores[leader].handleKafka(KafkaRequest(
            connection: 7, sequence: 0, header: RequestHeader(apiKey: 1, apiVersion: 11, correlationID: 9, clientID: nil), body: w.buffer))
        c.take(leader, out)
        guard case .pending = reply else {
            Issue.record("a fetch at the high watermark was answered at once")
            return
        }
        c.run(ticks: 2)
        #expect(!c.completions.contains { $0.connection == 7 })
        _ = try Self.produce(c, to: leader, acks: -1, correlation: 2, values: ["two"])
        c.run(ticks: 2)
        let done = try #require(c.completions.first { $0.connection == 7 })
        var r = try MiniCluster.body(done.response, correlation: 9)
        let p = try #require(try FetchResponse.decode(&r, version: 11).responses.first?.partitions.first)
        #expect(try RecordBatch.batches(in: try #require(p.records)).map(\.baseOffset) == [1])
    }

    @Test("acks=all: an acknowledged record is visible at once: ListOffsets latest, asked the moment the ack leaves, is past it (produces pipelined)")
    func ackedIsVisible() throws {
        let (c, leader) = try Self.cluster()
        let latest = ListOffsetsRequest(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: ListOffsetsRequest.latest)])])
        var acked = 0
        var behind: [(ackedEnd: Int64, latest: Int64)] = []
        c.onCompletion = { node, done in
            guard node == leader, done.sequence < 1000 else { return }
            var r = try! MiniCluster.body(done.response, correlation: Int32(done.sequence))
            let p = try! ProduceResponse.decode(&r, version: 8).responses[0].partitionResponses[0]
            guard p.errorCode == .none else { return }
            acked += 1
            // Asked before anything else happens on the node: the reply is immediate.
            var w = KafkaWriter()
            latest.encode(&w, version: 5)
            let (reply, _) = c.cores[leader].handleKafka(KafkaRequest(
                connection: 2, sequence: 1000 + done.sequence,
                header: RequestHeader(apiKey: ApiKey.listOffsets.rawValue, apiVersion: 5, correlationID: 1, clientID: "t"), body: w.buffer))
            guard case .respond(let b) = reply else { return }
            var lr = try! MiniCluster.body(b, correlation: 1)
            let offset = try! ListOffsetsResponse.decode(&lr, version: 5).topics[0].partitions[0].offset
            if offset < p.baseOffset + 2 { behind.append((p.baseOffset + 2, offset)) }
        }
        // Two records per produce, a new produce every round: the leader's next append is in
        // flight when the followers' acknowledgements of the previous one arrive.
        let batch = RecordBatch.build(records: [(nil, Array("a".utf8)), (nil, Array("b".utf8))], timestamp: 1000)
        for k in 0..<40 {
            let request = ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: batch.bytes)])])
            var w = KafkaWriter()
            request.encode(&w, version: 8)
            let (_, out) = c.cores[leader].handleKafka(KafkaRequest(
                connection: 1, sequence: UInt64(k + 1),
                header: RequestHeader(apiKey: ApiKey.produce.rawValue, apiVersion: 8, correlationID: Int32(k + 1), clientID: "t"), body: w.buffer))
            c.take(leader, out)
            c.deliverOneRound()
        }
        c.run(ticks: 5)
        c.onCompletion = nil
        #expect(acked == 40)
        #expect(behind.isEmpty, "acknowledged but not yet visible: \(behind)")
    }

    @Test("ListOffsets: earliest is the log start, latest the high watermark")
    func listOffsets() throws {
        let (c, leader) = try Self.cluster()
        _ = try Self.produce(c, to: leader, acks: -1, correlation: 1, values: ["a", "b"])
        let request = ListOffsetsRequest(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: ListOffsetsRequest.earliest)]),
                                                  .init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: ListOffsetsRequest.latest)])])
        var r = try MiniCluster.body(c.kafka(leader, key: .listOffsets, version: 5, correlation: 2) { request.encode(&$0, version: 5) }, correlation: 2)
        let resp = try ListOffsetsResponse.decode(&r, version: 5)
        #expect(resp.topics.map { $0.partitions[0].offset } == [0, 2])
        #expect(resp.topics[1].partitions[0].leaderEpoch >= 1)
    }
}

struct KafkaLeaderEpochTests {
    @Test("OffsetForLeaderEpoch: the current epoch ends at the log end; a stale current epoch is fenced")
    func epochs() throws {
        let (c, leader) = try KafkaDataTests.cluster()
        _ = try KafkaDataTests.produce(c, to: leader, acks: -1, correlation: 1, values: ["a", "b", "c"])
        let gid = c.cores[leader].controller.topic("t")!.partitions[0].group
        let term = Int32(c.cores[leader].raftOf(gid)!.term.value)
        let request = OffsetForLeaderEpochRequest(topics: [.init(topic: "t", partitions: [.init(partition: 0, currentLeaderEpoch: term, leaderEpoch: term)]),
                                                           .init(topic: "t", partitions: [.init(partition: 0, currentLeaderEpoch: term - 1, leaderEpoch: term)]),
                                                           .init(topic: "t", partitions: [.init(partition: 0, currentLeaderEpoch: -1, leaderEpoch: 0)])])
        var r = try MiniCluster.body(c.kafka(leader, key: .offsetForLeaderEpoch, version: 3, correlation: 2) { request.encode(&$0, version: 3) }, correlation: 2)
        let resp = try OffsetForLeaderEpochResponse.decode(&r, version: 3)
        #expect(resp.topics[0].partitions[0].errorCode == .none && resp.topics[0].partitions[0].endOffset == 3)
        #expect(resp.topics[0].partitions[0].leaderEpoch == term)
        #expect(resp.topics[1].partitions[0].errorCode == ErrorCode.fencedLeaderEpoch)
        // Epoch 0 had no data: its end is where the first term's data starts, offset 0.
        #expect(resp.topics[2].partitions[0].endOffset == 0)
    }
}

struct ListOffsetsByTimeTests {
    @Test("ListOffsets by timestamp: the first record at or after the time, -1 past the newest")
    func byTimestamp() throws {
        let (c, leader) = try KafkaDataTests.cluster()
        // Three batches stamped 1000, 2000, 3000 (RecordBatch.build stamps every record the same).
        for (k, ts) in [Int64(1000), 2000, 3000].enumerated() {
            let batch = RecordBatch.build(records: [(nil, Array("r\(k)a".utf8)), (nil, Array("r\(k)b".utf8))], timestamp: ts)
            let request = ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: batch.bytes)])])
            _ = c.kafka(leader, key: .produce, version: 8, correlation: Int32(10 + k)) { request.encode(&$0, version: 8) }
        }
        func lookup(_ ts: Int64, _ correlation: Int32) throws -> ListOffsetsResponse.ListOffsetsPartitionResponse {
            let request = ListOffsetsRequest(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: ts)])])
            var r = try MiniCluster.body(c.kafka(leader, key: .listOffsets, version: 5, correlation: correlation) { request.encode(&$0, version: 5) }, correlation: correlation)
            return try #require(try ListOffsetsResponse.decode(&r, version: 5).topics.first?.partitions.first)
        }
        #expect(try lookup(0, 1).offset == 0)
        #expect(try lookup(1500, 2).offset == 2)
        let exact = try lookup(2000, 3)
        #expect(exact.offset == 2 && exact.timestamp == 2000)
        #expect(try lookup(3000, 4).offset == 4)
        #expect(try lookup(3001, 5).offset == -1)
    }
}

struct IdempotentProduceTests {
    static func produce(_ c: MiniCluster, to i: Int, correlation: Int32, pid: Int64, epoch: Int16, sequence: Int32, values: [String]) throws
        -> ProduceResponse.PartitionProduceResponse?
    {
        let batch = RecordBatch.build(records: values.map { (nil, Array($0.utf8)) }, timestamp: 1000, producerID: pid, producerEpoch: epoch,
                                      baseSequence: sequence)
        let request = ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: batch.bytes)])])
        guard let reply = c.kafka(i, key: .produce, version: 8, correlation: correlation, { request.encode(&$0, version: 8) }) else { return nil }
        var r = try MiniCluster.body(reply, correlation: correlation)
        return try ProduceResponse.decode(&r, version: 8).responses.first?.partitionResponses.first
    }

    @Test("a retried idempotent batch is answered with its original offset and never written twice, also by a new leader")
    func retries() throws {
        let (c, leader) = try KafkaDataTests.cluster()
        let first = try #require(try Self.produce(c, to: leader, correlation: 1, pid: 5, epoch: 0, sequence: 0, values: ["a", "b"]))
        #expect(first.errorCode == .none && first.baseOffset == 0)
        let retry = try #require(try Self.produce(c, to: leader, correlation: 2, pid: 5, epoch: 0, sequence: 0, values: ["a", "b"]))
        #expect(retry.errorCode == .none && retry.baseOffset == 0)
        let next = try #require(try Self.produce(c, to: leader, correlation: 3, pid: 5, epoch: 0, sequence: 2, values: ["c"]))
        #expect(next.baseOffset == 2)
        let gid = c.cores[leader].controller.topic("t")!.partitions[0].group
        #expect(c.cores[leader].group(gid)?.state.nextOffset == 3)
        // Move leadership; the new leader knows the producer from the log.
        let target = c.cores[(leader + 1) % 3].config.id
        try c.cores[leader].group(gid)!.withRaft { try $0.transferLeadership(to: target) }
        c.take(leader, c.cores[leader].drain())
        c.run(ticks: 30)
        let newLeader = try #require(c.cores.indices.first { c.cores[$0].raftOf(gid)?.role == .leader })
        #expect(newLeader != leader)
        c.run(ticks: 5)
        let again = try #require(try Self.produce(c, to: newLeader, correlation: 4, pid: 5, epoch: 0, sequence: 2, values: ["c"]))
        #expect(again.errorCode == .none && again.baseOffset == 2)
        #expect(c.cores[newLeader].group(gid)?.state.nextOffset == 3)
    }

    @Test("a retry that arrives while the original is still uncommitted waits for it and gets the same offset")
    func retryInFlight() throws {
        let (c, leader) = try KafkaDataTests.cluster()
        let batch = RecordBatch.build(records: [(nil, Array("once".utf8))], timestamp: 1, producerID: 11, producerEpoch: 0, baseSequence: 0)
        var w = KafkaWriter()
        ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: batch.bytes)])]).encode(&w, version: 8)
        for sequence in [UInt64(1), 2] {
            let (reply, out) = c.cores[leader].handleKafka(KafkaRequest(
                connection: 3, sequence: sequence, header: RequestHeader(apiKey: 0, apiVersion: 8, correlationID: Int32(sequence), clientID: nil),
                body: w.buffer))
            guard case .pending = reply else {
                Issue.record("request \(sequence) was answered before its batch was committed")
                return
            }
            c.take(leader, out)  // not run: the first batch is still in flight when the retry comes
        }
        c.run(ticks: 10)
        let replies = c.completions.filter { $0.connection == 3 }
        #expect(replies.count == 2)
        for done in replies {
            var r = try MiniCluster.body(done.response, correlation: Int32(done.sequence))
            let p = try #require(try ProduceResponse.decode(&r, version: 8).responses.first?.partitionResponses.first)
            #expect(p.errorCode == .none && p.baseOffset == 0)
        }
        let gid = c.cores[leader].controller.topic("t")!.partitions[0].group
        #expect(c.cores[leader].group(gid)?.state.nextOffset == 1)
    }

    @Test("a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER, a stale epoch INVALID_PRODUCER_EPOCH, an epoch bump at 0 is accepted")
    func errors() throws {
        let (c, leader) = try KafkaDataTests.cluster()
        _ = try Self.produce(c, to: leader, correlation: 1, pid: 9, epoch: 1, sequence: 0, values: ["a"])
        #expect(try Self.produce(c, to: leader, correlation: 2, pid: 9, epoch: 1, sequence: 5, values: ["x"])?.errorCode
            == ErrorCode.outOfOrderSequenceNumber)
        #expect(try Self.produce(c, to: leader, correlation: 3, pid: 9, epoch: 0, sequence: 1, values: ["x"])?.errorCode
            == ErrorCode.invalidProducerEpoch)
        let bumped = try #require(try Self.produce(c, to: leader, correlation: 4, pid: 9, epoch: 2, sequence: 0, values: ["b"]))
        #expect(bumped.errorCode == .none && bumped.baseOffset == 1)
    }
}
