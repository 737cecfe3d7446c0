import Primitives

/// The members of a Raft group: voters decide elections and commits; learners only receive the log.
/// Both lists are kept sorted so that every loop over members is deterministic.
public struct Membership: Equatable, Sendable, CustomStringConvertible {
    public private(set) var voters: [NodeID]
    public private(set) var learners: [NodeID]

    public init(voters: [NodeID], learners: [NodeID] = []) {
        self.voters = voters.sorted()
        self.learners = learners.sorted()
        precondition(Set(voters).count == voters.count, "duplicate voter in \(voters)")
        precondition(Set(learners).isDisjoint(with: voters), "a node is both voter and learner")
    }

    /// Voters and learners, sorted.
    public var all: [NodeID] { (voters + learners).sorted() }
    public var quorum: Int { voters.count / 2 + 1 }
    public func isVoter(_ id: NodeID) -> Bool { voters.contains(id) }
    public func isLearner(_ id: NodeID) -> Bool { learners.contains(id) }
    public func isMember(_ id: NodeID) -> Bool { isVoter(id) || isLearner(id) }

    /// The membership after one change, or nil when the change does not apply to this membership.
    /// One voter at a time keeps old and new majorities overlapping (thesis §4.1).
    public func applying(_ change: MembershipChange) -> Membership? {
        switch change {
        case .addLearner(let id):
            guard !isMember(id), !id.isNone else { return nil }
            return Membership(voters: voters, learners: learners + [id])
        case .promote(let id):
            guard isLearner(id) else { return nil }
            return Membership(voters: voters + [id], learners: learners.filter { $0 != id })
        case .remove(let id):
            guard isMember(id) else { return nil }
            let remaining = Membership(voters: voters.filter { $0 != id }, learners: learners.filter { $0 != id })
            return remaining.voters.isEmpty ? nil : remaining
        }
    }

    public var description: String {
        let v = voters.map(\.description).joined(separator: ",")
        let l = learners.map(\.description).joined(separator: ",")
        return l.isEmpty ? "voters=(\(v))" : "voters=(\(v)) learners=(\(l))"
    }
}

/// A single-step membership change. Adding a voter goes through `.addLearner` then `.promote`, so a
/// new node catches up before it counts towards quorum (thesis §4.2.1).
public enum MembershipChange: Equatable, Sendable, CustomStringConvertible {
    case addLearner(NodeID)
    case promote(NodeID)
    case remove(NodeID)

    public var node: NodeID {
        switch self {
        case .addLearner(let n), .promote(let n), .remove(let n): return n
        }
    }

    public var description: String {
        switch self {
        case .addLearner(let n): return "add-learner(\(n))"
        case .promote(let n): return "promote(\(n))"
        case .remove(let n): return "remove(\(n))"
        }
    }
}

/// The payload of a `.membership` entry: the change and the complete membership it yields, so a
/// truncated log can recompute its membership from the latest remaining entry alone.
public struct MembershipEntry: Equatable, Sendable {
    public var change: MembershipChange
    public var membership: Membership

    public func encode() -> [UInt8] {
        var w = ByteWriter()
        switch change {
        case .addLearner(let n): w.u8(0); w.u32(n.value)
        case .promote(let n): w.u8(1); w.u32(n.value)
        case .remove(let n): w.u8(2); w.u32(n.value)
        }
        w.membership(membership)
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> MembershipEntry {
        var r = ByteReader(bytes)
        let op = try r.u8()
        let node = NodeID(try r.u32())
        let change: MembershipChange
        switch op {
        case 0: change = .addLearner(node)
        case 1: change = .promote(node)
        case 2: change = .remove(node)
        default: throw WireError.invalid("membership change op \(op)")
        }
        let membership = try r.membership()
        try r.expectEnd()
        return MembershipEntry(change: change, membership: membership)
    }
}
