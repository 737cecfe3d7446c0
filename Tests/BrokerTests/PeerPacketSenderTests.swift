import Broker
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
        ]
        for (p, problem) in claims { #expect(p.senderProblem(peer: peer) == problem) }
    }
}
