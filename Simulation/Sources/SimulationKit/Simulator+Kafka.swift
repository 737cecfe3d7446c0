import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft

/// Simulated Kafka clients that speak the real protocol to the real node code: an admin creates
/// the topic, an idempotent producer writes with acks=all (Simulator+Producer), a consumer reads
/// the partition from offset 0. The others have one request in flight; requests and replies cross
/// the simulated network (with `clientNetworkFaults`, lossy, late and duplicated); a request to a
/// node that crashes times out and is retried elsewhere.
struct SimKafkaClient {
    enum Role { case admin, producer, consumer, member, transactional, committedReader }

    let role: Role
    var leaderGuess: Int?
    var inFlight: (correlation: Int32, node: Int, sentAt: SimTime, value: [UInt8]?)?
    var correlation: Int32 = 0
    /// Producer: its batches and requests (Simulator+Producer).
    var producer = SimProducerState()
    /// Consumer: the next offset to read.
    var position: Int64 = 0
    var done = false
    /// Producer: its idempotent producer id (-1 until InitProducerId answered).
    var producerID: Int64 = -1
    /// Admin (`SwarmOptions.kafkaDeleteRecords`): the offset its DeleteRecords in flight deletes below.
    var deleteBelow: Int64 = 0
    /// Consumer-group member: where it is in the protocol (see Simulator+Groups).
    var group = SimGroupMemberState()
    /// Transactional producer, read_committed consumer (Simulator+Transactions).
    var txn = SimTransactionalState()
    var reader = SimCommittedReaderState()
}

extension Simulator {
    static let kafkaTopic = "sim"
    /// Created with the Kafka topic when `SwarmOptions.idlePartitions` > 0; nobody uses it.
    static let idleTopic = "idle"
    static let kafkaRequestTimeout = 2 * SimDuration.second

    /// The partition group the controller gives the topic (after the static groups).
    var kafkaGroup: Int { options.groups + 1 }

