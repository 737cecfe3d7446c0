import Primitives

/// A peer message `step` dropped because no correct peer sends it: a bug or a version skew on the
/// sender (or a hostile node with a valid certificate). The node's state is unchanged.
public struct RejectedMessage: Equatable, Sendable, CustomStringConvertible {
    public var from: NodeID
    public var kind: MessageKind
    public var term: Term
    /// What is wrong, in words (numbers only: nothing the peer sent as text).
    public var reason: String

    public init(from: NodeID, kind: MessageKind, term: Term, reason: String) {
        self.from = from
        self.kind = kind
        self.term = term
        self.reason = reason
    }

    public var description: String { "\(kind) from node \(from) (term \(term)): \(reason)" }
}

extension RaftNode {
    /// Largest term, index or commit a message may carry (2^62): beyond any real log, and far
    /// enough below the integer limit that `next` and `+ count` never overflow on what passed.
    public static let wireValueMax: UInt64 = 1 << 62

    /// At most this many rejections wait for `takeRejections()`; later ones are only counted.
    static let rejectionsKept = 16

    /// Why `m` is not something a correct peer sends to this node in its current state, or nil
    /// when it may be stepped. A message is input: whatever it holds must neither trap nor
    /// corrupt the node (a bug or a version skew in one node must not take the others down).
    /// Checks that depend on this node's state apply only where the message would be handled.
    public func validate(_ m: Message) -> String? {
        if m.to != id { return "addressed to node \(m.to)" }
        if m.from.isNone || m.from == id { return "sender id \(m.from)" }
        let limit = Self.wireValueMax
        if m.term.value > limit || m.logTerm.value > limit || m.index.value > limit || m.commit.value > limit
            || m.rejectHint.value > limit
        {
            return "term or index beyond \(limit)"
        }
        if m.kind != .append && !m.entries.isEmpty { return "\(m.entries.count) entries on a \(m.kind)" }
        if m.kind != .snapshot && m.snapshot != nil { return "a snapshot on a \(m.kind)" }
        if m.quiesce && m.kind != .heartbeat { return "quiesce flag on a \(m.kind)" }
        switch m.kind {
        case .append, .heartbeat, .snapshot, .timeoutNow, .vote, .preVote:
            if m.term == .zero { return "term 0" }
        default:
            break
        }
        switch m.kind {
        case .append: return validateAppend(m)
        case .snapshot: return validateSnapshot(m)
        case .vote, .preVote:
            // A candidate's last entry is never of a later term than the one it campaigns in.
            if m.logTerm > m.term { return "last log term \(m.logTerm) beyond the campaign term \(m.term)" }
        case .appendResponse:
            if m.reject && m.rejectHint > m.index { return "reject hint \(m.rejectHint) beyond the rejected index \(m.index)" }
            // Handled by a leader in its own term: every index a follower answers with (what was
            // sent, its commit index, a snapshot's) is in the leader's log. A larger one would
            // make `match` pass the log's end.
            if role == .leader && m.term == term && m.index > log.lastIndex {
                return "index \(m.index) beyond the leader's last index \(log.lastIndex)"
            }
        default:
            break
        }
        return nil
    }

    /// A MsgApp: entries right after `index`, contiguous, with terms that never decrease, start no
    /// lower than the previous entry's and never pass the leader's term; membership entries that
    /// decode.
    private func validateAppend(_ m: Message) -> String? {
        if m.logTerm > m.term { return "previous entry term \(m.logTerm) beyond the message term \(m.term)" }
        var expected = m.index.next
        var lastTerm = m.logTerm
        for e in m.entries {
            if e.index != expected { return "entry \(e.index) where \(expected) was due (previous \(m.index))" }
            if e.term.value > Self.wireValueMax || e.term > m.term {
                return "entry \(e.index) of term \(e.term) beyond the message term \(m.term)"
            }
            if e.term < lastTerm { return "entry \(e.index) of term \(e.term) after term \(lastTerm)" }
            if e.kind == .membership {
                guard let decoded = try? MembershipEntry.decode(e.data), !decoded.membership.voters.isEmpty else {
                    return "membership entry \(e.index) does not decode to a membership with voters"
                }
            }
            expected = expected.next
            lastTerm = e.term
        }
        if expected.value > Self.wireValueMax { return "entries beyond index \(Self.wireValueMax)" }
        // With the entries right after `index`, `handleAppend` (which looks at them only when
        // `index >= committed`) can never meet a conflict at or below the commit index: its
        // precondition stays the node's own invariant.
        return nil
    }

    /// A MsgSnap: a snapshot past index 0, of a term no later than the message's, whose
    /// membership has voters.
    private func validateSnapshot(_ m: Message) -> String? {
        guard let snap = m.snapshot else { return "MsgSnap without a snapshot" }
        if snap.index == .zero || snap.index.value > Self.wireValueMax { return "snapshot index \(snap.index)" }
        if snap.term == .zero || snap.term > m.term { return "snapshot term \(snap.term) (message term \(m.term))" }
        if snap.membership.voters.isEmpty { return "snapshot membership without voters" }
        return nil
    }

    /// Rejected messages since the last call (at most `rejectionsKept`; `rejectedMessages` counts
    /// them all). The caller logs them, rate-limited: they mean a peer is broken.
    public mutating func takeRejections() -> [RejectedMessage] {
        guard !rejections.isEmpty else { return [] }
        defer { rejections = [] }
        return rejections
    }

    mutating func reject(_ m: Message, _ reason: String) {
        rejectedMessages += 1
        if rejections.count < Self.rejectionsKept {
            rejections.append(RejectedMessage(from: m.from, kind: m.kind, term: m.term, reason: reason))
        }
    }
}
