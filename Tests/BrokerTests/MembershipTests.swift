@testable import Broker
import KafkaProtocol
import Primitives
import Raft
import Testing

/// Nodes joining and leaving the cluster (`ControllerState+Membership`,
/// `NodeCore+ControllerMembership`), through the node cores of an in-memory cluster founded by
/// three nodes.
struct MembershipTests {
    static let founders: [NodeID] = [1, 2, 3]

    static func propose(_ c: MiniCluster, _ command: ControllerCommand) throws {
        let leader = try #require(c.controllerLeader)
        let (out, _) = try c.cores[leader].proposeToController(command)
        c.take(leader, out)
    }

    /// UnregisterBroker through node `at`'s Kafka API: its error and message.
    static func unregister(_ c: MiniCluster, at node: Int, _ broker: Int32, correlation: Int32) throws -> (ErrorCode, String?) {
        var r = try MiniCluster.body(c.kafka(node, key: .unregisterBroker, version: 0, correlation: correlation) {
            UnregisterBrokerRequest(brokerID: broker).encode(&$0, version: 0)
        }, correlation: correlation, flexible: true)
        let response = try UnregisterBrokerResponse.decode(&r, version: 0)
        return (response.errorCode, response.errorMessage)
    }

    /// Three founders, topic `t` (replication 3), then node 4 joined; returns the cluster and node
    /// 4's index.
    static func fourNodes(partitions: Int32) throws -> (MiniCluster, Int) {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        try propose(c, .createTopic(name: "t", partitions: partitions, replicationFactor: 3))
        c.run(ticks: 40)
        let four = try c.join(founders: founders)
        c.run(ticks: 80)
        return (c, four)
    }

    static func controllerMembership(_ c: MiniCluster) throws -> Membership {
        let leader = try #require(c.controllerLeader)
        return try #require(c.cores[leader].raftOf(controllerGroup)).membership
    }

    @Test("a fourth node joins: announced, a learner of the controller holding its state, a replica a move can name; a fifth makes five voters")
    func joinFourthAndFifth() throws {
        let (c, four) = try Self.fourNodes(partitions: 2)
        for core in c.cores {
            #expect(core.controller.members == [1, 2, 3, 4], "node \(core.config.id)")
            #expect(core.controller.peerAddresses == [PeerRegistration(node: 4, host: "node4", port: 9192)])
            #expect(core.controller.brokers.map(\.node) == [1, 2, 3, 4])
        }
        var m = try Self.controllerMembership(c)
        #expect(m.voters == [1, 2, 3] && m.learners == [4], "\(m)")
        #expect(c.cores[four].controller.topic("t") != nil)
        #expect(c.cores[four].controllerCaughtUp)
        #expect(c.cores[four].raftOf(controllerGroup)?.role == .follower)

        // The new member can take a replica: a move names it, a new topic is placed on it.
        let p = try #require(c.cores[0].controller.topic("t")?.partitions.first)
        try Self.propose(c, .reassignPartitions([PartitionMove(group: p.group, replicas: [4, 2, 3])]))
        c.run(ticks: 120)
        #expect(c.cores[0].controller.assignment(of: p.group)?.replicas == [4, 2, 3])
        #expect(c.cores[four].groupIDs.contains(p.group))

        let five = try c.join(founders: Self.founders)
        c.run(ticks: 120)
        m = try Self.controllerMembership(c)
        #expect(m.voters == [1, 2, 3, 4, 5] && m.learners.isEmpty, "\(m)")
        #expect(c.cores[five].controller.members == [1, 2, 3, 4, 5])
        #expect(c.rejected.isEmpty)
    }

