import KafkaProtocol
import NIOCore
import Primitives
import Raft

/// A Produce waiting for its batches to be committed (acks=all) or durable on the leader (acks=1).
struct PendingProduce {
    struct Part {
        var topic: String
        var partition: Int32
        var group: GroupID
        /// The Raft index of this partition's last batch, and the term it was proposed in.
        var lastIndex: LogIndex
        var term: Term
        var baseOffset: Int64
        /// The leader's append time of a LogAppendTime topic's batches; -1 for CreateTime.
        var logAppendTimeMs: Int64 = -1
        var result: ProduceResponse.PartitionProduceResponse?
        /// A producer check's refusal read from this leader's log (a sequence gap, an old retry, a
        /// stale epoch), answered only once a leadership round begun after it confirms the log
        /// held every committed entry then; a deposed leader that has not noticed yet would answer
        /// from a stale log (simulator seed 3205: OUT_OF_ORDER_SEQUENCE_NUMBER for a batch whose
        /// predecessors the new leader had committed).
        var heldRefusal: (code: ErrorCode, round: UInt64, term: Term)?
    }

    var request: KafkaRequest
    var version: Int16
    var acks: Int16
    var parts: [Part]
    var deadlineTick: UInt64
}

/// What the produce subsystem reads of its node and does there: its partitions' Raft groups,
/// and proposals to the ones it leads.
protocol PartitionContext: NodeContext {
    /// A nearly full data disk takes no Kafka writes.
    var diskFull: Bool { get }
    func group(_ g: GroupID) -> NodeCore.Group?
    /// Wall-clock ms since the epoch, injected (`NodeCore.clockMs`).
    var nowMs: Int64 { get }
    /// Propose to a group this node leads (its output is drained with the request's).
    func propose(_ data: [UInt8], to g: GroupID) throws(RaftError) -> (index: LogIndex, term: Term)
    /// A token for a new storage read.
    func takeReadToken() -> UInt64
    /// Start a leadership round on a group this node leads (`RaftNode.confirmLeadership`); nil
    /// when it does not lead it.
    func confirmLeadership(of g: GroupID) -> UInt64?
}

extension NodeCore: PartitionContext {
    var nowMs: Int64 { clockMs() }
}

/// Produce: validates batches, assigns offsets and proposes them on the partitions' leaders, and
/// owns the requests waiting for their batches to be committed (acks=all) or durable (acks=1).
struct ProduceService {
    /// Largest batch accepted (Kafka's `message.max.bytes` default, 1 MiB plus overhead).

    private var pending: [PendingProduce] = []

    var isEmpty: Bool { pending.isEmpty }

    mutating func produce(_ p: ProduceRequest, _ request: KafkaRequest, _ node: some PartitionContext) -> [KafkaAction] {
        let version = request.header.apiVersion
        var waiting = PendingProduce(
            request: request, version: version, acks: p.acks, parts: [],
            deadlineTick: node.ticks + node.config.ticks(milliseconds: Int(p.timeoutMs)))
        for t in p.topicData {
            // Looked up once per topic: its max.message.bytes (its own, the cluster's, or Kafka's default).
            let topic = node.controller.topic(t.name)
            let maxBatch = topic.flatMap { node.controller.config("max.message.bytes", of: $0) }.flatMap { Int($0) } ?? BrokerLimits.batchBytesMax
            let compacted = topic.flatMap { CompactionPolicy.of($0, in: node.controller) } != nil
            let appendTime = topic.flatMap { node.controller.config("message.timestamp.type", of: $0) } == "LogAppendTime"
            for part in t.partitionData {
                var entry = PendingProduce.Part(
                    topic: t.name, partition: part.index, group: GroupID(0), lastIndex: .zero, term: .zero, baseOffset: -1, result: nil)
                func fail(_ e: ErrorCode, _ message: String? = nil) {
                    entry.result = .failed(part.index, e, message)
                }
                if ![-1, 0, 1].contains(p.acks) {
                    fail(.invalidRequiredAcks, "acks must be -1, 0 or 1, not \(p.acks)")
                } else if InternalTopic.isInternal(t.name) {
                    // Only a coordinator writes there: a client's records could forge commits or
                    // transactions.
                    fail(.invalidTopic, "\(t.name) is internal")
                } else if let assignment = topic?.partitions.first(where: { $0.partition == part.index }) {
                    entry.group = assignment.group
                    Self.append(part.records, to: assignment.group, maxBatchBytes: maxBatch, compacted: compacted,
                                appendTimeMs: appendTime ? node.nowMs : nil, into: &entry, node)
                } else {
                    fail(.unknownTopicOrPartition)
                }
                waiting.parts.append(entry)
            }
        }
        // acks=0: no answer, but the connection's order moves on.
        if p.acks == 0 { return [.complete(KafkaCompletion(connection: request.connection, sequence: request.sequence, response: nil))] }
        pending.append(waiting)
        return check(expired: false, node)
    }

