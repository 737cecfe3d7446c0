import KafkaProtocol
import NIOCore
import Raft

/// The name of the internal topic whose partitions hold consumer groups' offsets and metadata.
public let offsetsTopic = "__consumer_offsets"

/// A committed offset: the next offset the group will read in a partition.
public struct CommittedOffset: Equatable, Sendable {
    public var offset: Int64
    public var leaderEpoch: Int32
    public var metadata: String?
    public var timestamp: Int64
}

/// A group's membership as the coordinator persisted it at the end of a rebalance, so a new
/// coordinator continues the same generation instead of forcing every member to rejoin.
public struct PersistedGroup: Equatable, Sendable {
    public struct Member: Equatable, Sendable {
        public var id: String
        public var instanceID: String?
        public var clientID: String
        public var clientHost: String
        public var sessionTimeoutMs: Int32
        public var rebalanceTimeoutMs: Int32
        /// The member's metadata for the chosen protocol (its subscription).
        public var subscription: [UInt8]
        public var assignment: [UInt8]
    }

    public var protocolType: String
    public var generation: Int32
    public var protocolName: String
    public var leader: String
    public var members: [Member]
}

/// What a replica of an offsets partition has applied: committed offsets and persisted groups,
/// rebuilt by replaying the partition's records (and carried in its snapshot). Every replica
/// keeps it, so a new coordinator has it ready once it has applied its log.
///
/// Records are ordinary Kafka records in the partition's batches, keyed like Kafka's (group,
/// topic, partition / group); a record without a value deletes the key.
public struct GroupOffsetStore: Sendable {
    public struct OffsetKey: Hashable, Comparable, Sendable {
        public var topic: String
        public var partition: Int32
        public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
    }

    public private(set) var offsets: [String: [OffsetKey: CommittedOffset]] = [:]
    public private(set) var groups: [String: PersistedGroup] = [:]
    /// Offset records transactions wrote (TxnOffsetCommit), by producer id, in order: applied
    /// when the transaction's commit marker is, dropped with its abort marker — offsets visible
    /// only when the transaction commits.
    public private(set) var pending: [Int64: [(key: [UInt8], value: [UInt8]?)]] = [:]

    public init() {}

    private enum RecordType: UInt8 {
        case offset = 1
        case group = 2
    }

    // MARK: - Records

    public static func offsetRecord(group: String, topic: String, partition: Int32, _ c: CommittedOffset?) -> (key: [UInt8], value: [UInt8]?) {
        var k = ByteWriter()
        k.u8(RecordType.offset.rawValue)
        k.blob(Array(group.utf8))
        k.blob(Array(topic.utf8))
        k.u32(UInt32(bitPattern: partition))
        guard let c else { return (k.bytes, nil) }
        var v = ByteWriter()
        v.u64(UInt64(bitPattern: c.offset))
        v.u32(UInt32(bitPattern: c.leaderEpoch))
        v.bool(c.metadata != nil)
        v.blob(Array((c.metadata ?? "").utf8))
        v.u64(UInt64(bitPattern: c.timestamp))
        return (k.bytes, v.bytes)
    }

    public static func groupRecord(group: String, _ g: PersistedGroup?) -> (key: [UInt8], value: [UInt8]?) {
        var k = ByteWriter()
        k.u8(RecordType.group.rawValue)
        k.blob(Array(group.utf8))
        guard let g else { return (k.bytes, nil) }
        var v = ByteWriter()
        v.blob(Array(g.protocolType.utf8))
        v.u32(UInt32(bitPattern: g.generation))
        v.blob(Array(g.protocolName.utf8))
        v.blob(Array(g.leader.utf8))
        v.u32(UInt32(g.members.count))
        for m in g.members {
            v.blob(Array(m.id.utf8))
            v.bool(m.instanceID != nil)
            v.blob(Array((m.instanceID ?? "").utf8))
            v.blob(Array(m.clientID.utf8))
            v.blob(Array(m.clientHost.utf8))
            v.u32(UInt32(bitPattern: m.sessionTimeoutMs))
            v.u32(UInt32(bitPattern: m.rebalanceTimeoutMs))
            v.blob(m.subscription)
            v.blob(m.assignment)
        }
        return (k.bytes, v.bytes)
    }

    /// Apply one record. Only the group coordinator writes them (clients cannot produce to the
    /// offsets topic): one that does not decode is thrown, and the caller traps on it (committed
    /// state) or refuses it (a peer's snapshot).
    public mutating func apply(key: [UInt8]?, value: [UInt8]?) throws(WireError) {
        guard let key else { throw WireError.invalid("offsets record without a key") }
        var k = ByteReader(key)
        let type = try k.u8()
        switch RecordType(rawValue: type) {
        case .offset:
            let group = String(decoding: try k.blob(), as: UTF8.self)
            let ok = OffsetKey(topic: String(decoding: try k.blob(), as: UTF8.self), partition: Int32(bitPattern: try k.u32()))
            guard let value else {
                offsets[group]?[ok] = nil
                if offsets[group]?.isEmpty == true { offsets[group] = nil }
                return
            }
            var v = ByteReader(value)
            let offset = Int64(bitPattern: try v.u64())
            let epoch = Int32(bitPattern: try v.u32())
            let hasMetadata = try v.bool()
            let metadata = String(decoding: try v.blob(), as: UTF8.self)
            let timestamp = Int64(bitPattern: try v.u64())
            offsets[group, default: [:]][ok] = CommittedOffset(
                offset: offset, leaderEpoch: epoch, metadata: hasMetadata ? metadata : nil, timestamp: timestamp)
        case .group:
            let group = String(decoding: try k.blob(), as: UTF8.self)
            guard let value else {
                groups[group] = nil
                return
            }
            groups[group] = try Self.decodeGroup(value)
        case nil:
            throw WireError.invalid("offsets record type \(type)")
        }
    }

