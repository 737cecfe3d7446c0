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
        var result: ProduceResponse.PartitionProduceResponse?
    }

    var request: KafkaRequest
    var version: Int16
    var acks: Int16
    var parts: [Part]
    var deadlineTick: UInt64
}

extension NodeCore {
    func produce(_ p: ProduceRequest, request: KafkaRequest) -> KafkaReply {
        let version = request.header.apiVersion
        var pending = PendingProduce(
            request: request, version: version, acks: p.acks, parts: [],
            deadlineTick: ticks + config.ticks(milliseconds: Int(p.timeoutMs)))
        for t in p.topicData {
            for part in t.partitionData {
                var entry = PendingProduce.Part(
                    topic: t.name, partition: part.index, group: GroupID(0), lastIndex: .zero, term: .zero, baseOffset: -1, result: nil)
                func fail(_ e: ErrorCode, _ message: String? = nil) {
                    entry.result = .failed(part.index, e, message)
                }
                if ![-1, 0, 1].contains(p.acks) {
                    fail(.invalidRequiredAcks, "acks must be -1, 0 or 1, not \(p.acks)")
                } else if t.name == offsetsTopic {
                    // Only the group coordinator writes there: a client's records could forge commits.
                    fail(.invalidTopic, "\(offsetsTopic) is internal")
                } else if let assignment = controller.topic(t.name)?.partitions.first(where: { $0.partition == part.index }) {
                    entry.group = assignment.group
                    append(part.records, to: assignment.group, into: &entry)
                } else {
                    fail(.unknownTopicOrPartition)
                }
                pending.parts.append(entry)
            }
        }
        if p.acks == 0 { return .noResponse }
        kafka.pendingProduces.append(pending)
        checkProduces(expired: false)
        // Answered already (errors only, or a one-node group): reply now, not through the queue.
        return takeReply(for: request)
    }

    /// Validate a partition's batches and propose them in order on its leader, assigning offsets.
    private func append(_ records: ByteBuffer?, to gid: GroupID, into part: inout PendingProduce.Part) {
        func fail(_ e: ErrorCode, _ message: String? = nil) {
            part.result = .failed(part.partition, e, message)
        }
        guard let g = group(gid) else { return fail(.notLeaderOrFollower, "this node does not replicate the partition") }
        let (role, term) = g.withRaft { ($0.role, $0.term) }
        guard role == .leader else { return fail(.notLeaderOrFollower) }
        // Retriable for clients (Java and librdkafka refresh metadata and retry): leadership is
        // being handed to a replica with space.
        guard !diskFull else { return fail(.kafkaStorageError, "the data disk of node \(config.id) is nearly full") }
        guard let records, records.readableBytes > 0 else { return fail(.corruptMessage, "no records") }
        let batches: [RecordBatch]
        do {
            batches = try RecordBatch.batches(in: records)
        } catch {
            return fail(.corruptMessage, "\(error)")
        }
        if let big = batches.first(where: { $0.bytes.readableBytes > BrokerLimits.batchBytesMax }) {
            return fail(.messageTooLarge, "batch of \(big.bytes.readableBytes) bytes exceeds \(BrokerLimits.batchBytesMax)")
        }
        var offset = logEndOffset(g)
        part.baseOffset = Int64(offset)
        part.term = term
        for (k, b) in batches.enumerated() {
            if b.producerID >= 0 {
                let last = ProducerState.lastSequence(first: b.baseSequence, count: b.lastOffsetDelta + 1)
                switch producerVerdict(g, producerID: b.producerID, epoch: b.producerEpoch, first: b.baseSequence, last: last) {
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
                    return fail(code)
                }
            }
            let assigned = b.assigned(baseOffset: Int64(offset), leaderEpoch: Int32(truncatingIfNeeded: term.value))
            do {
                let at = try g.raft.propose(Array(assigned.bytes.readableBytesView))
                part.lastIndex = at.index
                part.term = term
            } catch {
                return fail(.notLeaderOrFollower, "\(error)")
            }
            offset += UInt64(b.lastOffsetDelta) + 1
        }
        if let k = position(gid) { markTouched(k) }
    }