    /// Validate a partition's batches and propose them in order on its leader, assigning offsets.
    /// Why a compacted topic cannot take this batch, if it cannot: a record without a key (Kafka's
    /// words), or a compressed batch, whose keys the broker cannot check or clean since it never
    /// decompresses.
    static func compactionProblem(_ b: RecordBatch) -> String? {
        guard !b.isControl else { return nil }
        guard b.compression == 0 else {
            return "Compacted topic cannot accept a compressed batch: Rill does not decompress, so it could neither check nor compact its keys; produce with compression.type=none"
        }
        guard let spans = try? b.recordSpans() else { return "records of the batch do not parse" }
        return spans.contains { $0.key == nil } ? "Compacted topic cannot accept message without key" : nil
    }

    private static func append(
        _ records: ByteBuffer?, to gid: GroupID, maxBatchBytes: Int, compacted: Bool, appendTimeMs: Int64?,
        into part: inout PendingProduce.Part, _ node: some PartitionContext
    ) {
        func fail(_ e: ErrorCode, _ message: String? = nil) {
            part.result = .failed(part.partition, e, message)
        }
        guard let g = node.group(gid) else { return fail(.notLeaderOrFollower, "this node does not replicate the partition") }
        let (role, term) = g.withRaft { ($0.role, $0.term) }
        guard role == .leader else { return fail(.notLeaderOrFollower) }
        // Retriable for clients (Java and librdkafka refresh metadata and retry): leadership is
        // being handed to a replica with space.
        guard !node.diskFull else { return fail(.kafkaStorageError, "the data disk of node \(node.config.id) is nearly full") }
        guard let records, records.readableBytes > 0 else { return fail(.corruptMessage, "no records") }
        let batches: [RecordBatch]
        do {
            batches = try RecordBatch.batches(in: records)
        } catch {
            return fail(.corruptMessage, "\(error)")
        }
        if let big = batches.first(where: { $0.bytes.readableBytes > maxBatchBytes }) {
            return fail(.messageTooLarge, "batch of \(big.bytes.readableBytes) bytes exceeds the topic's max.message.bytes, \(maxBatchBytes)")
        }
        // Kafka's rule: commit and abort markers are the broker's to write.
        if batches.contains(where: \.isControl) { return fail(.invalidRecord, "Clients are not allowed to write control records") }
        if batches.contains(where: \.isTransactional) {
            // Without the coordinator a transactional batch would stay open with nothing to end it.
            guard node.config.servesTransactions else {
                return fail(.invalidRecord, "a transactional batch: Rill does not support transactions yet; produce without transactional.id")
            }
            // Only in a transaction its coordinator began here (KIP-890's verification, by the
            // begin entry): a zombie's batch after the marker, or one for a partition never
            // added, would leave a transaction open that no coordinator knows of. Judged over the
            // whole log, so a marker in flight closes the transaction already.
            let view = g.transactionsView
            if let b = batches.first(where: { $0.isTransactional && !view.mayWrite($0.producerID, epoch: $0.producerEpoch) }) {
                return fail(.invalidTxnState, "producer \(b.producerID) epoch \(b.producerEpoch) has no transaction open in this partition (add it with AddPartitionsToTxn first)")
            }
        }
        if compacted, let problem = batches.lazy.compactMap(Self.compactionProblem).first {
            return fail(.invalidRecord, problem)
        }
        var offset = g.logEndOffset
        part.baseOffset = Int64(offset)
        part.term = term
        for (k, b) in batches.enumerated() {
            if b.producerID >= 0 {
                let last = ProducerState.lastSequence(first: b.baseSequence, count: b.lastOffsetDelta + 1)
                var verdict = g.producerVerdict(producerID: b.producerID, epoch: b.producerEpoch, first: b.baseSequence, last: last)
                if case .reject(let code) = verdict, node.config.plantedBug?.appends(despite: code) == true { verdict = .append }
                switch verdict {
                case .append:
                    break
                case .duplicate(let original, let pending):
                    // Already written: never again. Answer with where it went, once it is committed.
                    if k == 0 { part.baseOffset = original }
                    if let pending {
                        part.lastIndex = max(part.lastIndex, pending.index)
                        part.term = pending.term
                    } else if k == batches.count - 1 && part.lastIndex == .zero {
                        part.result = .init(index: part.partition, errorCode: .none, baseOffset: part.baseOffset,
                                            logStartOffset: Int64(g.logStartOffset))
                    }
                    continue
                case .reject(let code):
                    guard let round = node.confirmLeadership(of: gid) else { return fail(.notLeaderOrFollower) }
                    part.heldRefusal = (code, round, term)
                    return
                }
            }
            var assigned = b.assigned(baseOffset: Int64(offset), leaderEpoch: Int32(truncatingIfNeeded: term.value))
            if let appendTimeMs {
                // LogAppendTime: stamped once, here, so every replica stores the same bytes.
                assigned = assigned.stampedLogAppendTime(appendTimeMs)
                part.logAppendTimeMs = appendTimeMs
            }
            do {
                let at = try node.propose(Array(assigned.bytes.readableBytesView), to: gid)
                part.lastIndex = at.index
                part.term = term
            } catch {
                return fail(.notLeaderOrFollower, "\(error)")
            }
            offset += UInt64(b.lastOffsetDelta) + 1
        }
    }

