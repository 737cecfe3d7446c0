import Broker
import Primitives
import Raft
import SimulationKit
import Storage
import Testing

/// Three node cores wired together in memory: messages delivered at once, storage batches run at
/// once on each node's simulated file system. Enough to see the controller at work.
final class MiniCluster {
    var cores: [NodeCore] = []
    var storages: [NodeStorage] = []
    var filesystems: [SimFileSystem] = []
    var pending: [(NodeID, [PeerEnvelope])] = []
    /// Keepalives in flight: (to, from) by node index.
    var keepalives: [(Int, Int)] = []
    var forwards: [(NodeID, ControllerCommand)] = []
    var batches: [(Int, StorageBatch)] = []
    var completions: [KafkaCompletion] = []
    /// Called with each Kafka completion as a node hands it out, before anything else runs.
    var onCompletion: ((Int, KafkaCompletion) -> Void)?
    var gossip: [(Int, [LeaderHint])] = []
    var reads: [(Int, StorageRead)] = []
    /// Log lines the nodes handed out (`NodeOutput.notices`).
    var notices: [String] = []
    /// Peer messages a node dropped as invalid (`NodeOutput.rejected`): none between correct nodes.
    var rejected: [(Int, GroupID, RejectedMessage)] = []
    /// A node cut off from the others (messages to and from it are dropped).
    var isolated: Int?
    /// Repair messages in flight, by destination (`NodeOutput.repairs`).
    var repairs: [(Int, RepairMessage)] = []
    /// Transaction messages in flight: to, from, message.
    var transactionMessages: [(Int, NodeID, TransactionPartitionMessage)] = []
    /// Drop every transaction message between nodes (a node's own never leave it).
    var holdTransactionMessages = false
    /// Repair messages are lost on the way.
    var dropRepairs = false
    /// Damage reports the nodes handed out (`NodeOutput.damage`), by node.
    var damage: [(Int, StorageDamageReport)] = []
    /// Changes to every node's configuration.
    let configure: (inout NodeConfig) -> Void
    /// Log settings per group (smaller segments, say).
    let logConfig: @Sendable (GroupID) -> PartitionLogConfig

    init(nodes: Int, configure: @escaping (inout NodeConfig) -> Void = { _ in },
         logConfig: @escaping @Sendable (GroupID) -> PartitionLogConfig = NodeStorage.kafkaLogConfig) throws {
        self.configure = configure
        self.logConfig = logConfig
        let members = (1...nodes).map { NodeID(UInt32($0)) }
        for i in 0..<nodes {
            let fs = SimFileSystem()
            filesystems.append(fs)
            try start(i, members: members, fs: fs)
        }
    }

    /// Start node `i` (node id i + 1 unless `members`, the founders, say otherwise); one not
    /// among the founders joins the cluster, announcing a made-up peer address.
    func start(_ i: Int, members: [NodeID], fs: SimFileSystem, incarnation: UInt64 = 0) throws {
        let id = i < members.count ? members[i] : NodeID(UInt32(i + 1))
        let storage = try NodeStorage(fs: fs, path: "/data", cluster: "test", node: id, logConfig: logConfig)
        var recovered: [(GroupID, RecoveredState)] = []
        for g in try storage.existingGroups() { recovered.append((g, try storage.open(g).0)) }
        var config = NodeConfig(
            id: id, members: members, kafkaHost: "127.0.0.1", kafkaPort: UInt16(9092 + i), seed: UInt64(i + 1))
        if !members.contains(id) { config.peerAddress = PeerRegistration(node: id, host: "node\(id.value)", port: 9192) }
        config.incarnation = incarnation
        configure(&config)
        let core = try NodeCore(config: config, recovered: recovered, departed: storage.departedCopies)
        if i < cores.count {
            cores[i] = core
            storages[i] = storage
        } else {
            cores.append(core)
            storages.append(storage)
        }
    }

    /// Queue what node `i` asked for (`NodeOutput.dispatch`, the runtime's and simulator's
    /// interpreter too); `settle` delivers and runs it.
    func take(_ i: Int, _ out: NodeOutput) {
        out.dispatch(to: Queues(cluster: self, node: i))
    }

