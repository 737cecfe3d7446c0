import Foundation
import KafkaProtocol
import NIOCore

/// An idempotent, batching producer (acks=all). Records are collected per partition into batches
/// (sent when full or after `lingerMs`), up to `maxInFlight` requests per partition are pipelined
/// in order, and a failed request is retried — with the same producer id and sequence, so the
/// broker answers a retry of a batch it already wrote with the original offset instead of writing
/// it twice. Every record gets its partition and offset, or an error.
///
/// All mutable state lives on one event loop (`loop`); the public methods hop onto it. That keeps
/// the bookkeeping single-threaded without an actor's reentrancy between awaits.
public final class Producer: @unchecked Sendable {
    public let client: KafkaClient
    public let configuration: ProducerConfiguration
    let loop: EventLoop

    // Everything below: only on `loop`.
    var queues: [TopicPartitionKey: PartitionQueue] = [:]
    /// Partition count and sticky partition of topics whose metadata has arrived.
    private var topics: [String: (partitions: Int, sticky: Int32)] = [:]
    /// Records for topics whose metadata is being fetched, in arrival order.
    private var waitingForTopic: [String: [(ProducerRecord, Delivery)]] = [:]
    /// The producer id every partition starts with (InitProducerId), fetched once.
    var sharedIdentity: EventLoopFuture<ProducerIdentity>?
    /// Records handed over by callers, and the counts they wait on.
    let intake: ProducerIntake

    public init(client: KafkaClient, configuration: ProducerConfiguration = ProducerConfiguration()) throws {
        self.client = client
        self.configuration = try configuration.validated()
        self.loop = client.group.next()
        self.intake = ProducerIntake(limit: configuration.bufferBytes)
    }

    // MARK: - Public API

    /// Produce one record and wait until it is acknowledged by a majority of its partition's
    /// replicas (or has failed). For throughput, `enqueue` many and wait on the futures.
    @discardableResult
    public func send(_ record: ProducerRecord) async throws -> RecordMetadata {
        try await enqueue(record).get()
    }

