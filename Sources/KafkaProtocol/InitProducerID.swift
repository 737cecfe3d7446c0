/// InitProducerId (key 22), v0-1: a producer id for an idempotent producer (transactional_id null).
public struct InitProducerIDRequest: Equatable, Sendable {
    public var transactionalID: String?
    public var transactionTimeoutMs: Int32

    public init(transactionalID: String? = nil, transactionTimeoutMs: Int32) {
        self.transactionalID = transactionalID
        self.transactionTimeoutMs = transactionTimeoutMs
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> InitProducerIDRequest {
        InitProducerIDRequest(
            transactionalID: try r.nullableString("transactional_id"), transactionTimeoutMs: try r.int32("transaction_timeout_ms"))
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.nullableString(transactionalID)
        w.int32(transactionTimeoutMs)
    }
}

public struct InitProducerIDResponse: Equatable, Sendable {
    public var throttleTimeMs: Int32 = 0
    public var errorCode: Int16
    public var producerID: Int64
    public var producerEpoch: Int16

    public init(errorCode: ErrorCode = .none, producerID: Int64, producerEpoch: Int16) {
        self.errorCode = errorCode.rawValue
        self.producerID = producerID
        self.producerEpoch = producerEpoch
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.int32(throttleTimeMs)
        w.int16(errorCode)
        w.int64(producerID)
        w.int16(producerEpoch)
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> InitProducerIDResponse {
        let throttle = try r.int32("throttle_time_ms")
        let error = try r.int16("error_code")
        var out = InitProducerIDResponse(producerID: try r.int64("producer_id"), producerEpoch: try r.int16("producer_epoch"))
        out.errorCode = error
        out.throttleTimeMs = throttle
        return out
    }
}