    @Test("a node leaves once it holds no replica: refused before, its voter replaced and removed, its id never a member again")
    func removeNode() throws {
        let (c, four) = try Self.fourNodes(partitions: 1)
        // Node 1 holds a replica of t-0: refused, with the reason.
        let leader = try #require(c.controllerLeader)
        var (code, message) = try Self.unregister(c, at: 1, 1, correlation: 1)
        #expect(code == .invalidRequest && message?.contains("still holds a replica of t-0") == true, "\(code) \(message ?? "")")
        (code, message) = try Self.unregister(c, at: 1, 9, correlation: 2)
        #expect(code == .brokerIDNotRegistered, "\(code) \(message ?? "")")
        let p = try #require(c.cores[0].controller.topic("t")?.partitions.first)
        try Self.propose(c, .reassignPartitions([PartitionMove(group: p.group, replicas: [2, 3, 4])]))
        c.run(ticks: 150)
        #expect(c.cores[0].controller.assignment(of: p.group)?.replicas == [2, 3, 4])
        #expect(c.cores[leader].controller.removalProblem(1) == nil)
        // Asked at node 3, whichever node leads the controller: answered once applied.
        (code, message) = try Self.unregister(c, at: 2, 1, correlation: 3)
        #expect(code == .none, "\(code) \(message ?? "")")
        c.run(ticks: 150)
        for i in 1..<c.cores.count {
            #expect(c.cores[i].controller.members == [2, 3, 4], "node \(i + 1)")
            #expect(c.cores[i].controller.removedNodes == [1])
            #expect(!c.cores[i].controller.brokers.contains { $0.node == 1 })
        }
        // Node 4, the learner, replaced node 1 as a voter; node 1 is out of the group.
        let m = try Self.controllerMembership(c)
        #expect(m.voters == [2, 3, 4] && m.learners.isEmpty, "\(m)")
        #expect(c.controllerLeader != 0)
        #expect(c.notices.contains { $0.contains("this node (1) was removed from the cluster") })
        // The cluster goes on: a topic created now is placed on the members only.
        try Self.propose(c, .createTopic(name: "after", partitions: 3, replicationFactor: 3))
        c.run(ticks: 60)
        let after = try #require(c.cores[four].controller.topic("after"))
        #expect(after.partitions.allSatisfy { Set($0.replicas) == [2, 3, 4] })
        // Node 1 announcing itself again is refused: its id is gone for good.
        var state = c.cores[four].controller
        #expect(state.apply(Entry(term: 1, index: state.appliedIndex.next, data: ControllerCommand.announceNode(PeerRegistration(node: 1, host: "h", port: 1)).encode()))?
            .contains("was removed") == true)
        #expect(state.members == [2, 3, 4])
    }

    @Test("the controller's voters: 1, 2, 3 or 5 by members; a removed voter goes, an extra one steps back, a leaving leader hands over")
    func controllerVoterSteps() throws {
        #expect((1...7).map { ControllerState.controllerVoterCount(members: $0) } == [1, 2, 3, 3, 5, 5, 5])
        // A five-voter group shrunk to four members: the removed voter goes, then the highest
        // other voter steps back (removed, then added back as learner).
        let c = try MiniCluster(nodes: 5)
        c.run(ticks: 60)
        let leader = try #require(c.controllerLeader)
        let raft = try #require(c.cores[leader].raftOf(controllerGroup))
        let me = c.cores[leader].config.id
        let others = [NodeID]([1, 2, 3, 4, 5]).filter { $0 != me }
        let gone = others[0]
        var members = [NodeID]([1, 2, 3, 4, 5]).filter { $0 != gone }
        #expect(NodeCore.nextControllerStep(raft, members: members, me: me) == .change(.remove(gone)))
        // Nothing to change for the members the group already has.
        members = [1, 2, 3, 4, 5]
        #expect(NodeCore.nextControllerStep(raft, members: members, me: me) == .wait)
        // Four members left when the leader leaves: one voter too many steps back first.
        #expect(NodeCore.nextControllerStep(raft, members: others, me: me) == .change(.remove(others.last!)))
        // Of three, the leader leaving the two others hands over first (they vote already).
        let small = try MiniCluster(nodes: 3)
        small.run(ticks: 60)
        let l = try #require(small.controllerLeader)
        let smallRaft = try #require(small.cores[l].raftOf(controllerGroup))
        let rest = [NodeID]([1, 2, 3]).filter { $0 != small.cores[l].config.id }
        let step = NodeCore.nextControllerStep(smallRaft, members: rest, me: small.cores[l].config.id)
        if case .transfer(let to) = step { #expect(rest.contains(to)) } else { Issue.record("\(step)") }
    }

    @Test("membership survives a controller snapshot, and one written before it restores to the founders")
    func snapshotRoundTrip() throws {
        var s = ControllerState(members: Self.founders)
        func apply(_ command: ControllerCommand) -> String? {
            s.apply(Entry(term: 1, index: s.appliedIndex.next, data: command.encode()))
        }
        #expect(apply(.announceNode(PeerRegistration(node: 4, host: "rill-4", port: 9192))) == nil)
        #expect(apply(.announceNode(PeerRegistration(node: 2, host: "rill-2", port: 9192))) == nil)
        #expect(apply(.removeNode(1)) == nil)
        #expect(apply(.removeNode(9))?.contains("not a member") == true)
        #expect(apply(.removeNode(1))?.contains("already removed") == true)
        var restored = ControllerState(members: Self.founders)
        try restored.restore(Snapshot(index: s.appliedIndex, term: 1, membership: Membership(voters: Self.founders), data: s.encode()))
        #expect(restored == s)
        #expect(restored.members == [2, 3, 4] && restored.removedNodes == [1])
        #expect(restored.peerAddresses.map(\.node) == [2, 4])
        // A snapshot of the old layout (no membership at its end) restores the founders.
        let fresh = ControllerState(members: Self.founders)
        var tail = ByteWriter()
        fresh.encodeMembership(&tail)
        let old = Array(fresh.encode().dropLast(tail.bytes.count))
        var fromOld = ControllerState(members: Self.founders)
        try fromOld.restore(Snapshot(index: .zero, term: 0, membership: Membership(voters: Self.founders), data: old))
        #expect(fromOld.members == Self.founders)
        // Its commands decode back to themselves.
        for command in [ControllerCommand.announceNode(PeerRegistration(node: 7, host: "h", port: 65535)), .removeNode(7)] {
            #expect(try ControllerCommand.decode(command.encode()) == command)
        }
    }
}