    private static func decodeGroup(_ value: [UInt8]) throws(WireError) -> PersistedGroup {
        var v = ByteReader(value)
        func string() throws(WireError) -> String { String(decoding: try v.blob(), as: UTF8.self) }
        let type = try string()
        let generation = Int32(bitPattern: try v.u32())
        let name = try string()
        let leader = try string()
        let n = try v.count(minItemBytes: 30)
        var members: [PersistedGroup.Member] = []
        for _ in 0..<n {
            let id = try string()
            let hasInstance = try v.bool()
            let instance = try string()
            members.append(
                PersistedGroup.Member(
                    id: id, instanceID: hasInstance ? instance : nil, clientID: try string(), clientHost: try string(),
                    sessionTimeoutMs: Int32(bitPattern: try v.u32()), rebalanceTimeoutMs: Int32(bitPattern: try v.u32()),
                    subscription: try v.blob(), assignment: try v.blob()))
        }
        return PersistedGroup(protocolType: type, generation: generation, protocolName: name, leader: leader, members: members)
    }

    /// Apply a committed entry of the offsets partition (one record batch).
    public mutating func apply(entryData: [UInt8]) throws(WireError) {
        for r in try InternalTopicRecords.records(ofEntry: entryData, "offsets partition") { try apply(key: r.key, value: r.value) }
    }

    /// A transactional batch of offset records (TxnOffsetCommit), held until its marker.
    public mutating func applyTransactional(entryData: [UInt8], producerID: Int64) throws(WireError) {
        for r in try InternalTopicRecords.records(ofEntry: entryData, "offsets partition") {
            // Checked now, so the commit marker never meets a record that does not decode.
            var probe = GroupOffsetStore()
            try probe.apply(key: r.key, value: r.value)
            pending[producerID, default: []].append((r.key ?? [], r.value))
        }
    }

    /// The producer's transaction ended: its offsets take effect (commit) or go (abort).
    public mutating func endTransaction(producerID: Int64, commit: Bool) throws(WireError) {
        guard let records = pending.removeValue(forKey: producerID) else { return }
        if commit { for r in records { try apply(key: r.key, value: r.value) } }
    }

    /// Whether a transaction holds an offset of the group's partition not yet decided
    /// (OffsetFetch's RequireStable answers UNSTABLE_OFFSET_COMMIT then).
    public func hasPending(group: String, topic: String, partition: Int32) -> Bool {
        guard !pending.isEmpty else { return false }
        let key = Self.offsetRecord(group: group, topic: topic, partition: partition, nil).key
        return pending.values.contains { $0.contains { $0.key == key } }
    }

    /// The pending section of a snapshot: producers sorted, each one's records in order.
    public func encodePending(_ w: inout ByteWriter) {
        w.u32(UInt32(pending.count))
        for id in pending.keys.sorted() {
            w.u64(UInt64(bitPattern: id))
            InternalTopicRecords.encode(pending[id]!, into: &w)
        }
    }

    public mutating func decodePending(_ r: inout ByteReader) throws(WireError) {
        let n = try r.count(minItemBytes: 12)
        for _ in 0..<n {
            let id = Int64(bitPattern: try r.u64())
            var records: [(key: [UInt8], value: [UInt8]?)] = []
            try InternalTopicRecords.decode(&r) { (key, value) throws(WireError) in
                var probe = GroupOffsetStore()
                try probe.apply(key: key, value: value)
                records.append((key, value))
            }
            pending[id] = records
        }
    }

    /// The group ids with offsets or metadata here, sorted.
    public var groupIDs: [String] { Set(offsets.keys).union(groups.keys).sorted() }

    // MARK: - Snapshot

    /// Every live key as a record, in a fixed order (sorted), so equal stores encode equally.
    public func encode(_ w: inout ByteWriter) {
        var records: [(key: [UInt8], value: [UInt8]?)] = []
        for g in offsets.keys.sorted() {
            for (k, c) in offsets[g]!.sorted(by: { $0.key < $1.key }) {
                records.append(Self.offsetRecord(group: g, topic: k.topic, partition: k.partition, c))
            }
        }
        for g in groups.keys.sorted() { records.append(Self.groupRecord(group: g, groups[g]!)) }
        InternalTopicRecords.encode(records, into: &w)
    }

    public static func decode(_ r: inout ByteReader) throws(WireError) -> GroupOffsetStore {
        var store = GroupOffsetStore()
        try InternalTopicRecords.decode(&r) { (key, value) throws(WireError) in try store.apply(key: key, value: value) }
        return store
    }
}
