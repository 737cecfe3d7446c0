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

extension NodeCore {
    func fetch(_ f: FetchRequest, request: KafkaRequest) -> KafkaReply {
        var pending = PendingFetch(
            request: request, version: request.header.apiVersion, minBytes: Int(max(0, f.minBytes)),
            maxBytes: Int(f.maxBytes <= 0 ? Int32.max : f.maxBytes), parts: [],
            deadlineTick: ticks + config.ticks(milliseconds: Int(f.maxWaitMs)))
        let byID = request.header.apiVersion >= 13
        for t in f.topics {
            // v13+ name topics by id only.
            let topic = byID ? controller.topic(id: t.topicID) : controller.topic(t.topic)
            for p in t.partitions {
                var part = PendingFetch.Part(
                    topic: byID ? topic?.name ?? "" : t.topic, topicID: t.topicID, partition: p.partition, group: nil,
                    fetchOffset: p.fetchOffset, maxBytes: Int(max(1, p.partitionMaxBytes)))
                if let assignment = topic?.partitions.first(where: { $0.partition == p.partition }) {
                    part.group = assignment.group
                } else {
                    part.error = byID && topic == nil ? .unknownTopicID : .unknownTopicOrPartition
                }
                pending.parts.append(part)
            }
        }
        kafka.pendingFetches.append(pending)
        evaluateFetches(expired: false)
        // Answered already (errors only, or a one-node group): reply now, not through the queue.
        return takeReply(for: request)
    }

