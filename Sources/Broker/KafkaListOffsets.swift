import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Storage

/// ListOffsets: -1 latest (the high watermark; read_committed: the last stable offset), -2 earliest (the log start), -4 earliest local
/// (the log start: all of a log is local here), -5 latest tiered (none: -1, as Kafka without
/// tiered storage), or a time: the first record at or after it, found by a storage read (answered
/// when every partition has its answer). -3 (the record with the largest timestamp, KIP-734) is
/// not served yet: UNSUPPORTED_VERSION for that partition rather than a wrong offset.
struct ListOffsetsService {
    private var pending: [PendingListOffsets] = []

    mutating func listOffsets(_ l: ListOffsetsRequest, _ request: KafkaRequest, _ node: some PartitionContext) -> [KafkaAction] {
        var actions: [KafkaAction] = []
        var waiting = PendingListOffsets(request: request, version: request.header.apiVersion, topics: [])
        for t in l.topics {
            var parts: [PendingListOffsets.Part] = []
            for p in t.partitions {
                var part = PendingListOffsets.Part(result: nil, token: nil)
                func answer(_ e: ErrorCode, offset: Int64 = -1, epoch: Int32 = -1) {
                    part.result = .init(partitionIndex: p.partitionIndex, errorCode: e, timestamp: -1, offset: offset, leaderEpoch: epoch)
                }
                if let assignment = node.controller.topic(t.name)?.partitions.first(where: { $0.partition == p.partitionIndex }) {
                    if let g = node.group(assignment.group), g.isServing {
                        let epoch = Int32(truncatingIfNeeded: g.withRaft { $0.term }.value)
                        switch p.timestamp {
                        case ListOffsetsRequest.latest:
                            // read_committed (isolation 1, v2+): the last stable offset.
                            let hwm = Int64(g.state.nextOffset)
                            let committed = request.header.apiVersion >= 2 && l.isolationLevel == 1
                            answer(.none, offset: committed ? g.transactions.lastStableOffset(highWatermark: hwm) : hwm, epoch: epoch)
                        case ListOffsetsRequest.earliest, ListOffsetsRequest.earliestLocal:
                            answer(.none, offset: Int64(g.logStartOffset), epoch: epoch)
                        case ListOffsetsRequest.latestTiered: answer(.none, offset: -1, epoch: -1)
                        case ListOffsetsRequest.maxTimestamp: answer(.unsupportedVersion)
                        case ..<0: answer(.invalidRequest)
                        default:
                            let token = node.takeReadToken()
                            part.token = token
                            part.epoch = epoch
                            part.index = p.partitionIndex
                            part.timestamp = p.timestamp
                            actions.append(.read(StorageRead(
                                token: token, purpose: .listOffsets, group: assignment.group, offset: 0, maxBytes: 0, through: g.state.appliedIndex,
                                timestamp: p.timestamp)))
                        }
                    } else {
                        answer(.notLeaderOrFollower)
                    }
                } else {
                    answer(.unknownTopicOrPartition)
                }
                parts.append(part)
            }
            waiting.topics.append((t.name, parts))
        }
        if waiting.isComplete { return actions + [.complete(Self.answer(waiting))] }
        pending.append(waiting)
        return actions
    }

    /// A timestamp lookup came back: the first record at or after the time, or -1 when none is.
    mutating func readCompleted(_ c: ReadCompletion) -> [KafkaAction] {
        for k in pending.indices {
            for t in pending[k].topics.indices {
                for p in pending[k].topics[t].parts.indices where pending[k].topics[t].parts[p].token == c.token {
                    let part = pending[k].topics[t].parts[p]
                    var result = ListOffsetsResponse.ListOffsetsPartitionResponse(
                        partitionIndex: part.index, errorCode: .none, timestamp: -1, offset: -1, leaderEpoch: part.epoch)
                    if c.failure != nil {
                        result.errorCode = .kafkaStorageError
                    } else if let data = c.batches.first, let batch = try? RecordBatch(validating: ByteBuffer(bytes: data), from: .log),
                        let hit = batch.firstRecord(atOrAfter: part.timestamp)
                    {
                        result.offset = hit.offset
                        result.timestamp = hit.timestamp
                    }
                    pending[k].topics[t].parts[p].result = result
                    pending[k].topics[t].parts[p].token = nil
                }
            }
        }
        var actions: [KafkaAction] = []
        var remaining: [PendingListOffsets] = []
        for p in pending {
            if p.isComplete {
                actions.append(.complete(Self.answer(p)))
            } else {
                remaining.append(p)
            }
        }
        pending = remaining
        return actions
    }

    private static func answer(_ p: PendingListOffsets) -> KafkaCompletion {
        p.request.answer(ListOffsetsResponse(topics: p.topics.map { .init(name: $0.name, partitions: $0.parts.map { $0.result! }) }))
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
