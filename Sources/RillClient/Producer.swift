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
    private var topics: [String: TopicState] = [:]
    /// The producer id every partition starts with (InitProducerId), fetched once.
    var sharedIdentity: EventLoopFuture<ProducerIdentity>?
    /// Bytes of records not yet acknowledged or failed, and callers waiting for room.
    var bufferedBytes = 0
    private var blocked: [(record: ProducerRecord, delivery: EventLoopPromise<RecordMetadata>, accepted: EventLoopPromise<Void>)] = []
    /// Records not yet acknowledged or failed, and `flush` callers waiting for none.
    var outstanding = 0
    private var flushWaiters: [EventLoopPromise<Void>] = []
    private var closed = false

    private enum TopicState {
        case loading([(ProducerRecord, EventLoopPromise<RecordMetadata>)])
        case known(partitions: Int, sticky: Int32)
    }

    public init(client: KafkaClient, configuration: ProducerConfiguration = ProducerConfiguration()) throws {
        self.client = client
        self.configuration = try configuration.validated()
        self.loop = client.group.next()
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
        let size = RecordBatchBuilder.estimatedSize(key: record.key, value: record.value, headers: record.headers)
        guard size + RecordBatch.headerBytes <= 1 << 20 else { throw RillClientError.recordTooLarge(size) }
        let delivery = loop.makePromise(of: RecordMetadata.self)
        let accepted = loop.makePromise(of: Void.self)
        loop.execute { self.admit(record, delivery: delivery, accepted: accepted) }
        try await accepted.futureResult.get()
        return delivery.futureResult
    }

    /// Send every buffered batch now and wait until every record enqueued so far is acknowledged
    /// or has failed.
    public func flush() async throws {
        let done = loop.makePromise(of: Void.self)
        loop.execute {
            for q in self.queues.values { self.seal(q) }
            if self.outstanding == 0 { done.succeed(()) } else { self.flushWaiters.append(done) }
        }
        try await done.futureResult.get()
    }

    /// Flush, then refuse further records.
    public func close() async throws {
        try await flush()
        try await loop.submit { self.closed = true }.get()
    }

    // MARK: - Admission and partitioning

    private func admit(_ record: ProducerRecord, delivery: EventLoopPromise<RecordMetadata>, accepted: EventLoopPromise<Void>) {
        if closed {
            accepted.fail(RillClientError.closed)
            return
        }
        let size = RecordBatchBuilder.estimatedSize(key: record.key, value: record.value, headers: record.headers)
        // Wait for room, but never hold a record back behind an empty buffer; keep arrival order.
        if !blocked.isEmpty || (bufferedBytes > 0 && bufferedBytes + size > configuration.bufferBytes) {
            blocked.append((record, delivery, accepted))
            return
        }
        accepted.succeed(())
        bufferedBytes += size
        outstanding += 1
        route(record, delivery)
    }

    /// Room was freed: let blocked callers in, in order.
    func admitBlocked() {
        while let first = blocked.first {
            let size = RecordBatchBuilder.estimatedSize(key: first.record.key, value: first.record.value, headers: first.record.headers)
            guard bufferedBytes == 0 || bufferedBytes + size <= configuration.bufferBytes else { return }
            blocked.removeFirst()
            first.accepted.succeed(())
            bufferedBytes += size
            outstanding += 1
            route(first.record, first.delivery)
        }
    }

    /// A record has been acknowledged or has failed.
    func finished(bytes: Int, records: Int) {
        bufferedBytes -= bytes
        outstanding -= records
        precondition(bufferedBytes >= 0 && outstanding >= 0, "producer accounting went negative")
        admitBlocked()
        if outstanding == 0 {
            let waiters = flushWaiters
            flushWaiters = []
            for w in waiters { w.succeed(()) }
        }
    }

    private func route(_ record: ProducerRecord, _ delivery: EventLoopPromise<RecordMetadata>) {
        switch topics[record.topic] {
        case .known(let count, let sticky):
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
        case .loading(var waiting):
            waiting.append((record, delivery))
            topics[record.topic] = .loading(waiting)
        case nil:
            topics[record.topic] = .loading([(record, delivery)])
            let client = self.client
            let topic = record.topic
            loop.makeFutureWithTask { try await client.partitionCount(topic) }.whenComplete { result in
                self.topicLoaded(topic, result)
            }
        }
    }

    private func topicLoaded(_ topic: String, _ result: Result<Int, Error>) {
        guard case .loading(let waiting) = topics[topic] else { return }
        switch result {
        case .success(let count):
            topics[topic] = .known(partitions: count, sticky: Int32(abs(topic.hashValue % count)))
            for (record, delivery) in waiting { route(record, delivery) }
        case .failure(let error):
            topics[topic] = nil
            for (record, delivery) in waiting { fail(delivery, record, error) }
        }
    }

    /// The sticky partition filled a batch: move un-keyed records of the topic to the next one.
    func rotateSticky(_ topic: String) {
        if case .known(let count, let sticky) = topics[topic] {
            topics[topic] = .known(partitions: count, sticky: (sticky + 1) % Int32(count))
        }
    }

    private func fail(_ delivery: EventLoopPromise<RecordMetadata>, _ record: ProducerRecord, _ error: Error) {
        delivery.fail(error)
        finished(bytes: RecordBatchBuilder.estimatedSize(key: record.key, value: record.value, headers: record.headers), records: 1)
    }

    private func queue(_ topic: String, _ partition: Int32) -> PartitionQueue {
        let key = TopicPartitionKey(topic: topic, partition: partition)
        if let q = queues[key] { return q }
        let q = PartitionQueue(topic: topic, partition: partition)
        queues[key] = q
        return q
    }

    private func append(_ record: ProducerRecord, to q: PartitionQueue, _ delivery: EventLoopPromise<RecordMetadata>) {
        let size = RecordBatchBuilder.estimatedSize(key: record.key, value: record.value, headers: record.headers)
        if q.openBytes > 0 && q.openBytes + size > configuration.batchBytes { seal(q) }
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
        if q.openBytes >= configuration.batchBytes { seal(q) }
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
