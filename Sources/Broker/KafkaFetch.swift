import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Storage

/// A Fetch being answered: sessionless, every requested partition in the answer, long-polling on
/// the high watermark (the committed offset) until `minBytes` are there or `maxWaitMs` passes.
struct PendingFetch {
    struct Part {
        var topic: String
        /// The topic's id: how v13+ name it (zero before).
        var topicID: KafkaUUID
        var partition: Int32
        var group: GroupID?
        var fetchOffset: Int64
        var maxBytes: Int
        /// Final error for this partition (answered as is).
        var error: ErrorCode?
        var data: [[UInt8]] = []
        /// A storage read in flight for it.
        var readToken: UInt64?
        var highWatermark: Int64 = -1
        /// Below it every transaction is decided (equal to the high watermark without one open).
        var lastStableOffset: Int64 = -1
        var logStartOffset: Int64 = -1
        /// For a read_committed fetch: the aborted transactions with records in `data`.
        var aborted: [FetchResponse.AbortedTransaction] = []
    }

    var request: KafkaRequest
    var version: Int16
    var minBytes: Int
    var maxBytes: Int
    /// Isolation level 1 (v4+): records only below the last stable offset, with the aborted
    /// transactions among them so the consumer can drop their records.
    var readCommitted = false
    var parts: [Part]
    var deadlineTick: UInt64
}

/// Fetch: sessionless, long-polling on the high watermark. Owns the fetches being answered,
/// asks storage for committed batches (`KafkaAction.read`) and answers when a fetch has enough,
/// an error, or its time is up.
///
/// A fetch is looked at again only when something it waits on may have changed: its own storage
/// read completed, a partition it waits on moved (high watermark, log start or end, leadership),
/// or its time ran out. Looking at every held fetch after every event made a connection that
/// pipelines long polls (1,024 held, `KafkaReadBudget`) cost the node a quadratic amount of work:
/// 3.7 s of a debug node's time before it answered another client's ApiVersions.
struct FetchService {
    /// The fetches being answered, by the order they came in.
    private var pending: [UInt64: PendingFetch] = [:]
    private var nextID: UInt64 = 0
    /// A storage read in flight: the fetch it is for.
    private var readers: [UInt64: UInt64] = [:]
    /// The fetches with a part of each partition's group.
    private var waiters: [GroupID: Set<UInt64>] = [:]
    /// What each group looked like when its fetches were last looked at.
    private var marks: [GroupID: GroupMark] = [:]

    /// What a held fetch reads of its partition's group: when any of it changes, the fetch is
    /// looked at again.
    struct GroupMark: Equatable {
        var serving: Bool
        var highWatermark: UInt64
        var logStart: UInt64
        var logEnd: UInt64
        static let gone = GroupMark(serving: false, highWatermark: 0, logStart: 0, logEnd: 0)

        init(serving: Bool, highWatermark: UInt64, logStart: UInt64, logEnd: UInt64) {
            (self.serving, self.highWatermark, self.logStart, self.logEnd) = (serving, highWatermark, logStart, logEnd)
        }

        init(_ g: NodeCore.Group?) {
            guard let g else {
                self = .gone
                return
            }
            self.init(serving: g.isServing, highWatermark: g.state.nextOffset, logStart: g.logStartOffset, logEnd: g.logEndOffset)
        }
    }

    var isEmpty: Bool { pending.isEmpty }