    enum ProducerVerdict {
        case append
        /// Written before at `baseOffset`; `pending` when that entry is not applied yet.
        case duplicate(baseOffset: Int64, pending: (index: LogIndex, term: Term)?)
        case reject(ErrorCode)
    }

    /// A producer's batch against the partition's producers as of the whole Raft log: the applied
    /// state plus the unapplied tail (so a retry of a batch still in flight is caught, and a new
    /// leader needs no separate rebuild: its log is the truth).
    func producerVerdict(_ g: Group, producerID: Int64, epoch: Int16, first: Int32, last: Int32) -> ProducerVerdict {
        var view = g.producers
        var tail: [(first: Int32, last: Int32, epoch: Int16, index: LogIndex, term: Term)] = []
        let applied = g.state.appliedIndex
        let end = g.withRaft { $0.lastIndex }
        var i = applied.next
        while i <= end {
            if let e = g.withRaft({ $0.entry(at: i) }), e.kind == .normal, let h = KafkaEntry.header(e.data), h.producerID == producerID {
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
    func logEndOffset(_ g: Group) -> UInt64 {
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

    /// Answer produces whose batches are committed (acks=all) or durable here (acks=1), lost with
    /// a term change, or past their deadline (when `expired`).
    func checkProduces(expired: Bool) {
        guard !kafka.pendingProduces.isEmpty else { return }
        var remaining: [PendingProduce] = []
        for var p in kafka.pendingProduces {
            for k in p.parts.indices where p.parts[k].result == nil {
                let part = p.parts[k]
                guard let g = group(part.group) else {
                    p.parts[k].result = .failed(part.partition, .notLeaderOrFollower)
                    continue
                }
                let (role, commit, persisted, termAt) = g.withRaft { ($0.role, $0.commitIndex, $0.persistedIndex, $0.term(at: part.lastIndex)) }
                if let termAt, termAt != part.term {
                    // Another leader's entry took the index: this batch is gone; the client retries.
                    p.parts[k].result = .failed(part.partition, .notLeaderOrFollower, "leader changed")
                    continue
                }
                let done = p.acks == -1 ? commit >= part.lastIndex : persisted >= part.lastIndex && role == .leader
                if done {
                    p.parts[k].result = .init(index: part.partition, errorCode: .none, baseOffset: part.baseOffset,
                                              logStartOffset: Int64(g.logStartOffset))
                } else if role != .leader {
                    p.parts[k].result = .failed(part.partition, .notLeaderOrFollower, "leadership lost")
                } else if expired && ticks >= p.deadlineTick {
                    p.parts[k].result = .failed(part.partition, .requestTimedOut, "not committed in time")
                }
            }
            if p.parts.allSatisfy({ $0.result != nil }) {
                kafka.completions.append(.init(connection: p.request.connection, sequence: p.request.sequence, response: produceResponse(p)))
            } else {
                remaining.append(p)
            }
        }
        kafka.pendingProduces = remaining
    }

    func produceResponse(_ p: PendingProduce) -> ByteBuffer {
        var topics: [ProduceResponse.TopicProduceResponse] = []
        for part in p.parts {
            if topics.last?.name != part.topic { topics.append(.init(name: part.topic)) }
            topics[topics.count - 1].partitionResponses.append(part.result!)
        }
        let response = ProduceResponse(responses: topics)
        return Self.frame(p.request.header) { response.encode(&$0, version: p.version) }
    }
}

extension ProduceResponse.PartitionProduceResponse {
    /// A partition's failure: no offset (-1, as Kafka answers), the code and why.
    static func failed(_ index: Int32, _ code: ErrorCode, _ message: String? = nil) -> Self {
        .init(index: index, errorCode: code, baseOffset: -1, errorMessage: message)
    }
}
