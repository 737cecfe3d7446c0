import KafkaProtocol
import Primitives
import Raft

/// A DeleteRecords waiting for its partitions' entries to be applied on their leaders.
struct PendingDeleteRecords {
    struct Part {
        var topic: String
        var partition: Int32
        var group: GroupID
        /// The Raft index and term of the DeleteRecords entry proposed.
        var index: LogIndex = .zero
        var term: Term = .zero
        var result: DeleteRecordsResponse.DeleteRecordsPartitionResult?
    }

    var request: KafkaRequest
    var parts: [Part]
    var deadlineTick: UInt64
}

/// DeleteRecords (Kafka's `AdminClient.deleteRecords`, `kafka-delete-records.sh`): move a
/// partition's log start offset forward, on its leader, through its Raft log: the leader proposes
/// a DeleteRecords entry (`KafkaEntry.deleteRecords`) and answers once it has applied it; every
/// replica applies the same entry. The low watermark answered is the replicated floor
/// (`Group.recordsDeletedBelow`): every replica starts there or later, whoever leads next
/// (retention, each replica's own, may have trimmed one further; Kafka answers the lowest start
/// over the replicas, which is never below it either). As in Kafka: offset -1 means the high
/// watermark; an offset past it is OFFSET_OUT_OF_RANGE; an offset at or below the floor changes
/// nothing and is answered with the floor; a topic whose `cleanup.policy` lacks `delete` refuses
/// with POLICY_VIOLATION (so `__consumer_offsets`, compacted, does too).
struct DeleteRecordsService {
    private var pending: [PendingDeleteRecords] = []

    var isEmpty: Bool { pending.isEmpty }

    mutating func deleteRecords(_ d: DeleteRecordsRequest, _ request: KafkaRequest, _ node: some PartitionContext) -> [KafkaAction] {
        var waiting = PendingDeleteRecords(
            request: request, parts: [], deadlineTick: node.ticks + node.config.ticks(milliseconds: Int(max(0, d.timeoutMs))))
        for t in d.topics {
            let topic = node.controller.topic(t.name)
            let deletable = !InternalTopic.isInternal(t.name) && (topic.map { node.controller.cleanupPolicy(of: $0, includes: "delete") } ?? true)
            for p in t.partitions {
                var part = PendingDeleteRecords.Part(topic: t.name, partition: p.partitionIndex, group: GroupID(0))
                if let assignment = topic?.partitions.first(where: { $0.partition == p.partitionIndex }) {
                    part.group = assignment.group
                    if !deletable {
                        part.result = Self.failed(p.partitionIndex, .policyViolation)
                    } else {
                        Self.propose(p.offset, into: &part, node)
                    }
                } else {
                    part.result = Self.failed(p.partitionIndex, .unknownTopicOrPartition)
                }
                waiting.parts.append(part)
            }
        }
        pending.append(waiting)
        return check(expired: false, node)
    }

    private static func propose(_ requested: Int64, into part: inout PendingDeleteRecords.Part, _ node: some PartitionContext) {
        guard let g = node.group(part.group), g.withRaft({ $0.role }) == .leader, g.isServing else {
            part.result = failed(part.partition, .notLeaderOrFollower)
            return
        }
        let highWatermark = Int64(g.state.nextOffset)
        let offset = requested == -1 ? highWatermark : requested
        guard offset >= 0, offset <= highWatermark else {
            part.result = failed(part.partition, .offsetOutOfRange)
            return
        }
        guard offset > Int64(g.recordsDeletedBelow) else {
            // Deleted already, on every replica.
            part.result = .init(partitionIndex: part.partition, lowWatermark: Int64(g.recordsDeletedBelow), errorCode: .none)
            return
        }
        // Proposed even when this replica's retention has already trimmed past `offset`: the
        // others' retention may not have, and a deletion acknowledged must hold after a failover.
        do {
            let at = try node.propose(KafkaEntry.deleteRecords(below: UInt64(offset)), to: part.group)
            (part.index, part.term) = (at.index, at.term)
        } catch {
            part.result = failed(part.partition, .notLeaderOrFollower)
        }
    }

    /// Answer the requests whose entries are applied, lost with a term change, or past their
    /// deadline (when `expired`).
    mutating func check(expired: Bool, _ node: some PartitionContext) -> [KafkaAction] {
        guard !pending.isEmpty else { return [] }
        for n in pending.indices {
            for k in pending[n].parts.indices where pending[n].parts[k].result == nil {
                let part = pending[n].parts[k]
                guard let g = node.group(part.group) else {
                    pending[n].parts[k].result = Self.failed(part.partition, .notLeaderOrFollower)
                    continue
                }
                let (role, termAt) = g.withRaft { ($0.role, $0.term(at: part.index)) }
                if let termAt, termAt != part.term {
                    pending[n].parts[k].result = Self.failed(part.partition, .notLeaderOrFollower)
                } else if g.state.appliedIndex >= part.index {
                    pending[n].parts[k].result = .init(partitionIndex: part.partition, lowWatermark: Int64(g.recordsDeletedBelow), errorCode: .none)
                } else if role != .leader {
                    pending[n].parts[k].result = Self.failed(part.partition, .notLeaderOrFollower)
                } else if expired && node.ticks >= pending[n].deadlineTick {
                    pending[n].parts[k].result = Self.failed(part.partition, .requestTimedOut)
                }
            }
        }
        return pending.takeAnswered({ $0.parts.allSatisfy { $0.result != nil } }, answer: Self.answer)
    }

    private static func failed(_ partition: Int32, _ code: ErrorCode) -> DeleteRecordsResponse.DeleteRecordsPartitionResult {
        .init(partitionIndex: partition, lowWatermark: -1, errorCode: code)
    }

    private static func answer(_ p: PendingDeleteRecords) -> KafkaCompletion {
        var topics: [DeleteRecordsResponse.DeleteRecordsTopicResult] = []
        for part in p.parts {
            if let k = topics.firstIndex(where: { $0.name == part.topic }) {
                topics[k].partitions.append(part.result!)
            } else {
                topics.append(.init(name: part.topic, partitions: [part.result!]))
            }
        }
        return p.request.answer(DeleteRecordsResponse(topics: topics))
    }
}
