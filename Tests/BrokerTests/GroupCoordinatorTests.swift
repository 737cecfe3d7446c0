@testable import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Testing

/// The group coordinator inside `NodeCore`, on three in-process cores (no sockets).
@Suite(.serialized)
struct GroupCoordinatorTests {
    final class Client: MiniClient {
        func join(_ node: Int, _ group: String, member: String) throws -> JoinGroupResponse {
            let j = JoinGroupRequest(
                groupID: group, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 30_000, memberID: member, protocolType: "consumer",
                protocols: [.init(name: "range", metadata: ByteBuffer(bytes: [0, 1]))])
            return try call(node, .joinGroup, 5, { j.encode(&$0, version: 5) }) { try JoinGroupResponse.decode(&$0, version: 5) }
        }

        func sync(_ node: Int, _ group: String, generation: Int32, member: String, assignments: [SyncGroupRequest.SyncGroupRequestAssignment]) throws -> SyncGroupResponse {
            let s = SyncGroupRequest(groupID: group, generationID: generation, memberID: member, assignments: assignments)
            return try call(node, .syncGroup, 3, { s.encode(&$0, version: 3) }) { try SyncGroupResponse.decode(&$0, version: 3) }
        }

        func heartbeat(_ node: Int, _ group: String, generation: Int32, member: String) throws -> ErrorCode {
            let h = HeartbeatRequest(groupID: group, generationID: generation, memberID: member)
            return try call(node, .heartbeat, 3, { h.encode(&$0, version: 3) }) {
                try HeartbeatResponse.decode(&$0, version: 3).errorCode
            }
        }

        func commit(_ node: Int, _ group: String, generation: Int32, member: String, _ offsets: [(String, Int32, Int64)]) throws -> [ErrorCode] {
            var topics: [OffsetCommitRequest.OffsetCommitRequestTopic] = []
            for (t, p, o) in offsets {
                if topics.last?.name == t {
                    topics[topics.count - 1].partitions.append(.init(partitionIndex: p, committedOffset: o))
                } else {
                    topics.append(.init(name: t, partitions: [.init(partitionIndex: p, committedOffset: o)]))
                }
            }
            let c = OffsetCommitRequest(groupID: group, generationIDOrMemberEpoch: generation, memberID: member, topics: topics)
            return try call(node, .offsetCommit, 7, { c.encode(&$0, version: 7) }) {
                try OffsetCommitResponse.decode(&$0, version: 7).topics.flatMap { $0.partitions.map { $0.errorCode } }
            }
        }

        func fetch(_ node: Int, _ group: String, _ topic: String, _ partitions: [Int32]) throws -> [Int64] {
            let f = OffsetFetchRequest(groupID: group, topics: [.init(name: topic, partitionIndexes: partitions)])
            return try call(node, .offsetFetch, 5, { f.encode(&$0, version: 5) }) {
                try OffsetFetchResponse.decode(&$0, version: 5).topics.flatMap { $0.partitions.map(\.committedOffset) }
            }
        }

        func describe(_ node: Int, _ group: String) throws -> DescribeGroupsResponse.DescribedGroup {
            try call(node, .describeGroups, 4, { DescribeGroupsRequest(groups: [group]).encode(&$0, version: 4) }) {
                try DescribeGroupsResponse.decode(&$0, version: 4).groups[0]
            }
        }
    }

    /// A three-core cluster with topic "t" (2 partitions) and `__consumer_offsets`; returns the
    /// index of the core coordinating `group`.
    func setUp(_ group: String) throws -> (MiniCluster, Client, Int) {
        let cluster = try MiniCluster(nodes: 3)
        cluster.run(ticks: 40)
        let leader = try #require(cluster.controllerLeader)
        let (out, _) = try cluster.cores[leader].proposeToController(.createTopic(name: "t", partitions: 2, replicationFactor: 3))
        cluster.take(leader, out)
        cluster.run(ticks: 40)
        let client = Client(cluster)
        // The first FindCoordinator creates the offsets topic and says to come back.
        #expect(try client.find(0, group).errorCode == ErrorCode.coordinatorNotAvailable)
        var found: FindCoordinatorResponse?
        for _ in 0..<20 {
            cluster.run(ticks: 10)
            let f = try client.find(0, group)
            if f.errorCode == .none {
                found = f
                break
            }
        }
        let f = try #require(found, "no coordinator found")
        return (cluster, client, Int(f.nodeID) - 1)
    }