    /// Each effect of node `node`'s output into the cluster's queues.
    struct Queues: NodeOutputHandler {
        let cluster: MiniCluster
        let node: Int

        func sendRaft(_ envelopes: [PeerEnvelope], to peer: NodeID) { cluster.pending.append((peer, envelopes)) }
        func sendForward(_ command: ControllerCommand, to peer: NodeID) { cluster.forwards.append((peer, command)) }
        func sendRepair(_ message: RepairMessage, to peer: NodeID) { cluster.repairs.append((Int(peer.value) - 1, message)) }
        func sendTransaction(_ message: TransactionPartitionMessage, to peer: NodeID) {
            cluster.transactionMessages.append((Int(peer.value) - 1, cluster.cores[node].config.id, message))
        }
        func sendLeaders(_ hints: [LeaderHint]) {
            for j in cluster.cores.indices where j != node { cluster.gossip.append((j, hints)) }
        }
        func completeKafka(_ completion: KafkaCompletion) {
            cluster.completions.append(completion)
            cluster.onCompletion?(node, completion)
        }
        func logNotice(_ line: String) { cluster.notices.append(line) }
        func reportDamage(_ report: StorageDamageReport) { cluster.damage.append((node, report)) }
        func reportRejected(_ message: RejectedMessage, group: GroupID) { cluster.rejected.append((node, group, message)) }
        func runRead(_ read: StorageRead) { cluster.reads.append((node, read)) }
        func runBatch(_ batch: StorageBatch) { cluster.batches.append((node, batch)) }
        func sendKeepalive(to peer: NodeID) { cluster.keepalives.append((Int(peer.value) - 1, node)) }
    }

    /// Run until quiet, ticking every node `ticks` times.
    func run(ticks: Int) {
        for _ in 0..<ticks {
            for i in cores.indices { take(i, cores[i].tick()) }
            settle()
        }
    }

    func settle() {
        for _ in 0..<1000 {
            if pending.isEmpty && batches.isEmpty && forwards.isEmpty && gossip.isEmpty && reads.isEmpty && repairs.isEmpty
                && keepalives.isEmpty && transactionMessages.isEmpty { return }
            deliverOneRound()
        }
    }

    /// Deliver what is queued now (messages, forwards, gossip, repairs, reads, then storage
    /// batches), once; what that produces waits for the next round.
    func deliverOneRound() {
        let msgs = pending
        pending = []
        for (to, envs) in msgs {
            let j = Int(to.value) - 1
            if j == isolated || envs.contains(where: { Int($0.message.from.value) - 1 == isolated }) { continue }
            if let from = envs.first?.message.from { take(j, cores[j].heard(from: from)) }
            take(j, cores[j].receive(envs))
        }
        let kas = keepalives
        keepalives = []
        for (j, from) in kas where j != isolated && from != isolated {
            take(j, cores[j].heard(from: cores[from].config.id, run: cores[from].run))
        }
        let fw = forwards
        forwards = []
        for (to, c) in fw where isolated == nil { take(Int(to.value) - 1, cores[Int(to.value) - 1].receiveForward(c)) }
        let gs = gossip
        gossip = []
        for (j, hints) in gs { take(j, cores[j].receiveLeaders(hints)) }
        let rps = repairs
        repairs = []
        for (j, m) in rps where j != isolated && !dropRepairs { take(j, cores[j].receiveRepair(m)) }
        let txs = transactionMessages
        transactionMessages = []
        for (j, from, m) in txs where j != isolated && Int(from.value) - 1 != isolated && !holdTransactionMessages {
            take(j, cores[j].receiveTransaction(m, from: from))
        }
        let rs = reads
        reads = []
        for (i, r) in rs { take(i, cores[i].readCompleted(storages[i].execute(r))) }
        let bs = batches
        batches = []
        for (i, b) in bs { take(i, cores[i].storageCompleted(storages[i].execute(b))) }
    }

    /// A new node, with an empty disk, joins the cluster founded by `founders` (node id: its
    /// index + 1).
    @discardableResult
    func join(founders: [NodeID]) throws -> Int {
        let fs = SimFileSystem()
        filesystems.append(fs)
        try start(cores.count, members: founders, fs: fs)
        return cores.count - 1
    }

