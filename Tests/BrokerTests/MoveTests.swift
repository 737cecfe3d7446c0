@testable import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Storage
import Testing

/// Moving partitions between nodes (AlterPartitionReassignments, ListPartitionReassignments)
/// through the node cores of a four-node in-memory cluster: the partition's leader changes its
/// group's membership one step at a time, the controller records the move done, and the node
/// moved off drops its copy.
struct MoveTests {
    /// Four nodes, topic `t` with one partition on three of them and `records` records acked by
    /// all; returns the cluster, the partition's group, its replicas and its leader's index.
    static func cluster(records: Int = 5, configure: @escaping (inout NodeConfig) -> Void = { _ in }) throws -> (MiniCluster, GroupID, [NodeID], Int) {
        let c = try MiniCluster(nodes: 4, configure: configure)
        c.run(ticks: 40)
        let (out, _) = try c.cores[c.controllerIndex].proposeToController(.createTopic(name: "t", partitions: 1, replicationFactor: 3))
        c.take(c.controllerIndex, out)
        c.run(ticks: 60)
        let p = try #require(c.cores[0].controller.topic("t")?.partitions.first)
        let leader = try #require(Self.leader(c, p.group))
        if records > 0 {
            let acked = try #require(try KafkaDataTests.produce(c, to: leader, acks: -1, correlation: 900, values: (0..<records).map { "r\($0)" }))
            #expect(acked.errorCode == .none)
        }
        return (c, p.group, p.replicas, leader)
    }

    /// Cut node `i` off, after moving the controller's leadership elsewhere (requests must reach
    /// the controller meanwhile).
    static func isolate(_ c: MiniCluster, _ i: Int) throws {
        if c.controllerLeader == i {
            try c.cores[i].group(controllerGroup)!.withRaft { try $0.transferLeadership(to: NodeID(UInt32((i + 1) % 4 + 1))) }
            c.take(i, c.cores[i].drain())
            c.run(ticks: 20)
        }
        c.isolated = i
        c.run(ticks: 5)
        #expect(c.controllerLeader != nil && c.controllerLeader != i, "\(String(describing: c.controllerLeader))")
    }

    static func leader(_ c: MiniCluster, _ g: GroupID) -> Int? {
        c.cores.indices.first { c.cores[$0].raftOf(g)?.role == .leader }
    }

    static func alter(_ c: MiniCluster, at node: Int, _ parts: [(String, Int32, [Int32]?)], correlation: Int32) throws -> [String: ErrorCode] {
        var topics: [AlterPartitionReassignmentsRequest.ReassignableTopic] = []
        for (topic, partition, replicas) in parts {
            let p = AlterPartitionReassignmentsRequest.ReassignablePartition(partitionIndex: partition, replicas: replicas)
            if let k = topics.firstIndex(where: { $0.name == topic }) { topics[k].partitions.append(p) } else { topics.append(.init(name: topic, partitions: [p])) }
        }
        let request = AlterPartitionReassignmentsRequest(timeoutMs: 10_000, topics: topics)
        var r = try MiniCluster.body(c.kafka(node, key: .alterPartitionReassignments, version: 0, correlation: correlation) { request.encode(&$0, version: 0) },
                                     correlation: correlation, flexible: true)
        var out: [String: ErrorCode] = [:]
        for t in try AlterPartitionReassignmentsResponse.decode(&r, version: 0).responses {
            for p in t.partitions { out["\(t.name)-\(p.partitionIndex)"] = p.errorCode }
        }
        return out
    }

    static func list(_ c: MiniCluster, at node: Int, correlation: Int32) throws -> [ListPartitionReassignmentsResponse.OngoingPartitionReassignment] {
        let request = ListPartitionReassignmentsRequest(topics: nil)
        var r = try MiniCluster.body(c.kafka(node, key: .listPartitionReassignments, version: 0, correlation: correlation) { request.encode(&$0, version: 0) },
                                     correlation: correlation, flexible: true)
        return try ListPartitionReassignmentsResponse.decode(&r, version: 0).topics.flatMap(\.partitions)
    }