    @Test("with transactions off, FindCoordinator for a transactional id (key type 1) fails at once with a non-retriable error naming the reason; v4's batched form too")
    func transactionCoordinatorRefused() throws {
        let cluster = try MiniCluster(nodes: 3) { $0.servesTransactions = false }
        cluster.run(ticks: 40)
        let client = Client(cluster)
        let v3 = try client.call(0, .findCoordinator, 3, flexible: true, { FindCoordinatorRequest(key: "orders-txn\n", keyType: 1).encode(&$0, version: 3) }) {
            try FindCoordinatorResponse.decode(&$0, version: 3)
        }
        // Not COORDINATOR_NOT_AVAILABLE: clients retry that until their own timeout (60 s in Java).
        #expect(v3.errorCode == .unsupportedVersion)
        #expect(v3.errorMessage?.contains("does not support transactions yet (transactional.id 'orders-txn\\n')") == true, "\(v3.errorMessage ?? "nil")")
        let v4 = try client.call(0, .findCoordinator, 4, flexible: true, { FindCoordinatorRequest(keyType: 1, coordinatorKeys: ["a", "b"]).encode(&$0, version: 4) }) {
            try FindCoordinatorResponse.decode(&$0, version: 4)
        }
        #expect(v4.coordinators.map(\.key) == ["a", "b"])
        #expect(v4.coordinators.allSatisfy { $0.errorCode == .unsupportedVersion && $0.errorMessage?.contains("transactions") == true })
    }

    @Test("member id handshake, join after the initial delay, sync, heartbeat checks, commits and fetches, leave")
    func lifecycle() throws {
        let (cluster, client, c) = try setUp("g")
        let other = (c + 1) % 3
        #expect(try client.heartbeat(other, "g", generation: 1, member: "x") == .notCoordinator)
        let handshake = try client.join(c, "g", member: "")
        #expect(handshake.errorCode == ErrorCode.memberIDRequired && !handshake.memberID.isEmpty)
        let me = handshake.memberID
        let joined = try client.join(c, "g", member: me)  // held for the 3 s initial delay, then answered
        #expect(joined.errorCode == .none && joined.generationID == 1 && joined.leader == me && joined.members.map(\.memberID) == [me])
        #expect(try client.heartbeat(c, "g", generation: 1, member: me) == .none)
        let synced = try client.sync(c, "g", generation: 1, member: me, assignments: [.init(memberID: me, assignment: ByteBuffer(bytes: [7, 7]))])
        #expect(synced.errorCode == .none && Array(synced.assignment.readableBytesView) == [7, 7])
        #expect(try client.heartbeat(c, "g", generation: 2, member: me) == .illegalGeneration)
        #expect(try client.heartbeat(c, "g", generation: 1, member: "stranger") == .unknownMemberID)
        #expect(try client.describe(c, "g").groupState == "Stable")

        #expect(try client.fetch(c, "g", "t", [0, 1]) == [-1, -1], "no commit yet: -1")
        #expect(try client.commit(c, "g", generation: 1, member: me, [("t", 0, 42), ("t", 1, 7)]) == [.none, .none])
        #expect(try client.fetch(c, "g", "t", [0, 1]) == [42, 7])
        #expect(try client.commit(c, "g", generation: 1, member: me, [("t", 5, 1), ("nope", 0, 1)]) == [.unknownTopicOrPartition, .unknownTopicOrPartition])
        #expect(try client.commit(c, "g", generation: 0, member: me, [("t", 0, 43)]) == [.illegalGeneration])
        #expect(try client.commit(c, "g", generation: -1, member: "", [("t", 0, 43)]) == [.unknownMemberID], "a standalone commit while members are in")
        #expect(try client.fetch(c, "g", "t", [0]) == [42], "refused commits change nothing")

        let leave = LeaveGroupRequest(groupID: "g", members: [.init(memberID: me)])
        let left = try client.call(c, .leaveGroup, 3, { leave.encode(&$0, version: 3) }) { try LeaveGroupResponse.decode(&$0, version: 3) }
        #expect(left.errorCode == .none && left.members.map(\.errorCode) == [.none])
        #expect(try client.describe(c, "g").groupState == "Empty")
        #expect(try client.commit(c, "g", generation: -1, member: "", [("t", 0, 50)]) == [.none], "standalone commits once the group is empty")
        #expect(try client.fetch(c, "g", "t", [0]) == [50])
        _ = cluster
    }

