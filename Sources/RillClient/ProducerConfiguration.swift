import KafkaProtocol
import NIOCore

/// A record to produce. `partition` nil: Kafka's default partitioner picks it (murmur2 of the
/// key; without a key, one partition at a time until its batch is full — the "sticky" partitioner
/// of the Java client since 2.4). `timestamp` nil: now.
public struct ProducerRecord: Sendable {
    public var topic: String
    public var partition: Int32?
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]
    public var timestamp: Int64?

    public init(
        topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8]?, headers: [RecordHeader] = [], timestamp: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }
}

/// Where a record was written.
public struct RecordMetadata: Equatable, Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
}

/// Producer settings; the defaults follow the Java client (acks=all, idempotent, linger 5 ms, five
/// requests in flight per partition, two minutes to deliver a record).
public struct ProducerConfiguration: Sendable {
    /// How long a batch waits for more records before it is sent.
    public var lingerMs: Int = 5
    /// A batch is sent once it would grow past this many bytes (the broker takes up to 1 MiB;
    /// librdkafka's default is the same 1,000,000).
    public var batchBytes: Int = 1_000_000
    /// Produce requests in flight per partition; order is kept (idempotence makes retries safe).
    public var maxInFlight: Int = 5
    /// A record not acknowledged within this time fails with `RillClientError.timedOut`.
    public var deliveryTimeoutMs: Int = 120_000
    /// How long one Produce request may take before the connection is considered dead.
    public var requestTimeoutMs: Int = 30_000
    /// Pause before a retry, doubling up to one second.
    public var retryBackoffMs: Int = 100
    /// Bytes of records waiting to be acknowledged; `send` and `enqueue` wait while it is full.
    public var bufferBytes: Int = 64 << 20
    /// Each batch carries a producer id and sequence, so the broker drops a retried duplicate.
    public var idempotent: Bool = true

    public init() {}

    func validated() throws -> ProducerConfiguration {
        guard lingerMs >= 0 else { throw RillClientError.configuration("lingerMs must be >= 0, not \(lingerMs)") }
        guard batchBytes >= 1024, batchBytes <= 1 << 20 else {
            throw RillClientError.configuration("batchBytes must be between 1 KiB and 1 MiB, not \(batchBytes)")
        }
        guard (1...5).contains(maxInFlight) else {
            throw RillClientError.configuration("maxInFlight must be 1 to 5 (the broker remembers five batches), not \(maxInFlight)")
        }
        guard deliveryTimeoutMs > 0, requestTimeoutMs > 0, retryBackoffMs >= 0 else {
            throw RillClientError.configuration("timeouts must be positive")
        }
        guard bufferBytes >= batchBytes else { throw RillClientError.configuration("bufferBytes must be at least batchBytes") }
        return self
    }
}

/// Where a record's outcome goes: a future's promise, or a callback (cheaper per record: no
/// future, no generic promise per record). Completed on the producer's event loop.
enum Delivery {
    case promise(EventLoopPromise<RecordMetadata>)
    case callback(@Sendable (Result<RecordMetadata, Error>) -> Void)

    func complete(_ result: Result<RecordMetadata, Error>) {
        switch self {
        case .promise(let p): p.completeWith(result)
        case .callback(let f): f(result)
        }
    }
}