    /// Move every pending fetch on: check offsets against the high watermark, ask storage for
    /// committed batches, and answer the ones that have enough (or an error, or ran out of time).
    func evaluateFetches(expired: Bool) {
        var remaining: [PendingFetch] = []
        for var f in kafka.pendingFetches {
            var budget = f.maxBytes - f.parts.reduce(0) { $0 + $1.data.reduce(0) { $0 + $1.count } }
            for k in f.parts.indices where f.parts[k].error == nil && f.parts[k].readToken == nil && f.parts[k].data.isEmpty {
                guard let gid = f.parts[k].group, let g = group(gid) else {
                    f.parts[k].error = .notLeaderOrFollower
                    continue
                }
                // What the replica state has applied (Raft's own applied index runs ahead while
                // a Ready is out): the data behind the high watermark, and no further.
                let applied = g.state.appliedIndex
                guard isServing(g) else {
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
                let token = takeReadToken()
                let limit = max(1, min(f.parts[k].maxBytes, budget))
                budget -= limit
                f.parts[k].readToken = token
                reads.append(StorageRead(token: token, purpose: .kafkaFetch, group: gid, offset: UInt64(offset), maxBytes: limit, through: applied))
            }
            let reading = f.parts.contains { $0.readToken != nil }
            let bytes = f.parts.reduce(0) { $0 + $1.data.reduce(0) { $0 + $1.count } }
            let anyError = f.parts.contains { $0.error != nil }
            let ready = !reading && (anyError || bytes >= max(1, f.minBytes) || f.minBytes == 0 || (expired && ticks >= f.deadlineTick)
                || f.deadlineTick <= ticks)
            if ready {
                kafka.completions.append(.init(connection: f.request.connection, sequence: f.request.sequence, response: fetchResponse(f)))
            } else {
                remaining.append(f)
            }
        }
        kafka.pendingFetches = remaining
    }

    /// Storage answered a Fetch's read (`NodeCore.readCompleted` routes it here).
    func fetchReadCompleted(_ c: ReadCompletion) {
        for f in kafka.pendingFetches.indices {
            for k in kafka.pendingFetches[f].parts.indices where kafka.pendingFetches[f].parts[k].readToken == c.token {
                kafka.pendingFetches[f].parts[k].readToken = nil
                if c.failure != nil {
                    // A disk error here (a damaged entry is never served): retriable for clients.
                    kafka.pendingFetches[f].parts[k].error = .kafkaStorageError
                } else if c.batches.isEmpty {
                    // Nothing there after all (retention raced the read): the client re-checks.
                    kafka.pendingFetches[f].parts[k].error = .offsetOutOfRange
                } else {
                    kafka.pendingFetches[f].parts[k].data = c.batches
                }
            }
        }
        evaluateFetches(expired: false)
    }

    /// Whether this node may answer reads for a group: it leads it and has applied an entry of its
    /// own term. Until then its applied offset may lag what the previous leader exposed, and a
    /// high watermark must never move back.
    func isServing(_ g: Group) -> Bool {
        let applied = g.state.appliedIndex
        return g.withRaft { r in r.role == .leader && r.term(at: applied) == r.term }
    }

    func fetchResponse(_ f: PendingFetch) -> ByteBuffer {
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
        let response = FetchResponse(responses: topics)
        return Self.frame(f.request.header) { response.encode(&$0, version: f.version) }
    }

    // MARK: - ListOffsets

    /// -1 latest (the high watermark), -2 earliest (the log start), -4 earliest local (the log
    /// start: all of a log is local here), -5 latest tiered (none: -1, as Kafka without tiered
    /// storage), or a time: the first record at or after it, found by a storage read (answered when
    /// every partition has its answer). -3 (the record with the largest timestamp, KIP-734) is not
    /// served yet: UNSUPPORTED_VERSION for that partition rather than a wrong offset.
    func listOffsets(_ l: ListOffsetsRequest, request: KafkaRequest) -> KafkaReply {
        var pending = PendingListOffsets(request: request, version: request.header.apiVersion, topics: [])
        for t in l.topics {
            var parts: [PendingListOffsets.Part] = []
            for p in t.partitions {
                var part = PendingListOffsets.Part(result: nil, token: nil)
                func answer(_ e: ErrorCode, offset: Int64 = -1, epoch: Int32 = -1) {
                    part.result = .init(partitionIndex: p.partitionIndex, errorCode: e, timestamp: -1, offset: offset, leaderEpoch: epoch)
                }
                if let assignment = controller.topic(t.name)?.partitions.first(where: { $0.partition == p.partitionIndex }) {
                    if let g = group(assignment.group), isServing(g) {
                        let epoch = Int32(truncatingIfNeeded: g.withRaft { $0.term }.value)
                        switch p.timestamp {
                        case ListOffsetsRequest.latest: answer(.none, offset: Int64(g.state.nextOffset), epoch: epoch)
                        case ListOffsetsRequest.earliest, ListOffsetsRequest.earliestLocal:
                            answer(.none, offset: Int64(g.logStartOffset), epoch: epoch)
                        case ListOffsetsRequest.latestTiered: answer(.none, offset: -1, epoch: -1)
                        case ListOffsetsRequest.maxTimestamp: answer(.unsupportedVersion)
                        case ..<0: answer(.invalidRequest)
                        default:
                            let token = takeReadToken()
                            part.token = token
                            part.epoch = epoch
                            part.index = p.partitionIndex
                            part.timestamp = p.timestamp
                            reads.append(StorageRead(
                                token: token, purpose: .listOffsets, group: assignment.group, offset: 0, maxBytes: 0, through: g.state.appliedIndex,
                                timestamp: p.timestamp))
                        }
                    } else {
                        answer(.notLeaderOrFollower)
                    }
                } else {
                    answer(.unknownTopicOrPartition)
                }
                parts.append(part)
            }
            pending.topics.append((t.name, parts))
        }
        if pending.isComplete { return .respond(listOffsetsResponse(pending)) }
        kafka.pendingListOffsets.append(pending)
        return .pending
    }

    /// A timestamp lookup came back: the first record at or after the time, or -1 when none is.
    func listOffsetsRead(_ c: ReadCompletion) {
        for k in kafka.pendingListOffsets.indices {
            for t in kafka.pendingListOffsets[k].topics.indices {
                for p in kafka.pendingListOffsets[k].topics[t].parts.indices
                where kafka.pendingListOffsets[k].topics[t].parts[p].token == c.token {
                    let part = kafka.pendingListOffsets[k].topics[t].parts[p]
                    var result = ListOffsetsResponse.ListOffsetsPartitionResponse(
                        partitionIndex: part.index, errorCode: .none, timestamp: -1, offset: -1, leaderEpoch: part.epoch)
                    if c.failure != nil {
                        result.errorCode = .kafkaStorageError
                    } else if let data = c.batches.first, let batch = try? RecordBatch(validating: ByteBuffer(bytes: data)),
                        let hit = batch.firstRecord(atOrAfter: part.timestamp)
                    {
                        result.offset = hit.offset
                        result.timestamp = hit.timestamp
                    }
                    kafka.pendingListOffsets[k].topics[t].parts[p].result = result
                    kafka.pendingListOffsets[k].topics[t].parts[p].token = nil
                }
            }
        }
        var remaining: [PendingListOffsets] = []
        for p in kafka.pendingListOffsets {
            if p.isComplete {
                kafka.completions.append(.init(connection: p.request.connection, sequence: p.request.sequence, response: listOffsetsResponse(p)))
            } else {
                remaining.append(p)
            }
        }
        kafka.pendingListOffsets = remaining
    }

    func listOffsetsResponse(_ p: PendingListOffsets) -> ByteBuffer {
        let response = ListOffsetsResponse(topics: p.topics.map { .init(name: $0.name, partitions: $0.parts.map { $0.result! }) })
        return Self.frame(p.request.header) { response.encode(&$0, version: p.version) }
    }
}

/// A ListOffsets waiting for timestamp lookups in storage.
struct PendingListOffsets {
    struct Part {
        var result: ListOffsetsResponse.ListOffsetsPartitionResponse?
        var token: UInt64?
        var epoch: Int32 = -1
        var index: Int32 = 0
        /// The time asked for (ms), for a lookup by timestamp.
        var timestamp: Int64 = 0
    }

    var request: KafkaRequest
    var version: Int16
    var topics: [(name: String, parts: [Part])]

    var isComplete: Bool { topics.allSatisfy { $0.parts.allSatisfy { $0.result != nil } } }
}
