import KafkaProtocol
import NIOCore

/// One partition's side of the producer: the batch being filled, sealed batches waiting to go,
/// and the requests in flight (oldest first). Only touched on the producer's event loop (hence
/// unchecked: NIO's callbacks that capture it are `@Sendable`, but they all run on that loop).
final class PartitionQueue: @unchecked Sendable {
    let topic: String
    let partition: Int32
    var open = RecordBatchBuilder()
    var openDeliveries: [Delivery] = []
    var openBytes = 0
    var openSince = NIODeadline.now()
    var lingerTask: Scheduled<Void>?
    var ready: [OutgoingBatch] = []
    var inFlight: [OutgoingBatch] = []
    /// Set when a request of the current window failed: nothing new goes out until every request
    /// in flight has answered, then the failed ones are resent in sequence order.
    var draining = false
    /// A look-up (producer id, leader, connection) or a back-off is under way.
    var waiting = false
    var failures = 0
    var leader: Int32?
    var connection: KafkaConnection?
    /// This partition's producer identity and next sequence. A fatal error on a stamped batch
    /// leaves a gap in the sequence; the partition then starts over with a fresh producer id.
    var identity: ProducerIdentity?
    var needsFreshIdentity = false
    var nextSequence: Int32 = 0

    init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }
}

/// A sealed batch. It is stamped (producer id, epoch, sequence) when first sent, and every retry
/// sends exactly those bytes again: that is what lets the broker recognise a duplicate. Only
/// touched on the producer's event loop, as `PartitionQueue`.
final class OutgoingBatch: @unchecked Sendable {
    let records: RecordBatchBuilder
    let deliveries: [Delivery]
    let bytes: Int
    let created: NIODeadline
    var stamped: RecordBatch?
    /// The answer of the latest attempt while the window drains: true = a retriable failure.
    var failed = false
    var answered = false

    init(records: RecordBatchBuilder, deliveries: [Delivery], bytes: Int, created: NIODeadline) {
        self.records = records
        self.deliveries = deliveries
        self.bytes = bytes
        self.created = created
    }
}

extension Producer {
    /// Send what the partition may send now.
    func pump(_ q: PartitionQueue) {
        guard !q.waiting, !q.draining else { return }
        while q.inFlight.count < configuration.maxInFlight, let batch = q.ready.first {
            if configuration.idempotent && (q.identity == nil || q.needsFreshIdentity) {
                obtainIdentity(q)
                return
            }
            guard let connection = q.connection, connection.isActive else {
                findLeader(q)
                return
            }
            if batch.stamped == nil {
                if let id = q.identity {
                    batch.stamped = batch.records.build(producerID: id.id, producerEpoch: id.epoch, baseSequence: q.nextSequence)
                    q.nextSequence = Self.sequence(q.nextSequence, plus: batch.records.count)
                } else {
                    batch.stamped = batch.records.build()
                }
            }
            q.ready.removeFirst()
            batch.failed = false
            batch.answered = false
            q.inFlight.append(batch)
            let request = ProduceRequest(
                acks: -1, timeoutMs: Int32(configuration.requestTimeoutMs),
                topicData: [.init(name: q.topic, partitionData: [.init(index: q.partition, records: batch.stamped!.bytes)])])
            connection.requestFuture(.produce, version: 8, clientID: client.clientID, timeout: .milliseconds(Int64(configuration.requestTimeoutMs))) {
                request.encode(&$0, version: 8)
            }.hop(to: loop).whenComplete { result in
                self.answered(q, batch, result)
            }
        }
    }

    /// Sequences wrap from Int32.max to 0, as the broker expects.
    static func sequence(_ s: Int32, plus n: Int32) -> Int32 {
        Int32(truncatingIfNeeded: (Int64(s) + Int64(n)) % (Int64(Int32.max) + 1))
    }

    private enum Outcome {
        case written(Int64)
        case retriable(Error)
        case fatal(Error)
    }