    mutating func fetch(_ f: FetchRequest, _ request: KafkaRequest, _ node: some PartitionContext) -> [KafkaAction] {
        var waiting = PendingFetch(
            request: request, version: request.header.apiVersion, minBytes: Int(max(0, f.minBytes)),
            maxBytes: Int(f.maxBytes <= 0 ? Int32.max : f.maxBytes), parts: [],
            deadlineTick: node.ticks + node.config.ticks(milliseconds: Int(f.maxWaitMs)))
        waiting.readCommitted = request.header.apiVersion >= 4 && f.isolationLevel == 1
        let byID = request.header.apiVersion >= 13
        for t in f.topics {
            // v13+ name topics by id only.
            let topic = byID ? node.controller.topic(id: t.topicID) : node.controller.topic(t.topic)
            for p in t.partitions {
                var part = PendingFetch.Part(
                    topic: byID ? topic?.name ?? "" : t.topic, topicID: t.topicID, partition: p.partition, group: nil,
                    fetchOffset: p.fetchOffset, maxBytes: Int(max(1, p.partitionMaxBytes)))
                if let assignment = topic?.partitions.first(where: { $0.partition == p.partition }) {
                    part.group = assignment.group
                } else {
                    part.error = byID && topic == nil ? .unknownTopicID : .unknownTopicOrPartition
                }
                waiting.parts.append(part)
            }
        }
        let id = nextID
        nextID += 1
        pending[id] = waiting
        for part in waiting.parts { if let gid = part.group { waiters[gid, default: []].insert(id) } }
        return evaluate([id], node)
    }

    /// After an event: look again at the fetches of every partition that moved since.
    mutating func progressed(_ node: some PartitionContext) -> [KafkaAction] {
        evaluate(Array(movedWaiters(node)).sorted(), node)
    }

    /// A tick: also answer the fetches whose time is up.
    mutating func tick(_ node: some PartitionContext) -> [KafkaAction] {
        var due = movedWaiters(node)
        for (id, f) in pending where f.deadlineTick <= node.ticks { due.insert(id) }
        return evaluate(Array(due).sorted(), node)
    }

    /// The fetches waiting on a group that changed since they were last looked at.
    private mutating func movedWaiters(_ node: some PartitionContext) -> Set<UInt64> {
        var due: Set<UInt64> = []
        for (gid, ids) in waiters {
            let mark = GroupMark(node.group(gid))
            if marks[gid] != mark {
                marks[gid] = mark
                due.formUnion(ids)
            }
        }
        return due
    }

    /// Move these fetches on: check offsets against the high watermark, ask storage for committed
    /// batches, and answer the ones that have enough (or an error, or ran out of time).
    private mutating func evaluate(_ ids: [UInt64], _ node: some PartitionContext) -> [KafkaAction] {
        var actions: [KafkaAction] = []
        for id in ids {
            guard var f = pending[id] else { continue }
            var budget = f.maxBytes - f.parts.reduce(0) { $0 + $1.data.reduce(0) { $0 + $1.count } }
            for k in f.parts.indices where f.parts[k].error == nil && f.parts[k].readToken == nil && f.parts[k].data.isEmpty {
                guard let gid = f.parts[k].group, let g = node.group(gid) else {
                    f.parts[k].error = .notLeaderOrFollower
                    continue
                }
                // What the replica state has applied (Raft's own applied index runs ahead while
                // a Ready is out): the data behind the high watermark, and no further.
                let applied = g.state.appliedIndex
                guard g.isServing else {
                    f.parts[k].error = .notLeaderOrFollower
                    continue
                }
                let hwm = Int64(g.state.nextOffset)
                let lso = node.config.plantedBug == .lsoAtHighWatermark ? hwm : g.transactions.lastStableOffset(highWatermark: hwm)
                f.parts[k].highWatermark = hwm
                f.parts[k].lastStableOffset = lso
                f.parts[k].logStartOffset = Int64(g.logStartOffset)
                let offset = f.parts[k].fetchOffset
                if offset < Int64(g.logStartOffset) || offset > Int64(g.logEndOffset) {
                    f.parts[k].error = .offsetOutOfRange
                    continue
                }
                guard offset < (f.readCommitted ? lso : hwm), budget > 0 || f.parts.allSatisfy({ $0.data.isEmpty }) else { continue }
                let token = node.takeReadToken()
                let limit = max(1, min(f.parts[k].maxBytes, budget))
                budget -= limit
                f.parts[k].readToken = token
                readers[token] = id
                actions.append(.read(StorageRead(token: token, purpose: .kafkaFetch, group: gid, offset: UInt64(offset), maxBytes: limit, through: applied)))
            }
            let reading = f.parts.contains { $0.readToken != nil }
            let bytes = f.parts.reduce(0) { $0 + $1.data.reduce(0) { $0 + $1.count } }
            let anyError = f.parts.contains { $0.error != nil }
            let ready = !reading && (anyError || bytes >= max(1, f.minBytes) || f.minBytes == 0 || f.deadlineTick <= node.ticks)
            if ready {
                actions.append(.complete(Self.answer(f)))
                remove(id, f)
            } else {
                pending[id] = f
            }
        }
        return actions
    }