    var controllerLeader: Int? {
        cores.indices.first { cores[$0].raftOf(controllerGroup)?.role == .leader }
    }
}

struct NodeCoreTests {
    @Test("a peer's inconsistent Raft message is dropped and reported, and the cluster carries on")
    func inconsistentPeerMessage() throws {
        let cluster = try MiniCluster(nodes: 3)
        cluster.run(ticks: 60)
        #expect(cluster.rejected.isEmpty)
        let leader = try #require(cluster.controllerLeader)
        let raft = try #require(cluster.cores[leader].raftOf(controllerGroup))
        let follower = (leader + 1) % 3
        let leaderID = NodeID(UInt32(leader + 1))
        let followerID = NodeID(UInt32(follower + 1))
        // An ack far beyond the leader's log (it trapped in sendSnapshot), and a MsgApp whose
        // entries do not follow its previous index (it trapped slicing them).
        let ack = Message(kind: .appendResponse, from: followerID, to: leaderID, term: raft.term, index: raft.lastIndex + 1000)
        var out = cluster.cores[leader].receive([PeerEnvelope(group: controllerGroup, message: ack)])
        #expect(out.rejected.map(\.1.kind) == [.appendResponse])
        var app = Message(kind: .append, from: leaderID, to: followerID, term: raft.term, logTerm: raft.lastTerm, index: raft.lastIndex)
        app.entries = [Entry(term: raft.term, index: raft.lastIndex + 5)]
        out = cluster.cores[follower].receive([PeerEnvelope(group: controllerGroup, message: app)])
        #expect(out.rejected.map(\.1.kind) == [.append])
        #expect(cluster.cores[leader].raftOf(controllerGroup)?.role == .leader)
        // Repair copies beyond the commit index and hints for groups that do not exist are ignored.
        _ = cluster.cores[follower].receiveRepair(.entries(group: controllerGroup, [Entry(term: 1, index: LogIndex(1 << 40))]))
        _ = cluster.cores[follower].receiveLeaders((0..<1000).map { LeaderHint(group: GroupID(1_000_000 + $0), leader: leaderID, term: 1) })
        cluster.run(ticks: 30)
        #expect(cluster.cores[leader].raftOf(controllerGroup)?.role == .leader)
        #expect(cluster.rejected.isEmpty)
    }

    @Test("three cores elect a controller leader and register every broker through it")
    func controllerRegistration() throws {
        let cluster = try MiniCluster(nodes: 3)
        cluster.run(ticks: 60)
        let leader = try #require(cluster.controllerLeader)
        for core in cluster.cores {
            #expect(core.controller.brokers.map(\.node) == [1, 2, 3])
            #expect(core.controller.brokers.map(\.kafkaPort) == [9092, 9093, 9094])
        }
        _ = leader
    }

    @Test("a topic created through the controller gets its partition groups on its replicas, each with a leader")
    func topicGroups() throws {
        let cluster = try MiniCluster(nodes: 3)
        cluster.run(ticks: 40)
        let leader = try #require(cluster.controllerLeader)
        let (out, _) = try cluster.cores[leader].proposeToController(
            .createTopic(name: "events", partitions: 3, replicationFactor: 2))
        cluster.take(leader, out)
        cluster.run(ticks: 60)
        for core in cluster.cores {
            let topic = try #require(core.controller.topic("events"))
            #expect(topic.partitions.count == 3)
            for p in topic.partitions {
                #expect(p.replicas.count == 2)
                #expect(core.groupIDs.contains(p.group) == p.replicas.contains(core.config.id))
            }
        }
        let topic = cluster.cores[0].controller.topic("events")!
        for p in topic.partitions {
            let leaders = cluster.cores.filter { $0.raftOf(p.group)?.role == .leader }
            #expect(leaders.count == 1, "partition \(p.partition) (group \(p.group))")
        }
    }

