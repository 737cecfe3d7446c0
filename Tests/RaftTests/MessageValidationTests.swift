import Primitives
import Testing

@testable import Raft

/// A message from a peer is input: what no correct peer sends is dropped and reported, never
/// trapped on, and leaves the node as it was (issue 12 item 3).
struct MessageValidationTests {
    static func config(_ id: NodeID) -> RaftConfig { RaftConfig(id: id, initialMembership: Membership(voters: [1, 2, 3])) }

    /// Node 1, leader of term 1 with its no-op (index 1) durable; followers 2 and 3 probing.
    func leader() throws -> RaftNode {
        var n = try RaftNode(config: Self.config(1))
        n.campaign()
        n.step(Message(kind: .preVoteResponse, from: 2, to: 1, term: 1))
        n.advance(n.ready())
        n.step(Message(kind: .voteResponse, from: 2, to: 1, term: 1))
        #expect(n.role == .leader)
        n.advance(n.ready())
        _ = n.takeMessages()
        return n
    }

    /// Node 2, follower of node 1 in term 1, holding entries 1...3 with 2 committed, all durable.
    func follower() throws -> RaftNode {
        var n = try RaftNode(config: Self.config(2))
        var app = Message(kind: .append, from: 1, to: 2, term: 1, commit: 2)
        app.entries = [Entry(term: 1, index: 1, kind: .noop), Entry(term: 1, index: 2, data: [2]), Entry(term: 1, index: 3, data: [3])]
        n.step(app)
        n.advance(n.ready())
        _ = n.takeMessages()
        #expect(n.lastIndex == 3 && n.commitIndex == 2)
        return n
    }

    /// Everything a message could change, as one comparable value.
    func state(_ n: RaftNode) -> String {
        "\(n.role) term=\(n.term) vote=\(n.vote) leader=\(n.leader) commit=\(n.commitIndex) last=\(n.lastIndex)/\(n.lastTerm) "
            + "snap=\(n.snapshotIndex) members=\(n.membership) ready=\(n.hasReady) \(n.progressDescription)"
    }

    /// Step `m` into `n`: it must be rejected (counted, reported once) with nothing else changed
    /// and nothing sent.
    func expectRejected(_ n: RaftNode, _ m: Message, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
        var n = n
        let before = state(n)
        let rejected = n.rejectedMessages
        n.step(m)
        #expect(n.rejectedMessages == rejected + 1, comment, sourceLocation: sourceLocation)
        #expect(n.takeRejections().count == 1, comment, sourceLocation: sourceLocation)
        #expect(state(n) == before, comment, sourceLocation: sourceLocation)
        #expect(n.takeMessages().isEmpty, comment, sourceLocation: sourceLocation)
        // And the node still works: a tick and a campaign neither trap nor overflow.
        n.tick()
        n.campaign()
    }

    @Test("a MsgAppResp beyond the leader's last index is dropped (it trapped in sendSnapshot)")
    func appendResponseBeyondLastIndex() throws {
        let n = try leader()
        expectRejected(n, Message(kind: .appendResponse, from: 2, to: 1, term: 1, index: 100), "ack beyond the log")
        expectRejected(
            n, Message(kind: .appendResponse, from: 2, to: 1, term: 1, index: 100, reject: true, rejectHint: 1),
            "rejection of an index the leader never sent")
        // Hint past the rejected index; UInt64.max also overflowed `next` in maybeDecrease.
        expectRejected(
            n, Message(kind: .appendResponse, from: 2, to: 1, term: 1, index: 1, reject: true, rejectHint: LogIndex(.max)),
            "hint beyond the rejected index")
        // The real answer still works.
        var ok = n
        ok.step(Message(kind: .appendResponse, from: 2, to: 1, term: 1, index: 1))
        #expect(ok.rejectedMessages == 0)
        #expect(ok.matchIndex(of: 2) == 1)
    }

    @Test("a MsgApp whose entries do not start at prev+1 is dropped (it trapped slicing the entries)")
    func appendNotAfterPrevious() throws {
        let n = try follower()
        var gap = Message(kind: .append, from: 1, to: 2, term: 1, logTerm: 1, index: 3, commit: 3)
        gap.entries = [Entry(term: 1, index: 9, data: [9])]
        expectRejected(n, gap, "entries after a gap")
        var overlap = Message(kind: .append, from: 1, to: 2, term: 1, logTerm: 1, index: 3)
        overlap.entries = [Entry(term: 1, index: 2, data: [7])]
        expectRejected(n, overlap, "entries before prev+1 (would overwrite the committed entry 2)")
        var holes = Message(kind: .append, from: 1, to: 2, term: 1, logTerm: 1, index: 3)
        holes.entries = [Entry(term: 1, index: 4), Entry(term: 1, index: 6)]
        expectRejected(n, holes, "entries not contiguous")
    }

