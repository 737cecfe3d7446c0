import Broker
import Primitives
import Raft

/// A peer packet as it arrives on a link from node 2: decoded (the input is the packet after its
/// checksum, which is computed here, so the fuzzer explores the body rather than the CRC), then
/// handed to node 1 of three the way the runtime does. A peer's message is input: whatever it
/// says, the node must answer or ignore it, never trap. A fresh node every 10,000 inputs.
enum PeerPacketTarget {
    nonisolated(unsafe) static var node: NodeCore?
    nonisolated(unsafe) static var used = 0

    /// True when the packet decoded.
    static func run(_ data: [UInt8]) -> Bool {
        var bytes: [UInt8] = [0, 0, 0, 0] + data
        let crc = bytes.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[4...])) }
        for i in 0..<4 { bytes[i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        guard let packet = try? PeerPacket.decode(bytes) else { return false }
        if node == nil || used >= 10_000 {
            node = KafkaRequestTarget.makeNode()
            used = 0
        }
        used += 1
        let n = node!
        // What the link (PeerChannelHandler) refuses before the node sees it: anything claiming
        // to come from another node than the certificate's (2), by the same check.
        guard packet.senderProblem(peer: 2) == nil else { return true }
        switch packet {
        case .hello: break
        case .raft(let envelopes): _ = n.receive(envelopes)
        case .forward(let command): _ = n.receiveForward(command)
        case .leaders(let hints): _ = n.receiveLeaders(hints)
        case .repair(let m): _ = n.receiveRepair(m)
        case .alive(let run): _ = n.heard(from: 2, run: run)
        case .transaction(let m): _ = n.receiveTransaction(m, from: 2)
        }
        if used % 50 == 0 { _ = n.tick() }
        return true
    }

    /// One packet of each kind, from the encoder.
    static func seeds() -> [[UInt8]] {
        let entry = Entry(term: Term(2), index: LogIndex(1), data: Array("x".utf8))
        let packets: [PeerPacket] = [
            .hello(node: 2, cluster: "rill", version: PeerPacket.version),
            .raft([
                PeerEnvelope(group: GroupID(0), message: Message(kind: .vote, from: 2, to: 1, term: Term(2), logTerm: Term(1), index: LogIndex(3))),
                PeerEnvelope(group: GroupID(0), message: Message(kind: .append, from: 2, to: 1, term: Term(2), logTerm: .zero, index: .zero,
                                                                 entries: [entry], commit: LogIndex(1))),
                PeerEnvelope(group: GroupID(0), message: Message(kind: .heartbeat, from: 2, to: 1, term: Term(2), commit: LogIndex(1), quiesce: true)),
            ]),
            .forward(.createTopic(name: "t", partitions: 3, replicationFactor: 3)),
            .leaders([LeaderHint(group: GroupID(5), leader: 2, term: Term(4))]),
            .repair(.request(group: GroupID(5), from: 2, range: LogIndex(1)...LogIndex(9))),
            .repair(.entries(group: GroupID(5), [entry])),
            .alive(run: 77),
            .transaction(.write(request: 9, from: 2, group: GroupID(5), producerID: 4, mark: TransactionMark(epoch: 1, sequence: 2), action: .commit)),
            .transaction(.written(request: 9, group: GroupID(5), error: .notLeaderOrFollower)),
        ]
        return packets.map { Array($0.encode().dropFirst(4)) }
    }
}
