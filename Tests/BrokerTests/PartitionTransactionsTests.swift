@testable import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Testing

/// A partition's view of transactions, as every replica derives it from the log.
struct PartitionTransactionsTests {
    let m1 = TransactionMark(epoch: 0, sequence: 1)
    let m2 = TransactionMark(epoch: 0, sequence: 2)

    @Test("a transaction opens with its begin, holds the last stable offset at its first record, and its marker ends it")
    func openAndEnd() {
        var t = PartitionTransactions()
        #expect(!t.mayWrite(7, epoch: 0), "no batch before the coordinator added the partition")
        t.begin(7, m1)
        #expect(t.mayWrite(7, epoch: 0) && !t.mayWrite(7, epoch: 1) && !t.mayWrite(8, epoch: 0))
        #expect(t.lastStableOffset(highWatermark: 10) == 10, "nothing written yet")
        t.appended(7, epoch: 0, baseOffset: 10)
        t.appended(7, epoch: 0, baseOffset: 12)
        #expect(t.lastStableOffset(highWatermark: 15) == 10)
        t.end(7, m1, commit: true, offset: 15)
        #expect(t.lastStableOffset(highWatermark: 16) == 16 && t.aborted.isEmpty)
        #expect(!t.mayWrite(7, epoch: 0), "a zombie batch after the marker is refused")
    }

    @Test("an aborted transaction is listed from its first record to its marker")
    func aborted() {
        var t = PartitionTransactions()
        t.begin(7, m1)
        t.appended(7, epoch: 0, baseOffset: 3)
        t.begin(9, TransactionMark(epoch: 4, sequence: 1))
        t.appended(9, epoch: 4, baseOffset: 5)
        #expect(t.lastStableOffset(highWatermark: 8) == 3)
        t.end(7, m1, commit: false, offset: 8)
        #expect(t.lastStableOffset(highWatermark: 9) == 5, "the other producer's transaction is still open")
        #expect(t.aborted == [.init(producerID: 7, firstOffset: 3, lastOffset: 8)])
        #expect(t.aborted(from: 0, upTo: 3).isEmpty && t.aborted(from: 8, upTo: 20).count == 1 && t.aborted(from: 9, upTo: 20).isEmpty)
        // DeleteRecords past its marker: forgotten; one still holding records stays.
        t.trim(below: 8)
        #expect(t.aborted.count == 1)
        t.trim(below: 9)
        #expect(t.aborted.isEmpty)
    }

    @Test("late messages are fenced: a marker or begin of an ended transaction changes nothing (KAFKA-17754)")
    func lateMessagesFenced() {
        var t = PartitionTransactions()
        t.begin(7, m1)
        t.appended(7, epoch: 0, baseOffset: 0)
        t.end(7, m1, commit: true, offset: 1)
        t.begin(7, m2)
        t.appended(7, epoch: 0, baseOffset: 2)
        // A delayed duplicate of the first transaction's commit marker must not end the second.
        #expect(!t.mayEnd(7, m1))
        t.end(7, m1, commit: true, offset: 3)
        #expect(t.lastStableOffset(highWatermark: 4) == 2 && t.mayWrite(7, epoch: 0))
        // A delayed begin of the first cannot reopen it.
        t.end(7, m2, commit: false, offset: 4)
        #expect(!t.mayBegin(7, m1) && !t.mayBegin(7, m2))
        t.begin(7, m2)
        #expect(!t.mayWrite(7, epoch: 0))
        // A fenced abort (the epoch raised for the same transaction) ends an open one.
        let m3 = TransactionMark(epoch: 0, sequence: 3)
        t.begin(7, m3)
        t.appended(7, epoch: 0, baseOffset: 5)
        t.end(7, TransactionMark(epoch: 1, sequence: 3), commit: false, offset: 6)
        #expect(!t.mayWrite(7, epoch: 0) && t.aborted.last == .init(producerID: 7, firstOffset: 5, lastOffset: 6))
    }

    @Test("a partition's transactions travel in its snapshot, after the DeleteRecords floor")
    func snapshot() throws {
        var t = PartitionTransactions()
        t.begin(7, m1)
        t.appended(7, epoch: 0, baseOffset: 3)
        t.begin(9, m2)
        t.end(9, m2, commit: false, offset: 2)
        var w = ByteWriter()
        t.encode(&w)
        var r = ByteReader(w.bytes)
        #expect(try PartitionTransactions.decode(&r) == t && r.remaining == 0)
        // Through a partition's snapshot.
        let raft = try RaftNode(config: RaftConfig(id: 1, initialMembership: Membership(voters: [1])))
        let g = NodeCore.Group(id: GroupID(7), raft: raft, isKafkaPartition: true)
        g.apply(Entry(term: 1, index: 1, data: KafkaEntry.transactionBegin(producerID: 7, m1)))
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: [1], timestamp: 0)
        g.apply(Entry(term: 1, index: 2, data: Array(builder.build(producerID: 7, producerEpoch: 0, baseSequence: 0, attributes: 0x10).bytes.readableBytesView)))
        #expect(g.transactions.lastStableOffset(highWatermark: 1) == 0)
        let state = try NodeCore.Group.decodeKafkaState(g.snapshotData, internal: nil)
        #expect(state.transactions == g.transactions && state.recordsDeletedBelow == 0)
    }

    @Test("a marker is a control batch whose one record says commit or abort; applied, it ends the transaction and fences older epochs")
    func marker() throws {
        let batch = ControlRecord(commit: false, coordinatorEpoch: 42).batch(producerID: 7, producerEpoch: 3, timestamp: 5)
        #expect(batch.isControl && batch.isTransactional && batch.producerID == 7 && batch.producerEpoch == 3)
        #expect(ControlRecord.of(batch) == ControlRecord(commit: false, coordinatorEpoch: 42))
        let raft = try RaftNode(config: RaftConfig(id: 1, initialMembership: Membership(voters: [1])))
        let g = NodeCore.Group(id: GroupID(7), raft: raft, isKafkaPartition: true)
        g.apply(Entry(term: 1, index: 1, data: KafkaEntry.transactionBegin(producerID: 7, TransactionMark(epoch: 2, sequence: 42))))
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: [1], timestamp: 0)
        g.apply(Entry(term: 1, index: 2, data: Array(builder.build(producerID: 7, producerEpoch: 2, baseSequence: 0, attributes: 0x10).bytes.readableBytesView)))
        let placed = batch.assigned(baseOffset: 1, leaderEpoch: 1)
        g.apply(Entry(term: 1, index: 3, data: Array(placed.bytes.readableBytesView)))
        #expect(g.transactions.aborted == [.init(producerID: 7, firstOffset: 0, lastOffset: 1)])
        #expect(g.state.nextOffset == 2, "the marker takes an offset")
        #expect(g.producers.check(producerID: 7, epoch: 2, firstSequence: 1, lastSequence: 1) == .reject(.invalidProducerEpoch), "epoch 3 fenced epoch 2")
    }
}