    @Test("DeleteGroups: a live group is NON_EMPTY_GROUP; once empty its metadata and offsets are gone on every replica; unknown ids GROUP_ID_NOT_FOUND")
    func deleteGroups() throws {
        let (cluster, client, c) = try setUp("dg")
        let me = try client.join(c, "dg", member: "").memberID
        let joined = try client.join(c, "dg", member: me)
        _ = try client.sync(c, "dg", generation: joined.generationID, member: me, assignments: [.init(memberID: me, assignment: ByteBuffer(bytes: [1]))])
        #expect(try client.commit(c, "dg", generation: joined.generationID, member: me, [("t", 0, 5), ("t", 1, 6)]) == [.none, .none])
        func delete(_ node: Int, _ ids: [String]) throws -> [ErrorCode] {
            try client.call(node, .deleteGroups, 1, { DeleteGroupsRequest(groupsNames: ids).encode(&$0, version: 1) }) {
                try DeleteGroupsResponse.decode(&$0, version: 1).results.map(\.errorCode)
            }
        }
        #expect(try delete(c, ["dg", "never", ""]) == [.nonEmptyGroup, .groupIDNotFound, .invalidGroupID])
        #expect(try delete((c + 1) % 3, ["dg"]) == [.notCoordinator])
        let leave = LeaveGroupRequest(groupID: "dg", members: [.init(memberID: me)])
        _ = try client.call(c, .leaveGroup, 3, { leave.encode(&$0, version: 3) }) { try LeaveGroupResponse.decode(&$0, version: 3) }
        cluster.run(ticks: 5)
        #expect(try delete(c, ["dg", "dg"]) == [.none, .invalidRequest])
        #expect(try client.fetch(c, "dg", "t", [0, 1]) == [-1, -1], "the offsets went with the group")
        #expect(try client.describe(c, "dg").groupState == "Dead")
        cluster.run(ticks: 20)
        for core in cluster.cores {
            for g in core.groupIDs {
                guard let store = core.group(g)?.offsetStore else { continue }
                #expect(store.offsets["dg"] == nil && store.groups["dg"] == nil, "node \(core.config.id)")
            }
        }
        #expect(try delete(c, ["dg"]) == [.groupIDNotFound])
    }

    @Test("OffsetDelete: a subscribed topic's partitions are refused while the group lives; others, and all once it is empty, are deleted")
    func offsetDelete() throws {
        let (cluster, client, c) = try setUp("od")
        let (out, _) = try cluster.cores[cluster.controllerIndex].proposeToController(.createTopic(name: "u", partitions: 1, replicationFactor: 3))
        cluster.take(cluster.controllerIndex, out)
        cluster.run(ticks: 30)
        // A consumer subscription to "t": version 0, one topic, no user data.
        var sub = KafkaWriter()
        sub.int16(0)
        sub.int32(1)
        sub.string("t")
        sub.int32(-1)
        func join(_ member: String) throws -> JoinGroupResponse {
            let j = JoinGroupRequest(groupID: "od", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 30_000, memberID: member, protocolType: "consumer",
                                     protocols: [.init(name: "range", metadata: sub.buffer)])
            return try client.call(c, .joinGroup, 5, { j.encode(&$0, version: 5) }) { try JoinGroupResponse.decode(&$0, version: 5) }
        }
        let me = try join("").memberID
        let joined = try join(me)
        _ = try client.sync(c, "od", generation: joined.generationID, member: me, assignments: [.init(memberID: me, assignment: ByteBuffer(bytes: [1]))])
        #expect(try client.commit(c, "od", generation: joined.generationID, member: me, [("t", 0, 5), ("u", 0, 9)]) == [.none, .none])
        func offsetDelete(_ topics: [(String, [Int32])]) throws -> OffsetDeleteResponse {
            let d = OffsetDeleteRequest(groupID: "od", topics: topics.map { .init(name: $0.0, partitions: $0.1.map { .init(partitionIndex: $0) }) })
            return try client.call(c, .offsetDelete, 0, { d.encode(&$0, version: 0) }) { try OffsetDeleteResponse.decode(&$0, version: 0) }
        }
        let live = try offsetDelete([("t", [0]), ("u", [0])])
        #expect(live.errorCode == .none && live.topics.map { $0.partitions[0].errorCode } == [.groupSubscribedToTopic, .none], "\(live)")
        #expect(try client.fetch(c, "od", "t", [0]) == [5] && client.fetch(c, "od", "u", [0]) == [-1])
        let leave = LeaveGroupRequest(groupID: "od", members: [.init(memberID: me)])
        _ = try client.call(c, .leaveGroup, 3, { leave.encode(&$0, version: 3) }) { try LeaveGroupResponse.decode(&$0, version: 3) }
        cluster.run(ticks: 5)
        let empty = try offsetDelete([("t", [0])])
        #expect(empty.errorCode == .none && empty.topics[0].partitions[0].errorCode == .none)
        #expect(try client.fetch(c, "od", "t", [0]) == [-1])
        let nopeCoordinator = Int(try client.find(0, "nope").nodeID) - 1
        let missing = try client.call(nopeCoordinator, .offsetDelete, 0, { OffsetDeleteRequest(groupID: "nope", topics: []).encode(&$0, version: 0) }) {
            try OffsetDeleteResponse.decode(&$0, version: 0)
        }
        #expect(missing.errorCode == .groupIDNotFound)
    }

