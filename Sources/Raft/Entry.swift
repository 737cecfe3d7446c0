import Primitives

/// What a log entry carries. Only `.normal` entries reach the application as data; `.noop` is the
/// entry a new leader appends to commit its term (Raft §5.4.2), `.membership` a configuration.
public enum EntryKind: UInt8, Sendable {
    case normal = 0
    case noop = 1
    case membership = 2
}

/// One Raft log entry.
public struct Entry: Equatable, Sendable, CustomStringConvertible {
    public var term: Term
    public var index: LogIndex
    public var kind: EntryKind
    public var data: [UInt8]

    public init(term: Term, index: LogIndex, kind: EntryKind = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.kind = kind
        self.data = data
    }

    /// Bytes this entry counts for in message and in-flight limits.
    public var sizeBytes: Int { data.count + 16 }

    public var description: String {
        switch kind {
        case .normal: return "\(term)/\(index) \(String(decoding: data, as: UTF8.self))"
        case .noop: return "\(term)/\(index) EntryNoop"
        case .membership:
            let change = (try? MembershipEntry.decode(data)).map { "\($0.change) -> \($0.membership)" } ?? "<bad>"
            return "\(term)/\(index) EntryMembership \(change)"
        }
    }
}

/// The durable vote state. Written before any message that depends on it leaves the node.
public struct HardState: Equatable, Sendable, CustomStringConvertible {
    public var term: Term
    public var vote: NodeID
    public var commit: LogIndex

    public init(term: Term = .zero, vote: NodeID = .none, commit: LogIndex = .zero) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }

    public var description: String { "Term:\(term) Vote:\(vote) Commit:\(commit)" }
}

/// A compacted log prefix: the application's state at `index` plus the membership in force there.
public struct Snapshot: Equatable, Sendable, CustomStringConvertible {
    public var index: LogIndex
    public var term: Term
    public var membership: Membership
    public var data: [UInt8]

    public init(index: LogIndex, term: Term, membership: Membership, data: [UInt8]) {
        self.index = index
        self.term = term
        self.membership = membership
        self.data = data
    }

    public var description: String { "Index:\(index) Term:\(term) \(membership) Data:\(data.count)B" }
}

/// What a restarting node recovered from its disk. Built by storage (or the simulator's disk) and
/// handed to `RaftNode.init(config:recovered:)`: this is the recovery path production uses.
public struct RecoveredState: Sendable {
    public var hardState: HardState
    public var snapshot: Snapshot?
    /// Entries after the snapshot, contiguous.
    public var entries: [Entry]
    /// Storage found damaged entries and dropped the log from them on: this node once held
    /// entries through this index, some possibly acknowledged. Until its commit index reaches it
    /// again, the node does not campaign and votes only for a candidate at least as up to date as
    /// the log it had (`RaftNode.upToDateWithLostLog`) — its shorter log must not help elect a leader
    /// that lacks entries it helped commit (protocol-aware recovery, FAST '18).
    public var repairThrough: LogIndex

    public init(
        hardState: HardState = HardState(), snapshot: Snapshot? = nil, entries: [Entry] = [],
        repairThrough: LogIndex = .zero
    ) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
        self.repairThrough = repairThrough
    }
}
