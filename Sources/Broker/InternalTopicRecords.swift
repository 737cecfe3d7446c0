import KafkaProtocol
import NIOCore
import Primitives
import Raft

/// The keyed records of an internal topic's partition (`__consumer_offsets`,
/// `__transaction_state`): how a committed entry's records are read, and how a store's live keys
/// travel in a snapshot. Both stores keep state that only the coordinator writes.
enum InternalTopicRecords {
    /// Append records to an internal partition this node leads (one batch, one Raft entry); nil
    /// when it cannot (a nearly full disk takes no coordinator writes: the client finds the next
    /// coordinator, or retries).
    /// `transactionalProducer`: a transaction's batch (TxnOffsetCommit), held until its marker.
    static func propose(
        _ records: [(key: [UInt8], value: [UInt8]?)], to g: NodeCore.Group, _ node: some PartitionContext,
        transactionalProducer: (id: Int64, epoch: Int16)? = nil
    ) -> (LogIndex, Term)? {
        var builder = RecordBatchBuilder()
        // Timestamps: the node has no wall clock here (determinism); nothing expires by them.
        for r in records { builder.append(key: r.key, value: r.value, timestamp: 0) }
        let term = g.withRaft { $0.term }
        let built = transactionalProducer.map { builder.build(producerID: $0.id, producerEpoch: $0.epoch, attributes: 0x10) } ?? builder.build()
        let batch = built.assigned(baseOffset: Int64(g.logEndOffset), leaderEpoch: Int32(truncatingIfNeeded: term.value))
        guard !node.diskFull, let at = try? node.propose(Array(batch.bytes.readableBytesView), to: g.id) else { return nil }
        return (at.index, at.term)
    }

    /// The records of a committed entry (one record batch); `what` names the topic in errors.
    static func records(ofEntry entryData: [UInt8], _ what: String) throws(WireError) -> [DecodedRecord] {
        do {
            return try RecordBatch(validating: ByteBuffer(bytes: KafkaEntry.batchBytes(entryData)), from: .log).decodedRecords()
        } catch {
            throw WireError.invalid("\(what) batch: \(error)")
        }
    }

    /// A snapshot section: the count, then each record's key and value.
    static func encode(_ records: [(key: [UInt8], value: [UInt8]?)], into w: inout ByteWriter) {
        w.u32(UInt32(records.count))
        for r in records {
            w.blob(r.key)
            w.blob(r.value ?? [])
        }
    }

    /// Read a section `encode` wrote, giving each record to `apply`.
    static func decode(_ r: inout ByteReader, apply: (_ key: [UInt8], _ value: [UInt8]) throws(WireError) -> Void) throws(WireError) {
        let n = try r.count(minItemBytes: 8)
        for _ in 0..<n {
            let key = try r.blob()
            let value = try r.blob()
            try apply(key, value)
        }
    }
}
