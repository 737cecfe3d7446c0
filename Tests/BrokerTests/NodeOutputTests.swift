@testable import Broker
import Primitives
@testable import Raft
import Testing

/// `NodeOutput.dispatch`: the one interpreter of a core's output (runtime, simulator, tests).
struct NodeOutputTests {
    /// Records each call, in order.
    final class Recorder: NodeOutputHandler {
        var calls: [String] = []
        var frames: [[PeerEnvelope]] = []

        func sendRaft(_ envelopes: [PeerEnvelope], to peer: NodeID) {
            calls.append("raft \(peer.value) \(envelopes.count)")
            frames.append(envelopes)
        }
        func sendForward(_ command: ControllerCommand, to peer: NodeID) { calls.append("forward \(peer.value)") }
        func sendRepair(_ message: RepairMessage, to peer: NodeID) { calls.append("repair \(peer.value)") }
        func sendTransaction(_ message: TransactionPartitionMessage, to peer: NodeID) { calls.append("transaction \(peer.value)") }
        func sendLeaders(_ hints: [LeaderHint]) { calls.append("leaders \(hints.count)") }
        func completeKafka(_ completion: KafkaCompletion) { calls.append("kafka \(completion.sequence)") }
        func logNotice(_ line: String) { calls.append("notice \(line)") }
        func reportDamage(_ report: StorageDamageReport) { calls.append("damage \(report.group.value)") }
        func reportRejected(_ message: RejectedMessage, group: GroupID) { calls.append("rejected \(group.value)") }
        func runRead(_ read: StorageRead) { calls.append("read \(read.token)") }
        func runBatch(_ batch: StorageBatch) { calls.append("batch \(batch.token)") }
        func sendKeepalive(to peer: NodeID) { calls.append("keepalive \(peer)") }
    }

    static func envelope(to: NodeID, bytes: Int = 0) -> PeerEnvelope {
        var m = Message(kind: .append, from: 1, to: to, term: 1, logTerm: 1, index: 1)
        if bytes > 0 { m.entries = [Entry(term: 1, index: 2, data: [UInt8](repeating: 7, count: bytes))] }
        return PeerEnvelope(group: GroupID(1), message: m)
    }

    /// An output with every effect set once.
    static func full() -> NodeOutput {
        var out = NodeOutput()
        out.messages = [(NodeID(2), [envelope(to: 2), envelope(to: 2)]), (NodeID(3), [envelope(to: 3)])]
        out.storage = StorageBatch(token: 9, operations: [])
        out.forwards = [(NodeID(3), .deleteTopic(name: "t"))]
        out.kafkaReplies = [KafkaCompletion(connection: 1, sequence: 4, response: nil)]
        out.leaders = [LeaderHint(group: GroupID(1), leader: 1, term: 1)]
        out.reads = [StorageRead(token: 5, purpose: .kafkaFetch, group: GroupID(1), offset: 0, maxBytes: 1, through: LogIndex(1))]
        out.repairs = [(NodeID(2), .request(group: GroupID(1), from: 1, range: LogIndex(1)...LogIndex(2)))]
        out.notices = ["hello"]
        out.damage = [StorageDamageReport(kind: .found, group: GroupID(1), range: LogIndex(1)...LogIndex(1), path: "p")]
        out.rejected = [(GroupID(1), RejectedMessage(from: 2, kind: .append, term: 1, reason: "r"))]
        return out
    }

    @Test("every effect is carried out once, in one order: reads before the storage batch")
    func order() {
        let r = Recorder()
        let out = Self.full()
        #expect(!out.isEmpty)
        out.dispatch(to: r)
        #expect(r.calls == [
            "rejected 1", "raft 2 2", "raft 3 1", "forward 3", "repair 2", "damage 1", "notice hello", "kafka 4", "leaders 1",
            "read 5", "batch 9",
        ])
        #expect(NodeOutput().isEmpty)
    }

    @Test("Raft messages for one peer beyond a frame's limit go out as several frames, in order")
    func framesSplit() {
        let r = Recorder()
        var out = NodeOutput()
        // Three envelopes of 30 MiB each: no two fit one 64 MiB frame.
        let big = (0..<3).map { _ in Self.envelope(to: 2, bytes: 30 << 20) }
        out.messages = [(NodeID(2), big)]
        out.dispatch(to: r)
        #expect(r.frames.map(\.count) == [2, 1] || r.frames.map(\.count) == [1, 1, 1])
        #expect(r.frames.allSatisfy { PeerMessageCodec.encodedBytesBound($0) <= PeerPacket.raftFrameBoundMax })
        #expect(r.frames.flatMap { $0 }.count == 3)
    }

    @Test("append merges messages by destination and keeps every other effect")
    func append() {
        var a = NodeOutput()
        a.messages = [(NodeID(3), [Self.envelope(to: 3)])]
        a.notices = ["first"]
        var b = Self.full()
        b.notices = ["second"]
        a.append(b)
        #expect(a.messages.map { $0.0 } == [2, 3])
        #expect(a.messages.map { $0.1.count } == [2, 2])
        #expect(a.notices == ["first", "second"])
        #expect(a.storage?.token == 9 && a.leaders?.count == 1 && a.rejected.count == 1 && a.reads.count == 1)
        #expect(a.forwards.count == 1 && a.repairs.count == 1 && a.damage.count == 1 && a.kafkaReplies.count == 1)
    }
}