    func kafkaClientStep(_ c: Int) {
        var client = kafkaClients[c]
        defer {
            kafkaClients[c] = client
            if !client.done && !(phase == .liveness && client.role == .producer) {
                queue.schedule(.kafkaClientStep(client: c), at: now + 1 + kafkaRandom.exponential(mean: 20 * SimDuration.millisecond))
            }
        }
        if client.role == .producer && client.producerID >= 0 { return producerStep(c, &client) }
        if let f = client.inFlight {
            // A group member's join and sync are held by the coordinator for a whole join phase.
            let timeout = client.role == .member ? Self.memberRequestTimeout : Self.kafkaRequestTimeout
            guard now - f.sentAt > timeout else { return }
            // No answer (the node crashed or the reply was lost): try another node.
            client.inFlight = nil
            client.leaderGuess = nil
            if client.role == .member { Self.lostCoordinator(&client.group) }
            if client.role == .transactional {
                switch client.txn.sent {
                case .produce: break
                case .findGroupCoordinator, .commitOffsets, .fetchOffsets: client.txn.groupCoordinator = nil
                default: client.txn.coordinator = nil
                }
            }
        }
        if client.role == .producer && phase == .liveness { return }
        if client.role != .admin && !kafkaTopicReady { return }
        let deleting = client.role == .admin && kafkaTopicReady && options.kafkaDeleteRecords
        if deleting {
            // Deleting records (the topic exists): about once a second, and not in the liveness phase.
            guard phase != .liveness, kafkaRandom.chance(1, in: 50) else { return }
            client.deleteBelow = Int64(kafkaRandom.below(UInt64(checkerKafka.highWatermark) + 1))
        }
        if client.role == .transactional || client.role == .committedReader {
            let request = client.role == .transactional ? transactionalRequest(c, &client) : committedReaderRequest(client)
            guard let (node, key, version, w) = request else { return }
            client.correlation += 1
            client.inFlight = (client.correlation, node, now, nil)
            let header = RequestHeader(apiKey: key.rawValue, apiVersion: version, correlationID: client.correlation, clientID: "txn-\(c)")
            sendKafkaRequest(to: node, client: c, header: header, body: Array(w.buffer.readableBytesView))
            return
        }
        if client.role == .member {
            guard let (node, key, version, w) = groupMemberRequest(c, &client) else { return }
            client.correlation += 1
            client.inFlight = (client.correlation, node, now, nil)
            let header = RequestHeader(apiKey: key.rawValue, apiVersion: version, correlationID: client.correlation, clientID: "member-\(c)")
            sendKafkaRequest(to: node, client: c, header: header, body: Array(w.buffer.readableBytesView))
            return
        }
        let node = client.leaderGuess ?? Int(kafkaRandom.below(UInt64(nodes.count)))
        client.correlation += 1
        var w = KafkaWriter()
        let key: ApiKey
        let version: Int16
        switch client.role {
        case .admin where deleting:
            key = .deleteRecords
            version = 1
            DeleteRecordsRequest(topics: [.init(name: Self.kafkaTopic, partitions: [.init(partitionIndex: 0, offset: client.deleteBelow)])], timeoutMs: 1500)
                .encode(&w, version: version)
        case .admin:
            key = .createTopics
            version = 4
            // Join/leave runs start with three members (the others join, and members leave).
            let rf = Int16(options.joinAndLeave ? 3 : nodes.count)
            var topics: [CreateTopicsRequest.CreatableTopic] = [.init(name: Self.kafkaTopic, numPartitions: 1, replicationFactor: rf)]
            if options.idlePartitions > 0 {
                topics.append(.init(name: Self.idleTopic, numPartitions: Int32(options.idlePartitions), replicationFactor: rf))
            }
            CreateTopicsRequest(topics: topics, timeoutMs: 2000).encode(&w, version: version)
        case .producer where client.producerID < 0:
            key = .initProducerID
            version = 1
            InitProducerIDRequest(transactionTimeoutMs: 60000).encode(&w, version: version)
        case .producer, .member, .transactional, .committedReader:
            return  // handled above
        case .consumer:
            key = .fetch
            version = 11
            FetchRequest(maxWaitMs: 100, minBytes: 1, maxBytes: 1 << 20,
                         topics: [.init(topic: Self.kafkaTopic, partitions: [.init(partition: 0, fetchOffset: client.position, partitionMaxBytes: 64 * 1024)])])
                .encode(&w, version: version)
        }
        client.inFlight = (client.correlation, node, now, nil)
        let header = RequestHeader(apiKey: key.rawValue, apiVersion: version, correlationID: client.correlation, clientID: "sim-\(c)")
        sendKafkaRequest(to: node, client: c, header: header, body: Array(w.buffer.readableBytesView))
    }

    func kafkaLatency() -> SimTime { options.latencyMin + kafkaRandom.exponential(mean: options.latencyMean) }

    /// A client's request reaches node `i`.
    func kafkaRequest(_ i: Int, client c: Int, header: RequestHeader, body: [UInt8]) {
        guard let core = nodes[i].core else { return }  // down: the client times out
        if kafkaClients[c].role == .member, kafkaClients[c].inFlight?.correlation == header.correlationID {
            kafkaClients[c].group.deliveredAt = now
            let g = kafkaClients[c].group
            if g.coordinator == i && [.heartbeat, .offsetCommit, .joinGroup, .syncGroup].contains(g.sent) {
                kafkaClients[c].group.sessionRequests = (g.sessionRequests.last, (now, nil))
            }
        }
        let request = KafkaRequest(connection: UInt64(c), sequence: UInt64(header.correlationID), header: header, body: ByteBuffer(bytes: body))
        let (reply, out) = core.handleKafka(request)
        switch reply {
        case .respond(let bytes):
            sendKafkaReply(to: c, correlation: header.correlationID, bytes: Array(bytes.readableBytesView))
        case .close:
            sendKafkaReply(to: c, correlation: header.correlationID, bytes: [])
        case .noResponse, .pending: break
        }
        carryOut(i, out)
    }

