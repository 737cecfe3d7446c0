import Primitives
import Testing

@testable import Raft

/// `RaftNode+LeadershipCheck`: a leader's round is confirmed only by a quorum answering it (or a
/// later one) in its term, so a leader cut off from its voters never confirms and one that was
/// deposed stops answering as a leader.
struct LeadershipCheckTests {
    /// Three voters; messages between the nodes not in `cut` are delivered until none are left.
    struct Cluster {
        var nodes: [NodeID: RaftNode] = [:]
        var cut: Set<NodeID> = []

        init() throws {
            for id: NodeID in [1, 2, 3] {
                var c = RaftConfig(id: id, initialMembership: Membership(voters: [1, 2, 3]))
                c.randomSeed = UInt64(id.value)
                nodes[id] = try RaftNode(config: c)
            }
        }

        mutating func pump() {
            for _ in 0..<100 {
                var messages: [Message] = []
                for id in nodes.keys.sorted() {
                    var n = nodes[id]!
                    messages += n.takeMessages()
                    if n.hasReady {
                        let r = n.ready()
                        messages += r.messagesAfterPersist
                        n.advance(r)
                    }
                    messages += n.takeMessages()
                    nodes[id] = n
                }
                if messages.isEmpty { return }
                for m in messages where !cut.contains(m.from) && !cut.contains(m.to) {
                    nodes[m.to]?.step(m)
                }
            }
        }

        mutating func confirm(_ id: NodeID) -> UInt64? {
            nodes[id]!.confirmLeadership()
        }

        mutating func elect(_ id: NodeID) {
            nodes[id]!.campaign()
            pump()
        }
    }

    @Test("a leader's round is confirmed once a quorum answered its heartbeat, not before")
    func confirmedByQuorum() throws {
        var c = try Cluster()
        c.elect(1)
        #expect(c.nodes[1]!.role == .leader)
        let roundStarted = c.confirm(1)
        let round = try #require(roundStarted)
        #expect(!c.nodes[1]!.leadershipConfirmed(round))  // nothing answered yet
        c.pump()
        #expect(c.nodes[1]!.leadershipConfirmed(round))
        // A follower cannot start a round.
        let fromFollower = c.confirm(2)
        #expect(fromFollower == nil)
    }

    @Test("one answer of three voters confirms with the leader's own; none does not")
    func quorumCounts() throws {
        var c = try Cluster()
        c.elect(1)
        c.cut = [3]
        let roundStarted = c.confirm(1)
        let round = try #require(roundStarted)
        c.pump()
        #expect(c.nodes[1]!.leadershipConfirmed(round))  // leader and node 2
        c.cut = [2, 3]
        let nextStarted = c.confirm(1)
        let next = try #require(nextStarted)
        c.pump()
        #expect(!c.nodes[1]!.leadershipConfirmed(next))  // answers to the earlier round do not count
    }

    @Test("a leader cut off while the others elect a new one never confirms a round")
    func deposedLeaderNeverConfirms() throws {
        var c = try Cluster()
        c.elect(1)
        c.cut = [1]
        // Nodes 2 and 3 stop hearing from node 1 and, past their election timeouts, elect one of
        // them; node 1 does not tick meanwhile (its CheckQuorum has not come round yet).
        for _ in 0..<40 where !c.nodes.values.contains(where: { $0.role == .leader && $0.term > 1 }) {
            for id: NodeID in [2, 3] { c.nodes[id]!.tick() }
            c.pump()
        }
        #expect(c.nodes.values.contains { $0.role == .leader && $0.term > 1 })
        #expect(c.nodes[1]!.role == .leader)  // has not noticed
        let roundStarted = c.confirm(1)
        let round = try #require(roundStarted)
        c.pump()
        #expect(!c.nodes[1]!.leadershipConfirmed(round))
        // Healed: the answers carry the later term, and the old leader steps down.
        c.cut = []
        _ = c.confirm(1)
        c.pump()
        #expect(c.nodes[1]!.role == .follower)
        #expect(!c.nodes[1]!.leadershipConfirmed(round))
    }
}