    @Test("a restarted core recovers the controller state and its partition groups from disk")
    func restart() throws {
        let cluster = try MiniCluster(nodes: 3)
        cluster.run(ticks: 40)
        let leader = try #require(cluster.controllerLeader)
        let (out, _) = try cluster.cores[leader].proposeToController(
            .createTopic(name: "t", partitions: 2, replicationFactor: 3))
        cluster.take(leader, out)
        cluster.run(ticks: 40)
        let before = cluster.cores[1].controller
        try cluster.start(1, members: [1, 2, 3], fs: cluster.filesystems[1])
        cluster.run(ticks: 40)
        #expect(cluster.cores[1].controller == before || cluster.cores[1].controller.appliedIndex > before.appliedIndex)
        #expect(cluster.cores[1].controller.topic("t") != nil)
        #expect(cluster.cores[1].groupIDs == [0, 1, 2])
    }

    @Test("a follower behind a partition's memory snapshot catches up from the leader's storage and keeps the whole log",
          arguments: [false, true])
    func catchUpFromStorage(planted: Bool) throws {
        let cluster = try MiniCluster(nodes: 3) { c in
            c.kafkaCompactEvery = 5
            if planted { c.plantedBug = .snapshotLaggingFollowers }
        }
        cluster.run(ticks: 40)
        let controller = try #require(cluster.controllerLeader)
        let (out, _) = try cluster.cores[controller].proposeToController(.createTopic(name: "t", partitions: 1, replicationFactor: 3))
        cluster.take(controller, out)
        cluster.run(ticks: 60)
        let g = try #require(cluster.cores[0].controller.topic("t")?.partitions.first?.group)
        let leader = try #require(cluster.cores.indices.first { cluster.cores[$0].raftOf(g)?.role == .leader })
        let lagging = (leader + 1) % 3
        cluster.isolated = lagging
        for i in 0..<40 {
            _ = try cluster.cores[leader].propose(Array("entry \(i)".utf8), to: g)
            cluster.take(leader, cluster.cores[leader].drain())
            cluster.settle()
        }
        let leaderRaft = try #require(cluster.cores[leader].raftOf(g))
        #expect(leaderRaft.snapshotIndex.value > 20, "the leader's memory log was compacted")
        cluster.isolated = nil
        cluster.run(ticks: 40)
        let last = try #require(cluster.cores[leader].raftOf(g)?.lastIndex)
        let followerLog = try #require(cluster.storages[lagging].storage(of: g)?.log)
        #expect(followerLog.lastIndex == last, "the follower caught up")
        if planted {
            // The snapshot replaced the follower's log: its older entries are gone.
            #expect(followerLog.firstIndex > LogIndex(1))
        } else {
            #expect(followerLog.firstIndex == LogIndex(1), "the follower holds every entry from the first")
            for i in 1...last.value { #expect(throws: Never.self) { try followerLog.read(LogIndex(i)) } }
        }
    }

    @Test("invalid topics are refused the same way on every node")
    func invalidTopic() {
        #expect(ControllerState.validateTopic(name: "bad name", partitions: 1, replicationFactor: 1, members: 3) != nil)
        #expect(ControllerState.validateTopic(name: "ok", partitions: 0, replicationFactor: 1, members: 3) != nil)
        #expect(ControllerState.validateTopic(name: "ok", partitions: 1, replicationFactor: 4, members: 3) != nil)
        #expect(ControllerState.validateTopic(name: "ok.topic_1-x", partitions: 1, replicationFactor: 3, members: 3) == nil)
    }

    @Test("controller commands and state round-trip through their codecs")
    func codec() throws {
        let cmds: [ControllerCommand] = [
            .registerBroker(BrokerRegistration(node: 2, host: "h", kafkaPort: 9093)),
            .createTopic(name: "x", partitions: 4, replicationFactor: 3),
            .electPreferredLeaders(groups: [3, 7], notAfterMs: 1_700_000_000_000),
        ]
        for c in cmds { #expect(try ControllerCommand.decode(c.encode()) == c) }
        var state = ControllerState(members: [1, 2, 3])
        for (k, c) in cmds.enumerated() { state.apply(Entry(term: 1, index: LogIndex(UInt64(k + 1)), data: c.encode())) }
        var restored = ControllerState(members: [1, 2, 3])
        try restored.restore(Snapshot(index: LogIndex(UInt64(cmds.count)), term: 1, membership: Membership(voters: [1, 2, 3]), data: state.encode()))
        #expect(restored == state)
        #expect(throws: WireError.self) { _ = try ControllerCommand.decode([9, 9]) }
    }
}