    private func answered(_ q: PartitionQueue, _ batch: OutgoingBatch, _ result: Result<ByteBuffer, Error>) {
        // A batch failed together with an earlier fatal one: its late answer changes nothing.
        guard q.inFlight.contains(where: { $0 === batch }) else { return }
        let context = "produce to \(q.topic)[\(q.partition)]"
        var outcome: Outcome
        switch result {
        case .failure(let error):
            outcome = .retriable(error)
        case .success(let body):
            var reader = KafkaReader(body)
            if let p = try? ProduceResponse.decode(&reader, version: 8).responses.first?.partitionResponses.first {
                let code = p.errorCode
                let error = RillClientError.kafka(code, context + (p.errorMessage.map { " (\($0))" } ?? ""))
                switch code {
                case .none, .duplicateSequenceNumber: outcome = .written(p.baseOffset)
                case .notLeaderOrFollower, .leaderNotAvailable, .unknownTopicOrPartition, .requestTimedOut, .notEnoughReplicas,
                    .notEnoughReplicasAfterAppend, .fencedLeaderEpoch, .unknownLeaderEpoch, .kafkaStorageError:
                    outcome = .retriable(error)
                case .outOfOrderSequenceNumber where q.draining:
                    // An earlier batch of this window failed, so this one arrived after a gap.
                    outcome = .retriable(error)
                default:
                    outcome = .fatal(error)
                }
            } else {
                outcome = .fatal(RillClientError.protocolError("\(context): malformed Produce response"))
            }
        }
        if case .retriable(let error) = outcome, NIODeadline.now() - batch.created > .milliseconds(Int64(configuration.deliveryTimeoutMs)) {
            outcome = .fatal(RillClientError.timedOut("\(context): not acknowledged within \(configuration.deliveryTimeoutMs) ms (last error: \(error))"))
        }
        batch.answered = true
        switch outcome {
        case .written(let base):
            q.inFlight.removeAll { $0 === batch }
            q.failures = 0
            for (k, d) in batch.deliveries.enumerated() {
                d.complete(.success(RecordMetadata(topic: q.topic, partition: q.partition, offset: base + Int64(k))))
            }
            finished(bytes: batch.bytes, records: batch.deliveries.count)
        case .retriable:
            batch.failed = true
            if !q.draining {
                q.draining = true
                if let leader = q.leader { forgetLeader(q, leader) }
            }
        case .fatal(let error):
            // The sequence now has a gap: the batches stamped after this one can never be
            // accepted under this producer id, and resending them under a new one could write
            // them twice. Fail them too; later batches start over with a fresh producer id.
            let doomed = q.inFlight.drop { $0 !== batch }
            q.inFlight.removeAll { b in doomed.contains { $0 === b } }
            for b in doomed { failBatch(b, error) }
            if configuration.idempotent { q.needsFreshIdentity = true }
        }
        if q.draining && q.inFlight.allSatisfy(\.answered) {
            q.draining = false
            let retry = q.inFlight
            q.inFlight = []
            q.ready.insert(contentsOf: retry, at: 0)
            backOff(q)
        } else {
            pump(q)
        }
    }

    private func failBatch(_ batch: OutgoingBatch, _ error: Error) {
        for d in batch.deliveries { d.complete(.failure(error)) }
        finished(bytes: batch.bytes, records: batch.deliveries.count)
    }

    private func forgetLeader(_ q: PartitionQueue, _ leader: Int32) {
        q.connection = nil
        q.leader = nil
        let client = self.client
        loop.makeFutureWithTask { await client.invalidate(node: leader) }.whenComplete { _ in }
    }

    /// Wait (doubling per consecutive failure, up to a second), then try again.
    private func backOff(_ q: PartitionQueue) {
        q.failures += 1
        q.waiting = true
        let delay = min(1000, configuration.retryBackoffMs << min(q.failures - 1, 10))
        loop.scheduleTask(in: .milliseconds(Int64(delay))) {
            q.waiting = false
            self.expireWaiting(q)
            self.pump(q)
        }
    }

    /// Batches that were never sent and are past the delivery timeout fail on their own.
    private func expireWaiting(_ q: PartitionQueue) {
        let limit = TimeAmount.milliseconds(Int64(configuration.deliveryTimeoutMs))
        let now = NIODeadline.now()
        while let b = q.ready.first, now - b.created > limit {
            q.ready.removeFirst()
            failBatch(b, RillClientError.timedOut("produce to \(q.topic)[\(q.partition)]: not acknowledged within \(configuration.deliveryTimeoutMs) ms"))
            if b.stamped != nil, configuration.idempotent { q.needsFreshIdentity = true }
        }
    }

    private func findLeader(_ q: PartitionQueue) {
        q.waiting = true
        let client = self.client
        let (topic, partition) = (q.topic, q.partition)
        loop.makeFutureWithTask { () -> (Int32, KafkaConnection) in
            let leader = try await client.leader(topic: topic, partition: partition)
            return (leader, try await client.connection(to: leader))
        }.whenComplete { result in
            q.waiting = false
            switch result {
            case .success(let (leader, connection)):
                q.leader = leader
                q.connection = connection
                self.pump(q)
            case .failure:
                self.loop.makeFutureWithTask { await client.invalidate(node: nil) }.whenComplete { _ in }
                self.backOff(q)
            }
        }
    }

    /// A producer id for the partition: the shared one, or a fresh one after a fatal error.
    private func obtainIdentity(_ q: PartitionQueue) {
        q.waiting = true
        let fresh = q.needsFreshIdentity || q.identity != nil
        let future: EventLoopFuture<ProducerIdentity>
        if !fresh, let shared = sharedIdentity {
            future = shared
        } else {
            let client = self.client
            future = loop.makeFutureWithTask { try await Self.initProducerID(client) }
            if !fresh { sharedIdentity = future }
        }
        future.whenComplete { result in
            q.waiting = false
            switch result {
            case .success(let identity):
                q.identity = identity
                q.needsFreshIdentity = false
                q.nextSequence = 0
                self.pump(q)
            case .failure:
                if !fresh { self.sharedIdentity = nil }
                self.backOff(q)
            }
        }
    }

    static func initProducerID(_ client: KafkaClient) async throws -> ProducerIdentity {
        let c = try await client.anyConnection()
        var r = try await c.request(.initProducerID, version: 1, clientID: client.clientID) {
            InitProducerIDRequest(transactionTimeoutMs: 60_000).encode(&$0, version: 1)
        }
        let response = try InitProducerIDResponse.decode(&r, version: 1)
        guard response.errorCode == .none else {
            await client.invalidate(node: nil)
            throw RillClientError.kafka(response.errorCode, "InitProducerId")
        }
        return ProducerIdentity(id: response.producerID, epoch: response.producerEpoch)
    }
}
