/// CreateTopics (key 19), v2-4. Sent to the controller.
public struct CreateTopicsRequest: Equatable, Sendable {
    public struct Assignment: Equatable, Sendable {
        public var partitionIndex: Int32
        public var brokerIDs: [Int32]
        public init(partitionIndex: Int32, brokerIDs: [Int32]) {
            self.partitionIndex = partitionIndex
            self.brokerIDs = brokerIDs
        }
    }

    public struct Config: Equatable, Sendable {
        public var name: String
        public var value: String?
        public init(name: String, value: String?) {
            self.name = name
            self.value = value
        }
    }

    public struct Topic: Equatable, Sendable {
        public var name: String
        /// -1: the broker's default (v4+).
        public var numPartitions: Int32
        /// -1: the broker's default (v4+).
        public var replicationFactor: Int16
        public var assignments: [Assignment]
        public var configs: [Config]
        public init(name: String, numPartitions: Int32, replicationFactor: Int16, assignments: [Assignment] = [],
                    configs: [Config] = []) {
            self.name = name
            self.numPartitions = numPartitions
            self.replicationFactor = replicationFactor
            self.assignments = assignments
            self.configs = configs
        }
    }

    public var topics: [Topic]
    public var timeoutMs: Int32
    public var validateOnly: Bool

    public init(topics: [Topic], timeoutMs: Int32, validateOnly: Bool = false) {
        self.topics = topics
        self.timeoutMs = timeoutMs
        self.validateOnly = validateOnly
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> CreateTopicsRequest {
        let topics = try r.array("topics", minElementBytes: 16) { r throws(KafkaWireError) in
            Topic(
                name: try r.string("name"),
                numPartitions: try r.int32("num_partitions"),
                replicationFactor: try r.int16("replication_factor"),
                assignments: try r.array("assignments", minElementBytes: 8) { r throws(KafkaWireError) in
                    Assignment(
                        partitionIndex: try r.int32("partition_index"),
                        brokerIDs: try r.array("broker_ids", minElementBytes: 4) { r throws(KafkaWireError) in try r.int32() })
                },
                configs: try r.array("configs", minElementBytes: 4) { r throws(KafkaWireError) in
                    Config(name: try r.string("config name"), value: try r.nullableString("config value"))
                })
        }
        return CreateTopicsRequest(topics: topics, timeoutMs: try r.int32("timeout_ms"), validateOnly: try r.bool("validate_only"))
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.array(topics) { w, t in
            w.string(t.name)
            w.int32(t.numPartitions)
            w.int16(t.replicationFactor)
            w.array(t.assignments) { w, a in
                w.int32(a.partitionIndex)
                w.array(a.brokerIDs) { w, b in w.int32(b) }
            }
            w.array(t.configs) { w, c in
                w.string(c.name)
                w.nullableString(c.value)
            }
        }
        w.int32(timeoutMs)
        w.bool(validateOnly)
    }
}

public struct CreateTopicsResponse: Equatable, Sendable {
    public struct Topic: Equatable, Sendable {
        public var name: String
        public var errorCode: Int16
        public var errorMessage: String?
        public init(name: String, errorCode: ErrorCode, errorMessage: String? = nil) {
            self.name = name
            self.errorCode = errorCode.rawValue
            self.errorMessage = errorMessage
        }
    }

    public var throttleTimeMs: Int32 = 0
    public var topics: [Topic]

    public init(topics: [Topic]) { self.topics = topics }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.int32(throttleTimeMs)
        w.array(topics) { w, t in
            w.string(t.name)
            w.int16(t.errorCode)
            w.nullableString(t.errorMessage)
        }
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> CreateTopicsResponse {
        let throttle = try r.int32("throttle_time_ms")
        var out = CreateTopicsResponse(
            topics: try r.array("topics", minElementBytes: 6) { r throws(KafkaWireError) in
                let name = try r.string("name")
                var t = Topic(name: name, errorCode: .none)
                t.errorCode = try r.int16("error_code")
                t.errorMessage = try r.nullableString("error_message")
                return t
            })
        out.throttleTimeMs = throttle
        return out
    }
}
