import Broker
import KafkaProtocol
import NIOCore
import Primitives

/// The transactional producer's own state: Kafka's `TransactionManager`, one request at a time.
struct SimTransactionalState {
    enum Step {
        case findCoordinator, initProducer, addPartitions, produce, addOffsets, commitOffsets, endTransaction
        case findGroupCoordinator, fetchOffsets
    }
    /// What it does next (FindCoordinator goes first whenever the coordinator is unknown).
    var step = Step.initProducer
    var coordinator: Int?
    /// The coordinator of the group whose offsets its transactions commit (TxnOffsetCommit,
    /// OffsetFetch go there).
    var groupCoordinator: Int?
    var producerID: Int64 = -1
    var epoch: Int16 = -1
    /// The next sequence of its batches to the partition (from 0 in each epoch).
    var sequence: Int32 = 0
    /// The transaction being written (its number), its values, and how it is to end.
    var transaction = 0
    var values: [[UInt8]] = []
    var open = false
    var commit = true
    /// What the request in flight was (its answer is read by this).
    var sent = Step.findCoordinator
}

/// The read_committed consumer's state: its position and the aborted transactions the broker
/// listed, whose records it drops (as Kafka's fetcher does).
struct SimCommittedReaderState {
    var position: Int64 = 0
    /// (producer id, first offset) of aborted transactions not reached yet.
    var aborted: [(producerID: Int64, firstOffset: Int64)] = []
    /// Producers whose aborted transaction is being read (until its abort marker).
    var abortedNow: Set<Int64> = []
}

/// Transactions under faults (`SwarmOptions.transactions`): a transactional producer writes
/// transactions of 1-5 records to the Kafka partition — FindCoordinator, InitProducerId,
/// AddPartitionsToTxn, a transactional Produce, AddOffsetsToTxn and TxnOffsetCommit (as a
/// consume-transform-produce loop commits what it read: here each transaction commits its own
/// number as group `sim-txn-group`'s offset), EndTxn, three in four committed — through
/// crashes, partitions and lost, late or duplicated client messages, retrying as Kafka's clients
/// do and starting a new epoch when fenced; after each transaction it fetches the group's offset
/// with RequireStable. A read_committed consumer reads the partition. The checker
/// (`SimTransactionChecker`): no aborted record read, no transaction read in part, every
/// committed one read, each record once; the group's offset only ever a committed transaction's,
/// and in the end the last committed one's. The read_uncommitted consumer reads the same log and
/// skips the markers.
extension Simulator {
    static let transactionalID = "sim-txn"
    static let transactionalGroup = "sim-txn-group"