    /// Convenience for `send(ProducerRecord(...))`.
    @discardableResult
    public func send(topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8]?) async throws -> RecordMetadata {
        try await send(ProducerRecord(topic: topic, partition: partition, key: key, value: value))
    }

    /// Hand a record over; returns once it is buffered (waiting while `bufferBytes` is full) with
    /// a future of its delivery. Records enqueued by one task keep their order within a partition.
    public func enqueue(_ record: ProducerRecord) async throws -> EventLoopFuture<RecordMetadata> {
        let promise = loop.makePromise(of: RecordMetadata.self)
        do {
            try await hand(record, .promise(promise))
        } catch {
            promise.fail(error)
            throw error
        }
        return promise.futureResult
    }

    /// Like `enqueue`, with a callback instead of a future: the cheapest way to produce many
    /// records. `onDelivery` runs on the producer's event loop, so it must not block.
    public func enqueue(_ record: ProducerRecord, onDelivery: @escaping @Sendable (Result<RecordMetadata, Error>) -> Void) async throws {
        try await hand(record, .callback(onDelivery))
    }

    private func hand(_ record: ProducerRecord, _ delivery: Delivery) async throws {
        let size = RecordBatchBuilder.estimatedSize(key: record.key, value: record.value, headers: record.headers)
        guard size + RecordBatch.headerBytes <= 1 << 20 else { throw RillClientError.recordTooLarge(size) }
        while true {
            switch intake.offer(record, size: size, delivery: delivery) {
            case .accepted(let drain):
                if drain { loop.execute { self.drainIntake() } }
                return
            case .full:
                await intake.waitForRoom(size: size)
            case .closed:
                throw RillClientError.closed
            }
        }
    }

    /// Send every buffered batch now and wait until every record enqueued so far is acknowledged
    /// or has failed.
    public func flush() async throws {
        let done = loop.makePromise(of: Void.self)
        loop.execute {
            self.drainIntake()
            for q in self.queues.values { self.seal(q) }
            self.intake.whenIdle(done)
        }
        try await done.futureResult.get()
    }

    /// Flush, then refuse further records.
    public func close() async throws {
        try await flush()
        intake.close()
    }

    // MARK: - Partitioning

    private func drainIntake() {
        for (record, delivery) in intake.take() { route(record, delivery) }
    }

    /// Records acknowledged or failed.
    func finished(bytes: Int, records: Int) { intake.finished(bytes: bytes, records: records) }

    private func route(_ record: ProducerRecord, _ delivery: Delivery) {
        if let (count, sticky) = topics[record.topic] {
            let partition: Int32
            if let p = record.partition {
                guard p >= 0, Int(p) < count else {
                    fail(delivery, record, RillClientError.kafka(.unknownTopicOrPartition, "\(record.topic) has \(count) partitions, not \(p + 1)"))
                    return
                }
                partition = p
            } else if let key = record.key {
                partition = Int32(Partitioner.partition(forKey: key, count: count))
            } else {
                partition = sticky
            }
            append(record, to: queue(record.topic, partition), delivery)
        } else if waitingForTopic[record.topic] != nil {
            // Appended in place (no copy of the list per record).
            waitingForTopic[record.topic]!.append((record, delivery))
        } else {
            waitingForTopic[record.topic] = [(record, delivery)]
            let client = self.client
            let topic = record.topic
            loop.makeFutureWithTask { try await client.partitionCount(topic) }.whenComplete { result in
                self.topicLoaded(topic, result)
            }
        }
    }

    private func topicLoaded(_ topic: String, _ result: Result<Int, Error>) {
        guard let waiting = waitingForTopic.removeValue(forKey: topic) else { return }
        switch result {
        case .success(let count):
            topics[topic] = (count, Int32(abs(topic.hashValue % count)))
            for (record, delivery) in waiting { route(record, delivery) }
        case .failure(let error):
            for (record, delivery) in waiting { fail(delivery, record, error) }
        }
    }

    /// The sticky partition filled a batch: move un-keyed records of the topic to the next one.
    func rotateSticky(_ topic: String) {
        if let (count, sticky) = topics[topic] { topics[topic] = (count, (sticky + 1) % Int32(count)) }
    }

    private func fail(_ delivery: Delivery, _ record: ProducerRecord, _ error: Error) {
        delivery.complete(.failure(error))
        finished(bytes: RecordBatchBuilder.estimatedSize(key: record.key, value: record.value, headers: record.headers), records: 1)
    }

    private func queue(_ topic: String, _ partition: Int32) -> PartitionQueue {
        let key = TopicPartitionKey(topic: topic, partition: partition)
        if let q = queues[key] { return q }
        let q = PartitionQueue(topic: topic, partition: partition)
        queues[key] = q
        return q
    }

    private func append(_ record: ProducerRecord, to q: PartitionQueue, _ delivery: Delivery) {
        let size = RecordBatchBuilder.estimatedSize(key: record.key, value: record.value, headers: record.headers)
        if q.open.count > 0 && q.open.sizeInBytes + size > configuration.batchBytes { seal(q) }
        if q.open.count == 0 {
            q.openSince = .now()
            let linger = TimeAmount.milliseconds(Int64(configuration.lingerMs))
            q.lingerTask = loop.scheduleTask(in: linger) { [weak q] in
                if let q { self.seal(q) }
            }
        }
        q.open.append(key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp ?? Self.nowMilliseconds())
        q.openDeliveries.append(delivery)
        q.openBytes += size
        if q.open.sizeInBytes >= configuration.batchBytes { seal(q) }
    }

    /// Close the partition's open batch and queue it for sending.
    func seal(_ q: PartitionQueue) {
        q.lingerTask?.cancel()
        q.lingerTask = nil
        guard q.open.count > 0 else { return }
        let batch = OutgoingBatch(records: q.open, deliveries: q.openDeliveries, bytes: q.openBytes, created: q.openSince)
        q.open = RecordBatchBuilder()
        q.openDeliveries = []
        q.openBytes = 0
        q.ready.append(batch)
        if batch.bytes >= configuration.batchBytes / 2 { rotateSticky(q.topic) }
        pump(q)
    }

    static func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

struct TopicPartitionKey: Hashable {
    var topic: String
    var partition: Int32
}

struct ProducerIdentity {
    var id: Int64
    var epoch: Int16
}
