import Broker
import KafkaProtocol
import Primitives
import Raft
import Testing

/// `PeerPacket.senderProblem`: the one check, shared by the peer link and the peer-packet fuzz
/// target, that a node speaks only for itself.
struct PeerPacketSenderTests {
    func raft(from: NodeID) -> PeerPacket {
        .raft([PeerEnvelope(group: GroupID(1), message: Message(kind: .heartbeat, from: from, to: 1, term: Term(2)))])
    }

    @Test("from the certificate's node every kind passes; claiming another node is named")
    func speaksForItself() {
        let peer: NodeID = 2
        let fine: [PeerPacket] = [
            .hello(node: 2, cluster: "c", version: PeerPacket.version), raft(from: 2), .raft([]),
            .forward(.registerBroker(BrokerRegistration(node: 2, host: "h", kafkaPort: 9092))),
            .forward(.allocateProducerIDs(node: 2, nonce: 1)), .forward(.createTopic(name: "t", partitions: 1, replicationFactor: 1)),
            .forward(.announceNode(PeerRegistration(node: 2, host: "h", port: 9192))), .forward(.removeNode(3)),
            .leaders([LeaderHint(group: GroupID(5), leader: 2, term: Term(4))]),
            .repair(.request(group: GroupID(5), from: 2, range: LogIndex(1)...LogIndex(2))), .repair(.entries(group: GroupID(5), [])),
            .alive(run: 1),
            .transaction(.write(request: 7, from: 2, group: GroupID(5), producerID: 9, mark: TransactionMark(epoch: 1, sequence: 3), action: .abort)),
            .transaction(.written(request: 7, group: GroupID(5), error: .notLeaderOrFollower)),
        ]
        for p in fine { #expect(p.senderProblem(peer: peer) == nil, "\(p.kindName)") }
        let claims: [(PeerPacket, String)] = [
            (raft(from: 3), "messages claiming another sender"),
            (.forward(.registerBroker(BrokerRegistration(node: 3, host: "h", kafkaPort: 9092))), "broker registration for another node"),
            (.forward(.allocateProducerIDs(node: 1, nonce: 1)), "producer ids for another node"),
            (.forward(.announceNode(PeerRegistration(node: 4, host: "h", port: 9192))), "peer address for another node"),
            (.leaders([LeaderHint(group: GroupID(5), leader: 2, term: Term(4)), LeaderHint(group: GroupID(6), leader: 3, term: Term(4))]),
             "leadership claimed for another node"),
            (.repair(.request(group: GroupID(5), from: 3, range: LogIndex(1)...LogIndex(2))), "repair request for another node"),
            (.transaction(.write(request: 7, from: 3, group: GroupID(5), producerID: 9, mark: TransactionMark(epoch: 1, sequence: 3), action: .commit)),
             "transaction write for another node"),
        ]
        for (p, problem) in claims { #expect(p.senderProblem(peer: peer) == problem) }
    }

    @Test("transaction messages survive the codec; an unknown action, a negative producer id or an epoch beyond a short is a malformed frame")
    func transactionMessages() throws {
        let write = PeerPacket.transaction(
            .write(request: 1 << 40, from: 2, group: GroupID(5), producerID: 9, mark: TransactionMark(epoch: 32766, sequence: -1), action: .begin))
        let written = PeerPacket.transaction(.written(request: 3, group: GroupID(6), error: .producerFenced))
        for p in [write, written] { #expect(try PeerPacket.decode(p.encode()) == p) }
        // The write's layout after the frame's checksum and kind (little-endian, as `ByteWriter`
        // writes): u8 1, u64 request, u32 from, u32 group, u64 producer, u32 epoch, u32
        // sequence, u8 action.
        func mutated(_ p: PeerPacket, at offset: Int, _ bytes: [UInt8]) -> [UInt8] {
            var b = p.encode()
            b.replaceSubrange((5 + offset)..<(5 + offset + bytes.count), with: bytes)
            let crc = b.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[4...])) }
            for i in 0..<4 { b[i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
            return b
        }
        let bad: [[UInt8]] = [
            mutated(write, at: 33, [9]),  // action 9
            mutated(write, at: 17, [9, 0, 0, 0, 0, 0, 0, 0x80]),  // producer id < 0
            mutated(write, at: 25, [0, 0, 1, 0]),  // epoch 65536
        ]
        for b in bad {
            #expect(throws: PeerPacket.DecodeError.self) { try PeerPacket.decode(b) }
        }
    }
}
