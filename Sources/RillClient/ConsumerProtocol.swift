import KafkaProtocol
import NIOCore

/// The "consumer" protocol type's payloads, opaque to the broker and shared by every Kafka client:
/// a member's subscription (JoinGroup metadata) and its assignment (SyncGroup). Version 0 is
/// written; later versions (owned partitions, generation, rack) are read and their extra fields
/// ignored, so members of other clients can be in the same group.
public enum ConsumerProtocol {
    public struct Subscription: Equatable, Sendable {
        public var topics: [String]
        public var userData: [UInt8]?
    }

    public struct Assignment: Equatable, Sendable {
        /// Topic → partitions, sorted by topic.
        public var partitions: [(topic: String, partitions: [Int32])]
        public var userData: [UInt8]?

        public init(partitions: [(topic: String, partitions: [Int32])], userData: [UInt8]? = nil) {
            self.partitions = partitions
            self.userData = userData
        }

        public static func == (a: Self, b: Self) -> Bool {
            a.userData == b.userData && a.partitions.count == b.partitions.count
                && zip(a.partitions, b.partitions).allSatisfy { $0.topic == $1.topic && $0.partitions == $1.partitions }
        }
    }

    public static func encode(_ s: Subscription) -> ByteBuffer {
        var w = KafkaWriter()
        w.int16(0)
        w.array(s.topics) { w, t in w.string(t) }
        w.nullableBytes(s.userData.map { ByteBuffer(bytes: $0) })
        return w.buffer
    }

    public static func decodeSubscription(_ b: ByteBuffer) throws(KafkaWireError) -> Subscription {
        var r = KafkaReader(b)
        _ = try r.int16("subscription version")
        let topics = try r.array("topics", minElementBytes: 2) { r throws(KafkaWireError) in try r.string("topic") }
        let userData = r.remaining > 0 ? try r.nullableBytes("user_data").map { Array($0.readableBytesView) } : nil
        return Subscription(topics: topics, userData: userData)
    }

    public static func encode(_ a: Assignment) -> ByteBuffer {
        var w = KafkaWriter()
        w.int16(0)
        w.array(a.partitions) { w, tp in
            w.string(tp.topic)
            w.array(tp.partitions) { w, p in w.int32(p) }
        }
        w.nullableBytes(a.userData.map { ByteBuffer(bytes: $0) })
        return w.buffer
    }

    /// An empty buffer (a member the leader gave nothing) is an empty assignment.
    public static func decodeAssignment(_ b: ByteBuffer) throws(KafkaWireError) -> Assignment {
        guard b.readableBytes > 0 else { return Assignment(partitions: []) }
        var r = KafkaReader(b)
        _ = try r.int16("assignment version")
        let partitions = try r.array("assigned partitions", minElementBytes: 6) { r throws(KafkaWireError) -> (topic: String, partitions: [Int32]) in
            (try r.string("topic"), try r.array("partitions", minElementBytes: 4) { r throws(KafkaWireError) in try r.int32("partition") })
        }
        let userData = r.remaining > 0 ? try r.nullableBytes("user_data").map { Array($0.readableBytesView) } : nil
        return Assignment(partitions: partitions, userData: userData)
    }
}

/// How the group leader divides partitions among members; the names are the Java client's and
/// librdkafka's, so a group may mix clients.
public enum PartitionAssignor: String, Sendable, CaseIterable {
    /// Per topic, consecutive ranges: members sorted by id, the first `partitions % members` get one more.
    case range
    /// All subscribed partitions, sorted by topic and partition, dealt to members in turn (each
    /// partition to the next member that subscribes to its topic).
    case roundRobin = "roundrobin"

    /// `subscriptions`: member id → topics; `partitionCounts`: topic → partitions.
    public func assign(subscriptions: [(member: String, topics: [String])], partitionCounts: [String: Int]) -> [String: [(topic: String, partitions: [Int32])]] {
        let members = subscriptions.sorted { $0.member < $1.member }
        var out: [String: [String: [Int32]]] = [:]
        for m in members { out[m.member] = [:] }
        switch self {
        case .range:
            let topics = Set(members.flatMap(\.topics)).sorted()
            for t in topics {
                let count = partitionCounts[t] ?? 0
                let subscribers = members.filter { $0.topics.contains(t) }.map(\.member)
                guard !subscribers.isEmpty else { continue }
                let each = count / subscribers.count
                let extra = count % subscribers.count
                var next = 0
                for (k, m) in subscribers.enumerated() {
                    let n = each + (k < extra ? 1 : 0)
                    if n > 0 { out[m]![t] = (next..<next + n).map { Int32($0) } }
                    next += n
                }
            }
        case .roundRobin:
            let all = Set(members.flatMap(\.topics)).sorted().flatMap { t in (0..<(partitionCounts[t] ?? 0)).map { (t, Int32($0)) } }
            var turn = 0
            for (t, p) in all {
                for _ in 0..<members.count {
                    let m = members[turn % members.count]
                    turn += 1
                    if m.topics.contains(t) {
                        out[m.member]![t, default: []].append(p)
                        break
                    }
                }
            }
        }
        return out.mapValues { byTopic in byTopic.keys.sorted().map { ($0, byTopic[$0]!) } }
    }
}
