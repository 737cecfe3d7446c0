import Broker
import KafkaProtocol
import Raft
import Testing

/// Kafka's idempotence rules (notes §4), one by one.
struct ProducerStateTests {
    func state(_ batches: [(Int32, Int32, Int64)], epoch: Int16 = 0, pid: Int64 = 7) -> ProducerState {
        var s = ProducerState()
        for (first, last, offset) in batches {
            s.record(producerID: pid, epoch: epoch, firstSequence: first, lastSequence: last, baseOffset: offset)
        }
        return s
    }

    @Test("an unknown producer may start at any sequence; a non-idempotent batch is always appended")
    func unknown() {
        let s = ProducerState()
        #expect(s.check(producerID: 7, epoch: 0, firstSequence: 42, lastSequence: 44) == .append)
        #expect(state([(0, 4, 0)]).check(producerID: -1, epoch: -1, firstSequence: -1, lastSequence: -1) == .append)
    }

    @Test("the next sequence is appended; a retry of any of the last five batches is a duplicate with its original offset")
    func duplicates() {
        let s = state([(0, 1, 10), (2, 2, 12), (3, 5, 13), (6, 6, 16), (7, 8, 17)])
        #expect(s.check(producerID: 7, epoch: 0, firstSequence: 9, lastSequence: 9) == .append)
        #expect(s.check(producerID: 7, epoch: 0, firstSequence: 3, lastSequence: 5) == .duplicate(baseOffset: 13))
        #expect(s.check(producerID: 7, epoch: 0, firstSequence: 0, lastSequence: 1) == .duplicate(baseOffset: 10))
    }

    @Test("only five batches are remembered; an older retry gets DUPLICATE_SEQUENCE_NUMBER (success to clients), a gap OUT_OF_ORDER")
    func window() {
        let s = state([(0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4), (5, 5, 5)])
        #expect(s.producers[7]?.batches.count == 5)
        #expect(s.check(producerID: 7, epoch: 0, firstSequence: 0, lastSequence: 0) == .reject(.duplicateSequenceNumber))
        #expect(s.check(producerID: 7, epoch: 0, firstSequence: 1, lastSequence: 1) == .duplicate(baseOffset: 1))
        #expect(s.check(producerID: 7, epoch: 0, firstSequence: 8, lastSequence: 8) == .reject(.outOfOrderSequenceNumber))
    }

    @Test("a stale epoch is INVALID_PRODUCER_EPOCH; a bumped epoch must start at 0 and then resets the window")
    func epochs() {
        var s = state([(0, 3, 0)], epoch: 2)
        #expect(s.check(producerID: 7, epoch: 1, firstSequence: 4, lastSequence: 4) == .reject(.invalidProducerEpoch))
        #expect(s.check(producerID: 7, epoch: 3, firstSequence: 4, lastSequence: 4) == .reject(.outOfOrderSequenceNumber))
        #expect(s.check(producerID: 7, epoch: 3, firstSequence: 0, lastSequence: 0) == .append)
        s.record(producerID: 7, epoch: 3, firstSequence: 0, lastSequence: 0, baseOffset: 4)
        #expect(s.producers[7] == .init(epoch: 3, batches: [.init(firstSequence: 0, lastSequence: 0, baseOffset: 4)]))
    }

    @Test("sequences wrap from Int32.max to 0")
    func wrap() {
        #expect(ProducerState.lastSequence(first: Int32.max - 1, count: 3) == 0)
        #expect(ProducerState.lastSequence(first: 5, count: 1) == 5)
        let s = state([(Int32.max - 1, Int32.max, 0)])
        #expect(s.check(producerID: 7, epoch: 0, firstSequence: 0, lastSequence: 3) == .append)
    }

    @Test("the state survives its snapshot encoding, and a hostile count is refused")
    func snapshot() throws {
        var s = state([(0, 1, 10), (2, 2, 12)], epoch: 1, pid: 3)
        s.record(producerID: 9, epoch: 0, firstSequence: 0, lastSequence: 0, baseOffset: 13)
        var w = ByteWriter()
        s.encode(&w)
        var r = ByteReader(w.bytes)
        #expect(try ProducerState.decode(&r) == s)
        var bad = ByteWriter()
        bad.u32(UInt32.max)
        var rb = ByteReader(bad.bytes)
        #expect(throws: WireError.self) { _ = try ProducerState.decode(&rb) }
    }
}