    /// The next request of a transactional client (nil: nothing to send now).
    func transactionalRequest(_ c: Int, _ client: inout SimKafkaClient) -> (Int, ApiKey, Int16, KafkaWriter)? {
        var t = client.txn
        defer { client.txn = t }
        var w = KafkaWriter()
        let anyNode = Int(kafkaRandom.below(UInt64(nodes.count)))
        // Now and then a new instance of the producer takes over mid-transaction (the application
        // restarted): its InitProducerId fences the old epoch and aborts the open transaction
        // (EndTxn was not sent: it cannot have committed), whose late Produce copies must then be
        // refused — the zombie.
        if t.open && (t.step == .produce || t.step == .addOffsets || t.step == .commitOffsets) && kafkaRandom.chance(1, in: 30) {
            trace("kafka: transaction \(t.transaction): a new instance of the producer takes over")
            t.step = .initProducer
        }
        if t.step == .commitOffsets || t.step == .fetchOffsets {
            t.sent = t.groupCoordinator == nil ? .findGroupCoordinator : t.step
        } else {
            t.sent = t.coordinator == nil && t.step != .produce ? .findCoordinator : t.step
        }
        switch t.sent {
        case .findCoordinator:
            FindCoordinatorRequest(key: Self.transactionalID, keyType: 1).encode(&w, version: 2)
            return (anyNode, .findCoordinator, 2, w)
        case .initProducer:
            InitProducerIDRequest(transactionalID: Self.transactionalID, transactionTimeoutMs: 60_000).encode(&w, version: 1)
            return (t.coordinator!, .initProducerID, 1, w)
        case .findGroupCoordinator:
            FindCoordinatorRequest(key: Self.transactionalGroup, keyType: 0).encode(&w, version: 2)
            return (anyNode, .findCoordinator, 2, w)
        case .addPartitions:
            // No new transaction in the liveness phase: the last one is finished, its offset
            // fetched as the group holds it, then quiet.
            guard t.open || phase != .liveness else {
                if checkerTransactions.offsetsSettled {
                    client.done = true
                    return nil
                }
                t.step = .fetchOffsets
                return nil
            }
            if !t.open {
                t.transaction += 1
                t.values = (0..<kafkaRandom.int(in: 1...5)).map { Array("x\(c)-\(t.transaction)-\($0)".utf8) }
                t.commit = !kafkaRandom.chance(1, in: 4)
                t.open = true
                checkerTransactions.wrote(t.transaction, t.values)
            }
            AddPartitionsToTxnRequest(
                v3AndBelowTransactionalID: Self.transactionalID, v3AndBelowProducerID: t.producerID, v3AndBelowProducerEpoch: t.epoch,
                v3AndBelowTopics: [.init(name: Self.kafkaTopic, partitions: [0])]
            ).encode(&w, version: 2)
            return (t.coordinator!, .addPartitionsToTxn, 2, w)
        case .produce:
            var builder = RecordBatchBuilder()
            // Keyed by their value: a compacted topic takes only keyed records, and none supersedes another.
            for v in t.values { builder.append(key: v, value: v, timestamp: Int64(now / SimDuration.millisecond)) }
            let batch = builder.build(producerID: t.producerID, producerEpoch: t.epoch, baseSequence: t.sequence, attributes: 0x10)
            ProduceRequest(transactionalID: Self.transactionalID, acks: -1, timeoutMs: 1500,
                           topicData: [.init(name: Self.kafkaTopic, partitionData: [.init(index: 0, records: batch.bytes)])])
                .encode(&w, version: 8)
            return (client.leaderGuess ?? anyNode, .produce, 8, w)
        case .addOffsets:
            AddOffsetsToTxnRequest(transactionalID: Self.transactionalID, producerID: t.producerID, producerEpoch: t.epoch, groupID: Self.transactionalGroup)
                .encode(&w, version: 2)
            return (t.coordinator!, .addOffsetsToTxn, 2, w)
        case .commitOffsets:
            TxnOffsetCommitRequest(
                transactionalID: Self.transactionalID, groupID: Self.transactionalGroup, producerID: t.producerID, producerEpoch: t.epoch,
                topics: [.init(name: Self.kafkaTopic, partitions: [.init(partitionIndex: 0, committedOffset: Int64(t.transaction))])]
            ).encode(&w, version: 2)
            return (t.groupCoordinator!, .txnOffsetCommit, 2, w)
        case .endTransaction:
            EndTxnRequest(transactionalID: Self.transactionalID, producerID: t.producerID, producerEpoch: t.epoch, committed: t.commit)
                .encode(&w, version: 2)
            return (t.coordinator!, .endTxn, 2, w)
        case .fetchOffsets:
            OffsetFetchRequest(groupID: Self.transactionalGroup, topics: [.init(name: Self.kafkaTopic, partitionIndexes: [0])], requireStable: true)
                .encode(&w, version: 7)
            return (t.groupCoordinator!, .offsetFetch, 7, w)
        }
    }

    /// The transaction ended as `committed` (the producer knows it now).
    private func decided(_ t: inout SimTransactionalState, committed: Bool) {
        checkerTransactions.decided(t.transaction, committed: committed)
        if committed { stats.transactionsCommitted += 1 } else { stats.transactionsAborted += 1 }
        trace("kafka: transaction \(t.transaction) \(committed ? "committed" : "aborted") (\(t.values.count) records, producer \(t.producerID) epoch \(t.epoch))")
        t.open = false
        t.values = []
        t.step = .fetchOffsets
    }

    /// Fenced, or its transaction aborted under it: a new epoch (InitProducerId aborts whatever
    /// this producer left open, so the open transaction is decided: aborted).
    private func restart(_ t: inout SimTransactionalState) {
        if t.open { decided(&t, committed: false) }
        t.step = .initProducer
    }

