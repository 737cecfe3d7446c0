import Primitives

/// Raft peer message types, paired request/response as in etcd-raft.
public enum MessageKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case preVote = 1
    case preVoteResponse = 2
    case vote = 3
    case voteResponse = 4
    case append = 5
    case appendResponse = 6
    case heartbeat = 7
    case heartbeatResponse = 8
    case snapshot = 9
    case timeoutNow = 10

    public var description: String {
        switch self {
        case .preVote: return "MsgPreVote"
        case .preVoteResponse: return "MsgPreVoteResp"
        case .vote: return "MsgVote"
        case .voteResponse: return "MsgVoteResp"
        case .append: return "MsgApp"
        case .appendResponse: return "MsgAppResp"
        case .heartbeat: return "MsgHeartbeat"
        case .heartbeatResponse: return "MsgHeartbeatResp"
        case .snapshot: return "MsgSnap"
        case .timeoutNow: return "MsgTimeoutNow"
        }
    }
}

/// One Raft message. Field meanings depend on the kind, as in etcd's raftpb.Message:
/// - `index`/`logTerm`: the previous entry for MsgApp; the candidate's last entry for (pre)votes;
///   the acknowledged or rejected index for MsgAppResp (with `logTerm` the hint's term on reject).
/// - `rejectHint`: on a rejected MsgApp, the follower's guess at the last index that may match
///   (fast back-off over a whole term at a time).
public struct Message: Equatable, Sendable, CustomStringConvertible {
    public var kind: MessageKind
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    public var logTerm: Term
    public var index: LogIndex
    public var entries: [Entry]
    public var commit: LogIndex
    public var reject: Bool
    public var rejectHint: LogIndex
    /// Set on votes that a leadership transfer started: they bypass the leader lease (CheckQuorum).
    public var forceVote: Bool
    /// Set on the heartbeat a leader sends as its group goes quiet (`RaftNode` quiescence): a
    /// follower holding everything it commits stops ticking and does not answer.
    public var quiesce: Bool
    public var snapshot: Snapshot?

    public init(
        kind: MessageKind, from: NodeID, to: NodeID, term: Term, logTerm: Term = .zero, index: LogIndex = .zero,
        entries: [Entry] = [], commit: LogIndex = .zero, reject: Bool = false, rejectHint: LogIndex = .zero,
        forceVote: Bool = false, quiesce: Bool = false, snapshot: Snapshot? = nil
    ) {
        self.kind = kind
        self.from = from
        self.to = to
        self.term = term
        self.logTerm = logTerm
        self.index = index
        self.entries = entries
        self.commit = commit
        self.reject = reject
        self.rejectHint = rejectHint
        self.forceVote = forceVote
        self.quiesce = quiesce
        self.snapshot = snapshot
    }

    /// A compact rendering in the style of etcd's transcripts, e.g. `1->2 MsgApp Term:1 Log:1/2 Commit:2`.
    public var description: String {
        var s = "\(from)->\(to) \(kind) Term:\(term) Log:\(logTerm)/\(index)"
        if kind == .append || kind == .heartbeat || commit != .zero { s += " Commit:\(commit)" }
        if reject { s += kind == .appendResponse ? " Rejected (Hint: \(rejectHint))" : " Rejected" }
        if forceVote { s += " (transfer)" }
        if quiesce { s += " (quiesce)" }
        if !entries.isEmpty { s += " Entries:[" + entries.map(\.description).joined(separator: ", ") + "]" }
        if let snap = snapshot { s += " Snapshot: \(snap)" }
        return s
    }
}

/// A message for one Raft group on a node that hosts many (multi-Raft).
public struct PeerEnvelope: Equatable, Sendable {
    public var group: GroupID
    public var message: Message

    public init(group: GroupID, message: Message) {
        self.group = group
        self.message = message
    }
}
