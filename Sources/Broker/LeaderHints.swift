import Primitives
import Raft

/// Where a partition's leader is, as this node last heard.
public struct LeaderHint: Equatable, Sendable {
    public var group: GroupID
    public var leader: NodeID
    public var term: Term

    public init(group: GroupID, leader: NodeID, term: Term) {
        self.group = group
        self.leader = leader
        self.term = term
    }
}

/// Leaders of groups this node does not replicate, from its peers' gossip: what Metadata and
/// FindCoordinator answer for partitions hosted elsewhere. Sorted by group.
struct LeaderHints {
    private(set) var hints: [LeaderHint] = []

    func hint(for g: GroupID) -> LeaderHint? { hints.first { $0.group == g } }

    /// Keep what a peer reports for groups `accept` admits; a report of an older term than the
    /// one known is ignored.
    mutating func receive(_ reported: [LeaderHint], accept: (GroupID) -> Bool) {
        var added = false
        for h in reported where accept(h.group) {
            if let k = hints.firstIndex(where: { $0.group == h.group }) {
                if h.term >= hints[k].term { hints[k] = h }
            } else {
                hints.append(h)
                added = true
            }
        }
        if added { hints.sort { $0.group < $1.group } }
    }
}

extension NodeCore {
    func leaderHint(for g: GroupID) -> LeaderHint? { leaderHints.hint(for: g) }

    /// The groups this node leads, for its peers (sent every few ticks).
    func leadership() -> [LeaderHint] {
        groups.compactMap { g in
            let (role, term) = g.withRaft { ($0.role, $0.term) }
            return role == .leader ? LeaderHint(group: g.id, leader: config.id, term: term) : nil
        }
    }

    /// Leadership a peer reports: kept for the groups this node does not replicate. Only for
    /// groups the controller has given out so far (a hint for a newer one comes again in a few
    /// ticks): a peer cannot make this node keep hints for millions of made-up groups.
    public func receiveLeaders(_ hints: [LeaderHint]) -> NodeOutput {
        leaderHints.receive(hints) { $0.value < controller.nextGroup && group($0) == nil }
        return NodeOutput()
    }
}