    /// Answer produces whose batches are committed and applied (acks=all) or durable here (acks=1), lost with
    /// a term change, or past their deadline (when `expired`).
    mutating func check(expired: Bool, _ node: some PartitionContext) -> [KafkaAction] {
        guard !pending.isEmpty else { return [] }
        for n in pending.indices {
            for k in pending[n].parts.indices where pending[n].parts[k].result == nil {
                let part = pending[n].parts[k]
                guard let g = node.group(part.group) else {
                    pending[n].parts[k].result = .failed(part.partition, .notLeaderOrFollower)
                    continue
                }
                if let held = part.heldRefusal {
                    let (role, term, confirmed) = g.withRaft { ($0.role, $0.term, $0.leadershipConfirmed(held.round)) }
                    if role != .leader || term != held.term {
                        pending[n].parts[k].result = .failed(part.partition, .notLeaderOrFollower, "leadership lost")
                    } else if confirmed {
                        pending[n].parts[k].result = .failed(part.partition, held.code)
                    } else if expired && node.ticks >= pending[n].deadlineTick {
                        pending[n].parts[k].result = .failed(part.partition, .requestTimedOut, "leadership not confirmed in time")
                    }
                    continue
                }
                let (role, persisted, termAt) = g.withRaft { ($0.role, $0.persistedIndex, $0.term(at: part.lastIndex)) }
                if let termAt, termAt != part.term {
                    // Another leader's entry took the index: this batch is gone; the client retries.
                    pending[n].parts[k].result = .failed(part.partition, .notLeaderOrFollower, "leader changed")
                    continue
                }
                // acks=all: applied, not merely committed: Fetch and ListOffsets read the high
                // watermark from the applied state, so an acknowledged record is visible at once.
                let acksAll = pending[n].acks == -1 && node.config.plantedBug != .ackOnAppend
                let done = acksAll ? g.state.appliedIndex >= part.lastIndex : persisted >= part.lastIndex && role == .leader
                if done {
                    pending[n].parts[k].result = .init(index: part.partition, errorCode: .none, baseOffset: part.baseOffset,
                                                       logAppendTimeMs: part.logAppendTimeMs, logStartOffset: Int64(g.logStartOffset))
                } else if role != .leader {
                    pending[n].parts[k].result = .failed(part.partition, .notLeaderOrFollower, "leadership lost")
                } else if expired && node.ticks >= pending[n].deadlineTick {
                    pending[n].parts[k].result = .failed(part.partition, .requestTimedOut, "not committed in time")
                }
            }
        }
        return pending.takeAnswered({ $0.parts.allSatisfy { $0.result != nil } }, answer: Self.answer)
    }