    private mutating func remove(_ id: UInt64, _ f: PendingFetch) {
        pending[id] = nil
        for part in f.parts {
            guard let gid = part.group else { continue }
            waiters[gid]?.remove(id)
            if waiters[gid]?.isEmpty == true {
                waiters[gid] = nil
                marks[gid] = nil
            }
        }
    }

    /// Storage answered a Fetch's read.
    mutating func readCompleted(_ c: ReadCompletion, _ node: some PartitionContext) -> [KafkaAction] {
        guard let id = readers.removeValue(forKey: c.token), var f = pending[id] else { return [] }
        for k in f.parts.indices where f.parts[k].readToken == c.token {
            f.parts[k].readToken = nil
            if c.failure != nil {
                // A disk error here (a damaged entry is never served): retriable for clients.
                f.parts[k].error = .kafkaStorageError
            } else if c.batches.isEmpty {
                // Nothing there after all (retention raced the read): the client resets to
                // the log start as storage has it now, not as this node last heard it.
                f.parts[k].error = .offsetOutOfRange
                if let start = c.logStart { f.parts[k].logStartOffset = max(f.parts[k].logStartOffset, Int64(start)) }
            } else if f.readCommitted {
                f.parts[k] = Self.committed(c.batches, for: f.parts[k], node)
            } else {
                f.parts[k].data = c.batches
            }
        }
        pending[id] = f
        return evaluate([id], node)
    }

    /// A read_committed part: the batches below the last stable offset it was read up to (a
    /// transaction's first batch starts there, so none straddles it), and the aborted
    /// transactions with records among them.
    private static func committed(_ batches: [[UInt8]], for part: PendingFetch.Part, _ node: some PartitionContext) -> PendingFetch.Part {
        var p = part
        p.data = batches.filter { batchBaseOffset($0) < part.lastStableOffset }
        guard let last = p.data.last, let gid = part.group, let g = node.group(gid) else { return p }
        let end = batchBaseOffset(last) + Int64(batchLastOffsetDelta(last)) + 1
        p.aborted = g.transactions.aborted(from: part.fetchOffset, upTo: end).map { .init(producerID: $0.producerID, firstOffset: $0.firstOffset) }
        return p
    }

    private static func batchBaseOffset(_ b: [UInt8]) -> Int64 { b.prefix(8).reduce(0) { $0 << 8 | Int64($1) } }
    private static func batchLastOffsetDelta(_ b: [UInt8]) -> Int32 { Int32(truncatingIfNeeded: b[23..<27].reduce(0) { $0 << 8 | Int64($1) }) }

    private static func answer(_ f: PendingFetch) -> KafkaCompletion {
        var topics: [FetchResponse.FetchableTopicResponse] = []
        for part in f.parts {
            if topics.last.map({ $0.topic != part.topic || $0.topicID != part.topicID }) ?? true {
                topics.append(.init(topic: part.topic, topicID: part.topicID))
            }
            var records = ByteBuffer()
            for b in part.data { records.writeBytes(b) }
            let p = FetchResponse.PartitionData(
                partitionIndex: part.partition, errorCode: part.error ?? .none, highWatermark: part.highWatermark,
                // (Before the partition was looked at, -1 for both, as before.)
                lastStableOffset: part.lastStableOffset, logStartOffset: part.logStartOffset, abortedTransactions: part.aborted,
                records: records)
            topics[topics.count - 1].partitions.append(p)
        }
        return f.request.answer(FetchResponse(responses: topics))
    }
}

extension NodeCore.Group {
    /// Whether this node may answer reads for the group: it leads it and has applied an entry of
    /// its own term. Until then its applied offset may lag what the previous leader exposed, and
    /// a high watermark must never move back.
    var isServing: Bool {
        let applied = state.appliedIndex
        return withRaft { r in r.role == .leader && r.term(at: applied) == r.term }
    }
}