    func transactionalReply(_ c: Int, node: Int, _ r: inout KafkaReader) {
        var t = kafkaClients[c].txn
        defer { kafkaClients[c].txn = t }
        func failDecode(_ what: String) { checkerTransactions.fail("kafka-decode", "unreadable \(what) response") }
        switch t.sent {
        case .findCoordinator:
            guard let f = try? FindCoordinatorResponse.decode(&r, version: 2) else { return failDecode("FindCoordinator") }
            if f.errorCode == .none { t.coordinator = Int(f.nodeID) - 1 }
        case .initProducer:
            guard let i = try? InitProducerIDResponse.decode(&r, version: 1) else { return failDecode("InitProducerId") }
            switch i.errorCode {
            case .none:
                if t.open { decided(&t, committed: false) }
                (t.producerID, t.epoch, t.sequence) = (i.producerID, i.producerEpoch, 0)
                t.step = .addPartitions
                trace("kafka: transactional producer \(i.producerID) epoch \(i.producerEpoch) from n\(node + 1)")
            case .notCoordinator, .coordinatorNotAvailable: t.coordinator = nil
            default: break  // CONCURRENT_TRANSACTIONS, loading: again
            }
        case .addPartitions:
            guard let a = try? AddPartitionsToTxnResponse.decode(&r, version: 2),
                  let code = a.resultsByTopicV3AndBelow.first?.resultsByPartition.first?.partitionErrorCode
            else { return failDecode("AddPartitionsToTxn") }
            trace("kafka: transaction \(t.transaction) AddPartitionsToTxn answered \(code) by n\(node + 1)")
            switch code {
            case .none: t.step = .produce
            case .producerFenced, .invalidProducerEpoch, .invalidProducerIDMapping: restart(&t)
            case .notCoordinator, .coordinatorNotAvailable: t.coordinator = nil
            default: break
            }
        case .produce:
            guard let resp = try? ProduceResponse.decode(&r, version: 8), let p = resp.responses.first?.partitionResponses.first else {
                return failDecode("Produce")
            }
            trace("kafka: transaction \(t.transaction) produce answered \(p.errorCode) at \(p.baseOffset) by n\(node + 1)")
            switch p.errorCode {
            case .none, .duplicateSequenceNumber:
                kafkaClients[c].leaderGuess = node
                if p.baseOffset >= 0 { checkerTransactions.produced(t.transaction, at: p.baseOffset) }
                t.sequence = t.sequence &+ Int32(t.values.count)
                t.step = .addOffsets
            case .producerFenced, .invalidProducerEpoch, .invalidTxnState:
                // Fenced (a timeout's abort, or a new epoch), or no transaction open here any
                // more: this transaction is over.
                restart(&t)
            default:
                kafkaClients[c].leaderGuess = nil  // not the leader, storage busy: again
            }
        case .findGroupCoordinator:
            guard let f = try? FindCoordinatorResponse.decode(&r, version: 2) else { return failDecode("FindCoordinator") }
            if f.errorCode == .none { t.groupCoordinator = Int(f.nodeID) - 1 }
        case .addOffsets:
            guard let a = try? AddOffsetsToTxnResponse.decode(&r, version: 2) else { return failDecode("AddOffsetsToTxn") }
            trace("kafka: transaction \(t.transaction) AddOffsetsToTxn answered \(a.errorCode) by n\(node + 1)")
            switch a.errorCode {
            case .none: t.step = .commitOffsets
            case .producerFenced, .invalidProducerEpoch, .invalidProducerIDMapping: restart(&t)
            case .notCoordinator, .coordinatorNotAvailable: t.coordinator = nil
            default: break  // CONCURRENT_TRANSACTIONS, loading: again
            }
        case .commitOffsets:
            guard let resp = try? TxnOffsetCommitResponse.decode(&r, version: 2),
                  let code = resp.topics.first?.partitions.first?.errorCode
            else { return failDecode("TxnOffsetCommit") }
            trace("kafka: transaction \(t.transaction) TxnOffsetCommit answered \(code) by n\(node + 1)")
            switch code {
            case .none: t.step = .endTransaction
            case .producerFenced, .invalidProducerEpoch, .invalidTxnState:
                // Fenced, or the transaction was ended under it (a timeout's abort): it is over.
                restart(&t)
            case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress: t.groupCoordinator = nil
            default: break
            }
        case .fetchOffsets:
            // (v7 is flexible: the response header has tagged fields.)
            guard (try? r.skipTaggedFields()) != nil, let resp = try? OffsetFetchResponse.decode(&r, version: 7) else {
                return failDecode("OffsetFetch")
            }
            let part = resp.topics.first?.partitions.first
            let code = resp.errorCode != .none ? resp.errorCode : part?.errorCode ?? .none
            switch code {
            case .none:
                guard let part else { return failDecode("OffsetFetch (no partition)") }
                trace("kafka: group \(Self.transactionalGroup) offset \(part.committedOffset) (stable) from n\(node + 1)")
                checkerTransactions.offsetFetched(part.committedOffset)
                t.step = .addPartitions
            case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress: t.groupCoordinator = nil
            default: break  // UNSTABLE_OFFSET_COMMIT: a transaction's offsets await its marker; again
            }
        case .endTransaction:
            guard let e = try? EndTxnResponse.decode(&r, version: 2) else { return failDecode("EndTxn") }
            trace("kafka: transaction \(t.transaction) EndTxn(\(t.commit ? "commit" : "abort")) answered \(e.errorCode) by n\(node + 1)")
            switch e.errorCode {
            case .none: decided(&t, committed: t.commit)
            case .producerFenced, .invalidProducerEpoch: restart(&t)
            case .invalidTxnState:
                // Only the client's own requests reach the coordinator, once each: its open
                // transaction can only be open, or ended the way it asked.
                checkerTransactions.fail("txn-end-state", "EndTxn(\(t.commit ? "commit" : "abort")) of open transaction \(t.transaction) answered INVALID_TXN_STATE by n\(node + 1)")
            case .notCoordinator, .coordinatorNotAvailable: t.coordinator = nil
            default: break  // CONCURRENT_TRANSACTIONS: again
            }
        }
    }

