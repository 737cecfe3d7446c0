/// DeleteTopics (key 20), v1-3. Sent to the controller.
public struct DeleteTopicsRequest: Equatable, Sendable {
    public var topicNames: [String]
    public var timeoutMs: Int32

    public init(topicNames: [String], timeoutMs: Int32) {
        self.topicNames = topicNames
        self.timeoutMs = timeoutMs
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> DeleteTopicsRequest {
        DeleteTopicsRequest(
            topicNames: try r.array("topic_names", minElementBytes: 2) { r throws(KafkaWireError) in try r.string("topic name") },
            timeoutMs: try r.int32("timeout_ms"))
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.array(topicNames) { w, n in w.string(n) }
        w.int32(timeoutMs)
    }
}

public struct DeleteTopicsResponse: Equatable, Sendable {
    public struct Topic: Equatable, Sendable {
        public var name: String
        public var errorCode: Int16
        public init(name: String, errorCode: ErrorCode) {
            self.name = name
            self.errorCode = errorCode.rawValue
        }
    }

    public var throttleTimeMs: Int32 = 0
    public var responses: [Topic]

    public init(responses: [Topic]) { self.responses = responses }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.int32(throttleTimeMs)
        w.array(responses) { w, t in
            w.string(t.name)
            w.int16(t.errorCode)
        }
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> DeleteTopicsResponse {
        let throttle = try r.int32("throttle_time_ms")
        var out = DeleteTopicsResponse(
            responses: try r.array("responses", minElementBytes: 4) { r throws(KafkaWireError) in
                var t = Topic(name: try r.string("name"), errorCode: .none)
                t.errorCode = try r.int16("error_code")
                return t
            })
        out.throttleTimeMs = throttle
        return out
    }
}