    @Test("a deleted topic's committed offsets go with it on every replica; a topic created again under the name starts without them")
    func deletedTopicOffsets() throws {
        let (cluster, client, c) = try setUp("dt")
        #expect(try client.commit(c, "dt", generation: -1, member: "", [("t", 0, 5), ("t", 1, 6)]) == [.none, .none])
        let leader = cluster.controllerIndex
        let (out, _) = try cluster.cores[leader].proposeToController(.deleteTopic(name: "t"))
        cluster.take(leader, out)
        cluster.run(ticks: 30)
        for core in cluster.cores {
            for g in core.groupIDs {
                guard let store = core.group(g)?.offsetStore else { continue }
                #expect(store.offsets["dt"] == nil, "node \(core.config.id)")
            }
        }
        let (again, _) = try cluster.cores[cluster.controllerIndex].proposeToController(.createTopic(name: "t", partitions: 2, replicationFactor: 3))
        cluster.take(cluster.controllerIndex, again)
        cluster.run(ticks: 30)
        #expect(try client.fetch(c, "dt", "t", [0, 1]) == [-1, -1])
    }

    @Test("two members: the second join starts a rebalance; the leader gets both subscriptions; a member that stops heartbeating is expired")
    func rebalance() throws {
        let (cluster, client, c) = try setUp("g2")
        let a = try client.join(c, "g2", member: "").memberID
        let first = try client.join(c, "g2", member: a)
        #expect(first.generationID == 1)
        _ = try client.sync(c, "g2", generation: 1, member: a, assignments: [.init(memberID: a, assignment: ByteBuffer(bytes: [1]))])
        let b = try client.join(c, "g2", member: "").memberID
        // b's join is held until a rejoins; a learns of the rebalance from its heartbeat.
        var bJoin: JoinGroupResponse?
        let correlation = client.correlation + 1
        client.correlation = correlation
        let j = JoinGroupRequest(
            groupID: "g2", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 30_000, memberID: b, protocolType: "consumer",
            protocols: [.init(name: "range", metadata: ByteBuffer(bytes: [0, 2]))])
        let request = KafkaRequest(
            connection: 2, sequence: UInt64(correlation), header: RequestHeader(apiKey: ApiKey.joinGroup.rawValue, apiVersion: 5, correlationID: correlation, clientID: "b"),
            body: { var w = KafkaWriter(); j.encode(&w, version: 5); return w.buffer }())
        let (reply, out) = cluster.cores[c].handleKafka(request)
        cluster.take(c, out)
        if case .pending = reply {} else { Issue.record("b's join was answered at once") }
        #expect(try client.heartbeat(c, "g2", generation: 1, member: a) == .rebalanceInProgress)
        let aJoin = try client.join(c, "g2", member: a)
        #expect(aJoin.generationID == 2 && aJoin.leader == a && Set(aJoin.members.map(\.memberID)) == [a, b])
        if let done = cluster.completions.first(where: { $0.connection == 2 && $0.sequence == UInt64(correlation) }), var f = done.response {
            var r = KafkaReader(try #require(try KafkaFrame.next(from: &f)))
            _ = try r.int32()
            bJoin = try JoinGroupResponse.decode(&r, version: 5)
        }
        #expect(bJoin?.generationID == 2 && bJoin?.members.isEmpty == true, "a follower gets no member list")
        // b never syncs nor heartbeats: after its 10 s session it is gone and a rebalance starts.
        _ = try client.sync(c, "g2", generation: 2, member: a, assignments: [.init(memberID: a, assignment: ByteBuffer(bytes: [1])), .init(memberID: b, assignment: ByteBuffer(bytes: [2]))])
        for _ in 0..<12 {
            cluster.run(ticks: 10)
            _ = try client.heartbeat(c, "g2", generation: 2, member: a)
        }
        let described = try client.describe(c, "g2")
        #expect(described.members.map(\.memberID) == [a] && described.groupState == "PreparingRebalance", "\(described)")
        // The coordinator's log tells the story.
        #expect(cluster.notices.contains("group 'g2': generation 2 formed with 2 member(s), leader \(a), protocol range"), "\(cluster.notices)")
        #expect(cluster.notices.contains("group 'g2': member \(b) sent no heartbeat for 10000 ms (its session timeout); removed, rebalancing"), "\(cluster.notices)")
    }

    @Test("the coordinator's node is cut off: a new coordinator continues the same generation with every acknowledged commit")
    func failover() throws {
        let (cluster, client, c) = try setUp("g3")
        let me = try client.join(c, "g3", member: "").memberID
        let joined = try client.join(c, "g3", member: me)
        _ = try client.sync(c, "g3", generation: joined.generationID, member: me, assignments: [.init(memberID: me, assignment: ByteBuffer(bytes: [9]))])
        #expect(try client.commit(c, "g3", generation: joined.generationID, member: me, [("t", 0, 11), ("t", 1, 22)]) == [.none, .none])
        cluster.isolated = c
        var newCoordinator: Int?
        for _ in 0..<30 {
            cluster.run(ticks: 10)
            for n in 0..<3 where n != c {
                if let f = try? client.find(n, "g3"), f.errorCode == .none, Int(f.nodeID) - 1 != c { newCoordinator = Int(f.nodeID) - 1 }
            }
            if newCoordinator != nil { break }
        }
        let n = try #require(newCoordinator, "no new coordinator")
        var beat = ErrorCode.coordinatorLoadInProgress
        for _ in 0..<20 where beat == .coordinatorLoadInProgress || beat == .notCoordinator {
            beat = try client.heartbeat(n, "g3", generation: joined.generationID, member: me)
            cluster.run(ticks: 2)
        }
        #expect(beat == .none, "the member goes on in its generation")
        #expect(try client.fetch(n, "g3", "t", [0, 1]) == [11, 22])
        let resynced = try client.sync(n, "g3", generation: joined.generationID, member: me, assignments: [])
        #expect(Array(resynced.assignment.readableBytesView) == [9], "its assignment is known there too")
    }

    @Test("a member whose SyncGroup waits for the leader's assignment is not expired by its session; the silent leader is")
    func heldSyncKeepsMemberAlive() {
        let g = ConsumerGroup(id: "g")
        func held(_ n: UInt64, _ key: ApiKey) -> HeldRequest {
            HeldRequest(request: KafkaRequest(connection: n, sequence: n, header: RequestHeader(apiKey: key.rawValue, apiVersion: 3, correlationID: Int32(n), clientID: "c"), body: ByteBuffer()), version: 3)
        }
        // One tick of initial delay, so both joins at tick 0 make one generation (with none, the
        // first join forms a generation alone at once, as Kafka does with a delay of 0).
        func timing(_ now: UInt64) -> GroupTiming { GroupTiming(now: now, tickMs: 100, initialRebalanceDelayMs: 100) }
        func join(_ id: String) -> JoinGroupRequest {
            JoinGroupRequest(groupID: "g", sessionTimeoutMs: 6000, rebalanceTimeoutMs: 60_000, memberID: id, protocolType: "consumer",
                             protocols: [.init(name: "range", metadata: ByteBuffer(bytes: [1]))])
        }
        _ = g.join(join(""), held: held(1, .joinGroup), clientID: "c", newMemberID: "a", timing: timing(0))
        _ = g.join(join(""), held: held(2, .joinGroup), clientID: "c", newMemberID: "b", timing: timing(0))
        let formed = g.tick(timing(1))
        #expect(formed.count == 2 && g.state == .completingRebalance && g.leader == "a")
        // b asks for its assignment; the leader a never sends its own.
        #expect(g.sync(SyncGroupRequest(groupID: "g", generationID: g.generation, memberID: "b", assignments: []), held: held(3, .syncGroup), timing: timing(1)).isEmpty)
        let replies = g.tick(timing(1 + 61))  // past both sessions (6 s = 60 ticks)
        #expect(g.member("a") == nil, "the silent leader stays")
        #expect(g.member("b") != nil, "b, held in SyncGroup, was expired: \(g.notices)")
        // b's held sync is told to rejoin (the leader left), not that it is unknown.
        let codes = replies.compactMap { r -> ErrorCode? in if case .sync(_, let s) = r { return s.errorCode } else { return nil } }
        #expect(codes == [.rebalanceInProgress])
    }

    @Test("Kafka's partition for a group id: Java's String.hashCode, sign bit dropped")
    func placement() {
        // "hello".hashCode() == 99162322; "polygenelubricants".hashCode() == Integer.MIN_VALUE.
        #expect(GroupCoordinator.offsetsPartition(of: "hello", partitions: 50) == 99_162_322 % 50)
        #expect(GroupCoordinator.offsetsPartition(of: "polygenelubricants", partitions: 50) == 0)
        #expect(GroupCoordinator.offsetsPartition(of: "", partitions: 4) == 0)
    }

    @Test("offset store: records replayed in any batch split give the same state, snapshots round-trip, tombstones delete")
    func store() throws {
        var s = GroupOffsetStore()
        try s.apply(key: GroupOffsetStore.offsetRecord(group: "g", topic: "t", partition: 1, CommittedOffset(offset: 5, leaderEpoch: 2, metadata: "m", timestamp: 0)).key,
                value: GroupOffsetStore.offsetRecord(group: "g", topic: "t", partition: 1, CommittedOffset(offset: 5, leaderEpoch: 2, metadata: "m", timestamp: 0)).value)
        let member = PersistedGroup.Member(id: "m1", instanceID: nil, clientID: "c", clientHost: "/h", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 30_000, subscription: [1], assignment: [2])
        let record = GroupOffsetStore.groupRecord(group: "g", PersistedGroup(protocolType: "consumer", generation: 4, protocolName: "range", leader: "m1", members: [member]))
        try s.apply(key: record.key, value: record.value)
        #expect(s.offsets["g"]?[.init(topic: "t", partition: 1)]?.offset == 5)
        #expect(s.groups["g"]?.generation == 4 && s.groups["g"]?.members == [member])
        var w = ByteWriter()
        s.encode(&w)
        var r = ByteReader(w.bytes)
        let restored = try GroupOffsetStore.decode(&r)
        #expect(restored.offsets == s.offsets && restored.groups == s.groups)
        let tomb = GroupOffsetStore.offsetRecord(group: "g", topic: "t", partition: 1, nil)
        try s.apply(key: tomb.key, value: tomb.value)
        #expect(s.offsets["g"] == nil)
        // A record that does not decode is thrown (the node traps on it in committed state, and
        // refuses a peer's snapshot holding it), and changes nothing.
        #expect(throws: WireError.invalid("offsets record type 9")) { try s.apply(key: [9, 9, 9], value: [1]) }
        #expect(throws: WireError.self) { try s.apply(key: [1, 0, 0, 0, 200], value: nil) }
        #expect(throws: WireError.self) { try s.apply(key: nil, value: [1]) }
        #expect(throws: WireError.self) { try s.apply(entryData: [1, 2, 3]) }
        #expect(s.groups["g"] != nil)
    }
}