    /// A reply reaches a client.
    func kafkaReply(client c: Int, correlation: Int32, bytes: [UInt8]) {
        if kafkaClients[c].role == .producer && kafkaClients[c].producerID >= 0 { return producerReply(c, correlation: correlation, bytes: bytes) }
        // A reply to a request the client gave up on (timed out, sent another) is stale: ignored.
        guard let f = kafkaClients[c].inFlight, f.correlation == correlation else { return }
        kafkaClients[c].inFlight = nil
        var framed = ByteBuffer(bytes: bytes)
        guard !bytes.isEmpty, let body = try? KafkaFrame.next(from: &framed) else {
            kafkaClients[c].leaderGuess = nil  // connection closed
            if kafkaClients[c].role == .member { Self.lostCoordinator(&kafkaClients[c].group) }
            return
        }
        var r = KafkaReader(body)
        guard (try? r.int32()) == f.correlation else {
            checkerKafka.fail("kafka-correlation", "client \(c) got a reply for another request")
            return
        }
        switch kafkaClients[c].role {
        case .member:
            groupMemberReply(c, node: f.node, &r)
        case .transactional:
            transactionalReply(c, node: f.node, &r)
        case .committedReader:
            committedReaderReply(c, node: f.node, &r)
        case .admin where options.kafkaDeleteRecords && kafkaTopicReady && f.sentAt > kafkaTopicReadyAt:
            guard let resp = try? DeleteRecordsResponse.decode(&r, version: 1), let p = resp.topics.first?.partitions.first else {
                checkerKafka.fail("kafka-decode", "unreadable DeleteRecords response")
                return
            }
            if p.errorCode == .none {
                checkerKafka.recordsDeleted(requested: kafkaClients[c].deleteBelow, logStart: p.lowWatermark, at: now)
                trace("kafka: records below \(kafkaClients[c].deleteBelow) deleted on n\(f.node + 1), log start \(p.lowWatermark)")
                kafkaClients[c].leaderGuess = f.node
            } else {
                kafkaClients[c].leaderGuess = nil
            }
        case .admin:
            guard let resp = try? CreateTopicsResponse.decode(&r, version: 4), !resp.topics.isEmpty else { return }
            if resp.topics.allSatisfy({ $0.errorCode == .none || $0.errorCode == .topicAlreadyExists }) {
                kafkaTopicReady = true
                kafkaTopicReadyAt = now
                // With DeleteRecords on, the admin stays: it deletes records from now on.
                kafkaClients[c].done = !options.kafkaDeleteRecords
                trace("kafka: topic created")
            } else {
                kafkaClients[c].leaderGuess = nil
            }
        case .producer where kafkaClients[c].producerID < 0:
            if let resp = try? InitProducerIDResponse.decode(&r, version: 1), resp.errorCode == .none {
                kafkaClients[c].producerID = resp.producerID
                trace("kafka: producer id \(resp.producerID) from n\(f.node + 1)")
            }
        case .producer:
            return  // answered by producerReply once it has its id
        case .consumer:
            guard let resp = try? FetchResponse.decode(&r, version: 11), let p = resp.responses.first?.partitions.first else {
                checkerKafka.fail("kafka-decode", "unreadable Fetch response")
                return
            }
            guard p.errorCode == .none else {
                if p.errorCode == .offsetOutOfRange {
                    let retention = options.retentionBytes > 0 || options.retentionMs > 0 || options.kafkaDeleteRecords
                    if retention && kafkaClients[c].position < p.logStartOffset {
                        // Retention (or DeleteRecords) deleted what the consumer had not read yet
                        // (Kafka allows it): it goes on from the log start, and those records are
                        // not owed to it.
                        checkerKafka.expired(below: p.logStartOffset)
                        kafkaClients[c].position = p.logStartOffset
                    } else {
                        checkerKafka.fail("kafka-no-skip", "offset \(kafkaClients[c].position) out of range on n\(f.node + 1) (hwm \(p.highWatermark), log start \(p.logStartOffset))")
                    }
                }
                kafkaClients[c].leaderGuess = nil
                return
            }
            kafkaClients[c].leaderGuess = f.node
            checkerKafka.observedHighWatermark(p.highWatermark, from: f.node)
            let deleted = checkerKafka.deletedBelow(before: f.sentAt)
            if p.logStartOffset < deleted {
                checkerKafka.fail("kafka-deleted-stays-deleted",
                                  "n\(f.node + 1) reported log start \(p.logStartOffset) after records below \(deleted) were deleted (fetch from \(kafkaClients[c].position))")
            }
            guard let records = p.records, records.readableBytes > 0 else { return }
            let batches: [RecordBatch]
            do {
                batches = try RecordBatch.batches(in: records, from: .log)
            } catch {
                checkerKafka.fail("kafka-batch-valid", "n\(f.node + 1) served a batch that fails validation: \(error) (\(records.readableBytes) bytes from \(kafkaClients[c].position), hwm \(p.highWatermark))")
                return
            }
            for b in batches {
                if b.isControl {
                    // A transaction's marker: an offset, no record for a consumer.
                    guard b.nextOffset > kafkaClients[c].position else { continue }
                    if b.baseOffset != kafkaClients[c].position && !options.kafkaCompaction {
                        checkerKafka.fail("kafka-no-skip", "consumer at \(kafkaClients[c].position) got a marker at \(b.baseOffset) from n\(f.node + 1)")
                        return
                    }
                    kafkaClients[c].position = b.nextOffset
                    continue
                }
                if b.producerID >= 0 && b.baseOffset >= kafkaClients[c].position {
                    checkerKafka.producerBatchRead(
                        producerID: b.producerID, epoch: b.producerEpoch, firstSequence: b.baseSequence,
                        lastSequence: ProducerState.lastSequence(first: b.baseSequence, count: b.lastOffsetDelta + 1),
                        baseOffset: b.baseOffset, nextOffset: b.nextOffset, contiguityKnown: !options.kafkaCompaction)
                }
                guard let recs = try? b.records() else { continue }
                for rec in recs where rec.offset >= kafkaClients[c].position {
                    if options.kafkaCompaction && rec.offset > kafkaClients[c].position {
                        // Compaction's gap: owed only if no later record has the key (checked at the end).
                        checkerKafka.skipped(kafkaClients[c].position..<rec.offset)
                        kafkaClients[c].position = rec.offset
                    }
                    if rec.offset != kafkaClients[c].position {
                        checkerKafka.fail("kafka-no-skip", "consumer at \(kafkaClients[c].position) got offset \(rec.offset) from n\(f.node + 1)")
                        return
                    }
                    if rec.offset >= p.highWatermark {
                        checkerKafka.fail(
                            "kafka-below-hwm",
                            "n\(f.node + 1) served offset \(rec.offset) at or above its high watermark \(p.highWatermark) (batches at \(batches.map(\.baseOffset)), fetch from \(kafkaClients[c].position))")
                    }
                    checkerKafka.observedRead(offset: rec.offset, value: rec.value ?? [])
                    kafkaClients[c].position += 1
                    stats.kafkaRead += 1
                }
                if options.kafkaCompaction && b.nextOffset > kafkaClients[c].position && b.nextOffset <= p.highWatermark {
                    // Records compacted away at the batch's end (or all of them).
                    checkerKafka.skipped(kafkaClients[c].position..<b.nextOffset)
                    kafkaClients[c].position = b.nextOffset
                }
            }
        }
    }

    /// Liveness for Kafka: the topic exists and the consumer has read up to the last
    /// acknowledged record; then nothing acknowledged may be missing.
    func kafkaNotConverged() -> String? {
        guard kafkaTopicReady else { return "topic not created" }
        let lastAcked = checkerKafka.acked.keys.max() ?? -1
        guard let consumer = kafkaClients.first(where: { $0.role == .consumer }) else { return nil }
        if consumer.position <= lastAcked { return "consumer at \(consumer.position), last acknowledged \(lastAcked)" }
        checkerKafka.checkNothingLost()
        checkerKafka.checkCompactedReread()
        if options.transactions {
            if let why = checkerTransactions.notConverged() { return "transactions: \(why)" }
            checkerTransactions.checkNoTornReads()
        }
        return nil
    }
}