    func committedReaderRequest(_ client: SimKafkaClient) -> (Int, ApiKey, Int16, KafkaWriter) {
        var w = KafkaWriter()
        FetchRequest(maxWaitMs: 100, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 1,
                     topics: [.init(topic: Self.kafkaTopic, partitions: [.init(partition: 0, fetchOffset: client.reader.position, partitionMaxBytes: 64 * 1024)])])
            .encode(&w, version: 11)
        return (client.leaderGuess ?? Int(kafkaRandom.below(UInt64(nodes.count))), .fetch, 11, w)
    }

    /// A read_committed Fetch answer: records below the last stable offset; the aborted
    /// transactions' records dropped the way Kafka's consumer drops them.
    func committedReaderReply(_ c: Int, node: Int, _ r: inout KafkaReader) {
        guard let resp = try? FetchResponse.decode(&r, version: 11), let p = resp.responses.first?.partitions.first else {
            return checkerTransactions.fail("kafka-decode", "unreadable read_committed Fetch response")
        }
        var s = kafkaClients[c].reader
        defer { kafkaClients[c].reader = s }
        guard p.errorCode == .none else {
            if p.errorCode == .offsetOutOfRange && s.position < p.logStartOffset {
                // Retention or DeleteRecords took them (Kafka allows it): not owed to the reader.
                checkerTransactions.expired(below: p.logStartOffset)
                s.position = p.logStartOffset
            }
            kafkaClients[c].leaderGuess = nil
            return
        }
        kafkaClients[c].leaderGuess = node
        if (p.records?.readableBytes ?? 0) > 0 {
            trace("kafka: read_committed from \(s.position) on n\(node + 1): hwm \(p.highWatermark) lso \(p.lastStableOffset) aborted \((p.abortedTransactions ?? []).map { "\($0.producerID)@\($0.firstOffset)" })")
        }
        if p.lastStableOffset > p.highWatermark {
            checkerTransactions.fail("txn-lso-below-hwm", "n\(node + 1) answered last stable offset \(p.lastStableOffset) above its high watermark \(p.highWatermark)")
        }
        // Every one listed, even one that began before the position (retention or DeleteRecords
        // moved the log start into it): its later records are still aborted.
        for a in p.abortedTransactions ?? [] where !s.aborted.contains(where: { $0.producerID == a.producerID && $0.firstOffset == a.firstOffset }) {
            s.aborted.append((a.producerID, a.firstOffset))
        }
        guard let records = p.records, records.readableBytes > 0, let batches = try? RecordBatch.batches(in: records, from: .log) else { return }
        for b in batches where b.nextOffset > s.position {
            if b.baseOffset >= p.lastStableOffset {
                checkerTransactions.fail("txn-below-lso", "n\(node + 1) served a batch at \(b.baseOffset) to read_committed, at or above its last stable offset \(p.lastStableOffset) (G1b)")
                return
            }
            // Aborted transactions starting at or before this batch are being read now.
            for a in s.aborted where a.firstOffset <= b.baseOffset { s.abortedNow.insert(a.producerID) }
            s.aborted.removeAll { $0.firstOffset <= b.baseOffset }
            if b.isControl {
                if let marker = ControlRecord.of(b), !marker.commit { s.abortedNow.remove(b.producerID) }
            } else if !(b.isTransactional && s.abortedNow.contains(b.producerID)), let recs = try? b.records() {
                for rec in recs where rec.offset >= s.position {
                    checkerTransactions.read(rec.value ?? [], offset: rec.offset)
                    stats.committedRead += 1
                }
            }
            s.position = b.nextOffset
        }
    }
}