    /// Every record produced, read from the partition's leader.
    static func values(_ c: MiniCluster, _ g: GroupID, correlation: Int32) throws -> [String] {
        let leader = try #require(Self.leader(c, g))
        let p = try KafkaDataTests.fetch(c, from: leader, offset: 0, correlation: correlation)
        #expect(p.errorCode == .none)
        return try RecordBatch.batches(in: try #require(p.records)).flatMap { try $0.records() }.map { String(decoding: $0.value!, as: UTF8.self) }
    }

    @Test("a move off the partition's leader onto the fourth node: listed while node 4 is cut off, then done — node 4 holds every record, the old leader dropped its copy, writes go on")
    func moveOffLeader() throws {
        let (c, g, replicas, leader) = try Self.cluster()
        let outside = try #require((1...4).map { NodeID(UInt32($0)) }.first { !replicas.contains($0) })
        let leaving = c.cores[leader].config.id
        let target = replicas.filter { $0 != leaving } + [outside]
        try Self.isolate(c, Int(outside.value) - 1)
        // At the controller's leader: the harness drops forwards while a node is cut off.
        let answer = try Self.alter(c, at: c.controllerIndex, [("t", 0, target.map { Int32($0.value) })], correlation: 1)
        #expect(answer == ["t-0": .none])
        c.run(ticks: 20)
        let moving = try Self.list(c, at: leader, correlation: 2)
        #expect(moving.count == 1)
        #expect(moving.first?.addingReplicas == [Int32(outside.value)] && moving.first?.removingReplicas == [Int32(leaving.value)])
        #expect(Set(moving.first?.replicas ?? []) == Set((replicas + [outside]).map { Int32($0.value) }))
        // While it moves, the preferred leader is the target's first replica (a voter already):
        // ElectLeaders hands the leadership there.
        let elected = try ElectLeadersTests.elect(c, at: c.controllerIndex, [("t", [0])], correlation: 6)
        #expect(elected == ["t-0": ErrorCode.none], "\(elected)")
        #expect(Self.leader(c, g).map { c.cores[$0].config.id } == target[0])
        c.isolated = nil
        c.run(ticks: 200)
        for core in c.cores {
            let a = try #require(core.controller.assignment(of: g))
            #expect(a.replicas == target && a.target == nil && a.moves == 1 && a.settledAt > .zero, "node \(core.config.id)")
        }
        #expect(try Self.list(c, at: 0, correlation: 3).isEmpty)
        #expect(c.cores[Int(leaving.value) - 1].group(g) == nil, "the node moved off dropped its copy")
        let newcomer = try #require(c.cores[Int(outside.value) - 1].group(g))
        #expect(newcomer.raft.membership == Membership(voters: target))
        #expect(newcomer.state.nextOffset == 5)
        let now = try #require(Self.leader(c, g))
        #expect(c.cores[now].config.id != leaving)
        let more = try #require(try KafkaDataTests.produce(c, to: now, acks: -1, correlation: 4, values: ["after"]))
        #expect(more.errorCode == .none && more.baseOffset == 5)
        #expect(try Self.values(c, g, correlation: 5) == ["r0", "r1", "r2", "r3", "r4", "after"])
        #expect(c.rejected.isEmpty)
    }

    @Test("a cancelled move goes back to the replicas it started from; the node it was adding drops what it had")
    func cancel() throws {
        let (c, g, replicas, _) = try Self.cluster()
        let outside = try #require((1...4).map { NodeID(UInt32($0)) }.first { !replicas.contains($0) })
        let target = Array(replicas.dropFirst()) + [outside]
        try Self.isolate(c, Int(outside.value) - 1)  // the move cannot finish
        let at = c.controllerIndex  // the harness drops forwards while a node is cut off
        #expect(try Self.alter(c, at: at, [("t", 0, target.map { Int32($0.value) })], correlation: 1) == ["t-0": .none])
        c.run(ticks: 20)
        #expect(try Self.alter(c, at: at, [("t", 0, nil)], correlation: 2) == ["t-0": .none])
        c.isolated = nil
        c.run(ticks: 200)
        for core in c.cores {
            let a = try #require(core.controller.assignment(of: g))
            #expect(a.replicas == replicas && a.target == nil && a.moves == 2, "node \(core.config.id)")
        }
        #expect(c.cores[Int(outside.value) - 1].group(g) == nil)
        let leader = try #require(Self.leader(c, g))
        #expect(c.cores[leader].raftOf(g)?.membership == Membership(voters: replicas))
        #expect(try Self.values(c, g, correlation: 3) == ["r0", "r1", "r2", "r3", "r4"])
        // Nothing left to cancel.
        #expect(try Self.alter(c, at: at, [("t", 0, nil)], correlation: 4) == ["t-0": .noReassignmentInProgress])
    }

    @Test("Kafka's refusals: unknown partition, a node not in the cluster, a node named twice, no replicas; the valid part of the same request goes ahead")
    func refusals() throws {
        let (c, g, replicas, _) = try Self.cluster(records: 0)
        let reordered = Array(replicas.reversed()).map { Int32($0.value) }
        let answer = try Self.alter(c, at: 0, [("t", 0, reordered), ("t", 3, [1, 2, 3]), ("nope", 0, [1, 2, 3])], correlation: 1)
        #expect(answer == ["t-0": .none, "t-3": .unknownTopicOrPartition, "nope-0": .unknownTopicOrPartition])
        // The same replicas in another order change only the preferred leader: no move.
        let a = try #require(c.cores[0].controller.assignment(of: g))
        #expect(a.replicas == replicas.reversed() && a.target == nil && a.moves == 0)
        #expect(try Self.alter(c, at: 1, [("t", 0, [1, 2, 9])], correlation: 2) == ["t-0": .invalidReplicaAssignment])
        #expect(try Self.alter(c, at: 1, [("t", 0, [1, 1, 2])], correlation: 3) == ["t-0": .invalidReplicaAssignment])
        #expect(try Self.alter(c, at: 1, [("t", 0, [])], correlation: 4) == ["t-0": .invalidReplicaAssignment])
        #expect(try Self.alter(c, at: 1, [("t", 0, [-1, 2])], correlation: 5) == ["t-0": .invalidReplicaAssignment])
        #expect(try Self.alter(c, at: 1, [("t", 0, nil)], correlation: 6) == ["t-0": .noReassignmentInProgress])
    }

    @Test("the node a move adds restarts while it catches up: the move finishes, its copy is whole")
    func restartDuringMove() throws {
        let (c, g, replicas, _) = try Self.cluster(records: 20)
        let outside = try #require((1...4).map { NodeID(UInt32($0)) }.first { !replicas.contains($0) })
        let target = Array(replicas.dropLast()) + [outside]
        let k = Int(outside.value) - 1
        #expect(try Self.alter(c, at: (k + 1) % 4, [("t", 0, target.map { Int32($0.value) })], correlation: 1) == ["t-0": .none])
        c.run(ticks: 3)
        try c.start(k, members: (1...4).map { NodeID(UInt32($0)) }, fs: c.filesystems[k], incarnation: 1)
        c.run(ticks: 200)
        for core in c.cores { #expect(core.controller.assignment(of: g)?.replicas == target, "node \(core.config.id)") }
        #expect(c.cores[k].group(g)?.state.nextOffset == 20)
        #expect(c.cores[Int(replicas.last!.value) - 1].group(g) == nil)
        // And restarts again once done: its copy is a voter's, kept.
        try c.start(k, members: (1...4).map { NodeID(UInt32($0)) }, fs: c.filesystems[k], incarnation: 2)
        c.run(ticks: 60)
        #expect(c.cores[k].group(g)?.raft.membership == Membership(voters: target))
        #expect(try Self.values(c, g, correlation: 2).count == 20)
    }

    @Test("a copy moved off a node and back starts as one that lost its log (its term and vote kept, across a restart too), then the leader makes it whole")
    func moveOffAndBack() throws {
        let (c, g, replicas, leader) = try Self.cluster(records: 20)
        let outside = try #require((1...4).map { NodeID(UInt32($0)) }.first { !replicas.contains($0) })
        let away = try #require(replicas.first { $0 != c.cores[leader].config.id })
        let k = Int(away.value) - 1
        let before = try #require(c.cores[k].raftOf(g))
        let (term, reached) = (before.term, before.lastIndex)
        let there = replicas.map { $0 == away ? outside : $0 }
        #expect(try Self.alter(c, at: c.controllerIndex, [("t", 0, there.map { Int32($0.value) })], correlation: 1) == ["t-0": .none])
        c.run(ticks: 200)
        #expect(c.cores[k].group(g) == nil)
        let departed = try #require(c.cores[k].departedCopies[g])
        #expect(departed.term >= term && departed.commit >= reached, "\(departed), the copy had term \(term) and reached \(reached)")
        // The departure is durable: a restart reads it back from the journal.
        try c.start(k, members: (1...4).map { NodeID(UInt32($0)) }, fs: c.filesystems[k], incarnation: 1)
        #expect(c.cores[k].departedCopies[g] == departed)
        c.run(ticks: 40)
        // Back: the new copy remembers the old one's term and vote and waits for the log it had.
        #expect(try Self.alter(c, at: c.controllerIndex, [("t", 0, replicas.map { Int32($0.value) })], correlation: 2) == ["t-0": .none])
        c.run(ticks: 200)
        let back = try #require(c.cores[k].raftOf(g))
        // It started repairing through the old log's end (it neither campaigned nor voted for a
        // candidate behind that log meanwhile); the leader brought it past it.
        #expect(back.repairThrough >= departed.commit && back.term >= departed.term)
        #expect(!back.isRepairing && back.membership == Membership(voters: replicas))
        #expect(c.cores[k].group(g)?.state.nextOffset == 20)
        #expect(c.rejected.isEmpty)
    }

    @Test("a controller snapshot keeps every partition's move state")
    func snapshotRoundTrip() throws {
        var s = ControllerState(members: [1, 2, 3, 4])
        func entry(_ c: ControllerCommand) -> Entry { Entry(term: Term(1), index: s.appliedIndex.next, kind: .normal, data: c.encode()) }
        s.apply(entry(.createTopic(name: "a", partitions: 2, replicationFactor: 3)))
        s.apply(entry(.createTopic(name: "b", partitions: 1, replicationFactor: 2)))
        let a0 = s.topic("a")!.partitions[0]
        let b0 = s.topic("b")!.partitions[0]
        #expect(s.apply(entry(.reassignPartitions([PartitionMove(group: a0.group, replicas: [4, 1, 2]), PartitionMove(group: b0.group, replicas: [3])]))) == nil)
        #expect(s.apply(entry(.completeMove(group: b0.group, moves: 1, replicas: [3], at: LogIndex(17)))) == nil)
        // A report about an older move, or another target, changes nothing.
        #expect(s.apply(entry(.completeMove(group: a0.group, moves: 0, replicas: [4, 1, 2], at: LogIndex(9)))) != nil)
        #expect(s.apply(entry(.completeMove(group: a0.group, moves: 1, replicas: [4, 1], at: LogIndex(9)))) != nil)
        var restored = ControllerState(members: [1, 2, 3, 4])
        try restored.restore(Snapshot(index: s.appliedIndex, term: Term(1), membership: Membership(voters: [1]), data: s.encode()))
        #expect(restored == s)
        let a = try #require(restored.assignment(of: a0.group))
        #expect(a.target == [4, 1, 2] && a.origin == a0.replicas && a.founders == a0.replicas && a.moves == 1)
        #expect(Set(a.replicas) == Set(a0.replicas + [4, 1, 2]))
        let b = try #require(restored.assignment(of: b0.group))
        #expect(b.replicas == [3] && b.target == nil && b.settledAt == LogIndex(17) && b.founders == b0.replicas)
        // The membership each node starts the group with when it has no state: the founders while
        // it never moved, else never a voter of its own empty log.
        let a1 = try #require(restored.topic("a")?.partitions[1])
        #expect(restored.initialMembership(of: a1, for: a1.replicas[0], hasState: false) == Membership(voters: a1.replicas))
        let outsider = try #require([NodeID(1), 2, 3, 4].first { !a0.replicas.contains($0) })
        #expect(restored.initialMembership(of: a, for: outsider, hasState: false).isVoter(outsider) == false)
        #expect(restored.initialMembership(of: a, for: outsider, hasState: true) == Membership(voters: a0.replicas))
        // A founder that never left keeps the founders' membership with an empty log (the group
        // may never have elected); one that left and comes back is no voter of its empty log.
        #expect(restored.initialMembership(of: a, for: a0.replicas[0], hasState: false) == Membership(voters: a0.replicas))
        #expect(b.departed == b0.replicas.filter { $0 != 3 }.sorted())
        for d in b.departed { #expect(restored.initialMembership(of: b, for: d, hasState: false).isVoter(d) == false) }
        for (bytes, name) in [(ControllerCommand.reassignPartitions([PartitionMove(group: GroupID(5), replicas: nil)]).encode(), "cancel"),
                              (ControllerCommand.completeMove(group: GroupID(5), moves: 3, replicas: [1, 2], at: LogIndex(8)).encode(), "complete")] {
            #expect(try ControllerCommand.decode(bytes).encode() == bytes, "\(name)")
        }
    }

    /// Ticks until a move onto the fourth node of a partition holding about 120 KB finishes, with
    /// the move throttle at `bytesPerSec` (0: none).
    static func ticksToMove(throttle bytesPerSec: Int) throws -> (ticks: Int, bytes: Int) {
        let (c, g, replicas, leader) = try Self.cluster(records: 0) { config in
            config.kafkaCompactEvery = 5  // the log is read from storage, not memory
            config.moveThrottleBytesPerSec = bytesPerSec
        }
        let value = String(repeating: "x", count: 1000)
        for k in 0..<40 {
            let acked = try #require(try KafkaDataTests.produce(c, to: leader, acks: -1, correlation: Int32(100 + k), values: [value, value, value]))
            #expect(acked.errorCode == .none)
        }
        let bytes = try #require(c.cores[leader].group(g)).logBytes
        let outside = try #require((1...4).map { NodeID(UInt32($0)) }.first { !replicas.contains($0) })
        let target = Array(replicas.dropLast()) + [outside]
        #expect(try Self.alter(c, at: c.controllerIndex, [("t", 0, target.map { Int32($0.value) })], correlation: 1) == ["t-0": .none])
        for tick in 1...2000 {
            c.run(ticks: 1)
            if c.cores[0].controller.assignment(of: g)?.target == nil {
                #expect(c.cores[Int(outside.value) - 1].group(g)?.state.nextOffset == 120)
                return (tick, Int(bytes))
            }
        }
        Issue.record("the move did not finish in 2000 ticks (throttle \(bytesPerSec) B/s)")
        return (2000, Int(bytes))
    }

    @Test("the move throttle: a new replica's catch-up from storage runs at about the configured rate; without it, at once")
    func throttle() throws {
        let free = try Self.ticksToMove(throttle: 0)
        let rate = 32 * 1024
        let throttled = try Self.ticksToMove(throttle: rate)
        // 100 ms ticks: the log's bytes at `rate` take bytes / rate seconds, ten ticks each; the
        // first second's budget and the log's headers make it a little less.
        let expected = throttled.bytes * 10 / rate
        #expect(free.ticks < 30, "unthrottled: \(free.ticks) ticks")
        print("move of \(throttled.bytes) bytes: \(free.ticks) ticks unthrottled, \(throttled.ticks) at \(rate) B/s (\(expected) expected)")
        #expect(throttled.ticks >= expected / 2 && throttled.ticks <= expected * 2 + 30,
                "throttled: \(throttled.ticks) ticks for \(throttled.bytes) bytes at \(rate) B/s (about \(expected) expected)")
    }
}
