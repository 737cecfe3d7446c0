import KafkaProtocol
import NIOCore

/// A record read from a partition.
public struct ConsumerRecord: Equatable, Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var timestamp: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]
}

/// Reads assigned partitions. Each partition has a position — set by `seek` (earliest, latest, an
/// offset, or the first record at or after a timestamp) — that advances past every record
/// returned. Partitions are fetched from their leaders, one request per leader, all leaders at
/// once; after a leader change or a lost connection the consumer finds the new leader and goes on
/// from its position, so nothing is skipped or read twice.
public actor Consumer {
    public enum Position: Sendable, Equatable {
        case earliest
        case latest
        case offset(Int64)
        /// The first record with a timestamp (ms since 1970) at or after this one.
        case timestamp(Int64)
    }

    public struct Configuration: Sendable {
        /// How long the broker may hold a fetch waiting for data.
        public var maxWaitMs: Int32 = 500
        /// Bytes per partition per fetch.
        public var partitionMaxBytes: Int32 = 4 << 20
        /// Where to go when a position is no longer in the log (retention) or past its end, and,
        /// in a group, where a partition without a committed offset starts.
        public var resetTo: Position = .earliest

        // Consumer groups (`subscribe`); the defaults are the Java client's where they exist.
        /// The group to join with `subscribe`, and to commit for.
        public var groupID: String?
        /// Without a heartbeat for this long the coordinator drops the member.
        public var sessionTimeoutMs: Int32 = 10_000
        /// How long a rebalance waits for members to rejoin (Java's `max.poll.interval.ms`).
        public var rebalanceTimeoutMs: Int32 = 300_000
        public var heartbeatIntervalMs = 3000
        /// Assignment strategies offered, preferred first.
        public var assignors: [PartitionAssignor] = [.range, .roundRobin]
        /// Commit the positions of returned records every `autoCommitIntervalMs`, at rebalances
        /// and at `close` (at-least-once). Off: call `commit()`.
        public var autoCommit = true
        public var autoCommitIntervalMs = 5000
        public init() {}
    }

    struct Assignment {
        var topic: String
        var partition: Int32
        /// The next offset to return; nil until resolved from `seekTo`.
        var next: Int64?
        var seekTo: Position
    }

    public let client: KafkaClient
    public let configuration: Configuration
    var assignments: [Assignment] = []
    /// Group membership, when subscribed.
    var membership: GroupMembershipState?

    public init(client: KafkaClient, configuration: Configuration = Configuration()) {
        self.client = client
        self.configuration = configuration
    }

    /// Read `topic`'s `partition`, starting at `position`.
    public func assign(topic: String, partition: Int32, from position: Position = .earliest) {
        assignments.removeAll { $0.topic == topic && $0.partition == partition }
        assignments.append(Assignment(topic: topic, partition: partition, next: nil, seekTo: position))
    }

    /// Read every partition of `topic`.
    public func assign(topic: String, from position: Position = .earliest) async throws {
        let count = try await client.partitionCount(topic)
        for p in 0..<Int32(count) { assign(topic: topic, partition: p, from: position) }
    }

    public func unassign(topic: String, partition: Int32) {
        assignments.removeAll { $0.topic == topic && $0.partition == partition }
    }

    /// Move an assigned partition's position.
    public func seek(topic: String, partition: Int32, to position: Position) {
        guard let k = index(topic, partition) else { return }
        assignments[k].next = nil
        assignments[k].seekTo = position
    }

    /// The next offset `poll` will return for the partition (resolving a pending seek).
    public func position(topic: String, partition: Int32) async throws -> Int64? {
        guard index(topic, partition) != nil else { return nil }
        try await resolvePositions()
        return index(topic, partition).flatMap { assignments[$0].next }
    }

    /// The next records of the assigned partitions, in offset order per partition; empty after
    /// `maxWaitMs` when there are none. Retriable broker errors (moved leader, lost connection)
    /// are handled here; anything else is thrown.
    public func poll() async throws -> [ConsumerRecord] {
        if membership != nil {
            try await ensureGroup()
            try await autoCommitIfDue()
        }
        try await resolvePositions()
        let epochAtFetch = membership?.assignmentEpoch
        // One Fetch per leader; partitions whose leader is unknown wait for the next poll.
        let wanted = assignments.compactMap { a in a.next.map { (a.topic, a.partition, $0) } }
        var byLeader: [Int32: [(String, Int32, Int64)]] = [:]
        for w in wanted {
            guard let leader = try? await client.leader(topic: w.0, partition: w.1) else { continue }
            byLeader[leader, default: []].append(w)
        }
        let requests = byLeader.keys.sorted().map { ($0, byLeader[$0]!) }
        let client = self.client
        let configuration = self.configuration
        let responses = await withTaskGroup(of: (Int32, Result<FetchResponse, Error>).self) { group in
            for (leader, partitions) in requests {
                group.addTask { (leader, await Self.fetch(client, leader: leader, partitions, configuration)) }
            }
            var out: [(Int32, Result<FetchResponse, Error>)] = []
            for await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }
        }
        // The group took the partitions away while the fetch was out (a heartbeat or commit
        // answered ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID): those records are not this member's
        // to return. Positions stay; the next poll gives the partitions up and rejoins.
        if let before = epochAtFetch, membership.map({ $0.lost || $0.assignmentEpoch != before }) ?? true {
            return []
        }
        var records: [ConsumerRecord] = []
        for (leader, result) in responses {
            switch result {
            case .failure:
                await client.invalidate(node: leader)
            case .success(let response):
                for t in response.responses {
                    for p in t.partitions { records += try await take(t.topic, p) }
                }
            }
        }
        return records
    }

    private static func fetch(_ client: KafkaClient, leader: Int32, _ partitions: [(String, Int32, Int64)], _ c: Configuration) async
        -> Result<FetchResponse, Error>
    {
        do {
            let connection = try await client.connection(to: leader)
            var topics: [FetchRequest.FetchTopic] = []
            for (topic, partition, offset) in partitions {
                let p = FetchRequest.FetchPartition(partition: partition, fetchOffset: offset, partitionMaxBytes: c.partitionMaxBytes)
                if let k = topics.firstIndex(where: { $0.topic == topic }) {
                    topics[k].partitions.append(p)
                } else {
                    topics.append(FetchRequest.FetchTopic(topic: topic, partitions: [p]))
                }
            }
            let request = FetchRequest(maxWaitMs: c.maxWaitMs, minBytes: 1, maxBytes: 64 << 20, topics: topics)
            var r = try await connection.request(.fetch, version: 11, clientID: client.clientID, timeout: .milliseconds(Int64(c.maxWaitMs) + 30_000)) {
                request.encode(&$0, version: 11)
            }
            return .success(try FetchResponse.decode(&r, version: 11))
        } catch {
            return .failure(error)
        }
    }

    /// Records of one partition's fetch answer, advancing its position.
    private func take(_ topic: String, _ p: FetchResponse.PartitionData) async throws -> [ConsumerRecord] {
        guard let k = index(topic, p.partitionIndex), let next = assignments[k].next else { return [] }
        let code = p.errorCode
        switch code {
        case .none: break
        case .notLeaderOrFollower, .leaderNotAvailable, .unknownTopicOrPartition, .fencedLeaderEpoch, .unknownLeaderEpoch, .requestTimedOut:
            await client.invalidate(node: nil)
            return []
        case .offsetOutOfRange:
            assignments[k].next = nil
            assignments[k].seekTo = configuration.resetTo
            return []
        default:
            throw RillClientError.kafka(code, "fetch \(topic)[\(p.partitionIndex)] at \(next)")
        }
        var out: [ConsumerRecord] = []
        var position = next
        if let bytes = p.records, bytes.readableBytes > 0 {
            for batch in try Self.completeBatches(in: bytes) where batch.nextOffset > position {
                for r in try batch.decodedRecords() where r.offset >= position {
                    out.append(ConsumerRecord(topic: topic, partition: p.partitionIndex, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers))
                }
                // Control batches and compacted gaps still move the position on.
                position = max(position, batch.nextOffset)
            }
        }
        assignments[k].next = position
        return out
    }

    /// The whole batches of a fetch answer: a broker may cut the last one short at the size limit.
    static func completeBatches(in records: ByteBuffer) throws -> [RecordBatch] {
        var rest = records
        var out: [RecordBatch] = []
        while rest.readableBytes >= 12 {
            let length: Int32 = rest.getInteger(at: rest.readerIndex + 8, endianness: .big)!
            let total = 12 + Int(length)
            guard length >= 0, rest.readableBytes >= total else { break }
            out.append(try RecordBatch(validating: rest.readSlice(length: total)!, from: .log))
        }
        return out
    }

    /// Turn pending seeks into offsets with ListOffsets at each partition's leader.
    private func resolvePositions() async throws {
        var rerun = false
        for k in assignments.indices where assignments[k].next == nil {
            let a = assignments[k]
            let timestamp: Int64
            switch a.seekTo {
            case .offset(let o):
                assignments[k].next = o
                continue
            case .earliest: timestamp = ListOffsetsRequest.earliest
            case .latest: timestamp = ListOffsetsRequest.latest
            case .timestamp(let t): timestamp = t
            }
            do {
                let offset = try await client.listOffset(topic: a.topic, partition: a.partition, timestamp: timestamp)
                if offset >= 0 {
                    assignments[k].next = offset
                } else {
                    // No record at or after the timestamp: the end of the log (resolved below).
                    assignments[k].seekTo = .latest
                    rerun = true
                }
            } catch let error as RillClientError {
                // A moved leader or lost connection: look again on the next poll.
                await client.invalidate(node: nil)
                if case .kafka(let code, _) = error, ![.notLeaderOrFollower, .leaderNotAvailable, .unknownTopicOrPartition, .fencedLeaderEpoch].contains(code) {
                    throw error
                }
            }
        }
        if rerun { try await resolvePositions() }
        // Partitions still unresolved are skipped by this poll (their `next` stays nil).
        assignments.sort { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }

    func index(_ topic: String, _ partition: Int32) -> Int? {
        assignments.firstIndex { $0.topic == topic && $0.partition == partition }
    }
}