    @Test("a MsgApp with terms a correct leader cannot have is dropped")
    func appendTerms() throws {
        let n = try follower()
        var future = Message(kind: .append, from: 1, to: 2, term: 1, logTerm: 1, index: 3)
        future.entries = [Entry(term: 5, index: 4)]
        expectRejected(n, future, "entry term beyond the message term")
        var down = Message(kind: .append, from: 1, to: 2, term: 2, logTerm: 1, index: 3)
        down.entries = [Entry(term: 2, index: 4), Entry(term: 1, index: 5)]
        expectRejected(n, down, "entry terms decreasing")
        var belowPrev = Message(kind: .append, from: 1, to: 2, term: 3, logTerm: 2, index: 3)
        belowPrev.entries = [Entry(term: 1, index: 4)]
        expectRejected(n, belowPrev, "entry term below the previous entry's")
        expectRejected(n, Message(kind: .append, from: 1, to: 2, term: 1, logTerm: 4, index: 3), "previous term beyond the message term")
        var badMembership = Message(kind: .append, from: 1, to: 2, term: 1, logTerm: 1, index: 3)
        badMembership.entries = [Entry(term: 1, index: 4, kind: .membership, data: [9, 9])]
        expectRejected(n, badMembership, "membership entry that does not decode")
    }

    @Test("a quiesce flag on anything but a heartbeat is dropped")
    func quiesceFlag() throws {
        let n = try follower()
        expectRejected(n, Message(kind: .append, from: 1, to: 2, term: 1, logTerm: 1, index: 3, quiesce: true), "quiesce flag on an append")
        expectRejected(n, Message(kind: .vote, from: 1, to: 2, term: 3, logTerm: 1, index: 3, quiesce: true), "quiesce flag on a vote")
    }

    @Test("terms and indexes near the integer limit are dropped (they overflowed next and + count)")
    func overflow() throws {
        let n = try follower()
        expectRejected(n, Message(kind: .heartbeat, from: 1, to: 2, term: Term(.max)), "term UInt64.max")
        expectRejected(n, Message(kind: .vote, from: 3, to: 2, term: Term(1 << 63), logTerm: 1, index: 3), "vote term 2^63")
        var far = Message(kind: .append, from: 1, to: 2, term: 1, logTerm: 1, index: LogIndex(.max - 1))
        far.entries = [Entry(term: 1, index: LogIndex(.max))]
        expectRejected(n, far, "index UInt64.max")
        expectRejected(n, Message(kind: .heartbeat, from: 1, to: 2, term: 1, commit: LogIndex(.max)), "commit UInt64.max")
    }

    @Test("inconsistent snapshots, misaddressed and misshapen messages are dropped")
    func misshapen() throws {
        let n = try follower()
        let members = Membership(voters: [1, 2, 3])
        expectRejected(
            n, Message(kind: .snapshot, from: 1, to: 2, term: 1, snapshot: Snapshot(index: 9, term: 4, membership: members, data: [])),
            "snapshot term beyond the message term")
        expectRejected(
            n, Message(kind: .snapshot, from: 1, to: 2, term: 1, snapshot: Snapshot(index: 0, term: 1, membership: members, data: [])),
            "snapshot at index 0")
        expectRejected(
            n, Message(kind: .snapshot, from: 1, to: 2, term: 1, snapshot: Snapshot(index: 9, term: 1, membership: Membership(voters: []), data: [])),
            "snapshot without voters")
        expectRejected(n, Message(kind: .snapshot, from: 1, to: 2, term: 1), "MsgSnap without a snapshot")
        expectRejected(n, Message(kind: .heartbeat, from: 1, to: 3, term: 1), "addressed to another node (a precondition trapped)")
        expectRejected(n, Message(kind: .heartbeat, from: 2, to: 2, term: 1), "from itself")
        expectRejected(n, Message(kind: .heartbeat, from: 0, to: 2, term: 1), "from node 0")
        expectRejected(n, Message(kind: .heartbeat, from: 1, to: 2, term: 1, entries: [Entry(term: 1, index: 4)]), "entries on a heartbeat")
        expectRejected(n, Message(kind: .vote, from: 3, to: 2, term: 2, logTerm: 7, index: 3), "candidate's last term beyond its campaign")
        expectRejected(n, Message(kind: .timeoutNow, from: 1, to: 2, term: 0), "term 0")
    }

    @Test("rejections kept for the caller are bounded; the counter counts them all")
    func bounded() throws {
        var n = try follower()
        for _ in 0..<100 { n.step(Message(kind: .heartbeat, from: 1, to: 2, term: Term(.max))) }
        #expect(n.rejectedMessages == 100)
        #expect(n.takeRejections().count == RaftNode.rejectionsKept)
        #expect(n.takeRejections().isEmpty)
    }
}
