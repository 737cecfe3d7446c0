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
        var logStartOffset: Int64 = -1
    }

    var request: KafkaRequest
    var version: Int16
    var minBytes: Int
    var maxBytes: Int
    var parts: [Part]
    var deadlineTick: UInt64
}

/// Fetch: sessionless, long-polling on the high watermark. Owns the fetches being answered,
/// asks storage for committed batches (`KafkaAction.read`) and answers when a fetch has enough,
/// an error, or its time is up.
struct FetchService {
    private var pending: [PendingFetch] = []

    var isEmpty: Bool { pending.isEmpty }

    mutating func fetch(_ f: FetchRequest, _ request: KafkaRequest, _ node: some PartitionContext) -> [KafkaAction] {
        var waiting = PendingFetch(
            request: request, version: request.header.apiVersion, minBytes: Int(max(0, f.minBytes)),
            maxBytes: Int(f.maxBytes <= 0 ? Int32.max : f.maxBytes), parts: [],
            deadlineTick: node.ticks + node.config.ticks(milliseconds: Int(f.maxWaitMs)))
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
        pending.append(waiting)
        return evaluate(expired: false, node)
    }

    /// Move every pending fetch on: check offsets against the high watermark, ask storage for
    /// committed batches, and answer the ones that have enough (or an error, or ran out of time).
    mutating func evaluate(expired: Bool, _ node: some PartitionContext) -> [KafkaAction] {
        var actions: [KafkaAction] = []
        var remaining: [PendingFetch] = []
        for var f in pending {
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
                f.parts[k].highWatermark = hwm
                f.parts[k].logStartOffset = Int64(g.logStartOffset)
                let offset = f.parts[k].fetchOffset
                if offset < Int64(g.logStartOffset) || offset > Int64(g.logEndOffset) {
                    f.parts[k].error = .offsetOutOfRange
                    continue
                }
                guard offset < hwm, budget > 0 || f.parts.allSatisfy({ $0.data.isEmpty }) else { continue }
                let token = node.takeReadToken()
                let limit = max(1, min(f.parts[k].maxBytes, budget))
                budget -= limit
                f.parts[k].readToken = token
                actions.append(.read(StorageRead(token: token, purpose: .kafkaFetch, group: gid, offset: UInt64(offset), maxBytes: limit, through: applied)))
            }
            let reading = f.parts.contains { $0.readToken != nil }
            let bytes = f.parts.reduce(0) { $0 + $1.data.reduce(0) { $0 + $1.count } }
            let anyError = f.parts.contains { $0.error != nil }
            let ready = !reading && (anyError || bytes >= max(1, f.minBytes) || f.minBytes == 0 || (expired && node.ticks >= f.deadlineTick)
                || f.deadlineTick <= node.ticks)
            if ready {
                actions.append(.complete(Self.answer(f)))
            } else {
                remaining.append(f)
            }
        }
        pending = remaining
        return actions
    }

    /// Storage answered a Fetch's read.
    mutating func readCompleted(_ c: ReadCompletion, _ node: some PartitionContext) -> [KafkaAction] {
        for f in pending.indices {
            for k in pending[f].parts.indices where pending[f].parts[k].readToken == c.token {
                pending[f].parts[k].readToken = nil
                if c.failure != nil {
                    // A disk error here (a damaged entry is never served): retriable for clients.
                    pending[f].parts[k].error = .kafkaStorageError
                } else if c.batches.isEmpty {
                    // Nothing there after all (retention raced the read): the client resets to
                    // the log start as storage has it now, not as this node last heard it.
                    pending[f].parts[k].error = .offsetOutOfRange
                    if let start = c.logStart { pending[f].parts[k].logStartOffset = max(pending[f].parts[k].logStartOffset, Int64(start)) }
                } else {
                    pending[f].parts[k].data = c.batches
                }
            }
        }
        return evaluate(expired: false, node)
    }

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
                // No transactions: the last stable offset is the high watermark (librdkafka reads up to it).
                lastStableOffset: part.highWatermark, logStartOffset: part.logStartOffset, records: records)
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