    private static func answer(_ p: PendingProduce) -> KafkaCompletion {
        var topics: [ProduceResponse.TopicProduceResponse] = []
        for part in p.parts {
            if topics.last?.name != part.topic { topics.append(.init(name: part.topic)) }
            topics[topics.count - 1].partitionResponses.append(part.result!)
        }
        return p.request.answer(ProduceResponse(responses: topics))
    }
}


/// The partition operations produce needs, on the group itself.
extension NodeCore.Group {
    enum ProducerVerdict {
        case append
        /// Written before at `baseOffset`; `pending` when that entry is not applied yet.
        case duplicate(baseOffset: Int64, pending: (index: LogIndex, term: Term)?)
        case reject(ErrorCode)
    }

    /// A producer's batch against the partition's producers as of the whole Raft log: the applied
    /// state plus the unapplied tail (so a retry of a batch still in flight is caught, and a new
    /// leader needs no separate rebuild: its log is the truth).
    func producerVerdict(producerID: Int64, epoch: Int16, first: Int32, last: Int32) -> ProducerVerdict {
        let g = self
        var view = g.producers
        var tail: [(first: Int32, last: Int32, epoch: Int16, index: LogIndex, term: Term)] = []
        let applied = g.state.appliedIndex
        let end = g.withRaft { $0.lastIndex }
        var i = applied.next
        while i <= end {
            if let e = g.withRaft({ $0.entry(at: i) }), e.kind == .normal, let h = KafkaEntry.header(e.data), h.producerID == producerID {
                if h.isControl {
                    view.fence(producerID: producerID, epoch: h.producerEpoch)
                    i = i.next
                    continue
                }
                view.record(producerID: producerID, epoch: h.producerEpoch, firstSequence: h.baseSequence, lastSequence: h.lastSequence,
                            baseOffset: h.baseOffset)
                tail.append((h.baseSequence, h.lastSequence, h.producerEpoch, i, e.term))
            }
            i = i.next
        }
        switch view.check(producerID: producerID, epoch: epoch, firstSequence: first, lastSequence: last) {
        case .append: return .append
        case .reject(let code): return .reject(code)
        case .duplicate(let offset):
            let inFlight = tail.last { $0.first == first && $0.last == last && $0.epoch == epoch }
            return .duplicate(baseOffset: offset, pending: inFlight.map { ($0.index, $0.term) })
        }
    }

    /// The Kafka offset after the last entry of a group's Raft log (committed or not): where the
    /// leader's next batch starts. Applied records plus those of the unapplied tail.
    var logEndOffset: UInt64 {
        let g = self
        let applied = g.state.appliedIndex
        let last = g.withRaft { $0.lastIndex }
        var offset = g.state.nextOffset
        var i = applied.next
        while i <= last {
            if let e = g.withRaft({ $0.entry(at: i) }) { offset += g.records(e) }
            i = i.next
        }
        return offset
    }
}

extension ProduceResponse.PartitionProduceResponse {
    /// A partition's failure: no offset (-1, as Kafka answers), the code and why.
    static func failed(_ index: Int32, _ code: ErrorCode, _ message: String? = nil) -> Self {
        .init(index: index, errorCode: code, baseOffset: -1, errorMessage: message)
    }
}
