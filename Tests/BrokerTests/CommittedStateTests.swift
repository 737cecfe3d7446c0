@testable import Broker
import Foundation
import KafkaProtocol
import Primitives
import Raft
import Testing

/// Committed state that does not decode traps with what it was; a peer's snapshot that does not
/// decode is refused on arrival instead (input is validated, never trapped on).
struct CommittedStateTests {
    @Test("a committed controller entry that does not decode stops the node, naming the entry")
    func controllerEntryTraps() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var state = ControllerState(members: [1, 2, 3])
            state.apply(Entry(term: 1, index: 1, data: [0x09, 0xab]))
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("committed controller command of group 0 at index 1 does not decode"), "\(stderr)")
        #expect(stderr.contains("2 bytes, starting 09ab"), "\(stderr)")
    }

    @Test("a committed offsets-partition entry that does not decode stops the node, naming group and index")
    func offsetsEntryTraps() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let raft = try! RaftNode(config: RaftConfig(id: 1, initialMembership: Membership(voters: [1])))
            let g = NodeCore.Group(id: GroupID(7), raft: raft, isKafkaPartition: true, internalTopic: .consumerOffsets)
            // A record batch whose last byte changed: its checksum fails.
            var builder = RecordBatchBuilder()
            builder.append(key: [1], value: [2], timestamp: 0)
            var data = Array(builder.build().bytes.readableBytesView)
            data[data.count - 1] ^= 0xff
            g.apply(Entry(term: 1, index: 1, data: data))
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("committed __consumer_offsets partition entry of group 7 at index 1 does not decode"), "\(stderr)")
        #expect(stderr.contains("starting 0000000000000000"), "\(stderr)")
    }

    @Test("a snapshot this node holds whose state does not decode stops it")
    func snapshotTraps() async {
        await #expect(processExitsWith: .failure) {
            let raft = try! RaftNode(config: RaftConfig(id: 1, initialMembership: Membership(voters: [1])))
            let g = NodeCore.Group(id: GroupID(7), raft: raft, isKafkaPartition: true)
            // The replica state of index 5, then a producer count far beyond the bytes.
            var w = ByteWriter()
            w.u64(5)
            w.u64(1)
            w.u64(0)
            w.u32(1_000_000)
            g.restore(Snapshot(index: 5, term: 1, membership: Membership(voters: [1]), data: w.bytes))
        }
    }

    @Test("older snapshot layouts are read as what they are: no producers, no offsets")
    func olderLayouts() throws {
        var w = ByteWriter()
        w.u64(5)
        w.u64(1)
        w.u64(3)
        let replicaOnly = w.bytes
        let state = try NodeCore.Group.decodeKafkaState(replicaOnly, internal: .consumerOffsets)
        #expect(state.producers == ProducerState() && state.offsetStore?.groupIDs == [])
        ProducerState().encode(&w)
        let withProducers = w.bytes
        #expect(try NodeCore.Group.decodeKafkaState(withProducers, internal: .consumerOffsets).offsetStore?.groupIDs == [])
        let partition = try NodeCore.Group.decodeKafkaState(withProducers, internal: nil)
        #expect(partition.offsetStore == nil && partition.recordsDeletedBelow == 0)
        #expect(try ReplicaState.decode(Snapshot(index: 5, term: 1, membership: Membership(voters: [1]), data: replicaOnly)).nextOffset == 3)
        // The replica state has always been 24 bytes: anything shorter is damage, not a layout.
        #expect(throws: WireError.self) {
            try ReplicaState.decode(Snapshot(index: 5, term: 1, membership: Membership(voters: [1]), data: Array(replicaOnly.prefix(16))))
        }
    }

    @Test("a peer's snapshot whose state does not decode is refused and reported, and the cluster carries on")
    func peerSnapshotRefused() throws {
        let cluster = try MiniCluster(nodes: 3)
        cluster.run(ticks: 60)
        let leader = try #require(cluster.controllerLeader)
        let follower = (leader + 1) % 3
        let raft = try #require(cluster.cores[leader].raftOf(controllerGroup))
        let before = try #require(cluster.cores[follower].raftOf(controllerGroup))
        // A replica state for the snapshot's index, then bytes that are no controller state.
        var w = ByteWriter()
        w.u64(raft.commitIndex.value + 10)
        w.u64(1)
        w.u64(0)
        w.raw([0xde, 0xad])
        var m = Message(kind: .snapshot, from: NodeID(UInt32(leader + 1)), to: NodeID(UInt32(follower + 1)), term: raft.term)
        m.snapshot = Snapshot(index: raft.commitIndex + 10, term: raft.term, membership: raft.membership, data: w.bytes)
        let out = cluster.cores[follower].receive([PeerEnvelope(group: controllerGroup, message: m)])
        #expect(out.rejected.map(\.1.kind) == [.snapshot])
        #expect(out.rejected.first?.1.reason.contains("does not decode") == true)
        #expect(out.storage == nil, "nothing of it is written")
        let after = try #require(cluster.cores[follower].raftOf(controllerGroup))
        #expect(after.snapshotIndex == before.snapshotIndex && after.lastIndex == before.lastIndex)
        cluster.run(ticks: 30)
        #expect(cluster.controllerLeader != nil)
        #expect(cluster.rejected.isEmpty)
    }
}

extension CommittedStateTests {
    @Test("data without a record batch header holds no records, in an offsets partition too (the simulator's liveness probe)")
    func nonBatchEntrySkipped() {
        let raft = try! RaftNode(config: RaftConfig(id: 1, initialMembership: Membership(voters: [1])))
        let g = NodeCore.Group(id: GroupID(7), raft: raft, isKafkaPartition: true, internalTopic: .consumerOffsets)
        g.apply(Entry(term: 1, index: 1, data: Array("probe-g7-t1".utf8)))
        #expect(g.state.appliedIndex == LogIndex(1) && g.state.nextOffset == 0 && g.offsetStore?.groupIDs == [])
    }
}
