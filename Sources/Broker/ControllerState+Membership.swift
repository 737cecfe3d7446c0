import Primitives
import Raft

/// Where peers reach a node: the address its peer listener is dialed at (TLS, mutual).
public struct PeerRegistration: Equatable, Sendable {
    public var node: NodeID
    public var host: String
    public var port: UInt16

    public init(node: NodeID, host: String, port: UInt16) {
        self.node = node
        self.host = host
        self.port = port
    }
}

/// The cluster's membership: which nodes it has, and where peers reach them.
///
/// The founders (node.toml's `[peers]`, the same on every node) are the members of the initial
/// state, so every node that replays the controller's log from its start computes the same
/// state. Later members join by announcing their peer address (`announceNode`, sent by the node
/// itself over its certificate-authenticated peer link: holding a certificate of the cluster's CA
/// is the right to join); members leave by `removeNode` once they hold no replica, and a removed id
/// never comes back (a node that returns takes a new id, as in Kafka). The controller group's
/// own voters follow the members (`NodeCore+ControllerMembership`): 1, 3 or 5 of them vote, the
/// others hold the state as learners.
extension ControllerState {
    /// How many of `members` nodes vote in the controller group: an odd count up to five (two
    /// members: both), so a majority survives one failure from three members and two from five.
    public static func controllerVoterCount(members: Int) -> Int {
        members >= 5 ? 5 : members >= 3 ? 3 : max(members, 1)
    }

    /// Nil when `node` may leave the cluster, else why not.
    public func removalProblem(_ node: NodeID) -> String? {
        guard members.contains(node) else {
            return removedNodes.contains(node) ? "node \(node.value) was already removed" : "node \(node.value) is not a member of the cluster (members: \(members.map(\.value)))"
        }
        if members.count == 1 { return "node \(node.value) is the cluster's only member" }
        for t in topics {
            for p in t.partitions where p.replicas.contains(node) || (p.origin ?? []).contains(node) {
                return "node \(node.value) still holds a replica of \(t.name)-\(p.partition): drain it first (rill node drain \(node.value))"
            }
        }
        return nil
    }

    /// A node announces where peers reach it (on every start, until the controller holds it): a
    /// node not yet a member joins. Refused for an id removed before.
    mutating func announce(_ r: PeerRegistration) -> String? {
        if removedNodes.contains(r.node) {
            return "node \(r.node.value) was removed from the cluster; a node that comes back joins under a new id"
        }
        if r.node.isNone { return "node 0 is no node" }
        if !members.contains(r.node) {
            members.append(r.node)
            members.sort()
        }
        peerAddresses.removeAll { $0.node == r.node }
        peerAddresses.append(r)
        peerAddresses.sort { $0.node < $1.node }
        return nil
    }

    /// A node leaves the cluster: it is forgotten (its addresses too) and its id is never taken
    /// again.
    mutating func remove(_ node: NodeID) -> String? {
        if let problem = removalProblem(node) { return problem }
        members.removeAll { $0 == node }
        removedNodes.append(node)
        removedNodes.sort()
        peerAddresses.removeAll { $0.node == node }
        removeBroker(node)
        return nil
    }

    // MARK: - Snapshots

    /// Appended after the moves: a snapshot written before membership changed ends before it,
    /// and restores to the founders.
    func encodeMembership(_ w: inout ByteWriter) {
        w.nodes(members)
        w.nodes(removedNodes)
        w.u32(UInt32(peerAddresses.count))
        for p in peerAddresses {
            w.u32(p.node.value)
            w.blob(Array(p.host.utf8))
            w.u32(UInt32(p.port))
        }
    }

    mutating func decodeMembership(_ r: inout ByteReader) throws(WireError) {
        members = try r.nodes().sorted()
        removedNodes = try r.nodes().sorted()
        guard !members.isEmpty else { throw WireError.invalid("controller snapshot with no member") }
        peerAddresses = []
        for _ in 0..<(try r.count(minItemBytes: 12)) {
            let node = NodeID(try r.u32())
            let host = String(decoding: try r.blob(), as: UTF8.self)
            let port = try r.u32()
            guard port <= UInt32(UInt16.max) else { throw WireError.invalid("peer port \(port)") }
            peerAddresses.append(PeerRegistration(node: node, host: host, port: UInt16(port)))
        }
        peerAddresses.sort { $0.node < $1.node }
    }
}
