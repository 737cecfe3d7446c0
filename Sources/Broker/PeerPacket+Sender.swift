import Primitives
import Raft

extension PeerPacket {
    /// Why this packet cannot have come from `peer`, the node the link's certificate (and hello)
    /// names, or nil when it may have. A node speaks only for itself: its own Raft messages, its
    /// own registration and producer-id block, the groups it leads, its own repair requests. The
    /// link (PeerChannelHandler) closes on any such packet; the peer-packet fuzz target drops it the
    /// same way, through this one function.
    public func senderProblem(peer: NodeID) -> String? {
        switch self {
        case .raft(let envelopes) where !envelopes.allSatisfy({ $0.message.from == peer }):
            return "messages claiming another sender"
        case .forward(.registerBroker(let b)) where b.node != peer:
            return "broker registration for another node"
        case .forward(.announceNode(let r)) where r.node != peer:
            return "peer address for another node"
        case .forward(.allocateProducerIDs(let node, _)) where node != peer:
            return "producer ids for another node"
        case .leaders(let hints) where !hints.allSatisfy({ $0.leader == peer }):
            return "leadership claimed for another node"
        case .repair(.request(_, let from, _)) where from != peer:
            return "repair request for another node"
        case .transaction(.write(_, let from, _, _, _, _)) where from != peer:
            return "transaction write for another node"
        default:
            return nil
        }
    }

    /// What the packet is, for a log line ("Raft messages before hello").
    public var kindName: String {
        switch self {
        case .hello: return "hello"
        case .raft: return "Raft messages"
        case .forward: return "forward"
        case .leaders: return "leaders"
        case .repair: return "repair"
        case .alive: return "alive"
        case .transaction: return "transaction"
        }
    }
}
